-- `luarocks --lua-version 5.4 make rockspecs/c_http_core-0.1.0-1.rockspec`
-- in a checkout builds with the Makefile and installs the Lua modules and
-- c_http_core/core.so into the rocks tree. The C libraries are Debian
-- packages (libnghttp2-dev, libmbedtls-dev, zlib1g-dev, node-llhttp for
-- llhttp's C sources): nothing is downloaded.
rockspec_format = "3.0"
package = "c_http_core"
version = "0.1.0-1"
source = {
  -- luarocks make builds the checkout it runs in; a published rock sets
  -- the repository URL and tag here.
  url = "git+file://.",
}
description = {
  summary = "HTTP/1.1 and HTTP/2 transport engine in C, driven from Lua 5.4",
  detailed = [[
A connection pool with HTTP/1.1 (llhttp), HTTP/2 (nghttp2) and TLS
(mbedTLS), its own event loop, and a coroutine scheduler: every request and
body stream is a Lua coroutine the C scheduler resumes.]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  NGHTTP2 = { header = "nghttp2/nghttp2.h", library = "nghttp2" },
  MBEDTLS = { header = "mbedtls/ssl.h", library = "mbedtls" },
  ZLIB = { header = "zlib.h", library = "z" },
}
build = {
  type = "make",
  build_target = "all",
  build_variables = {
    LUA = "$(LUA)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LIBFLAG = "$(LIBFLAG)",
    CFLAGS = "$(CFLAGS)",   -- unused: the Makefile has its own flags
  },
  install_target = "install-rock",
  install_variables = {
    INST_LUADIR = "$(LUADIR)",
    INST_LIBDIR = "$(LIBDIR)",
  },
}

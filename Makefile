# c_http_core: one plain Makefile. `make`, `make test`, `make asan`, `make demo`,
# `make deps`, `make bench`. No configure step; pkg-config for dependencies.

LUA      ?= lua5.4
BUSTED   ?= busted --lua=$(LUA)
CC       ?= cc
PKGS     := lua5.4 libnghttp2
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wundef -Wwrite-strings \
            -Wmissing-prototypes -Wstrict-prototypes -Wno-unused-parameter
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(OPT) $(WARN) \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I$(LLHTTP_INC) \
            -Isrc $(EXTRA_CFLAGS)
LDLIBS_ALL = $(shell pkg-config --libs libnghttp2 2>/dev/null) \
            -lmbedtls -lmbedx509 -lmbedcrypto -lz -lpthread \
            $(EXTRA_LDFLAGS)

BUILD    ?= build
# luarocks passes these (rockspecs/): Lua's headers and the flag for a module
LIBFLAG  ?= -shared
CFLAGS_ALL += $(if $(LUA_INCDIR),-I$(LUA_INCDIR))
CORE_SRC := src/common.c src/buf.c src/loop.c src/resolver.c src/h1.c src/h1_req.c \
            src/tls.c src/h2.c src/h2_req.c src/conn.c src/conn_tls.c \
            src/pool.c src/h1conn.c src/h2conn.c src/stream.c src/sse.c \
            src/crypto.c src/ws.c src/ws_deflate.c src/ws_handshake.c
CORE_SRC += src/tls_verify.c
BIND_SRC := src/lua/core.c src/lua/sched.c src/lua/lpool.c src/lua/lopts.c
BIND_SRC += src/lua/lsem.c
CORE_SRC += src/proxy.c src/conn_proxy.c
BIND_SRC += src/lua/lproxy.c src/lua/ltrace.c
BIND_SRC += src/lua/lsse.c
CORE_SRC += src/wsconn.c
# WebSocket over HTTP/2 (RFC 8441): the transport over an h2 stream
CORE_SRC += src/wsconn_h2.c
BIND_SRC += src/lua/lws.c
CORE_SRC += src/slab.c
CORE_SRC += src/pool_wait.c
BIND_SRC += src/lua/lmem.c
CORE_SRC += $(ALLOCFAIL_SRC)
LUA_MODS := $(wildcard lua/c_http_core/*.lua)

CORE_OBJ := $(CORE_SRC:src/%.c=$(BUILD)/obj/%.o)
BIND_OBJ := $(BIND_SRC:src/%.c=$(BUILD)/obj/%.o)
LLHTTP_OBJ := $(BUILD)/obj/llhttp/llhttp.o $(BUILD)/obj/llhttp/api.o \
              $(BUILD)/obj/llhttp/http.o
GEN_OBJ  := $(BUILD)/obj/luasrc.o
ALL_OBJ  := $(CORE_OBJ) $(BIND_OBJ) $(LLHTTP_OBJ) $(GEN_OBJ)

SO       := $(BUILD)/c_http_core/core.so
LIBA     := $(BUILD)/libc_http_core.a

.PHONY: all deps test test-fast asan valgrind demo bench bench-smoke profile clean lint ctest

all: $(SO) $(LIBA)

$(SO): $(ALL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) -o $@ $^ $(LDLIBS_ALL) $(SANFLAGS)

$(LIBA): $(ALL_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/obj/%.o: src/%.c src/*.h src/lua/*.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SANFLAGS) -Werror -c -o $@ $<

# llhttp's generated C: compiled in, with its own warnings left alone.
$(BUILD)/obj/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -fPIC -fvisibility=hidden $(OPT) $(SANFLAGS) -I$(LLHTTP_INC) -w -c -o $@ $<

# The Lua layer is also compiled into the library (for hosts that embed it
# without a LUA_PATH); lua/ stays the source of truth.
$(BUILD)/gen/luasrc.c: tools/embed.lua $(LUA_MODS)
	@mkdir -p $(dir $@)
	$(LUA) tools/embed.lua $@ $(LUA_MODS)

$(BUILD)/obj/luasrc.o: $(BUILD)/gen/luasrc.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(SANFLAGS) -c -o $@ $<

# Debian packages the build, the tests and the demo need.
DEB_PKGS := lua5.4 liblua5.4-dev node-llhttp libnghttp2-dev libmbedtls-dev \
            lua-busted zlib1g-dev nginx nghttp2-server nghttp2-client \
            pkg-config openssl ca-certificates python3 gcc make valgrind \
            nodejs curl
DEB_PKGS += luarocks
DEB_PKGS += tinyproxy microsocks stunnel4
DEB_PKGS += python3-websockets $(if $(shell command -v npm),,npm)
DEB_PKGS += clang libclang-rt-14-dev
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all present"; fi

test: deps all embed
	@sh spec/run.sh $(BUSTED)

asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" all embed
	@CHC_BUILD=build-asan sh spec/run.sh $(BUSTED)

# memcheck over a representative set of specs (definite leaks are errors)
valgrind: all embed
	@sh tools/valgrind.sh

demo: deps all
	@CHC_BUILD=$(BUILD) sh examples/demo.sh

bench: all
	@sh bench/run.sh

# the top of the profile for W1 and W4 (callgrind: instructions per request / MiB)
profile: all
	@sh bench/profile.sh

bench-smoke: all
	@sh bench/run.sh smoke

# The embedding examples (examples/embed/): a host program that drives the
# library's loop from its own poll loop, and two loops in two threads. They
# link the static library; `make BUILD=build-asan SANFLAGS=... embed` builds
# them against the sanitizer objects.
EMBED_BIN   := $(BUILD)/embed/host $(BUILD)/embed/two_loops $(BUILD)/embed/fork
EMBED_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) \
               $(shell pkg-config --cflags lua5.4 2>/dev/null) -Isrc
EMBED_LIBS   = $(LIBA) $(shell pkg-config --libs lua5.4 2>/dev/null) \
               $(LDLIBS_ALL) -lm

.PHONY: embed
embed: $(EMBED_BIN)

$(BUILD)/embed/%: examples/embed/%.c src/chc.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(EMBED_CFLAGS) $(SANFLAGS) -Werror -o $@ $< $(EMBED_LIBS) $(SANFLAGS)

include mk/install.mk
include mk/fuzz.mk
include mk/allocfail.mk

lint:
	@for f in $(LUA_MODS); do luac5.4 -p $$f || exit 1; done; echo lint ok

clean:
	rm -rf build build-asan

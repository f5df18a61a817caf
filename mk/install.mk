# Installing (included by the Makefile): make install / uninstall, the
# shared library, c_http_core.pc, and the targets the rockspec uses.
#
#   make install [PREFIX=/usr/local] [DESTDIR=] [LUA_LMOD=] [LUA_CMOD=]
#
# LUA_LMOD / LUA_CMOD (where the Lua modules and c_http_core/core.so go):
# for PREFIX=/usr, pkg-config lua5.4's INSTALL_LMOD / INSTALL_CMOD (Debian:
# /usr/share/lua/5.4, /usr/lib/<multiarch>/lua/5.4); for any other PREFIX,
# $(PREFIX)/share/lua/5.4 and $(PREFIX)/lib/lua/5.4, the directories
# Debian's lua5.4 searches under /usr/local. The version comes from
# lua/c_http_core/init.lua (http.VERSION), the one place it is written.

VERSION  := $(shell sed -n 's/^http\.VERSION = "\(.*\)"$$/\1/p' lua/c_http_core/init.lua)
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
CFLAGS_ALL += -DCHC_VERSION='"$(VERSION)"' 
PREFIX   ?= /usr/local
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
LUA_PC_LMOD := $(or $(shell pkg-config --variable=INSTALL_LMOD lua5.4 2>/dev/null),/usr/share/lua/5.4)
LUA_PC_CMOD := $(or $(shell pkg-config --variable=INSTALL_CMOD lua5.4 2>/dev/null),/usr/lib/$(shell gcc -print-multiarch 2>/dev/null)/lua/5.4)
LUA_LMOD ?= $(if $(filter /usr,$(PREFIX)),$(LUA_PC_LMOD),$(PREFIX)/share/lua/5.4)
LUA_CMOD ?= $(if $(filter /usr,$(PREFIX)),$(LUA_PC_CMOD),$(PREFIX)/lib/lua/5.4)

SHLIB    := $(BUILD)/libc_http_core.so.$(VERSION)
PCFILE   := $(BUILD)/c_http_core.pc

.PHONY: install uninstall install-lua install-rock shared pc

shared: $(SHLIB)

# Lua's own symbols stay undefined: the host program brings its Lua.
$(SHLIB): $(ALL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libc_http_core.so.$(SOMAJOR) -o $@ $^ \
	  $(LDLIBS_ALL) $(SANFLAGS)

pc: $(PCFILE)

# A directory under PREFIX is written as ${prefix}/...: pkg-config
# --define-variable=prefix=DIR then finds a tree installed with DESTDIR.
PC_REL = $(patsubst $(PREFIX)/%,$${prefix}/%,$(1))

$(PCFILE): mk/install.mk lua/c_http_core/init.lua
	@mkdir -p $(dir $@)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(call PC_REL,$(LIBDIR))' \
	  'includedir=$(call PC_REL,$(INCLUDEDIR))' '' 'Name: c_http_core' \
	  'Description: HTTP/1.1 and HTTP/2 transport engine in C, driven from Lua 5.4' \
	  'Version: $(VERSION)' 'Requires: lua5.4' \
	  'Requires.private: libnghttp2' \
	  'Libs: -L$${libdir} -lc_http_core' \
	  'Libs.private: -lmbedtls -lmbedx509 -lmbedcrypto -lz -lpthread' \
	  'Cflags: -I$${includedir}/c_http_core' > $@

# The Lua modules and the C module only (what a rock holds).
install-lua: $(SO)
	install -d $(DESTDIR)$(LUA_LMOD)/c_http_core $(DESTDIR)$(LUA_CMOD)/c_http_core
	install -m 644 $(LUA_MODS) $(DESTDIR)$(LUA_LMOD)/c_http_core/
	install -m 755 $(SO) $(DESTDIR)$(LUA_CMOD)/c_http_core/core.so

# luarocks (build.type = "make") passes INST_LUADIR and INST_LIBDIR.
install-rock:
	$(MAKE) install-lua LUA_LMOD=$(INST_LUADIR) LUA_CMOD=$(INST_LIBDIR)

# The PCFILE is rebuilt on each install: PREFIX may differ from the last one.
install: install-lua $(LIBA) $(SHLIB)
	@rm -f $(PCFILE) && $(MAKE) --no-print-directory $(PCFILE)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/c_http_core \
	  $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libc_http_core.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libc_http_core.so.$(SOMAJOR)
	ln -sf libc_http_core.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libc_http_core.so
	install -m 644 src/chc.h $(DESTDIR)$(INCLUDEDIR)/c_http_core/
	install -m 644 $(PCFILE) $(DESTDIR)$(PKGCONFIGDIR)/
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig 2>/dev/null || true; fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LUA_LMOD)/c_http_core/,$(notdir $(LUA_MODS)))
	rm -f $(DESTDIR)$(LUA_CMOD)/c_http_core/core.so
	-rmdir $(DESTDIR)$(LUA_LMOD)/c_http_core $(DESTDIR)$(LUA_CMOD)/c_http_core 2>/dev/null
	rm -f $(DESTDIR)$(LIBDIR)/libc_http_core.a $(DESTDIR)$(LIBDIR)/libc_http_core.so \
	  $(DESTDIR)$(LIBDIR)/libc_http_core.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/libc_http_core.so.$(VERSION)
	rm -f $(DESTDIR)$(INCLUDEDIR)/c_http_core/chc.h $(DESTDIR)$(PKGCONFIGDIR)/c_http_core.pc
	-rmdir $(DESTDIR)$(INCLUDEDIR)/c_http_core 2>/dev/null

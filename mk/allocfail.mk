# Allocation-failure injection (src/allocfail.h, tools/allocfail/): the
# library built into build-allocfail/ with every allocation of our code,
# nghttp2's and zlib's on one counter that can fail the Nth, under
# ASan+UBSan, and a Lua host whose state allocates through the same counter.
#   make allocfail        every N of every scenario (not in CI; minutes)
#   make allocfail-build  just the build
# spec/allocfail_spec.lua (in `make test`/`make asan`) runs a strided subset
# with the same build. AF_STRIDE=k runs every k-th N only.
AF_BUILD := build-allocfail
AF_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
AF_HOST  := $(AF_BUILD)/af_host

.PHONY: allocfail allocfail-build
allocfail-build:
	$(MAKE) BUILD=$(AF_BUILD) OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANFLAGS="$(AF_SAN)" ALLOCFAIL_SRC=src/allocfail.c \
	  EXTRA_CFLAGS="-DCHC_ALLOCFAIL -include src/allocfail.h" \
	  $(AF_BUILD)/libc_http_core.a
	$(MAKE) $(AF_HOST)

$(AF_HOST): tools/allocfail/host.c src/allocfail.h src/chc.h $(AF_BUILD)/libc_http_core.a
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -Werror \
	  $(shell pkg-config --cflags lua5.4 2>/dev/null) -Isrc $(AF_SAN) \
	  -o $@ $< $(AF_BUILD)/libc_http_core.a \
	  $(shell pkg-config --libs lua5.4 2>/dev/null) $(LDLIBS_ALL) -lm $(AF_SAN)

allocfail: deps allocfail-build
	@CHC_AF_FULL=1 CHC_SPEC=spec/allocfail_spec.lua CHC_SPEC_TIMEOUT=$${CHC_SPEC_TIMEOUT:-3600} \
	  CHC_SUITE_BUDGET=$${CHC_SUITE_BUDGET:-3600} sh spec/run.sh $(BUSTED)

# spec/allocfail_spec.lua needs the host
test asan: allocfail-build

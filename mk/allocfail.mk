# Allocation-failure injection (src/allocfail.h, tools/allocfail/): the
# library built into build-allocfail/ with every allocation of our code,
# nghttp2's and zlib's on one counter that can fail the Nth, under
# ASan+UBSan, a Lua host whose state allocates through the same counter,
# and the C engine tests built on it (tests/c/af_*).
#   make allocfail        spec/allocfail*_spec.lua with CHC_AF_FULL=1: every N
#                         of every Lua scenario and 300 + 300 failure points
#                         per C engine test (not in CI: about 30 minutes)
#   make allocfail-build  just the builds
# Both specs also run in `make test`/`make asan`: every N of the Lua
# scenarios (20 s) and a sample of the C tests (40 s).
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
	$(MAKE) -s -C tests/c allocfail-build

$(AF_HOST): tools/allocfail/host.c src/allocfail.h src/chc.h $(AF_BUILD)/libc_http_core.a
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) -Werror \
	  $(shell pkg-config --cflags lua5.4 2>/dev/null) -Isrc $(AF_SAN) \
	  -o $@ $< $(AF_BUILD)/libc_http_core.a \
	  $(shell pkg-config --libs lua5.4 2>/dev/null) $(LDLIBS_ALL) -lm $(AF_SAN)

allocfail: deps allocfail-build
	@for f in spec/allocfail_spec.lua spec/allocfail_c_spec.lua; do \
	  CHC_AF_FULL=1 CHC_SPEC=$$f CHC_SPEC_TIMEOUT=$${CHC_SPEC_TIMEOUT:-7200} \
	  CHC_SUITE_BUDGET=$${CHC_SUITE_BUDGET:-7200} sh spec/run.sh $(BUSTED) || exit 1; done

# spec/allocfail_spec.lua needs the host
test asan: allocfail-build

.PHONY: allocfail-clean
allocfail-clean:
	rm -rf $(AF_BUILD) tests/c/af_test_*
clean: allocfail-clean

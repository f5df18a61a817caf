# libFuzzer drivers (fuzz/*.c), one per parser fed by a peer. Built with
# clang into build-fuzz/, run from the seed corpus fuzz/corpus/<name>/ plus
# a working corpus in build-fuzz/corpus/<name>/ (new inputs go there, so the
# checked-in seeds stay small). FUZZ_SECONDS per driver, one driver at a
# time; `make fuzz-smoke` is the short run meant for CI (20 s each).
# The Lua URL/header layer has a Lua-level random tester instead
# (spec/fuzz_lua_spec.lua, FUZZ_SECONDS too), run by both targets.
FUZZ_SECONDS ?= 600
FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_FLAGS    = -g -O1 -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -std=c11 -D_GNU_SOURCE \
                -Isrc -I$(LLHTTP_INC) \
                $(shell pkg-config --cflags libnghttp2 2>/dev/null)
FUZZ_NAMES   := h1 h2 ws sse proxy
FUZZ_SRC_h1    := src/h1.c src/h1_req.c src/buf.c src/common.c \
                  $(LLHTTP_SRC)/llhttp.c $(LLHTTP_SRC)/api.c $(LLHTTP_SRC)/http.c
FUZZ_SRC_h2    := src/h2.c src/h2_req.c src/buf.c src/common.c
FUZZ_LIBS_h2   := -lnghttp2
FUZZ_SRC_ws    := src/ws.c src/ws_deflate.c src/ws_handshake.c src/crypto.c \
                  src/buf.c src/common.c
FUZZ_LIBS_ws   := -lmbedcrypto -lz
FUZZ_SRC_sse   := src/sse.c src/buf.c src/common.c
FUZZ_SRC_proxy := src/proxy.c src/crypto.c src/buf.c src/common.c
FUZZ_LIBS_proxy := -lmbedcrypto
FUZZ_BIN     := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%_fuzz)

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: $(FUZZ_BIN)

$(FUZZ_BUILD)/%_fuzz: fuzz/%_fuzz.c src/*.h src/*.c
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) missing (make deps)"; exit 1; }
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_SRC_$*) $(FUZZ_LIBS_$*)

# One driver after another (each gets a core to itself); any crash stops
# the run and leaves its input in $(FUZZ_BUILD)/crash-*.
fuzz: deps fuzz-build all embed
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== fuzz $$n: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/$${n}_fuzz -max_total_time=$(FUZZ_SECONDS) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/ \
	    $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n 2>$(FUZZ_BUILD)/$$n.log \
	    || { tail -40 $(FUZZ_BUILD)/$$n.log; exit 1; }; \
	  grep -E '^#[0-9]+.*DONE|stat::number_of_executed_units' $(FUZZ_BUILD)/$$n.log; \
	done; \
	echo "== fuzz lua (URL/header layer): $(FUZZ_SECONDS) s"; \
	CHC_FUZZ_SECONDS=$(FUZZ_SECONDS) CHC_SPEC=spec/fuzz_lua_spec.lua \
	  CHC_SPEC_TIMEOUT=$$(( 3 * $(FUZZ_SECONDS) + 120 )) \
	  CHC_SUITE_BUDGET=$$(( 3 * $(FUZZ_SECONDS) + 120 )) \
	  sh spec/run.sh $(BUSTED)

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20

# The soak (tools/soak_spec.lua): SOAK_SECONDS of mixed traffic with RSS,
# fds and the Lua heap sampled; not part of `make test` or CI.
SOAK_SECONDS ?= 600
.PHONY: soak
soak: deps all embed
	@SOAK_SECONDS=$(SOAK_SECONDS) CHC_SPEC=tools/soak_spec.lua \
	  CHC_SPEC_TIMEOUT=$$(( $(SOAK_SECONDS) + 300 )) \
	  CHC_SUITE_BUDGET=$$(( $(SOAK_SECONDS) + 300 )) \
	  sh spec/run.sh $(BUSTED) --output=plainTerminal

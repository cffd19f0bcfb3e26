# valkey-rs-core reliability targets (issue 6), included by the top-level
# Makefile. Documented in docs/reliability.md.
#
#   make test-fuzz-smoke  fuzz harnesses as cargo tests (committed corpus + generated
#                         inputs, stable toolchain); plus FUZZ_SMOKE_SECONDS of libFuzzer
#                         per target when cargo-fuzz and nightly are installed
#   make fuzz             long libFuzzer runs, FUZZ_SECONDS per target (default 1800), one
#                         after the other; logs in fuzz/target/logs/
#   make test-miri        Miri over the dict core's and the lazyfree queue's unit tests (skips
#                         without the component)
#   make chaos            switch-over chaos test on CHAOS_SERVER_DIR (default build/valkey)
#   make chaos-both       the same on build/valkey and build/valkey-c
#   make test-panic       panic policy: crash report through _serverAssert, death by signal
#   make test-shutdown    SHUTDOWN right after FUNCTION FLUSH ASYNC must end the server
#   make test-worker      the lazyfree worker thread: name, SIGALRM, bio-cpulist, SCHED_BATCH
#   make test-sanitizers  ASan (and UBSan with SANITIZERS="address undefined") Valkey trees +
#                         Tcl units exercising the replaced code; counts sanitizer reports
#   make test-valgrind    Valkey's valgrind mode over a few units on a USE_RUST_CORE tree

FUZZ_TARGETS ?= dict_model lazyfree_queue
FUZZ_SMOKE_SECONDS ?= 30
FUZZ_SECONDS ?= 1800
MIRI_FILTER ?= dict:: lazyfree::worker::
# Every dict test and every test of the lazyfree job queue runs under Miri (the slow ones shrink
# under cfg(miri); ~7 min here). Miri reports data races and deadlocks (a lost wake-up of the worker).
# Extra libtest arguments, e.g. MIRI_SKIP="--skip random_operations" for a quicker pass.
MIRI_SKIP ?=
CHAOS_SERVER_DIR ?= $(VALKEY_DIR)
CHAOS_ROUNDS ?= 3
CHAOS_SECONDS ?= 3
PANIC_SERVER_DIR ?= $(VALKEY_DIR)
REL_DIR ?= build/reliability
SANITIZERS ?= address
SAN_UNITS ?=
VALGRIND_UNITS ?=

.PHONY: test-fuzz-smoke fuzz test-miri chaos chaos-both test-panic test-shutdown test-worker test-sanitizers \
        test-valgrind


test-fuzz-smoke:
	cd fuzz && $(CARGO) test --release
	@set -o pipefail; \
	if $(CARGO) +nightly fuzz --version >/dev/null 2>&1 && [ "$(FUZZ_SMOKE_SECONDS)" -gt 0 ]; then \
	    for t in $(FUZZ_TARGETS); do \
	        echo "==> libFuzzer $$t for $(FUZZ_SMOKE_SECONDS)s"; mkdir -p fuzz/target/work-corpus/$$t; \
	        (cd fuzz && $(CARGO) +nightly fuzz run -O $$t target/work-corpus/$$t corpus/$$t -- \
	            -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=$$( [ $$t = dict_model ] && echo 4096 || echo 1024) \
	            -print_final_stats=1 2>&1 | grep -E '^(Done|stat::number_of_executed_units)|ERROR|panicked|SUMMARY') || exit 1; \
	    done; \
	elif [ "$(FUZZ_SMOKE_SECONDS)" -gt 0 ]; then \
	    echo "test-fuzz-smoke: cargo-fuzz or nightly not installed: corpus replay and generated inputs only (cargo install cargo-fuzz for libFuzzer runs)"; \
	else echo "test-fuzz-smoke: FUZZ_SMOKE_SECONDS=0: corpus replay and generated inputs only"; fi

fuzz:
	@mkdir -p fuzz/target/logs
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	    echo "==> libFuzzer $$t for $(FUZZ_SECONDS)s (log: fuzz/target/logs/$$t.log)"; mkdir -p fuzz/target/work-corpus/$$t; \
	    (cd fuzz && $(CARGO) +nightly fuzz run -O $$t target/work-corpus/$$t corpus/$$t -- \
	        -max_total_time=$(FUZZ_SECONDS) -max_len=$$( [ $$t = dict_model ] && echo 4096 || echo 1024) \
	        -print_final_stats=1 >target/logs/$$t.log 2>&1); rc=$$?; \
	    grep -E '^(Done|stat::number_of_executed_units)|ERROR|panicked|SUMMARY' fuzz/target/logs/$$t.log; \
	    [ $$rc -eq 0 ] || { echo "fuzz: $$t found a failure (artifact in fuzz/artifacts/$$t/)"; exit 1; }; \
	done

test-miri:
	@if $(CARGO) +nightly miri --version >/dev/null 2>&1; then \
	    echo "==> cargo +nightly miri test --lib -- $(MIRI_FILTER) $(MIRI_SKIP)"; \
	    CARGO_TARGET_DIR=$(CURDIR)/target/miri $(CARGO) +nightly miri test --lib -- $(MIRI_FILTER) $(MIRI_SKIP); \
	else echo "test-miri: SKIPPED: no miri component on the nightly toolchain (rustup +nightly component add miri rust-src)"; fi

chaos:
	@[ -x $(CHAOS_SERVER_DIR)/src/valkey-server ] || $(MAKE) --no-print-directory \
	    $(if $(filter $(VALKEY_C_DIR),$(CHAOS_SERVER_DIR)),valkey-c,valkey)
	@mkdir -p $(REL_DIR)
	python3 tests/chaos/switchover.py --server-dir $(CHAOS_SERVER_DIR) --rounds $(CHAOS_ROUNDS) \
	    --seconds $(CHAOS_SECONDS) --report $(REL_DIR)/chaos-$(notdir $(CHAOS_SERVER_DIR)).jsonl

chaos-both:
	@$(MAKE) --no-print-directory chaos CHAOS_SERVER_DIR=$(VALKEY_DIR)
	@$(MAKE) --no-print-directory chaos CHAOS_SERVER_DIR=$(VALKEY_C_DIR)

test-panic:
	@[ -x $(PANIC_SERVER_DIR)/src/valkey-server ] || $(MAKE) --no-print-directory \
	    $(if $(filter $(VALKEY_C_DIR),$(PANIC_SERVER_DIR)),valkey-c,valkey)
	tests/reliability/panic_policy.sh $(PANIC_SERVER_DIR)

test-shutdown:
	@[ -x $(PANIC_SERVER_DIR)/src/valkey-server ] || $(MAKE) --no-print-directory \
	    $(if $(filter $(VALKEY_C_DIR),$(PANIC_SERVER_DIR)),valkey-c,valkey)
	python3 tests/reliability/shutdown_lazyfree.py --server-dir $(PANIC_SERVER_DIR)

test-worker:
	@[ -x $(PANIC_SERVER_DIR)/src/valkey-server ] || $(MAKE) --no-print-directory \
	    $(if $(filter $(VALKEY_C_DIR),$(PANIC_SERVER_DIR)),valkey-c,valkey)
	python3 tests/reliability/worker_thread.py --server-dir $(PANIC_SERVER_DIR)

test-sanitizers:
	SANITIZERS="$(SANITIZERS)" SAN_UNITS="$(SAN_UNITS)" JOBS=$(JOBS) CARGO=$(CARGO) REL_DIR=$(REL_DIR) \
	    tests/reliability/sanitizers.sh

test-valgrind:
	MODE=valgrind VALGRIND_UNITS="$(VALGRIND_UNITS)" JOBS=$(JOBS) CARGO=$(CARGO) REL_DIR=$(REL_DIR) \
	    tests/reliability/sanitizers.sh

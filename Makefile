# valkey-rs-core: top-level targets (see README.md).
#
#   make run     build Valkey with USE_RUST_CORE=yes and run valkey-server on port 6379 (ARGS=... adds server args)
#   make test    every check: cargo fmt/clippy/test, header drift, C ABI tests, Valkey gtests, link check, the CMake build, panic policy, full Tcl suite
#   make valkey  build/valkey   = pristine Valkey 9.1.2 + valkey-patch/valkey-9.1.2.patch, built with USE_RUST_CORE=yes
#   make valkey-c build/valkey-c = the same source, built without the flag (plain C, as upstream)
#   make bench   Rust build vs C build side by side (bench/README.md)
#
# Knobs: JOBS (make -j for Valkey, default 2), TCL_CLIENTS (runtest --clients, default 4),
# TCL_ARGS (extra runtest arguments), VALKEY_SRC (use your own pristine 9.1.2 tree), V=1 (verbose).

SHELL := /bin/bash
# rustup installs cargo here; harmless when it does not exist.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
JOBS ?= 2
TCL_CLIENTS ?= 4
TCL_ARGS ?=
VALKEY_DIR ?= build/valkey
VALKEY_C_DIR ?= build/valkey-c
VALKEY_CMAKE_SRC ?= build/valkey-cmake-src
VALKEY_CMAKE_DIR ?= build/valkey-cmake
VALKEY_CMAKE_C_SRC ?= build/valkey-cmake-c-src
VALKEY_CMAKE_C_DIR ?= build/valkey-cmake-c
RUN_DIR ?= build/run
# Valkey's CMake fetches GoogleTest from GitHub for BUILD_UNIT_GTESTS; an offline build (a
# distribution's, or this machine's) points it at the source libgtest-dev installs instead.
GTEST_SOURCE_DIR ?= /usr/src/googletest
CMAKE_GTEST_SOURCE := $(if $(wildcard $(GTEST_SOURCE_DIR)/CMakeLists.txt),-DFETCHCONTENT_SOURCE_DIR_GOOGLETEST=$(GTEST_SOURCE_DIR))
SKIPFILE := tests/tcl/skiplist-c-fails.txt
# The Valkey trees build the crate with VALKEY_SRC_DIR set (build.rs then compiles the
# C accessors against the tree's headers), so they get their own cargo target dirs and
# never flip-flop target/release, which cargo test and tests/c/run.sh use.
RUST_FLAG_ARGS = USE_RUST_CORE=yes RUST_CORE_DIR=$(CURDIR) CARGO=$(CARGO) CARGO_TARGET_DIR=$(CURDIR)/target/valkey

# $(call stage,N/M,title): a visible header for each step of the long targets.
define stage
@printf '\n\033[1;36m==> [%s] %s\033[0m  (%s UTC)\n' '$(1)' '$(2)' "$$(date -u +%H:%M:%S)"
endef

.PHONY: all valkey valkey-c valkey-gtests valkey-cmake valkey-cmake-c run test bench clean \
        test-fmt test-clippy test-cargo test-msrv test-header test-c test-gtest test-link test-cmake test-tcl test-tcl-c

all: valkey

# ---------------------------------------------------------------- builds

valkey:
	@valkey-patch/prepare-tree.sh $(VALKEY_DIR)
	$(MAKE) -C $(VALKEY_DIR) -j$(JOBS) $(RUST_FLAG_ARGS)

# USE_RUST_CORE=no on the command line: Valkey's Makefile keeps a tree's last settings in
# src/.make-settings, so a tree once built with the flag would stay flagged; the explicit
# no makes it notice the change, distclean and rebuild as plain C.
valkey-c:
	@valkey-patch/prepare-tree.sh $(VALKEY_C_DIR)
	$(MAKE) -C $(VALKEY_C_DIR) -j$(JOBS) USE_RUST_CORE=no

valkey-gtests: valkey
	$(MAKE) -C $(VALKEY_DIR)/src -j$(JOBS) valkey-unit-gtests $(RUST_FLAG_ARGS)

# A CMake Release build of the patched source: $(call cmake_build,SRC,DIR,ENV,FLAGS) prepares
# SRC (its own source copy: CMake configures jemalloc inside the source tree, once, at
# configure time) and builds it in DIR. A re-created source tree (new patch) needs a fresh
# build dir, or the build misses its headers.
define cmake_build
	@valkey-patch/prepare-tree.sh $(1)
	@if ! cmp -s $(1)/.valkey-rs-core-patch $(2)/.valkey-rs-core-patch; then \
	    rm -rf $(2) && mkdir -p $(2) && cp $(1)/.valkey-rs-core-patch $(2)/; fi
	$(3) cmake -S $(1) -B $(2) -DCMAKE_BUILD_TYPE=Release $(4)
	cmake --build $(2) -j $(JOBS)
endef

# -DUSE_RUST_CORE=ON, with Valkey's gtests (never touches build/valkey's generated files).
valkey-cmake:
	$(call cmake_build,$(VALKEY_CMAKE_SRC),$(VALKEY_CMAKE_DIR),CARGO_TARGET_DIR=$(CURDIR)/target/valkey-cmake,\
	    -DUSE_RUST_CORE=ON -DRUST_CORE_DIR=$(CURDIR) -DBUILD_UNIT_GTESTS=ON -DINSTALL_GTEST=OFF $(CMAKE_GTEST_SOURCE))

# The same source without the flag (plain C), for test-cmake's link checks.
valkey-cmake-c:
	$(call cmake_build,$(VALKEY_CMAKE_C_SRC),$(VALKEY_CMAKE_C_DIR))

# ---------------------------------------------------------------- run

run: valkey
	@mkdir -p $(RUN_DIR)
	@echo "valkey-rs-core: starting $(VALKEY_DIR)/src/valkey-server on port 6379 (data dir $(RUN_DIR)); Ctrl-C stops it"
	$(VALKEY_DIR)/src/valkey-server $(VALKEY_DIR)/valkey.conf --port 6379 --dir $(CURDIR)/$(RUN_DIR) $(ARGS)

# BENCH_NO_BUILD=1 measures the trees as they are (a rebuild re-creates a tree whose patch
# changed, which must not happen under someone else's test run on a shared machine).
bench:
	@if [ "$(BENCH_NO_BUILD)" != 1 ]; then $(MAKE) --no-print-directory valkey valkey-c; fi
	VALKEY_DIR=$(VALKEY_DIR) VALKEY_C_DIR=$(VALKEY_C_DIR) JOBS=$(JOBS) CARGO=$(CARGO) BENCH_NO_BUILD=$(BENCH_NO_BUILD) bench/run.sh

# ---------------------------------------------------------------- tests

test:
	$(call stage,1/12,cargo fmt --check)
	@$(MAKE) --no-print-directory test-fmt
	$(call stage,2/12,cargo clippy --all-targets -- -D warnings)
	@$(MAKE) --no-print-directory test-clippy
	$(call stage,3/12,cargo test; the library and its tests on the oldest supported Rust (rust-version in Cargo.toml))
	@$(MAKE) --no-print-directory test-cargo
	@$(MAKE) --no-print-directory test-msrv MSRV_FETCH_OPTIONAL=1
	$(call stage,4/12,generated header drift (include/valkey_rs_core.h))
	@$(MAKE) --no-print-directory test-header
	$(call stage,5/12,C ABI and differential tests (tests/c/run.sh))
	@$(MAKE) --no-print-directory test-c
	$(call stage,6/12,fuzz corpus replay against the model (fuzz/, cargo test))
	@$(MAKE) --no-print-directory test-fuzz-smoke FUZZ_SMOKE_SECONDS=0
	$(call stage,7/12,Valkey gtest unit tests built with USE_RUST_CORE=yes)
	@$(MAKE) --no-print-directory test-gtest
	$(call stage,8/12,dynamic symbols and imports of the Rust build against the C build (tests/c/link_check.sh))
	@$(MAKE) --no-print-directory test-link
	$(call stage,9/12,the CMake build with -DUSE_RUST_CORE=ON: serves; its link checks against the CMake C build (tests/cmake/check.sh); its gtests)
	@$(MAKE) --no-print-directory test-cmake
	$(call stage,10/12,the lazyfree worker thread and shutdown with lazyfree work queued (tests/reliability/worker_thread.py and shutdown_lazyfree.py))
	@$(MAKE) --no-print-directory test-worker
	@$(MAKE) --no-print-directory test-shutdown
	$(call stage,11/12,panic policy: dict assertion and lazyfree worker panic end in the Valkey crash report (tests/reliability/panic_policy.sh))
	@$(MAKE) --no-print-directory test-panic
	$(call stage,12/12,upstream Tcl suite on $(VALKEY_DIR) (runtest --clients $(TCL_CLIENTS)))
	@$(MAKE) --no-print-directory test-tcl
	@printf '\n\033[1;32m==> make test: all stages passed\033[0m  (%s UTC)\n' "$$(date -u +%H:%M:%S)"

test-fmt:
	$(CARGO) fmt --check

test-clippy:
	$(CARGO) clippy --all-targets -- -D warnings

test-cargo:
	$(CARGO) test

# A distribution builds the library with its own rustc (Debian 13: 1.85), so the oldest
# version Cargo.toml promises must build it and pass its tests, with the committed lock.
# rustup fetches that toolchain when it is missing; MSRV_FETCH_OPTIONAL=1 (make test) turns
# a failed fetch (no rustup, no network) into a NOT RUN line instead of a failure. A
# toolchain that is there and fails to build or test always fails.
MSRV := $(shell sed -n 's/^rust-version *= *"\(.*\)"/\1/p' Cargo.toml)
# Through rustup's cargo proxy, as test-miri and fuzz run nightly; its own target dir.
MSRV_CARGO = CARGO_TARGET_DIR=$(CURDIR)/target/msrv $(CARGO) +$(MSRV)
test-msrv:
	@mkdir -p target; if ! rustup run $(MSRV) rustc --version >/dev/null 2>&1 && \
	    ! rustup toolchain install $(MSRV) --profile minimal >target/msrv-install.log 2>&1; then \
	    grep -m1 -i error target/msrv-install.log; \
	    if [ "$(MSRV_FETCH_OPTIONAL)" = 1 ]; then \
	        echo "test-msrv: NOT RUN: Rust $(MSRV) is not installed and rustup could not install it"; exit 0; fi; \
	    echo "test-msrv: Rust $(MSRV) is not installed and rustup could not install it" >&2; exit 1; fi; \
	rustup run $(MSRV) rustc --version && \
	$(MSRV_CARGO) build --release --locked && $(MSRV_CARGO) test --locked && \
	echo "test-msrv: the library builds and its tests pass on Rust $(MSRV)"

# build.rs regenerates the header; the committed one must be identical.
test-header:
	$(CARGO) build --release
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    if [ -n "$$(git status --porcelain -- include/)" ]; then \
	        git --no-pager diff -- include/; git status --short -- include/; \
	        echo "error: include/ differs from what build.rs generates; commit the regenerated header" >&2; exit 1; \
	    fi; echo "include/ matches the generated header"; \
	else echo "not a git checkout: header drift check skipped"; fi

test-c:
	tests/c/run.sh

test-gtest: valkey
	$(MAKE) -C $(VALKEY_DIR)/src -j$(JOBS) test-unit $(RUST_FLAG_ARGS)

# Against build/valkey-c when it is built, else the C tree tests/c/run.sh built.
test-link: valkey
	@[ -x $(VALKEY_C_DIR)/src/valkey-server ] || [ -x build/ctest/valkey-9.1.2/src/valkey-server ] || \
	    $(MAKE) --no-print-directory valkey-c
	tests/c/link_check.sh $(VALKEY_DIR)

# The CMake build a packager may use instead of make (README "Using the patch").
test-cmake: valkey-cmake valkey-cmake-c
	tests/cmake/check.sh $(VALKEY_CMAKE_DIR) $(VALKEY_CMAKE_C_DIR)
	cmake --build $(VALKEY_CMAKE_DIR) --target test-unit

# Full upstream suite plus our own tests/tcl/*.tcl (copied in as unit/rs-core-*), with
# the exclusions explained in tests/tcl/run-suite.sh and README.md.
test-tcl: valkey
	@rm -f $(VALKEY_DIR)/tests/unit/rs-core-*.tcl
	@for f in tests/tcl/*.tcl; do [ -e "$$f" ] || continue; \
	    cp "$$f" $(VALKEY_DIR)/tests/unit/rs-core-$$(basename "$$f"); done
	TCL_CLIENTS=$(TCL_CLIENTS) tests/tcl/run-suite.sh $(VALKEY_DIR) $(TCL_ARGS)

# The same upstream suite on the plain C build, for the side-by-side status table.
test-tcl-c: valkey-c
	TCL_CLIENTS=$(TCL_CLIENTS) tests/tcl/run-suite.sh $(VALKEY_C_DIR) $(TCL_ARGS)

clean:
	rm -rf $(VALKEY_DIR) $(VALKEY_C_DIR) $(VALKEY_CMAKE_SRC) $(VALKEY_CMAKE_DIR) $(VALKEY_CMAKE_C_SRC) $(VALKEY_CMAKE_C_DIR) $(RUN_DIR)
	$(CARGO) clean

# Reliability targets (issue 6): fuzzing, Miri, chaos, panic policy, sanitizers.
# See docs/reliability.md.
include tests/reliability/reliability.mk

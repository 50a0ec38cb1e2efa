# The two commands of the README: `make demo` and `make test`. Every target first prepares the
# Qtum-patched LDK sources (scripts/patch-deps.sh: instant once done).
CARGO ?= cargo

.PHONY: all deps build test demo demo-server test-server test-react-native lint fmt clean-deps bench bindings test-bindings soak fuzz size

all: build

deps:
	@bash scripts/patch-deps.sh

build: deps
	$(CARGO) build --workspace

test: deps
	$(CARGO) test --workspace
	$(MAKE) test-bindings
	$(MAKE) test-server
	$(MAKE) test-react-native

# The React Native package (react-native/): generated with uniffi-bindgen-react-native, then
# tsc, the C++ against React Native's JSI headers, and the journey on Node.js with the real
# library (scripts/test-react-native.sh says what is not built here).
test-react-native: deps
	bash scripts/test-react-native.sh

# The server's packaging as far as this machine can run it (no Docker here): the build script
# the Dockerfile uses, the container entrypoint's config rendering, then the tutorial's server
# journey with the binaries that script produced (two qtum-lnd processes driven by qtum-ln).
test-server: deps
	bash scripts/test-build-daemon.sh
	bash scripts/test-entrypoint.sh
	bash scripts/demo-server.sh

# Bindings (issue 7): regenerate Kotlin/Swift/Python from the cdylib `cargo test` just built
# (same target dir, so only a relink at most), then run the full cycle through Python and
# Kotlin/JVM, and check the Android/iOS scripts (no NDK or Swift toolchain here: dry runs).
PYTHON ?= python3
MVN ?= mvn

bindings: deps
	bash scripts/gen-bindings.sh

test-bindings: bindings
	$(PYTHON) scripts/readme-examples.py kotlin bindings/kotlin/src/test/kotlin/readme/ReadmeExamples.kt
	cd bindings/python && $(PYTHON) -m pytest -q
	$(MVN) -B -q -f bindings/kotlin/pom.xml test
	bash -n scripts/build-android.sh && bash scripts/build-android.sh --dry-run >/dev/null 2>&1
	bash scripts/test-build-android.sh
	bash -n scripts/build-react-native.sh && bash scripts/build-react-native.sh --dry-run >/dev/null 2>&1
	bash -n scripts/build-ios.sh && bash scripts/build-ios.sh --dry-run >/dev/null 2>&1
	bash -n scripts/mobile-flags.sh && bash -n scripts/measure-size.sh

# `make demo RPC=http://user:pass@127.0.0.1:13889` runs the same journey on a real qtumd -regtest.
demo: deps
	@bash scripts/demo.sh $(if $(RPC),--rpc $(RPC))

# The same journey on the server node: two qtum-lnd daemons, every step a qtum-ln command.
demo-server: deps
	@bash scripts/demo-server.sh $(if $(RPC),--rpc $(RPC))

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# The long crash soak of docs/reliability.md: 1,000 SIGKILLs of node processes during payments
# in both directions (about 25 minutes on 2 cores). `make test` runs the crash suite with 56.
SOAK_KILLS ?= 1000
soak: deps
	KILLS=$(SOAK_KILLS) $(CARGO) test -p qtum-ln-crash-suite --test crash a_payments -- --nocapture

# The benchmarks of BENCH.md (release builds; they report numbers, they assert no timings).
bench: deps
	$(CARGO) bench -p qtum-regtest --bench mine_and_reorg
	$(CARGO) run --release -p qtum-esplora --example sync_bench
	$(CARGO) run --release --example payments_bench -- 1000

# The cargo-fuzz targets of docs/fuzzing.md, FUZZ_SECS seconds each (nightly; installs cargo-fuzz
# when missing). Crash inputs go to fuzz/artifacts/.
FUZZ_SECS ?= 60
fuzz: deps
	FUZZ_SECS=$(FUZZ_SECS) bash scripts/fuzz.sh

# The phone library's size, x86_64 and aarch64, with and without the flags of
# scripts/mobile-flags.sh (README, "Library size"). Needs the aarch64 cross tools: see the script.
size: deps
	bash scripts/measure-size.sh --compare --by-crate

clean-deps:
	rm -rf .deps

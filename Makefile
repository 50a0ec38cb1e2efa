# The two commands of the README: `make demo` and `make test`. Every target first prepares the
# Qtum-patched LDK sources (scripts/patch-deps.sh: instant once done).
CARGO ?= cargo

.PHONY: all deps build test demo lint fmt clean-deps bench

all: build

deps:
	@bash scripts/patch-deps.sh

build: deps
	$(CARGO) build --workspace

test: deps
	$(CARGO) test --workspace

# `make demo RPC=http://user:pass@127.0.0.1:13889` runs the same journey on a real qtumd -regtest.
demo: deps
	@bash scripts/demo.sh $(if $(RPC),--rpc $(RPC))

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

bench: deps
	$(CARGO) run --release -p qtum-regtest --example bench

clean-deps:
	rm -rf .deps

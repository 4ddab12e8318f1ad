# The two commands of the README, and the pieces they are made of.
#   make demo   build the kernel (release) and run examples/demo.lua through it, end to end
#   make test   every check CI runs: format, lints, Rust tests, the Jupyter client suites, the
#               DAP suite (tests/node: needs Node.js and npm)

CARGO ?= cargo
# Where cargo puts what it builds (it honours CARGO_TARGET_DIR; so do the test scripts).
TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)

.PHONY: demo test lint rust-test python-test node-test bench

demo:
	$(CARGO) build --release -p llmspell-kerneld --bins --examples
	$(TARGET)/release/examples/demo examples/demo.lua

test: lint rust-test python-test node-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace
	LLMSPELL_BIN_DIR=$(TARGET)/debug tests/man/check.sh

python-test:
	$(CARGO) build -p llmspell-kerneld -p llmspell-fleet
	LLMSPELL_KERNELD=$(TARGET)/debug/llmspell-kerneld tests/python/run.sh

node-test:
	$(CARGO) build -p llmspell-dap -p llmspell-kerneld
	LLMSPELL_BIN_DIR=$(TARGET)/debug tests/node/run.sh

bench:
	bench/run.sh

# The two commands of the README, and the pieces they are made of.
#   make demo   build the kernel (release) and run examples/demo.lua through it, end to end
#   make test   every check CI runs: format, lints, Rust tests, the Jupyter client suites, the
#               DAP suite (tests/node: needs Node.js and npm)

CARGO ?= cargo

.PHONY: demo test lint rust-test python-test node-test bench

demo:
	$(CARGO) build --release -p llmspell-kerneld --bins --examples
	./target/release/examples/demo examples/demo.lua

test: lint rust-test python-test node-test

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

rust-test:
	$(CARGO) test --workspace
	tests/man/check.sh

python-test:
	$(CARGO) build -p llmspell-kerneld
	LLMSPELL_KERNELD=$(CURDIR)/target/debug/llmspell-kerneld tests/python/run.sh

node-test:
	$(CARGO) build -p llmspell-dap -p llmspell-kerneld
	tests/node/run.sh

bench:
	bench/run.sh

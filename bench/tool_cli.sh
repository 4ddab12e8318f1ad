#!/usr/bin/env bash
# Whole-process latency of `llmspell-tool invoke calculator -p expression=1+2`, in-process and
# through a daemon kernel (bench/tool_cli.py, python3 stdlib only).
#
# Binaries: $LLMSPELL_BIN_DIR if set (holding llmspell-tool and llmspell-kerneld); otherwise
# `cargo build --release -p llmspell-tool -p llmspell-kerneld` and target/release. Prints median
# and p90 of 50 runs (or --runs N) against the target (median ≤ 10 ms) as PASS/MISS; a miss
# never fails the run. Writes docs/benchmarks-cli.md unless --no-write is given.
#
# Usage: bench/tool_cli.sh [--runs N] [--no-write]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${LLMSPELL_BIN_DIR:-}" ]]; then
    cargo build --release -p llmspell-tool -p llmspell-kerneld --manifest-path "$repo/Cargo.toml"
    export LLMSPELL_BIN_DIR="$repo/target/release"
fi
exec python3 "$repo/bench/tool_cli.py" "$@"

#!/usr/bin/env bash
# Daemon start/stop latency of llmspell-kerneld (bench/daemon_bench.py, python3 stdlib only).
#
# Kernel binary: $LLMSPELL_KERNELD if set; otherwise `cargo build --release -p llmspell-kerneld`
# and target/release/llmspell-kerneld. Prints median and p90 of 20 rounds (or --runs N) against
# the targets (start ≤ 50 ms, stop ≤ 100 ms) as PASS/MISS; a miss never fails the run.
#
# Usage: bench/daemon.sh [--runs N]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${LLMSPELL_KERNELD:-}" ]]; then
    cargo build --release -p llmspell-kerneld --manifest-path "$repo/Cargo.toml"
    export LLMSPELL_KERNELD="$repo/target/release/llmspell-kerneld"
fi
exec python3 "$repo/bench/daemon_bench.py" "$@"

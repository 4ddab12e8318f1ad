#!/usr/bin/env bash
# llmspell-logrotate: rotating a 1 GiB log without compression (a rename; target <= 10 ms)
# against copy-based rotation of the same file, and gzip throughput against `gzip -6`
# (bench/logrotate_bench.py, python3 stdlib only).
#
# Binary: $LLMSPELL_BIN_DIR if set (holding llmspell-logrotate); otherwise
# `cargo build --release -p llmspell-logrotate` and target/release. Its files live under /tmp
# and are removed at the end. A miss prints MISS and never fails the run. Writes
# docs/benchmarks-logrotate.md unless --no-write is given.
#
# Usage: bench/logrotate.sh [--size-mib N] [--gzip-mib N] [--runs N] [--no-write]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${LLMSPELL_BIN_DIR:-}" ]]; then
    cargo build --release -p llmspell-logrotate --manifest-path "$repo/Cargo.toml"
    export LLMSPELL_BIN_DIR="$repo/target/release"
fi
exec python3 "$repo/bench/logrotate_bench.py" --bin-dir "$LLMSPELL_BIN_DIR" "$@"

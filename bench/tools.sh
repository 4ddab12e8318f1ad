#!/usr/bin/env bash
# tool_request round trips per second from one client over ZeroMQ (target ≥ 10,000/s with
# `calculator {"expression": "1+2"}`; the seed managed 88/s), plus the Lua `Tool.invoke` loop.
#
# Runs the Rust bench target tools/llmspell-kerneld/benches/tool_roundtrip.rs, which cargo builds
# with the release profile together with the kernel it starts (or $LLMSPELL_KERNELD if set).
# Prints sequential (one in flight) and pipelined (--window in flight) rates with their ratio to
# the target and to the seed as PASS/MISS; a miss never fails the run. Writes
# docs/benchmarks-tools.md unless --no-write is given.
#
# Usage: bench/tools.sh [--seconds 3] [--window 64] [--lua-calls 20000] [--no-write | --out PATH]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo bench --manifest-path "$repo/Cargo.toml" -p llmspell-kerneld --bench tool_roundtrip -- "$@"

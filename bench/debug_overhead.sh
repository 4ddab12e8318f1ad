#!/usr/bin/env bash
# What the Lua debugger costs a running script: run time with no debugger, a debugger session
# detached, attached with no breakpoints, with a breakpoint in a function never called, and with
# one in a called function on a line never reached; ratios against no debugger (targets ≤ 1.1×
# and ≤ 1.5×), for a loop-heavy and a call-heavy script. Prints PASS/MISS, never fails.
#
# Runs the Rust bench target lib/runtime/benches/debug_overhead.rs (release profile).
#
# Usage: bench/debug_overhead.sh [--runs 7]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec cargo bench --manifest-path "$repo/Cargo.toml" -p llmspell-runtime --bench debug_overhead -- "$@"

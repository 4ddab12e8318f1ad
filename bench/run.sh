#!/usr/bin/env bash
# Benchmarks llmspell-kerneld against ipykernel and xeus-python (normal and --raw).
#
# - Creates the venv target/benchenv (python3 -m venv) when it is missing or when
#   bench/requirements.txt changed (a stamp file holds the file's sha256).
# - Kernel binary: $LLMSPELL_KERNELD if set; otherwise `cargo build --release -p llmspell-kerneld`
#   and target/release/llmspell-kerneld. If that fails, the llmspell column is skipped (the peers
#   are still measured).
# - Runs bench/kernel_bench.py "$@" (see --help), which prints a table and rewrites
#   docs/benchmarks.md unless --no-write is given. A target that is missed is reported as MISS;
#   the exit status is non-zero only if the benchmark itself could not run.
# - Before that, bench/daemon_bench.py (daemon start/stop) and bench/tool_cli.py (llmspell-tool
#   invoke as a whole process, in-process and --kernel) print their figures and rewrite
#   docs/benchmarks-daemon.md and docs/benchmarks-cli.md; bench/tools.sh (tool_request round
#   trips per second over ZeroMQ, and the Lua Tool.invoke loop) rewrites docs/benchmarks-tools.md,
#   bench/repl_bench.py (llmspell-repl against jupyter console) docs/benchmarks-repl.md;
#   bench/logrotate.sh (rotation and gzip figures) rewrites docs/benchmarks-logrotate.md;
#   bench/fleet_bench.py (spawn-to-ready, idle RSS of 20 kernels) docs/benchmarks-fleet.md;
#   bench/agents_bench.py (Agent execute / stream / interrupt against ipykernel doing the same
#   request) docs/benchmarks-agents.md.
#   bench/dap_step.py (llmspell-dap step round trip against debugpy) docs/benchmarks-dap.md.
#   bench/debug_overhead.sh prints what the Lua debugger costs a running script.
#
# Usage: bench/run.sh [--runs N] [--startups N] [--kernels llmspell,ipykernel,...] [--no-write]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

venv="$repo/target/benchenv"
req="$repo/bench/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "bench/run.sh: creating $venv" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
fi

if [[ -z "${LLMSPELL_KERNELD:-}" ]]; then
    if command -v cargo >/dev/null && cargo build --release -p llmspell-kerneld; then
        export LLMSPELL_KERNELD="$repo/target/release/llmspell-kerneld"
    else
        echo "bench/run.sh: could not build llmspell-kerneld; its column will be skipped" >&2
    fi
fi

# Daemon start/stop latency (stdlib only; prints PASS/MISS, never fails); see bench/daemon.sh.
if [[ -n "${LLMSPELL_KERNELD:-}" ]]; then
    python3 "$repo/bench/daemon_bench.py" --kerneld "$LLMSPELL_KERNELD" || true
fi

# llmspell-tool whole-process latency (stdlib only; prints PASS/MISS, never fails); see
# bench/tool_cli.sh.
if command -v cargo >/dev/null && cargo build --release -p llmspell-tool -p llmspell-kerneld; then
    python3 "$repo/bench/tool_cli.py" --bin-dir "$repo/target/release" || true
else
    echo "bench/run.sh: could not build llmspell-tool; its benchmark is skipped" >&2
fi

# llmspell-repl keypress-to-result and Tab-to-completion latency in a pseudo-terminal, against
# jupyter console on ipykernel from the venv (prints PASS/MISS, never fails).
if command -v cargo >/dev/null && cargo build --release -p llmspell-repl -p llmspell-kerneld; then
    python3 "$repo/bench/repl_bench.py" --bin-dir "$repo/target/release" \
        --jupyter "$venv/bin/jupyter" || true
else
    echo "bench/run.sh: could not build llmspell-repl; its benchmark is skipped" >&2
fi

# tool_request round trips over ZeroMQ and the Lua Tool.invoke loop (Rust bench target; prints
# PASS/MISS, never fails); see bench/tools.sh.
"$repo/bench/tools.sh" || echo "bench/run.sh: the tool round-trip benchmark could not run" >&2

# llmspell-fleet: spawn-to-ready per kernel and RSS of 20 idle kernels (stdlib only; prints
# PASS/MISS, never fails; rewrites docs/benchmarks-fleet.md).
if command -v cargo >/dev/null && cargo build --release -p llmspell-fleet -p llmspell-kerneld; then
    python3 "$repo/bench/fleet_bench.py" --bin-dir "$repo/target/release" || true
else
    echo "bench/run.sh: could not build llmspell-fleet; its benchmark is skipped" >&2
fi

# llmspell-dap: the step round trip (next -> stopped -> stackTrace) against debugpy from the
# venv (prints PASS/MISS, never fails; rewrites docs/benchmarks-dap.md).
if command -v cargo >/dev/null && cargo build --release -p llmspell-dap -p llmspell-kerneld; then
    python3 "$repo/bench/dap_step.py" --bin-dir "$repo/target/release" --python "$venv/bin/python" || true
else
    echo "bench/run.sh: could not build llmspell-dap; its benchmark is skipped" >&2
fi

# llmspell-logrotate: a 1 GiB rotation (a rename) against copy-based rotation, and gzip
# throughput against gzip -6 (stdlib only; prints PASS/MISS, never fails); see bench/logrotate.sh.
"$repo/bench/logrotate.sh" || echo "bench/run.sh: the logrotate benchmark could not run" >&2

# Agents: an LLM call, a streamed answer and an interrupt through the kernel, against ipykernel
# doing the same request with the standard library (fake server on 127.0.0.1; prints figures
# and ratios, never fails; rewrites docs/benchmarks-agents.md).
if [[ -n "${LLMSPELL_KERNELD:-}" ]]; then
    "$venv/bin/python" "$repo/bench/agents_bench.py" || true
fi
# The Lua debugger's cost to a running script: detached, attached, breakpoints elsewhere (Rust
# bench target; prints PASS/MISS, never fails); see bench/debug_overhead.sh.
"$repo/bench/debug_overhead.sh" || echo "bench/run.sh: the debugger overhead benchmark could not run" >&2

exec "$venv/bin/python" "$repo/bench/kernel_bench.py" "$@"

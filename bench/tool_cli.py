"""Whole-process latency of llmspell-tool: `invoke calculator -p expression=1+2`, in-process and
through a daemon kernel (`--kernel`).

Each of --runs runs (after 3 warm-up runs) is one process, timed from spawn to exit with its
output read, in a temp $LLMSPELL_HOME (no config.toml). The kernel is started once with
``llmspell-kerneld start --daemon`` and stopped at the end; its start-up is not counted.

Target: median ≤ 10 ms for each. A miss is printed as MISS; this is a benchmark, so it never
fails the run (exit 0 unless the arguments are wrong). A run that exits non-zero (for instance
before the calculator tool exists) is reported with its error and no figure.

Binaries: --bin-dir DIR (holding llmspell-tool and llmspell-kerneld), else $LLMSPELL_BIN_DIR,
else target/release, else target/debug (a debug build is slower; bench/tool_cli.sh builds
release).

The figures are also written as markdown to --out (default docs/benchmarks-cli.md) unless
--no-write is given.

Usage: tool_cli.py [--runs 50] [--bin-dir DIR] [--out PATH | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_MS = 10.0
DOC = REPO / "docs" / "benchmarks-cli.md"
INVOKE = ["invoke", "calculator", "-p", "expression=1+2"]


def find_bin_dir(explicit: str | None) -> Path | None:
    candidates = [explicit, os.environ.get("LLMSPELL_BIN_DIR")]
    candidates += [str(REPO / "target" / kind) for kind in ("release", "debug")]
    for c in candidates:
        if c and os.access(Path(c) / "llmspell-tool", os.X_OK):
            return Path(c)
    return None


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def measure(cmd: list[str], env: dict, runs: int) -> tuple[list[float], str | None]:
    """Milliseconds of each run; the first failure's message, if any run failed."""
    times: list[float] = []
    for i in range(runs + 3):
        t0 = time.perf_counter()
        # close_fds=False lets CPython use posix_spawn, the cheapest way it has to start a process.
        proc = subprocess.run(
            cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, close_fds=False
        )
        took = (time.perf_counter() - t0) * 1000
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace").strip()
            return [], f"exit {proc.returncode}: {err}"
        if i >= 3:
            times.append(took)
    return times, None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs of each way (default 50)")
    ap.add_argument("--bin-dir", help="directory holding llmspell-tool and llmspell-kerneld")
    ap.add_argument("--out", type=Path, default=DOC, help="where to write the markdown figures")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    bin_dir = find_bin_dir(args.bin_dir)
    if bin_dir is None:
        print("tool_cli: no llmspell-tool binary (build it or set LLMSPELL_BIN_DIR); skipped")
        return 0
    tool = str(bin_dir / "llmspell-tool")
    kerneld = bin_dir / "llmspell-kerneld"

    home = Path(tempfile.mkdtemp(prefix="llmspell-tool-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["LLMSPELL_HOME"] = str(home)
    results: list[tuple[str, list[float], str | None]] = []
    true = shutil.which("true") or "/bin/true"
    floor, _ = measure([true], env, args.runs)
    try:
        times, err = measure([tool, *INVOKE], env, args.runs)
        results.append(("in-process", times, err))
        if os.access(kerneld, os.X_OK):
            start = subprocess.run(
                [str(kerneld), "start", "--daemon", "--id", "bench"], env=env, capture_output=True, timeout=60
            )
            if start.returncode == 0:
                times, err = measure([tool, "--kernel", "bench", *INVOKE], env, args.runs)
            else:
                times, err = [], f"kernel did not start: {start.stderr.decode(errors='replace').strip()}"
            results.append(("--kernel (daemon)", times, err))
        else:
            results.append(("--kernel (daemon)", [], f"no {kerneld}"))
    finally:
        if os.access(kerneld, os.X_OK):
            subprocess.run(
                [str(kerneld), "stop", "--all", "--timeout", "5"], env=env, capture_output=True, timeout=60
            )
        shutil.rmtree(home, ignore_errors=True)

    print(f"llmspell-tool {' '.join(INVOKE)} as a whole process ({bin_dir}, {args.runs} runs)")
    print(f"  {'':20} {'median':>9} {'p90':>9}   target (median)")
    table = ["| way | median ms | p90 ms | target (median) |", "|---|---:|---:|---|"]
    for label, times, err in results:
        if err is not None:
            print(f"  {label:20} error: {err}")
            table.append(f"| {label} | - | - | not measured: {err} |")
            continue
        med = statistics.median(times)
        verdict = "PASS" if med <= TARGET_MS else "MISS"
        print(f"  {label:20} {med:7.2f}ms {p90(times):7.2f}ms   ≤ {TARGET_MS:.0f} ms  {verdict}")
        table.append(f"| {label} | {med:.2f} | {p90(times):.2f} | ≤ {TARGET_MS:.0f} ms: {verdict} |")
    if floor:
        med = statistics.median(floor)
        print(f"  {'`true` (floor)':20} {med:7.2f}ms {p90(floor):7.2f}ms   what starting any process costs here")
        table.append(f"| `true` (the floor: starting any process) | {med:.2f} | {p90(floor):.2f} | (for reference) |")
    if not args.no_write:
        write_doc(args.out, bin_dir, args.runs, table)
        print(f"  written to {args.out}")
    return 0


def write_doc(path: Path, bin_dir: Path, runs: int, table: list[str]) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        shown = bin_dir.resolve().relative_to(REPO)
    except ValueError:
        shown = bin_dir
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# llmspell-tool benchmarks\n\n"
        "Written by `bench/tool_cli.sh` (`bench/tool_cli.py`, also run by `bench/run.sh`); "
        "re-run it to refresh this file.\n\n"
        f"- Date: {now}\n"
        f"- Machine: {os.cpu_count()} cores; load average {load}\n"
        f"- Binaries: `{shown}`\n\n"
        f"Method: `llmspell-tool {' '.join(INVOKE)}` as a whole process, from spawn to exit with "
        f"its output read, {runs} timed runs after 3 warm-up runs, in a scratch `$LLMSPELL_HOME` "
        "without config.toml. In-process builds the registry and runs the tool in the process; "
        "`--kernel` sends one signed tool_request to a daemon kernel started once beforehand "
        "(`llmspell-kerneld start --daemon`; its start-up is not counted). On Linux llmspell-tool "
        "is linked without PIE (`tools/llmspell-tool/build.rs` says why); the `true` row is what "
        "starting any process costs from this harness.\n\n"
        "## Latest results\n\n" + "\n".join(table) + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())

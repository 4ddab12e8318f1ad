"""llmspell-fleet: spawn-to-ready per kernel and the memory of idle kernels.

In a temp $LLMSPELL_HOME:

- spawn-to-ready: ``llmspell-fleet spawn --id f<N>`` run --runs times one after another; each
  returns once its kernel answered kernel_info on control and is registered, so the wall time of
  the command is spawn-to-ready (fork, bind, connection file, one control round trip, registry
  write under its lock). Median and p90 are reported.
- RSS: ``llmspell-fleet spawn --count --idle`` (default 20) kernels at once, then VmRSS of each
  (``/proc/PID/status``, pids from the registry) once they are idle; median and max reported.
  The wall time of that parallel spawn is shown too.

Targets: spawn-to-ready median <= 100 ms, idle RSS median <= 15 MiB per kernel. A miss is
printed as MISS; the benchmark never fails the run (exit 0 unless it could not run at all).
Every kernel is stopped at the end (``llmspell-fleet stop --all``).

Binaries: --bin-dir DIR holding llmspell-fleet and llmspell-kerneld (default target/release if
both are there, else target/debug; a debug build is slower and larger). Figures go to --out
(default docs/benchmarks-fleet.md) unless --no-write.

Usage: fleet_bench.py [--runs 20] [--idle 20] [--bin-dir DIR] [--out PATH | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_READY_MS = 100.0
TARGET_RSS_MIB = 15.0
DOC = REPO / "docs" / "benchmarks-fleet.md"


def bin_dir(explicit: str | None) -> Path | None:
    dirs = [Path(explicit)] if explicit else [REPO / "target" / k for k in ("release", "debug")]
    for d in dirs:
        if (d / "llmspell-fleet").is_file() and (d / "llmspell-kerneld").is_file():
            return d
    return None


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--idle", type=int, default=20)
    ap.add_argument("--bin-dir")
    ap.add_argument("--out", default=str(DOC))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    bins = bin_dir(args.bin_dir)
    if bins is None:
        print("fleet_bench: no llmspell-fleet + llmspell-kerneld build found", file=sys.stderr)
        return 1
    fleet = bins / "llmspell-fleet"
    home = Path(tempfile.mkdtemp(prefix="llmspell-fleet-bench-"))
    env = dict(os.environ, LLMSPELL_HOME=str(home), LLMSPELL_KERNELD=str(bins / "llmspell-kerneld"))
    env.pop("LLMSPELL_LOG", None)

    def run(*a: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(fleet), *a], env=env, capture_output=True, text=True,
                              timeout=120, check=True)

    try:
        ready = []
        for n in range(args.runs):
            t0 = time.perf_counter()
            run("spawn", "--id", f"f{n}")
            ready.append((time.perf_counter() - t0) * 1000.0)
        run("stop", "--all", "--timeout", "5")

        t0 = time.perf_counter()
        run("spawn", "--count", str(args.idle))
        parallel_s = time.perf_counter() - t0
        time.sleep(1.0)  # let start-up allocations settle: the figure is for idle kernels
        kernels = json.loads(run("list", "--json").stdout)
        rss = [r for r in (rss_mib(k["pid"]) for k in kernels if k.get("pid")) if r is not None]
    finally:
        subprocess.run([str(fleet), "stop", "--all", "--timeout", "5"], env=env,
                       capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)

    med_ready, med_rss = statistics.median(ready), statistics.median(rss)
    build = bins.name
    lines = [
        f"spawn-to-ready ({args.runs} sequential spawns, {build} build): median {med_ready:.1f} ms,"
        f" p90 {p90(ready):.1f} ms, target <= {TARGET_READY_MS:.0f} ms:"
        f" {verdict(med_ready, TARGET_READY_MS)}",
        f"idle RSS ({len(rss)} kernels spawned at once in {parallel_s:.2f} s): median"
        f" {med_rss:.1f} MiB, max {max(rss):.1f} MiB, total {sum(rss):.0f} MiB,"
        f" target <= {TARGET_RSS_MIB:.0f} MiB each: {verdict(med_rss, TARGET_RSS_MIB)}",
    ]
    print("\n".join(lines))
    if not args.no_write:
        today = dt.date.today().isoformat()
        load = os.getloadavg()[0]
        Path(args.out).write_text(
            "# llmspell-fleet benchmarks\n\n"
            f"Measured {today} by `bench/fleet_bench.py` (load average {load:.1f} at the end"
            " of the run; on a shared machine a higher load means pessimistic latencies).\n\n"
            + "".join(f"- {line}\n" for line in lines)
            + "\nSpawn-to-ready is the whole `llmspell-fleet spawn --id ID` process: it runs"
            " `llmspell-kerneld start --daemon`, waits for one kernel_info round trip on control"
            " and registers the kernel under the registry lock. RSS is VmRSS from /proc of each"
            " kernel process (Lua state, ZeroMQ context and threads, tool registry).\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

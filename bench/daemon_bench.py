"""Daemon start and stop latency of llmspell-kerneld.

Each of --runs rounds, in a temp $LLMSPELL_HOME, with a fresh id ``b<N>``:

- start: ``llmspell-kerneld start --daemon --id b<N>`` → the command exits 0 having printed the
  connection file's path (the daemon forks, binds every socket, writes the file, then the
  starting process returns);
- stop: SIGTERM to the pid in ``kernels/kernel-b<N>.pid`` → the PID file's lock is released (the
  file is gone or can be locked; the kernel removes it while still holding the lock, just before it
  exits), polled every 0.2 ms. The time until ``/proc/<pid>`` is gone (or a zombie) is shown too.

Targets: start median ≤ 50 ms, stop median ≤ 100 ms. A miss is printed as MISS; this is a
benchmark, so it never fails the run (exit 0 unless the arguments are wrong).

Binary: --kerneld PATH, else $LLMSPELL_KERNELD, else target/release/llmspell-kerneld, else
target/debug/llmspell-kerneld (a debug build is slower; bench/daemon.sh builds release).

The figures are also written as markdown to --out (default docs/benchmarks-daemon.md) unless
--no-write is given. No Jupyter kernel has a daemon mode to compare with, so the targets are
absolute (the issue's); bench/kernel_bench.py compares start-up with ipykernel and xeus-python.

Usage: daemon_bench.py [--runs 20] [--kerneld PATH] [--out PATH | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_START_MS = 50.0
TARGET_STOP_MS = 100.0
TIMEOUT = 30.0
DOC = REPO / "docs" / "benchmarks-daemon.md"


def find_binary(explicit: str | None) -> Path | None:
    candidates = [explicit, os.environ.get("LLMSPELL_KERNELD")]
    candidates += [str(REPO / "target" / kind / "llmspell-kerneld") for kind in ("release", "debug")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return Path(c)
    return None


def lock_released(pid_file: Path) -> bool:
    """True when nobody holds the PID file's lock (the same test as `pidfile::probe`)."""
    try:
        with open(pid_file, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
    except FileNotFoundError:
        return True


def pid_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat[stat.rfind(")") + 2 :].startswith("Z")  # a zombie no init has reaped yet


def wait_until(condition, timeout: float = TIMEOUT) -> float | None:
    """Seconds until `condition()` holds, polled every 0.2 ms; None on timeout."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            return None
        time.sleep(0.0002)
    return time.perf_counter() - start


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def one_round(binary: Path, env: dict, home: Path, n: int) -> tuple[float, float, float | None]:
    kid = f"b{n}"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(binary), "start", "--daemon", "--id", kid],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    start_s = time.perf_counter() - t0
    path = proc.stdout.strip()
    if proc.returncode != 0 or not path or not Path(path).is_file():
        raise RuntimeError(f"start --daemon --id {kid} exited {proc.returncode}: {proc.stderr.strip()}")
    pid_file = home / "kernels" / f"kernel-{kid}.pid"
    pid = int(pid_file.read_text().strip())
    t0 = time.perf_counter()
    os.kill(pid, signal.SIGTERM)
    released = wait_until(lambda: lock_released(pid_file))
    if released is None:
        os.kill(pid, signal.SIGKILL)
        raise RuntimeError(f"kernel {kid} (pid {pid}) kept its PID-file lock {TIMEOUT:.0f}s after SIGTERM")
    gone = wait_until(lambda: pid_gone(pid), timeout=5.0)
    gone_s = None if gone is None else time.perf_counter() - t0
    return start_s, released, gone_s


def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="rounds of start + stop (default 20)")
    ap.add_argument("--kerneld", help="llmspell-kerneld binary")
    ap.add_argument("--out", type=Path, default=DOC, help="where to write the markdown figures")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    binary = find_binary(args.kerneld)
    if binary is None:
        print("daemon_bench: no llmspell-kerneld binary (build it or set LLMSPELL_KERNELD); skipped")
        return 0
    helptext = subprocess.run([str(binary), "start", "--help"], capture_output=True, text=True).stdout
    if "--daemon" not in helptext:
        print(f"daemon_bench: {binary} has no `start --daemon`; skipped")
        return 0

    home = Path(tempfile.mkdtemp(prefix="llmspell-daemon-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env["LLMSPELL_HOME"] = str(home)
    starts, stops, gones, errors = [], [], [], []
    try:
        for n in range(args.runs):
            try:
                start_s, stop_s, gone_s = one_round(binary, env, home, n)
            except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as err:
                errors.append(str(err))
                continue
            starts.append(start_s * 1000)
            stops.append(stop_s * 1000)
            if gone_s is not None:
                gones.append(gone_s * 1000)
    finally:
        for pid_file in (home / "kernels").glob("kernel-*.pid"):
            try:
                if not lock_released(pid_file):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        shutil.rmtree(home, ignore_errors=True)

    print(f"llmspell-kerneld daemon start/stop ({binary}, {len(starts)} of {args.runs} rounds ok)")
    for err in errors[:5]:
        print(f"  error: {err}")
    if not starts:
        print("  no round completed; no figures")
        return 0
    rows = [
        ("start --daemon → ready", starts, TARGET_START_MS),
        ("SIGTERM → lock released", stops, TARGET_STOP_MS),
    ]
    print(f"  {'':26} {'median':>9} {'p90':>9}   target (median)")
    table = ["| measure | median ms | p90 ms | target (median) |", "|---|---:|---:|---|"]
    for label, values, target in rows:
        med = statistics.median(values)
        print(f"  {label:26} {med:7.1f}ms {p90(values):7.1f}ms   ≤ {target:.0f} ms  {verdict(med, target)}")
        table.append(f"| {label} | {med:.1f} | {p90(values):.1f} | ≤ {target:.0f} ms: {verdict(med, target)} |")
    if gones:
        med = statistics.median(gones)
        print(f"  {'SIGTERM → pid gone':26} {med:7.1f}ms {p90(gones):7.1f}ms   (for reference)")
        table.append(f"| SIGTERM → pid gone | {med:.1f} | {p90(gones):.1f} | (for reference) |")
    if not args.no_write:
        write_doc(args.out, binary, len(starts), table)
        print(f"  written to {args.out}")
    return 0


def write_doc(path: Path, binary: Path, rounds: int, table: list[str]) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        shown = binary.resolve().relative_to(REPO)
    except ValueError:
        shown = binary
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Daemon benchmarks\n\n"
        "Written by `bench/daemon.sh` (`bench/daemon_bench.py`, also run by `bench/run.sh`); "
        "re-run it to refresh this file.\n\n"
        f"- Date: {now}\n"
        f"- Machine: {os.cpu_count()} cores; load average {load}\n"
        f"- llmspell binary: `{shown}`\n\n"
        f"Method: {rounds} rounds in a scratch `$LLMSPELL_HOME`. Start is `start --daemon --id ID` "
        "until that command exits 0 having printed the connection file (the daemon has forked, "
        "bound every socket and written the file). Stop is SIGTERM to the pid in the PID file "
        "until the PID file's lock is released (what `stop` and `status` wait for). No Jupyter "
        "kernel has a daemon mode, so the targets are absolute.\n\n"
        "## Latest results\n\n" + "\n".join(table) + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())

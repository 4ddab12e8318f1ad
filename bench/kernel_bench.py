"""Startup, execute round trip and memory of llmspell-kerneld next to its peer kernels.

Every kernel is driven the same way, by jupyter_client, from this one process:

- startup: ``KernelManager.start_kernel`` → first ``kernel_info_reply`` (median of --startups
  launches). The client's ZeroMQ reconnect interval is 10 ms for every kernel, so the figure is the
  kernel's start time rather than ZeroMQ's default 100 ms retry.
- round trip: ``execute_request`` of ``x = 1`` → both its ``execute_reply`` on shell and the
  ``idle`` status on iopub (what JupyterLab and nbclient wait for); p50/p99 over --runs executes
  after a warm-up.
- RSS: resident memory of the kernel process (and any children) after those executes.

Kernels: ``llmspell`` (needs $LLMSPELL_KERNELD; skipped with a message when absent), ``ipykernel``,
``xeus-python`` and ``xeus-python-raw`` (xeus-python's ``--raw`` mode: plain Python, no IPython
layer, via the wheel's ``xpython-raw`` kernelspec). Kernelspecs go into a temp JUPYTER_PATH (plus
this venv's share/jupyter, where the xeus-python wheel puts its own); all Jupyter / IPython /
llmspell directories point into a temp tree.

Targets (llmspell): p50 ≤ 0.5 × xeus-python's, startup ≤ 100 ms, RSS ≤ 15 MiB. A missed target is
printed as MISS; this is a benchmark, so it never fails the run.

Usage: kernel_bench.py [--runs 1000] [--startups 5] [--kernels a,b] [--no-write] [--out PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
ALL_KERNELS = ["llmspell", "ipykernel", "xeus-python", "xeus-python-raw"]
KERNEL_NAMES = {  # label -> kernelspec name
    "llmspell": "llmspell",
    "ipykernel": "python3",
    "xeus-python": "xpython",
    "xeus-python-raw": "xpython-raw",
}
CODE = "x = 1"  # valid Lua and Python
TARGET_P50_RATIO = 0.5
TARGET_STARTUP_MS = 100.0
TARGET_RSS_MIB = 15.0
TIMEOUT = 60.0


@dataclass
class Result:
    label: str
    startup_ms: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    rss_mib: float | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)


def _repo_relative(path: str) -> str:
    """The path relative to the repository when inside it (the table must not name a machine)."""
    try:
        return str(Path(path).resolve().relative_to(Path(__file__).resolve().parent.parent))
    except ValueError:
        return Path(path).name


def setup_environment(tmp: Path) -> Path:
    """Points every Jupyter/IPython/llmspell directory into ``tmp``; returns the kernelspec prefix."""
    prefix = tmp / "prefix"
    dirs = {
        "JUPYTER_DATA_DIR": tmp / "jupyter-data",
        "JUPYTER_RUNTIME_DIR": tmp / "jupyter-runtime",
        "JUPYTER_CONFIG_DIR": tmp / "jupyter-config",
        "IPYTHONDIR": tmp / "ipython",
        "LLMSPELL_HOME": tmp / "llmspell-home",
        "MPLCONFIGDIR": tmp / "mpl",
    }
    for name, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        os.environ[name] = str(path)
    (prefix / "share" / "jupyter").mkdir(parents=True, exist_ok=True)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        [str(prefix / "share" / "jupyter"), str(Path(sys.prefix) / "share" / "jupyter")]
    )
    os.environ["JUPYTER_PLATFORM_DIRS"] = "1"
    os.environ.pop("JUPYTER_PREFER_ENV_PATH", None)
    return prefix


def install_kernelspecs(prefix: Path, labels: list[str]) -> dict[str, str]:
    """Installs the kernelspecs the run needs; returns {label: why it is skipped}."""
    skipped: dict[str, str] = {}
    if "llmspell" in labels:
        binary = os.environ.get("LLMSPELL_KERNELD", "")
        if not binary or not os.access(binary, os.X_OK):
            skipped["llmspell"] = f"binary not found (LLMSPELL_KERNELD={binary!r})"
        else:
            proc = subprocess.run(
                [binary, "install-kernelspec", "--prefix", str(prefix)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if proc.returncode != 0:
                skipped["llmspell"] = f"install-kernelspec failed: {proc.stderr.strip()[:200]}"
    if "ipykernel" in labels:
        subprocess.run(
            [sys.executable, "-m", "ipykernel", "install", "--prefix", str(prefix), "--name",
             "python3"],
            check=True,
            capture_output=True,
            timeout=120,
        )
    from jupyter_client.kernelspec import KernelSpecManager

    available = KernelSpecManager().find_kernel_specs()
    for label in labels:
        if label not in skipped and KERNEL_NAMES[label] not in available:
            skipped[label] = f"kernelspec {KERNEL_NAMES[label]!r} not found"
    return skipped


def make_context():
    import zmq

    ctx = zmq.Context()
    ctx.setsockopt(zmq.RECONNECT_IVL, 10)  # default for every socket the clients create
    ctx.setsockopt(zmq.LINGER, 0)
    return ctx


def wait_parent(get, msg_id: str, pred=lambda m: True, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no message for {msg_id}")
        try:
            msg = get(timeout=left)
        except queue.Empty:
            continue
        if msg.get("parent_header", {}).get("msg_id") == msg_id and pred(msg):
            return msg


def is_idle(msg) -> bool:
    return msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"


def start(kernel_name: str, ctx, log):
    """Launches a kernel; returns (km, kc, seconds from launch to the first kernel_info_reply).

    The kernel's stdout/stderr go to ``log`` (some kernels print on every request).
    """
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name=kernel_name, context=ctx)
    t0 = time.perf_counter()
    km.start_kernel(stdout=log, stderr=log)
    kc = km.client(context=ctx)
    kc.start_channels()
    msg_id = kc.kernel_info()
    wait_parent(kc.get_shell_msg, msg_id)
    elapsed = time.perf_counter() - t0
    return km, kc, elapsed


def stop(km, kc, now: bool = False) -> None:
    kc.stop_channels()
    km.shutdown_kernel(now=now)


def rss_mib(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / (1024 * 1024)


def percentile(sorted_samples: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    k = max(0, min(len(sorted_samples) - 1, math.ceil(q / 100 * len(sorted_samples)) - 1))
    return sorted_samples[k]


def measure(label: str, runs: int, startups: int, ctx, log) -> Result:
    name = KERNEL_NAMES[label]
    res = Result(label)
    times = []
    for _ in range(startups):
        km, kc, elapsed = start(name, ctx, log)
        times.append(elapsed)
        stop(km, kc, now=True)
    res.startup_ms = statistics.median(times) * 1000

    km, kc, _ = start(name, ctx, log)
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        # Drain whatever wait_for_ready left on iopub.
        while True:
            try:
                kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break
        samples = []
        for i in range(runs + max(20, runs // 20)):
            t0 = time.perf_counter()
            msg_id = kc.execute(CODE, allow_stdin=False)
            reply = wait_parent(kc.get_shell_msg, msg_id)
            wait_parent(kc.get_iopub_msg, msg_id, is_idle)
            t1 = time.perf_counter()
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"{label}: execute failed: {reply['content']}")
            if i >= max(20, runs // 20):  # warm-up excluded
                samples.append((t1 - t0) * 1000)
        samples.sort()
        res.samples = samples
        res.p50_ms = percentile(samples, 50)
        res.p99_ms = percentile(samples, 99)
        res.rss_mib = rss_mib(km.provisioner.pid)
    finally:
        stop(km, kc)
    return res


def fmt(v: float | None, digits: int = 2) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def render(results: dict[str, Result], runs: int, startups: int, skipped: dict[str, str]) -> str:
    lines = [
        f"| kernel | startup ms (median of {startups}) | round trip p50 ms | p99 ms |"
        f" RSS after {runs} executes MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for label in ALL_KERNELS:
        if label in results:
            r = results[label]
            lines.append(
                f"| {label} | {fmt(r.startup_ms, 0)} | {fmt(r.p50_ms)} | {fmt(r.p99_ms)} |"
                f" {fmt(r.rss_mib, 1)} |"
            )
        elif label in skipped:
            lines.append(f"| {label} | skipped: {skipped[label]} | | | |")
    lines.append("")

    ll = results.get("llmspell")
    ratios = []
    for peer in ("xeus-python", "xeus-python-raw", "ipykernel"):
        if ll and peer in results and ll.p50_ms and results[peer].p50_ms:
            ratios.append(f"- llmspell p50 / {peer} p50 = {ll.p50_ms / results[peer].p50_ms:.2f}")
    if ratios:
        lines += ["Ratios:", "", *ratios, ""]

    lines += ["Targets (llmspell):", ""]
    if ll is None:
        lines.append("- not measured (llmspell skipped)")
    else:
        xp = results.get("xeus-python")
        if xp and xp.p50_ms:
            ratio = ll.p50_ms / xp.p50_ms
            lines.append(
                f"- p50 ≤ {TARGET_P50_RATIO}× xeus-python's: {ratio:.2f}× →"
                f" {verdict(ratio <= TARGET_P50_RATIO)}"
            )
        else:
            lines.append("- p50 ≤ 0.5× xeus-python's: xeus-python not measured")
        lines.append(
            f"- startup ≤ {TARGET_STARTUP_MS:.0f} ms: {fmt(ll.startup_ms, 0)} ms →"
            f" {verdict(ll.startup_ms <= TARGET_STARTUP_MS)}"
        )
        lines.append(
            f"- RSS ≤ {TARGET_RSS_MIB:.0f} MiB: {fmt(ll.rss_mib, 1)} MiB →"
            f" {verdict(ll.rss_mib <= TARGET_RSS_MIB)}"
        )
    return "\n".join(lines) + "\n"


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = os.cpu_count()
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "?"
    return (
        f"{cores} cores{', ' + model if model else ''}; {platform.system()};"
        f" load average {load} when the table was written"
    )


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = [f"Python {platform.python_version()}"]
    for pkg in ("jupyter_client", "pyzmq", "ipykernel", "xeus-python"):
        try:
            out.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    return ", ".join(out)


def write_doc(path: Path, table: str, runs: int) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Kernel benchmarks\n\n"
        "Written by `bench/run.sh` (`bench/kernel_bench.py`); re-run it to refresh this file.\n\n"
        f"- Date: {now}\n"
        f"- Machine: {machine()}\n"
        f"- Software: {versions()}\n"
        f"- llmspell binary: `{_repo_relative(os.environ.get('LLMSPELL_KERNELD', '(none)'))}`\n\n"
        "Method: one jupyter_client driver for every kernel. Startup is launch → first "
        "kernel_info_reply (client reconnect interval 10 ms). Round trip is execute_request of "
        f"`{CODE}` → execute_reply and iopub idle, over {runs} executes after a warm-up. RSS is "
        "the kernel process tree's resident memory after those executes.\n\n"
        "## Latest results\n\n" + table
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=1000, help="measured executes per kernel")
    ap.add_argument("--startups", type=int, default=5, help="launches for the startup median")
    ap.add_argument("--kernels", default=",".join(ALL_KERNELS), help="comma-separated labels")
    ap.add_argument("--no-write", action="store_true", help=f"do not rewrite {DOC}")
    ap.add_argument("--out", type=Path, default=DOC, help="where to write the markdown table")
    args = ap.parse_args()

    labels = [k for k in args.kernels.split(",") if k]
    unknown = [k for k in labels if k not in KERNEL_NAMES]
    if unknown:
        ap.error(f"unknown kernels {unknown}; choose from {ALL_KERNELS}")

    tmp = Path(tempfile.mkdtemp(prefix="llmspell-bench-"))
    try:
        prefix = setup_environment(tmp)
        skipped = install_kernelspecs(prefix, labels)
        for label, why in skipped.items():
            print(f"skipping {label}: {why}", file=sys.stderr)
        ctx = make_context()
        results: dict[str, Result] = {}
        for label in labels:
            if label in skipped:
                continue
            print(f"measuring {label} ...", file=sys.stderr, flush=True)
            log_path = tmp / f"{label}.log"
            with open(log_path, "w") as log:
                try:
                    results[label] = measure(label, args.runs, args.startups, ctx, log)
                except Exception as exc:  # a broken kernel is reported, the others still run
                    skipped[label] = f"failed: {type(exc).__name__}: {exc}"
                    tail = log_path.read_text()[-2000:] if log_path.exists() else ""
                    print(f"{label} failed: {exc}\nkernel output:\n{tail}", file=sys.stderr)
        table = render(results, args.runs, args.startups, skipped)
        print(table)
        if not args.no_write:
            write_doc(args.out, table, args.runs)
            print(f"wrote {args.out}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

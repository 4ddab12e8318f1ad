"""llmspell-dap: the round trip of one debugger step, as an editor sees it.

One step is: send ``next``, wait for the ``stopped`` event, send ``stackTrace``, wait for its
response (what VS Code does before it can show the new line). The adapter runs on stdio, stopped
at a breakpoint inside an endless loop; --warmup steps are dropped, then --steps (>= 200) are
timed one after another and p50/p99/mean reported.

Peer, measured in the same run with the same driver: debugpy (the DAP adapter VS Code uses for
Python, ``python -m debugpy.adapter``) stepping the same loop written in Python. The ratio is
llmspell's p50 over debugpy's.

Target: llmspell p50 <= 2 ms. A miss is printed as MISS; the benchmark never fails the run
(exit 0 unless llmspell-dap could not be measured at all). The adapter's own kernel is stopped
at the end (disconnect).

Binaries: --bin-dir DIR holding llmspell-dap and llmspell-kerneld (default target/release if
both are there, else target/debug). The peer runs on --python (default: target/benchenv's
python, else this interpreter) and is skipped if debugpy is not importable there. Figures go to
--out (default docs/benchmarks-dap.md) unless --no-write.

Usage: dap_step.py [--steps 500] [--warmup 30] [--bin-dir DIR] [--python PY] [--out PATH | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_P50_MS = 2.0
DOC = REPO / "docs" / "benchmarks-dap.md"
WAIT = 60.0

LUA = """local total = 0
for i = 1, 1000000000 do
  total = total + i
  total = total - i + 1
end
"""
PYTHON = """total = 0
for i in range(1000000000):
    total = total + i
    total = total - i + 1
"""
BREAK_LINE = 3


class Adapter:
    """A DAP client of one adapter process on stdio."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env)
        self.seq = 0
        self.inbox: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.inbox.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            self.inbox.put(json.loads(out.read(length)))

    def send(self, command: str, arguments: dict | None = None) -> int:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "type": "request", "command": command,
                           "arguments": arguments or {}}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return self.seq

    def wait(self, pred) -> dict:
        deadline = time.monotonic() + WAIT
        while True:
            msg = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise RuntimeError("the adapter closed its output")
            if msg.get("type") == "response" and not msg.get("success", True):
                raise RuntimeError(f"{msg.get('command')} failed: {msg.get('message')}")
            if pred(msg):
                return msg

    def response(self, seq: int) -> dict:
        return self.wait(lambda m: m.get("type") == "response" and m.get("request_seq") == seq)

    def event(self, name: str) -> dict:
        return self.wait(lambda m: m.get("type") == "event" and m.get("event") == name)

    def close(self) -> None:
        try:
            self.response(self.send("disconnect", {"terminateDebuggee": True}))
        except Exception:  # noqa: BLE001 - best effort; the process is killed below anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def session(argv, env, launch, program: Path, steps: int, warmup: int) -> list[float]:
    """Stops at the breakpoint, then times `steps` next → stopped → stackTrace round trips."""
    dap = Adapter(argv, env)
    try:
        dap.response(dap.send("initialize", {"adapterID": "bench", "clientID": "bench",
                                             "linesStartAt1": True, "columnsStartAt1": True,
                                             "pathFormat": "path"}))
        dap.send("launch", launch)  # debugpy answers launch only after configurationDone
        dap.event("initialized")
        bp = {"source": {"path": str(program)}, "breakpoints": [{"line": BREAK_LINE}]}
        dap.response(dap.send("setBreakpoints", bp))
        dap.response(dap.send("configurationDone"))
        thread = dap.event("stopped")["body"].get("threadId", 1)
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            dap.send("next", {"threadId": thread})
            dap.event("stopped")
            frames = dap.response(dap.send("stackTrace", {"threadId": thread, "levels": 20}))
            elapsed = time.perf_counter() - start
            assert frames["body"]["stackFrames"], "a stopped thread has frames"
            if i >= warmup:
                times.append(elapsed * 1000.0)
        return times
    finally:
        dap.close()


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": statistics.median(ordered), "p99": pick(0.99), "mean": statistics.fmean(ordered),
            "n": len(ordered)}


def bin_dir(explicit: str | None) -> Path | None:
    dirs = [Path(explicit)] if explicit else [REPO / "target" / k for k in ("release", "debug")]
    for d in dirs:
        if (d / "llmspell-dap").is_file() and (d / "llmspell-kerneld").is_file():
            return d
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--bin-dir")
    ap.add_argument("--python")
    ap.add_argument("--out", type=Path, default=DOC)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.steps < 200:
        ap.error("--steps must be at least 200")
    bins = bin_dir(args.bin_dir)
    if bins is None:
        print("dap_step: llmspell-dap and llmspell-kerneld not found (build them)", file=sys.stderr)
        return 1
    venv_python = REPO / "target" / "benchenv" / "bin" / "python"
    python = args.python or (str(venv_python) if venv_python.is_file() else sys.executable)
    # Absolute (debugpy starts it from the program's directory), but not resolved: a venv's
    # python is a symlink whose target does not see the venv's packages.
    python = os.path.abspath(python)

    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dap-bench-") as tmp:
        tmp = Path(tmp)
        lua = tmp / "loop.lua"
        lua.write_text(LUA)
        env = dict(os.environ, LLMSPELL_HOME=str(tmp / "home"))
        env.pop("LLMSPELL_KERNEL", None)
        try:
            times = session([str(bins / "llmspell-dap"), "--stdio"], env,
                            {"program": str(lua)}, lua, args.steps, args.warmup)
            results["llmspell-dap"] = summary(times)
        except Exception as e:  # noqa: BLE001
            print(f"dap_step: llmspell-dap could not be measured: {e}", file=sys.stderr)
            return 1
        has_debugpy = subprocess.run([python, "-c", "import debugpy"], capture_output=True).returncode == 0
        if has_debugpy:
            py = tmp / "loop.py"
            py.write_text(PYTHON)
            launch = {"program": str(py), "python": [python], "console": "internalConsole",
                      "justMyCode": True, "cwd": str(tmp)}
            try:
                times = session([python, "-m", "debugpy.adapter"], None, launch, py,
                                args.steps, args.warmup)
                results["debugpy"] = summary(times)
            except Exception as e:  # noqa: BLE001
                print(f"dap_step: debugpy could not be measured: {e}", file=sys.stderr)
        else:
            print(f"dap_step: debugpy is not importable by {python}; peer skipped", file=sys.stderr)

    ours = results["llmspell-dap"]
    peer = results.get("debugpy")
    verdict = "PASS" if ours["p50"] <= TARGET_P50_MS else "MISS"
    lines = [
        "| adapter | steps | p50 ms | p99 ms | mean ms |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['n']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['mean']:.2f} |")
    ratio = f"{ours['p50'] / peer['p50']:.2f}x debugpy's p50" if peer else "no peer measured"
    lines.append("")
    lines.append(f"llmspell-dap step p50 {ours['p50']:.2f} ms (target <= {TARGET_P50_MS} ms): "
                 f"{verdict}; {ratio}.")
    print("\n".join(lines))
    if not args.no_write:
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        doc = [
            "# llmspell-dap step round trip",
            "",
            f"Measured {when} by `bench/dap_step.py` (binaries: `{bins.name}` build; "
            f"{args.warmup} warm-up steps dropped). One step = `next` → `stopped` event → "
            "`stackTrace` response, through the adapter on stdio, stopped in an endless loop; "
            "the peer is debugpy stepping the same loop in Python, same driver, same run.",
            "",
            *lines,
            "",
        ]
        args.out.write_text("\n".join(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Interactive latency of llmspell-repl in a pseudo-terminal, against `jupyter console` driving
ipykernel measured the same way in the same run.

- keypress to result: with the REPL at its prompt, write `1+1` and Enter to the terminal at once
  and time until the result (`2`) is on the screen. The REPL is attached (`--kernel`) to a
  daemon kernel started beforehand, so neither start-up is counted.
- completion: type `string.fo`, wait for its echo, then press Tab and time until `rmat` (the
  completed `string.format`) is on the screen; Ctrl-C clears the line before the next run.
  The peer completes `str.isdecim` to `str.isdecimal` (its only match).

The terminal is 120×40; cursor-position queries (ESC [6n, which reedline and prompt_toolkit
send) are answered as a terminal would. Targets (llmspell): keypress-to-result median ≤ 5 ms,
completion median ≤ 20 ms. A miss is printed as MISS; this is a benchmark and never fails the
run. The peer needs `jupyter console` and ipykernel (bench/requirements.txt, installed into
target/benchenv by bench/run.sh); without them its rows say "not measured".

Binaries: --bin-dir DIR (holding llmspell-repl and llmspell-kerneld), else target/release.
The figures are written as markdown to --out (default docs/benchmarks-repl.md) unless --no-write.

Usage: repl_bench.py [--runs 50] [--bin-dir DIR] [--jupyter PATH] [--out PATH | --no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import math
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks-repl.md"
TARGET_RESULT_MS = 5.0
TARGET_COMPLETE_MS = 20.0
CPR_QUERY = b"\x1b[6n"
# Terminal control sequences (CSI ... final byte, and ESC 7 / ESC 8), dropped before matching.
ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[78=>]")


class Pty:
    """A program in a pseudo-terminal, its output kept, cursor queries answered."""

    def __init__(self, argv: list[str], env: dict):
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd, self.out = pid, fd, b""
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:
            raise EOFError("the program closed its terminal")
        if not chunk:
            raise EOFError("the program closed its terminal")
        for _ in range(chunk.count(CPR_QUERY)):
            os.write(self.fd, b"\x1b[20;1R")
        self.out += chunk
        return chunk

    def wait_for(self, pattern: bytes, since: int, timeout: float = 30.0) -> float:
        """Reads until `pattern` is in the output after offset `since`; returns the time then."""
        deadline = time.perf_counter() + timeout
        while pattern not in ESCAPES.sub(b"", self.out[since:]):
            if time.perf_counter() > deadline:
                tail = self.out[-400:].decode(errors="replace")
                raise TimeoutError(f"no {pattern!r} within {timeout} s; screen tail: {tail!r}")
            self.read(0.5)
        return time.perf_counter()

    def settle(self, quiet: float = 0.05) -> None:
        """Reads until the program has been quiet for `quiet` seconds (its prompt drawn)."""
        while self.read(quiet):
            pass

    def write(self, data: bytes) -> float:
        t0 = time.perf_counter()
        os.write(self.fd, data)
        return t0

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.time() + 10
            while time.time() < deadline:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    break
                self.settle(0.05)
            else:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
        except (ChildProcessError, ProcessLookupError, EOFError):
            pass
        os.close(self.fd)


def measure(term: Pty, prompt: bytes, cell: bytes, result: bytes, runs: int) -> list[float]:
    """Milliseconds from writing `cell` to `result` on screen, after 3 warm-up runs."""
    times = []
    for i in range(runs + 3):
        term.settle()
        since = len(term.out)
        t0 = term.write(cell)
        t1 = term.wait_for(result, since)
        term.wait_for(prompt, since)
        if i >= 3:
            times.append((t1 - t0) * 1000)
    return times


def measure_completion(term: Pty, typed: bytes, completed: bytes, runs: int) -> list[float]:
    times = []
    for i in range(runs + 3):
        term.settle()
        since = len(term.out)
        term.write(typed)
        term.wait_for(typed[-4:], since)
        term.settle(0.03)
        since = len(term.out)
        t0 = term.write(b"\t")
        t1 = term.wait_for(completed, since)
        term.write(b"\x03")  # Ctrl-C: clear the line
        term.settle(0.1)
        if i >= 3:
            times.append((t1 - t0) * 1000)
    return times


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def run_llmspell(bin_dir: Path, runs: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="llmspell-repl-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMSPELL_")}
    env.update(LLMSPELL_HOME=str(home), TERM="xterm-256color", NO_COLOR="1")
    kerneld = str(bin_dir / "llmspell-kerneld")
    out: dict = {}
    try:
        start = subprocess.run([kerneld, "start", "--daemon", "--id", "bench"], env=env,
                               capture_output=True, timeout=60)
        if start.returncode != 0:
            raise RuntimeError(f"kernel did not start: {start.stderr.decode(errors='replace')}")
        term = Pty([str(bin_dir / "llmspell-repl"), "--kernel", "bench"], env)
        try:
            term.wait_for(b"> ", 0)
            out["result"] = measure(term, b"> ", b"1+1\r", b"\n2\r\n", runs)
            out["complete"] = measure_completion(term, b"string.fo", b"rmat", runs)
        finally:
            term.close()
    finally:
        subprocess.run([kerneld, "stop", "--all", "--timeout", "5"], env=env, capture_output=True,
                       timeout=60)
        shutil.rmtree(home, ignore_errors=True)
    return out


def run_jupyter_console(jupyter: str, runs: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="jupyter-console-bench-"))
    env = dict(os.environ, TERM="xterm-256color", NO_COLOR="1", HOME=str(home),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"))
    out: dict = {}
    term = Pty([jupyter, "console", "--kernel", "python3", "--simple-prompt"], env)
    try:
        term.wait_for(b"In [1]: ", 0, timeout=120)
        out["result"] = measure(term, b"In [", b"1+1\r", b"Out[", runs)
    finally:
        term.close()
    term = Pty([jupyter, "console", "--kernel", "python3", "--ZMQCompleter.timeout=60"], env)
    try:
        term.wait_for(b"In [", 0, timeout=120)
        term.settle(0.5)
        out["complete"] = measure_completion(term, b"str.isdecim", b"al", runs)
    finally:
        term.close()
        shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=50, help="timed runs of each (default 50)")
    ap.add_argument("--bin-dir", type=Path, default=REPO / "target" / "release")
    ap.add_argument("--jupyter", default=str(REPO / "target" / "benchenv" / "bin" / "jupyter"),
                    help="the jupyter command of an environment with jupyter_console and ipykernel")
    ap.add_argument("--out", type=Path, default=DOC)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()

    rows: list[tuple[str, str, list[float] | None, str]] = []
    try:
        ours = run_llmspell(args.bin_dir, args.runs)
        err = ""
    except Exception as e:  # a benchmark reports what went wrong and goes on
        ours, err = {}, str(e)
    try:
        peer = run_jupyter_console(args.jupyter, args.runs)
        peer_err = ""
    except Exception as e:
        peer, peer_err = {}, str(e)

    table = ["| measure | client | median ms | p90 ms | target (median) |", "|---|---|---:|---:|---|"]
    print(f"llmspell-repl in a pseudo-terminal ({args.runs} runs each), against jupyter console + ipykernel")
    for key, what, target in (("result", "keypress to result (1+1)", TARGET_RESULT_MS),
                              ("complete", "Tab to completion", TARGET_COMPLETE_MS)):
        mine, theirs = ours.get(key), peer.get(key)
        for client, times, problem, goal in (("llmspell-repl", mine, err, target),
                                             ("jupyter console", theirs, peer_err, None)):
            if not times:
                print(f"  {what:28} {client:16} not measured: {problem}")
                table.append(f"| {what} | {client} | - | - | not measured: {problem} |")
                continue
            med = statistics.median(times)
            verdict = ""
            if goal is not None:
                verdict = f"≤ {goal:.0f} ms: {'PASS' if med <= goal else 'MISS'}"
            print(f"  {what:28} {client:16} {med:7.2f}ms {p90(times):7.2f}ms  {verdict}")
            table.append(f"| {what} | {client} | {med:.2f} | {p90(times):.2f} | {verdict or '(peer)'} |")
        if mine and theirs:
            ratio = statistics.median(theirs) / statistics.median(mine)
            print(f"  {what:28} jupyter console / llmspell-repl = {ratio:.1f}×")
            table.append(f"| {what} | ratio | {ratio:.1f}× | | jupyter console ÷ llmspell-repl |")
    if not args.no_write:
        write_doc(args.out, args.runs, table)
        print(f"  written to {args.out}")
    return 0


def write_doc(path: Path, runs: int, table: list[str]) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    path.write_text(
        "# llmspell-repl benchmarks\n\n"
        "Written by `bench/repl_bench.py` (run by `bench/run.sh`); re-run it to refresh this file.\n\n"
        f"- Date: {now}\n"
        f"- Machine: {os.cpu_count()} cores (a shared VM); load average {load}\n\n"
        "Method: each client runs in a pseudo-terminal (120×40) driven by the script, which answers "
        "cursor-position queries as a terminal does. *Keypress to result*: `1+1` and Enter written "
        "at once, timed until the result is on the screen (llmspell-repl attached with `--kernel` "
        "to a daemon kernel started beforehand; jupyter console with `--simple-prompt` on "
        "ipykernel, until `Out[`). *Tab to completion*: after the typed text has echoed, Tab is "
        "written and timed until the completed text is drawn (`string.fo` → `string.format`; the "
        f"peer `str.isdecim` → `str.isdecimal`). {runs} timed runs after 3 warm-ups.\n\n"
        "## Latest results\n\n" + "\n".join(table) + "\n"
    )


if __name__ == "__main__":
    sys.exit(main())

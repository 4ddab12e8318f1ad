"""LLM calls from a notebook: llmspell's ``Agent`` against ipykernel running the same request
with Python's standard library, both driven by jupyter_client in the same run, against one
OpenAI-compatible fake server on 127.0.0.1 (stdlib, answers at once, so the figures are the
clients' and kernels' own cost, not a model's).

- execute: ``agent:execute("hi")`` (one JSON reply) vs ``urllib.request`` + ``json.loads``;
  time from execute_request to idle, median of --runs.
- stream: ``agent:stream("hi")`` of --pieces pieces, each written to stdout as it arrives
  (one iopub stream message each) vs ``http.client`` reading the SSE lines and printing each
  piece with flush=True; time to idle, median.
- interrupt: a stream whose server goes silent after the first piece; time from
  interrupt_request (sent once the first piece is seen) to the execute_reply, median. The peer
  blocks in a socket read (interrupted by SIGINT through ipykernel's interrupt_request).

No targets: the figures and the llmspell/peer ratios are printed; --out (default
docs/benchmarks-agents.md) gets them as markdown unless --no-write. Kernel binary:
$LLMSPELL_KERNELD or target/release/llmspell-kerneld. The peer needs ipykernel (the
target/benchenv of bench/run.sh).

Usage: agents_bench.py [--runs 30] [--pieces 200] [--out PATH | --no-write]
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks-agents.md"
PIECES = 200


def fake_server(pieces: int) -> ThreadingHTTPServer:
    """POST /v1/chat/completions: JSON, or SSE of `pieces` pieces (SLOW: one piece, then 60 s)."""

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            prompt = body["messages"][-1]["content"]
            if not body.get("stream"):
                data = json.dumps(
                    {
                        "model": "fake",
                        "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            n = 1 if prompt == "SLOW" else pieces
            try:
                for i in range(n):
                    chunk = {"choices": [{"index": 0, "delta": {"content": f"w{i} "}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                if prompt == "SLOW":
                    time.sleep(60)
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


LUA_SETUP = 'a = Agent.builder():provider("fake"):build()'
LUA = {
    "execute": 'a:reset() a:execute("hi")',
    "stream": 'a:reset() a:stream("hi")',
    "slow": 'a:reset() a:stream("SLOW")',
}

PY_SETUP = """
import http.client, json, urllib.request
def _post(body):
    c = http.client.HTTPConnection(HOST, PORT)
    c.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"})
    return c.getresponse()
def execute(text):
    r = _post({"model": "fake", "messages": [{"role": "user", "content": text}]})
    return json.loads(r.read())["choices"][0]["message"]["content"]
def stream(text):
    r = _post({"model": "fake", "stream": True, "messages": [{"role": "user", "content": text}]})
    for line in r:
        if line.startswith(b"data: ") and line.strip() != b"data: [DONE]":
            print(json.loads(line[6:])["choices"][0]["delta"].get("content", ""), end="", flush=True)
"""
PY = {"execute": 'execute("hi")', "stream": 'stream("hi")', "slow": 'stream("SLOW")'}


def run_cell(kc, code: str, on_output=None) -> tuple[float, dict]:
    """Seconds from execute_request to idle, and the execute_reply."""
    t0 = time.perf_counter()
    msg_id = kc.execute(code, allow_stdin=False)
    while True:
        m = kc.get_iopub_msg(timeout=60)
        if m["parent_header"].get("msg_id") != msg_id:
            continue
        if on_output and m["msg_type"] == "stream":
            on_output(msg_id)
        if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
            break
    took = time.perf_counter() - t0
    while True:
        r = kc.get_shell_msg(timeout=60)
        if r["parent_header"].get("msg_id") == msg_id:
            return took, r


def interrupt_latency(kc, code: str) -> float:
    msg_id = kc.execute(code, allow_stdin=False)
    while True:
        m = kc.get_iopub_msg(timeout=60)
        if m["parent_header"].get("msg_id") == msg_id and m["msg_type"] == "stream":
            break
    t0 = time.perf_counter()
    kc.control_channel.send(kc.session.msg("interrupt_request", {}))
    while True:
        r = kc.get_shell_msg(timeout=60)
        if r["parent_header"].get("msg_id") == msg_id:
            took = time.perf_counter() - t0
            break
    # drain to idle
    while True:
        m = kc.get_iopub_msg(timeout=60)
        if (
            m["parent_header"].get("msg_id") == msg_id
            and m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
        ):
            return took


def measure(kernel_name: str, env: dict, setup: str, cells: dict, runs: int) -> dict:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name=kernel_name, startup_timeout=60, env=env)
    try:
        _, reply = run_cell(kc, setup)
        assert reply["content"]["status"] == "ok", reply["content"]
        out = {}
        for name in ("execute", "stream"):
            run_cell(kc, cells[name])  # warm up
            times = []
            for _ in range(runs):
                took, reply = run_cell(kc, cells[name])
                assert reply["content"]["status"] == "ok", reply["content"]
                times.append(took)
            out[name] = statistics.median(times) * 1000
        out["interrupt"] = (
            statistics.median(interrupt_latency(kc, cells["slow"]) for _ in range(max(3, runs // 5)))
            * 1000
        )
        return out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--pieces", type=int, default=PIECES)
    ap.add_argument("--out", type=Path, default=DOC)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    kerneld = Path(os.environ.get("LLMSPELL_KERNELD") or REPO / "target/release/llmspell-kerneld")
    server = fake_server(args.pieces)
    host, port = server.server_address
    tmp = Path(tempfile.mkdtemp(prefix="agents-bench-"))
    prefix, home = tmp / "prefix", tmp / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[providers.fake]\nkind = "openai"\nbase_url = "http://{host}:{port}/v1"\nmodel = "m"\n'
    )
    subprocess.run(
        [str(kerneld), "install-kernelspec", "--prefix", str(prefix)],
        check=True,
        capture_output=True,
    )
    env = {
        **os.environ,
        "LLMSPELL_HOME": str(home),
        "JUPYTER_PATH": str(prefix / "share" / "jupyter"),
    }
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]
    rows = {}
    rows["llmspell"] = measure("llmspell", env, LUA_SETUP, LUA, args.runs)
    try:
        import ipykernel  # noqa: F401

        py_setup = f"HOST, PORT = {host!r}, {port}\n{PY_SETUP}"
        rows["ipykernel"] = measure("python3", env, py_setup, PY, args.runs)
    except ImportError:
        rows["ipykernel"] = None
    server.shutdown()

    header = f"| | execute (ms) | stream of {args.pieces} pieces (ms) | interrupt a stalled stream (ms) |"
    lines = [header, "|---|---:|---:|---:|"]
    for name, r in rows.items():
        if r is None:
            lines.append(f"| {name} | not measured | not measured | not measured |")
        else:
            lines.append(
                f"| {name} | {r['execute']:.1f} | {r['stream']:.1f} | {r['interrupt']:.1f} |"
            )
    if rows.get("ipykernel"):
        lr, pr = rows["llmspell"], rows["ipykernel"]
        ratios = " | ".join(f"{lr[k] / pr[k]:.2f}" for k in ("execute", "stream", "interrupt"))
        lines.append(f"| llmspell / ipykernel | {ratios} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        args.out.write_text(
            "# Agents: LLM calls from a notebook\n\n"
            f"Measured {when} by `bench/agents_bench.py` (median of {args.runs} runs; fake "
            "OpenAI-compatible server on 127.0.0.1 answering at once; execute_request to idle, "
            "interrupt_request to execute_reply).\n\n" + table + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

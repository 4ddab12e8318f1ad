"""Helpers for driving a kernel with a jupyter_client BlockingKernelClient in the tests.

Every wait has a generous timeout and the helpers match messages by parent ``msg_id``, so stray
messages from earlier requests (or from other clients) never confuse a test. Nothing here measures
time: a timeout only turns a hang into a failure.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

TIMEOUT = 30.0

Msg = dict[str, Any]


class Timeout(AssertionError):
    """A message the test waited for never arrived."""


def _get(channel_get, timeout: float) -> Msg | None:
    try:
        return channel_get(timeout=timeout)
    except queue.Empty:
        return None


def wait_for(channel_get, pred, timeout: float = TIMEOUT, what: str = "message") -> Msg:
    """Returns the first message from ``channel_get`` for which ``pred`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"no {what} within {timeout} s")
        msg = _get(channel_get, left)
        if msg is not None and pred(msg):
            return msg


def parent_id(msg: Msg) -> str | None:
    return (msg.get("parent_header") or {}).get("msg_id")


def shell_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = TIMEOUT) -> Msg:
    """The shell reply whose parent is ``msg_id`` (other replies are skipped)."""
    return wait_for(
        kc.get_shell_msg, lambda m: parent_id(m) == msg_id, timeout, f"shell reply to {msg_id}"
    )


def shell_replies(kc: BlockingKernelClient, msg_ids: list[str], timeout: float = TIMEOUT) -> dict:
    """The shell replies to all of ``msg_ids``, in whatever order they come: ``{msg_id: reply}``."""
    want = set(msg_ids)
    got: dict[str, Msg] = {}
    deadline = time.monotonic() + timeout
    while want - got.keys():
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"no shell replies to {sorted(want - got.keys())} within {timeout} s")
        msg = _get(kc.get_shell_msg, left)
        if msg is not None and parent_id(msg) in want:
            got[parent_id(msg)] = msg
    return got


def control_reply(kc: BlockingKernelClient, msg_id: str, timeout: float = TIMEOUT) -> Msg:
    return wait_for(
        kc.get_control_msg, lambda m: parent_id(m) == msg_id, timeout, f"control reply to {msg_id}"
    )


def iopub_until_idle(kc: BlockingKernelClient, msg_id: str, timeout: float = TIMEOUT) -> list[Msg]:
    """All iopub messages whose parent is ``msg_id``, up to and including the ``idle`` status."""
    out: list[Msg] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            types = [m["msg_type"] for m in out]
            raise Timeout(f"no idle for {msg_id} within {timeout} s (got {types})")
        msg = _get(kc.get_iopub_msg, left)
        if msg is None or parent_id(msg) != msg_id:
            continue
        out.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return out


def iopub_until_idle_many(
    kc: BlockingKernelClient, msg_ids: list[str], timeout: float = TIMEOUT
) -> dict[str, list[Msg]]:
    """Like :func:`iopub_until_idle` for several requests whose messages may interleave."""
    out: dict[str, list[Msg]] = {m: [] for m in msg_ids}
    done: set[str] = set()
    deadline = time.monotonic() + timeout
    while done != set(msg_ids):
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout(f"no idle for {sorted(set(msg_ids) - done)} within {timeout} s")
        msg = _get(kc.get_iopub_msg, left)
        pid = parent_id(msg) if msg is not None else None
        if pid not in out:
            continue
        out[pid].append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            done.add(pid)
    return out


def outputs(iopub: list[Msg]) -> list[Msg]:
    """The output messages among ``iopub`` (no status, no execute_input)."""
    return [m for m in iopub if m["msg_type"] not in ("status", "execute_input")]


def stream_text(iopub: list[Msg], name: str = "stdout") -> str:
    return "".join(
        m["content"]["text"]
        for m in iopub
        if m["msg_type"] == "stream" and m["content"]["name"] == name
    )


def execute(
    kc: BlockingKernelClient, code: str, timeout: float = TIMEOUT, **kwargs: Any
) -> tuple[Msg, list[Msg]]:
    """Runs ``code``; returns ``(execute_reply, iopub messages up to idle)``."""
    kwargs.setdefault("allow_stdin", False)
    msg_id = kc.execute(code, **kwargs)
    iopub = iopub_until_idle(kc, msg_id, timeout)
    reply = shell_reply(kc, msg_id, timeout)
    return reply, iopub


def execute_result_text(iopub: list[Msg]) -> str | None:
    for m in iopub:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"].get("text/plain")
    return None


def drain_iopub(kc: BlockingKernelClient, quiet: float = 0.3) -> None:
    """Discards iopub messages until none arrives for ``quiet`` seconds."""
    while _get(kc.get_iopub_msg, quiet) is not None:
        pass


# --- running the binary directly -------------------------------------------------------------


class Proc:
    """A kernel process started by a test, with its stdout/stderr read by background threads."""

    def __init__(self, argv: list[str], env: dict[str, str]):
        self.argv = argv
        self.popen = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout_lines: queue.Queue[str] = queue.Queue()
        self.stderr_chunks: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for t in self._readers:
            t.start()

    def _read_out(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.stdout_lines.put(line)

    def _read_err(self) -> None:
        assert self.popen.stderr is not None
        for chunk in self.popen.stderr:
            self.stderr_chunks.append(chunk)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def first_line(self, timeout: float = TIMEOUT) -> str:
        try:
            return self.stdout_lines.get(timeout=timeout).rstrip("\n")
        except queue.Empty:
            raise Timeout(
                f"{self.argv} printed no line within {timeout} s; stderr: {self.stderr()!r}"
            ) from None

    def stderr(self) -> str:
        return "".join(self.stderr_chunks)

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Timeout(f"{self.argv} did not exit within {timeout} s") from None
        for t in self._readers:  # so that stderr() holds everything the process wrote
            t.join(timeout=timeout)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=TIMEOUT)


def client_for(connection_file: Path | str) -> BlockingKernelClient:
    """A started, ready client for a kernel described by ``connection_file``."""
    kc = BlockingKernelClient(connection_file=str(connection_file))
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)
    return kc


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write_connection_file(path: Path, ports: list[int], **extra: Any) -> dict[str, Any]:
    """Writes a Jupyter connection file naming ``ports`` (shell, iopub, stdin, control, hb)."""
    info: dict[str, Any] = {
        "shell_port": ports[0],
        "iopub_port": ports[1],
        "stdin_port": ports[2],
        "control_port": ports[3],
        "hb_port": ports[4],
        "ip": "127.0.0.1",
        "key": "6f1c0c2e-5a1e-4c55-9d8b-1f3a2b7c9e10",
        "transport": "tcp",
        "signature_scheme": "hmac-sha256",
        "kernel_name": "llmspell",
    }
    info.update(extra)
    path.write_text(json.dumps(info, indent=1))
    os.chmod(path, 0o600)
    return info


def listening_tcp_ports(pid: int) -> set[int]:
    """The TCP ports that process ``pid`` listens on (Linux: /proc fds matched to /proc/net/tcp*)."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A = LISTEN
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports

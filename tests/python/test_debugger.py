"""The kernel's Lua debugger driven the way JupyterLab's visual debugger drives it.

debug_request / debug_reply on control, debug_event on iopub, DAP messages inside. The flow of
JupyterLab: debugInfo (before anything), initialize, attach, dumpCell, setBreakpoints on the
dumped path, configurationDone, execute the cell, ``stopped`` on iopub, stackTrace / scopes /
variables / evaluate, continue. Plus what llmspell-dap relies on: the execute metadata
``llmspell.source_path`` / ``stop_on_entry``. Timeouts only turn hangs into failures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from kernelutil import TIMEOUT, Timeout, _get, control_reply, parent_id, shell_reply


def murmur2(data: bytes, seed: int) -> int:
    """JupyterLab's cell hash (32-bit MurmurHash2), to check the kernel's paths independently."""
    m, mask = 0x5BD1E995, 0xFFFFFFFF
    h = (seed ^ len(data)) & mask
    n = len(data) // 4 * 4
    for i in range(0, n, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = ((h * m) & mask) ^ k
    tail = data[n:]
    if len(tail) >= 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h ^= tail[0]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    return h ^ (h >> 15)


class Dbg:
    """A JupyterLab-like debugger client on one kernel client; keeps every iopub message."""

    def __init__(self, kc):
        self.kc = kc
        self.seq = 0
        self.iopub: list[dict] = []
        self.seen = 0  # debug events before this index were already consumed

    def request(self, command: str, arguments: dict | None = None, ok: bool = True) -> dict:
        self.seq += 1
        content = {"seq": self.seq, "type": "request", "command": command,
                   "arguments": arguments or {}}
        return self.raw(content, ok)

    def raw(self, content: Any, ok: bool | None = True) -> dict:
        msg = self.kc.session.msg("debug_request", content)
        self.kc.control_channel.send(msg)
        reply = control_reply(self.kc, msg["header"]["msg_id"])
        assert reply["msg_type"] == "debug_reply"
        c = reply["content"]
        if ok is not None:
            assert c["success"] is ok, c
        self.last_id = msg["header"]["msg_id"]
        return c

    def body(self, command: str, arguments: dict | None = None) -> dict:
        r = self.request(command, arguments)
        assert r["type"] == "response" and r["command"] == command and r["request_seq"] == self.seq
        return r["body"]

    def _pull(self, timeout: float) -> bool:
        m = _get(self.kc.get_iopub_msg, timeout)
        if m is None:
            return False
        self.iopub.append(m)
        return True

    def event(self, name: str) -> dict:
        """The next debug_event ``name`` not consumed yet."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            for i in range(self.seen, len(self.iopub)):
                m = self.iopub[i]
                if m["msg_type"] == "debug_event" and m["content"]["event"] == name:
                    self.seen = i + 1
                    assert m["content"]["type"] == "event"
                    return m["content"]["body"]
            if time.monotonic() > deadline:
                raise Timeout(f"no debug_event {name}")
            self._pull(0.5)

    def idle_of(self, msg_id: str) -> list[dict]:
        """Every kept iopub message of ``msg_id``, once its idle has arrived."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            mine = [m for m in self.iopub if parent_id(m) == msg_id]
            if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
                   for m in mine):
                return mine
            if time.monotonic() > deadline:
                raise Timeout(f"no idle for {msg_id}")
            self._pull(0.5)

    def stopped(self) -> tuple[str, dict]:
        """Waits for ``stopped``; returns its reason and the top stack frame."""
        body = self.event("stopped")
        assert body["threadId"] == 1 and body["allThreadsStopped"] is True
        frames = self.body("stackTrace", {"threadId": 1})["stackFrames"]
        return body["reason"], frames[0]

    def variables(self, reference: int, **paging) -> dict[str, dict]:
        got = self.body("variables", {"variablesReference": reference, **paging})
        return {v["name"]: v for v in got["variables"]}

    def locals(self, frame_id: int) -> dict[str, dict]:
        scopes = self.body("scopes", {"frameId": frame_id})["scopes"]
        assert [s["name"] for s in scopes] == ["Locals", "Upvalues", "Globals"]
        return self.variables(scopes[0]["variablesReference"])

    def start(self) -> None:
        self.body("initialize", {"clientID": "test", "adapterID": "llmspell",
                                 "linesStartAt1": True, "pathFormat": "path"})
        self.body("attach", {})

    def execute(self, code: str, metadata: dict | None = None) -> str:
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata or {})
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def result(self, msg_id: str) -> tuple[dict, str | None]:
        """The execute_reply content and the execute_result text."""
        reply = shell_reply(self.kc, msg_id)["content"]
        out = None
        for m in self.idle_of(msg_id):
            if m["msg_type"] == "execute_result":
                out = m["content"]["data"]["text/plain"]
        return reply, out

    def breakpoints(self, path: str, *bps: dict) -> list[dict]:
        return self.body("setBreakpoints", {"source": {"path": path}, "breakpoints": list(bps)})[
            "breakpoints"]


CELL = """local function add(a, b)
  local sum = a + b
  return sum
end
local t = {x = 1, inner = {y = 2}}
local r = add(2, 3)
r
"""


@pytest.fixture()
def dbg(kernel):
    _km, kc = kernel
    return Dbg(kc)


def test_kernel_advertises_the_debugger(kernel, kernelspec):
    _km, kc = kernel
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=TIMEOUT)["content"]
    assert "debugger" in info["supported_features"]
    spec = json.loads(Path(kernelspec).read_text())
    assert spec["metadata"]["debugger"] is True


def test_requests_answered_before_the_debugger_starts(dbg):
    info = dbg.body("debugInfo")
    assert info["isStarted"] is False
    assert info["hashMethod"] == "Murmur2" and info["hashSeed"] == 3339675911
    assert info["tmpFileSuffix"] == ".lua" and info["tmpFilePrefix"].endswith("/")
    assert info["breakpoints"] == [] and info["stoppedThreads"] == []
    # busy / idle around the debug_request, on iopub, like every control request.
    states = [m["content"]["execution_state"] for m in dbg.idle_of(dbg.last_id)
              if m["msg_type"] == "status"]
    assert states == ["busy", "idle"]
    reply, _ = dbg.result(dbg.execute("answer = 42\nnested = {a = {b = 1}}"))
    assert reply["status"] == "ok"
    names = {v["name"]: v for v in dbg.body("inspectVariables")["variables"]}
    assert names["answer"]["value"] == "42"
    assert names["nested"]["variablesReference"] > 0
    assert "print" not in names and "Tool" not in names, "built-ins are not user variables"
    inner = dbg.variables(names["nested"]["variablesReference"])
    assert inner["a"]["variablesReference"] > 0
    rich = dbg.body("richInspectVariables", {"variableName": "answer"})
    assert rich["data"]["text/plain"] == "42"
    modules = dbg.body("modules")
    assert {m["name"] for m in modules["modules"]} >= {"string", "table"}
    r = dbg.request("copyToGlobals", {"srcVariableName": "a", "dstVariableName": "b",
                                      "srcFrameId": 1}, ok=False)
    assert "not stopped" in r["message"]
    ev = dbg.body("evaluate", {"expression": "answer + 1", "context": "repl"})
    assert ev["result"] == "43"


def test_jupyterlab_flow_breakpoint_inspect_set_continue(dbg):
    dbg.start()
    info = dbg.body("debugInfo")
    assert info["isStarted"] is True
    path = dbg.body("dumpCell", {"code": CELL})["sourcePath"]
    assert path == f"{info['tmpFilePrefix']}{murmur2(CELL.encode(), info['hashSeed'])}.lua"
    assert Path(path).read_text() == CELL
    bps = dbg.breakpoints(path, {"line": 3}, {"line": 99})
    assert bps[0]["verified"] is True and bps[0]["line"] == 3
    assert bps[1]["verified"] is False and bps[1]["message"]
    assert dbg.body("debugInfo")["breakpoints"][0]["source"] == path
    dbg.body("configurationDone")
    assert dbg.body("threads")["threads"] == [{"id": 1, "name": "main"}]
    run = dbg.execute(CELL)
    reason, top = dbg.stopped()
    assert reason == "breakpoint"
    assert top["source"]["path"] == path and top["line"] == 3 and top["name"] == "add"
    assert dbg.body("debugInfo")["stoppedThreads"] == [1]
    # While stopped, control answers; the shell request waits.
    dbg.kc.kernel_info()
    frames = dbg.body("stackTrace", {"threadId": 1})["stackFrames"]
    assert [f["line"] for f in frames] == [3, 6]
    local = dbg.locals(frames[0]["id"])
    assert {k: v["value"] for k, v in local.items()} == {"a": "2", "b": "3", "sum": "5"}
    caller = dbg.locals(frames[1]["id"])
    t = dbg.variables(caller["t"]["variablesReference"])
    assert set(t) == {"inner", "x"}
    assert dbg.variables(t["inner"]["variablesReference"])["y"]["value"] == "2"
    page = dbg.variables(caller["t"]["variablesReference"], start=1, count=1)
    assert list(page) == ["x"]
    ev = dbg.body("evaluate", {"expression": "a * 100 + sum", "frameId": frames[0]["id"],
                               "context": "watch"})
    assert ev["result"] == "205"
    hover = dbg.body("evaluate", {"expression": "t.inner", "frameId": frames[1]["id"],
                                  "context": "hover"})
    assert hover["variablesReference"] > 0
    rich = dbg.body("richInspectVariables", {"variableName": "sum", "frameId": frames[0]["id"]})
    assert rich["data"]["text/plain"] == "5"
    dbg.body("copyToGlobals", {"srcVariableName": "sum", "dstVariableName": "copied",
                               "srcFrameId": frames[0]["id"]})
    scopes = dbg.body("scopes", {"frameId": frames[0]["id"]})["scopes"]
    set_ = dbg.body("setVariable", {"variablesReference": scopes[0]["variablesReference"],
                                    "name": "sum", "value": "40 + 2"})
    assert set_["value"] == "42"
    dbg.body("continue", {"threadId": 1})
    dbg.event("continued")
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "42"
    assert dbg.body("evaluate", {"expression": "copied"})["result"] == "5"


def test_stepping_over_in_and_out(dbg):
    dbg.start()
    path = dbg.body("dumpCell", {"code": CELL})["sourcePath"]
    dbg.breakpoints(path, {"line": 5})
    run = dbg.execute(CELL)
    assert dbg.stopped()[1]["line"] == 5
    dbg.body("next", {"threadId": 1})
    reason, top = dbg.stopped()
    assert (reason, top["line"]) == ("step", 6)
    dbg.body("stepIn", {"threadId": 1})
    reason, top = dbg.stopped()
    assert (reason, top["line"], top["name"]) == ("step", 2, "add")
    dbg.body("stepOut", {"threadId": 1})
    reason, top = dbg.stopped()
    # Back in the cell, after the call's line (Lua reports no new line event for line 6 again).
    assert (reason, top["line"], top["name"]) == ("step", 7, "main chunk")
    dbg.body("continue", {"threadId": 1})
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "5"


def test_conditions_hit_counts_and_logpoints(dbg):
    code = "local n = 0\nfor i = 1, 10 do\n  n = n + i\nend\nn\n"
    dbg.start()
    path = dbg.body("dumpCell", {"code": code})["sourcePath"]
    dbg.breakpoints(path, {"line": 3, "condition": "i == 4"})
    run = dbg.execute(code)
    _, top = dbg.stopped()
    assert dbg.locals(top["id"])["i"]["value"] == "4"
    dbg.breakpoints(path, {"line": 3, "hitCondition": "% 3"})
    dbg.body("continue", {"threadId": 1})
    _, top = dbg.stopped()
    assert dbg.locals(top["id"])["i"]["value"] == "7"
    dbg.breakpoints(path, {"line": 3, "logMessage": "i={i} n={n}"})
    dbg.body("continue", {"threadId": 1})
    assert dbg.event("output") == {"category": "console", "output": "i=8 n=28\n",
                                   "source": {"path": path}, "line": 3}
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "55"
    outs = [m["content"]["body"]["output"] for m in dbg.iopub
            if m["msg_type"] == "debug_event" and m["content"]["event"] == "output"]
    assert outs == ["i=8 n=28\n", "i=9 n=36\n", "i=10 n=45\n"], "a logpoint never stops"
    assert not [m for m in dbg.iopub if m["msg_type"] == "debug_event"
                and m["content"]["event"] == "stopped"][2:], "only the two stops above"


def test_function_and_exception_breakpoints(dbg):
    code = "function greet(who)\n  return 'hi ' .. who\nend\nlocal s = greet('x')\nerror('bad ' .. s)\n"
    dbg.start()
    dbg.body("dumpCell", {"code": code})
    assert dbg.body("setFunctionBreakpoints", {"breakpoints": [{"name": "greet"}]})[
        "breakpoints"][0]["verified"] is True
    dbg.body("setExceptionBreakpoints", {"filters": ["uncaught"]})
    run = dbg.execute(code)
    reason, top = dbg.stopped()
    assert (reason, top["line"], top["name"]) == ("function breakpoint", 2, "greet")
    dbg.body("continue", {"threadId": 1})
    body = dbg.event("stopped")
    assert body["reason"] == "exception" and "bad hi x" in body["text"]
    frames = dbg.body("stackTrace", {"threadId": 1})["stackFrames"]
    assert frames[0]["line"] == 5
    dbg.body("continue", {"threadId": 1})
    reply, _ = dbg.result(run)
    assert reply["status"] == "error" and "bad hi x" in reply["evalue"]


def test_pause_a_loop_then_interrupt_while_stopped(dbg):
    dbg.start()
    run = dbg.execute("local n = 0\nwhile true do\n  n = n + 1\nend\n")
    time.sleep(0.3)
    dbg.body("pause", {"threadId": 1})
    reason, top = dbg.stopped()
    assert reason == "pause" and top["line"] in (2, 3)
    assert int(dbg.locals(top["id"])["n"]["value"]) > 0
    msg = dbg.kc.session.msg("interrupt_request", {})
    dbg.kc.control_channel.send(msg)
    assert control_reply(dbg.kc, msg["header"]["msg_id"])["content"]["status"] == "ok"
    reply, _ = dbg.result(run)
    assert reply["status"] == "error" and reply["ename"] == "Interrupted"
    reply, result = dbg.result(dbg.execute("1 + 1"))
    assert reply["status"] == "ok" and result == "2"


def test_disconnect_resumes_and_leaves_the_kernel_usable(dbg):
    dbg.start()
    path = dbg.body("dumpCell", {"code": CELL})["sourcePath"]
    dbg.breakpoints(path, {"line": 2})
    run = dbg.execute(CELL)
    dbg.stopped()
    dbg.body("disconnect", {"restart": False, "terminateDebuggee": False})
    assert dbg.event("terminated") == {}, "debugging has ended"
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "5"
    info = dbg.body("debugInfo")
    assert info["isStarted"] is False and info["breakpoints"] == []
    reply, _ = dbg.result(dbg.execute("error('boom')"))
    assert reply["evalue"].startswith("cell-"), "cells are cell-N again once detached"
    r = dbg.request("stackTrace", {"threadId": 1}, ok=False)
    assert "not stopped" in r["message"]


def test_source_path_metadata_runs_a_script_under_its_path(dbg, tmp_path):
    script = tmp_path / "prog.lua"
    code = "local greeting = 'hello'\nprint(greeting)\nlocal x = 2\nreturn x * 21\n"
    script.write_text(code)
    dbg.start()
    bps = dbg.breakpoints(str(script), {"line": 3})
    assert bps[0]["verified"] is True
    run = dbg.execute(code, {"llmspell": {"source_path": str(script), "stop_on_entry": True}})
    reason, top = dbg.stopped()
    assert (reason, top["line"], top["source"]["path"]) == ("entry", 1, str(script))
    dbg.body("continue", {"threadId": 1})
    reason, top = dbg.stopped()
    assert (reason, top["line"]) == ("breakpoint", 3)
    assert dbg.body("source", {"source": {"path": str(script)}})["content"] == code
    dbg.body("continue", {"threadId": 1})
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "42"
    out = "".join(m["content"]["text"] for m in dbg.idle_of(run) if m["msg_type"] == "stream")
    assert out == "hello\n", "program output stays an ordinary stream"


@pytest.mark.parametrize(
    "content",
    [{}, {"seq": 1}, {"seq": 2, "type": "request", "command": "teleport"},
     {"seq": 3, "type": "request", "command": "setBreakpoints", "arguments": {"source": 7}},
     {"seq": 4, "type": "request", "command": "variables",
      "arguments": {"variablesReference": 999}},
     {"seq": 5, "type": "request", "command": "dumpCell", "arguments": {}},
     {"seq": 6, "type": "request", "command": "evaluate", "arguments": {"expression": "+"}},
     {"seq": 7, "type": "request", "command": "setBreakpoints",
      "arguments": {"source": {"path": "/x.lua"}, "breakpoints": "no"}}],
)
def test_malformed_debug_requests_fail_cleanly(dbg, content):
    r = dbg.raw(content, ok=False)
    assert r["type"] == "response" and r["message"], r
    reply, result = dbg.result(dbg.execute("6 * 7"))
    assert reply["status"] == "ok" and result == "42"


def test_shutdown_while_stopped(kernel):
    km, kc = kernel
    dbg = Dbg(kc)
    dbg.start()
    path = dbg.body("dumpCell", {"code": CELL})["sourcePath"]
    dbg.breakpoints(path, {"line": 2})
    dbg.execute(CELL)
    dbg.stopped()
    msg = kc.session.msg("shutdown_request", {"restart": False})
    kc.control_channel.send(msg)
    assert control_reply(kc, msg["header"]["msg_id"])["content"]["status"] == "ok"
    deadline = time.monotonic() + TIMEOUT
    while km.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not km.is_alive(), "the kernel did not exit while stopped at a breakpoint"
    assert km.provisioner.process.returncode == 0


def test_breakpoints_hit_in_a_coroutine_and_the_all_filter(dbg):
    code = ("local co = coroutine.wrap(function(a)\n  local b = a * 2\n  coroutine.yield(b)\n"
            "  return b + 1\nend)\nlocal ok = pcall(error, 'quiet')\nreturn co(5) + co()\n")
    dbg.start()
    path = dbg.body("dumpCell", {"code": code})["sourcePath"]
    dbg.breakpoints(path, {"line": 4})
    dbg.body("setExceptionBreakpoints", {"filters": ["all"]})
    run = dbg.execute(code)
    body = dbg.event("stopped")
    assert body["reason"] == "exception" and body["text"] == "quiet"
    dbg.body("continue", {"threadId": 1})
    reason, top = dbg.stopped()
    assert (reason, top["line"]) == ("breakpoint", 4)
    assert dbg.locals(top["id"])["b"]["value"] == "10"
    dbg.body("continue", {"threadId": 1})
    reply, result = dbg.result(run)
    assert reply["status"] == "ok" and result == "21"


def test_an_endless_evaluate_while_idle_can_be_interrupted(dbg):
    endless = "(function() while true do end end)()"
    msg = dbg.kc.session.msg("debug_request", {
        "seq": 1, "type": "request", "command": "evaluate",
        "arguments": {"expression": endless, "context": "repl"}})
    dbg.kc.control_channel.send(msg)
    time.sleep(0.5)
    stop = dbg.kc.session.msg("interrupt_request", {})
    dbg.kc.control_channel.send(stop)
    assert control_reply(dbg.kc, stop["header"]["msg_id"])["content"]["status"] == "ok"
    reply = control_reply(dbg.kc, msg["header"]["msg_id"])["content"]
    assert reply["success"] is False and "interrupted" in reply["message"].lower(), reply
    reply, result = dbg.result(dbg.execute("1 + 2"))
    assert reply["status"] == "ok" and result == "3"

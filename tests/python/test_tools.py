"""``tool_request`` / ``tool_reply`` and the Lua ``Tool`` global, driven by jupyter_client.

The requests are sent with a real ``BlockingKernelClient`` (``kc.session.msg`` +
``kc.shell_channel.send``), so they are signed by jupyter_client and the replies pass its
signature check and replay cache. Tests that need a particular built-in tool skip when the
kernel does not have it. Assertions are about behaviour; timeouts only turn hangs into failures.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from kernelutil import (
    TIMEOUT,
    control_reply,
    execute,
    execute_result_text,
    iopub_until_idle,
    parent_id,
    shell_reply,
    stream_text,
    wait_for,
)

KERNEL_NAME = "llmspell"  # as conftest installs it


def send_tool(kc, content) -> str:
    msg = kc.session.msg("tool_request", content)
    kc.shell_channel.send(msg)
    return msg["header"]["msg_id"]


def tool(kc, content) -> dict:
    """Sends a tool_request and returns the tool_reply's content."""
    msg_id = send_tool(kc, content)
    reply = shell_reply(kc, msg_id)
    assert reply["msg_type"] == "tool_reply", reply
    assert reply["parent_header"]["msg_type"] == "tool_request"
    return reply["content"]


def tool_names(kc) -> list[str]:
    return [t["name"] for t in tool(kc, {"command": "list"})["tools"]]


def need(kc, name: str) -> None:
    if name not in tool_names(kc):
        pytest.skip(f"this kernel has no {name} tool")


def assert_error(content: dict, error_type: str, needle: str) -> None:
    assert content["status"] == "error", content
    assert content["error_type"] == error_type, content
    assert needle in content["message"], content
    assert content["ename"] == error_type and content["evalue"] == content["message"]
    assert isinstance(content["traceback"], list)


@pytest.fixture()
def tools_kernel(tmp_path: Path):
    """A kernel launched by jupyter_client with its own LLMSPELL_HOME whose config.toml lets
    process_executor run ``sleep`` and file tools use ``tmp_path/allowed``."""
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "allowed").mkdir()
    (tmp_path / "outside").mkdir()
    (home / "config.toml").write_text(
        "[tools]\n"
        f'allowed_paths = ["{tmp_path / "allowed"}"]\n'
        'allowed_executables = ["sleep"]\n'
    )
    env = {**os.environ, "LLMSPELL_HOME": str(home)}
    km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=60, env=env)
    try:
        yield km, kc, tmp_path
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)


def test_commands_and_typed_errors(kernel):
    _km, kc = kernel
    listed = tool(kc, {"command": "list"})
    assert listed["status"] == "ok"
    for t in listed["tools"]:
        assert set(t) == {"name", "category", "description"}, t
    cats = tool(kc, {"command": "categories"})
    assert cats["status"] == "ok"
    assert sorted(cats["categories"]) == cats["categories"]
    assert {t["category"] for t in listed["tools"]} == set(cats["categories"])
    assert tool(kc, {"command": "search", "query": "zzzz-nothing"}) == {"status": "ok", "tools": []}

    reply = tool(kc, {"command": "invoke", "name": "no_such_tool", "params": {}})
    assert_error(reply, "not_found", "no_such_tool")
    assert reply["unknown_tool"] == "no_such_tool"
    assert_error(tool(kc, {"command": "info", "name": "no_such_tool"}), "not_found", "no_such_tool")
    assert_error(tool(kc, {"command": "teleport"}), "validation", "unknown command")
    assert_error(tool(kc, {}), "validation", "command is required")
    assert_error(tool(kc, {"command": "search"}), "validation", "query is required")
    assert_error(tool(kc, {"command": "invoke", "name": "x", "timeout_ms": 0}), "validation", "timeout_ms")


def test_busy_idle_with_the_request_as_parent(kernel):
    _km, kc = kernel
    msg_id = send_tool(kc, {"command": "list"})
    shell_reply(kc, msg_id)
    iopub = iopub_until_idle(kc, msg_id)
    assert [(m["msg_type"], m["content"]["execution_state"]) for m in iopub] == [
        ("status", "busy"),
        ("status", "idle"),
    ]
    assert all(parent_id(m) == msg_id for m in iopub)


def test_answered_while_a_cell_runs(kernel):
    _km, kc = kernel
    cell = kc.execute("while true do end", allow_stdin=False)
    wait_for(
        kc.get_iopub_msg,
        lambda m: parent_id(m) == cell and m["msg_type"] == "execute_input",
        what="execute_input of the busy loop",
    )
    started = time.monotonic()
    assert tool(kc, {"command": "categories"})["status"] == "ok"
    assert time.monotonic() - started < 2.0, "the tool_request waited for the cell"
    req = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(req)
    control_reply(kc, req["header"]["msg_id"])
    assert shell_reply(kc, cell)["content"]["ename"] == "Interrupted"


def test_calculator_over_tool_request_and_from_lua(kernel):
    _km, kc = kernel
    need(kc, "calculator")
    reply = tool(
        kc, {"command": "invoke", "name": "calculator", "params": {"expression": "1+2"}}
    )
    assert reply["status"] == "ok", reply
    assert reply["tool"] == "calculator"
    assert "3" in str(reply["result"])
    assert_error(
        tool(kc, {"command": "invoke", "name": "calculator", "params": {"expression": 7}}),
        "validation",
        "expression",
    )
    reply, iopub = execute(
        kc, "return JSON.encode(Tool.invoke('calculator', {expression = '1+2'}))"
    )
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "3" in execute_result_text(iopub)


def test_uncaught_tool_error_is_a_tool_error(kernel):
    _km, kc = kernel
    reply, iopub = execute(kc, "local x = 1\nTool.invoke('no_such_tool', {})")
    content = reply["content"]
    assert content["status"] == "error"
    assert content["ename"] == "ToolError"
    assert content["evalue"].startswith("no_such_tool: not_found: no tool named")
    errors = [m for m in iopub if m["msg_type"] == "error"]
    assert len(errors) == 1
    assert errors[0]["content"]["traceback"][0] == f"ToolError: {content['evalue']}"
    code = (
        "local ok, err = pcall(Tool.invoke, 'no_such_tool', {})\n"
        "print(ok, err.error_type, err.tool, tostring(err):match('^[^:]+: [^:]+'))"
    )
    reply, iopub = execute(kc, code)
    assert stream_text(iopub) == "false\tnot_found\tno_such_tool\tno_such_tool: not_found\n"


def test_interrupt_stops_a_cell_blocked_in_tool_invoke(tools_kernel):
    _km, kc, _tmp = tools_kernel
    need(kc, "process_executor")
    cell = kc.execute(
        "Tool.invoke('process_executor', {command = 'sleep', args = {'30'}})", allow_stdin=False
    )
    wait_for(
        kc.get_iopub_msg,
        lambda m: parent_id(m) == cell and m["msg_type"] == "execute_input",
        what="execute_input",
    )
    time.sleep(0.5)  # let the tool start; not a timing assertion
    # While the tool runs, control and tool requests are answered.
    info = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(info)
    assert control_reply(kc, info["header"]["msg_id"], timeout=5)["content"]["status"] == "ok"
    assert tool(kc, {"command": "categories"})["status"] == "ok"
    started = time.monotonic()
    req = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(req)
    control_reply(kc, req["header"]["msg_id"])
    reply = shell_reply(kc, cell, timeout=10)
    assert reply["content"]["ename"] == "Interrupted", reply["content"]
    assert time.monotonic() - started < 5.0
    reply, iopub = execute(kc, "1+1")
    assert execute_result_text(iopub) == "2"


def test_tools_config_is_respected(tools_kernel):
    _km, kc, tmp = tools_kernel
    need(kc, "file_operations")
    inside = tmp / "allowed" / "note.txt"
    outside = tmp / "outside" / "note.txt"
    reply = tool(
        kc,
        {
            "command": "invoke",
            "name": "file_operations",
            "params": {"operation": "write", "path": str(inside), "content": "hi"},
        },
    )
    assert reply["status"] == "ok", reply
    assert inside.read_text() == "hi"
    reply = tool(
        kc,
        {
            "command": "invoke",
            "name": "file_operations",
            "params": {"operation": "write", "path": str(outside), "content": "no"},
        },
    )
    assert_error(reply, "permission", "allowed")
    assert not outside.exists()
    # The Lua global runs under the same policy.
    code = (
        f"local ok, err = pcall(Tool.invoke, 'file_operations', "
        f"{{operation = 'read', path = '{outside.parent}/x'}})\n"
        "print(err.error_type)"
    )
    _reply, iopub = execute(kc, code)
    assert stream_text(iopub) == "permission\n"

"""llmspell-kerneld driven by jupyter_client, beyond the generic conformance suite.

Covers: several clients on one kernel, interrupts (message and signal), stdin, large output,
message signing, control-channel busy/idle, restart and history persistence, comms, stop_on_error,
and the binary's own ``start`` mode (standalone connection file, Jupyter-written connection file,
bad files, busy ports). Assertions are about behaviour only; timeouts only turn hangs into failures.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import stat
import time
import uuid
from pathlib import Path

import pytest
import zmq
from jupyter_client.session import Session

from kernelutil import (
    TIMEOUT,
    Proc,
    client_for,
    control_reply,
    drain_iopub,
    execute,
    execute_result_text,
    free_ports,
    iopub_until_idle,
    iopub_until_idle_many,
    listening_tcp_ports,
    outputs,
    parent_id,
    shell_replies,
    shell_reply,
    stream_text,
    wait_for,
    write_connection_file,
)

KERNELD = os.environ["LLMSPELL_KERNELD"]  # set by conftest

EX_TEMPFAIL = 75
EX_CONFIG = 78


def kernel_pid(km) -> int:
    return km.provisioner.pid


def assert_two(kc) -> None:
    """The kernel still works: ``1+1`` gives ``2``."""
    reply, iopub = execute(kc, "1+1")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert execute_result_text(iopub) == "2"


def start_busy_loop(kc) -> str:
    """Starts ``while true do end`` and returns once the kernel is running it (execute_input seen)."""
    msg_id = kc.execute("while true do end", allow_stdin=False)
    wait_for(
        kc.get_iopub_msg,
        lambda m: parent_id(m) == msg_id and m["msg_type"] == "execute_input",
        what="execute_input of the busy loop",
    )
    time.sleep(0.3)  # let the Lua loop actually start; not a timing assertion
    return msg_id


def assert_interrupted(kc, msg_id: str) -> None:
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "error", reply["content"]
    assert reply["content"]["ename"] == "Interrupted", reply["content"]
    iopub_until_idle(kc, msg_id)


# --- several clients -------------------------------------------------------------------------


def test_two_clients_both_see_iopub(kernel):
    km, kc1 = kernel
    # A second client with its own Session (as a second JupyterLab tab has): km.client() would
    # share kc1's Session, hence its ZeroMQ identity on shell, and the ROUTER would confuse them.
    kc2 = client_for(km.connection_file)
    try:
        drain_iopub(kc1)
        drain_iopub(kc2)
        msg_id = kc1.execute('print("shared output")', allow_stdin=False)
        for kc in (kc1, kc2):
            iopub = iopub_until_idle(kc, msg_id)
            types = [m["msg_type"] for m in iopub]
            assert types[0] == "status" and iopub[0]["content"]["execution_state"] == "busy", types
            assert "execute_input" in types, types
            assert stream_text(iopub) == "shared output\n", types
        reply = shell_reply(kc1, msg_id)
        assert reply["content"]["status"] == "ok"
        # The reply is routed to the requester only.
        with pytest.raises(AssertionError):
            shell_reply(kc2, msg_id, timeout=1.0)
    finally:
        kc2.stop_channels()


# --- interrupts ------------------------------------------------------------------------------


def test_interrupt_request_on_control(kernel):
    _km, kc = kernel
    msg_id = start_busy_loop(kc)
    req = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(req)
    rep = control_reply(kc, req["header"]["msg_id"])
    assert rep["msg_type"] == "interrupt_reply"
    assert rep["content"]["status"] == "ok"
    assert_interrupted(kc, msg_id)
    assert_two(kc)


def test_interrupt_via_kernel_manager(kernel):
    """KernelManager.interrupt_kernel uses the kernelspec's interrupt_mode ("message")."""
    km, kc = kernel
    assert km.kernel_spec.interrupt_mode == "message"
    msg_id = start_busy_loop(kc)
    km.interrupt_kernel()
    assert_interrupted(kc, msg_id)
    assert_two(kc)


def test_sigint_interrupts_busy_kernel(kernel):
    km, kc = kernel
    msg_id = start_busy_loop(kc)
    os.kill(kernel_pid(km), signal.SIGINT)
    assert_interrupted(kc, msg_id)
    assert_two(kc)


def test_sigint_on_idle_kernel_is_harmless(kernel):
    km, kc = kernel
    execute(kc, "keep_me = 7")
    os.kill(kernel_pid(km), signal.SIGINT)
    time.sleep(0.5)  # give a (wrongly) dying kernel the chance to die; not a timing assertion
    assert km.is_alive()
    reply, iopub = execute(kc, "keep_me")
    assert reply["content"]["status"] == "ok", reply["content"]
    assert execute_result_text(iopub) == "7"
    # An interrupt that arrives while idle must not abort the next execution either.
    assert_two(kc)


# --- stdin -----------------------------------------------------------------------------------


def test_input_request_answered(kernel):
    _km, kc = kernel
    code = 'x = input("name? ") print("hi " .. x)'
    msg_id = kc.execute(code, allow_stdin=True)
    req = wait_for(kc.get_stdin_msg, lambda m: True, what="input_request")
    assert req["msg_type"] == "input_request"
    assert parent_id(req) == msg_id
    assert req["content"]["prompt"] == "name? "
    assert req["content"].get("password") is False
    kc.input("bob")
    iopub = iopub_until_idle(kc, msg_id)
    reply = shell_reply(kc, msg_id)
    assert reply["content"]["status"] == "ok", reply["content"]
    assert "hi bob" in stream_text(iopub)


def test_io_read_uses_stdin(kernel):
    _km, kc = kernel
    msg_id = kc.execute('local l = io.read() print("got " .. l)', allow_stdin=True)
    req = wait_for(kc.get_stdin_msg, lambda m: True, what="input_request")
    assert req["msg_type"] == "input_request"
    assert parent_id(req) == msg_id
    kc.input("a line")
    iopub = iopub_until_idle(kc, msg_id)
    assert shell_reply(kc, msg_id)["content"]["status"] == "ok"
    assert "got a line" in stream_text(iopub)


def test_input_without_allow_stdin_errors(kernel):
    _km, kc = kernel
    reply, _iopub = execute(kc, 'x = input("name? ")', allow_stdin=False)
    assert reply["content"]["status"] == "error", reply["content"]
    with pytest.raises(AssertionError):  # no input_request may be sent
        wait_for(kc.get_stdin_msg, lambda m: True, timeout=0.5)
    assert_two(kc)


# --- output ----------------------------------------------------------------------------------


def test_ten_thousand_lines_arrive_in_order(kernel):
    _km, kc = kernel
    reply, iopub = execute(kc, "for i=1,10000 do print(i) end", timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    lines = stream_text(iopub).splitlines()
    assert lines == [str(i) for i in range(1, 10001)]


def test_execute_results_and_streams(kernel):
    _km, kc = kernel
    for code, want in [("6*7", "42"), ('"hi"', '"hi"'), ("0.5", "0.5")]:
        reply, iopub = execute(kc, code)
        assert reply["content"]["status"] == "ok"
        assert execute_result_text(iopub) == want, code
    reply, iopub = execute(kc, 'io.write("a") io.stderr:write("b\\n") print("c")')
    assert stream_text(iopub, "stdout") == "ac\n"
    assert stream_text(iopub, "stderr") == "b\n"


def test_error_message_shape(kernel):
    _km, kc = kernel
    reply, iopub = execute(kc, 'error("boom")')
    assert reply["content"]["status"] == "error"
    errs = [m for m in iopub if m["msg_type"] == "error"]
    assert len(errs) == 1
    c = errs[0]["content"]
    assert c["ename"] == "RuntimeError"
    assert "boom" in c["evalue"]
    assert isinstance(c["traceback"], list)
    assert reply["content"]["ename"] == "RuntimeError"


def test_display_and_clear_output(kernel):
    _km, kc = kernel
    _reply, iopub = execute(kc, 'display({["text/html"]="<b>hi</b>", ["text/plain"]="hi"})')
    (disp,) = [m for m in iopub if m["msg_type"] == "display_data"]
    assert disp["content"]["data"] == {"text/html": "<b>hi</b>", "text/plain": "hi"}
    _reply, iopub = execute(kc, "display(42)")
    (disp,) = [m for m in iopub if m["msg_type"] == "display_data"]
    assert disp["content"]["data"]["text/plain"] == "42"
    _reply, iopub = execute(kc, "clear_output()")
    assert [m["msg_type"] for m in outputs(iopub)] == ["clear_output"]


def test_page_payload(kernel):
    _km, kc = kernel
    reply, _iopub = execute(kc, 'page("text")')
    assert reply["content"]["payload"] == [
        {"source": "page", "data": {"text/plain": "text"}, "start": 0}
    ]


def test_completion_replaces_last_segment(kernel):
    _km, kc = kernel
    msg_id = kc.complete("string.fo", 9)
    c = shell_reply(kc, msg_id)["content"]
    assert c["status"] == "ok"
    assert c["matches"] == ["format"]
    assert (c["cursor_start"], c["cursor_end"]) == (7, 9)


def test_inspect_print(kernel):
    _km, kc = kernel
    msg_id = kc.inspect("print", 5)
    c = shell_reply(kc, msg_id)["content"]
    assert c["status"] == "ok" and c["found"] is True
    assert c["data"].get("text/plain")


def test_kernel_info_content(kernel):
    _km, kc = kernel
    msg_id = kc.kernel_info()
    c = shell_reply(kc, msg_id)["content"]
    assert c["implementation"] == "llmspell"
    assert c["protocol_version"] == "5.5"
    assert c["language_info"]["name"] == "lua"
    assert c["language_info"]["file_extension"] == ".lua"


# --- signing ---------------------------------------------------------------------------------


def _execute_content(code: str) -> dict:
    return {
        "code": code,
        "silent": False,
        "store_history": True,
        "user_expressions": {},
        "allow_stdin": False,
        "stop_on_error": True,
    }


@pytest.mark.parametrize("variant", ["wrong-key", "unsigned", "garbage-frames"])
def test_bad_signature_is_ignored(kernel, variant):
    _km, kc = kernel
    drain_iopub(kc)
    sock = kc.shell_channel.socket
    msg_id = None
    if variant == "garbage-frames":
        sock.send_multipart([b"<IDS|MSG>", b"deadbeef", b"{", b"}", b"not json", b"x"])
    else:
        key = b"not-the-right-key" if variant == "wrong-key" else b""
        bad = Session(key=key, username="mallory")
        msg = bad.msg("execute_request", _execute_content("tampered = true"))
        msg_id = msg["header"]["msg_id"]
        bad.send(sock, msg)
    # Nothing may answer it: no reply on shell within ~2 s, no busy/idle on iopub.
    with pytest.raises(queue.Empty):
        m = kc.get_shell_msg(timeout=2.0)
        pytest.fail(f"the kernel answered a badly signed message: {m['msg_type']} {m['content']}")
    if msg_id is not None:
        with pytest.raises(AssertionError):
            m = wait_for(kc.get_iopub_msg, lambda m: parent_id(m) == msg_id, timeout=0.5)
            pytest.fail(f"iopub {m['msg_type']} for a badly signed request")
    reply, iopub = execute(kc, "print(tostring(tampered))")
    assert reply["content"]["status"] == "ok"
    assert stream_text(iopub) == "nil\n"


def test_bad_signature_is_logged(llmspell_home):
    proc = Proc([KERNELD, "start", "--id", "pytest-badsig"], _env(llmspell_home))
    try:
        kc = client_for(proc.first_line())
        try:
            bad = Session(key=b"not-the-right-key", username="mallory")
            bad.send(kc.shell_channel.socket, bad.msg("execute_request", _execute_content("1")))
            assert_two(kc)  # processed after the bad message: the drop has happened
            msg_id = kc.shutdown()
            control_reply(kc, msg_id)
        finally:
            kc.stop_channels()
        proc.wait()
        assert "signature" in proc.stderr().lower(), proc.stderr()
    finally:
        proc.kill()


# --- control ---------------------------------------------------------------------------------


def test_kernel_info_on_control_has_busy_idle(kernel):
    _km, kc = kernel
    drain_iopub(kc)
    req = kc.session.msg("kernel_info_request", {})
    kc.control_channel.send(req)
    msg_id = req["header"]["msg_id"]
    rep = control_reply(kc, msg_id)
    assert rep["msg_type"] == "kernel_info_reply"
    assert rep["content"]["language_info"]["name"] == "lua"
    iopub = iopub_until_idle(kc, msg_id)
    states = [m["content"]["execution_state"] for m in iopub if m["msg_type"] == "status"]
    assert states == ["busy", "idle"]
    for m in iopub:
        assert m["parent_header"]["msg_id"] == msg_id
        assert m["parent_header"]["msg_type"] == "kernel_info_request"


@pytest.mark.parametrize("restart", [False, True])
def test_shutdown_request_exits(kernel, restart):
    """shutdown_request on control: reply echoes ``restart``; the process exits 0 either way
    (with restart=True it is the manager's job to launch a new one)."""
    km, kc = kernel
    req = kc.session.msg("shutdown_request", {"restart": restart})
    kc.control_channel.send(req)
    rep = control_reply(kc, req["header"]["msg_id"])
    assert rep["msg_type"] == "shutdown_reply"
    assert rep["content"]["status"] == "ok"
    assert rep["content"]["restart"] is restart
    proc = km.provisioner.process
    assert proc.wait(timeout=TIMEOUT) == 0


def test_restart_resets_globals(kernel):
    km, kc = kernel
    execute(kc, "restart_marker = 42")
    _reply, iopub = execute(kc, "print(restart_marker)")
    assert stream_text(iopub) == "42\n"
    old_pid = kernel_pid(km)
    km.restart_kernel(now=False)
    assert kernel_pid(km) != old_pid
    kc.wait_for_ready(timeout=TIMEOUT)
    reply, iopub = execute(kc, "print(type(restart_marker))")
    assert reply["content"]["status"] == "ok"
    assert stream_text(iopub) == "nil\n"


def test_history_survives_restart(kernel):
    km, kc = kernel
    marker = f"hist_marker_{uuid.uuid4().hex[:12]}"
    code = f"{marker} = 1"
    reply, _ = execute(kc, code, store_history=True)
    assert reply["content"]["status"] == "ok"
    km.restart_kernel(now=False)
    kc.wait_for_ready(timeout=TIMEOUT)
    msg_id = kc.history(hist_access_type="search", pattern=f"*{marker}*", raw=True, output=False)
    hist = shell_reply(kc, msg_id)["content"]
    assert hist["status"] == "ok"
    inputs = [entry[2] for entry in hist["history"]]
    assert code in inputs, hist["history"]


def test_history_with_output(kernel):
    _km, kc = kernel
    execute(kc, "2*21", store_history=True)
    msg_id = kc.history(hist_access_type="tail", n=1, raw=True, output=True)
    hist = shell_reply(kc, msg_id)["content"]["history"]
    assert len(hist) == 1
    session, line, (inp, out) = hist[0]
    assert inp == "2*21"
    assert out == "42"


# --- comms -----------------------------------------------------------------------------------


def test_comm_info_empty(kernel):
    _km, kc = kernel
    msg_id = kc.comm_info()
    c = shell_reply(kc, msg_id)["content"]
    assert c["status"] == "ok"
    assert c["comms"] == {}


def test_comm_open_unknown_target_is_closed(kernel):
    _km, kc = kernel
    comm_id = uuid.uuid4().hex
    msg = kc.session.msg(
        "comm_open", {"comm_id": comm_id, "target_name": "no-such-target", "data": {}}
    )
    kc.shell_channel.send(msg)
    close = wait_for(
        kc.get_iopub_msg,
        lambda m: m["msg_type"] == "comm_close",
        what="comm_close for an unknown target",
    )
    assert close["content"]["comm_id"] == comm_id
    assert_two(kc)


# --- stop_on_error ---------------------------------------------------------------------------


def test_stop_on_error_aborts_queued(kernel):
    _km, kc = kernel
    # The first cell spins ~0.5 s of CPU so the next two are queued behind it when it fails.
    first = kc.execute(
        'local t = os.clock() while os.clock() - t < 0.5 do end error("first")',
        stop_on_error=True,
        allow_stdin=False,
    )
    second = kc.execute('print("second")', allow_stdin=False)
    third = kc.execute('print("third")', allow_stdin=False)
    replies = shell_replies(kc, [first, second, third])  # any order
    assert replies[first]["content"]["status"] == "error"
    assert replies[first]["content"]["ename"] == "RuntimeError"
    for msg_id in (second, third):
        r = replies[msg_id]
        assert r["content"]["status"] == "error", r["content"]
        assert r["content"]["ename"] == "ExecutionAborted", r["content"]
    # Every request, aborted or not, gets busy ... idle; the aborted ones print nothing.
    iopubs = iopub_until_idle_many(kc, [first, second, third])
    for msg_id in (second, third):
        assert outputs(iopubs[msg_id]) == [], [m["msg_type"] for m in iopubs[msg_id]]
    # The abort covers only what was queued: the kernel runs new requests.
    reply, iopub = execute(kc, 'print("after")')
    assert reply["content"]["status"] == "ok"
    assert stream_text(iopub) == "after\n"


# --- the binary's start mode -----------------------------------------------------------------


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LLMSPELL_HOME"] = str(home)
    return env


def test_standalone_start_writes_and_removes_connection_file(llmspell_home):
    proc = Proc([KERNELD, "start", "--id", "pytest-standalone"], _env(llmspell_home))
    try:
        path = Path(proc.first_line())
        assert path == llmspell_home / "kernels" / "kernel-pytest-standalone.json"
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        info = json.loads(path.read_text())
        assert info["ip"] == "127.0.0.1"
        assert listening_tcp_ports(proc.pid) >= {
            info[k] for k in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
        }
        kc = client_for(path)
        try:
            assert_two(kc)
            msg_id = kc.shutdown()
            rep = control_reply(kc, msg_id)
            assert rep["content"]["status"] == "ok"
        finally:
            kc.stop_channels()
        assert proc.wait() == 0, proc.stderr()
        assert not path.exists(), "connection file left behind after shutdown"
    finally:
        proc.kill()


def test_standalone_sigterm_removes_connection_file(llmspell_home):
    proc = Proc([KERNELD, "start", "--id", "pytest-sigterm"], _env(llmspell_home))
    try:
        path = Path(proc.first_line())
        assert path.is_file()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait()
        assert not path.exists(), "connection file left behind after SIGTERM"
    finally:
        proc.kill()


def test_given_connection_file_is_used_verbatim(tmp_path, llmspell_home):
    ports = free_ports(5)
    cf = tmp_path / "kernel-given.json"
    info = write_connection_file(cf, ports, jupyter_session="x", curve_publickey="ignored")
    before_bytes = cf.read_bytes()
    before_mtime = cf.stat().st_mtime_ns
    proc = Proc([KERNELD, "start", "--connection-file", str(cf)], _env(llmspell_home))
    try:
        kc = client_for(cf)
        try:
            assert_two(kc)
            assert listening_tcp_ports(proc.pid) == set(ports)
            # Heartbeat echoes on the given hb port.
            ctx = zmq.Context.instance()
            hb = ctx.socket(zmq.REQ)
            hb.setsockopt(zmq.LINGER, 0)
            hb.connect(f"tcp://127.0.0.1:{info['hb_port']}")
            hb.send(b"ping")
            assert hb.poll(int(TIMEOUT * 1000)), "no heartbeat echo"
            assert hb.recv() == b"ping"
            hb.close()
            msg_id = kc.shutdown()
            control_reply(kc, msg_id)
        finally:
            kc.stop_channels()
        assert proc.wait() == 0, proc.stderr()
    finally:
        proc.kill()
    assert cf.exists(), "the kernel removed a connection file it did not write"
    assert cf.read_bytes() == before_bytes
    assert cf.stat().st_mtime_ns == before_mtime
    # No temp file or rewrite next to it either.
    assert {p.name for p in tmp_path.iterdir()} == {cf.name, llmspell_home.name}


def test_connection_file_missing_key(tmp_path, llmspell_home):
    cf = tmp_path / "no-key.json"
    write_connection_file(cf, free_ports(5))
    data = json.loads(cf.read_text())
    del data["key"]
    cf.write_text(json.dumps(data))
    proc = Proc([KERNELD, "start", "--connection-file", str(cf)], _env(llmspell_home))
    try:
        assert proc.wait() == EX_CONFIG, proc.stderr()
        assert "key" in proc.stderr()
    finally:
        proc.kill()


def test_connection_file_bad_json(tmp_path, llmspell_home):
    cf = tmp_path / "bad.json"
    cf.write_text('{"shell_port": 1, ')
    proc = Proc([KERNELD, "start", "--connection-file", str(cf)], _env(llmspell_home))
    try:
        assert proc.wait() == EX_CONFIG, proc.stderr()
        assert proc.stderr().strip()
    finally:
        proc.kill()


def test_busy_port_exits_tempfail(tmp_path, llmspell_home):
    ports = free_ports(5)
    cf = tmp_path / "busy.json"
    write_connection_file(cf, ports)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind(("127.0.0.1", ports[0]))
        blocker.listen(1)
        proc = Proc([KERNELD, "start", "--connection-file", str(cf)], _env(llmspell_home))
        try:
            assert proc.wait() == EX_TEMPFAIL, proc.stderr()
            assert proc.stderr().strip()
        finally:
            proc.kill()
    finally:
        blocker.close()

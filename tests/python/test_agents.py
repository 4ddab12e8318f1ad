"""``Provider``, ``Agent`` and ``Workflow`` against LLM servers the test starts on 127.0.0.1.

One stdlib ``ThreadingHTTPServer`` speaks both documented wire formats:

- OpenAI-compatible: ``POST /openai/v1/chat/completions`` with ``Authorization: Bearer KEY``;
  JSON replies, or with ``stream: true`` SSE ``data: {chunk}`` lines ending in ``data: [DONE]``;
  tool calls as ``tool_calls`` (streamed as ``index``-keyed deltas).
- Anthropic Messages: ``POST /anthropic/v1/messages`` with ``x-api-key`` and
  ``anthropic-version: 2023-06-01``; ``content`` blocks (``text``, ``tool_use``,
  ``tool_result``); streamed as ``message_start`` / ``content_block_*`` / ``message_delta`` /
  ``message_stop`` events.

What the fake model does is chosen by a word in the last user message: ``STREAM`` (a
greeting in pieces), ``SLOW`` (one piece, then silence), ``CALC`` (asks the calculator for
6*7, then reports the tool's answer), ``RATE`` (429 with Retry-After: 1 first), ``GARBAGE``
(a reply that is not JSON), otherwise it echoes the message. A wrong key gets a 401 whose
message echoes the key, as real providers partly do, so redaction is tested. ``GET /slow``
sleeps and records its start and end, for the parallel-workflow overlap check.

The kernel is launched by jupyter_client with its own LLMSPELL_HOME holding a config.toml with
the providers, and the keys in its environment. Nothing here measures speed: timeouts only turn
hangs into failures; overlap is judged from the server's recorded times.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from kernelutil import (
    TIMEOUT,
    control_reply,
    execute,
    execute_result_text,
    shell_reply,
    stream_text,
    wait_for,
)

KERNEL_NAME = "llmspell"
OA_KEY = "sk-oa-test-7f3a9c2e5b1d"
AN_KEY = "sk-ant-test-4e8d2a6c9f0b"
WRONG_KEY = "sk-wrong-test-1a2b3c4d5e6f"
SECRETS = (OA_KEY, AN_KEY, WRONG_KEY)
GREETING = ["Hello", ", ", "world", "!"]


class FakeLLM:
    """The shared state of the fake server: what it saw, and per-prompt counters."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []
        self.counts: dict[str, int] = {}
        self.slow: dict[str, tuple[float, float]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                if not self.path.startswith("/slow"):
                    return self._json(404, {"error": "no such path"})
                tag = self.path.split("tag=")[-1]
                start = time.monotonic()
                time.sleep(1.0)
                end = time.monotonic()
                with fake.lock:
                    fake.slow[tag] = (start, end)
                self._json(200, {"tag": tag})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                anthropic = self.path == "/anthropic/v1/messages"
                if not anthropic and self.path != "/openai/v1/chat/completions":
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                with fake.lock:
                    fake.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                if anthropic:
                    key = self.headers.get("x-api-key")
                    if self.headers.get("anthropic-version") != "2023-06-01":
                        return self._json(
                            400,
                            {
                                "type": "error",
                                "error": {
                                    "type": "invalid_request_error",
                                    "message": "anthropic-version missing",
                                },
                            },
                        )
                    if key != AN_KEY:
                        return self._json(
                            401,
                            {
                                "type": "error",
                                "error": {
                                    "type": "authentication_error",
                                    "message": f"invalid x-api-key {key}",
                                },
                            },
                        )
                else:
                    auth = self.headers.get("authorization", "")
                    if auth != f"Bearer {OA_KEY}":
                        key = auth.removeprefix("Bearer ")
                        return self._json(
                            401,
                            {
                                "error": {
                                    "message": f"Incorrect API key provided: {key}",
                                    "type": "invalid_request_error",
                                }
                            },
                        )
                prompt, tool_result = last_user(body["messages"], anthropic)
                with fake.lock:
                    n = fake.counts.get(prompt, 0)
                    fake.counts[prompt] = n + 1
                if "RATE" in prompt and n == 0:
                    return self._json(
                        429,
                        {"error": {"message": "rate limited", "type": "rate_limit"}},
                        {"Retry-After": "1"},
                    )
                if "GARBAGE" in prompt:
                    return self._raw(200, "application/json", b'{"choices": [oops')
                if "LOOP" in prompt or ("CALC" in prompt and tool_result is None):
                    return self._answer(
                        body,
                        anthropic,
                        [],
                        {"id": "call_1", "name": "calculator", "arguments": {"expression": "6*7"}},
                    )
                if tool_result is not None:
                    pieces = [f"The answer is {tool_result}"]
                elif "STREAM" in prompt or "SLOW" in prompt:
                    pieces = GREETING
                else:
                    pieces = [f"echo: {prompt}"]
                self._answer(body, anthropic, pieces, None, slow="SLOW" in prompt)

            # --- replies -------------------------------------------------------------------

            def _json(self, status: int, obj, headers: dict | None = None) -> None:
                self._raw(status, "application/json", json.dumps(obj).encode(), headers)

            def _raw(
                self, status: int, ctype: str, data: bytes, headers: dict | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _answer(
                self,
                body,
                anthropic: bool,
                pieces: list[str],
                call: dict | None,
                slow: bool = False,
            ) -> None:
                if not body.get("stream"):
                    text = "".join(pieces)
                    if anthropic:
                        content = [{"type": "text", "text": text}] if text else []
                        if call:
                            content.append(
                                {
                                    "type": "tool_use",
                                    "id": call["id"],
                                    "name": call["name"],
                                    "input": call["arguments"],
                                }
                            )
                        return self._json(
                            200,
                            {
                                "id": "msg_1",
                                "type": "message",
                                "role": "assistant",
                                "model": body["model"],
                                "content": content,
                                "stop_reason": "tool_use" if call else "end_turn",
                                "usage": {"input_tokens": 11, "output_tokens": 5},
                            },
                        )
                    message = {"role": "assistant", "content": text or None}
                    if call:
                        message["tool_calls"] = [
                            {
                                "id": call["id"],
                                "type": "function",
                                "function": {
                                    "name": call["name"],
                                    "arguments": json.dumps(call["arguments"]),
                                },
                            }
                        ]
                    return self._json(
                        200,
                        {
                            "id": "c1",
                            "model": body["model"],
                            "choices": [
                                {
                                    "index": 0,
                                    "message": message,
                                    "finish_reason": "tool_calls" if call else "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 11,
                                "completion_tokens": 5,
                                "total_tokens": 16,
                            },
                        },
                    )
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                events = (
                    anthropic_events(pieces, call) if anthropic else openai_events(pieces, call)
                )
                try:
                    for i, (event, data) in enumerate(events):
                        frame = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
                        self.wfile.write(frame.encode())
                        self.wfile.flush()
                        time.sleep(0.05)  # so pieces leave as separate writes
                        if slow and i == 1:
                            time.sleep(30)  # the model goes quiet: the client must not wait
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        return Handler


def last_user(messages: list[dict], anthropic: bool) -> tuple[str, str | None]:
    """The last user text and, when the last turn is a tool result, that result."""
    last = messages[-1]
    if anthropic and isinstance(last["content"], list):
        results = [b for b in last["content"] if b.get("type") == "tool_result"]
        if results:
            prompt = next(m["content"] for m in reversed(messages) if isinstance(m["content"], str))
            return prompt, tool_value(results[0]["content"])
    if last["role"] == "tool":
        prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        return prompt, tool_value(last["content"])
    return last["content"], None


def tool_value(content: str):
    """The calculator's ``result`` in a tool turn, or the turn's text (an error message)."""
    try:
        return json.loads(content).get("result")
    except ValueError:
        return content


def openai_events(pieces: list[str], call: dict | None):
    yield None, json.dumps(
        {"model": "fake", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
    )
    for p in pieces:
        yield None, json.dumps({"choices": [{"index": 0, "delta": {"content": p}}]})
    if call:
        args = json.dumps(call["arguments"])
        yield None, json.dumps(
            {
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["name"], "arguments": ""},
                                }
                            ]
                        },
                    }
                ]
            }
        )
        for half in (args[: len(args) // 2], args[len(args) // 2 :]):
            yield None, json.dumps(
                {
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": half}}]
                            },
                        }
                    ]
                }
            )
    yield None, json.dumps(
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls" if call else "stop"}]}
    )
    yield None, json.dumps({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 5}})
    yield None, "[DONE]"


def anthropic_events(pieces: list[str], call: dict | None):
    def ev(kind, **kw):
        return kind, json.dumps({"type": kind, **kw})

    yield ev(
        "message_start",
        message={"id": "msg_1", "model": "fake", "usage": {"input_tokens": 11, "output_tokens": 1}},
    )
    yield ev("content_block_start", index=0, content_block={"type": "text", "text": ""})
    for p in pieces:
        yield ev("content_block_delta", index=0, delta={"type": "text_delta", "text": p})
    yield ev("content_block_stop", index=0)
    if call:
        yield ev(
            "content_block_start",
            index=1,
            content_block={"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}},
        )
        args = json.dumps(call["arguments"])
        for half in (args[: len(args) // 2], args[len(args) // 2 :]):
            yield ev(
                "content_block_delta",
                index=1,
                delta={"type": "input_json_delta", "partial_json": half},
            )
        yield ev("content_block_stop", index=1)
    yield ev(
        "message_delta",
        delta={"stop_reason": "tool_use" if call else "end_turn"},
        usage={"output_tokens": 5},
    )
    yield ev("message_stop")


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture()
def fake():
    server = FakeLLM()
    try:
        yield server
    finally:
        server.close()


class LlmKernel:
    def __init__(self, km, kc, home: Path, log: Path) -> None:
        self.km, self.kc, self.home, self.log = km, kc, home, log
        self.seen: list[dict] = []  # every iopub message and reply, for the key checks

    def run(self, code: str, timeout: float = TIMEOUT):
        reply, iopub = execute(self.kc, code, timeout=timeout)
        self.seen.append(reply)
        self.seen.extend(iopub)
        return reply, iopub

    def ok(self, code: str, timeout: float = TIMEOUT):
        reply, iopub = self.run(code, timeout)
        assert reply["content"]["status"] == "ok", (reply["content"], [m["content"] for m in iopub])
        return iopub

    def value(self, code: str):
        """The value of ``code`` (an expression, or statements ending in ``return``), through
        JSON.encode."""
        if "return" not in code:
            code = f"return {code}"
        iopub = self.ok(f"return JSON.encode((function()\n{code}\nend)())")
        return json.loads(json.loads(execute_result_text(iopub)))

    def error(self, code: str) -> dict:
        reply, _ = self.run(code)
        assert reply["content"]["status"] == "error", reply["content"]
        return reply["content"]


@pytest.fixture()
def llm(tmp_path: Path, fake: FakeLLM):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        '[kernel]\nlog_level = "trace"\n\n'
        '[providers]\ndefault = "oa"\n\n'
        f'[providers.oa]\nkind = "openai"\nbase_url = "{fake.base}/openai/v1"\n'
        'api_key_env = "LLMSPELL_TEST_OA_KEY"\nmodel = "gpt-fake"\nmax_retries = 2\n\n'
        f'[providers.an]\nkind = "anthropic"\nbase_url = "{fake.base}/anthropic"\n'
        'api_key_env = "LLMSPELL_TEST_AN_KEY"\nmodel = "claude-fake"\n\n'
        f'[providers.bad]\nkind = "openai"\nbase_url = "{fake.base}/openai/v1"\n'
        'api_key_env = "LLMSPELL_TEST_WRONG_KEY"\nmodel = "gpt-fake"\n\n'
        f'[providers.nokey]\nkind = "openai"\nbase_url = "{fake.base}/openai/v1"\n'
        'api_key_env = "LLMSPELL_TEST_UNSET_KEY"\nmodel = "gpt-fake"\n'
    )
    env = {
        **os.environ,
        "LLMSPELL_HOME": str(home),
        "LLMSPELL_TEST_OA_KEY": OA_KEY,
        "LLMSPELL_TEST_AN_KEY": AN_KEY,
        "LLMSPELL_TEST_WRONG_KEY": WRONG_KEY,
    }
    env.pop("LLMSPELL_TEST_UNSET_KEY", None)
    log = tmp_path / "kernel.log"
    with open(log, "wb") as err:
        km, kc = start_new_kernel(kernel_name=KERNEL_NAME, startup_timeout=60, env=env, stderr=err)
    k = LlmKernel(km, kc, home, log)
    try:
        yield k
    finally:
        kc.stop_channels()
        if km.has_kernel:
            km.shutdown_kernel(now=False)


def agent(provider: str = "oa", extra: str = "") -> str:
    return f'a = Agent.builder():name("t"):provider("{provider}"){extra}:build()\n'


# --- providers and agents --------------------------------------------------------------------


def test_provider_list_shows_key_state_not_keys(llm):
    listed = {p["name"]: p for p in llm.value("Provider.list()")}
    assert sorted(listed) == ["an", "bad", "nokey", "oa"]
    assert listed["oa"]["kind"] == "openai" and listed["oa"]["model"] == "gpt-fake"
    assert listed["an"]["base_url"].endswith("/anthropic")
    assert listed["oa"]["key_set"] is True and listed["nokey"]["key_set"] is False
    assert llm.value("Provider.get().name") == "oa"


@pytest.mark.parametrize("provider", ["oa", "an"])
def test_execute_returns_text_usage_and_keeps_history(llm, fake, provider):
    r = llm.value(
        agent(provider, ':system_prompt("be brief"):temperature(0.2):max_tokens(50)')
        + 'return a:execute({text = "hi there"})'
    )
    assert r["text"] == "echo: hi there"
    assert r["usage"] == {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
    sent = fake.requests[-1]["body"]
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 50
    if provider == "oa":
        assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    else:
        assert sent["system"] == "be brief"
    # memory: the second turn carries the first; reset forgets it
    llm.ok('a:invoke({text = "again"})')
    assert [m["content"] for m in fake.requests[-1]["body"]["messages"] if m["role"] == "user"] == [
        "hi there",
        "again",
    ]
    assert [m["role"] for m in llm.value("a:history()")] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    llm.ok("a:reset()")
    assert llm.value("#a:history()") == 0
    assert llm.value("a:usage().requests") == 2


@pytest.mark.parametrize("provider", ["oa", "an"])
def test_a_streamed_answer_arrives_in_pieces(llm, provider):
    iopub = llm.ok(
        agent(provider) + 'r = a:stream({text = "STREAM please"})\nprint()\nprint("got:" .. r.text)'
    )
    pieces = [m["content"]["text"] for m in iopub if m["msg_type"] == "stream"]
    assert pieces[: len(GREETING)] == GREETING, pieces  # each piece its own stream message
    assert stream_text(iopub) == "Hello, world!\ngot:Hello, world!\n"
    # a callback gets the same pieces
    got = llm.value(
        'local t = {}\na:stream("STREAM again", function(c) t[#t + 1] = c end)\nreturn t'
    )
    assert got == GREETING


@pytest.mark.parametrize("provider", ["oa", "an"])
@pytest.mark.parametrize("stream", [False, True])
def test_tool_calling_loop_invokes_calculator(llm, fake, provider, stream):
    call = (
        'a:stream({text = "CALC 6*7"}, function() end)'
        if stream
        else 'a:execute({text = "CALC 6*7"})'
    )
    r = llm.value(agent(provider, ':allow_tool("calculator")') + f"return {call}")
    assert r["text"] == "The answer is 42"
    assert len(r["tool_calls"]) == 1
    tc = r["tool_calls"][0]
    assert tc["name"] == "calculator" and tc["arguments"] == {"expression": "6*7"}
    assert tc["result"]["result"] == 42
    assert r["usage"]["prompt_tokens"] == 22  # two requests
    first, second = fake.requests[-2]["body"], fake.requests[-1]["body"]
    if provider == "oa":
        assert first["tools"][0]["function"]["name"] == "calculator"
        assert (
            second["messages"][-1]["role"] == "tool"
            and second["messages"][-1]["tool_call_id"] == "call_1"
        )
    else:
        assert first["tools"][0]["name"] == "calculator" and "input_schema" in first["tools"][0]
        assert second["messages"][-1]["content"][0]["type"] == "tool_result"


def test_tools_not_allowed_are_refused_and_rounds_are_bounded(llm, fake):
    r = llm.value(agent("oa") + 'return a:execute("CALC")')
    assert r["tool_calls"][0]["error"] == "tool calculator is not allowed for this agent"
    assert r["text"] == "The answer is error: tool calculator is not allowed for this agent"
    # LOOP: the fake model asks for the calculator again and again.
    before = len(fake.requests)
    err = llm.error(agent("oa", ':allow_tool("calculator"):max_rounds(2)') + 'a:execute("LOOP")')
    assert "agent t: the model still asks for tools after 2 rounds" in err["evalue"], err
    assert len(fake.requests) - before == 3
    assert llm.value("#a:history()") == 0  # a failed turn leaves the memory as it was


def test_interrupt_cancels_a_slow_stream(llm):
    kc = llm.kc
    msg_id = kc.execute(agent("oa") + 'a:stream({text = "SLOW answer"})', allow_stdin=False)
    wait_for(
        kc.get_iopub_msg,
        lambda m: m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id,
        what="first piece",
    )
    req = kc.session.msg("interrupt_request", {})
    kc.control_channel.send(req)
    assert control_reply(kc, req["header"]["msg_id"])["content"]["status"] == "ok"
    # The server stays silent for 30 s; the reply must come long before (limit well below 30).
    reply = shell_reply(kc, msg_id, timeout=15)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "Interrupted"
    assert llm.value("1 + 1") == 2
    assert llm.value(agent("oa") + 'return a:execute("still here").text') == "echo: still here"


def test_sigint_cancels_an_anthropic_stream(llm, fake):
    kc = llm.kc
    msg_id = kc.execute(agent("an") + 'a:stream("SLOW", function() end)', allow_stdin=False)
    deadline = time.monotonic() + TIMEOUT
    while not any(r["body"]["messages"][-1]["content"] == "SLOW" for r in fake.requests):
        assert time.monotonic() < deadline, "the request never reached the server"
        time.sleep(0.05)
    os.kill(llm.km.provisioner.pid, signal.SIGINT)
    reply = shell_reply(kc, msg_id, timeout=15)
    assert reply["content"]["ename"] == "Interrupted"


def test_429_with_retry_after_is_retried(llm, fake):
    assert llm.value(agent("oa") + 'return a:execute("RATE me").text') == "echo: RATE me"
    tries = [r for r in fake.requests if r["body"]["messages"][-1]["content"] == "RATE me"]
    assert len(tries) == 2
    assert tries[1]["at"] - tries[0]["at"] >= 0.95  # honoured Retry-After: 1 (a lower bound)


def test_errors_name_what_to_fix(llm):
    err = llm.error(agent("bad") + 'a:execute("hello")')
    assert err["ename"] == "RuntimeError"
    assert (
        "agent t: provider bad: HTTP 401: invalid_request_error: Incorrect API key provided: [REDACTED]"
        in err["evalue"]
    ), err
    assert err["evalue"].startswith("cell-"), err  # located at the script's line
    err = llm.error(agent("nokey") + 'a:execute("hello")')
    assert (
        "LLMSPELL_TEST_UNSET_KEY" in err["evalue"]
        and "providers.nokey.api_key_env" in err["evalue"]
    )
    err = llm.error('Agent.builder():provider("nope"):build()')
    assert "[providers.nope]" in err["evalue"] and "config.toml" in err["evalue"]
    err = llm.error(agent("oa") + 'a:execute("GARBAGE")')
    assert "provider oa: malformed reply" in err["evalue"], err
    err = llm.error(agent("oa") + "a:execute(42)")
    assert "agent:execute: the input must be {text" in err["evalue"]
    assert llm.value("1") == 1  # the kernel lives on


def test_no_provider_configured(kernel):
    _km, kc = kernel
    reply, _ = execute(kc, 'Agent.builder():name("x"):build()')
    content = reply["content"]
    assert content["status"] == "error"
    assert "no LLM provider configured: add a [providers.NAME] table" in content["evalue"], content
    assert "config.toml" in content["evalue"]


def test_keys_never_appear_in_output_log_or_dump(llm):
    llm.ok("print(JSON.encode(Provider.list()))")
    llm.run(agent("bad") + 'a:execute("hello")')
    llm.run(agent("an") + 'a:execute("hello")\nreturn a:history(), a')
    llm.run(agent("oa", ':allow_tool("calculator")') + 'return a:execute("CALC"), a:history()')
    os.kill(llm.km.provisioner.pid, signal.SIGUSR2)
    dumps = (
        list((llm.home / "kernels").glob("*.dump.json")) if (llm.home / "kernels").exists() else []
    )
    deadline = time.monotonic() + TIMEOUT
    while not dumps and time.monotonic() < deadline:
        time.sleep(0.1)
        dumps = (
            list((llm.home / "kernels").glob("*.dump.json"))
            if (llm.home / "kernels").exists()
            else []
        )
    assert dumps, "SIGUSR2 wrote no dump"
    llm.km.shutdown_kernel(now=False)
    texts = [json.dumps(m, default=str) for m in llm.seen]
    texts.append(llm.log.read_text(errors="replace"))
    texts.extend(d.read_text() for d in dumps)
    assert any("[REDACTED]" in t for t in texts)  # the 401 echo was seen, and scrubbed
    for secret in SECRETS:
        for t in texts:
            assert secret not in t
    assert "LLM providers" in texts[len(llm.seen)], "the trace-level log was captured"


# --- workflows -------------------------------------------------------------------------------


def test_sequential_workflow_passes_outputs_on(llm):
    r = llm.value(
        agent("oa") + 'w = Workflow.builder():name("seq"):sequential()\n'
        ':step{name = "upper", fn = function(input) return string.upper(input) end}\n'
        ':step{name = "ask", agent = a}\n'
        ':step{name = "calc", tool = "calculator", params = function(_, outs) return {expression = tostring(#outs.ask) .. " + 1"} end}\n'
        ":build()\n"
        'return w:execute("hello")'
    )
    assert r["outputs"]["upper"] == "HELLO"
    assert r["outputs"]["ask"] == "echo: HELLO"
    assert r["outputs"]["calc"]["result"] == len("echo: HELLO") + 1
    assert [s["name"] for s in r["steps"]] == ["upper", "ask", "calc"]
    assert r["output"] == r["outputs"]["calc"]


def test_parallel_tool_steps_really_overlap(llm, fake):
    r = llm.value(
        "w = Workflow.builder():parallel()\n"
        f':step{{name = "a", tool = "http_request", params = {{url = "{fake.base}/slow?tag=a"}}}}\n'
        f':step{{name = "b", tool = "http_request", params = {{url = "{fake.base}/slow?tag=b"}}}}\n'
        ':step{name = "c", fn = function(input) return input .. "!" end}\n'
        ":build()\n"
        'return w:execute("go")'
    )
    assert set(r["outputs"]) == {"a", "b", "c"} and r["outputs"]["c"] == "go!"
    assert r["output"]["c"] == "go!"
    (a0, a1), (b0, b1) = fake.slow["a"], fake.slow["b"]
    assert a0 < b1 and b0 < a1, f"the two slow requests did not overlap: a={a0, a1} b={b0, b1}"


def test_conditional_workflow_picks_a_branch(llm):
    code = (
        "w = Workflow.builder():conditional()\n"
        ":condition(function(input) return input > 10 end)\n"
        ':then_step{name = "big", fn = function(x) return "big " .. x end}\n'
        ':else_step{name = "small", fn = function(x) return "small " .. x end}\n'
        ":build()\n"
    )
    r = llm.value(code + "return w:execute(50)")
    assert (r["branch"], r["output"], list(r["outputs"])) == ("then", "big 50", ["big"])
    r = llm.value("return w:execute(3)")
    assert (r["branch"], r["output"]) == ("else", "small 3")


def test_loop_workflow_stops_when_told_and_is_bounded(llm):
    r = llm.value(
        "w = Workflow.builder():loop():max_iterations(10)\n"
        ':step{name = "double", tool = "calculator", params = function(x) return {expression = x .. " * 2"} end}\n'
        ':step{name = "num", fn = function(out) return math.tointeger(out.result) end}\n'
        ":stop_when(function(x) return x >= 40 end):build()\n"
        "return w:execute(3)"
    )
    assert r["output"] == 48 and r["iterations"] == 4
    assert [s["iteration"] for s in r["steps"] if s["name"] == "num"] == [1, 2, 3, 4]
    r = llm.value(
        "return Workflow.builder():loop():max_iterations(3)"
        ":step{fn = function(x) return x + 1 end}:build():execute(0)"
    )
    assert r["output"] == 3 and r["iterations"] == 3


def test_nested_workflows_and_step_errors(llm):
    r = llm.value(
        agent("oa")
        + 'inner = Workflow.builder():name("inner"):step{fn = function(x) return x .. "-in" end}'
        ":step{agent = a}:build()\n"
        'outer = Workflow.builder():name("outer"):step{name = "pre", fn = function(x) return x .. "-pre" end}'
        ':step{name = "sub", workflow = inner}:build()\n'
        'return outer:execute("x")'
    )
    assert r["outputs"]["sub"] == "echo: x-pre-in"
    err = llm.error(
        'Workflow.builder():name("w"):step{name = "boom", tool = "calculator", params = {expression = "1 +"}}'
        ":build():execute(1)"
    )
    assert err["evalue"].startswith("workflow w: step boom: calculator: "), err
    err = llm.error('Workflow.builder():step{tool = "calculator", fn = print}:build()')
    assert "exactly one of tool=, agent=, fn=, workflow=" in err["evalue"]


# --- the example notebook --------------------------------------------------------------------


def test_the_ollama_notebook_runs_headless_against_an_openai_compatible_server(tmp_path, fake):
    """examples/agents.ipynb, executed by nbclient as `jupyter nbconvert --execute` would, with
    its `ollama` provider pointed at the fake OpenAI-compatible server (Ollama's API)."""
    import nbformat
    from nbclient import NotebookClient

    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        f'[providers.ollama]\nkind = "openai"\nbase_url = "{fake.base}/openai/v1"\n'
        'model = "llama3.2"\napi_key_env = "LLMSPELL_TEST_OA_KEY"\n'
    )
    path = Path(__file__).resolve().parents[2] / "examples" / "agents.ipynb"
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "LLMSPELL_HOME": str(home), "LLMSPELL_TEST_OA_KEY": OA_KEY}
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=60, startup_timeout=60)
    client.execute(env=env)  # raises CellExecutionError on any error output

    def text(cell) -> str:
        parts = []
        for o in cell.outputs:
            parts.append(o.get("text") or o.get("data", {}).get("text/plain", ""))
        return "".join(parts)

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "ollama" in text(code[0])
    assert "echo: What is Lua known for?" in text(code[1])
    streamed = [o for o in code[2].outputs if o.output_type == "stream"]
    assert "echo: Now say it as a haiku." in "".join(o.text for o in streamed)
    assert "echo: Describe these facts in plain words:" in text(code[4])
    assert text(code[5]) == "1458\t6\n"  # 2 * 3^6, after six rounds
    bodies = [r["body"] for r in fake.requests]
    assert bodies and all(b["model"] == "llama3.2" for b in bodies)
    assert any(b.get("stream") for b in bodies)
    assert any(t["function"]["name"] == "calculator" for b in bodies for t in b.get("tools", []))

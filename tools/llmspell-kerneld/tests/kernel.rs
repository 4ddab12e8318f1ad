//! End-to-end tests of llmspell-kerneld: the real binary, real sockets, real signals.

mod harness;

use std::time::Duration;

use harness::{Home, TIMEOUT};
use llmspell_wire::client::{Channel, ExecuteOptions};
use llmspell_wire::{Client, ConnectionInfo, Message, Signer, WireError};
use serde_json::json;

#[test]
fn start_writes_a_private_connection_file_and_removes_it_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let home = Home::new();
    let mut kernel = home.start(&["--id", "alpha"]);
    assert_eq!(kernel.path, home.path().join("kernels/kernel-alpha.json"));
    let mode = std::fs::metadata(&kernel.path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(kernel.info.key.len(), 64, "256-bit key as hex");
    assert_eq!(kernel.info.ip, "127.0.0.1");
    kernel.signal("TERM");
    assert_eq!(kernel.wait_exit(), Some(0));
    assert!(!kernel.path.exists());
}

#[test]
fn execute_publishes_busy_input_output_idle_with_the_request_as_parent() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let out = kernel.client.execute("print('hello')\nx = 6*7", TIMEOUT).unwrap();
    assert_eq!(out.status(), "ok");
    let types: Vec<&str> = out.iopub.iter().map(|m| m.msg_type()).collect();
    assert_eq!(
        types,
        ["status", "execute_input", "stream", "status"],
        "a statement then an expression: no result"
    );
    let out = kernel.client.execute("print('hello')", TIMEOUT).unwrap();
    assert_eq!(out.stream_text("stdout"), "hello\n");
    assert_eq!(out.iopub[0].content["execution_state"], "busy");
    assert_eq!(out.iopub.last().unwrap().content["execution_state"], "idle");
    let out = kernel.client.execute("6*7", TIMEOUT).unwrap();
    assert_eq!(out.result_text(), Some("42"));
    assert_eq!(out.reply.content["execution_count"], 3);
}

#[test]
fn errors_become_error_replies_with_a_traceback() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let out = kernel.client.execute("error('boom')", TIMEOUT).unwrap();
    assert_eq!(out.status(), "error");
    assert_eq!(out.reply.content["ename"], "RuntimeError");
    assert!(out.reply.content["evalue"].as_str().unwrap().contains("boom"));
    let errors: Vec<&Message> = out.iopub.iter().filter(|m| m.msg_type() == "error").collect();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].content["traceback"].as_array().is_some_and(|t| !t.is_empty()));
}

#[test]
fn control_answers_while_a_cell_runs_and_interrupt_stops_it() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;
    let id = client
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": "while true do end", "silent": false}),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let info = client.call(Channel::Control, "kernel_info_request", json!({}), TIMEOUT).unwrap();
    assert_eq!(info.content["implementation"], "llmspell");
    client.call(Channel::Control, "interrupt_request", json!({}), TIMEOUT).unwrap();
    let reply = client.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap();
    assert_eq!(reply.content["status"], "error");
    assert_eq!(reply.content["ename"], "Interrupted");
    assert_eq!(client.execute("1+1", TIMEOUT).unwrap().result_text(), Some("2"));
}

#[test]
fn sigint_interrupts_a_running_cell_and_is_harmless_when_idle() {
    let home = Home::new();
    let kernel = home.start(&[]);
    kernel.signal("INT");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(kernel.client.execute("1+1", TIMEOUT).unwrap().result_text(), Some("2"));
    let id = kernel
        .client
        .request(Channel::Shell, "execute_request", json!({"code": "while true do end"}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    kernel.signal("INT");
    let reply = kernel.client.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap();
    assert_eq!(reply.content["ename"], "Interrupted");
    assert_eq!(kernel.client.execute("2+2", TIMEOUT).unwrap().result_text(), Some("4"));
}

#[test]
fn a_message_with_a_bad_signature_is_dropped_and_the_kernel_keeps_serving() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let forged = ConnectionInfo { key: "not-the-key".into(), ..kernel.info.clone() };
    let intruder = Client::connect(&forged).unwrap();
    intruder.request(Channel::Shell, "execute_request", json!({"code": "forged = true"})).unwrap();
    let answer = intruder.recv(Channel::Shell, Duration::from_millis(1500));
    assert!(
        matches!(answer, Err(WireError::Timeout(_))),
        "forged request was answered: {answer:?}"
    );
    let out = kernel.client.execute("forged == nil", TIMEOUT).unwrap();
    assert_eq!(out.result_text(), Some("true"), "the forged code must not have run");
}

#[test]
fn malformed_frames_never_crash_the_kernel() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::DEALER).unwrap();
    raw.set_linger(0).unwrap();
    raw.connect(&kernel.info.endpoint(Channel::Shell)).unwrap();
    let signer = Signer::new(&kernel.info.key);
    let bad_json = [b"{oops".to_vec(), b"{}".to_vec(), b"{}".to_vec(), b"{}".to_vec()];
    let sig = signer.sign([&bad_json[0], &bad_json[1], &bad_json[2], &bad_json[3]]);
    let no_type = [br#"{"msg_id":"1"}"#.to_vec(), b"{}".to_vec(), b"{}".to_vec(), b"{}".to_vec()];
    let sig2 = signer.sign([&no_type[0], &no_type[1], &no_type[2], &no_type[3]]);
    let cases: Vec<Vec<Vec<u8>>> = vec![
        vec![b"no delimiter".to_vec()],
        vec![b"<IDS|MSG>".to_vec(), b"sig".to_vec()],
        [vec![b"<IDS|MSG>".to_vec(), sig.into_bytes()], bad_json.to_vec()].concat(),
        [vec![b"<IDS|MSG>".to_vec(), sig2.into_bytes()], no_type.to_vec()].concat(),
        vec![vec![0u8; 8 << 20]],
    ];
    for frames in cases {
        raw.send_multipart(frames, 0).unwrap();
    }
    let out = kernel.client.execute("1+1", TIMEOUT).unwrap();
    assert_eq!(out.result_text(), Some("2"));
}

#[test]
fn unknown_requests_get_an_error_reply() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let reply =
        kernel.client.call(Channel::Shell, "frobnicate_request", json!({}), TIMEOUT).unwrap();
    assert_eq!(reply.msg_type(), "frobnicate_reply");
    assert_eq!(reply.content["status"], "error");
    let reply =
        kernel.client.call(Channel::Control, "frobnicate_request", json!({}), TIMEOUT).unwrap();
    assert_eq!(reply.content["status"], "error");
    assert_eq!(kernel.client.execute("1", TIMEOUT).unwrap().result_text(), Some("1"));
}

#[test]
fn stop_on_error_aborts_queued_executes() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let c = &kernel.client;
    let first = c
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": "local t = os.clock() while os.clock() - t < 0.3 do end error('x')"}),
        )
        .unwrap();
    let second =
        c.request(Channel::Shell, "execute_request", json!({"code": "ran = true"})).unwrap();
    let third = c.request(Channel::Shell, "kernel_info_request", json!({})).unwrap();
    assert_eq!(c.recv_reply(Channel::Shell, &first, TIMEOUT).unwrap().content["status"], "error");
    let aborted = c.recv_reply(Channel::Shell, &second, TIMEOUT).unwrap();
    assert_eq!(aborted.content["status"], "error");
    assert_eq!(aborted.content["ename"], "ExecutionAborted");
    assert_eq!(c.recv_reply(Channel::Shell, &third, TIMEOUT).unwrap().content["status"], "ok");
    assert_eq!(c.execute("ran == nil", TIMEOUT).unwrap().result_text(), Some("true"));
}

#[test]
fn input_goes_to_the_client_only_when_allowed() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let options = ExecuteOptions { allow_stdin: true, ..ExecuteOptions::default() };
    let mut prompts = Vec::new();
    let out = kernel
        .client
        .execute_with(
            "local n = input('name? ') print('hi ' .. n)",
            &options,
            TIMEOUT,
            |_| {},
            |p, _| {
                prompts.push(p.to_owned());
                "bob".into()
            },
        )
        .unwrap();
    assert_eq!(prompts, ["name? "]);
    assert_eq!(out.stream_text("stdout"), "hi bob\n");
    let out = kernel.client.execute("input('x')", TIMEOUT).unwrap();
    assert_eq!(out.status(), "error");
}

#[test]
fn new_subscribers_are_welcomed_and_every_client_sees_iopub() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let second = kernel.connect();
    second.drain(Channel::Iopub);
    let out = kernel.client.execute("print('both')", TIMEOUT).unwrap();
    let id = out.reply.parent_id().unwrap().to_owned();
    let mut seen = String::new();
    while let Ok(msg) = second.recv(Channel::Iopub, Duration::from_secs(2)) {
        if msg.parent_id() == Some(id.as_str()) && msg.msg_type() == "stream" {
            seen.push_str(msg.str_field("text").unwrap());
        }
        if msg.parent_id() == Some(id.as_str()) && msg.content["execution_state"] == "idle" {
            break;
        }
    }
    assert_eq!(seen, "both\n");

    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).unwrap();
    sub.connect(&kernel.info.endpoint(Channel::Iopub)).unwrap();
    sub.set_subscribe(b"").unwrap();
    assert!(sub.poll(zmq::POLLIN, 10_000).unwrap() > 0, "no iopub_welcome");
    let frames = sub.recv_multipart(0).unwrap();
    let msg = llmspell_wire::frames::decode(frames, &Signer::new(&kernel.info.key)).unwrap();
    assert_eq!(msg.msg_type(), "iopub_welcome");
    assert_eq!(msg.content["subscription"], "");
}

#[test]
fn comm_open_for_an_unknown_target_is_closed() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let c = &kernel.client;
    let info = c.call(Channel::Shell, "comm_info_request", json!({}), TIMEOUT).unwrap();
    assert_eq!(info.content["comms"], json!({}));
    let id = c
        .request(
            Channel::Shell,
            "comm_open",
            json!({"comm_id": "c1", "target_name": "nope", "data": {}}),
        )
        .unwrap();
    loop {
        let msg = c.recv(Channel::Iopub, TIMEOUT).unwrap();
        if msg.parent_id() == Some(id.as_str()) && msg.msg_type() == "comm_close" {
            assert_eq!(msg.content["comm_id"], "c1");
            break;
        }
    }
}

#[test]
fn history_survives_a_restart() {
    let home = Home::new();
    {
        let kernel = home.start(&[]);
        kernel.client.execute("remember_me = 1", TIMEOUT).unwrap();
    }
    let kernel = home.start(&[]);
    let reply = kernel
        .client
        .call(Channel::Shell, "history_request", json!({"hist_access_type": "search", "pattern": "remember*", "output": false, "raw": true}), TIMEOUT)
        .unwrap();
    assert_eq!(reply.content["history"][0][2], "remember_me = 1");
    assert_eq!(reply.content["history"][0][0], 1, "first session");
}

#[test]
fn restart_resets_lua_in_place_and_shutdown_exits() {
    let home = Home::new();
    let mut kernel = home.start(&[]);
    let c = &kernel.client;
    c.execute("x = 5", TIMEOUT).unwrap();
    let reply =
        c.call(Channel::Control, "shutdown_request", json!({"restart": true}), TIMEOUT).unwrap();
    assert_eq!(reply.content["restart"], true);
    assert_eq!(c.execute("x == nil", TIMEOUT).unwrap().result_text(), Some("true"));
    c.call(Channel::Control, "shutdown_request", json!({"restart": false}), TIMEOUT).unwrap();
    assert_eq!(kernel.wait_exit(), Some(0));
    assert!(!kernel.path.exists());
}

#[test]
fn a_connection_file_written_by_jupyter_is_used_and_never_rewritten() {
    let home = Home::new();
    let ports: Vec<u16> = (0..5)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
        .collect();
    let path = home.path().join("jupyter-written.json");
    let text = json!({
        "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2], "control_port": ports[3],
        "hb_port": ports[4], "ip": "127.0.0.1", "key": "jupyter-key", "transport": "tcp",
        "signature_scheme": "hmac-sha256", "kernel_name": "llmspell", "jupyter_session": "x.ipynb"
    })
    .to_string();
    std::fs::write(&path, &text).unwrap();
    let mut kernel = home.start(&["--connection-file", path.to_str().unwrap()]);
    assert_eq!(kernel.info.ports().to_vec(), ports);
    assert_eq!(kernel.client.execute("1", TIMEOUT).unwrap().result_text(), Some("1"));
    kernel.signal("TERM");
    assert_eq!(kernel.wait_exit(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "never rewritten, never removed");
}

#[test]
fn a_bad_connection_file_exits_78_naming_the_field() {
    let home = Home::new();
    let path = home.path().join("bad.json");
    std::fs::write(&path, r#"{"ip": "127.0.0.1", "shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}"#).unwrap();
    let out =
        home.command(&["start", "--connection-file", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"key\" is missing"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_busy_port_exits_75() {
    let home = Home::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let path = home.path().join("c.json");
    let free: Vec<u16> = (0..4)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port())
        .collect();
    std::fs::write(&path, json!({
        "shell_port": port, "iopub_port": free[0], "stdin_port": free[1], "control_port": free[2],
        "hb_port": free[3], "ip": "127.0.0.1", "key": "k", "transport": "tcp", "signature_scheme": "hmac-sha256"
    }).to_string()).unwrap();
    let out =
        home.command(&["start", "--connection-file", path.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(75));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shell"));
}

#[test]
fn usage_errors_exit_64() {
    let home = Home::new();
    assert_eq!(home.command(&["start", "--bogus"]).output().unwrap().status.code(), Some(64));
    assert_eq!(
        home.command(&["start", "--id", "Bad_Id"]).output().unwrap().status.code(),
        Some(64)
    );
    assert_eq!(home.command(&["--help"]).output().unwrap().status.code(), Some(0));
}

#[test]
fn ten_thousand_lines_arrive_in_order() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let out = kernel.client.execute("for i = 1, 10000 do print(i) end", TIMEOUT).unwrap();
    let text = out.stream_text("stdout");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10000);
    assert!(lines.iter().enumerate().all(|(i, l)| *l == (i + 1).to_string()));
}

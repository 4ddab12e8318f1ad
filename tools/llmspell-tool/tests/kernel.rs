//! llmspell-tool through kernels: a real daemon kernel (`llmspell-kerneld start --daemon`) gives
//! the same output as the in-process path, keeps the exit codes, and a killed one is exit 69;
//! a fake kernel in this test (ZeroMQ sockets answering by hand) shows that a bad signature, a
//! wrong reply type or a malformed reply is exit 76, and a kernel that never replies is 69.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use harness::{Home, require};
use llmspell_wire::{ConnectionInfo, Signer, frames};
use serde_json::{Value, json};

/// Runs `args` in-process and through `kernel`; asserts both succeed alike; returns stdout.
fn same(home: &Home, kernel: &str, args: &[&str]) -> String {
    let local = home.run(args);
    let mut remote_args = vec!["--kernel", kernel];
    remote_args.extend_from_slice(args);
    let remote = home.run(&remote_args);
    assert_eq!(local.ok(), remote.ok(), "{args:?}: in-process and kernel differ");
    remote.stdout
}

#[test]
fn a_kernel_answers_as_the_process_does() {
    let home = Home::new();
    let daemon = home.daemon("tk");
    for args in [
        &["list"][..],
        &["--json", "list"],
        &["list", "--category", "math"],
        &["categories"],
        &["info", "calculator"],
        &["search", "arithmetic", "expression"],
    ] {
        same(&home, "tk", args);
    }
    let path = daemon.connection_file.to_str().unwrap();
    same(&home, path, &["categories"]);

    let run = home.run(&["--kernel", "tk", "invoke", "calculator", "-p", "expression=1+2"]);
    let reply = run.json();
    assert_eq!(reply["tool"], "calculator");
    assert_eq!(reply["result"]["result"], 3);

    let mut cmd = home.command(&["invoke", "calculator"]);
    cmd.env("LLMSPELL_KERNEL", "tk");
    let reply = harness::feed(cmd, "{\"expression\": \"6*7\"}").json();
    assert_eq!(reply["result"]["result"], 42, "stdin params reach the kernel; LLMSPELL_KERNEL");

    let local = home.run(&["--json", "test", "calculator"]).json();
    let remote = home.run(&["--kernel", "tk", "--json", "test", "calculator"]).json();
    let strip = |v: &Value| {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["tool"].clone(), r["example"].clone(), r["passed"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&local), strip(&remote));
    assert_eq!(remote["failed"], 0);
}

#[test]
fn a_kernel_pipes_into_jq() {
    require("jq", "the pipe tests need it (apt-get install jq)");
    let home = Home::new();
    let _daemon = home.daemon("pipe");
    let run = home.sh(
        "llmspell-tool --kernel pipe invoke calculator -p expression=2^10 | jq -r .result.result",
    );
    assert_eq!(run.ok(), "1024\n");
    let run = home.sh(
        "llmspell-tool --kernel pipe invoke hash_calculator -p input=hello | jq -r .result.hash",
    );
    assert_eq!(run.ok(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n");
    let run = home.sh("LLMSPELL_KERNEL=pipe llmspell-tool --json list | jq -r '.[0].name'");
    assert_eq!(run.ok().lines().count(), 1);
}

#[test]
fn a_kernel_keeps_the_exit_codes() {
    let home = Home::new();
    let _daemon = home.daemon("codes");
    let k = |args: &[&str]| {
        let mut all = vec!["--kernel", "codes"];
        all.extend_from_slice(args);
        home.run(&all)
    };
    assert!(k(&["invoke", "nope-tool", "-p", "x=1"]).fails(64).contains("nope-tool"));
    assert!(k(&["info", "nope-tool"]).fails(64).contains("nope-tool"));
    assert!(k(&["test", "calculator", "nope-tool"]).fails(64).contains("nope-tool"));
    let line = k(&["invoke", "calculator"]).fails(65).to_owned();
    assert!(line.contains("expression") && line.contains("required"), "{line}");
    assert!(k(&["invoke", "calculator", "--params", "{"]).fails(65).contains("--params"));
    assert!(k(&["invoke", "calculator", "-p", "expression=1/0"]).fails(70).contains("execution"));
    let missing = home.path().join("missing.txt");
    let path = format!("path={}", missing.display());
    let read = ["invoke", "file_operations", "-p", "operation=read", "-p", &path];
    assert!(k(&read).fails(66).contains("missing.txt"));
    let outside = ["invoke", "file_operations", "-p", "operation=read", "-p", "path=/etc/passwd"];
    assert!(k(&outside).fails(77).contains("outside the allowed paths"));
    let run = k(&["invoke", "process_executor", "-p", "command=echo"]);
    assert!(run.fails(77).contains("allowed_executables"));
}

#[test]
fn a_killed_kernel_is_69_at_once_by_id_and_within_seconds_by_path() {
    let home = Home::new();
    let daemon = home.daemon("victim");
    home.run(&["--kernel", "victim", "categories"]).ok();
    // A copy of the connection file with no PID file beside it: only the heartbeat can tell.
    let copy = home.path().join("copy.json");
    std::fs::copy(&daemon.connection_file, &copy).unwrap();
    daemon.kill9();

    let started = Instant::now();
    let run = home.run(&["--kernel", "victim", "invoke", "calculator", "-p", "expression=1"]);
    let line = run.fails(69);
    assert!(
        line.contains("kernel victim is not running") && line.contains("kernel-victim.pid"),
        "{line}"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());

    let started = Instant::now();
    let run = home.run(&["--kernel", copy.to_str().unwrap(), "list"]);
    let line = run.fails(69);
    assert!(line.contains("does not answer") && line.contains("copy.json"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

/// How the fake kernel answers a tool_request.
#[derive(Clone, Copy)]
enum Fake {
    /// A tool_reply signed with another key.
    BadSignature,
    /// An execute_reply instead of a tool_reply.
    WrongType,
    /// A tool_reply without a status.
    NoStatus,
    /// What a kernel without tool_request support answers.
    OldKernel,
    /// Nothing (the heartbeat still answers).
    Silent,
}

/// A fake kernel on five bound sockets, answering until dropped.
struct FakeKernel {
    path: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for FakeKernel {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !std::thread::panicking() {
                outcome.expect("the fake kernel failed");
            }
        }
    }
}

fn fake_kernel(home: &Home, mode: Fake) -> FakeKernel {
    let ctx = zmq::Context::new();
    let bind = |kind| {
        let s = ctx.socket(kind).unwrap();
        s.set_linger(0).unwrap();
        s.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = s.get_last_endpoint().unwrap().unwrap();
        let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
        (s, port)
    };
    let (shell, shell_port) = bind(zmq::ROUTER);
    let (_control, control_port) = bind(zmq::ROUTER);
    let (_stdin, stdin_port) = bind(zmq::ROUTER);
    let (_iopub, iopub_port) = bind(zmq::PUB);
    let (hb, hb_port) = bind(zmq::REP);
    let mut info = ConnectionInfo::new("127.0.0.1", "right-key".into());
    (info.shell_port, info.control_port, info.stdin_port, info.iopub_port, info.hb_port) =
        (shell_port, control_port, stdin_port, iopub_port, hb_port);
    let path = home.path().join("fake.json");
    info.write(&path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let thread = std::thread::spawn(move || {
        let _keep = (ctx, _control, _stdin, _iopub);
        let signer = Signer::new("right-key");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !stopped.load(Ordering::SeqCst) && Instant::now() < deadline {
            let mut items = [shell.as_poll_item(zmq::POLLIN), hb.as_poll_item(zmq::POLLIN)];
            zmq::poll(&mut items, 100).unwrap();
            if items[1].is_readable() {
                let ping = hb.recv_bytes(0).unwrap();
                hb.send(ping, 0).unwrap();
            }
            if !items[0].is_readable() {
                continue;
            }
            let request = frames::decode(shell.recv_multipart(0).unwrap(), &signer).unwrap();
            assert_eq!(request.msg_type(), "tool_request");
            let (msg_type, content, key) = match mode {
                Fake::BadSignature => {
                    ("tool_reply", json!({"status": "ok", "tools": []}), "wrong-key")
                }
                Fake::WrongType => ("execute_reply", json!({"status": "ok"}), "right-key"),
                Fake::NoStatus => ("tool_reply", json!({"tools": []}), "right-key"),
                Fake::OldKernel => (
                    "tool_reply",
                    json!({"status": "error", "ename": "UnknownMessageType", "evalue": "x", "traceback": []}),
                    "right-key",
                ),
                Fake::Silent => continue,
            };
            let reply = request.reply(msg_type, "fake", content);
            shell.send_multipart(frames::encode(&reply, &Signer::new(key)), 0).unwrap();
        }
    });
    FakeKernel { path, stop, thread: Some(thread) }
}

#[test]
fn bad_signatures_and_malformed_replies_are_76() {
    for (mode, want) in [
        (Fake::BadSignature, "bad signature"),
        (Fake::WrongType, "expected a tool_reply, got execute_reply"),
        (Fake::NoStatus, "malformed tool_reply"),
        (Fake::OldKernel, "does not handle tool_request"),
    ] {
        let home = Home::new();
        let fake = fake_kernel(&home, mode);
        let run = home.run(&["--kernel", fake.path.to_str().unwrap(), "list"]);
        assert!(run.fails(76).contains(want), "{want}: {run:?}");
    }
}

#[test]
fn a_kernel_that_never_replies_is_69_after_the_timeout_and_margin() {
    let home = Home::new();
    let fake = fake_kernel(&home, Fake::Silent);
    let started = Instant::now();
    let run = home.run(&["--kernel", fake.path.to_str().unwrap(), "--timeout", "0.5", "list"]);
    let line = run.fails(69);
    assert!(
        line.contains("sent no tool_reply within 5.5 s") && line.contains("fake.json"),
        "{line}"
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(5400) && took < Duration::from_secs(9), "{took:?}");
}

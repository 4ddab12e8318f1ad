//! llmspell-kerneld as a Unix service: `start --daemon`, the PID-file lock, and signals, on
//! real processes.

mod harness;

use std::time::{Duration, Instant};

use harness::{Home, TIMEOUT};
use llmspell_wire::client::Channel;
use serde_json::{Value, json};

/// Fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, session, tty_nr.
fn proc_stat(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split_whitespace().map(str::to_owned).collect()
}

#[test]
fn daemon_is_detached_and_writes_its_files() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "svc"]);
    assert_eq!(daemon.path, home.path().join("kernels/kernel-svc.json"));
    let stat = proc_stat(daemon.pid);
    let (ppid, session, tty) = (&stat[1], &stat[3], &stat[4]);
    assert_ne!(ppid, &std::process::id().to_string(), "the starting process is not its parent");
    assert_ne!(session, &std::process::id().to_string());
    assert_ne!(
        session,
        &daemon.pid.to_string(),
        "double fork: not a session leader, cannot get a tty"
    );
    assert_eq!(tty, "0", "no controlling terminal");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/cwd", daemon.pid)).unwrap(),
        std::path::Path::new("/")
    );
    let pid_file = home.path().join("kernels/kernel-svc.pid");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), daemon.pid.to_string());
    assert!(home.path().join("logs/kernel-svc.log").exists());
    assert_eq!(daemon.client.execute("6*7", TIMEOUT).unwrap().result_text(), Some("42"));
    daemon.signal("TERM");
    daemon.wait_gone();
    assert!(!daemon.path.exists() && !pid_file.exists());
}

#[test]
fn a_second_start_with_the_same_id_exits_75_naming_the_pid() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "dup"]);
    for daemonize in [true, false] {
        let mut args = vec!["start", "--id", "dup"];
        if daemonize {
            args.push("--daemon");
        }
        let out = home.command(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(75));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&daemon.pid.to_string()), "{stderr}");
    }
    assert!(daemon.alive());
    let log = std::fs::read_to_string(home.path().join("logs/kernel-dup.log")).unwrap();
    assert!(
        !log.contains("locked"),
        "the refused start wrote into the running kernel's log: {log}"
    );
}

#[test]
fn a_pid_file_left_by_kill_9_never_blocks_the_next_start() {
    let home = Home::new();
    let first = home.start_daemon(&["--id", "crash"]);
    first.signal("KILL");
    first.wait_gone();
    assert!(home.path().join("kernels/kernel-crash.pid").exists(), "kill -9 leaves the file");
    let second = home.start_daemon(&["--id", "crash"]);
    assert_ne!(second.pid, first.pid);
    assert_eq!(second.client.execute("1+1", TIMEOUT).unwrap().result_text(), Some("2"));
}

#[test]
fn start_up_failures_reach_the_starting_shell_with_their_code() {
    let home = Home::new();
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, r#"{"ip": "127.0.0.1"}"#).unwrap();
    let out = home
        .command(&["start", "--daemon", "--connection-file", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shell_port"));
}

#[test]
fn sigterm_lets_a_running_cell_finish_then_removes_the_files() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "grace"]);
    let c = &daemon.client;
    let code = "local t = os.clock() while os.clock() - t < 2 do end print('finished')";
    let id = c.request(Channel::Shell, "execute_request", json!({"code": code})).unwrap();
    // Wait until the cell is running (its execute_input is out), then ask the kernel to stop.
    loop {
        let msg = c.recv(Channel::Iopub, TIMEOUT).unwrap();
        if msg.parent_id() == Some(id.as_str()) && msg.msg_type() == "execute_input" {
            break;
        }
    }
    daemon.signal("TERM");
    let reply = c.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap();
    assert_eq!(reply.content["status"], "ok", "the cell finished: {}", reply.content);
    let mut saw_output = false;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        assert!(Instant::now() < deadline, "no shutdown_reply on iopub");
        let msg = c.recv(Channel::Iopub, TIMEOUT).unwrap();
        saw_output |= msg.msg_type() == "stream" && msg.str_field("text") == Some("finished\n");
        if msg.msg_type() == "shutdown_reply" {
            break;
        }
    }
    assert!(saw_output);
    daemon.wait_gone();
    assert!(!daemon.path.exists());
    assert!(!home.path().join("kernels/kernel-grace.pid").exists());
}

#[test]
fn a_second_sigterm_does_not_wait_for_the_cell() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "hurry"]);
    daemon
        .client
        .request(Channel::Shell, "execute_request", json!({"code": "while true do end"}))
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal("TERM");
    std::thread::sleep(Duration::from_millis(100));
    assert!(daemon.alive(), "the first SIGTERM waits for the cell");
    daemon.signal("TERM");
    daemon.wait_gone();
    assert!(!daemon.path.exists());
}

#[test]
fn sigint_interrupts_a_daemon_cell_and_it_answers_the_next() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "intr"]);
    let c = &daemon.client;
    let id =
        c.request(Channel::Shell, "execute_request", json!({"code": "while true do end"})).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    daemon.signal("INT");
    assert_eq!(c.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap().content["ename"], "Interrupted");
    assert_eq!(c.execute("'still here'", TIMEOUT).unwrap().result_text(), Some("\"still here\""));
}

#[test]
fn sighup_reopens_a_renamed_log() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "logs", "--log-level", "info"]);
    let log = home.path().join("logs/kernel-logs.log");
    let rotated = home.path().join("logs/kernel-logs.log.1");
    daemon.client.execute("1", TIMEOUT).unwrap();
    // The request is logged once served, which can be just after its reply and idle arrive.
    wait_for(|| std::fs::read_to_string(&log).unwrap().contains("execute_request"));
    std::fs::rename(&log, &rotated).unwrap();
    daemon.signal("HUP");
    wait_for(|| log.exists());
    daemon.client.execute("2", TIMEOUT).unwrap();
    wait_for(|| std::fs::read_to_string(&log).unwrap().contains("execute_request"));
    let old = std::fs::read_to_string(&rotated).unwrap();
    let new = std::fs::read_to_string(&log).unwrap();
    assert!(old.contains("execute_request"), "first request logged before the rename: {old}");
    assert_eq!(
        new.matches("msg_type=\"execute_request\"").count()
            + new.matches("msg_type=execute_request").count(),
        1,
        "{new}"
    );
}

#[test]
fn sigusr1_applies_a_new_log_level_from_config() {
    let home = Home::new();
    std::fs::write(home.path().join("config.toml"), "[kernel]\nlog_level = \"warn\"\n").unwrap();
    let daemon = home.start_daemon(&["--id", "lvl"]);
    let log = home.path().join("logs/kernel-lvl.log");
    daemon.client.execute("1", TIMEOUT).unwrap();
    assert!(!std::fs::read_to_string(&log).unwrap().contains("served"));
    std::fs::write(home.path().join("config.toml"), "[kernel]\nlog_level = \"info\"\n").unwrap();
    daemon.signal("USR1");
    wait_for(|| std::fs::read_to_string(&log).unwrap().contains("log_level warn -> info"));
    daemon.client.execute("2", TIMEOUT).unwrap();
    wait_for(|| std::fs::read_to_string(&log).unwrap().contains("served"));
}

#[test]
fn sigusr2_dumps_state_as_json() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "dump"]);
    daemon.client.execute("x = 1", TIMEOUT).unwrap();
    daemon.signal("USR2");
    let dump_file = home.path().join("kernels/kernel-dump.dump.json");
    wait_for(|| dump_file.exists());
    let dump: Value = serde_json::from_slice(&std::fs::read(&dump_file).unwrap()).unwrap();
    assert_eq!(dump["id"], "dump");
    assert_eq!(dump["pid"], daemon.pid);
    assert_eq!(dump["executions"], 1);
    for field in ["uptime_s", "rss_bytes", "clients", "queue_depth", "last_error"] {
        assert!(dump.get(field).is_some(), "{field} missing from {dump}");
    }
    let log = std::fs::read_to_string(home.path().join("logs/kernel-dump.log")).unwrap();
    let line = log.lines().find(|l| l.contains("state dump")).unwrap();
    let json_part = &line[line.find('{').unwrap()..];
    assert!(serde_json::from_str::<Value>(json_part).is_ok(), "{line}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "jl", "--log-format", "json", "--log-level", "info"]);
    daemon.client.execute("1", TIMEOUT).unwrap();
    let log = home.path().join("logs/kernel-jl.log");
    wait_for(|| std::fs::read_to_string(&log).unwrap().contains("execute_request"));
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.get("level").is_some());
    }
}

fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn systemd_hears_ready_and_stopping_over_notify_socket() {
    use std::os::unix::net::UnixDatagram;
    let home = Home::new();
    let socket_path = home.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut cmd = home.command(&["start", "--id", "unit"]);
    cmd.env("NOTIFY_SOCKET", &socket_path).stdout(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    assert!(home.path().join("kernels/kernel-unit.json").exists(), "ready only once listening");
    std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
    let n = socket.recv(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn in_process_rotation_keeps_the_newest_files() {
    let home = Home::new();
    let log = home.path().join("rot/kernel.log");
    let log_arg = log.to_str().unwrap();
    let args = [
        "--id",
        "rot",
        "--log-level",
        "debug",
        "--log-file",
        log_arg,
        "--log-rotate-size",
        "2K",
        "--log-rotate-keep",
        "2",
    ];
    let daemon = home.start_daemon(&args);
    for i in 0..60 {
        daemon.client.execute(&format!("x = {i}"), TIMEOUT).unwrap();
    }
    let names = || -> Vec<String> {
        std::fs::read_dir(home.path().join("rot"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    // The logger prunes old files after it has opened the new one: on a loaded machine the
    // test can look in between, so it waits (boundedly) for the pruning to be done.
    let deadline = Instant::now() + Duration::from_secs(10);
    while names().len() > 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let names = names();
    assert!(names.len() >= 2, "rotation happened: {names:?}");
    assert!(names.len() <= 3, "at most the live file and 2 kept: {names:?}");
}

#[test]
fn state_survives_a_restart_with_the_same_id() {
    let home = Home::new();
    let first = home.start_daemon(&["--id", "keeper"]);
    let saved = first
        .client
        .execute(
            r#"State.save("notes", "plan", {steps = {1, 2.5, "three"}, done = false})
               State.save("notes", "owner", "ada")
               return #State.list_keys("notes")"#,
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(saved.result_text(), Some("2"), "{saved:?}");
    first.signal("TERM");
    first.wait_gone();
    let db = home.path().join("state/keeper.sqlite");
    assert!(db.exists());
    let wal = home.path().join("state/keeper.sqlite-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true),
        "a graceful stop checkpoints the log into the file"
    );

    let second = home.start_daemon(&["--id", "keeper"]);
    let loaded = second
        .client
        .execute(
            r#"local p = State.load("notes", "plan")
               return JSON.encode({p.steps[1], p.steps[2], p.steps[3], p.done,
                                   State.load("notes", "owner"), State.load("notes", "nope")})"#,
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(loaded.result_text(), Some(r#""[1,2.5,\"three\",false,\"ada\"]""#), "{loaded:?}");

    // Another id has its own store.
    let other = home.start_daemon(&["--id", "stranger"]);
    let seen = other.client.execute(r#"State.load("notes", "owner") == nil"#, TIMEOUT).unwrap();
    assert_eq!(seen.result_text(), Some("true"), "{seen:?}");
}

#[test]
fn kill_9_during_a_write_loop_leaves_a_readable_store() {
    let home = Home::new();
    let first = home.start_daemon(&["--id", "crashy"]);
    let c = &first.client;
    let code = r#"for i = 1, 1e9 do
                    State.save("loop", "k" .. (i % 50), {i = i, pad = string.rep("x", i % 4000)})
                    State.save("loop", "last", i)
                  end"#;
    c.request(Channel::Shell, "execute_request", json!({"code": code})).unwrap();
    let db = home.path().join("state/crashy.sqlite");
    wait_for(|| db.exists());
    std::thread::sleep(Duration::from_millis(500));
    first.signal("KILL");
    first.wait_gone();

    let second = home.start_daemon(&["--id", "crashy"]);
    let check = r#"local last = State.load("loop", "last")
                   local keys = State.list_keys("loop")
                   for _, k in ipairs(keys) do
                     if k ~= "last" then
                       local v = State.load("loop", k)
                       assert(#v.pad == v.i % 4000, "torn value under " .. k)
                       assert(v.i <= last + 1, "value newer than last under " .. k)
                     end
                   end
                   return last > 0 and #keys > 1"#;
    let out = second.client.execute(check, TIMEOUT).unwrap();
    assert_eq!(out.result_text(), Some("true"), "{out:?}");
}

//! `llmspell-kerneld status` on real daemons: what it reports for running, killed and unknown
//! kernels, in each output form, and its exit status.

mod harness;

use std::process::Output;

use harness::Home;
use serde_json::Value;

fn status(home: &Home, args: &[&str]) -> Output {
    let mut full = vec!["status"];
    full.extend_from_slice(args);
    home.command(&full).output().unwrap()
}

fn json_of(out: &Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn no_kernels_at_all_is_success_with_empty_output() {
    let home = Home::new();
    let out = status(&home, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    let out = status(&home, &["--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_of(&out), Vec::<Value>::new());
}

#[test]
fn a_running_daemon_is_reported_with_its_live_numbers() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "st-run"]);
    let out = status(&home, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let reports = json_of(&out);
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    assert_eq!(r["id"], "st-run");
    assert_eq!(r["state"], "running");
    assert_eq!(r["pid"], daemon.pid);
    assert_eq!(r["heartbeat_ok"], true);
    assert!(r["kernel_info_ms"].as_f64().unwrap() >= 0.0);
    assert!(r["uptime_s"].as_f64().unwrap() >= 0.0);
    assert!(r["rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(r["executions"], 0);
    assert_eq!(r["ports"]["shell"], daemon.info.shell_port);
    assert_eq!(r["ports"]["hb"], daemon.info.hb_port);
    assert_eq!(r["connection_file"], daemon.path.to_str().unwrap());
    assert_eq!(r["error"], Value::Null);

    // Piped: one line of 13 tab-separated columns, no header.
    let out = status(&home, &["st-run"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let cols: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(cols.len(), 13, "{text}");
    assert_eq!(&cols[..3], ["st-run", "running", &daemon.pid.to_string()]);
    assert_eq!(cols[5], daemon.info.shell_port.to_string());
    assert_eq!(cols[10], "ok");
}

#[test]
fn a_killed_daemon_is_dead_and_fails_the_status() {
    let home = Home::new();
    let daemon = home.start_daemon(&["--id", "st-dead"]);
    daemon.signal("KILL");
    daemon.wait_gone();
    let out = status(&home, &["--json", "st-dead"]);
    assert_eq!(out.status.code(), Some(1));
    let r = &json_of(&out)[0];
    assert_eq!(r["state"], "dead");
    assert_eq!(r["heartbeat_ok"], false);
    assert_eq!(r["pid"], daemon.pid, "the stale file's pid is shown");
    assert!(String::from_utf8_lossy(&out.stderr).contains("st-dead (dead)"));
}

#[test]
fn one_dead_kernel_among_running_ones_fails_the_whole_status() {
    let home = Home::new();
    let _alive = home.start_daemon(&["--id", "st-a"]);
    let dead = home.start_daemon(&["--id", "st-b"]);
    dead.signal("KILL");
    dead.wait_gone();
    let out = status(&home, &[]);
    assert_eq!(out.status.code(), Some(1));
    let states: Vec<String> =
        stdout(&out).lines().map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(states, ["st-a running", "st-b dead"]);
}

#[test]
fn an_unknown_id_is_missing_and_a_bad_one_a_usage_error() {
    let home = Home::new();
    let out = status(&home, &["--json", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json_of(&out)[0]["state"], "missing");
    assert_eq!(status(&home, &["Bad_Id"]).status.code(), Some(64));
}

#[test]
fn a_locked_pid_file_without_a_kernel_behind_it_is_unreachable() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let home = Home::new();
    let pid_file = home.path().join("kernels/kernel-st-hung.pid");
    std::fs::create_dir_all(pid_file.parent().unwrap()).unwrap();
    // Holds the lock the way a kernel does, but serves nothing.
    let script = "import fcntl, os, sys, time\n\
        f = open(sys.argv[1], 'w'); fcntl.flock(f, fcntl.LOCK_EX)\n\
        f.write(f'{os.getpid()}\\n'); f.flush()\n\
        print('ready', flush=True); sys.stdin.read()\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .arg(&pid_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let out = status(&home, &["--json"]);
    drop(child.stdin.take()); // EOF ends the lock holder
    child.wait().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let r = &json_of(&out)[0];
    assert_eq!(r["state"], "unreachable");
    assert_eq!(r["pid"], child.id());
    assert!(r["error"].as_str().unwrap().contains("no connection file"), "{r}");
}

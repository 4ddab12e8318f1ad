//! llmspell-dap end to end: framing, bad input and exit codes, and launch/attach without the
//! debugger (the debugger paths are driven by the DebugClient suite in tests/node).

mod harness;

use std::io::Read;
use std::net::TcpStream;

use harness::{Adapter, Home};
use serde_json::json;

#[test]
fn a_broken_frame_ends_the_adapter_with_exit_65_and_one_line() {
    let home = Home::new();
    let mut dap = home.adapter(&[]);
    dap.raw(b"Content-Length: twelve\r\n\r\n{}");
    let (code, stderr) = dap.finish();
    assert_eq!(code, Some(65), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("llmspell-dap: malformed frame: Content-Length"), "{stderr}");
}

#[test]
fn a_body_that_is_not_json_gets_an_error_response_and_the_session_goes_on() {
    let home = Home::new();
    let mut dap = home.adapter(&["--stdio"]);
    dap.raw(b"Content-Length: 5\r\n\r\n{oops");
    let reply = dap.next().unwrap();
    assert_eq!(reply["type"], "response");
    assert_eq!(reply["success"], false);
    assert!(reply["message"].as_str().unwrap().contains("not JSON"), "{reply}");
    // Neither a request without a command nor one with bad arguments stops it.
    dap.raw(b"Content-Length: 26\r\n\r\n{\"seq\":7,\"type\":\"request\"}");
    let reply = dap.response(7);
    assert_eq!(reply["success"], false);
    let seq = dap.request("launch", json!(null));
    assert_eq!(dap.response(seq)["success"], false, "launch without a program");
    let reply = dap.call("initialize", json!({"adapterID": "llmspell"}));
    assert_eq!(reply["success"], true);
    assert_eq!(reply["body"]["supportsConfigurationDoneRequest"], true);
    let filters = &reply["body"]["exceptionBreakpointFilters"];
    assert_eq!(filters[0]["filter"], "all");
    assert_eq!(filters[1]["filter"], "uncaught");
    // `initialized` only after the response.
    let next = dap.next().unwrap();
    assert_eq!(
        (next["type"].as_str(), next["event"].as_str()),
        (Some("event"), Some("initialized"))
    );
    let seqs: Vec<i64> = dap.seen.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "seq numbers run on: {seqs:?}");
    let (code, stderr) = dap.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

#[test]
fn a_missing_kernel_is_exit_69_naming_the_path() {
    let home = Home::new();
    let out = home.command(&["--kernel", "nowhere"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    let path = home.path().join("kernels/kernel-nowhere.json");
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(out.stdout.is_empty());
    let out = home.command(&["--kernel", "./gone.json", "--listen", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gone.json"));
}

#[test]
fn bad_flags_are_exit_64() {
    let home = Home::new();
    let out = home.command(&["--stdio", "--listen", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    let out = home.command(&["--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen <PORT>"));
}

#[test]
fn launch_runs_the_program_to_the_end_with_its_output_and_exit_code() {
    let home = Home::new();
    let script = home.file(
        "prog.lua",
        "print('hello', arg[0] ~= nil, arg[1], arg[2], #arg)\nio.stderr:write('warn\\n')\n",
    );
    let mut dap = home.adapter(&[]);
    dap.call("initialize", json!({"adapterID": "llmspell"}));
    // Relative to cwd; args reach `arg` exactly, quotes and all.
    let launch = json!({"program": "prog.lua", "cwd": home.path(), "noDebug": true,
                        "args": ["a \"b\"", "é"]});
    assert_eq!(dap.call("launch", launch)["success"], true);
    assert_eq!(dap.call("configurationDone", json!({}))["success"], true);
    let exited = dap.event("exited");
    assert_eq!(exited["body"]["exitCode"], 0, "{:#?}", dap.seen);
    dap.event("terminated");
    assert_eq!(dap.output("stdout"), "hello\ttrue\ta \"b\"\té\t2\n");
    assert_eq!(dap.output("stderr"), "warn\n");
    assert_eq!(dap.call("disconnect", json!({}))["success"], true);
    let (code, stderr) = dap.finish();
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
    drop(script);
}

#[test]
fn an_error_is_stderr_output_and_exit_code_1() {
    let home = Home::new();
    home.file("bad.lua", "print(1)\nerror('boom')\nprint(2)\n");
    let mut dap = home.adapter(&[]);
    dap.call("initialize", json!({}));
    let program = home.path().join("bad.lua");
    assert_eq!(dap.call("launch", json!({"program": program, "noDebug": true}))["success"], true);
    dap.call("configurationDone", json!({}));
    assert_eq!(dap.event("exited")["body"]["exitCode"], 1);
    assert_eq!(dap.output("stdout"), "1\n");
    assert!(dap.output("stderr").contains("boom"), "{:#?}", dap.seen);
    dap.call("disconnect", json!({}));
    assert_eq!(dap.finish().0, Some(0));
}

#[test]
fn launching_a_missing_program_is_an_error_response_naming_it() {
    let home = Home::new();
    let mut dap = home.adapter(&[]);
    dap.call("initialize", json!({}));
    let reply = dap.call("launch", json!({"program": "/no/such/file.lua"}));
    assert_eq!(reply["success"], false);
    assert!(reply["message"].as_str().unwrap().contains("/no/such/file.lua"), "{reply}");
    let reply = dap.call("attach", json!({}));
    assert_eq!(reply["success"], false, "attach names no kernel");
    let reply = dap.call("attach", json!({"kernel": "absent"}));
    assert!(reply["message"].as_str().unwrap().contains("kernel-absent.json"), "{reply}");
    assert_eq!(dap.finish().0, Some(0));
}

#[test]
fn launch_on_a_named_kernel_leaves_it_running() {
    let mut home = Home::new();
    home.daemon("shared");
    let program = home.file("p.lua", "shared_value = 41 + 1\nprint(shared_value)\n");
    let mut dap = home.adapter(&["--kernel", "shared"]);
    dap.call("initialize", json!({}));
    assert_eq!(dap.call("launch", json!({"program": program, "noDebug": true}))["success"], true);
    dap.call("configurationDone", json!({}));
    assert_eq!(dap.event("exited")["body"]["exitCode"], 0);
    assert_eq!(dap.output("stdout"), "42\n");
    dap.call("disconnect", json!({}));
    assert_eq!(dap.finish().0, Some(0));
    // The kernel is still there, with the program's globals.
    let mut again = home.adapter(&[]);
    again.call("initialize", json!({}));
    let check = home.file("q.lua", "print(shared_value)\n");
    let launch = json!({"program": check, "noDebug": true, "kernel": "shared"});
    assert_eq!(again.call("launch", launch)["success"], true);
    again.call("configurationDone", json!({}));
    again.event("terminated");
    assert_eq!(again.output("stdout"), "42\n");
}

#[test]
fn listen_serves_one_tcp_client() {
    let home = Home::new();
    let mut child = home.command(&["--listen", "0"]).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8];
    while stderr.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    let line = String::from_utf8(line).unwrap();
    let addr = line.strip_prefix("llmspell-dap: listening on ").expect(&line);
    // A second adapter on the same port is told the port is busy (75).
    let port = addr.rsplit(':').next().unwrap();
    let busy = home.command(&["--listen", port]).output().unwrap();
    assert_eq!(busy.status.code(), Some(75), "{busy:?}");
    let stream = TcpStream::connect(addr).unwrap();
    let mut dap = Adapter::over(child, Box::new(stream.try_clone().unwrap()), Box::new(stream));
    assert_eq!(dap.call("initialize", json!({}))["success"], true);
    assert_eq!(dap.call("disconnect", json!({}))["success"], true);
    assert_eq!(dap.finish().0, Some(0));
}

/// Processes whose environment says `JPY_PARENT_PID=<parent>`: the kernels an adapter started.
fn kernels_of(parent: u32) -> Vec<u32> {
    let needle = format!("JPY_PARENT_PID={parent}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie has no command line left.
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}

#[test]
fn disconnect_interrupts_the_program_and_stops_the_kernel_the_adapter_started() {
    let home = Home::new();
    let program = home.file("forever.lua", "print('started')\nwhile true do end\n");
    let mut dap = home.adapter(&[]);
    dap.call("initialize", json!({}));
    assert_eq!(dap.call("launch", json!({"program": program, "noDebug": true}))["success"], true);
    dap.call("configurationDone", json!({}));
    dap.until("the program's output", |m| m["body"]["output"] == "started\n");
    let kernels = kernels_of(dap.child.id());
    assert_eq!(kernels.len(), 1, "one kernel of its own");
    assert_eq!(dap.call("disconnect", json!({}))["success"], true);
    assert_eq!(dap.finish().0, Some(0));
    assert!(!alive(kernels[0]), "the adapter's kernel {} is still running", kernels[0]);
}

#[test]
fn a_kernel_killed_mid_run_ends_the_session() {
    let mut home = Home::new();
    home.daemon("victim");
    let program = home.file("forever.lua", "print('started')\nwhile true do end\n");
    let mut dap = home.adapter(&["--kernel", "victim"]);
    dap.call("initialize", json!({}));
    assert_eq!(dap.call("launch", json!({"program": program, "noDebug": true}))["success"], true);
    dap.call("configurationDone", json!({}));
    dap.until("the program's output", |m| m["body"]["output"] == "started\n");
    let pid = std::fs::read_to_string(home.path().join("kernels/kernel-victim.pid")).unwrap();
    let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL).unwrap();
    assert_eq!(dap.event("exited")["body"]["exitCode"], 1);
    dap.event("terminated");
    assert!(dap.output("console").contains("does not answer"), "{:#?}", dap.seen);
    dap.call("disconnect", json!({}));
    assert_eq!(dap.finish().0, Some(0));
}

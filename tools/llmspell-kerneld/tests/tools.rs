//! `tool_request` / `tool_reply` on shell and the Lua `Tool` global, through the real kernel.
//!
//! Tests that need a particular built-in tool (calculator, a file tool, process_executor) look it
//! up first and say "skipped" on stderr when this build does not have it yet; the protocol,
//! routing, concurrency and configuration tests need no tool at all.

mod harness;

use std::time::{Duration, Instant};

use harness::{Home, TIMEOUT};
use llmspell_wire::client::Channel;
use llmspell_wire::{Client, Message};
use serde_json::{Value, json};

/// Sends a tool_request; returns its msg_id.
fn send(client: &Client, content: Value) -> String {
    client.request(Channel::Shell, "tool_request", content).unwrap()
}

/// Sends a tool_request and returns the tool_reply.
fn call(client: &Client, content: Value) -> Message {
    let id = send(client, content);
    let reply = client.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap();
    assert_eq!(reply.msg_type(), "tool_reply");
    reply
}

/// The iopub messages whose parent is `id`, up to and including its `idle`.
fn iopub_until_idle(client: &Client, id: &str) -> Vec<Message> {
    let deadline = Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = client.recv(Channel::Iopub, left).expect("iopub until idle");
        if msg.parent_id() != Some(id) {
            continue;
        }
        let idle = msg.msg_type() == "status" && msg.content["execution_state"] == "idle";
        out.push(msg);
        if idle {
            return out;
        }
    }
}

fn has_tool(client: &Client, name: &str) -> bool {
    let reply = call(client, json!({"command": "list"}));
    reply.content["tools"].as_array().unwrap().iter().any(|t| t["name"] == name)
}

fn skipped(test: &str, tool: &str) {
    eprintln!("{test}: skipped: this build has no {tool} tool yet");
}

fn assert_error(reply: &Message, error_type: &str, needle: &str) {
    let c = &reply.content;
    assert_eq!(c["status"], "error", "{c}");
    assert_eq!(c["error_type"], error_type, "{c}");
    let message = c["message"].as_str().unwrap();
    assert!(message.contains(needle), "{needle:?} not in {message:?}");
    // Jupyter clients expect these on any error reply.
    assert_eq!(c["ename"], error_type);
    assert_eq!(c["evalue"], c["message"]);
    assert!(c["traceback"].is_array());
}

#[test]
fn every_command_is_answered_and_errors_are_typed() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;

    let list = call(client, json!({"command": "list"}));
    assert_eq!(list.content["status"], "ok");
    let tools = list.content["tools"].as_array().unwrap().clone();
    for t in &tools {
        assert!(t["name"].is_string() && t["category"].is_string() && t["description"].is_string());
    }
    let categories = call(client, json!({"command": "categories"}));
    assert_eq!(categories.content["status"], "ok");
    let categories = categories.content["categories"].as_array().unwrap().clone();
    for t in &tools {
        assert!(categories.contains(&t["category"]), "{t}");
        let one = call(client, json!({"command": "list", "category": t["category"]}));
        assert!(one.content["tools"].as_array().unwrap().contains(t));
    }
    let search = call(client, json!({"command": "search", "query": "zzzz-nothing"}));
    assert_eq!(search.content, json!({"status": "ok", "tools": []}));
    let test = call(client, json!({"command": "test", "names": []}));
    assert_eq!(test.content["status"], "ok");
    let results = test.content["results"].as_array().unwrap();
    assert_eq!(
        test.content["passed"].as_u64().unwrap() + test.content["failed"].as_u64().unwrap(),
        results.len() as u64
    );
    assert_eq!(test.content["failed"], 0, "a built-in example failed: {}", test.content);

    // A tool that does not exist: not_found, marked unknown_tool.
    for command in ["info", "invoke", "test"] {
        let reply = call(client, json!({"command": command, "name": "no_such_tool"}));
        assert_error(&reply, "not_found", "no_such_tool");
        assert_eq!(reply.content["unknown_tool"], "no_such_tool", "{command}");
    }
    // Bad content: validation, naming what is wrong.
    assert_error(&call(client, json!([1, 2])), "validation", "JSON object");
    assert_error(&call(client, json!({})), "validation", "command is required");
    assert_error(&call(client, json!({"command": "fly"})), "validation", "unknown command");
    assert_error(&call(client, json!({"command": "info"})), "validation", "name is required");
    assert_error(
        &call(client, json!({"command": "info", "name": 5})),
        "validation",
        "name must be a string",
    );
    assert_error(&call(client, json!({"command": "search"})), "validation", "query is required");
    let reply = call(client, json!({"command": "invoke", "name": "x", "timeout_ms": -1}));
    assert_error(&reply, "validation", "timeout_ms");

    // Every tool has info with a schema, and search finds it by its name.
    for t in &tools {
        let info = call(client, json!({"command": "info", "name": t["name"]}));
        assert_eq!(info.content["status"], "ok");
        assert_eq!(info.content["tool"]["name"], t["name"]);
        assert!(info.content["tool"]["parameters"].is_object());
        assert!(info.content["tool"]["examples"].is_array());
        let hits = call(client, json!({"command": "search", "query": t["name"]}));
        let hit = hits.content["tools"].as_array().unwrap().iter().find(|h| h["name"] == t["name"]);
        assert!(hit.is_some_and(|h| h["score"].as_f64().unwrap() > 0.0), "{}", hits.content);
    }
}

#[test]
fn calculator_invokes_and_rejects_bad_params() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;
    if !has_tool(client, "calculator") {
        return skipped("calculator_invokes_and_rejects_bad_params", "calculator");
    }
    let reply = call(
        client,
        json!({"command": "invoke", "name": "calculator", "params": {"expression": "1+2"}}),
    );
    assert_eq!(reply.content["status"], "ok", "{}", reply.content);
    assert_eq!(reply.content["tool"], "calculator");
    assert!(reply.content["duration_ms"].as_f64().is_some());
    assert!(reply.content["result"].to_string().contains('3'), "{}", reply.content);
    // A parameter the schema does not know, or of the wrong type: validation naming it.
    let reply = call(
        client,
        json!({"command": "invoke", "name": "calculator", "params": {"expression": 12}}),
    );
    assert_error(&reply, "validation", "expression");
    let reply = call(client, json!({"command": "invoke", "name": "calculator", "params": {}}));
    assert_error(&reply, "validation", "expression");
    let reply = call(client, json!({"command": "invoke", "name": "calculator", "params": [1]}));
    assert_error(&reply, "validation", "JSON object");
    let test = call(client, json!({"command": "test", "name": "calculator"}));
    assert_eq!(test.content["failed"], 0, "{}", test.content);
    assert!(test.content["passed"].as_u64().unwrap() > 0);
}

#[test]
fn busy_and_idle_frame_each_tool_request_and_replies_keep_the_parent() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;
    for content in [json!({"command": "list"}), json!({"command": "info", "name": "nope"})] {
        let id = send(client, content);
        let reply = client.recv_reply(Channel::Shell, &id, TIMEOUT).unwrap();
        assert_eq!(reply.msg_type(), "tool_reply");
        assert_eq!(reply.parent_type(), Some("tool_request"));
        assert_eq!(reply.header.session, kernel_session(client));
        let iopub = iopub_until_idle(client, &id);
        let states: Vec<&str> =
            iopub.iter().map(|m| m.content["execution_state"].as_str().unwrap_or("")).collect();
        assert_eq!(states, ["busy", "idle"], "{iopub:?}");
        assert!(iopub.iter().all(|m| m.msg_type() == "status"));
    }
    // Pipelined: every request is answered, each with its own busy/idle.
    let ids: Vec<String> =
        (0..20).map(|_| send(client, json!({"command": "categories"}))).collect();
    let mut answered = std::collections::HashSet::new();
    while answered.len() < ids.len() {
        let reply = client.recv(Channel::Shell, TIMEOUT).unwrap();
        answered.insert(reply.parent_id().unwrap().to_owned());
    }
    assert!(ids.iter().all(|id| answered.contains(id)));
    let info = client.call(Channel::Control, "kernel_info_request", json!({}), TIMEOUT).unwrap();
    let numbers = &info.content["llmspell"];
    assert_eq!(numbers["tool_requests"], 22, "{numbers}");
    assert_eq!(numbers["tool_errors"], 1, "{numbers}");
    assert_eq!(numbers["executions"], 0, "tool requests are not executions: {numbers}");
}

/// The kernel's session id, from any reply.
fn kernel_session(client: &Client) -> String {
    client.call(Channel::Shell, "kernel_info_request", json!({}), TIMEOUT).unwrap().header.session
}

#[test]
fn a_tool_request_is_answered_while_a_cell_runs() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;
    let cell = client
        .request(
            Channel::Shell,
            "execute_request",
            json!({"code": "local t = os.clock() while os.clock() - t < 2 do end", "silent": false}),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let reply = call(client, json!({"command": "list"}));
    let took = started.elapsed();
    assert_eq!(reply.content["status"], "ok");
    assert!(took < Duration::from_millis(1000), "tool_request waited {took:?} behind the cell");
    // The cell is still running: its reply comes later.
    let cell_reply = client.recv_reply(Channel::Shell, &cell, TIMEOUT).unwrap();
    assert_eq!(cell_reply.content["status"], "ok");
    assert!(started.elapsed() > took, "the cell ended after the tool reply");
}

#[test]
fn lua_scripts_use_every_tool_function() {
    let home = Home::new();
    let kernel = home.start(&[]);
    let client = &kernel.client;
    let listed =
        call(client, json!({"command": "list"})).content["tools"].as_array().unwrap().len();
    let code = r#"
local list = Tool.list()
local cats = Tool.categories()
print("list", #list, type(cats))
print("exists", Tool.exists("no_such_tool"))
print("search", #Tool.search("zzzz-nothing"))
local ok, err = pcall(Tool.invoke, "no_such_tool", {x = 1})
print("invoke", ok, err.error_type, err.tool)
local ok2, err2 = pcall(Tool.info, "no_such_tool")
print("info", ok2, err2.error_type)
print("tostring", tostring(err):sub(1, 28))
for _, t in ipairs(list) do
  assert(Tool.exists(t.name), t.name)
  assert(Tool.info(t.name).parameters, t.name)
end
"#;
    let out = client.execute(code, TIMEOUT).unwrap();
    assert_eq!(out.status(), "ok", "{:?}", out.reply.content);
    assert_eq!(
        out.stream_text("stdout"),
        format!(
            "list\t{listed}\ttable\nexists\tfalse\nsearch\t0\ninvoke\tfalse\tnot_found\tno_such_tool\n\
             info\tfalse\tnot_found\ntostring\tno_such_tool: not_found: no \n"
        )
    );
    // Uncaught: a ToolError in Jupyter's terms, one error output, traceback at the cell line.
    let out = client.execute("local x = 1\nTool.invoke('no_such_tool', {})", TIMEOUT).unwrap();
    assert_eq!(out.status(), "error");
    assert_eq!(out.reply.content["ename"], "ToolError");
    let evalue = out.reply.content["evalue"].as_str().unwrap();
    assert!(evalue.starts_with("no_such_tool: not_found: no tool named"), "{evalue}");
    let errors: Vec<&Message> = out.iopub.iter().filter(|m| m.msg_type() == "error").collect();
    assert_eq!(errors.len(), 1);
    let tb: Vec<&str> = errors[0].content["traceback"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tb[0], format!("ToolError: {evalue}"));
    assert!(tb.iter().any(|l| l.contains(":2: in main chunk")), "{tb:?}");

    if has_tool(client, "calculator") {
        let out = client
            .execute(
                "local r = Tool.invoke('calculator', {expression = '1+2'})\nreturn JSON.encode(r)",
                TIMEOUT,
            )
            .unwrap();
        assert_eq!(out.status(), "ok", "{:?}", out.reply.content);
        assert!(out.result_text().unwrap().contains('3'), "{:?}", out.result_text());
        let code = "local ok, e = pcall(Tool.invoke, 'calculator', {expression = 5})\n\
                    return e.error_type, e.message:find('expression') ~= nil";
        let out = client.execute(code, TIMEOUT).unwrap();
        assert_eq!(out.result_text(), Some("\"validation\"\ttrue"));
    } else {
        skipped("lua_scripts_use_every_tool_function (calculator part)", "calculator");
    }
}

#[test]
fn the_tools_config_is_read_with_paths_relative_to_the_start_directory() {
    let home = Home::new();
    let start_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(start_dir.path().join("data")).unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        "[tools]\nallowed_paths = [\"data\"]\nallowed_executables = [\"echo\"]\ntimeout_secs = 2.5\n",
    )
    .unwrap();
    let real_data = std::fs::canonicalize(start_dir.path().join("data")).unwrap();
    // Foreground and daemon (which moves to `/` after the fork) alike.
    for daemon in [false, true] {
        let mut cmd =
            home.command(if daemon { &["start", "--daemon"][..] } else { &["start"][..] });
        cmd.current_dir(start_dir.path());
        let (client, mut child) = if daemon {
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            let path = String::from_utf8(out.stdout).unwrap();
            (connect(path.trim_end()), None)
        } else {
            let mut child = cmd
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufRead::read_line(
                &mut std::io::BufReader::new(child.stdout.take().unwrap()),
                &mut line,
            )
            .unwrap();
            (connect(line.trim_end()), Some(child))
        };
        let info =
            client.call(Channel::Control, "kernel_info_request", json!({}), TIMEOUT).unwrap();
        let tools = &info.content["llmspell"]["tools"];
        assert_eq!(tools["allowed_paths"], json!([real_data]), "daemon={daemon}: {tools}");
        assert_eq!(tools["allowed_executables"], json!(["echo"]));
        assert_eq!(tools["timeout_secs"], 2.5);
        client
            .call(Channel::Control, "shutdown_request", json!({"restart": false}), TIMEOUT)
            .unwrap();
        if let Some(child) = child.as_mut() {
            let deadline = Instant::now() + TIMEOUT;
            while child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "kernel did not exit");
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            // The daemon removes its files on the way out.
            let pid_file = std::fs::read_dir(home.path().join("kernels")).unwrap().count();
            let deadline = Instant::now() + TIMEOUT;
            while std::fs::read_dir(home.path().join("kernels")).unwrap().count() > 0 {
                assert!(Instant::now() < deadline, "daemon left {pid_file} files");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn connect(path: &str) -> Client {
    let info = llmspell_wire::ConnectionInfo::read(std::path::Path::new(path)).unwrap();
    let client = Client::connect(&info).unwrap();
    client.wait_ready(TIMEOUT).unwrap();
    client
}

#[test]
fn a_bad_tools_table_is_a_configuration_error() {
    let home = Home::new();
    let config = home.path().join("bad.toml");
    for (text, key) in [
        ("[tools]\nallowed_pathz = [\"/tmp\"]\n", "allowed_pathz"),
        ("[tools]\ntimeout_secs = \"soon\"\n", "timeout_secs"),
        ("[tools]\ntimeout_secs = 0\n", "timeout_secs"),
        ("[tools]\nallowed_executables = \"echo\"\n", "allowed_executables"),
    ] {
        std::fs::write(&config, text).unwrap();
        for daemon in [false, true] {
            let mut args = vec!["start", "--config", config.to_str().unwrap()];
            if daemon {
                args.insert(1, "--daemon");
            }
            let out = home.command(&args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(78), "{text}: {stderr}");
            assert!(stderr.contains("bad.toml") && stderr.contains(key), "{text}: {stderr}");
            assert!(stderr.contains("[tools]"), "{stderr}");
        }
    }
    // The default file too.
    std::fs::write(home.path().join("config.toml"), "[tools]\nnope = 1\n").unwrap();
    let out = home.command(&["start"]).output().unwrap();
    assert_eq!(out.status.code(), Some(78));
}

/// A kernel whose config lets process_executor run `sleep` and file tools use `<dir>/allowed`.
fn slow_tools_kernel(home: &Home, dir: &std::path::Path) -> harness::Kernel {
    std::fs::create_dir_all(dir.join("allowed")).unwrap();
    std::fs::create_dir_all(dir.join("outside")).unwrap();
    let config = home.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[tools]\nallowed_paths = [\"{}\"]\nallowed_executables = [\"sleep\"]\n",
            dir.join("allowed").display()
        ),
    )
    .unwrap();
    home.start(&[])
}

fn sleep_request(seconds: u32) -> Value {
    json!({"command": "invoke", "name": "process_executor",
           "params": {"command": "sleep", "args": [seconds.to_string()]}})
}

#[test]
fn control_lua_and_other_tools_answer_while_a_slow_tool_runs() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let kernel = slow_tools_kernel(&home, dir.path());
    let client = &kernel.client;
    if !has_tool(client, "process_executor") {
        return skipped(
            "control_lua_and_other_tools_answer_while_a_slow_tool_runs",
            "process_executor",
        );
    }
    let slow = send(client, sleep_request(3));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let info = client.call(Channel::Control, "kernel_info_request", json!({}), TIMEOUT).unwrap();
    assert_eq!(info.content["llmspell"]["tools_running"], 1, "{}", info.content["llmspell"]);
    let out = client.execute("1+1", TIMEOUT).unwrap();
    assert_eq!(out.result_text(), Some("2"));
    assert_eq!(call(client, json!({"command": "categories"})).content["status"], "ok");
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    let reply = client.recv_reply(Channel::Shell, &slow, TIMEOUT).unwrap();
    assert_eq!(reply.content["status"], "ok", "{}", reply.content);
    assert!(started.elapsed() > Duration::from_millis(2000), "the slow tool really ran");
    // A timeout_ms below the tool's run time stops it: timeout error, well before 30 s.
    let started = Instant::now();
    let mut request = sleep_request(30);
    request["timeout_ms"] = json!(300);
    let reply = call(client, request);
    assert_error(&reply, "timeout", "timeout");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn interrupting_a_cell_blocked_in_tool_invoke_cancels_the_tool() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let kernel = slow_tools_kernel(&home, dir.path());
    let client = &kernel.client;
    if !has_tool(client, "process_executor") {
        return skipped(
            "interrupting_a_cell_blocked_in_tool_invoke_cancels_the_tool",
            "process_executor",
        );
    }
    let code = "local ok, err = pcall(Tool.invoke, 'process_executor', {command = 'sleep', args = {'30'}})\n\
                print('caught', ok)";
    for how in ["message", "SIGINT"] {
        let cell = client
            .request(Channel::Shell, "execute_request", json!({"code": code, "silent": false}))
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let started = Instant::now();
        if how == "message" {
            client.call(Channel::Control, "interrupt_request", json!({}), TIMEOUT).unwrap();
        } else {
            kernel.signal("INT");
        }
        let reply = client.recv_reply(Channel::Shell, &cell, TIMEOUT).unwrap();
        assert_eq!(reply.content["ename"], "Interrupted", "{how}: {}", reply.content);
        assert!(started.elapsed() < Duration::from_secs(2), "{how}: took {:?}", started.elapsed());
        // The sleep child is gone (killed with its process group), not left running.
        let deadline = Instant::now() + Duration::from_secs(5);
        while children_named(kernel.pid(), "sleep") > 0 {
            assert!(Instant::now() < deadline, "{how}: sleep still runs after the interrupt");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(client.execute("1+1", TIMEOUT).unwrap().result_text(), Some("2"));
    }
}

/// How many direct children of `pid` run `name` (from /proc).
fn children_named(pid: u32, name: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let Some((comm, rest)) = stat.split_once(") ") else { return false };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            comm.ends_with(&format!("({name}")) && ppid == Some(pid) && !rest.starts_with('Z')
        })
        .count()
}

#[test]
fn allowed_paths_from_the_config_are_enforced_for_requests_and_lua() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let kernel = slow_tools_kernel(&home, dir.path());
    let client = &kernel.client;
    if !has_tool(client, "file_operations") {
        return skipped(
            "allowed_paths_from_the_config_are_enforced_for_requests_and_lua",
            "file_operations",
        );
    }
    let inside = dir.path().join("allowed/note.txt");
    let outside = dir.path().join("outside/note.txt");
    let write = |path: &std::path::Path| {
        call(
            client,
            json!({"command": "invoke", "name": "file_operations",
            "params": {"operation": "write", "path": path, "content": "hi"}}),
        )
    };
    assert_eq!(write(&inside).content["status"], "ok", "{}", write(&inside).content);
    assert_eq!(std::fs::read_to_string(&inside).unwrap(), "hi");
    assert_error(&write(&outside), "permission", "allowed");
    assert!(!outside.exists());
    let code = format!(
        "local ok, err = pcall(Tool.invoke, 'file_operations', {{operation = 'read', path = '{}'}})\n\
         print(err.error_type)\n\
         print(Tool.invoke('file_operations', {{operation = 'read', path = '{}'}}).content)",
        outside.display(),
        inside.display()
    );
    let out = client.execute(&code, TIMEOUT).unwrap();
    assert_eq!(out.status(), "ok", "{:?}", out.reply.content);
    assert_eq!(out.stream_text("stdout"), "permission\nhi\n");
}

//! The engine under its debugger: a client thread drives DAP requests while the test thread
//! runs the cell (and stays inside the hook while stopped), as the kernel's threads do.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, unbounded};
use llmspell_debug::Debugger;
use serde_json::{Value, json};

use crate::Engine;
use crate::testutil::engine;

const WAIT: Duration = Duration::from_secs(20);

struct Client {
    d: Debugger,
    events: Receiver<Value>,
    seq: i64,
}

impl Client {
    fn ask(&mut self, command: &str, arguments: Value) -> Value {
        self.seq += 1;
        let (tx, rx) = unbounded();
        let request = json!({"seq": self.seq, "type": "request", "command": command,
                             "arguments": arguments});
        self.d.handle(request, Box::new(move |r| tx.send(r).unwrap()));
        let r = rx.recv_timeout(WAIT).expect("no response");
        assert_eq!(r["success"], true, "{command}: {r}");
        r["body"].clone()
    }

    fn event(&self, name: &str) -> Value {
        loop {
            let e = self.events.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no {name} event"));
            if e["event"] == name {
                return e["body"].clone();
            }
        }
    }

    /// Replaces the breakpoints of `path` with `breakpoints` (DAP `SourceBreakpoint`s).
    fn set_breakpoints(&mut self, path: &str, breakpoints: Value) {
        self.ask("setBreakpoints", json!({"source": {"path": path}, "breakpoints": breakpoints}));
    }

    /// Waits for `stopped`; returns its reason and the top frame's line.
    fn stopped(&mut self) -> (String, u64) {
        let body = self.event("stopped");
        let st = self.ask("stackTrace", json!({"threadId": 1}));
        (
            body["reason"].as_str().unwrap().to_owned(),
            st["stackFrames"][0]["line"].as_u64().unwrap(),
        )
    }

    fn locals(&mut self, frame: u64) -> Vec<(String, String)> {
        let scopes = self.ask("scopes", json!({"frameId": frame}));
        let r = scopes["scopes"][0]["variablesReference"].clone();
        let vars = self.ask("variables", json!({"variablesReference": r}));
        vars["variables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| (v["name"].as_str().unwrap().into(), v["value"].as_str().unwrap().into()))
            .collect()
    }
}

/// An engine with a debugger attached, started, with `code` known under `path`.
fn setup(path: &str, code: &str) -> (Engine, Client) {
    let (mut e, _) = engine();
    let (tx, rx) = unbounded();
    let d = Debugger::new("/nonexistent/", Arc::new(move |ev| drop(tx.send(ev))));
    e.attach_debugger(d.clone()).unwrap();
    d.note_source(path, code);
    let mut c = Client { d, events: rx, seq: 0 };
    c.ask("initialize", json!({}));
    c.ask("attach", json!({}));
    (e, c)
}

/// Runs the client side on its own thread. When it fails, it disconnects, so that a program
/// stopped for it runs on and the test reports the failure instead of hanging.
fn drive<T: Send + 'static>(
    c: Client,
    f: impl FnOnce(Client) -> T + Send + 'static,
) -> JoinHandle<T> {
    struct DisconnectOnPanic(Debugger);
    impl Drop for DisconnectOnPanic {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let request = json!({"seq": 0, "type": "request", "command": "disconnect"});
                self.0.handle(request, Box::new(drop));
            }
        }
    }
    let guard = DisconnectOnPanic(c.d.clone());
    std::thread::spawn(move || {
        let _guard = guard;
        f(c)
    })
}

const PROGRAM: &str = "local function add(a, b)\n\
                       \x20 local sum = a + b\n\
                       \x20 return sum\n\
                       end\n\
                       local t = {x = 1, inner = {y = 2}}\n\
                       local r = add(2, 3)\n\
                       return r\n";

#[test]
fn breakpoint_stack_variables_evaluate_set_variable() {
    let (mut e, mut c) = setup("/t/a.lua", PROGRAM);
    c.set_breakpoints("/t/a.lua", json!([{"line": 3}]));
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 3));
        let st = c.ask("stackTrace", json!({"threadId": 1}));
        let frames = st["stackFrames"].as_array().unwrap();
        assert_eq!(frames.len(), 2, "{st}");
        assert_eq!(frames[0]["name"], "add");
        assert_eq!(frames[0]["source"]["path"], "/t/a.lua");
        assert_eq!(frames[1]["line"], 6);
        let top = frames[0]["id"].as_u64().unwrap();
        let main = frames[1]["id"].as_u64().unwrap();
        let locals = c.locals(top);
        assert_eq!(
            locals,
            vec![("a".into(), "2".into()), ("b".into(), "3".into()), ("sum".into(), "5".into())]
        );
        // The caller's table expands, nested, paged.
        let scopes = c.ask("scopes", json!({"frameId": main}));
        let r = scopes["scopes"][0]["variablesReference"].clone();
        let vars = c.ask("variables", json!({"variablesReference": r}));
        let t = vars["variables"].as_array().unwrap().iter().find(|v| v["name"] == "t").unwrap();
        let kids = c.ask("variables", json!({"variablesReference": t["variablesReference"]}));
        assert_eq!(kids["variables"][0]["name"], "inner");
        let page = c.ask(
            "variables",
            json!({"variablesReference": t["variablesReference"], "start": 1, "count": 1}),
        );
        assert_eq!(page["variables"].as_array().unwrap().len(), 1);
        assert_eq!(page["variables"][0]["name"], "x");
        let inner = c.ask(
            "variables",
            json!({"variablesReference": kids["variables"][0]["variablesReference"]}),
        );
        assert_eq!(inner["variables"][0]["value"], "2");
        let ev = c.ask(
            "evaluate",
            json!({"expression": "a * 10 + sum", "frameId": top, "context": "watch"}),
        );
        assert_eq!(ev["result"], "25");
        let ev = c.ask(
            "evaluate",
            json!({"expression": "t.inner.y", "frameId": main, "context": "hover"}),
        );
        assert_eq!(ev["result"], "2");
        let scopes = c.ask("scopes", json!({"frameId": top}));
        let r = scopes["scopes"][0]["variablesReference"].clone();
        let set = c
            .ask("setVariable", json!({"variablesReference": r, "name": "sum", "value": "40 + 2"}));
        assert_eq!(set["value"], "42");
        c.ask("continue", json!({"threadId": 1}));
        c.event("continued");
    });
    let out = e.execute(PROGRAM, "/t/a.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("42".into())));
}

#[test]
fn step_over_in_out() {
    let (mut e, mut c) = setup("/t/s.lua", PROGRAM);
    c.set_breakpoints("/t/s.lua", json!([{"line": 5}]));
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 5));
        c.ask("next", json!({"threadId": 1}));
        assert_eq!(c.stopped(), ("step".into(), 6));
        c.ask("stepIn", json!({"threadId": 1}));
        assert_eq!(c.stopped(), ("step".into(), 2));
        c.ask("stepOut", json!({"threadId": 1}));
        let (reason, line) = c.stopped();
        assert_eq!(reason, "step");
        assert!(line == 6 || line == 7, "stepOut landed on {line}");
        c.ask("continue", json!({"threadId": 1}));
    });
    let out = e.execute(PROGRAM, "/t/s.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("5".into())));
}

#[test]
fn conditions_hit_counts_and_logpoints() {
    let code = "local n = 0\nfor i = 1, 10 do\n  n = n + i\nend\nreturn n\n";
    let (mut e, mut c) = setup("/t/c.lua", code);
    c.set_breakpoints(
        "/t/c.lua",
        json!([{"line": 3, "condition": "i == 4"}, {"line": 3, "logMessage": "i={i} n={n}"}]),
    );
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 3));
        let locals = c.locals(1);
        assert!(locals.contains(&("i".into(), "4".into())), "{locals:?}");
        c.set_breakpoints("/t/c.lua", json!([{"line": 3, "hitCondition": "== 3"}]));
        c.ask("continue", json!({}));
        assert_eq!(c.stopped(), ("breakpoint".into(), 3));
        assert!(c.locals(1).contains(&("i".into(), "7".into())));
        c.set_breakpoints("/t/c.lua", json!([{"line": 3, "logMessage": "i={i} n={n}"}]));
        c.ask("continue", json!({}));
        let out = c.event("output");
        assert_eq!(out["output"], "i=8 n=28\n");
    });
    let out = e.execute(code, "/t/c.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("55".into())));
}

#[test]
fn function_and_exception_breakpoints() {
    let code = "function greet(who)\n  return 'hi ' .. who\nend\nlocal s = greet('x')\nerror('bad ' .. s)\n";
    let (mut e, mut c) = setup("/t/f.lua", code);
    c.ask("setFunctionBreakpoints", json!({"breakpoints": [{"name": "greet"}]}));
    c.ask("setExceptionBreakpoints", json!({"filters": ["uncaught"]}));
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("function breakpoint".into(), 2));
        c.ask("continue", json!({}));
        let body = c.event("stopped");
        assert_eq!(body["reason"], "exception");
        assert!(body["text"].as_str().unwrap().contains("bad hi x"), "{body}");
        let st = c.ask("stackTrace", json!({}));
        assert_eq!(st["stackFrames"][0]["line"], 5);
        c.ask("continue", json!({}));
    });
    let out = e.execute(code, "/t/f.lua");
    client.join().unwrap();
    assert!(out.result.unwrap_err().evalue.contains("bad hi x"));
}

#[test]
fn pause_a_running_loop_and_interrupt_while_stopped() {
    let (mut e, c) = setup("/t/p.lua", "");
    let handle = e.interrupt_handle();
    let client = drive(c, move |mut c| {
        std::thread::sleep(Duration::from_millis(100));
        c.ask("pause", json!({"threadId": 1}));
        let (reason, line) = c.stopped();
        assert_eq!((reason.as_str(), line), ("pause", 2));
        handle.interrupt();
    });
    let out = e.execute("local n = 0\nwhile true do n = n + 1 end\n", "/t/p.lua");
    client.join().unwrap();
    assert_eq!(out.result.unwrap_err().ename, "Interrupted");
    assert_eq!(crate::testutil::value(&mut e, "1 + 1"), Some("2".into()));
}

#[test]
fn disconnect_resumes_and_detaches() {
    let (mut e, mut c) = setup("/t/d.lua", PROGRAM);
    c.set_breakpoints("/t/d.lua", json!([{"line": 2}]));
    let client = drive(c, |mut c| {
        c.stopped();
        c.ask("disconnect", json!({}));
    });
    let out = e.execute(PROGRAM, "/t/d.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("5".into())));
    // Detached: the same program runs through.
    assert_eq!(e.execute(PROGRAM, "/t/d.lua").result, Ok(Some("5".into())));
}

#[test]
fn scripts_cannot_reach_the_debug_library() {
    let (mut e, _) = engine();
    assert_eq!(crate::testutil::value(&mut e, "debug"), None);
    let err = crate::testutil::error(&mut e, "require('debug')");
    assert!(err.evalue.contains("module 'debug' not found"), "{err:?}");
    let err = crate::testutil::error(&mut e, "package.loadlib('x', 'y')");
    assert!(err.evalue.contains("disabled"), "{err:?}");
}

#[test]
fn the_all_filter_stops_on_caught_errors_too() {
    let code = "local ok, err = pcall(function()\n  local why = 'inner'\n  error('caught ' .. why)\nend)\nreturn ok, err\n";
    let (mut e, mut c) = setup("/t/all.lua", code);
    // `uncaught` alone: the pcall keeps it from stopping.
    c.ask("setExceptionBreakpoints", json!({"filters": ["uncaught"]}));
    let out = e.execute(code, "/t/all.lua");
    assert_eq!(out.result, Ok(Some("false\t\"/t/all.lua:3: caught inner\"".into())));
    c.ask("setExceptionBreakpoints", json!({"filters": ["all"]}));
    let client = drive(c, |mut c| {
        let body = c.event("stopped");
        assert_eq!(body["reason"], "exception");
        assert!(body["text"].as_str().unwrap().contains("caught inner"), "{body}");
        let st = c.ask("stackTrace", json!({}));
        let lines: Vec<u64> = st["stackFrames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["line"].as_u64().unwrap())
            .collect();
        assert_eq!(lines, vec![3, 1], "the wrappers' frames are hidden");
        assert!(
            c.locals(st["stackFrames"][0]["id"].as_u64().unwrap())
                .contains(&("why".into(), "\"inner\"".into()))
        );
        c.ask("continue", json!({}));
        c
    });
    let out = e.execute(code, "/t/all.lua");
    let mut c = client.join().unwrap();
    assert_eq!(out.result, Ok(Some("false\t\"/t/all.lua:3: caught inner\"".into())));
    // Cleared: the original (C) pcall is back, which string.dump refuses.
    let is_c = "return (pcall(string.dump, pcall)) == false";
    assert_eq!(e.execute(is_c, "x").result, Ok(Some("false".into())), "wrapped while `all`");
    c.ask("setExceptionBreakpoints", json!({"filters": []}));
    assert_eq!(e.execute(is_c, "x").result, Ok(Some("true".into())));
}

#[test]
fn breakpoints_hit_inside_coroutines() {
    let code = "local co = coroutine.wrap(function(a)\n  local b = a * 2\n  coroutine.yield(b)\n  return b + 1\nend)\nlocal first = co(5)\nlocal second = co()\nreturn first + second\n";
    let (mut e, mut c) = setup("/t/co.lua", code);
    c.set_breakpoints("/t/co.lua", json!([{"line": 3}, {"line": 4}]));
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 3));
        assert!(c.locals(1).contains(&("b".into(), "10".into())));
        c.ask("continue", json!({}));
        assert_eq!(c.stopped(), ("breakpoint".into(), 4));
        c.ask("continue", json!({}));
    });
    let out = e.execute(code, "/t/co.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("21".into())));
}

#[test]
fn breakpoints_after_calls_and_below_functions_without_any() {
    let code = "local function h(v)\n  return v + 1\nend\nlocal function g(v)\n  local w = h(v)\n  return w * 2\nend\nlocal x = g(1)\nlocal y = x + 1\nreturn y\n";
    let (mut e, mut c) = setup("/t/n.lua", code);
    c.set_breakpoints("/t/n.lua", json!([{"line": 2}, {"line": 9}]));
    let client = drive(c, |mut c| {
        // In h, called by g, which holds no breakpoint.
        assert_eq!(c.stopped(), ("breakpoint".into(), 2));
        c.ask("continue", json!({}));
        // Back in the main chunk after the call returned.
        assert_eq!(c.stopped(), ("breakpoint".into(), 9));
        c.ask("continue", json!({}));
    });
    let out = e.execute(code, "/t/n.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("5".into())));
}

#[test]
fn breakpoints_hit_past_many_calls_and_returns_the_hook_need_not_see() {
    // `work` and `g` hold no breakpoint, so their calls and returns are filtered out before
    // mlua; `f` holds one after a call, `inner` one inside a function that holds none.
    let code = "local function g(v) return v + 1 end\nlocal function outer()\n  \
                local function inner(v)\n    return v * 2\n  end\n  return inner\nend\n\
                local function work(n)\n  local s = 0\n  for i = 1, n do s = g(s) end\n  \
                return s\nend\nlocal function f(n)\n  local s = work(n)\n  return s\nend\n\
                local a = f(3000)\nlocal b = f(3000)\n\
                local co = coroutine.create(function() return outer()(f(10)) end)\n\
                local _, c = coroutine.resume(co)\nreturn a + b + c\n";
    let (mut e, mut c) = setup("/t/f.lua", code);
    c.set_breakpoints("/t/f.lua", json!([{"line": 4}, {"line": 15}]));
    let client = drive(c, |mut c| {
        for s in ["3000", "3000", "10"] {
            assert_eq!(c.stopped(), ("breakpoint".into(), 15));
            assert!(c.locals(1).contains(&("s".into(), s.into())), "s = {s}");
            c.ask("continue", json!({}));
        }
        assert_eq!(c.stopped(), ("breakpoint".into(), 4));
        c.ask("continue", json!({}));
    });
    let out = e.execute(code, "/t/f.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("6020".into())));
}

#[test]
fn lines_the_filter_drops_in_a_function_with_a_breakpoint_do_not_hide_new_ones() {
    // In `f`, line events on lines without a breakpoint are dropped before mlua: breakpoints
    // set while stopped must hold from the next line on, and a step must see every line.
    let code = "local function f(n)\n  local s = 0\n  for i = 1, n do\n    s = s + i\n    \
                if s < 0 then s = 0 end\n  end\n  return s\nend\nreturn f(1000)\n";
    let (mut e, mut c) = setup("/t/l.lua", code);
    c.set_breakpoints("/t/l.lua", json!([{"line": 4, "hitCondition": "== 500"}]));
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 4));
        assert!(c.locals(1).contains(&("i".into(), "500".into())));
        c.set_breakpoints("/t/l.lua", json!([{"line": 5}]));
        c.ask("continue", json!({}));
        assert_eq!(c.stopped(), ("breakpoint".into(), 5));
        assert!(c.locals(1).contains(&("i".into(), "500".into())), "the same iteration");
        c.ask("next", json!({"threadId": 1}));
        let (reason, line) = c.stopped();
        assert!(reason == "step" && (line == 3 || line == 4), "next from 5: {reason} {line}");
        c.set_breakpoints("/t/l.lua", json!([{"line": 7}]));
        c.ask("continue", json!({}));
        assert_eq!(c.stopped(), ("breakpoint".into(), 7));
        assert!(c.locals(1).contains(&("s".into(), "500500".into())));
        c.ask("continue", json!({}));
    });
    let out = e.execute(code, "/t/l.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("500500".into())));
}

#[test]
fn an_interrupt_through_the_call_filter_leaves_breakpoints_working() {
    // A breakpoint in a function never called: the calls of `g` are filtered, and the
    // interrupt is raised from a count event forwarded through the filter.
    let code = "local function never()\n  return 0\nend\nlocal function g(v) return v end\n\
                local function spin() while true do g(1) end end\n\
                local function later()\n  return 7\nend\n";
    let (mut e, mut c) = setup("/t/i.lua", code);
    c.set_breakpoints("/t/i.lua", json!([{"line": 2}, {"line": 7}]));
    let handle = e.interrupt_handle();
    let interrupter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        handle.interrupt();
    });
    let out = e.execute(&format!("{code}spin()\n"), "/t/i.lua");
    interrupter.join().unwrap();
    assert_eq!(out.result.unwrap_err().ename, "Interrupted");
    let client = drive(c, |mut c| {
        assert_eq!(c.stopped(), ("breakpoint".into(), 7));
        c.ask("continue", json!({}));
    });
    let out = e.execute(&format!("{code}return later()\n"), "/t/i.lua");
    client.join().unwrap();
    assert_eq!(out.result, Ok(Some("7".into())));
}

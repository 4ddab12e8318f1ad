//! [`Debugger`]: the thread-safe half of the debugger, shared by the kernel's control thread and
//! the executor thread. It answers the requests that need no Lua state (initialize, attach,
//! breakpoints, debugInfo, dumpCell, source, pause, disconnect) at once, from shared state, and
//! queues the others as [`Work`] for the executor thread, which serves them wherever it is: its
//! idle loop, the running cell's count hook, or the hook loop of a stopped cell
//! ([`Session`](crate::Session)). Every request gets exactly one response.
//!
//! Messages are DAP (<https://microsoft.github.io/debug-adapter-protocol/specification>):
//! responses `{seq, type: "response", request_seq, success, command, message?, body}`, events
//! `{seq, type: "event", event, body}`. There is one thread, id 1.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Value, json};

use crate::breakpoints::{Breakpoints, FunctionBreakpoint, HitCondition, LineBreakpoint};
use crate::murmur::{HASH_SEED, murmur2};

/// Where events go (the kernel publishes them as `debug_event` on iopub).
pub type EventSink = Arc<dyn Fn(Value) + Send + Sync>;
/// Where one request's response goes.
pub type Reply = Box<dyn FnOnce(Value) + Send>;

/// A request for the executor thread, or an order to resume a stopped cell.
pub struct Work(pub(crate) WorkKind);

pub(crate) enum WorkKind {
    Request(Value, Reply),
    Resume,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            WorkKind::Request(r, _) => write!(f, "Work::Request({})", r["command"]),
            WorkKind::Resume => write!(f, "Work::Resume"),
        }
    }
}

/// Hook modes, read by the hook with one atomic load.
pub(crate) const DETACHED: u8 = 0;
pub(crate) const ATTACHED: u8 = 1;

/// Commands served by the executor thread.
const EXECUTOR_COMMANDS: &[&str] = &[
    "stackTrace",
    "scopes",
    "variables",
    "setVariable",
    "evaluate",
    "inspectVariables",
    "richInspectVariables",
    "copyToGlobals",
    "modules",
    "continue",
    "next",
    "stepIn",
    "stepOut",
];

/// The shared debugger. Cheap to clone.
#[derive(Clone)]
pub struct Debugger(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Debugger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Debugger").field("prefix", &self.0.tmp_prefix).finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    tmp_prefix: String,
    events: EventSink,
    seq: AtomicI64,
    state: Mutex<State>,
    /// [`DETACHED`] or [`ATTACHED`].
    pub(crate) mode: AtomicU8,
    /// Set by `pause`, taken by the count hook.
    pub(crate) pause: AtomicBool,
    /// Work is queued: the count hook of a running cell serves it.
    pub(crate) pending: AtomicBool,
    /// A cell is running (so `pause` means something).
    pub(crate) running: AtomicBool,
    /// The executor is inside the hook loop of a stopped cell.
    pub(crate) stopped: AtomicBool,
    /// Bumped whenever breakpoints change; the hook re-reads them.
    pub(crate) generation: AtomicU64,
    work_tx: Sender<Work>,
    pub(crate) work_rx: Receiver<Work>,
}

#[derive(Default)]
struct State {
    started: bool,
    breakpoints: Arc<Breakpoints>,
    exceptions: Exceptions,
    /// Code of dumped or executed cells, by path.
    sources: HashMap<String, String>,
    next_id: i64,
}

/// Which errors stop (`setExceptionBreakpoints` filters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exceptions {
    pub all: bool,
    pub uncaught: bool,
}

impl Debugger {
    /// A debugger whose cell files are `tmp_prefix + hash + ".lua"`, sending events to `events`.
    pub fn new(tmp_prefix: impl Into<String>, events: EventSink) -> Debugger {
        let (work_tx, work_rx) = crossbeam_channel::unbounded();
        Debugger(Arc::new(Inner {
            tmp_prefix: tmp_prefix.into(),
            events,
            seq: AtomicI64::new(1),
            state: Mutex::default(),
            mode: AtomicU8::new(DETACHED),
            pause: AtomicBool::new(false),
            pending: AtomicBool::new(false),
            running: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            work_tx,
            work_rx,
        }))
    }

    /// The queue the executor's idle loop selects on (pass what arrives to
    /// [`Session::serve`](crate::Session::serve)).
    pub fn work(&self) -> Receiver<Work> {
        self.0.work_rx.clone()
    }

    /// Whether `attach` has started the debugger.
    pub fn is_started(&self) -> bool {
        self.state().started
    }

    /// The chunk name a cell runs under: its dumped path while the debugger is started (so
    /// JupyterLab's breakpoints hit), `None` otherwise. Remembers the code for `source` and for
    /// verifying breakpoints set on that path.
    pub fn cell_path(&self, code: &str) -> Option<String> {
        if !self.is_started() {
            return None;
        }
        let path = self.path_of(code);
        self.note_source(&path, code);
        Some(path)
    }

    /// Remembers `code` as the text of `path`, and verifies breakpoints waiting for it.
    pub fn note_source(&self, path: &str, code: &str) {
        let changed = {
            let mut state = self.state();
            state.sources.insert(path.to_owned(), code.to_owned());
            let Some(set) = state.breakpoints.lines.get(path) else { return };
            if set.iter().all(|b| b.verified) {
                return;
            }
            let mut bps = (*state.breakpoints).clone();
            let mut changed = Vec::new();
            for b in bps.lines.get_mut(path).into_iter().flatten() {
                if let (false, Ok(line)) =
                    (b.verified, crate::breakpoints::verify_line(Some(code), b.requested))
                {
                    b.verified = true;
                    b.line = line;
                    b.message = None;
                    changed.push(breakpoint_json(b, path));
                }
            }
            state.breakpoints = Arc::new(bps);
            self.0.generation.fetch_add(1, Ordering::SeqCst);
            changed
        };
        for bp in changed {
            self.event("breakpoint", json!({"reason": "changed", "breakpoint": bp}));
        }
    }

    fn path_of(&self, code: &str) -> String {
        format!("{}{}.lua", self.0.tmp_prefix, murmur2(code.as_bytes(), HASH_SEED))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn breakpoints(&self) -> Arc<Breakpoints> {
        self.state().breakpoints.clone()
    }

    pub(crate) fn exceptions(&self) -> Exceptions {
        self.state().exceptions
    }

    /// Publishes a DAP event.
    pub(crate) fn event(&self, event: &str, body: Value) {
        let seq = self.0.seq.fetch_add(1, Ordering::SeqCst);
        (self.0.events)(json!({"seq": seq, "type": "event", "event": event, "body": body}));
    }

    /// A DAP response to `request`.
    pub(crate) fn response(&self, request: &Value, result: Result<Value, String>) -> Value {
        let seq = self.0.seq.fetch_add(1, Ordering::SeqCst);
        let mut out = json!({
            "seq": seq, "type": "response",
            "request_seq": request.get("seq").cloned().unwrap_or(json!(0)),
            "command": request.get("command").cloned().unwrap_or(json!("")),
        });
        match result {
            Ok(body) => {
                out["success"] = json!(true);
                out["body"] = body;
            }
            Err(message) => {
                out["success"] = json!(false);
                out["message"] = json!(message);
                out["body"] = json!({});
            }
        }
        out
    }

    /// Answers one DAP request (any JSON: malformed ones get `success: false`). `reply` is
    /// called exactly once, maybe later and from the executor thread.
    pub fn handle(&self, request: Value, reply: Reply) {
        let command = request.get("command").and_then(Value::as_str).unwrap_or("").to_owned();
        if !request.is_object() || command.is_empty() {
            let r = self.response(&request, Err("not a DAP request: no `command`".into()));
            return reply(r);
        }
        if EXECUTOR_COMMANDS.contains(&command.as_str()) {
            return self.forward(request, reply);
        }
        let args = request.get("arguments").cloned().unwrap_or(json!({}));
        let result = match command.as_str() {
            "initialize" => Ok(capabilities()),
            "attach" => {
                self.state().started = true;
                self.0.mode.store(ATTACHED, Ordering::SeqCst);
                Ok(json!({}))
            }
            "configurationDone" => Ok(json!({})),
            "threads" => Ok(json!({"threads": [{"id": 1, "name": "main"}]})),
            "debugInfo" => Ok(self.debug_info()),
            "dumpCell" => self.dump_cell(&args),
            "source" => self.source(&args),
            "setBreakpoints" => self.set_breakpoints(&args),
            "setFunctionBreakpoints" => self.set_function_breakpoints(&args),
            "setExceptionBreakpoints" => self.set_exception_breakpoints(&args),
            "pause" => {
                if self.0.running.load(Ordering::SeqCst) && !self.0.stopped.load(Ordering::SeqCst) {
                    self.0.pause.store(true, Ordering::SeqCst);
                }
                Ok(json!({}))
            }
            "disconnect" => {
                self.disconnect();
                reply(self.response(&request, Ok(json!({}))));
                // DAP: debugging has ended (the debuggee, the kernel, runs on).
                return self.event("terminated", json!({}));
            }
            other => Err(format!("llmspell's debugger does not handle `{other}`")),
        };
        reply(self.response(&request, result));
    }

    fn forward(&self, request: Value, reply: Reply) {
        let work = Work(WorkKind::Request(request, reply));
        self.0.pending.store(true, Ordering::SeqCst);
        if let Err(e) = self.0.work_tx.send(work) {
            // The executor is gone (shutting down): still answer.
            if let WorkKind::Request(request, reply) = e.into_inner().0 {
                reply(self.response(&request, Err("the kernel is shutting down".into())));
            }
        }
    }

    /// Clears every breakpoint, resumes a stopped cell and detaches the hook.
    fn disconnect(&self) {
        {
            let mut state = self.state();
            state.started = false;
            state.breakpoints = Arc::default();
            state.exceptions = Exceptions::default();
        }
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        self.0.mode.store(DETACHED, Ordering::SeqCst);
        self.0.pause.store(false, Ordering::SeqCst);
        if self.0.stopped.load(Ordering::SeqCst) {
            let _ = self.0.work_tx.send(Work(WorkKind::Resume));
        }
    }

    fn debug_info(&self) -> Value {
        let state = self.state();
        let breakpoints: Vec<Value> = state
            .breakpoints
            .lines
            .iter()
            .map(|(source, bps)| {
                let lines: Vec<Value> = bps.iter().map(|b| breakpoint_json(b, source)).collect();
                json!({"source": source, "breakpoints": lines})
            })
            .collect();
        let stopped: Vec<i64> =
            if self.0.stopped.load(Ordering::SeqCst) { vec![1] } else { vec![] };
        json!({
            "isStarted": state.started,
            "hashMethod": "Murmur2",
            "hashSeed": HASH_SEED,
            "tmpFilePrefix": self.0.tmp_prefix,
            "tmpFileSuffix": ".lua",
            "breakpoints": breakpoints,
            "stoppedThreads": stopped,
            "richRendering": true,
            "exceptionPaths": [],
        })
    }

    fn dump_cell(&self, args: &Value) -> Result<Value, String> {
        let code = args.get("code").and_then(Value::as_str).ok_or("dumpCell needs `code`")?;
        let path = self.path_of(code);
        if let Some(dir) = Path::new(&path).parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {dir:?}: {e}"))?;
        }
        std::fs::write(&path, code).map_err(|e| format!("cannot write {path}: {e}"))?;
        self.note_source(&path, code);
        Ok(json!({"sourcePath": path}))
    }

    fn source(&self, args: &Value) -> Result<Value, String> {
        let path = args
            .pointer("/source/path")
            .or_else(|| args.get("path"))
            .and_then(Value::as_str)
            .ok_or("source needs `source.path`")?;
        let known = self.state().sources.get(path).cloned();
        let content = match known {
            Some(code) => code,
            None => {
                std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
            }
        };
        Ok(json!({"content": content, "mimeType": "text/x-lua"}))
    }

    /// The text of `path` for verification: a remembered cell, else the file.
    fn text_of(&self, state: &State, path: &str) -> Option<String> {
        state.sources.get(path).cloned().or_else(|| std::fs::read_to_string(path).ok())
    }

    fn set_breakpoints(&self, args: &Value) -> Result<Value, String> {
        let path = args
            .pointer("/source/path")
            .and_then(Value::as_str)
            .ok_or("setBreakpoints needs `source.path`")?
            .to_owned();
        let asked: Vec<Value> = match args.get("breakpoints") {
            Some(Value::Array(list)) => list.clone(),
            None | Some(Value::Null) => args
                .get("lines")
                .and_then(Value::as_array)
                .map(|ls| ls.iter().map(|l| json!({"line": l})).collect())
                .unwrap_or_default(),
            Some(_) => return Err("`breakpoints` must be an array".into()),
        };
        let mut state = self.state();
        let text = self.text_of(&state, &path);
        let mut set = Vec::new();
        for b in &asked {
            let requested =
                b.get("line").and_then(Value::as_u64).ok_or("a breakpoint needs `line`")? as usize;
            state.next_id += 1;
            let mut bp = LineBreakpoint {
                id: state.next_id,
                requested,
                line: requested,
                verified: false,
                message: None,
                condition: text_field(b, "condition"),
                hit_condition: None,
                log_message: text_field(b, "logMessage"),
            };
            match text_field(b, "hitCondition").map(|h| HitCondition::parse(&h)).transpose() {
                Ok(h) => bp.hit_condition = h,
                Err(message) => bp.message = Some(message),
            }
            if bp.message.is_none() {
                match crate::breakpoints::verify_line(text.as_deref(), requested) {
                    Ok(line) => {
                        bp.line = line;
                        bp.verified = true;
                    }
                    Err(message) => bp.message = Some(message),
                }
            }
            set.push(bp);
        }
        let reply: Vec<Value> = set.iter().map(|b| breakpoint_json(b, &path)).collect();
        let mut all = (*state.breakpoints).clone();
        if set.is_empty() {
            all.lines.remove(&path);
        } else {
            all.lines.insert(path, set);
        }
        state.breakpoints = Arc::new(all);
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"breakpoints": reply}))
    }

    fn set_function_breakpoints(&self, args: &Value) -> Result<Value, String> {
        let asked = args
            .get("breakpoints")
            .and_then(Value::as_array)
            .ok_or("setFunctionBreakpoints needs `breakpoints`")?;
        let mut state = self.state();
        let mut set = Vec::new();
        let mut reply = Vec::new();
        for b in asked {
            let name = b.get("name").and_then(Value::as_str).unwrap_or("").trim().to_owned();
            state.next_id += 1;
            let id = state.next_id;
            let hit = text_field(b, "hitCondition").map(|h| HitCondition::parse(&h)).transpose();
            match (name.is_empty(), hit) {
                (true, _) => reply.push(
                    json!({"id": id, "verified": false, "message": "a function breakpoint needs a name"}),
                ),
                (false, Err(message)) => {
                    reply.push(json!({"id": id, "verified": false, "message": message}))
                }
                (false, Ok(hit_condition)) => {
                    reply.push(json!({"id": id, "verified": true}));
                    set.push(FunctionBreakpoint {
                        id,
                        name,
                        condition: text_field(b, "condition"),
                        hit_condition,
                    });
                }
            }
        }
        let mut all = (*state.breakpoints).clone();
        all.functions = set;
        state.breakpoints = Arc::new(all);
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        Ok(json!({"breakpoints": reply}))
    }

    fn set_exception_breakpoints(&self, args: &Value) -> Result<Value, String> {
        let filters = args
            .get("filters")
            .and_then(Value::as_array)
            .ok_or("setExceptionBreakpoints needs `filters`")?;
        let mut exceptions = Exceptions::default();
        let mut reply = Vec::new();
        for f in filters {
            match f.as_str() {
                Some("all") => exceptions.all = true,
                Some("uncaught") => exceptions.uncaught = true,
                _ => {
                    reply
                        .push(json!({"verified": false, "message": format!("unknown filter {f}")}));
                    continue;
                }
            }
            reply.push(json!({"verified": true}));
        }
        self.state().exceptions = exceptions;
        Ok(json!({"breakpoints": reply}))
    }
}

fn text_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

/// The DAP `Breakpoint` for `b` in `path`.
fn breakpoint_json(b: &LineBreakpoint, path: &str) -> Value {
    let mut v = json!({"id": b.id, "verified": b.verified, "line": b.line,
                       "source": {"path": path}});
    if let Some(m) = &b.message {
        v["message"] = json!(m);
    }
    v
}

/// What `initialize` answers (the contract llmspell-dap relies on).
fn capabilities() -> Value {
    json!({
        "supportsConfigurationDoneRequest": true,
        "supportsConditionalBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsLogPoints": true,
        "supportsFunctionBreakpoints": true,
        "supportsSetVariable": true,
        "supportsEvaluateForHovers": true,
        "supportsDelayedStackTraceLoading": false,
        "exceptionBreakpointFilters": [
            {"filter": "all", "label": "All errors", "default": false},
            {"filter": "uncaught", "label": "Uncaught errors", "default": false},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debugger() -> (Debugger, Arc<Mutex<Vec<Value>>>) {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        let d = Debugger::new(
            "/nonexistent/llmspell-test/",
            Arc::new(move |e| sink.lock().unwrap().push(e)),
        );
        (d, events)
    }

    fn ask(d: &Debugger, request: Value) -> Value {
        let (tx, rx) = crossbeam_channel::bounded(1);
        d.handle(request, Box::new(move |r| tx.send(r).unwrap()));
        rx.recv().unwrap()
    }

    #[test]
    fn malformed_requests_fail_cleanly() {
        let (d, _) = debugger();
        for bad in [json!(null), json!([1]), json!({"seq": 3}), json!({"command": "fly", "seq": 4})]
        {
            let r = ask(&d, bad.clone());
            assert_eq!(r["success"], false, "{bad}");
            assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
        }
        let r = ask(&d, json!({"seq": 5, "command": "setBreakpoints", "arguments": {}}));
        assert_eq!(r["success"], false);
        assert_eq!(r["request_seq"], 5);
    }

    #[test]
    fn debug_info_and_cell_paths() {
        let (d, _) = debugger();
        let info = ask(&d, json!({"seq": 1, "command": "debugInfo"}));
        assert_eq!(info["body"]["isStarted"], false);
        assert_eq!(info["body"]["hashSeed"], 3_339_675_911_u64);
        assert_eq!(d.cell_path("print(1)"), None, "cells keep cell-N until started");
        ask(&d, json!({"seq": 2, "command": "attach"}));
        assert_eq!(d.cell_path("print(1)").unwrap(), "/nonexistent/llmspell-test/3773950048.lua");
    }

    #[test]
    fn breakpoints_verify_against_known_cells_and_later_sources() {
        let (d, events) = debugger();
        ask(&d, json!({"seq": 1, "command": "attach"}));
        let path = d.cell_path("local a = 1\n\nprint(a)\n").unwrap();
        let r = ask(
            &d,
            json!({"seq": 2, "command": "setBreakpoints", "arguments": {
            "source": {"path": path}, "breakpoints": [{"line": 2}, {"line": 9}, {"line": 1, "hitCondition": "> 1"}]}}),
        );
        let bps = &r["body"]["breakpoints"];
        assert_eq!((bps[0]["verified"].clone(), bps[0]["line"].clone()), (json!(true), json!(3)));
        assert_eq!(bps[1]["verified"], false);
        assert!(bps[2]["message"].as_str().unwrap().contains("hit condition"));
        // A path the kernel has not seen yet: unverified until its code arrives.
        let r = ask(
            &d,
            json!({"seq": 3, "command": "setBreakpoints", "arguments": {
            "source": {"path": "/nowhere/x.lua"}, "breakpoints": [{"line": 1}]}}),
        );
        assert_eq!(r["body"]["breakpoints"][0]["verified"], false);
        d.note_source("/nowhere/x.lua", "x = 1");
        let ev = events.lock().unwrap().pop().unwrap();
        assert_eq!(ev["event"], "breakpoint");
        assert_eq!(ev["body"]["breakpoint"]["verified"], true);
        let info = ask(&d, json!({"seq": 4, "command": "debugInfo"}));
        assert_eq!(info["body"]["breakpoints"].as_array().unwrap().len(), 2);
        ask(&d, json!({"seq": 5, "command": "disconnect"}));
        let info = ask(&d, json!({"seq": 6, "command": "debugInfo"}));
        assert_eq!(info["body"]["breakpoints"], json!([]));
        assert_eq!(info["body"]["isStarted"], false);
    }
}

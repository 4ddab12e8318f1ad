//! [`Session`]: the executor thread's half of the debugger. It owns the Lua state's one global
//! hook, which also carries the engine's interrupt check.
//!
//! Cost, by hook mask (set per thread; new coroutines inherit their creator's):
//! - detached, or attached with no line/function breakpoint and no step: the count hook only
//!   (every `interval` instructions), exactly what the engine has without a debugger;
//! - breakpoints exist: call and return events too, and line events only while the running
//!   function's line range holds a breakpoint;
//! - stepping or about to stop: every line.
//!
//! The count hook also notices `pause` and queued [`Work`] (requests that arrive while a cell
//! runs), and corrects a coroutine whose mask is stale. When the program stops, the executor
//! thread stays inside the hook and serves requests until one resumes it; an interrupt ends the
//! wait with the interrupt error (the cell fails with `Interrupted`).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mlua::debug::{Debug, DebugEvent};
use mlua::{HookTriggers, Lua, Value, VmState};
use serde_json::{Value as Json, json};

use crate::breakpoints::{Breakpoints, HitCondition};
use crate::debugger::{ATTACHED, DETACHED, Debugger, Reply, Work, WorkKind};
use crate::inspect::{self, DebugLib};
use crate::step::Step;

/// Returns the interrupt error while an interrupt is pending.
pub type InterruptCheck = Box<dyn Fn() -> Option<mlua::Error>>;

/// Hook masks: the count only; + call events; + return events; + line events.
const COUNT: u8 = 0;
const CALL: u8 = 1;
const CALLS: u8 = 2;
const LINES: u8 = 3;

/// What a variables reference points at (valid until the program resumes or a cell starts).
#[derive(Clone)]
enum VarRef {
    Locals(usize),
    Upvalues(usize),
    Globals,
    Value(Value),
}

#[derive(Default)]
struct HookState {
    breakpoints: Arc<Breakpoints>,
    generation: u64,
    step: Option<Step>,
    /// A function with a breakpoint may be on the stack (it was entered, or the program stopped,
    /// or breakpoints changed while it ran): return events are needed to notice going back to
    /// it. Until then, call events alone suffice. Cleared when a cell starts.
    bp_entered: bool,
    /// Function breakpoint that armed the pending `Next` step.
    pending_hit: Option<i64>,
    hits: HashMap<i64, u64>,
    refs: Vec<VarRef>,
    /// Whether a function (by source path, then first and last line) has a breakpoint on one
    /// of its own lines.
    active: BTreeMap<String, HashMap<(usize, usize), bool>>,
    /// `breakpoints.is_empty()`, kept so call events need not walk the set.
    no_breakpoints: bool,
}

/// Where the executor is when it serves a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Idle,
    Running,
    Stopped,
}

/// How a stop ends.
enum Resume {
    Continue,
    Step(Step),
}

/// The executor-side debugger of one Lua state.
pub struct Session {
    debugger: Debugger,
    lib: DebugLib,
    interrupted: InterruptCheck,
    interval: u32,
    mask: Cell<u8>,
    state: RefCell<HookState>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("mask", &self.mask.get()).finish_non_exhaustive()
    }
}

impl Session {
    /// Installs the global hook on `lua`: every `interval` instructions it checks `interrupted`;
    /// the rest happens only while `debugger` is attached. `lib` is the `debug` library, kept
    /// out of the scripts' globals.
    pub fn install(
        lua: &Lua,
        debugger: Debugger,
        lib: DebugLib,
        interval: u32,
        interrupted: InterruptCheck,
    ) -> mlua::Result<Rc<Session>> {
        let session = Rc::new(Session {
            debugger,
            lib,
            interrupted,
            interval,
            mask: Cell::new(u8::MAX),
            state: RefCell::new(HookState { no_breakpoints: true, ..HookState::default() }),
        });
        session.set_mask(lua, COUNT)?;
        Ok(session)
    }

    fn set_mask(self: &Rc<Self>, lua: &Lua, mask: u8) -> mlua::Result<()> {
        let mut triggers = HookTriggers::new().every_nth_instruction(self.interval);
        if mask >= CALL {
            triggers = triggers.on_calls();
        }
        if mask >= CALLS {
            triggers = triggers.on_returns();
        }
        if mask == LINES {
            triggers = triggers.every_line();
        }
        self.mask.set(mask);
        let me = Rc::downgrade(self);
        lua.set_global_hook(triggers, move |lua, ar| match me.upgrade() {
            Some(session) => session.hook(lua, ar),
            None => Ok(VmState::Continue),
        })
    }

    /// The one hook function.
    fn hook(self: &Rc<Self>, lua: &Lua, ar: &Debug) -> mlua::Result<VmState> {
        if let Some(err) = (self.interrupted)() {
            return Err(err);
        }
        let shared = &self.debugger.0;
        if shared.mode.load(Ordering::Relaxed) == DETACHED {
            if self.mask.get() != COUNT {
                self.set_mask(lua, COUNT)?;
            }
            if shared.pending.load(Ordering::Relaxed) {
                self.serve_queued(lua);
            }
            return Ok(VmState::Continue);
        }
        self.refresh_breakpoints();
        match ar.event() {
            DebugEvent::Count => {
                if shared.pending.load(Ordering::Relaxed) {
                    self.serve_queued(lua);
                }
                if shared.pause.swap(false, Ordering::SeqCst) {
                    self.stop(lua, "pause", &[], None)?;
                }
                // Masks are per thread and this may be a coroutine resumed with an old one: set
                // it again (cheap at this rate) whenever anything beyond the count is wanted.
                let wanted = self.wanted(ar, 0);
                if wanted != COUNT || self.mask.get() != COUNT {
                    self.set_mask(lua, wanted)?;
                }
            }
            DebugEvent::Call | DebugEvent::TailCall => {
                self.function_breakpoint(lua, ar);
                self.update_mask(lua, ar)?;
            }
            DebugEvent::Ret => {
                // The caller is what runs next.
                let wanted = self.wanted_at(lua, 1);
                if wanted != self.mask.get() {
                    self.set_mask(lua, wanted)?;
                }
            }
            DebugEvent::Line => self.line(lua, ar)?,
            DebugEvent::Unknown(_) => {}
        }
        Ok(VmState::Continue)
    }

    fn refresh_breakpoints(&self) {
        let generation = self.debugger.0.generation.load(Ordering::Relaxed);
        let mut st = self.state.borrow_mut();
        if st.generation != generation {
            st.generation = generation;
            st.breakpoints = self.debugger.breakpoints();
            st.no_breakpoints = st.breakpoints.is_empty();
            st.hits.clear();
            st.active.clear();
            st.bp_entered = true;
        }
    }

    fn update_mask(self: &Rc<Self>, lua: &Lua, ar: &Debug) -> mlua::Result<()> {
        let wanted = self.wanted(ar, 0);
        if wanted != self.mask.get() {
            self.set_mask(lua, wanted)?;
        }
        Ok(())
    }

    /// The mask the function `ar` (running at `level`) needs: line events only if one of its
    /// own lines (Lua's `activelines`: not those of functions nested in it) has a breakpoint.
    /// The answer is cached per function until breakpoints change or a cell starts.
    fn wanted(&self, ar: &Debug, level: usize) -> u8 {
        let st = self.state.borrow();
        if self.debugger.0.mode.load(Ordering::Relaxed) != ATTACHED {
            return COUNT;
        }
        if st.step.is_some() {
            return LINES;
        }
        if st.no_breakpoints {
            return COUNT;
        }
        let src = ar.source();
        let other = if st.bp_entered { CALLS } else { CALL };
        let Some(path) = src.source.as_deref().and_then(|s| s.strip_prefix('@')) else {
            return other;
        };
        let Some(bps) = st.breakpoints.lines.get(path) else { return other };
        let key = (src.line_defined.unwrap_or(0), src.last_line_defined.unwrap_or(0));
        if let Some(&hit) = st.active.get(path).and_then(|m| m.get(&key)) {
            return if hit { LINES } else { other };
        }
        let lines: Vec<usize> = bps.iter().filter(|b| b.verified).map(|b| b.line).collect();
        drop(st);
        // A function whose lines cannot be read gets line events: slower, never wrong.
        let hit = self.lib.active_lines(level).is_none_or(|a| lines.iter().any(|l| a.contains(l)));
        let mut st = self.state.borrow_mut();
        st.active.entry(path.to_owned()).or_default().insert(key, hit);
        if hit {
            st.bp_entered = true;
            LINES
        } else if st.bp_entered {
            CALLS
        } else {
            CALL
        }
    }

    fn wanted_at(&self, lua: &Lua, level: usize) -> u8 {
        lua.inspect_stack(level, |d| self.wanted(d, level))
            .unwrap_or_else(|| if self.state.borrow().step.is_some() { LINES } else { CALLS })
    }

    fn function_breakpoint(&self, lua: &Lua, ar: &Debug) {
        let functions = self.state.borrow().breakpoints.functions.clone();
        if functions.is_empty() {
            return;
        }
        let Some(name) = ar.names().name.map(|n| n.into_owned()) else { return };
        for fb in functions {
            let matches = fb.name == name
                || fb.name.rsplit(['.', ':']).next() == Some(name.as_str())
                    && fb.name.contains(['.', ':']);
            if matches && self.passes(lua, fb.id, fb.condition.as_deref(), fb.hit_condition, 0) {
                let mut st = self.state.borrow_mut();
                st.step = Some(Step::Next { reason: "function breakpoint" });
                st.pending_hit = Some(fb.id);
                return;
            }
        }
    }

    /// Condition and hit count of breakpoint `id`, evaluated in the frame at `level`.
    fn passes(
        &self,
        lua: &Lua,
        id: i64,
        condition: Option<&str>,
        hit: Option<HitCondition>,
        level: usize,
    ) -> bool {
        if let Some(cond) = condition {
            match inspect::evaluate(lua, &self.lib, Some(level), cond, false) {
                Ok(values) => {
                    if matches!(values.front(), None | Some(Value::Nil | Value::Boolean(false))) {
                        return false;
                    }
                }
                Err(e) => {
                    let text = format!("breakpoint condition `{cond}` failed: {e}\n");
                    self.debugger.event("output", json!({"category": "console", "output": text}));
                    return false;
                }
            }
        }
        let hits = {
            let mut st = self.state.borrow_mut();
            let n = st.hits.entry(id).or_default();
            *n += 1;
            *n
        };
        hit.is_none_or(|h| h.holds(hits))
    }

    fn line(self: &Rc<Self>, lua: &Lua, ar: &Debug) -> mlua::Result<()> {
        let step = self.state.borrow().step;
        if let Some(step) = step {
            if step.stops_at(depth(lua)) {
                let hit = {
                    let mut st = self.state.borrow_mut();
                    st.step = None;
                    st.pending_hit.take()
                };
                return self.stop(lua, step.reason(), hit.as_slice(), None);
            }
            return Ok(());
        }
        let Some(line) = ar.current_line() else { return Ok(()) };
        let src = ar.source();
        let Some(path) = src.source.as_deref().and_then(|s| s.strip_prefix('@')) else {
            return Ok(());
        };
        let bp = self.state.borrow().breakpoints.at(path, line).cloned();
        let Some(bp) = bp else { return Ok(()) };
        if !self.passes(lua, bp.id, bp.condition.as_deref(), bp.hit_condition, 0) {
            return Ok(());
        }
        match &bp.log_message {
            Some(message) => {
                let text = self.interpolate(lua, message);
                self.debugger.event(
                    "output",
                    json!({"category": "console", "output": format!("{text}\n"),
                           "source": {"path": path}, "line": line}),
                );
                Ok(())
            }
            None => self.stop(lua, "breakpoint", &[bp.id], None),
        }
    }

    /// A log message with each `{expr}` replaced by its value in the current frame.
    fn interpolate(&self, lua: &Lua, message: &str) -> String {
        let mut out = String::new();
        let mut rest = message;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let Some(close) = rest[open..].find('}') else {
                out.push_str(&rest[open..]);
                return out;
            };
            let expr = &rest[open + 1..open + close];
            match inspect::evaluate(lua, &self.lib, Some(0), expr, false) {
                Ok(values) => {
                    let shown: Vec<String> =
                        values.iter().map(|v| inspect::preview(v, true)).collect();
                    out.push_str(&if shown.is_empty() { "nil".into() } else { shown.join("\t") });
                }
                Err(e) => out.push_str(&format!("<error: {e}>")),
            }
            rest = &rest[open + close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Called by the engine's error handler, where the error was raised, before the stack
    /// unwinds: stops with reason `exception` if an exception filter asks for it.
    pub fn on_error(self: &Rc<Self>, lua: &Lua, error: &Value) -> mlua::Result<()> {
        self.exception(lua, error, false)
    }

    /// Stops for an error being raised (`caught`: inside the `pcall` / `xpcall` wrappers) if the
    /// exception filters ask for it.
    fn exception(self: &Rc<Self>, lua: &Lua, error: &Value, caught: bool) -> mlua::Result<()> {
        if self.debugger.0.mode.load(Ordering::Relaxed) != ATTACHED
            || (self.interrupted)().is_some()
        {
            return Ok(());
        }
        let filters = self.debugger.exceptions();
        if !(filters.all || filters.uncaught && !caught) {
            return Ok(());
        }
        let text = match error {
            Value::Error(e) => inspect::clean(e),
            other => inspect::preview(other, true),
        };
        self.stop(lua, "exception", &[], Some(text))
    }

    /// Arms a stop at the first line the next cell runs (`stop_on_entry`).
    pub fn stop_on_entry(&self) {
        self.state.borrow_mut().step = Some(Step::Next { reason: "entry" });
    }

    /// The engine calls this before running a cell.
    pub fn begin_cell(self: &Rc<Self>, lua: &Lua) {
        let shared = &self.debugger.0;
        shared.pause.store(false, Ordering::SeqCst);
        shared.running.store(true, Ordering::SeqCst);
        self.refresh_breakpoints();
        {
            let mut st = self.state.borrow_mut();
            st.refs.clear();
            // The same path may hold new code (a script edited and run again).
            st.active.clear();
            st.bp_entered = false;
        }
        if let Err(e) = self.watch_caught_errors(lua) {
            let output = format!("debugger: cannot watch caught errors: {e}\n");
            self.debugger.event("output", json!({"category": "console", "output": output}));
        }
        let wanted = {
            let st = self.state.borrow();
            if shared.mode.load(Ordering::Relaxed) != ATTACHED {
                COUNT
            } else if st.step.is_some() {
                LINES
            } else if st.breakpoints.is_empty() {
                COUNT
            } else {
                CALL
            }
        };
        if wanted != self.mask.get() {
            let _ = self.set_mask(lua, wanted);
        }
    }

    /// The `all` exception filter also stops on errors that `pcall` / `xpcall` catch. Lua has no
    /// hook for a raised error, so while that filter is on, the global `pcall` and `xpcall` are
    /// wrappers whose message handler stops first (stack intact), then behaves as the original;
    /// the originals come back when the filter is cleared or the debugger detaches (checked as
    /// each cell starts).
    fn watch_caught_errors(self: &Rc<Self>, lua: &Lua) -> mlua::Result<()> {
        let want = self.debugger.0.mode.load(Ordering::Relaxed) == ATTACHED
            && self.debugger.exceptions().all;
        let saved: Option<mlua::Table> = lua.named_registry_value(ORIGINALS)?;
        let globals = lua.globals();
        match (want, saved) {
            (true, None) => {
                let originals = lua.create_table()?;
                originals.raw_set("pcall", globals.raw_get::<Value>("pcall")?)?;
                originals.raw_set("xpcall", globals.raw_get::<Value>("xpcall")?)?;
                let me = Rc::downgrade(self);
                let notice = lua.create_function(move |lua, err: Value| {
                    if let Some(session) = me.upgrade() {
                        let _ = session.exception(lua, &err, true);
                    }
                    Ok(err)
                })?;
                let (pcall, xpcall): (mlua::Function, mlua::Function) = lua
                    .load(WRAPPERS)
                    .set_name(WRAPPER_CHUNK)
                    .call((originals.raw_get::<Value>("xpcall")?, notice))?;
                globals.raw_set("pcall", pcall)?;
                globals.raw_set("xpcall", xpcall)?;
                lua.set_named_registry_value(ORIGINALS, originals)?;
            }
            (false, Some(originals)) => {
                globals.raw_set("pcall", originals.raw_get::<Value>("pcall")?)?;
                globals.raw_set("xpcall", originals.raw_get::<Value>("xpcall")?)?;
                lua.unset_named_registry_value(ORIGINALS)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The engine calls this after a cell (whatever its end).
    pub fn end_cell(&self) {
        self.debugger.0.running.store(false, Ordering::SeqCst);
        let mut st = self.state.borrow_mut();
        st.step = None;
        st.pending_hit = None;
    }

    /// Stops: tells the client, then serves requests until one resumes the program.
    fn stop(
        self: &Rc<Self>,
        lua: &Lua,
        reason: &str,
        hits: &[i64],
        text: Option<String>,
    ) -> mlua::Result<()> {
        let shared = &self.debugger.0;
        shared.stopped.store(true, Ordering::SeqCst);
        shared.pause.store(false, Ordering::SeqCst);
        {
            let mut st = self.state.borrow_mut();
            st.refs.clear();
            // Steps and resumes may return into any frame below: watch returns from now on.
            st.bp_entered = true;
        }
        let mut body = json!({"reason": reason, "threadId": 1, "allThreadsStopped": true});
        if !hits.is_empty() {
            body["hitBreakpointIds"] = json!(hits);
        }
        if let Some(text) = text {
            body["text"] = json!(text);
        }
        self.debugger.event("stopped", body);
        let resume = loop {
            if let Some(err) = (self.interrupted)() {
                shared.stopped.store(false, Ordering::SeqCst);
                self.state.borrow_mut().refs.clear();
                return Err(err);
            }
            match shared.work_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Work(WorkKind::Resume)) => break Resume::Continue,
                Ok(Work(WorkKind::Request(request, reply))) => {
                    if let Some(resume) = self.serve_request(lua, request, reply, Place::Stopped) {
                        break resume;
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break Resume::Continue,
            }
            if shared.mode.load(Ordering::SeqCst) == DETACHED {
                break Resume::Continue;
            }
        };
        shared.stopped.store(false, Ordering::SeqCst);
        {
            let mut st = self.state.borrow_mut();
            st.refs.clear();
            st.step = match resume {
                Resume::Continue => None,
                Resume::Step(step) => Some(step),
            };
        }
        self.debugger.event("continued", json!({"threadId": 1, "allThreadsContinued": true}));
        let wanted = self.wanted_at(lua, 0);
        if wanted != self.mask.get() {
            self.set_mask(lua, wanted)?;
        }
        Ok(())
    }

    /// Serves requests queued while a cell runs (from its count hook).
    fn serve_queued(&self, lua: &Lua) {
        self.debugger.0.pending.store(false, Ordering::SeqCst);
        while let Ok(work) = self.debugger.0.work_rx.try_recv() {
            if let WorkKind::Request(request, reply) = work.0 {
                self.serve_request(lua, request, reply, Place::Running);
            }
        }
    }

    /// Serves one piece of work from the executor's idle loop.
    pub fn serve(&self, lua: &Lua, work: Work) {
        self.debugger.0.pending.store(false, Ordering::SeqCst);
        if let WorkKind::Request(request, reply) = work.0 {
            self.serve_request(lua, request, reply, Place::Idle);
        }
    }

    /// Answers `request`; returns how to resume when it is a resuming request while stopped.
    fn serve_request(
        &self,
        lua: &Lua,
        request: Json,
        reply: Reply,
        place: Place,
    ) -> Option<Resume> {
        let command = request["command"].as_str().unwrap_or("").to_owned();
        let args = request.get("arguments").cloned().unwrap_or(json!({}));
        let stopped = place == Place::Stopped;
        let not_stopped = || Err("the program is not stopped".to_owned());
        let mut resume = None;
        let result = match command.as_str() {
            "continue" | "next" | "stepIn" | "stepOut" if !stopped => not_stopped(),
            "continue" => {
                resume = Some(Resume::Continue);
                Ok(json!({"allThreadsContinued": true}))
            }
            "next" | "stepIn" | "stepOut" => {
                let d = depth(lua);
                resume = Some(Resume::Step(match command.as_str() {
                    "next" => Step::Over { depth: d },
                    "stepIn" => Step::In,
                    _ => Step::Out { depth: d },
                }));
                Ok(json!({}))
            }
            "stackTrace" | "scopes" if !stopped => not_stopped(),
            "stackTrace" => Ok(self.stack_trace(lua, &args)),
            "scopes" => self.scopes(&args),
            "variables" => self.variables(lua, &args),
            "setVariable" => self.set_variable(lua, &args, stopped),
            "evaluate" => self.evaluate(lua, &args, stopped),
            "inspectVariables" => Ok(self.inspect_variables(lua)),
            "richInspectVariables" => self.rich_inspect(lua, &args, stopped),
            "copyToGlobals" => self.copy_to_globals(lua, &args, stopped),
            "modules" => Ok(modules(lua)),
            other => Err(format!("llmspell's debugger does not handle `{other}`")),
        };
        reply(self.debugger.response(&request, result));
        resume
    }

    fn stack_trace(&self, lua: &Lua, args: &Json) -> Json {
        let mut frames = Vec::new();
        let mut level = 0;
        while let Some(frame) = lua.inspect_stack(level, |d| {
            let src = d.source();
            if src.what == "C" || src.source.as_deref() == Some(WRAPPER_CHUNK) {
                return None;
            }
            let name = d.names().name.map(|n| n.into_owned());
            let name = name.unwrap_or_else(|| {
                if src.what == "main" { "main chunk".into() } else { "?".into() }
            });
            let line = d.current_line().unwrap_or(0);
            let mut frame = json!({"id": level + 1, "name": name, "line": line, "column": 1});
            match src.source.as_deref() {
                Some(s) if s.starts_with('@') => {
                    let path = &s[1..];
                    let name = path.rsplit('/').next().unwrap_or(path);
                    frame["source"] = json!({"path": path, "name": name});
                }
                _ => frame["presentationHint"] = json!("subtle"),
            }
            Some(frame)
        }) {
            frames.extend(frame);
            level += 1;
        }
        // The engine's own frames below the cell (none are Lua) are already skipped.
        let total = frames.len();
        let start = args.get("startFrame").and_then(Json::as_u64).unwrap_or(0) as usize;
        let levels = args.get("levels").and_then(Json::as_u64).filter(|&n| n > 0);
        let page: Vec<Json> = frames
            .into_iter()
            .skip(start)
            .take(levels.map_or(usize::MAX, |n| n as usize))
            .collect();
        json!({"stackFrames": page, "totalFrames": total})
    }

    fn new_ref(&self, r: VarRef) -> usize {
        let mut st = self.state.borrow_mut();
        st.refs.push(r);
        st.refs.len()
    }

    fn frame_level(args: &Json) -> Result<usize, String> {
        args.get("frameId")
            .and_then(Json::as_u64)
            .filter(|&id| id > 0)
            .map(|id| id as usize - 1)
            .ok_or_else(|| "a valid `frameId` is needed".to_owned())
    }

    fn scopes(&self, args: &Json) -> Result<Json, String> {
        let level = Self::frame_level(args)?;
        let scope = |name: &str, r: usize, hint: &str, expensive: bool| {
            json!({"name": name, "variablesReference": r, "presentationHint": hint,
                   "expensive": expensive})
        };
        Ok(json!({"scopes": [
            scope("Locals", self.new_ref(VarRef::Locals(level)), "locals", false),
            scope("Upvalues", self.new_ref(VarRef::Upvalues(level)), "upvalues", false),
            scope("Globals", self.new_ref(VarRef::Globals), "globals", true),
        ]}))
    }

    fn lookup(&self, args: &Json) -> Result<VarRef, String> {
        let r = args.get("variablesReference").and_then(Json::as_u64).unwrap_or(0) as usize;
        let st = self.state.borrow();
        r.checked_sub(1)
            .and_then(|i| st.refs.get(i).cloned())
            .ok_or_else(|| format!("variablesReference {r} is not valid (any more)"))
    }

    /// A DAP `Variable` for `value` named `name`.
    fn variable(&self, name: String, value: &Value) -> Json {
        let reference = match value {
            Value::Table(_) => self.new_ref(VarRef::Value(value.clone())),
            _ => 0,
        };
        json!({"name": name, "value": inspect::preview(value, false),
               "type": value.type_name(), "variablesReference": reference})
    }

    fn entries(&self, lua: &Lua, r: &VarRef) -> Vec<(String, Value)> {
        match r {
            VarRef::Locals(level) => {
                self.lib.locals(*level).into_iter().map(|(_, n, v)| (n, v)).collect()
            }
            VarRef::Upvalues(level) => inspect::function_at(lua, *level)
                .map(|f| self.lib.upvalues(&f).into_iter().map(|(_, n, v)| (n, v)).collect())
                .unwrap_or_default(),
            VarRef::Globals => inspect::children(&lua.globals())
                .into_iter()
                .map(|(k, v)| (inspect::key_name(&k), v))
                .collect(),
            VarRef::Value(Value::Table(t)) => {
                let mut out: Vec<(String, Value)> = inspect::children(t)
                    .into_iter()
                    .map(|(k, v)| (inspect::key_name(&k), v))
                    .collect();
                if let Some(meta) = t.metatable() {
                    out.push(("[metatable]".into(), Value::Table(meta)));
                }
                out
            }
            VarRef::Value(_) => Vec::new(),
        }
    }

    fn variables(&self, lua: &Lua, args: &Json) -> Result<Json, String> {
        let r = self.lookup(args)?;
        let start = args.get("start").and_then(Json::as_u64).unwrap_or(0) as usize;
        let count = args.get("count").and_then(Json::as_u64).filter(|&c| c > 0);
        let entries = self.entries(lua, &r);
        let vars: Vec<Json> = entries
            .into_iter()
            .skip(start)
            .take(count.map_or(usize::MAX, |c| c as usize))
            .map(|(name, value)| self.variable(name, &value))
            .collect();
        Ok(json!({"variables": vars}))
    }

    fn set_variable(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let r = self.lookup(args)?;
        let name = args.get("name").and_then(Json::as_str).ok_or("setVariable needs `name`")?;
        let text = args.get("value").and_then(Json::as_str).ok_or("setVariable needs `value`")?;
        let frame = match r {
            VarRef::Locals(l) | VarRef::Upvalues(l) if stopped => Some(l),
            VarRef::Locals(_) | VarRef::Upvalues(_) => return Err("not stopped".into()),
            _ if stopped => Some(0),
            _ => None,
        };
        let value = inspect::evaluate(lua, &self.lib, frame, text, false)?
            .into_iter()
            .next()
            .unwrap_or(Value::Nil);
        let failed = |e: mlua::Error| inspect::clean(&e);
        match &r {
            VarRef::Locals(level) => {
                let (index, ..) = self
                    .lib
                    .locals(*level)
                    .into_iter()
                    .rev()
                    .find(|(_, n, _)| n == name)
                    .ok_or_else(|| format!("no local `{name}`"))?;
                self.lib.set_local(*level, index, value.clone()).map_err(failed)?;
            }
            VarRef::Upvalues(level) => {
                let f = inspect::function_at(lua, *level).ok_or("no such frame")?;
                let (index, ..) = self
                    .lib
                    .upvalues(&f)
                    .into_iter()
                    .find(|(_, n, _)| n == name)
                    .ok_or_else(|| format!("no upvalue `{name}`"))?;
                self.lib.set_upvalue(&f, index, value.clone()).map_err(failed)?;
            }
            VarRef::Globals => lua.globals().set(name, value.clone()).map_err(failed)?,
            VarRef::Value(Value::Table(t)) => {
                let key = table_key(lua, &self.lib, name)?;
                t.set(key, value.clone()).map_err(failed)?;
            }
            VarRef::Value(_) => return Err("this variable has no children".into()),
        }
        let v = self.variable(name.to_owned(), &value);
        Ok(json!({"value": v["value"], "type": v["type"],
                  "variablesReference": v["variablesReference"]}))
    }

    fn evaluate(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let expr =
            args.get("expression").and_then(Json::as_str).ok_or("evaluate needs `expression`")?;
        let frame = match args.get("frameId") {
            Some(_) if !stopped => return Err("the program is not stopped".into()),
            Some(_) => Some(Self::frame_level(args)?),
            None => None,
        };
        let repl = args.get("context").and_then(Json::as_str) == Some("repl");
        let values = inspect::evaluate(lua, &self.lib, frame, expr, repl)?;
        let first = values.iter().next().cloned().unwrap_or(Value::Nil);
        let shown: Vec<String> = values.iter().map(|v| inspect::preview(v, false)).collect();
        let v = self.variable(String::new(), &first);
        Ok(json!({"result": if shown.is_empty() { String::new() } else { shown.join("\t") },
                  "type": v["type"], "variablesReference": v["variablesReference"]}))
    }

    /// The globals a user defined (not the standard library's or llmspell's).
    fn inspect_variables(&self, lua: &Lua) -> Json {
        let builtin = builtin_names(lua);
        let vars: Vec<Json> = inspect::children(&lua.globals())
            .into_iter()
            .filter(
                |(k, _)| !matches!(k, Value::String(s) if builtin.contains(&s.to_string_lossy())),
            )
            .map(|(k, v)| self.variable(inspect::key_name(&k), &v))
            .collect();
        json!({"variables": vars})
    }

    fn rich_inspect(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let name = args
            .get("variableName")
            .and_then(Json::as_str)
            .ok_or("richInspectVariables needs `variableName`")?;
        let frame = match args.get("frameId") {
            Some(_) if stopped => Some(Self::frame_level(args)?),
            _ => None,
        };
        let values = inspect::evaluate(lua, &self.lib, frame, name, false)?;
        let v = values.iter().next().cloned().unwrap_or(Value::Nil);
        Ok(json!({"data": {"text/plain": inspect::preview(&v, false)}, "metadata": {}}))
    }

    fn copy_to_globals(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let src = args
            .get("srcVariableName")
            .and_then(Json::as_str)
            .ok_or("copyToGlobals needs `srcVariableName`")?;
        let dst = args
            .get("dstVariableName")
            .and_then(Json::as_str)
            .ok_or("copyToGlobals needs `dstVariableName`")?;
        if !stopped {
            return Err("copyToGlobals copies from a frame: the program is not stopped".into());
        }
        let level = args
            .get("srcFrameId")
            .and_then(Json::as_u64)
            .filter(|&id| id > 0)
            .map(|id| id as usize - 1)
            .ok_or("copyToGlobals needs `srcFrameId`")?;
        let (_, _, value) = self
            .lib
            .locals(level)
            .into_iter()
            .rev()
            .find(|(_, n, _)| n == src)
            .ok_or_else(|| format!("no local `{src}` in that frame"))?;
        lua.globals().set(dst, value).map_err(|e| inspect::clean(&e))?;
        Ok(json!({}))
    }
}

/// Registry key of the original `pcall` / `xpcall` while the wrappers are installed.
const ORIGINALS: &str = "llmspell.debug.pcall";
/// Chunk name of the wrappers; their frames are left out of stack traces.
const WRAPPER_CHUNK: &str = "=(debugger)";
const WRAPPERS: &str = "local xpcall, notice = ...
return function(f, ...) return xpcall(f, notice, ...) end,
  function(f, handler, ...)
    return xpcall(f, function(e) notice(e) return handler(e) end, ...)
  end";

/// Number of frames on the running thread's stack.
fn depth(lua: &Lua) -> usize {
    let mut n = 0;
    while lua.inspect_stack(n, |_| ()).is_some() {
        n += 1;
    }
    n
}

/// The key a variable name stands for in table `t`: `name`, or `[expr]`.
fn table_key(lua: &Lua, lib: &DebugLib, name: &str) -> Result<Value, String> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(expr) => inspect::evaluate(lua, lib, None, expr, false)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("`{expr}` is not a key")),
        None => lua.create_string(name).map(Value::String).map_err(|e| e.to_string()),
    }
}

/// Names the user did not define: the standard library and llmspell's globals, recorded in
/// the registry by the engine at start (see [`record_builtins`]).
fn builtin_names(lua: &Lua) -> Vec<String> {
    lua.named_registry_value::<Vec<String>>(BUILTINS).unwrap_or_default()
}

const BUILTINS: &str = "llmspell.debug.builtins";

/// Records the current globals as built in (not shown by `inspectVariables`).
pub fn record_builtins(lua: &Lua) -> mlua::Result<()> {
    let names: Vec<String> = lua
        .globals()
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .filter_map(|(k, _)| match k {
            Value::String(s) => Some(s.to_string_lossy()),
            _ => None,
        })
        .collect();
    lua.set_named_registry_value(BUILTINS, names)
}

/// `modules`: what `require` has loaded.
fn modules(lua: &Lua) -> Json {
    let loaded: Option<mlua::Table> =
        lua.globals().get::<mlua::Table>("package").and_then(|p| p.get("loaded")).ok();
    let mut list = Vec::new();
    if let Some(loaded) = loaded {
        for (k, _) in inspect::children(&loaded) {
            if let Value::String(s) = k {
                let name = s.to_string_lossy();
                list.push(json!({"id": name, "name": name}));
            }
        }
    }
    json!({"modules": list, "totalModules": list.len()})
}

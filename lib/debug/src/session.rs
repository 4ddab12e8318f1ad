//! [`Session`]: the executor thread's half of the debugger. It owns the Lua state's one global
//! hook, which also carries the engine's interrupt check.
//!
//! Cost, by hook mask (set per thread; new coroutines inherit their creator's):
//! - detached, or attached with no line/function breakpoint and no step: the count hook only
//!   (every `interval` instructions), exactly what the engine has without a debugger;
//! - breakpoints exist: call and return events too (most of them dropped before mlua by the
//!   call filter, `filter.rs`), and line events only while the running function's own lines
//!   hold a breakpoint;
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
use serde_json::json;

use crate::breakpoints::{Breakpoints, HitCondition};
use crate::debugger::{ATTACHED, DETACHED, Debugger, Work, WorkKind};
use crate::inspect::{self, DebugLib};
use crate::step::Step;

mod filter;
mod requests;

pub use requests::record_builtins;

/// Returns the interrupt error while an interrupt is pending.
pub type InterruptCheck = Box<dyn Fn() -> Option<mlua::Error>>;

/// Hook masks: the count only; + call events; + return events; + line events.
const COUNT: u8 = 0;
const CALL: u8 = 1;
const CALLS: u8 = 2;
const LINES: u8 = 3;

/// The `LUA_MASK*` bits of a hook mask.
fn mask_bits(mask: u8) -> std::ffi::c_int {
    use mlua::ffi::{LUA_MASKCALL, LUA_MASKCOUNT, LUA_MASKLINE, LUA_MASKRET};
    match mask {
        COUNT => LUA_MASKCOUNT,
        CALL => LUA_MASKCOUNT | LUA_MASKCALL,
        CALLS => LUA_MASKCOUNT | LUA_MASKCALL | LUA_MASKRET,
        _ => LUA_MASKCOUNT | LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE,
    }
}

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
        })?;
        self.tell_filter();
        filter::front(lua)
    }

    /// Arms `step` (or disarms it, with `None`) and tells the call filter, whose mode depends
    /// on it: the one place the armed step changes.
    fn arm(&self, step: Option<Step>) {
        self.state.borrow_mut().step = step;
        self.tell_filter();
    }

    /// Tells the call filter what it may drop in the current mask and step state; called
    /// whenever either changes.
    fn tell_filter(&self) {
        let stepping = self.state.borrow().step.is_some();
        filter::set_mode(match self.mask.get() {
            CALL | CALLS => filter::Mode::Calls,
            LINES if !stepping => filter::Mode::Lines,
            _ => filter::Mode::Forward,
        });
    }

    /// The one hook function.
    fn hook(self: &Rc<Self>, lua: &Lua, ar: &Debug) -> mlua::Result<VmState> {
        let outcome = self.handle(lua, ar);
        if outcome.is_err() {
            // mlua raises the error: the Lua stack unwinds past the filter's frame too.
            filter::left_hook();
        }
        outcome
    }

    fn handle(self: &Rc<Self>, lua: &Lua, ar: &Debug) -> mlua::Result<VmState> {
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
                    self.refresh_breakpoints();
                }
                if shared.pause.swap(false, Ordering::SeqCst) {
                    self.stop(lua, "pause", &[], None)?;
                }
                // Masks are per thread and this may be a coroutine resumed with an old one: set
                // it again when the thread's mask is not the wanted one (when the filter cannot
                // tell, whenever anything beyond the count is wanted).
                let wanted = self.wanted(ar, 0);
                let stale = match filter::event_thread_mask() {
                    Some(bits) => bits != mask_bits(wanted),
                    None => wanted != COUNT,
                };
                if stale || self.mask.get() != wanted {
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
            filter::configure(&st.breakpoints);
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
                self.state.borrow_mut().pending_hit = Some(fb.id);
                self.arm(Some(Step::Next { reason: "function breakpoint" }));
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
                let hit = self.state.borrow_mut().pending_hit.take();
                self.arm(None);
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
        self.arm(Some(Step::Next { reason: "entry" }));
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
        // Another engine on this thread may have used the filter since.
        filter::left_hook();
        filter::configure(&self.state.borrow().breakpoints);
        let _ = self.set_mask(lua, wanted);
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
        self.state.borrow_mut().pending_hit = None;
        self.arm(None);
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
        // Breakpoints set while stopped hold from the very next line on: the mask and the call
        // filter are judged by them, not by the set the stop began with.
        self.refresh_breakpoints();
        self.state.borrow_mut().refs.clear();
        self.arm(match resume {
            Resume::Continue => None,
            Resume::Step(step) => Some(step),
        });
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

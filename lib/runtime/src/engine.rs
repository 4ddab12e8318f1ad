//! [`Engine`]: one Lua state, its llmspell globals, and the execute / evaluate entry points.
//!
//! Chunk names: a cell is loaded with the name `"@" + chunk_name`, so Lua shows `chunk_name`
//! verbatim in messages and tracebacks (`cell-3:1: boom`) and a debugger sees a file-style source
//! when the kernel passes a path.
//!
//! Results: as in `lua.c`, `return <code>` is tried first so a bare expression yields its values;
//! otherwise the code runs as statements. Values are rendered (see [`render`](crate::render))
//! and joined with tabs; no values, or a single `nil`, show nothing.
//!
//! Interrupts: a global count hook (every [`HOOK_INTERVAL`] VM instructions, inherited by every
//! coroutine because Lua copies the hook into new threads) raises an `Interrupted` error while
//! the flag is set. The flag stays set until the cell ends, so a `pcall` in the script cannot
//! swallow the interrupt: the next hook raises it again, and a cell that ends normally after
//! catching it still fails with `Interrupted`. The flag is cleared before and after every
//! execution.
//!
//! Debugging: the hook is one function. Without a debugger it is exactly the count hook above;
//! [`Engine::attach_debugger`] hands it to an [`llmspell_debug::Session`], which adds call, return
//! and line events only while a client needs them. The `debug` library, which the debugger
//! needs for locals and upvalues, is loaded but kept out of the scripts' reach (see
//! [`new_lua`]).

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use llmspell_debug::{DebugLib, Debugger, Session};
use mlua::chunk::ChunkMode;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};

use crate::errors::{self, Interrupted};
use crate::host::Host;
use crate::{
    Completeness, Completion, EngineError, Frontend, Inspection, InterruptHandle, Outcome,
    ScriptError, complete, completeness, globals, inspect, llm, render, tools,
};

/// VM instructions between two checks of the interrupt flag.
pub const HOOK_INTERVAL: u32 = 1000;

/// How many trailing lines may form a cell's final bare expression.
const MAX_TAIL_LINES: usize = 20;

/// The Lua engine of one kernel. Lives on one thread.
pub struct Engine {
    lua: Lua,
    host: Host,
    interrupt: InterruptHandle,
    /// The standard `xpcall`, kept so a script that replaces the global cannot break execution.
    xpcall: Function,
    /// The `debug` library functions, hidden from scripts.
    debug_lib: DebugLib,
    /// The attached debugger and its session on the current state.
    debugger: Option<(Debugger, Rc<Session>)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("interrupt", &self.interrupt).finish_non_exhaustive()
    }
}

impl Engine {
    /// A fresh Lua state (the safe standard libraries, without `debug`) with the llmspell globals.
    pub fn new(frontend: Box<dyn Frontend>) -> Result<Engine, EngineError> {
        let host = Host::new(frontend);
        let interrupt = InterruptHandle::default();
        let (lua, xpcall, debug_lib) = new_state(&host, &interrupt)?;
        Ok(Engine { lua, host, interrupt, xpcall, debug_lib, debugger: None })
    }

    /// Lets `debugger` drive this engine: its hook replaces the plain interrupt hook (and
    /// keeps the interrupt check). Survives [`reset`](Engine::reset).
    pub fn attach_debugger(&mut self, debugger: Debugger) -> Result<(), EngineError> {
        let session = install_session(&self.lua, &debugger, &self.debug_lib, &self.interrupt)?;
        self.debugger = Some((debugger, session));
        Ok(())
    }

    /// Serves a debugger request that needs the Lua state, while no cell runs. An `evaluate`
    /// runs under the interrupt hook like a cell (the caller marks itself busy so that an
    /// interrupt reaches it).
    pub fn serve_debug(&mut self, work: llmspell_debug::Work) {
        if let Some((_, session)) = &self.debugger {
            self.interrupt.clear();
            session.serve(&self.lua, work);
            self.interrupt.clear();
        }
    }

    /// Makes the debugger stop at the first line of the next execution (reason `entry`).
    pub fn debug_stop_on_entry(&mut self) {
        if let Some((_, session)) = &self.debugger {
            session.stop_on_entry();
        }
    }

    /// A handle that interrupts this engine's executions from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.interrupt.clone()
    }

    /// Run one cell; `chunk_name` names it in errors and tracebacks (see the module doc).
    pub fn execute(&mut self, code: &str, chunk_name: &str) -> Outcome {
        self.interrupt.clear();
        self.host.take_pager();
        if let Some((_, session)) = &self.debugger {
            session.begin_cell(&self.lua);
        }
        let result = self.compile(code, chunk_name).and_then(|f| self.run(f));
        if let Some((_, session)) = &self.debugger {
            session.end_cell();
        }
        self.interrupt.clear();
        let result = result.map(|values| {
            let shown: Vec<&Value> = values.iter().collect();
            match shown.as_slice() {
                [] | [Value::Nil] => None,
                vs => Some(render::render_all(&self.lua, vs.iter().copied())),
            }
        });
        Outcome { result, pager: self.host.take_pager() }
    }

    /// Evaluate one expression (Jupyter `user_expressions`) and render its values, tab-separated
    /// (`nil` for a single nil, empty for no values).
    pub fn eval_expression(&mut self, expr: &str) -> Result<String, ScriptError> {
        self.interrupt.clear();
        let f = self
            .lua
            .load(format!("return {expr}"))
            .set_name("=user_expression")
            .set_mode(ChunkMode::Text)
            .into_function()
            .map_err(|e| errors::syntax(&e));
        let result = f.and_then(|f| self.run(f));
        self.interrupt.clear();
        result.map(|vs| render::render_all(&self.lua, vs.iter()))
    }

    /// Completion for the identifier or field path ending at `cursor_pos` (code points).
    pub fn complete(&mut self, code: &str, cursor_pos: usize) -> Completion {
        complete::complete(&self.lua, code, cursor_pos)
    }

    /// Documentation or a value summary for the name at `cursor_pos` (code points).
    pub fn inspect(
        &mut self,
        code: &str,
        cursor_pos: usize,
        detail_level: u8,
    ) -> Option<Inspection> {
        inspect::inspect(&self.lua, code, cursor_pos, detail_level)
    }

    /// Whether `code` is a complete cell, according to the Lua parser.
    pub fn is_complete(&mut self, code: &str) -> Completeness {
        completeness::is_complete(&self.lua, code)
    }

    /// Give scripts a `State` global backed by the store at `path`, opened lazily on first use
    /// (so kernels that never use `State` create no file). Survives [`reset`](Engine::reset).
    /// Without it, every `State` call raises "State is not available".
    pub fn attach_state(&mut self, path: PathBuf) {
        self.host.state().attach(path);
    }

    /// Checkpoint and close the store if open (graceful shutdown). A later `State` call opens it
    /// again.
    pub fn close_state(&mut self) -> Result<(), String> {
        self.host.state().close()
    }

    /// Give scripts a `Tool` global backed by `registry` (the kernel passes the one its
    /// `tool_request` path serves). Survives [`reset`](Engine::reset). Without it, every `Tool`
    /// call raises "Tool is not available".
    pub fn attach_tools(&mut self, registry: Arc<llmspell_tools::Registry>) {
        self.host.tools().attach(registry);
    }

    /// Give `Provider` and `Agent` the LLM providers of config.toml. Survives
    /// [`reset`](Engine::reset). Without it, every agent fails with "no LLM provider configured".
    pub fn attach_providers(&mut self, providers: Arc<llmspell_llm::Providers>) {
        self.host.providers().attach(providers);
    }

    /// Replace the Lua state with a fresh one; the frontend, interrupt handle, state store and
    /// tool registry stay.
    pub fn reset(&mut self) -> Result<(), EngineError> {
        let (lua, xpcall, debug_lib) = new_state(&self.host, &self.interrupt)?;
        if let Some((debugger, session)) = &mut self.debugger {
            *session = install_session(&lua, debugger, &debug_lib, &self.interrupt)?;
        }
        self.lua = lua;
        self.xpcall = xpcall;
        self.debug_lib = debug_lib;
        self.interrupt.clear();
        self.host.take_pager();
        Ok(())
    }

    /// What a cell's result is, as in a notebook: `return <code>` if that compiles; else the
    /// statements with `return (...)` around the last line (so a final call such as
    /// `string.format(...)` shows its value); else the plain statements; else statements followed
    /// by a multi-line final expression (`x = 6\nx * 7`). Line numbers stay those of the cell;
    /// an invalid cell reports the plain statements' error.
    fn compile(&self, code: &str, chunk_name: &str) -> Result<Function, ScriptError> {
        let name = format!("@{chunk_name}");
        let load = |src: String| {
            self.lua.load(src).set_name(name.clone()).set_mode(ChunkMode::Text).into_function()
        };
        if let Ok(f) = load(format!("return {code}")) {
            return Ok(f);
        }
        let lines: Vec<&str> = code.split_inclusive('\n').collect();
        // Parenthesised so a final call is not a tail call: the traceback keeps the cell's frame.
        // The `)` goes on the last line of the cell (so a debugger never shows a line past the
        // end), or on a line of its own when a comment could swallow it.
        let with_return = |split: usize| {
            let tail = lines[split..].concat();
            let tail = tail.trim_end();
            let close = if tail.contains("--") { "\n)" } else { ")" };
            format!("{}return ({tail}{close}", lines[..split].concat())
        };
        // The last line with code on it (trailing blanks and comments may follow it).
        let last = lines.iter().rposition(|l| {
            let l = l.trim();
            !l.is_empty() && !l.starts_with("--")
        });
        if let Some(f) = last.filter(|&i| i > 0).and_then(|i| load(with_return(i)).ok()) {
            return Ok(f);
        }
        let statements_error = match load(code.into()) {
            Ok(f) => return Ok(f),
            Err(e) => e,
        };
        let first = lines.len().saturating_sub(MAX_TAIL_LINES).max(1);
        for split in (first..lines.len()).rev() {
            if let Ok(f) = load(with_return(split)) {
                return Ok(f);
            }
        }
        Err(errors::syntax(&statements_error))
    }

    /// Call `f` under `xpcall` with a message handler that captures the raised value and a Lua
    /// traceback taken where the error happened.
    fn run(&self, f: Function) -> Result<MultiValue, ScriptError> {
        let captured: Rc<RefCell<Option<(Value, String)>>> = Rc::default();
        let slot = captured.clone();
        let session = self.debugger.as_ref().map(|(_, s)| s.clone());
        let handler = self
            .lua
            .create_function(move |lua, err: Value| {
                // Level 1 is the function that raised the error, as in lua.c's msghandler.
                let tb = lua.traceback(None, 1).map(|s| s.to_string_lossy()).unwrap_or_default();
                *slot.borrow_mut() = Some((err.clone(), tb));
                // The stack is still whole here: an exception breakpoint stops now. An error
                // from the stop is an interrupt, which the flag already reports.
                if let Some(session) = &session {
                    let _ = session.on_error(lua, &err);
                }
                Ok(err)
            })
            .map_err(|e| errors::internal(&e))?;
        let mut out: MultiValue = self
            .xpcall
            .call((f, handler))
            .map_err(|e| self.failure(Value::Error(Box::new(e)), None))?;
        let ok = matches!(out.pop_front(), Some(Value::Boolean(true)));
        if ok && !self.interrupt.is_set() {
            return Ok(out);
        }
        if ok {
            // The script caught the interrupt (pcall, coroutine.resume) and then finished.
            return Err(errors::interrupted(None));
        }
        let raised = out.pop_front().unwrap_or(Value::Nil);
        let captured = captured.borrow_mut().take();
        match captured {
            Some((value, tb)) => Err(self.failure(value, Some(&tb))),
            None => Err(self.failure(raised, None)),
        }
    }

    fn failure(&self, value: Value, traceback: Option<&str>) -> ScriptError {
        if self.interrupt.is_set() {
            return errors::interrupted(traceback);
        }
        errors::runtime(&self.lua, &value, traceback)
    }
}

/// A new state with the llmspell globals and the interrupt hook; also returns its `xpcall` and
/// the hidden `debug` library.
fn new_state(
    host: &Host,
    interrupt: &InterruptHandle,
) -> Result<(Lua, Function, DebugLib), EngineError> {
    let lua = new_lua();
    let debug_lib = hide_debug_library(&lua).map_err(EngineError::State)?;
    globals::install(&lua, host).map_err(EngineError::Globals)?;
    tools::install(&lua, host.tools(), interrupt).map_err(EngineError::Globals)?;
    llm::install(&lua, host, interrupt).map_err(EngineError::Globals)?;
    let flag = interrupt.clone();
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(HOOK_INTERVAL), move |_, _| {
        if flag.is_set() { Err(mlua::Error::external(Interrupted)) } else { Ok(VmState::Continue) }
    })
    .map_err(EngineError::Globals)?;
    llmspell_debug::record_builtins(&lua).map_err(EngineError::Globals)?;
    let xpcall = lua.globals().raw_get("xpcall").map_err(EngineError::Globals)?;
    Ok((lua, xpcall, debug_lib))
}

/// The safe standard libraries plus `debug`.
///
/// Why `unsafe`: the debugger reads and writes a paused function's locals and upvalues, which
/// mlua offers only through the `debug` library (`getlocal`, `setlocal`, `getupvalue`,
/// `setupvalue`), and mlua refuses to load that library into a safe state. The library can
/// break Lua's memory safety only when scripts can call it; [`hide_debug_library`] removes it
/// from the globals and from `package.loaded` before any script runs, and closes the C-module
/// loaders exactly as mlua's safe mode does.
#[allow(unsafe_code)]
fn new_lua() -> Lua {
    // SAFETY: see above; scripts never see `debug`, `package.loadlib` or the C searchers.
    unsafe { Lua::unsafe_new_with(StdLib::ALL_SAFE | StdLib::DEBUG, LuaOptions::default()) }
}

/// Takes `debug` away from scripts (keeping its functions for the debugger) and disables C
/// modules, as a safe state would.
fn hide_debug_library(lua: &Lua) -> mlua::Result<DebugLib> {
    let globals = lua.globals();
    let debug: Table = globals.raw_get("debug")?;
    let lib = DebugLib::from_table(&debug)?;
    globals.raw_set("debug", Value::Nil)?;
    let package: Table = globals.raw_get("package")?;
    let loaded: Table = package.raw_get("loaded")?;
    loaded.raw_set("debug", Value::Nil)?;
    package.raw_set(
        "loadlib",
        lua.create_function(|_, ()| -> mlua::Result<()> {
            Err(mlua::Error::runtime("package.loadlib is disabled"))
        })?,
    )?;
    package.raw_set("cpath", "")?;
    let searchers: Table = package.raw_get("searchers")?;
    let refuse = lua.create_function(|_, ()| Ok("\n\tC modules are disabled"))?;
    searchers.raw_set(3, refuse)?;
    if searchers.raw_len() >= 4 {
        searchers.raw_remove(4)?;
    }
    Ok(lib)
}

/// A debugger session on `lua`, whose hook keeps the interrupt check.
fn install_session(
    lua: &Lua,
    debugger: &Debugger,
    lib: &DebugLib,
    interrupt: &InterruptHandle,
) -> Result<Rc<Session>, EngineError> {
    let flag = interrupt.clone();
    let interrupted = Box::new(move || flag.is_set().then(|| mlua::Error::external(Interrupted)));
    Session::install(lua, debugger.clone(), lib.clone(), HOOK_INTERVAL, interrupted)
        .map_err(EngineError::Globals)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::testutil::{engine, error, run, value};

    #[test]
    fn expressions_and_statements() {
        let (mut e, _) = engine();
        assert_eq!(value(&mut e, "6*7"), Some("42".into()));
        assert_eq!(value(&mut e, "x = 5"), None);
        assert_eq!(value(&mut e, "x"), Some("5".into()));
        assert_eq!(value(&mut e, "return 1, nil, 'a'"), Some("1\tnil\t\"a\"".into()));
        assert_eq!(value(&mut e, "return nil"), None);
        assert_eq!(value(&mut e, "x = 6\nprint(x)\nx * 7"), Some("42".into()));
        assert_eq!(
            value(&mut e, "local n = 2\nstring.rep('ab', n)\n-- done\n"),
            Some("\"abab\"".into())
        );
        assert_eq!(value(&mut e, "local n = 2\nprint(n)"), None);
        assert_eq!(value(&mut e, "for i = 1, 2 do\n  local _ = i\nend"), None);
        assert_eq!(value(&mut e, "local t = {}\nt.a = 1\n{\n  t.a,\n  2}"), Some("{1, 2}".into()));
        assert_eq!(value(&mut e, ""), None);
        assert_eq!(value(&mut e, "local y = 1"), None);
    }

    #[test]
    fn syntax_error_names_the_chunk() {
        let (mut e, _) = engine();
        let err = e.execute("x = = 1", "cell-3").result.unwrap_err();
        assert_eq!(err.ename, "SyntaxError");
        assert_eq!(err.evalue, "cell-3:1: unexpected symbol near '='");
        assert_eq!(err.traceback, vec!["SyntaxError: cell-3:1: unexpected symbol near '='"]);
    }

    #[test]
    fn runtime_error_has_a_lua_traceback() {
        let (mut e, _) = engine();
        let err = e
            .execute("local function f()\n  error('boom')\nend\nf()", "cell-7")
            .result
            .unwrap_err();
        assert_eq!(err.ename, "RuntimeError");
        assert_eq!(err.evalue, "cell-7:2: boom");
        assert_eq!(
            err.traceback,
            vec![
                "RuntimeError: cell-7:2: boom",
                "stack traceback:",
                "  [C]: in function 'error'",
                "  cell-7:2: in local 'f'",
                "  cell-7:4: in main chunk",
            ]
        );
    }

    #[test]
    fn runtime_error_from_operators_and_tables() {
        let (mut e, _) = engine();
        let err = error(&mut e, "local t = nil\nreturn t.x");
        assert_eq!(err.ename, "RuntimeError");
        assert!(err.evalue.starts_with("cell-1:2: attempt to index a nil value"), "{err:?}");
        let err = error(&mut e, "error({code = 2})");
        assert_eq!(err.evalue, "{code = 2}");
        let err = error(&mut e, "error()");
        assert_eq!(err.evalue, "nil");
    }

    #[test]
    fn path_chunk_names_are_verbatim() {
        let (mut e, _) = engine();
        let err = e.execute("error('boom')", "/tmp/x.lua").result.unwrap_err();
        assert_eq!(err.evalue, "/tmp/x.lua:1: boom");
    }

    /// Run `code` while another thread interrupts after 50 ms; returns the error and how long
    /// the engine took to stop after the interrupt.
    fn interrupt_after_50ms(e: &mut crate::Engine, code: &str) -> (crate::ScriptError, Duration) {
        let handle = e.interrupt_handle();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            handle.interrupt();
            Instant::now()
        });
        let out = run(e, code);
        let end = Instant::now();
        let at = t.join().unwrap();
        (out.result.unwrap_err(), end.saturating_duration_since(at))
    }

    #[test]
    fn interrupt_stops_an_infinite_loop() {
        let (mut e, _) = engine();
        let (err, took) = interrupt_after_50ms(&mut e, "while true do end");
        assert_eq!(err.ename, "Interrupted");
        assert_eq!(err.evalue, "interrupted by the client");
        assert!(took < Duration::from_millis(100), "took {took:?}");
        assert!(err.traceback.iter().any(|l| l.contains("cell-1:1")), "{err:?}");
        // The flag does not leak into the next cell.
        assert_eq!(value(&mut e, "1"), Some("1".into()));
        assert!(!e.interrupt_handle().is_set());
    }

    #[test]
    fn interrupt_reaches_coroutines() {
        let (mut e, _) = engine();
        let code = "local co = coroutine.create(function() while true do end end)\n\
                    return coroutine.resume(co)";
        let (err, _) = interrupt_after_50ms(&mut e, code);
        assert_eq!(err.ename, "Interrupted");
        let code = "coroutine.wrap(function() local n = 0 while true do n = n + 1 end end)()";
        let (err, took) = interrupt_after_50ms(&mut e, code);
        assert_eq!(err.ename, "Interrupted");
        assert!(took < Duration::from_millis(100), "took {took:?}");
    }

    #[test]
    fn pcall_cannot_swallow_an_interrupt() {
        let (mut e, _) = engine();
        let code =
            "pcall(function() while true do end end)\nlocal n = 0\nwhile true do n = n + 1 end";
        let (err, _) = interrupt_after_50ms(&mut e, code);
        assert_eq!(err.ename, "Interrupted");
        // Even when the script ends normally after catching it, the cell reports the interrupt.
        let (err, _) =
            interrupt_after_50ms(&mut e, "pcall(function() while true do end end)\nreturn 1");
        assert_eq!(err.ename, "Interrupted");
    }

    #[test]
    fn eval_expression_renders() {
        let (mut e, _) = engine();
        run(&mut e, "t = {1, 2}");
        assert_eq!(e.eval_expression("t"), Ok("{1, 2}".to_string()));
        assert_eq!(e.eval_expression("#t, 'x'"), Ok("2\t\"x\"".to_string()));
        assert_eq!(e.eval_expression("nil"), Ok("nil".to_string()));
        assert_eq!(e.eval_expression("x = 1").unwrap_err().ename, "SyntaxError");
        let err = e.eval_expression("nope.x").unwrap_err();
        assert_eq!(err.ename, "RuntimeError");
        assert!(err.evalue.starts_with("user_expression:1:"), "{err:?}");
    }

    #[test]
    fn reset_starts_a_fresh_state() {
        let (mut e, rec) = engine();
        run(&mut e, "x = 1; print = nil");
        e.reset().unwrap();
        assert_eq!(value(&mut e, "x"), None);
        run(&mut e, "print('again')");
        assert_eq!(rec.text(crate::StreamName::Stdout), "again\n");
    }

    #[test]
    fn replacing_xpcall_does_not_break_execution() {
        let (mut e, _) = engine();
        run(&mut e, "xpcall = nil; pcall = nil");
        assert_eq!(error(&mut e, "error('boom')").evalue, "cell-1:1: boom");
    }
}

//! A call filter in front of mlua's hook, so that breakpoints in functions that do not run cost
//! call-heavy code little.
//!
//! While breakpoints exist but no function holding one runs (hook masks `CALL` / `CALLS`), the
//! session needs call events only to notice a function with a breakpoint being entered. mlua
//! turns every hook event into a call of a Rust closure, which alone makes recursive code about
//! three times slower. This filter is a plain C hook placed in front of mlua's on each Lua
//! thread: for a call event it reads only `lua_getinfo("S")` (source, first and last line) and
//! drops the event when the function's line range holds no verified breakpoint of its source,
//! which is exactly when [`Session`](super::Session) would leave the mask as it is. Inside a
//! function that holds a breakpoint (mask `LINES`, no step armed) it likewise drops line events
//! on lines no breakpoint names. Everything else goes on to mlua's hook unchanged.
//!
//! Invariants:
//! - only events after which the session would do nothing are dropped, and only in the states
//!   the session names ([`Mode`]): with masks `CALL` / `CALLS` (no step armed, debugger
//!   attached) and no function breakpoint, a call that enters an unwatched function (no
//!   breakpoint in its line range) and a return that goes back to one; with mask `LINES` for a
//!   function holding a breakpoint and no step armed, a line event on a line number that no
//!   breakpoint has;
//! - the filter never raises a Lua error and never panics; when its own state is busy, or a
//!   function has no source to judge by, it forwards;
//! - mlua re-installs its own hook whenever the session changes the mask; inside a hook the
//!   filter puts itself back in front after forwarding, outside one [`front`] does it. A thread
//!   that mlua itself creates starts with mlua's hook and is filtered from its first forwarded
//!   event on.
//!
//! One filter state per thread: the kernel runs one Lua state, with one debug session, on its
//! executor thread. Engines that share a thread take turns, and each rewrites the state as its
//! cell starts ([`configure`]).

// Why `unsafe`: a C hook function and the raw `lua_sethook` / `lua_gethook` / `lua_getinfo`
// calls are the only way to look at a call event without mlua's per-event Rust callback.
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ffi::c_int;
use std::sync::OnceLock;

use mlua::{Lua, ffi};

use crate::breakpoints::Breakpoints;

/// One verified line breakpoint, as the filter compares it.
struct Line {
    line: c_int,
    /// The chunk name, `@path`, as `lua_getinfo` reports it.
    source: Box<[u8]>,
}

/// Which of the session's hook states the filter may drop events in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Mode {
    /// Nothing is dropped: the count only, a step or stop armed, or function breakpoints.
    Forward,
    /// Masks `CALL` / `CALLS`: calls into and returns back to unwatched functions are dropped.
    Calls,
    /// Mask `LINES` for a function holding a breakpoint, no step armed: line events on lines
    /// that no breakpoint names are dropped.
    Lines,
}

/// What the filter knows on this thread, in one place so that an event looks it up once.
struct State {
    /// What may be dropped now (the session's mask, less what function breakpoints forbid).
    mode: Cell<Mode>,
    /// The session's mode, kept apart from the breakpoints.
    session: Cell<Mode>,
    /// Whether function breakpoints exist (they need every call's name).
    functions: Cell<bool>,
    lines: RefCell<Vec<Line>>,
}

impl State {
    fn update(&self) {
        let calls_need_names = self.functions.get() && self.session.get() == Mode::Calls;
        self.mode.set(if calls_need_names { Mode::Forward } else { self.session.get() });
    }
}

thread_local! {
    static STATE: State = const {
        State {
            mode: Cell::new(Mode::Forward),
            session: Cell::new(Mode::Forward),
            functions: Cell::new(false),
            lines: RefCell::new(Vec::new()),
        }
    };
    /// The hook mask of the Lua thread whose event is being forwarded (none outside one).
    static EVENT_MASK: Cell<Option<c_int>> = const { Cell::new(None) };
}

/// mlua's hook function, the one the filter forwards to (the same for every Lua state).
static MLUA_HOOK: OnceLock<ffi::lua_Hook> = OnceLock::new();

/// Tells the filter the session's breakpoints. The session calls this as a cell starts, as a
/// stop resumes, and from its count hook after breakpoints change while code runs: until then
/// the filter judges by the old set, as if the change had arrived those few instructions later.
pub(super) fn configure(bps: &Breakpoints) {
    let lines = bps.lines.iter().flat_map(|(path, list)| {
        let source: Box<[u8]> = format!("@{path}").into_bytes().into();
        list.iter()
            .filter(|b| b.verified)
            .map(move |b| Line { line: b.line as c_int, source: source.clone() })
    });
    STATE.with(|st| {
        if let Ok(mut l) = st.lines.try_borrow_mut() {
            *l = lines.collect();
        }
        st.functions.set(!bps.functions.is_empty());
        st.update();
    });
}

/// Tells the filter the session's hook state. The session calls it whenever its mask or its
/// armed step changes.
pub(super) fn set_mode(mode: Mode) {
    STATE.with(|st| {
        st.session.set(mode);
        st.update();
    });
}

/// Puts the filter in front of mlua's hook on `lua`'s current thread.
pub(super) fn front(lua: &Lua) -> mlua::Result<()> {
    if event_thread_mask().is_some() {
        return Ok(()); // inside a forwarded event: the filter puts itself back when it returns
    }
    // SAFETY: the closure runs on `lua`'s current thread, inside mlua's protected call, and
    // only reads and replaces that thread's hook with the same mask and count.
    unsafe { lua.exec_raw::<()>((), |state| refront(state)) }
}

/// The hook mask (`LUA_MASK*` bits) of the Lua thread whose event the session is handling, when
/// the event came through the filter: a coroutine may run with a mask older than the session's.
pub(super) fn event_thread_mask() -> Option<c_int> {
    EVENT_MASK.with(Cell::get)
}

/// No forwarded event is under way any more: the session's hook is returning an error, which
/// mlua raises as a Lua error that unwinds past the filter's frame (so the filter never sees the
/// event end), or a cell is starting.
pub(super) fn left_hook() {
    EVENT_MASK.with(|m| m.set(None));
}

/// Replaces mlua's hook on `state` by the filter, keeping mask and count.
unsafe fn refront(state: *mut ffi::lua_State) {
    // SAFETY: `state` is a live Lua thread; these calls only read and set its hook fields.
    unsafe {
        let Some(current) = ffi::lua_gethook(state) else { return };
        if current as usize == hook as ffi::lua_Hook as usize {
            return;
        }
        if *MLUA_HOOK.get_or_init(|| current) as usize != current as usize {
            return; // some other hook: leave it alone
        }
        let (mask, count) = (ffi::lua_gethookmask(state), ffi::lua_gethookcount(state));
        ffi::lua_sethook(state, Some(hook), mask, count);
    }
}

/// Whether the function described by `ar` (filled by `lua_getinfo("S")`) may run without the
/// session hearing of it: its lines hold no breakpoint of its source.
fn unwatched(st: &State, ar: &ffi::lua_Debug) -> bool {
    if ar.linedefined == 0 || ar.source.is_null() {
        return false; // a main chunk, or no source to judge by: let the session decide
    }
    let range = ar.linedefined..=ar.lastlinedefined;
    let Ok(lines) = st.lines.try_borrow() else { return false };
    // SAFETY: after lua_getinfo("S"), `source` points at `srclen` bytes owned by the
    // function's prototype, alive while the function is on the stack.
    let source = || unsafe { std::slice::from_raw_parts(ar.source.cast::<u8>(), ar.srclen) };
    !lines.iter().any(|l| range.contains(&l.line) && *l.source == *source())
}

/// Whether the event `ar` of `state` may be dropped: in [`Mode::Calls`] a call that enters an
/// unwatched function or a return that goes back to one (returns are in the mask only to notice
/// going back to a function with a breakpoint); in [`Mode::Lines`] a line no breakpoint names.
///
/// # Safety
/// `state` and `ar` are what Lua passed to the hook.
unsafe fn droppable(state: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) -> bool {
    STATE.with(|st| {
        // SAFETY: as the caller promises; lua_getstack and lua_getinfo only fill the record
        // they are given.
        unsafe {
            match (st.mode.get(), (*ar).event) {
                (Mode::Calls, ffi::LUA_HOOKCALL | ffi::LUA_HOOKTAILCALL) => {
                    ffi::lua_getinfo(state, c"S".as_ptr(), ar) != 0 && unwatched(st, &*ar)
                }
                (Mode::Calls, ffi::LUA_HOOKRET) => {
                    let mut caller = std::mem::MaybeUninit::<ffi::lua_Debug>::zeroed();
                    ffi::lua_getstack(state, 1, caller.as_mut_ptr()) != 0
                        && ffi::lua_getinfo(state, c"S".as_ptr(), caller.as_mut_ptr()) != 0
                        && unwatched(st, caller.assume_init_ref())
                }
                (Mode::Lines, ffi::LUA_HOOKLINE) => {
                    // Lua sets `currentline` for a line event; the source is the session's
                    // business for the lines that some breakpoint does name.
                    let line = (*ar).currentline;
                    st.lines.try_borrow().is_ok_and(|lines| lines.iter().all(|l| l.line != line))
                }
                _ => false,
            }
        }
    })
}

/// The hook function: drops what [`droppable`] allows, forwards the rest to mlua's hook.
unsafe extern "C-unwind" fn hook(state: *mut ffi::lua_State, ar: *mut ffi::lua_Debug) {
    // SAFETY: Lua calls a hook with its thread and a valid activation record.
    unsafe {
        if droppable(state, ar) {
            return;
        }
        let Some(&forward) = MLUA_HOOK.get() else { return };
        // No Rust value with a destructor is alive here: mlua's hook may raise a Lua error
        // (the interrupt), which unwinds through this frame.
        EVENT_MASK.with(|m| m.set(Some(ffi::lua_gethookmask(state))));
        forward(state, ar);
        EVENT_MASK.with(|m| m.set(None));
        // The session may have changed the mask, which makes mlua install its own hook again.
        refront(state);
    }
}

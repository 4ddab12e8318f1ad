//! Turning Lua failures into [`ScriptError`]s.
//!
//! `ename` is one of four fixed strings: [`SYNTAX`] (the cell did not compile), [`INTERRUPTED`]
//! (the client interrupted, also while waiting for input), [`TOOL`] (an uncaught tool error
//! raised by the `Tool` global; evalue is its `tool: error_type: message`) and [`RUNTIME`]
//! (anything else). The
//! traceback always starts with the `ename: evalue` line; frames below the user's code (the
//! engine's own `xpcall` and the host call) are removed.

use mlua::{Lua, Value};

use crate::{InputError, ScriptError, render};

pub(crate) const SYNTAX: &str = "SyntaxError";
pub(crate) const RUNTIME: &str = "RuntimeError";
pub(crate) const INTERRUPTED: &str = "Interrupted";
pub(crate) const TOOL: &str = crate::tools::TOOL_ERROR;

/// Raised by the count hook when the interrupt flag is set.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by the client")]
pub(crate) struct Interrupted;

/// Whether an error (or an error it wraps) is an interrupt.
pub(crate) fn is_interrupt(err: &mlua::Error) -> bool {
    err.downcast_ref::<Interrupted>().is_some()
        || err.downcast_ref::<InputError>() == Some(&InputError::Interrupted)
}

/// The message of an mlua error without the wrappers and Rust-side tracebacks mlua adds.
pub(crate) fn message(err: &mlua::Error) -> String {
    match err {
        mlua::Error::CallbackError { cause, .. } => message(cause),
        mlua::Error::WithContext { context, cause } => format!("{context}: {}", message(cause)),
        mlua::Error::RuntimeError(msg) => msg.clone(),
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::ExternalError(e) => e.to_string(),
        other => other.to_string(),
    }
}

/// A runtime error whose message starts with the Lua caller's position (`cell-1:3: ...`), as
/// Lua's own `error(msg)` does. Use only from Rust functions called directly by Lua code.
pub(crate) fn located(lua: &Lua, msg: impl std::fmt::Display) -> mlua::Error {
    // Level 0 is the running Rust function, level 1 its Lua caller.
    located_at(lua, 1, msg)
}

/// Like [`located`], with the position of the function `level` frames up (2 = the caller of a
/// Lua wrapper around the running Rust function).
pub(crate) fn located_at(lua: &Lua, level: usize, msg: impl std::fmt::Display) -> mlua::Error {
    let place = lua.inspect_stack(level, |d| {
        let line = d.current_line()?;
        let src = d.source().short_src?.into_owned();
        Some(format!("{src}:{line}: "))
    });
    mlua::Error::runtime(format!("{}{msg}", place.flatten().unwrap_or_default()))
}

/// A compile error from `Lua::load`.
pub(crate) fn syntax(err: &mlua::Error) -> ScriptError {
    build(SYNTAX, message(err), None)
}

/// A runtime failure: the raised value and the traceback captured by the message handler.
pub(crate) fn runtime(lua: &Lua, value: &Value, traceback: Option<&str>) -> ScriptError {
    let (ename, evalue) = match value {
        Value::Error(e) if is_interrupt(e) => (INTERRUPTED, message(e)),
        Value::Error(e) => (RUNTIME, message(e)),
        Value::String(s) => (RUNTIME, s.to_string_lossy()),
        v if crate::tools::is_tool_error(v) => (TOOL, render::render(lua, v)),
        other => (RUNTIME, render::render(lua, other)),
    };
    if ename == TOOL {
        let tb = traceback.map(without_tool_wrapper);
        return build(ename, evalue, tb.as_deref());
    }
    build(ename, evalue, traceback)
}

/// The error for an execution stopped by the interrupt flag, whatever value reached the top.
pub(crate) fn interrupted(traceback: Option<&str>) -> ScriptError {
    build(INTERRUPTED, Interrupted.to_string(), traceback)
}

/// Failures of the engine's own plumbing (should not happen; reported rather than panicking).
pub(crate) fn internal(err: &mlua::Error) -> ScriptError {
    build(RUNTIME, message(err), None)
}

/// A traceback without the frames of the `Tool` global's Lua wrapper (chunks named `Tool.x`)
/// and the `error` call it raised with, so it starts at the script's call.
fn without_tool_wrapper(tb: &str) -> String {
    let lines: Vec<&str> = tb.lines().collect();
    let wrapper = |l: &str| l.trim_start().starts_with("Tool.");
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let raised_by_wrapper = line.trim() == "[C]: in function 'error'"
            && lines.get(i + 1).is_some_and(|next| wrapper(next));
        if !wrapper(line) && !raised_by_wrapper {
            out.push(*line);
        }
    }
    out.join("\n")
}

fn build(ename: &str, evalue: String, traceback: Option<&str>) -> ScriptError {
    let mut lines = vec![format!("{ename}: {evalue}")];
    if let Some(tb) = traceback {
        lines.extend(clean_traceback(tb));
    }
    ScriptError { ename: ename.to_string(), evalue, traceback: lines }
}

/// `luaL_traceback` output to lines: tabs become two spaces, and the trailing `[C]` frames (the
/// engine's `xpcall` and the host's call into Lua) are dropped. Returns nothing when no frame
/// is left.
fn clean_traceback(tb: &str) -> Vec<String> {
    let mut frames: Vec<&str> = tb
        .lines()
        .skip_while(|l| !l.starts_with("stack traceback:"))
        .skip(1)
        .map(str::trim)
        .collect();
    while frames.last().is_some_and(|l| l.starts_with("[C]:")) {
        frames.pop();
    }
    if frames.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["stack traceback:".to_string()];
    out.extend(frames.iter().map(|f| format!("  {f}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceback_drops_host_frames() {
        let tb = "stack traceback:\n\t[C]: in function 'error'\n\tcell-1:1: in main chunk\n\
                  \t[C]: in function 'xpcall'\n\t[C]: in ?";
        assert_eq!(
            clean_traceback(tb),
            vec!["stack traceback:", "  [C]: in function 'error'", "  cell-1:1: in main chunk"]
        );
        assert!(clean_traceback("stack traceback:\n\t[C]: in ?").is_empty());
    }

    #[test]
    fn interrupt_detected_through_wrappers() {
        use mlua::ErrorContext;
        let wrapped: mlua::Result<()> = Err(mlua::Error::external(Interrupted));
        let wrapped = wrapped.context("while reading").unwrap_err();
        assert!(is_interrupt(&wrapped));
        assert_eq!(message(&wrapped), "while reading: interrupted by the client");
        assert!(!is_interrupt(&mlua::Error::runtime("boom")));
        assert!(is_interrupt(&mlua::Error::external(InputError::Interrupted)));
    }
}

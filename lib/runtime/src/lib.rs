//! The Lua 5.4 engine behind llmspell kernels.
//!
//! An [`Engine`] owns one `mlua::Lua` state and lives on one thread (the kernel's executor). It
//! knows nothing about ZeroMQ or Jupyter framing: everything a script shows or asks for goes
//! through the [`Frontend`] the kernel hands in, and everything it returns comes back as plain
//! values ([`Outcome`], [`Completion`], [`Inspection`], [`Completeness`]).
//!
//! Positions (`cursor_pos`, `cursor_start`, `cursor_end`) are counted in Unicode code points, as
//! Jupyter messaging 5.2+ counts them.
//!
//! Nothing here panics on script input: every failure a script can cause comes back as a
//! [`ScriptError`]. The Lua API scripts see is described in `man/llmspell-lua.7`.
//!
//! Persistence: [`Engine::attach_state`] backs the `State` global with an `llmspell-state` store
//! (see [`state`](crate::state)); the kernel decides where the file lives.
//!
//! Tools: [`Engine::attach_tools`] backs the `Tool` global with an `llmspell_tools::Registry`
//! (see [`tools`](crate::tools)); the kernel shares the one its `tool_request` path serves.
//!
//! LLMs: [`Engine::attach_providers`] gives the `Provider`, `Agent` and `Workflow` globals the
//! `[providers.NAME]` of config.toml (see [`llm`](crate::llm)).

mod complete;
mod completeness;
#[cfg(test)]
mod debug_tests;
mod docs;
mod engine;
mod errors;
mod globals;
mod host;
mod inspect;
mod io;
mod json;
mod lex;
mod llm;
mod render;
mod state;
#[cfg(test)]
mod testutil;
mod tools;

pub use engine::Engine;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which output stream a piece of text belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamName {
    Stdout,
    Stderr,
}

impl StreamName {
    /// The Jupyter `stream` message `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamName::Stdout => "stdout",
            StreamName::Stderr => "stderr",
        }
    }
}

/// Why `input()` got no line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// The request did not allow stdin (`allow_stdin: false`) or the client has no stdin channel.
    #[error("stdin is not available: the client did not allow input requests")]
    NotAllowed,
    /// The execution was interrupted while waiting for the reply.
    #[error("interrupted while waiting for input")]
    Interrupted,
}

/// Where a script's output and input requests go. The kernel implements it; tests use a recorder.
pub trait Frontend {
    /// `print`, `io.write`, `io.stderr:write`.
    fn stream(&mut self, name: StreamName, text: &str);
    /// `display(v)`: a MIME bundle (`"text/plain"` always present) and its metadata.
    fn display(
        &mut self,
        data: serde_json::Map<String, serde_json::Value>,
        metadata: serde_json::Map<String, serde_json::Value>,
    );
    /// `clear_output([wait])`.
    fn clear_output(&mut self, wait: bool);
    /// `input([prompt])`, `io.read()`: ask the client for one line (without its newline).
    fn input(&mut self, prompt: &str, password: bool) -> Result<String, InputError>;
}

/// Sets and clears the interrupt flag from any thread; the engine's count hook sees it.
#[derive(Debug, Clone, Default)]
pub struct InterruptHandle(Arc<AtomicBool>);

impl InterruptHandle {
    /// Ask the running execution to stop with an `Interrupted` error.
    pub fn interrupt(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether an interrupt is pending.
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// Forget a pending interrupt (the engine does this at the start of every execution).
    pub fn clear(&self) {
        self.0.store(false, Ordering::SeqCst);
    }
    /// The flag itself, for waits that poll it (`Tool.invoke`).
    pub(crate) fn flag(&self) -> &AtomicBool {
        &self.0
    }
}

/// What one `execute` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `Ok(Some(text))`: the `text/plain` of the `execute_result`; `Ok(None)`: nothing to show
    /// (no values, or a single `nil`); `Err`: the cell failed.
    pub result: Result<Option<String>, ScriptError>,
    /// Text collected by `page(text)` during the cell, for the execute_reply pager payload.
    pub pager: Option<String>,
}

/// A failed cell or expression, shaped like the Jupyter `error` message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ename}: {evalue}")]
pub struct ScriptError {
    /// `SyntaxError`, `RuntimeError` or `Interrupted`.
    pub ename: String,
    /// The error message, e.g. `cell-1:1: boom`.
    pub evalue: String,
    /// `ename: evalue`, then the Lua stack traceback, one line per entry.
    pub traceback: Vec<String>,
}

/// Reply to a `complete_request`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completion {
    /// Sorted, de-duplicated replacements for `cursor_start..cursor_end`.
    pub matches: Vec<String>,
    /// Code-point offset where the replaced text starts.
    pub cursor_start: usize,
    /// Code-point offset where it ends (the cursor).
    pub cursor_end: usize,
}

/// Reply data for an `inspect_request` that found something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    pub text_plain: String,
    pub text_markdown: String,
}

/// Reply to an `is_complete_request`, decided by the Lua parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    /// The code compiles.
    Complete,
    /// The parser ran out of input (`... near <eof>`); `indent` suggests the next line's indent.
    Incomplete { indent: String },
    /// More input cannot fix it.
    Invalid,
}

/// Why an [`Engine`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The Lua state or its standard libraries could not be created.
    #[error("cannot create the Lua state: {0}")]
    State(#[source] mlua::Error),
    /// Installing the llmspell globals failed.
    #[error("cannot install the llmspell globals: {0}")]
    Globals(#[source] mlua::Error),
}

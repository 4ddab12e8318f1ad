//! Batch mode: run a pipe, a file or `-e` code and print only what it prints.
//!
//! A pipe is run as the interactive REPL would run it typed: lines are gathered until the
//! kernel's `is_complete_request` says the chunk is `complete` or `invalid` (more lines cannot fix
//! it, so the kernel reports the syntax error), then the chunk is executed, so output appears as
//! soon as each statement has run. As in `lua -i`, a `local` lives only in its chunk. A file
//! (`--execute FILE`) is one chunk, as `lua FILE` runs it; each `-e CODE` is one chunk. Blank
//! chunks are skipped; what is left at the end of input is executed as it is.
//!
//! Output goes through [`crate::output::Printer`] without colour; no prompts. SIGTERM, SIGINT or
//! SIGHUP interrupts the running cell and ends the run (exit 1).

use std::io::BufRead;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use llmspell_common::ExitCode;
use llmspell_wire::Channel;
use serde_json::json;

use crate::Failure;
use crate::exec::{self, Cell, Flags};
use crate::output::Printer;
use crate::session::Session;

/// How often the wait for input looks at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// How long an is_complete_request may take.
const IS_COMPLETE_WAIT: Duration = Duration::from_secs(10);

/// What a batch run reads.
pub enum Input {
    /// Lines of a pipe, chunked by the kernel's parser.
    Lines(Receiver<std::io::Result<Option<String>>>),
    /// Whole chunks: a file, or each `-e`.
    Chunks(Vec<String>),
}

/// How a run of chunks ended.
#[derive(Debug, Default)]
pub struct Summary {
    /// Chunks that ended in a Lua error (or were aborted).
    pub failed: usize,
}

/// Lines of `input`, read on their own thread so a signal is noticed while the input is quiet;
/// `None` ends them.
pub fn lines(
    mut input: impl BufRead + Send + 'static,
) -> Receiver<std::io::Result<Option<String>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let mut line = String::new();
            let item = input.read_line(&mut line).map(|n| (n > 0).then_some(line));
            let end = !matches!(item, Ok(Some(_)));
            if tx.send(item).is_err() || end {
                return;
            }
        }
    });
    rx
}

/// Runs every chunk of `input`; stops at the first Lua error unless `keep_going`.
pub fn run(
    session: &mut Session,
    input: Input,
    keep_going: bool,
    flags: &Flags,
) -> Result<Summary, Failure> {
    let mut summary = Summary::default();
    let mut front = Printer::new(false);
    let mut run_one = |session: &mut Session, code: &str| -> Result<bool, Failure> {
        let reply = exec::execute(session, Cell::new(code), flags, &mut front)?;
        if reply["status"] == "ok" {
            return Ok(true);
        }
        summary.failed += 1;
        Ok(keep_going)
    };
    match input {
        Input::Chunks(chunks) => {
            for chunk in chunks.iter().filter(|c| !c.trim().is_empty()) {
                if !run_one(session, chunk)? {
                    break;
                }
            }
        }
        Input::Lines(lines) => {
            let mut next = || next_line(&lines, flags);
            for_each_chunk(session, &mut next, &mut run_one)?;
        }
    }
    Ok(summary)
}

/// Gathers the lines `next_line` gives into chunks the kernel calls complete (or invalid) and
/// hands each to `run`, until the lines end or `run` returns false.
pub fn for_each_chunk(
    session: &mut Session,
    next_line: &mut dyn FnMut() -> Result<Option<String>, Failure>,
    run: &mut dyn FnMut(&mut Session, &str) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    let mut chunk = String::new();
    loop {
        let line = next_line()?;
        let at_end = line.is_none();
        chunk.push_str(line.as_deref().unwrap_or(""));
        if !chunk.is_empty() && !chunk.ends_with('\n') {
            chunk.push('\n');
        }
        if chunk.trim().is_empty() {
            chunk.clear();
        } else if at_end || is_complete(session, &chunk)? != "incomplete" {
            if !run(session, &chunk)? {
                return Ok(());
            }
            chunk.clear();
        }
        if at_end {
            return Ok(());
        }
    }
}

/// The next input line (`None` at the end), or a failure when a signal asked to stop.
fn next_line(
    lines: &Receiver<std::io::Result<Option<String>>>,
    flags: &Flags,
) -> Result<Option<String>, Failure> {
    loop {
        if flags.stopped() {
            return Err(exec::stopped());
        }
        match lines.recv_timeout(POLL) {
            Ok(Ok(line)) => return Ok(line),
            Ok(Err(e)) => {
                return Err(Failure::new(ExitCode::IoErr, format!("cannot read the input: {e}")));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

/// The kernel's verdict on `code`: `complete`, `incomplete`, `invalid` or `unknown`.
pub fn is_complete(session: &mut Session, code: &str) -> Result<String, Failure> {
    let reply = session
        .client()
        .call(Channel::Shell, "is_complete_request", json!({"code": code}), IS_COMPLETE_WAIT)
        .map_err(|e| session.lost(e))?;
    Ok(reply.str_field("status").unwrap_or("unknown").to_owned())
}

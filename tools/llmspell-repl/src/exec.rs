//! Running one cell: send `execute_request`, follow iopub, shell and stdin until the reply *and*
//! the `idle` status of that request have arrived (as JupyterLab and nbclient do), showing the
//! output as it comes.
//!
//! While waiting: a Ctrl-C ([`Flags::interrupt`]) becomes an `interrupt_request` on control and
//! the wait goes on (the kernel ends the cell with an `Interrupted` error); a stopping signal
//! ([`Flags::stop`]) interrupts the cell too, then gives up; a quiet second makes the REPL ask the
//! heartbeat, so a kernel that dies mid-cell is exit 69 within about a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llmspell_common::ExitCode;
use llmspell_wire::{Channel, Message, WireError};
use serde_json::{Value, json};

use crate::Failure;
use crate::session::Session;

/// How long a quiet kernel may be before the heartbeat is asked.
const HEARTBEAT_AFTER: Duration = Duration::from_secs(1);
/// How often the wait looks at the flags.
const POLL: Duration = Duration::from_millis(50);

/// What signals asked of the REPL; set by the signal thread, read here.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// End the session (SIGTERM, SIGHUP; SIGINT in batch mode).
    pub stop: Arc<AtomicBool>,
    /// Interrupt the running cell (SIGINT in interactive mode).
    pub interrupt: Arc<AtomicBool>,
}

impl Flags {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// Where a cell's output goes, and who answers its `input()`.
pub trait Frontend {
    /// One iopub message of the running cell (stream, execute_result, display_data, error …).
    fn show(&mut self, msg: &Message) -> Result<(), Failure>;
    /// The answer to an `input_request`; `None` when nobody can answer (end of input, Ctrl-C).
    fn input(&mut self, prompt: &str, password: bool) -> Option<String>;
    /// A pager payload of the execute_reply (`page(text)` in Lua).
    fn page(&mut self, text: &str) -> Result<(), Failure>;
}

/// One execute_request.
#[derive(Debug, Clone, Copy)]
pub struct Cell<'a> {
    pub code: &'a str,
    /// No execute_input, no execute_result, no history entry, no execution count (`.vars`).
    pub silent: bool,
    /// Whether the kernel may ask for input (only where someone can answer).
    pub allow_stdin: bool,
}

impl<'a> Cell<'a> {
    pub fn new(code: &'a str) -> Cell<'a> {
        Cell { code, silent: false, allow_stdin: false }
    }
}

/// The failure when a signal ended the session.
pub fn stopped() -> Failure {
    Failure::new(ExitCode::No, "stopped by a signal")
}

/// Runs `cell`, showing its output on `front`; returns the execute_reply content.
pub fn execute(
    session: &mut Session,
    cell: Cell<'_>,
    flags: &Flags,
    front: &mut dyn Frontend,
) -> Result<Value, Failure> {
    let content = json!({
        "code": cell.code,
        "silent": cell.silent,
        "store_history": !cell.silent,
        "user_expressions": {},
        "allow_stdin": cell.allow_stdin,
        "stop_on_error": true,
    });
    // A Ctrl-C that came before the cell was sent is not meant for it.
    flags.interrupt.store(false, Ordering::Relaxed);
    let id = session
        .client()
        .request(Channel::Shell, "execute_request", content)
        .map_err(|e| session.lost(e))?;
    let (mut reply, mut idle) = (None::<Value>, false);
    let mut quiet_since = Instant::now();
    while reply.is_none() || !idle {
        if flags.stopped() {
            interrupt(session);
            return Err(stopped());
        }
        if flags.interrupt.swap(false, Ordering::Relaxed) {
            interrupt(session);
        }
        let next =
            session.client().recv_any(&[Channel::Iopub, Channel::Shell, Channel::Stdin], POLL);
        let heard = match next {
            Ok((_, msg)) if msg.parent_id() != Some(id.as_str()) => false,
            Ok((Channel::Iopub, msg)) => {
                idle |= msg.msg_type() == "status" && msg.content["execution_state"] == "idle";
                front.show(&msg)?;
                true
            }
            Ok((Channel::Stdin, msg)) => {
                answer_input(session, &msg, flags, front)?;
                true
            }
            Ok((_, msg)) => {
                reply = Some(msg.content);
                true
            }
            Err(WireError::Timeout(_)) => false,
            Err(e) => return Err(session.lost(e)),
        };
        if heard {
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= HEARTBEAT_AFTER {
            session.check_alive()?;
            quiet_since = Instant::now();
        }
    }
    let reply = reply.unwrap_or_default();
    for payload in reply["payload"].as_array().into_iter().flatten() {
        if payload["source"] == "page"
            && let Some(text) = payload["data"]["text/plain"].as_str()
        {
            front.page(text)?;
        }
    }
    Ok(reply)
}

/// Asks the kernel to interrupt what it runs; the answer is not waited for.
fn interrupt(session: &Session) {
    let _ = session.client().request(Channel::Control, "interrupt_request", json!({}));
}

/// Answers an `input_request` (spec: stdin channel; the reply goes back on stdin).
fn answer_input(
    session: &Session,
    msg: &Message,
    flags: &Flags,
    front: &mut dyn Frontend,
) -> Result<(), Failure> {
    if msg.msg_type() != "input_request" {
        return Ok(());
    }
    let prompt = msg.str_field("prompt").unwrap_or("");
    let value = front.input(prompt, msg.bool_field("password", false));
    if value.is_none() {
        // Ctrl-C or the end of input at the prompt: the cell is interrupted, not fed "".
        flags.interrupt.store(true, Ordering::Relaxed);
    }
    let client = session.client();
    let answer =
        msg.reply("input_reply", client.session(), json!({"value": value.unwrap_or_default()}));
    let answer = Message { identities: Vec::new(), ..answer };
    client.send(Channel::Stdin, &answer).map_err(|e| session.lost(e))
}

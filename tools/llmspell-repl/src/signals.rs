//! Signals, turned into [`Flags`] by a thread of their own.
//!
//! | signal | while a cell runs | at the prompt |
//! |---|---|---|
//! | SIGINT | interrupt the cell (batch: interrupt it and end the run) | nothing (Ctrl-C there is a key) |
//! | SIGTERM, SIGHUP | interrupt the cell and end the session | end the session at once |
//!
//! At the prompt the main thread is blocked in the line editor's terminal read, which nothing
//! can wake; so there, and only there, this thread ends the process itself: it restores the
//! terminal, stops the REPL's own kernel (SIGTERM, then SIGKILL) and removes its private
//! directory, then exits 1. A closed terminal (SIGHUP) therefore never leaves a kernel behind.

use std::sync::atomic::Ordering;

use llmspell_common::ExitCode;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use crate::Failure;
use crate::exec::Flags;
use crate::interactive::AtPrompt;
use crate::kernel::Reaper;

/// Starts the signal thread. `interactive` makes SIGINT an interrupt rather than a stop.
pub fn watch(
    flags: &Flags,
    interactive: bool,
    at_prompt: AtPrompt,
    reaper: Option<Reaper>,
) -> Result<(), Failure> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| Failure::new(ExitCode::Software, format!("cannot handle signals: {e}")))?;
    let flags = flags.clone();
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for signal in signals.forever() {
            if signal == SIGINT && interactive {
                flags.interrupt.store(true, Ordering::SeqCst);
                continue;
            }
            flags.stop.store(true, Ordering::SeqCst);
            if at_prompt.load(Ordering::SeqCst) {
                let _ = crossterm::terminal::disable_raw_mode();
                if let Some(reaper) = &reaper {
                    reaper.stop();
                }
                std::process::exit(ExitCode::No.code().into());
            }
        }
    });
    spawned
        .map(drop)
        .map_err(|e| Failure::new(ExitCode::Software, format!("cannot start a thread: {e}")))
}

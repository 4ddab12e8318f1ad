//! Core: what the kernel does with a message once transport has verified and parsed it.
//!
//! [`executor`] runs shell requests in order on the thread that owns the Lua engine (a dispatch
//! table from `msg_type` to handler, busy/idle around each, every request answered); [`tools`]
//! serves `tool_request`s on their own threads;
//! [`control`](crate::transport::control) answers control requests on its own thread. Both build
//! their kernel_info from [`kernel_info`] so the two channels always agree.

pub mod executor;
pub mod frontend;
pub mod stats;
pub mod tools;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use llmspell_runtime::InterruptHandle;
use llmspell_wire::{Message, PROTOCOL_VERSION};
use serde_json::{Value, json};

use crate::transport::mailbox::Outbox;
use crate::transport::publisher::Publish;

/// Why the kernel is stopping; sent to the main thread, which owns the exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// A shutdown_request (restart = false): the running cell was already interrupted.
    Shutdown,
    /// SIGTERM: let the running cell finish (bounded), then shut down. A second one hurries.
    Terminate,
}

/// Interrupts whatever the executor is doing: a running cell (through the engine's flag) or a
/// script waiting in `input()`. Safe to call from any thread, and harmless when idle.
#[derive(Clone, Default, Debug)]
pub struct Interrupter {
    engine: Arc<OnceLock<InterruptHandle>>,
    input: Arc<AtomicBool>,
    busy: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
}

impl Interrupter {
    pub fn interrupt(&self) {
        // Idle: nothing to stop. Setting the flag now would only kill the next cell at once.
        if !self.busy.load(Ordering::SeqCst) {
            return;
        }
        if let Some(handle) = self.engine.get() {
            handle.interrupt();
        }
        self.input.store(true, Ordering::SeqCst);
    }

    /// Called once by the executor after creating the engine.
    pub fn attach(&self, handle: InterruptHandle) {
        let _ = self.engine.set(handle);
    }

    /// The executor marks the span of each request.
    pub fn set_busy(&self, busy: bool) {
        self.input.store(false, Ordering::SeqCst);
        self.busy.store(busy, Ordering::SeqCst);
    }

    /// Whether a request is being served.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::SeqCst)
    }

    /// Stop taking requests from the queue (graceful shutdown); the running one finishes.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Whether an `input()` wait should give up.
    pub fn input_cancelled(&self) -> bool {
        self.input.load(Ordering::SeqCst)
    }
}

/// The kernel_info_reply content (messaging spec 5.5, "Kernel info"), plus llmspell's live
/// numbers under `llmspell` (extra keys are allowed from protocol 5.2 on).
pub fn kernel_info(stats: &stats::Stats) -> Value {
    json!({
        "llmspell": stats.to_json(),
        "status": "ok",
        "protocol_version": PROTOCOL_VERSION,
        "implementation": "llmspell",
        "implementation_version": env!("CARGO_PKG_VERSION"),
        "language_info": {
            "name": "lua",
            "version": "5.4",
            "mimetype": "text/x-lua",
            "file_extension": ".lua",
            "pygments_lexer": "lua",
            "codemirror_mode": "lua",
            "nbconvert_exporter": "script",
        },
        "banner": format!("llmspell {} — Lua 5.4 kernel", env!("CARGO_PKG_VERSION")),
        "help_links": [
            {"text": "Lua 5.4 Reference Manual", "url": "https://www.lua.org/manual/5.4/"},
            {"text": "Programming in Lua", "url": "https://www.lua.org/pil/"},
        ],
        "supported_features": ["debugger"],
    })
}

/// The reply type for a request type (`x_request` → `x_reply`); None for non-requests.
pub fn reply_type(msg_type: &str) -> Option<String> {
    msg_type.strip_suffix("_request").map(|base| format!("{base}_reply"))
}

/// Error reply content for a request nobody handles.
pub fn unknown_request(msg_type: &str) -> Value {
    json!({
        "status": "error",
        "ename": "UnknownMessageType",
        "evalue": format!("llmspell does not handle {msg_type}"),
        "traceback": [],
    })
}

/// Publishes `status` (`busy` / `idle`) with `parent` as the parent.
pub fn publish_status(iopub: &Outbox<Publish>, parent: &Message, session: &str, state: &str) {
    let msg = parent.broadcast("status", session, json!({ "execution_state": state }));
    iopub.send(Publish::Message(Box::new(msg)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_types() {
        assert_eq!(reply_type("kernel_info_request").as_deref(), Some("kernel_info_reply"));
        assert_eq!(reply_type("comm_msg"), None);
    }

    #[test]
    fn kernel_info_has_what_clients_need() {
        let info = kernel_info(&stats::Stats::new("t", &Interrupter::default()));
        assert_eq!(info["language_info"]["name"], "lua");
        assert_eq!(info["language_info"]["mimetype"], "text/x-lua");
        assert_eq!(info["supported_features"], json!(["debugger"]));
    }
}

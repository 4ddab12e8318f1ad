//! `tool_request` on shell (ARCHITECTURE §5), served beside the executor, never by it.
//!
//! The shell thread hands each `tool_request` to a queue that [`TOOL_THREADS`] tool threads
//! take from, so a long Lua cell never delays a tool request, and a long tool never blocks the
//! executor or control. Requests beyond [`TOOL_THREADS`] at once wait in the queue. For each:
//! `busy` on iopub (parent = the request), [`llmspell_tools::protocol::handle`], the `tool_reply`
//! (through the shell thread, which owns the socket, so it is signed and keeps the request's
//! identities like every reply), `idle`, and an info log line with the duration.
//!
//! The registry is the one the executor's `Tool` global uses (one `Arc`), so both see the same
//! policy and share its worker pool.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;
use llmspell_tools::Registry;
use llmspell_tools::protocol;

use super::publish_status;
use super::stats::Stats;
use crate::transport::mailbox::Outbox;
use crate::transport::publisher::Publish;
use crate::transport::shell::{Request, ShellOut};

/// How many tool requests run at once; more wait in the queue.
pub const TOOL_THREADS: usize = 8;

/// One tool thread: its own outboxes (a ZeroMQ socket each, so never shared).
pub struct ToolThread {
    pub number: usize,
    pub requests: Receiver<Request>,
    pub registry: Arc<Registry>,
    pub iopub: Outbox<Publish>,
    pub shell: Outbox<ShellOut>,
    pub session: String,
    pub stats: Arc<Stats>,
}

impl ToolThread {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name(format!("tools-{}", self.number)).spawn(move || self.run())
    }

    fn run(self) {
        while let Ok(request) = self.requests.recv() {
            self.serve(request);
        }
    }

    fn serve(&self, request: Request) {
        let msg = request.msg;
        let started = Instant::now();
        self.stats.tool_started();
        publish_status(&self.iopub, &msg, &self.session, "busy");
        let content = protocol::handle(&self.registry, &msg.content);
        let ok = content["status"] == "ok";
        // Counted before the reply leaves, so a client that saw the reply sees the count.
        self.stats.tool_finished(ok);
        self.shell.send(ShellOut::Reply(msg.reply("tool_reply", &self.session, content)));
        publish_status(&self.iopub, &msg, &self.session, "idle");
        tracing::info!(
            channel = "shell",
            msg_type = msg.msg_type(),
            msg_id = %msg.header.msg_id,
            command = msg.content["command"].as_str().unwrap_or(""),
            tool = msg.content["name"].as_str().unwrap_or(""),
            status = if ok { "ok" } else { "error" },
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            queued_ms = started.duration_since(request.received).as_secs_f64() * 1000.0,
            "served"
        );
    }
}

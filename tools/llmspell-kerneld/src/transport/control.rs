//! The control thread owns `control` (ROUTER) and answers kernel_info, interrupt, shutdown and
//! debug_request within milliseconds even while a cell runs or is stopped at a breakpoint,
//! because it never waits for the executor. Each request gets busy/idle on iopub, like shell
//! requests (messaging spec 5.5).
//!
//! debug_request (messaging spec, "Debug request"): the content is a DAP request, handed to the
//! [`Debugger`]. Some are answered at once; those that need the Lua state are answered later by
//! the executor thread, through this thread's mailbox, so `idle` follows the reply.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Sender;
use llmspell_debug::Debugger;
use llmspell_wire::client::Channel;
use llmspell_wire::{Message, Signer};
use serde_json::{Value, json};

use super::mailbox::{Mailbox, Outbox};
use super::publisher::Publish;
use super::{receive, send};
use crate::core::executor::Command;
use crate::core::stats::Stats;
use crate::core::{
    Interrupter, Lifecycle, kernel_info, publish_status, reply_type, unknown_request,
};

/// What other threads ask the control thread to send.
pub enum ControlOut {
    /// The debug_reply to `request` (content = the DAP response), then its `idle`.
    DebugReply { request: Box<Message>, content: Value, started: Instant },
}

pub struct ControlThread {
    pub control: zmq::Socket,
    pub iopub: Outbox<Publish>,
    pub signer: Signer,
    pub session: String,
    pub interrupter: Interrupter,
    pub commands: Sender<Command>,
    pub lifecycle: Sender<Lifecycle>,
    /// Standalone kernels reset Lua in place on `restart`; a kernel Jupyter launched exits, and
    /// its manager starts a new process on the same ports (what jupyter_client's restart expects).
    pub restart_in_place: bool,
    pub stats: Arc<Stats>,
    pub debugger: Debugger,
    /// Debug replies come back here (from this thread or the executor).
    pub mailbox: Mailbox<ControlOut>,
    pub replies: Arc<Mutex<Outbox<ControlOut>>>,
    /// The latest debug_request: the parent of the debug_events that follow.
    pub debug_parent: Arc<Mutex<Option<Message>>>,
}

impl ControlThread {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("control".into()).spawn(move || self.run())
    }

    fn run(self) {
        loop {
            let mut items = [
                self.control.as_poll_item(zmq::POLLIN),
                self.mailbox.bell().as_poll_item(zmq::POLLIN),
            ];
            match zmq::poll(&mut items, -1) {
                Ok(_) => {}
                Err(zmq::Error::ETERM) => return,
                Err(e) => {
                    tracing::warn!("control: poll failed: {e}");
                    continue;
                }
            }
            let requests = items[0].is_readable();
            while let Some(msg) =
                requests.then(|| receive(&self.control, &self.signer, Channel::Control)).flatten()
            {
                self.stats.saw_client(&msg.header.session);
                tracing::debug!("control: {} {}", msg.msg_type(), msg.header.msg_id);
                let started = Instant::now();
                publish_status(&self.iopub, &msg, &self.session, "busy");
                if msg.msg_type() == "debug_request" {
                    self.debug_request(msg, started);
                    self.send_replies();
                    continue;
                }
                let shutdown = self.handle(&msg);
                self.finish(&msg, started);
                if shutdown {
                    let _ = self.lifecycle.send(Lifecycle::Shutdown);
                }
            }
            self.send_replies();
        }
    }

    /// Publishes idle for `msg` and logs it.
    fn finish(&self, msg: &Message, started: Instant) {
        publish_status(&self.iopub, msg, &self.session, "idle");
        tracing::info!(
            channel = "control",
            msg_type = msg.msg_type(),
            msg_id = %msg.header.msg_id,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        );
    }

    fn debug_request(&self, msg: Message, started: Instant) {
        *self.debug_parent.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg.clone());
        let replies = self.replies.clone();
        let content = msg.content.clone();
        let request = Box::new(msg);
        self.debugger.handle(
            content,
            Box::new(move |content| {
                let out = ControlOut::DebugReply { request, content, started };
                replies.lock().unwrap_or_else(|e| e.into_inner()).send(out);
            }),
        );
    }

    fn send_replies(&self) {
        for out in self.mailbox.take() {
            match out {
                ControlOut::DebugReply { request, content, started } => {
                    let reply = request.reply("debug_reply", &self.session, content);
                    send(&self.control, &self.signer, &reply, Channel::Control);
                    self.finish(&request, started);
                }
            }
        }
    }

    /// Answers one request; returns whether the kernel should now shut down.
    fn handle(&self, msg: &Message) -> bool {
        let reply = |content| {
            let reply_type = reply_type(msg.msg_type()).unwrap_or_else(|| "error".into());
            send(
                &self.control,
                &self.signer,
                &msg.reply(&reply_type, &self.session, content),
                Channel::Control,
            );
        };
        match msg.msg_type() {
            "kernel_info_request" => reply(kernel_info(&self.stats)),
            "interrupt_request" => {
                self.interrupter.interrupt();
                reply(json!({"status": "ok"}));
            }
            "shutdown_request" => {
                let restart = msg.bool_field("restart", false);
                self.interrupter.interrupt();
                let in_place = restart && self.restart_in_place;
                if in_place {
                    let _ = self.commands.send(Command::Reset);
                }
                reply(json!({"status": "ok", "restart": restart}));
                return !in_place;
            }
            other if reply_type(other).is_some() => {
                tracing::warn!("control: unknown request type {other}");
                reply(unknown_request(other));
            }
            other => tracing::warn!("control: ignoring {other} (not a request)"),
        }
        false
    }
}

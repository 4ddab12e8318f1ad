//! The control thread owns `control` (ROUTER) and answers kernel_info, interrupt and shutdown
//! within milliseconds even while a cell runs, because it never waits for the executor.
//! Each request gets busy/idle on iopub, like shell requests (messaging spec 5.5).

use std::thread::JoinHandle;

use std::sync::Arc;

use crossbeam_channel::Sender;
use llmspell_wire::client::Channel;
use llmspell_wire::{Message, Signer};
use serde_json::json;

use super::mailbox::Outbox;
use super::publisher::Publish;
use super::{receive, send};
use crate::core::executor::Command;
use crate::core::stats::Stats;
use crate::core::{
    Interrupter, Lifecycle, kernel_info, publish_status, reply_type, unknown_request,
};

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
}

impl ControlThread {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("control".into()).spawn(move || self.run())
    }

    fn run(self) {
        loop {
            match self.control.poll(zmq::POLLIN, -1) {
                Ok(_) => {}
                Err(zmq::Error::ETERM) => return,
                Err(e) => {
                    tracing::warn!("control: poll failed: {e}");
                    continue;
                }
            }
            while let Some(msg) = receive(&self.control, &self.signer, Channel::Control) {
                self.stats.saw_client(&msg.header.session);
                tracing::debug!("control: {} {}", msg.msg_type(), msg.header.msg_id);
                let started = std::time::Instant::now();
                publish_status(&self.iopub, &msg, &self.session, "busy");
                let shutdown = self.handle(&msg);
                publish_status(&self.iopub, &msg, &self.session, "idle");
                tracing::info!(
                    channel = "control",
                    msg_type = msg.msg_type(),
                    msg_id = %msg.header.msg_id,
                    duration_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "served"
                );
                if shutdown {
                    let _ = self.lifecycle.send(Lifecycle::Shutdown);
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

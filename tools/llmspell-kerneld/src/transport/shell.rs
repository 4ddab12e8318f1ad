//! The shell thread owns `shell` and `stdin` (ROUTERs). Requests from shell go, in arrival order,
//! to the executor, except `tool_request`s, which go to the tool threads
//! ([`core::tools`](crate::core::tools)) so they never wait behind a cell; replies and
//! `input_request`s come back through this thread's mailbox, since only this thread may touch
//! the sockets. `input_reply`s from stdin go to the executor, which is waiting inside a
//! script's `input()`.

use std::thread::JoinHandle;

use std::time::Instant;

use std::sync::Arc;

use crossbeam_channel::Sender;
use llmspell_wire::client::Channel;
use llmspell_wire::{Message, Signer};

use super::mailbox::Mailbox;
use super::{receive, send};
use crate::core::stats::Stats;

/// What the executor asks the shell thread to send.
pub enum ShellOut {
    /// A reply on shell (its identities address the requester).
    Reply(Message),
    /// An `input_request` on stdin, addressed with the shell request's identities.
    InputRequest(Message),
}

/// A shell request and when it arrived (stop_on_error aborts only what arrived before the
/// failing cell's reply was sent).
pub struct Request {
    pub msg: Message,
    pub received: Instant,
}

/// The shell thread's sockets and where it forwards what arrives.
pub struct ShellThread {
    pub shell: zmq::Socket,
    pub stdin: zmq::Socket,
    pub mailbox: Mailbox<ShellOut>,
    pub requests: Sender<Request>,
    /// The tool threads' queue.
    pub tool_requests: Sender<Request>,
    pub input_replies: Sender<Message>,
    pub signer: Signer,
    pub stats: Arc<Stats>,
}

impl ShellThread {
    pub fn spawn(self) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("shell".into()).spawn(move || self.run())
    }

    fn run(self) {
        loop {
            let mut items = [
                self.shell.as_poll_item(zmq::POLLIN),
                self.stdin.as_poll_item(zmq::POLLIN),
                self.mailbox.bell().as_poll_item(zmq::POLLIN),
            ];
            match zmq::poll(&mut items, -1) {
                Ok(_) => {}
                Err(zmq::Error::ETERM) => return,
                Err(e) => {
                    tracing::warn!("shell: poll failed: {e}");
                    continue;
                }
            }
            let ready = [items[0].is_readable(), items[1].is_readable(), items[2].is_readable()];
            if ready[0] {
                while let Some(msg) = receive(&self.shell, &self.signer, Channel::Shell) {
                    tracing::debug!("shell: {} {}", msg.msg_type(), msg.header.msg_id);
                    self.stats.saw_client(&msg.header.session);
                    let request = Request { msg, received: Instant::now() };
                    let queue = if request.msg.msg_type() == "tool_request" {
                        self.stats.tool_enqueued();
                        &self.tool_requests
                    } else {
                        self.stats.enqueued();
                        &self.requests
                    };
                    if queue.send(request).is_err() {
                        return;
                    }
                }
            }
            if ready[1] {
                while let Some(msg) = receive(&self.stdin, &self.signer, Channel::Stdin) {
                    if msg.msg_type() == "input_reply" {
                        let _ = self.input_replies.send(msg);
                    } else {
                        tracing::warn!("stdin: ignoring unexpected {}", msg.msg_type());
                    }
                }
            }
            if ready[2] {
                for out in self.mailbox.take() {
                    match out {
                        ShellOut::Reply(msg) => {
                            send(&self.shell, &self.signer, &msg, Channel::Shell)
                        }
                        ShellOut::InputRequest(msg) => {
                            send(&self.stdin, &self.signer, &msg, Channel::Stdin)
                        }
                    }
                }
            }
        }
    }
}

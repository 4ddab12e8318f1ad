//! The publisher thread owns `iopub` (XPUB). Every other thread publishes by sending it a
//! [`Publish`] through a mailbox, so the socket is never shared.
//!
//! - A subscription frame (`\x01` + topic) is answered with `iopub_welcome` (messaging spec 5.5),
//!   so each new subscriber knows it is connected.
//! - Consecutive `stream` messages with the same parent and name are coalesced for at most
//!   [`STREAM_DELAY`] (or [`STREAM_MAX`] bytes): ten thousand `print`s become a few messages,
//!   yet output still appears live. Any other message flushes the pending stream first, so
//!   order is preserved.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use llmspell_wire::client::Channel;
use llmspell_wire::{Message, Signer};
use serde_json::{Value, json};

use super::mailbox::Mailbox;
use super::{poll_millis, send};

/// How long stream text may wait for more text before it is sent.
pub const STREAM_DELAY: Duration = Duration::from_millis(15);
/// How much stream text may wait.
pub const STREAM_MAX: usize = 64 * 1024;

/// What other threads send to the publisher.
pub enum Publish {
    /// Publish this message (streams may be coalesced).
    Message(Box<Message>),
    /// Send everything pending, then acknowledge.
    Flush(Sender<()>),
}

struct Pending {
    msg: Message,
    text: String,
    since: Instant,
}

/// Starts the publisher thread.
pub fn spawn(
    iopub: zmq::Socket,
    mailbox: Mailbox<Publish>,
    signer: Signer,
    session: String,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("iopub".into()).spawn(move || {
        let mut publisher = Publisher { iopub, signer, session, pending: None };
        publisher.run(&mailbox);
    })
}

struct Publisher {
    iopub: zmq::Socket,
    signer: Signer,
    session: String,
    pending: Option<Pending>,
}

impl Publisher {
    fn run(&mut self, mailbox: &Mailbox<Publish>) {
        loop {
            let timeout =
                self.pending.as_ref().map(|p| STREAM_DELAY.saturating_sub(p.since.elapsed()));
            let mut items =
                [self.iopub.as_poll_item(zmq::POLLIN), mailbox.bell().as_poll_item(zmq::POLLIN)];
            match zmq::poll(&mut items, poll_millis(timeout)) {
                Ok(_) => {}
                Err(zmq::Error::ETERM) => return,
                Err(e) => {
                    tracing::warn!("iopub: poll failed: {e}");
                    continue;
                }
            }
            let (subscriptions, mail) = (items[0].is_readable(), items[1].is_readable());
            if subscriptions {
                self.welcome_subscribers();
            }
            if mail {
                for item in mailbox.take() {
                    self.handle(item);
                }
            }
            if self.pending.as_ref().is_some_and(|p| p.since.elapsed() >= STREAM_DELAY) {
                self.flush();
            }
        }
    }

    fn welcome_subscribers(&mut self) {
        while let Ok(frame) = self.iopub.recv_bytes(zmq::DONTWAIT) {
            // \x01 = subscribe, \x00 = unsubscribe; only new subscribers are greeted.
            let Some((&1, topic)) = frame.split_first() else { continue };
            let subscription = String::from_utf8_lossy(topic).into_owned();
            tracing::debug!("iopub: new subscriber for {subscription:?}");
            let mut welcome = Message::new(
                "iopub_welcome",
                &self.session,
                json!({ "subscription": subscription }),
            );
            welcome.identities =
                vec![if topic.is_empty() { b"iopub_welcome".to_vec() } else { topic.to_vec() }];
            self.flush();
            send(&self.iopub, &self.signer, &welcome, Channel::Iopub);
        }
    }

    fn handle(&mut self, item: Publish) {
        match item {
            Publish::Flush(ack) => {
                self.flush();
                let _ = ack.send(());
            }
            Publish::Message(msg) if msg.msg_type() == "stream" => self.stream(*msg),
            Publish::Message(msg) => {
                self.flush();
                send(&self.iopub, &self.signer, &msg, Channel::Iopub);
            }
        }
    }

    fn stream(&mut self, msg: Message) {
        let text = msg.str_field("text").unwrap_or("").to_owned();
        if let Some(p) = &mut self.pending {
            let same = p.msg.parent_id() == msg.parent_id()
                && p.msg.content["name"] == msg.content["name"];
            if same {
                p.text.push_str(&text);
                if p.text.len() >= STREAM_MAX {
                    self.flush();
                }
                return;
            }
            self.flush();
        }
        self.pending = Some(Pending { msg, text, since: Instant::now() });
    }

    fn flush(&mut self) {
        if let Some(Pending { mut msg, text, .. }) = self.pending.take() {
            msg.content["text"] = Value::String(text);
            send(&self.iopub, &self.signer, &msg, Channel::Iopub);
        }
    }
}

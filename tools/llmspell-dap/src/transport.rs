//! The client side of the adapter: where DAP messages come from and go to.
//!
//! A reader thread owns the input (standard input or the TCP stream), reads frames
//! ([`crate::framing`]) and hands each parsed message to the session through a channel; after
//! each one it writes a byte to a pipe, the *doorbell*, whose read end the session polls
//! together with the kernel's ZeroMQ sockets. So the session sleeps in one `zmq::poll` and
//! wakes for whichever side speaks first, without polling on a timer.
//!
//! The session thread alone writes: [`Outbox`] numbers every message it sends (`seq`), as DAP
//! asks of each side.

use std::io::{BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

use crossbeam_channel::{Receiver, Sender};
use serde_json::{Value, json};

use crate::framing::{self, FrameError};

/// What the reader thread saw.
#[derive(Debug)]
pub enum Incoming {
    /// A well-framed JSON message.
    Message(Value),
    /// A well-framed body that is not JSON (the stream is still in step).
    BadJson(String),
    /// The framing broke: the stream cannot be read any further.
    Broken(FrameError),
    /// The client closed the stream between messages.
    Closed,
}

/// The receiving end: a channel and its doorbell.
pub struct Inbox {
    rx: Receiver<Incoming>,
    bell: std::io::PipeReader,
}

impl Inbox {
    /// Starts the reader thread on `input`.
    pub fn spawn(input: impl Read + Send + 'static) -> std::io::Result<Inbox> {
        let (bell, ring) = std::io::pipe()?;
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::Builder::new()
            .name("dap-reader".into())
            .spawn(move || read_loop(BufReader::new(input), &tx, ring))?;
        Ok(Inbox { rx, bell })
    }

    /// The doorbell's file descriptor, readable while a message waits.
    pub fn fd(&self) -> RawFd {
        self.bell.as_raw_fd()
    }

    /// Takes the next message once the doorbell rang (blocks until one is there otherwise).
    pub fn take(&mut self) -> Incoming {
        let mut byte = [0u8; 1];
        match self.bell.read(&mut byte) {
            // Each byte was written after its message was queued.
            Ok(1) => self.rx.recv().unwrap_or(Incoming::Closed),
            _ => Incoming::Closed,
        }
    }
}

fn read_loop(
    mut input: impl std::io::BufRead,
    tx: &Sender<Incoming>,
    mut ring: std::io::PipeWriter,
) {
    loop {
        let (incoming, last) = match framing::read_frame(&mut input) {
            Ok(Some(body)) => match serde_json::from_slice(&body) {
                Ok(value) => (Incoming::Message(value), false),
                Err(e) => (Incoming::BadJson(e.to_string()), false),
            },
            Ok(None) => (Incoming::Closed, true),
            Err(e) => (Incoming::Broken(e), true),
        };
        if tx.send(incoming).is_err() || ring.write_all(&[1]).is_err() || last {
            return;
        }
    }
}

/// The sending end: frames and numbers every message.
pub struct Outbox {
    output: Box<dyn Write + Send>,
    seq: i64,
    /// Set once a write failed: the client is gone.
    pub broken: bool,
}

impl Outbox {
    pub fn new(output: Box<dyn Write + Send>) -> Outbox {
        Outbox { output, seq: 1, broken: false }
    }

    /// Sends `msg` with the next `seq`.
    pub fn send(&mut self, mut msg: Value) {
        if self.broken {
            return;
        }
        msg["seq"] = json!(self.seq);
        self.seq += 1;
        let body = serde_json::to_vec(&msg).expect("JSON values serialize");
        if framing::write_frame(&mut self.output, &body).is_err() {
            self.broken = true;
        }
    }

    /// A response to the request numbered `request_seq`.
    pub fn respond(&mut self, request_seq: i64, command: &str, body: Value) {
        self.send(json!({
            "type": "response", "request_seq": request_seq, "success": true,
            "command": command, "body": body,
        }));
    }

    /// An error response: `message` is shown to the user.
    pub fn fail(&mut self, request_seq: i64, command: &str, message: &str) {
        self.send(json!({
            "type": "response", "request_seq": request_seq, "success": false,
            "command": command, "message": message,
            "body": {"error": {"id": 1, "format": message, "showUser": true}},
        }));
    }

    pub fn event(&mut self, event: &str, body: Value) {
        self.send(json!({"type": "event", "event": event, "body": body}));
    }

    /// An `output` event.
    pub fn output(&mut self, category: &str, text: &str) {
        self.event("output", json!({"category": category, "output": text}));
    }
}

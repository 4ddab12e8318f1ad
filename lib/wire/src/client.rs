//! A small blocking Jupyter client over all five channels, for the llmspell tools and the tests.
//!
//! It signs what it sends, verifies what it receives, and matches replies to requests by
//! `parent_header.msg_id`. Every wait has a deadline; nothing blocks forever.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::connection::ConnectionInfo;
use crate::error::WireError;
use crate::frames;
use crate::message::Message;
use crate::signer::Signer;

/// The five Jupyter channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    Shell,
    Iopub,
    Stdin,
    Control,
    Heartbeat,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Shell => "shell",
            Channel::Iopub => "iopub",
            Channel::Stdin => "stdin",
            Channel::Control => "control",
            Channel::Heartbeat => "hb",
        }
    }
}

/// What an execute request produced: the reply and every iopub message it caused, in order.
#[derive(Debug, Clone)]
pub struct ExecuteOutcome {
    pub reply: Message,
    pub iopub: Vec<Message>,
}

impl ExecuteOutcome {
    /// All `stream` text of one stream (`stdout` / `stderr`), concatenated.
    pub fn stream_text(&self, name: &str) -> String {
        self.iopub
            .iter()
            .filter(|m| m.msg_type() == "stream" && m.str_field("name") == Some(name))
            .filter_map(|m| m.str_field("text"))
            .collect()
    }

    /// The `text/plain` of the execute_result, if any.
    pub fn result_text(&self) -> Option<&str> {
        self.iopub
            .iter()
            .find(|m| m.msg_type() == "execute_result")
            .and_then(|m| m.content["data"]["text/plain"].as_str())
    }

    /// The reply's status (`ok`, `error`, `abort`).
    pub fn status(&self) -> &str {
        self.reply.str_field("status").unwrap_or("")
    }
}

/// Options of an execute_request (messaging spec, "Execute").
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    pub silent: bool,
    pub store_history: bool,
    pub allow_stdin: bool,
    pub stop_on_error: bool,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            silent: false,
            store_history: true,
            allow_stdin: false,
            stop_on_error: true,
        }
    }
}

/// A connected client.
pub struct Client {
    _ctx: zmq::Context,
    shell: zmq::Socket,
    control: zmq::Socket,
    stdin: zmq::Socket,
    iopub: zmq::Socket,
    hb: zmq::Socket,
    signer: Signer,
    session: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("session", &self.session).finish()
    }
}

impl Client {
    /// Connects every channel (ZeroMQ connects lazily: this does not prove a kernel is there;
    /// use [`Client::wait_ready`]).
    pub fn connect(info: &ConnectionInfo) -> Result<Client, WireError> {
        let ctx = zmq::Context::new();
        let session = uuid::Uuid::new_v4().to_string();
        let socket = |kind, channel: Channel| -> Result<zmq::Socket, WireError> {
            let s = ctx.socket(kind)?;
            s.set_linger(0)?;
            if kind == zmq::DEALER {
                // One identity for shell, control and stdin, as jupyter_client does: the kernel
                // addresses input_request on stdin with the shell request's identity.
                s.set_identity(session.as_bytes())?;
            }
            s.connect(&info.endpoint(channel))?;
            Ok(s)
        };
        let iopub = socket(zmq::SUB, Channel::Iopub)?;
        iopub.set_subscribe(b"")?;
        Ok(Client {
            shell: socket(zmq::DEALER, Channel::Shell)?,
            control: socket(zmq::DEALER, Channel::Control)?,
            stdin: socket(zmq::DEALER, Channel::Stdin)?,
            hb: socket(zmq::REQ, Channel::Heartbeat)?,
            iopub,
            signer: Signer::new(&info.key),
            session,
            _ctx: ctx,
        })
    }

    /// This client's session id (the `session` of every header it sends).
    pub fn session(&self) -> &str {
        &self.session
    }

    fn socket(&self, channel: Channel) -> &zmq::Socket {
        match channel {
            Channel::Shell => &self.shell,
            Channel::Iopub => &self.iopub,
            Channel::Stdin => &self.stdin,
            Channel::Control => &self.control,
            Channel::Heartbeat => &self.hb,
        }
    }

    /// A poll item for messages arriving on `channel`, so a caller can wait on this client's
    /// sockets together with its own file descriptors (`zmq::PollItem::from_fd`) in one
    /// `zmq::poll`, then take each message with [`Client::recv`] and a zero timeout.
    pub fn poll_item(&self, channel: Channel) -> zmq::PollItem<'_> {
        self.socket(channel).as_poll_item(zmq::POLLIN)
    }

    /// A new request message from this client's session.
    pub fn message(&self, msg_type: &str, content: Value) -> Message {
        Message::new(msg_type, &self.session, content)
    }

    /// Signs and sends `msg` on `channel`.
    pub fn send(&self, channel: Channel, msg: &Message) -> Result<(), WireError> {
        let frames = frames::encode(msg, &self.signer);
        self.socket(channel).send_multipart(frames, 0)?;
        Ok(())
    }

    /// Sends a new request; returns its msg_id.
    pub fn request(
        &self,
        channel: Channel,
        msg_type: &str,
        content: Value,
    ) -> Result<String, WireError> {
        let msg = self.message(msg_type, content);
        self.send(channel, &msg)?;
        Ok(msg.header.msg_id)
    }

    /// Receives the next message on `channel` within `timeout`.
    pub fn recv(&self, channel: Channel, timeout: Duration) -> Result<Message, WireError> {
        let socket = self.socket(channel);
        let mut items = [socket.as_poll_item(zmq::POLLIN)];
        if poll(&mut items, timeout)? == 0 {
            return Err(WireError::Timeout(timeout));
        }
        let frames = socket.recv_multipart(0)?;
        frames::decode(frames, &self.signer)
    }

    /// Receives the next message on whichever of `channels` has one first (earlier channels win
    /// a tie) within `timeout`, so a client can follow several channels without busy-waiting.
    pub fn recv_any(
        &self,
        channels: &[Channel],
        timeout: Duration,
    ) -> Result<(Channel, Message), WireError> {
        let mut items: Vec<_> =
            channels.iter().map(|&c| self.socket(c).as_poll_item(zmq::POLLIN)).collect();
        if poll(&mut items, timeout)? == 0 {
            return Err(WireError::Timeout(timeout));
        }
        let ready = items.iter().position(|item| item.is_readable());
        let channel = channels[ready.ok_or(WireError::Timeout(timeout))?];
        Ok((channel, self.recv(channel, Duration::ZERO)?))
    }

    /// Receives on `channel` until the reply to `msg_id` arrives (other messages are dropped).
    pub fn recv_reply(
        &self,
        channel: Channel,
        msg_id: &str,
        timeout: Duration,
    ) -> Result<Message, WireError> {
        let deadline = Instant::now() + timeout;
        loop {
            let msg = self.recv(channel, remaining(deadline, timeout)?)?;
            if msg.parent_id() == Some(msg_id) {
                return Ok(msg);
            }
        }
    }

    /// Sends a request and waits for its reply.
    pub fn call(
        &self,
        channel: Channel,
        msg_type: &str,
        content: Value,
        timeout: Duration,
    ) -> Result<Message, WireError> {
        let id = self.request(channel, msg_type, content)?;
        self.recv_reply(channel, &id, timeout)
    }

    /// Waits until the kernel answers kernel_info on shell *and* iopub is flowing (so no output
    /// of the next request is lost to the subscription race), as jupyter_client's wait_for_ready.
    pub fn wait_ready(&self, timeout: Duration) -> Result<Message, WireError> {
        let deadline = Instant::now() + timeout;
        loop {
            let id = self.request(Channel::Shell, "kernel_info_request", json!({}))?;
            let step = remaining(deadline, timeout)?.min(Duration::from_secs(1));
            let reply = match self.recv_reply(Channel::Shell, &id, step) {
                Ok(reply) => reply,
                Err(WireError::Timeout(_)) => continue,
                Err(e) => return Err(e),
            };
            // Any iopub message (busy/idle of this request, or the welcome) proves the subscription.
            let iopub_wait = remaining(deadline, timeout)?.min(Duration::from_millis(300));
            match self.recv(Channel::Iopub, iopub_wait) {
                Ok(_) => {
                    self.drain(Channel::Iopub);
                    return Ok(reply);
                }
                Err(WireError::Timeout(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Drops whatever is queued on `channel`.
    pub fn drain(&self, channel: Channel) {
        while self.recv(channel, Duration::from_millis(20)).is_ok() {}
    }

    /// Runs `code` and collects the reply and every iopub message up to the matching `idle`.
    pub fn execute(&self, code: &str, timeout: Duration) -> Result<ExecuteOutcome, WireError> {
        self.execute_with(code, &ExecuteOptions::default(), timeout, |_| {}, |_, _| String::new())
    }

    /// Like [`Client::execute`], calling `on_iopub` for each message as it arrives and `on_input`
    /// (prompt, password) for each `input_request` when `allow_stdin` is set.
    pub fn execute_with(
        &self,
        code: &str,
        options: &ExecuteOptions,
        timeout: Duration,
        mut on_iopub: impl FnMut(&Message),
        mut on_input: impl FnMut(&str, bool) -> String,
    ) -> Result<ExecuteOutcome, WireError> {
        let content = json!({
            "code": code,
            "silent": options.silent,
            "store_history": options.store_history,
            "user_expressions": {},
            "allow_stdin": options.allow_stdin,
            "stop_on_error": options.stop_on_error,
        });
        let id = self.request(Channel::Shell, "execute_request", content)?;
        let deadline = Instant::now() + timeout;
        let (mut reply, mut iopub, mut idle) = (None, Vec::new(), false);
        while reply.is_none() || !idle {
            let wait = remaining(deadline, timeout)?;
            let mut items = [
                self.shell.as_poll_item(zmq::POLLIN),
                self.iopub.as_poll_item(zmq::POLLIN),
                self.stdin.as_poll_item(zmq::POLLIN),
            ];
            if poll(&mut items, wait)? == 0 {
                return Err(WireError::Timeout(timeout));
            }
            let ready = [items[0].is_readable(), items[1].is_readable(), items[2].is_readable()];
            if ready[0] {
                let msg = self.recv(Channel::Shell, Duration::ZERO)?;
                if msg.parent_id() == Some(id.as_str()) {
                    reply = Some(msg);
                }
            }
            if ready[1] {
                let msg = self.recv(Channel::Iopub, Duration::ZERO)?;
                if msg.parent_id() == Some(id.as_str()) {
                    idle |= msg.msg_type() == "status" && msg.content["execution_state"] == "idle";
                    on_iopub(&msg);
                    iopub.push(msg);
                }
            }
            if ready[2] {
                let msg = self.recv(Channel::Stdin, Duration::ZERO)?;
                if msg.msg_type() == "input_request" {
                    let prompt = msg.str_field("prompt").unwrap_or("");
                    let value = on_input(prompt, msg.bool_field("password", false));
                    let answer = msg.reply("input_reply", &self.session, json!({"value": value}));
                    self.send(Channel::Stdin, &Message { identities: Vec::new(), ..answer })?;
                }
            }
        }
        Ok(ExecuteOutcome { reply: reply.expect("loop ends with a reply"), iopub })
    }

    /// One heartbeat echo; returns the round trip. After a timeout the REQ socket is replaced,
    /// since a REQ that lost its reply cannot send again.
    pub fn heartbeat(
        &mut self,
        info: &ConnectionInfo,
        timeout: Duration,
    ) -> Result<Duration, WireError> {
        let start = Instant::now();
        let ping = b"ping";
        self.hb.send(&ping[..], 0)?;
        let mut items = [self.hb.as_poll_item(zmq::POLLIN)];
        if poll(&mut items, timeout)? == 0 {
            let hb = self._ctx.socket(zmq::REQ)?;
            hb.set_linger(0)?;
            hb.connect(&info.endpoint(Channel::Heartbeat))?;
            self.hb = hb;
            return Err(WireError::Timeout(timeout));
        }
        let echo = self.hb.recv_bytes(0)?;
        if echo != ping {
            return Err(WireError::Truncated { found: echo.len() });
        }
        Ok(start.elapsed())
    }
}

/// `zmq::poll` that waits out signals: a signal handler running in this process (a client's
/// Ctrl-C) makes poll fail with EINTR, which is not the socket's fault; poll again for the rest.
fn poll(items: &mut [zmq::PollItem<'_>], timeout: Duration) -> Result<i32, zmq::Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match zmq::poll(items, millis(left)) {
            Err(zmq::Error::EINTR) => continue,
            other => return other,
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn remaining(deadline: Instant, timeout: Duration) -> Result<Duration, WireError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() { Err(WireError::Timeout(timeout)) } else { Ok(left) }
}

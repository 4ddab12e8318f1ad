//! Transport: the ZeroMQ sockets, the threads that own them, signing and framing.
//!
//! Socket ownership (a ZeroMQ socket is only ever touched by its owner):
//!
//! | socket            | kind   | owner thread            |
//! |-------------------|--------|-------------------------|
//! | hb                | REP    | `heartbeat`             |
//! | control           | ROUTER | `control`               |
//! | shell, stdin      | ROUTER | `shell`                 |
//! | iopub             | XPUB   | `iopub` (the publisher) |
//! | mailbox PULLs     | PULL   | the mailbox's receiver  |
//! | mailbox PUSHes    | PUSH   | each sending thread     |
//!
//! Threads talk through [`mailbox`]es: a crossbeam channel carries the data and an inproc PUSH
//! "doorbell" wakes the receiving thread's `zmq::poll`, so a thread can wait on its sockets and
//! its mailbox at once without sharing a socket.

pub mod control;
pub mod heartbeat;
pub mod mailbox;
pub mod publisher;
pub mod shell;

use llmspell_common::ExitCode;
use llmspell_wire::client::Channel;
use llmspell_wire::connection::{ConnectionInfo, endpoint};
use llmspell_wire::frames::RawMessage;
use llmspell_wire::{Message, Signer};

use crate::Failure;

/// The five bound sockets and the connection info with the ports they really got.
pub struct Bound {
    pub ctx: zmq::Context,
    pub shell: zmq::Socket,
    pub control: zmq::Socket,
    pub stdin: zmq::Socket,
    pub iopub: zmq::Socket,
    pub hb: zmq::Socket,
    pub info: ConnectionInfo,
}

/// Creates the ZeroMQ context and binds every socket of `info`. A port of 0 is chosen by the OS,
/// or, with `range`, is the first free port of that range (so a firewall can be set for it).
/// This is the first point that creates threads (ZeroMQ's I/O thread): daemon mode forks before.
pub fn bind(
    mut info: ConnectionInfo,
    max_message_bytes: i64,
    range: Option<PortRange>,
) -> Result<Bound, Failure> {
    let ctx = zmq::Context::new();
    let make = |kind: zmq::SocketType,
                channel: Channel,
                port: u16|
     -> Result<(zmq::Socket, u16), Failure> {
        let internal = |e: zmq::Error| {
            Failure::new(ExitCode::Software, format!("zmq {}: {e}", channel.name()))
        };
        let socket = ctx.socket(kind).map_err(internal)?;
        socket.set_linger(1000).map_err(internal)?;
        socket.set_maxmsgsize(max_message_bytes).map_err(internal)?;
        if kind == zmq::ROUTER {
            // Replies to a peer that went away are dropped instead of blocking the owner thread.
            socket.set_router_mandatory(false).map_err(internal)?;
        }
        if kind == zmq::XPUB {
            // Deliver every subscription, even a repeated one, so each subscriber is welcomed.
            socket.set_xpub_verbose(true).map_err(internal)?;
        }
        if let Some(range) = range.filter(|_| port == 0 && info.transport == "tcp") {
            // Another kernel may take a port between our tries: a busy port is simply skipped.
            for candidate in range.first..=range.last {
                let addr = endpoint(&info.transport, &info.ip, candidate);
                match socket.bind(&addr) {
                    Ok(()) => return Ok((socket, candidate)),
                    Err(zmq::Error::EADDRINUSE) => continue,
                    Err(e) => return Err(bind_failure(channel, &addr, e)),
                }
            }
            let msg = format!(
                "cannot bind {} channel: every port of {}-{} on {} is in use",
                channel.name(),
                range.first,
                range.last,
                info.ip
            );
            return Err(Failure::new(ExitCode::TempFail, msg));
        }
        let addr = endpoint(&info.transport, &info.ip, port);
        socket.bind(&addr).map_err(|e| bind_failure(channel, &addr, e))?;
        let port = if port == 0 { bound_port(&socket).map_err(internal)? } else { port };
        Ok((socket, port))
    };
    let (shell, shell_port) = make(zmq::ROUTER, Channel::Shell, info.shell_port)?;
    let (iopub, iopub_port) = make(zmq::XPUB, Channel::Iopub, info.iopub_port)?;
    let (stdin, stdin_port) = make(zmq::ROUTER, Channel::Stdin, info.stdin_port)?;
    let (control, control_port) = make(zmq::ROUTER, Channel::Control, info.control_port)?;
    let (hb, hb_port) = make(zmq::REP, Channel::Heartbeat, info.hb_port)?;
    info.shell_port = shell_port;
    info.iopub_port = iopub_port;
    info.stdin_port = stdin_port;
    info.control_port = control_port;
    info.hb_port = hb_port;
    Ok(Bound { ctx, shell, control, stdin, iopub, hb, info })
}

/// Ports `first..=last` for the sockets a kernel binds (`start --port-range A-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    /// `A-B` with 1 <= A <= B; a kernel needs five ports, so the range must hold five.
    fn from_str(text: &str) -> Result<PortRange, String> {
        let bad = || format!("{text:?} is not a port range A-B (e.g. 9000-9099)");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first == 0 || last < first {
            return Err(bad());
        }
        if last - first < 4 {
            return Err(format!("port range {text} holds fewer than the 5 ports a kernel binds"));
        }
        Ok(PortRange { first, last })
    }
}

fn bind_failure(channel: Channel, addr: &str, err: zmq::Error) -> Failure {
    let code = match err {
        zmq::Error::EADDRINUSE => ExitCode::TempFail,
        zmq::Error::EADDRNOTAVAIL | zmq::Error::EINVAL | zmq::Error::ENODEV => ExitCode::Config,
        zmq::Error::EACCES => ExitCode::NoPerm,
        _ => ExitCode::Software,
    };
    Failure::new(code, format!("cannot bind {} channel to {addr}: {err}", channel.name()))
}

fn bound_port(socket: &zmq::Socket) -> Result<u16, zmq::Error> {
    let last = socket.get_last_endpoint()?.unwrap_or_default();
    last.rsplit(':').next().and_then(|p| p.parse().ok()).ok_or(zmq::Error::EINVAL)
}

/// Receives one multipart message and turns it into a trusted [`Message`], or logs why not.
/// Bad signatures are logged with the sender's identity and dropped, never executed.
pub fn receive(socket: &zmq::Socket, signer: &Signer, channel: Channel) -> Option<Message> {
    let frames = match socket.recv_multipart(zmq::DONTWAIT) {
        Ok(frames) => frames,
        Err(zmq::Error::EAGAIN) => return None,
        Err(e) => {
            tracing::warn!("{}: receive failed: {e}", channel.name());
            return None;
        }
    };
    let raw = match RawMessage::split(frames) {
        Ok(raw) => raw,
        Err(e) => {
            tracing::warn!("{}: dropping malformed message: {e}", channel.name());
            return None;
        }
    };
    let sender = describe_identities(&raw.identities);
    if let Err(e) = raw.verify(signer) {
        tracing::warn!("{}: dropping message from {sender}: {e}", channel.name());
        return None;
    }
    raw.parse()
        .map_err(|e| tracing::warn!("{}: dropping message from {sender}: {e}", channel.name()))
        .ok()
}

/// Signs and sends `msg`; a failure is logged (the peer may be gone), never fatal.
pub fn send(socket: &zmq::Socket, signer: &Signer, msg: &Message, channel: Channel) {
    let frames = llmspell_wire::frames::encode(msg, signer);
    if let Err(e) = socket.send_multipart(frames, 0) {
        tracing::warn!("{}: cannot send {}: {e}", channel.name(), msg.msg_type());
    }
}

fn describe_identities(ids: &[Vec<u8>]) -> String {
    if ids.is_empty() {
        return "an unnamed peer".into();
    }
    ids.iter()
        .map(|id| match std::str::from_utf8(id) {
            Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) => s.to_owned(),
            _ => hex(id),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Poll timeout in milliseconds for `zmq::poll` (-1 = forever).
pub fn poll_millis(timeout: Option<std::time::Duration>) -> i64 {
    timeout.map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse_and_refuse_nonsense() {
        assert_eq!("9000-9004".parse(), Ok(PortRange { first: 9000, last: 9004 }));
        for bad in ["9000", "9004-9000", "0-10", "9000-9003", "a-b", "9000-70000"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sockets_bind_inside_the_range_skipping_busy_ports() {
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let first = busy.local_addr().unwrap().port();
        let range = PortRange { first, last: first.saturating_add(40) };
        let info = ConnectionInfo::new("127.0.0.1", "k".into());
        let bound = bind(info, 1 << 20, Some(range)).unwrap();
        for port in bound.info.ports() {
            assert!(port > first && port <= range.last, "{port} outside {range:?}");
        }
    }
}

//! Mailboxes: a crossbeam channel plus an inproc PUSH/PULL doorbell, so the receiving thread can
//! `zmq::poll` its own sockets and its mailbox together. Senders each own their PUSH socket.

use crossbeam_channel::{Receiver, Sender, TryIter};

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The receiving end, owned by one thread.
pub struct Mailbox<T> {
    rx: Receiver<T>,
    bell: zmq::Socket,
}

/// Makes new [`Outbox`]es for sending threads.
#[derive(Clone)]
pub struct Address<T> {
    tx: Sender<T>,
    endpoint: String,
    ctx: zmq::Context,
}

/// A sending end, owned by one thread.
pub struct Outbox<T> {
    tx: Sender<T>,
    bell: zmq::Socket,
}

/// A new mailbox named `name` (for readable endpoints) and its address.
pub fn mailbox<T>(ctx: &zmq::Context, name: &str) -> Result<(Mailbox<T>, Address<T>), zmq::Error> {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let endpoint = format!("inproc://llmspell-{name}-{n}");
    let bell = ctx.socket(zmq::PULL)?;
    bell.bind(&endpoint)?;
    let (tx, rx) = crossbeam_channel::unbounded();
    Ok((Mailbox { rx, bell }, Address { tx, endpoint, ctx: ctx.clone() }))
}

impl<T> Mailbox<T> {
    /// The doorbell socket, to put in a poll set.
    pub fn bell(&self) -> &zmq::Socket {
        &self.bell
    }

    /// Silences the doorbell and yields everything queued. Drain the bell first so a ring that
    /// arrives later is never lost: at worst it causes one spurious wake-up.
    pub fn take(&self) -> TryIter<'_, T> {
        while self.bell.recv_bytes(zmq::DONTWAIT).is_ok() {}
        self.rx.try_iter()
    }
}

impl<T> Address<T> {
    /// A new outbox for the calling thread.
    pub fn outbox(&self) -> Result<Outbox<T>, zmq::Error> {
        let bell = self.ctx.socket(zmq::PUSH)?;
        bell.set_linger(0)?;
        bell.connect(&self.endpoint)?;
        Ok(Outbox { tx: self.tx.clone(), bell })
    }
}

impl<T> Outbox<T> {
    /// Queues `item` and rings the bell. Fails only when the receiver is gone.
    pub fn send(&self, item: T) -> bool {
        if self.tx.send(item).is_err() {
            return false;
        }
        // A full doorbell queue already guarantees a wake-up; nothing to do on EAGAIN.
        let _ = self.bell.send(&b""[..], zmq::DONTWAIT);
        true
    }
}

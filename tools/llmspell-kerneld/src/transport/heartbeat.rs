//! The heartbeat thread owns `hb` (REP) and echoes every ping; nothing else ever blocks it.

use std::thread::JoinHandle;

/// Starts the echo loop; it ends when the context is terminated.
pub fn spawn(hb: zmq::Socket) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("heartbeat".into()).spawn(move || {
        loop {
            match hb.recv_multipart(0) {
                Ok(frames) => {
                    if let Err(e) = hb.send_multipart(frames, 0) {
                        tracing::warn!("heartbeat: cannot echo: {e}");
                    }
                }
                Err(zmq::Error::ETERM) => return,
                Err(e) => tracing::warn!("heartbeat: {e}"),
            }
        }
    })
}

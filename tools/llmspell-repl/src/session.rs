//! The connection to one kernel: attached (`--kernel`) or our own, and the checks that tell a
//! kernel that is slow from one that is gone.
//!
//! The [`Client`] is shared (behind a mutex) with the line editor's validator and completer,
//! which ask the kernel `is_complete_request` and `complete_request` while the prompt is shown;
//! the main thread holds it while a cell runs. The two never overlap.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use llmspell_common::{ExitCode, HasExitCode, Home};
use llmspell_wire::{Client, ConnectionInfo, WireError};
use serde_json::Value;

use crate::Failure;
use crate::kernel::{self, OwnKernel};

/// How long a kernel may take to answer kernel_info once it is reachable.
const READY_WAIT: Duration = Duration::from_secs(10);
/// How long the heartbeat of a kernel may take to answer at all.
const HEARTBEAT_WAIT: Duration = Duration::from_secs(1);

/// A connected kernel: attached, or our own (stopped when the session is dropped).
pub struct Session {
    client: Arc<Mutex<Client>>,
    pub info: ConnectionInfo,
    pub connection_file: PathBuf,
    /// How messages name the kernel: `kernel ID`, `kernel at PATH` or `own kernel`.
    pub label: String,
    /// The kernel's kernel_info_reply content, from when the session opened.
    pub kernel_info: Value,
    // Dropped after the client, so the kernel is stopped last.
    pub own: Option<OwnKernel>,
}

impl Session {
    /// Attaches to `--kernel`, or starts a kernel of our own; either way waits until it answers.
    pub fn open(spec: Option<&str>, home: &Home) -> Result<Session, Failure> {
        let (connection_file, label, own) = match spec {
            Some(spec) => {
                let target = kernel::resolve(spec, home)?;
                (target.connection_file, target.label, None)
            }
            None => {
                let own = kernel::start_own()?;
                (own.connection_file().to_owned(), "own kernel".to_owned(), Some(own))
            }
        };
        let info = ConnectionInfo::read(&connection_file).map_err(|e| {
            let code = match e.exit_code() {
                ExitCode::NoInput => ExitCode::Unavailable, // removed since resolve: it stopped
                code => code,
            };
            Failure::new(code, format!("{label}: {e}"))
        })?;
        let client = Client::connect(&info).map_err(|e| lost(&label, e))?;
        let mut session = Session {
            client: Arc::new(Mutex::new(client)),
            info,
            connection_file,
            label,
            kernel_info: Value::Null,
            own,
        };
        if session.own.is_none() {
            session.check_alive()?;
        }
        let reply = session.client().wait_ready(READY_WAIT).map_err(|e| session.lost(e));
        session.kernel_info = reply?.content;
        Ok(session)
    }

    /// The client, for the duration of one exchange.
    pub fn client(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Another handle on the client, for the line editor's helpers.
    pub fn shared_client(&self) -> Arc<Mutex<Client>> {
        Arc::clone(&self.client)
    }

    /// Exit 69 unless the kernel answers a heartbeat (and, if ours, is still running).
    pub fn check_alive(&mut self) -> Result<(), Failure> {
        if let Some(own) = &mut self.own
            && own.exited()
        {
            return Err(Failure::new(ExitCode::Unavailable, "own kernel exited"));
        }
        let answered = self.client().heartbeat(&self.info, HEARTBEAT_WAIT);
        answered.map(drop).map_err(|e| {
            Failure::new(
                ExitCode::Unavailable,
                format!("{} does not answer (no heartbeat: {e})", self.label),
            )
        })
    }

    /// The failure for a wire error while talking to this kernel.
    pub fn lost(&self, e: WireError) -> Failure {
        lost(&self.label, e)
    }
}

fn lost(label: &str, e: WireError) -> Failure {
    Failure::new(e.exit_code(), format!("{label}: {e}"))
}

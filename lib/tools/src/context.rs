//! What a running tool gets besides its parameters: the deadline, the cancel flag set when the
//! caller gave up, and the policy. Tools that loop call [`Context::check`] in the loop; tools
//! that block on I/O give the OS [`Context::remaining`] as their timeout; tools that run a
//! child process kill it when [`Context::is_cancelled`] turns true. That is how a timeout
//! really stops the work rather than only stopping the wait.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::error::ToolError;
use crate::policy::Policy;

#[derive(Debug, Clone)]
pub struct Context {
    deadline: Instant,
    timeout: Duration,
    cancelled: Arc<AtomicBool>,
    policy: Arc<Policy>,
}

impl Context {
    pub fn new(policy: Arc<Policy>, timeout: Duration) -> Context {
        Context {
            deadline: Instant::now() + timeout,
            timeout,
            cancelled: Arc::new(AtomicBool::new(false)),
            policy,
        }
    }

    /// The flag the caller sets when it stops waiting.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancelled.clone()
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed) || Instant::now() >= self.deadline
    }

    /// A timeout error once the deadline passed or the caller gave up; call it in every loop.
    pub fn check(&self) -> Result<(), ToolError> {
        if self.is_cancelled() { Err(self.timed_out()) } else { Ok(()) }
    }

    /// The error a tool returns when it stops for the deadline.
    pub fn timed_out(&self) -> ToolError {
        ToolError::timeout(format!("stopped after the {:.3} s timeout", self.timeout.as_secs_f64()))
    }

    /// Time left before the deadline (at least 1 ms, so it can be passed as an OS timeout).
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))
    }

    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The real location of a path parameter, if the policy allows it.
    pub fn path(&self, path: &str) -> Result<PathBuf, ToolError> {
        self.policy.resolve(path)
    }
}

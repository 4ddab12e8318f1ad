//! Running the tools in a kernel: one signed `tool_request` on shell, one `tool_reply` back
//! (ARCHITECTURE §5).
//!
//! `--kernel` names a kernel by id (`$LLMSPELL_HOME/kernels/kernel-<id>.json`) or by the path of
//! a connection file (anything with a `/` or ending in `.json`). Before connecting, a kernel
//! whose PID file nobody has locked is known dead (exit 69 at once, without waiting); after
//! sending, every second without a reply the heartbeat is asked, so a kernel that died without
//! a PID file (or a wrong path) is also found within about a second. A kernel that answers
//! heartbeats but not the request is given up after the wait the caller allows (exit 69).
//! A reply whose signature does not verify, or which is not a `tool_reply`, is exit 76.

use std::time::{Duration, Instant};

use llmspell_common::{ExitCode, HasExitCode, Home};
use llmspell_wire::{Channel, Client, ConnectionInfo, WireError};
use serde_json::Value;

use crate::Failure;

/// How long a quiet shell may be before the heartbeat is asked, and how long that may take.
const HEARTBEAT_AFTER: Duration = Duration::from_secs(1);

/// A kernel named on the command line (`--kernel ID|PATH`).
pub use llmspell_common::KernelRef as Target;

/// Finds the kernel `spec` names; one that is certainly not running is exit 69 here.
pub fn resolve(spec: &str, home: &Home) -> Result<Target, Failure> {
    llmspell_common::kernel_ref::resolve(spec, home).map_err(Failure::from_error)
}

/// Sends `request` as a `tool_request` and returns the `tool_reply` content, waiting at most
/// `wait` for it.
pub fn ask(target: &Target, request: &Value, wait: Duration) -> Result<Value, Failure> {
    let label = &target.label;
    let info = ConnectionInfo::read(&target.connection_file).map_err(|e| {
        let code = match e.exit_code() {
            ExitCode::NoInput => ExitCode::Unavailable, // removed since resolve: it just stopped
            code => code,
        };
        Failure::new(code, format!("{label}: {e}"))
    })?;
    let wire = |e: WireError| {
        let what = if e.exit_code() == ExitCode::Protocol { "bad tool_reply" } else { "no answer" };
        Failure::new(e.exit_code(), format!("{label}: {what}: {e}"))
    };
    let mut client = Client::connect(&info).map_err(wire)?;
    let msg_id = client.request(Channel::Shell, "tool_request", request.clone()).map_err(wire)?;
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::new(
                ExitCode::Unavailable,
                format!(
                    "{label} answers heartbeats but sent no tool_reply within {:.1} s; \
                     connection file {}",
                    wait.as_secs_f64(),
                    target.connection_file.display()
                ),
            ));
        }
        match client.recv_reply(Channel::Shell, &msg_id, left.min(HEARTBEAT_AFTER)) {
            Ok(reply) if reply.msg_type() == "tool_reply" => return Ok(reply.content),
            Ok(reply) => {
                return Err(Failure::new(
                    ExitCode::Protocol,
                    format!("{label}: expected a tool_reply, got {}", reply.msg_type()),
                ));
            }
            Err(WireError::Timeout(_)) => {
                if let Err(e) = client.heartbeat(&info, HEARTBEAT_AFTER) {
                    return Err(Failure::new(
                        ExitCode::Unavailable,
                        format!(
                            "{label} does not answer (no heartbeat: {e}); connection file {}",
                            target.connection_file.display()
                        ),
                    ));
                }
            }
            Err(e) => return Err(wire(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmspell_common::KernelId;

    #[test]
    fn ids_and_paths_resolve_and_missing_ones_are_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let e = resolve("work", &home).unwrap_err();
        assert_eq!(e.code, ExitCode::Unavailable);
        assert!(e.message.contains("no kernel work") && e.message.contains("kernel-work.json"));
        let e = resolve("./nowhere.json", &home).unwrap_err();
        assert_eq!(e.code, ExitCode::Unavailable);
        assert_eq!(resolve("Bad_Id", &home).unwrap_err().code, ExitCode::Usage);

        std::fs::create_dir_all(home.kernels_dir()).unwrap();
        let id = KernelId::new("work").unwrap();
        std::fs::write(home.connection_file(&id), "{}").unwrap();
        assert_eq!(resolve("work", &home).unwrap().label, "kernel work");
        // A PID file nobody locks: the kernel died (kill -9).
        std::fs::write(home.pid_file(&id), "4242\n").unwrap();
        let e = resolve("work", &home).unwrap_err();
        assert_eq!(e.code, ExitCode::Unavailable);
        assert!(e.message.contains("not running"), "{e}");
        let path = home.connection_file(&id);
        let e = resolve(path.to_str().unwrap(), &home).unwrap_err();
        assert!(e.message.contains("not running"), "{e}");
    }
}

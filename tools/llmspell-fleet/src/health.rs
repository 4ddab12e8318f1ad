//! `health`, `cleanup`, `cull`: what the kernels are doing, and acting on it.
//!
//! Health asks more than "is the pid alive" (the seed script's mistake): per kernel, whether its
//! PID file's lock is held (the process), whether it echoes a heartbeat, and how long a
//! kernel_info round trip on control takes, with RSS, uptime and busy/idle from that reply
//! (all through `llmspell-kerneld status --json`). Cleanup removes only entries whose lock is
//! free (the kernel is dead), never the registry itself. Cull stops kernels whose last shell or
//! tool request is older than `--idle`, as jupyter_server's culler does; busy ones only with
//! `--busy`.

use llmspell_common::pidfile::{self, Liveness};
use llmspell_common::{ExitCode, Home, KernelId};
use serde::Serialize;

use crate::cli::{CullArgs, HealthArgs};
use crate::kerneld::{self, Status};
use crate::manage::{not_stopped, stop_ids};
use crate::output::{self, Rows, dash, write_stdout};
use crate::{Failure, registry};

/// One kernel's health (the `--json` object).
#[derive(Debug, Serialize)]
pub struct Health {
    pub id: String,
    pub healthy: bool,
    /// `alive` (PID lock held), `dead` (stale files) or `missing` (no files).
    pub process: &'static str,
    pub pid: Option<u32>,
    pub heartbeat: bool,
    pub kernel_info_ms: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub uptime_s: Option<f64>,
    pub busy: Option<bool>,
    pub idle_s: Option<f64>,
    pub error: Option<String>,
}

impl Health {
    pub fn from_status(s: &Status) -> Health {
        let process = match s.state.as_str() {
            "running" | "unreachable" => "alive",
            "dead" => "dead",
            _ => "missing",
        };
        Health {
            id: s.id.clone(),
            healthy: s.state == "running",
            process,
            pid: s.pid,
            heartbeat: s.heartbeat_ok,
            kernel_info_ms: s.kernel_info_ms,
            rss_bytes: s.rss_bytes,
            uptime_s: s.uptime_s,
            busy: s.busy,
            idle_s: s.idle_s,
            error: s.error.clone(),
        }
    }
}

/// The registered ids, or the ids asked for (checked).
fn ids_or_registered(home: &Home, asked: &[String]) -> Result<Vec<String>, Failure> {
    if asked.is_empty() {
        let registry = registry::lock(home)?.registry;
        return Ok(registry.kernels.iter().map(|e| e.id.clone()).collect());
    }
    for id in asked {
        KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
    }
    Ok(asked.to_vec())
}

pub fn health(args: &HealthArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let ids = ids_or_registered(&home, &args.ids)?;
    let reports: Vec<Health> = kerneld::status(&ids)?.iter().map(Health::from_status).collect();
    let rows = reports
        .iter()
        .map(|h| {
            vec![
                h.id.clone(),
                if h.healthy { "healthy" } else { "unhealthy" }.to_owned(),
                h.process.to_owned(),
                dash(h.pid),
                if h.heartbeat { "ok" } else { "fail" }.to_owned(),
                dash(h.kernel_info_ms.map(|ms| format!("{ms:.1}"))),
                dash(h.rss_bytes),
                dash(h.uptime_s.map(|s| s.floor() as u64)),
                dash(h.busy.map(|b| if b { "busy" } else { "idle" })),
                dash(h.error.clone()),
            ]
        })
        .collect();
    let header =
        vec!["ID", "HEALTH", "PROCESS", "PID", "HB", "INFO MS", "RSS", "UPTIME S", "BUSY", "ERROR"];
    output::print(args.json, &reports, Rows { header, rows })?;
    let sick: Vec<&str> = reports.iter().filter(|h| !h.healthy).map(|h| h.id.as_str()).collect();
    if sick.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(ExitCode::No, format!("unhealthy: {}", sick.join(", "))))
    }
}

pub fn cleanup() -> Result<(), Failure> {
    let home = Home::from_env();
    // Held throughout: no spawn can register meanwhile and be lost by our write.
    let mut locked = registry::lock(&home)?;
    let mut removed = Vec::new();
    let mut kept_with_error = Vec::new();
    for entry in &locked.registry.kernels {
        match pidfile::probe(&entry.pid_file) {
            Ok(Liveness::Running(_)) => continue,
            Ok(Liveness::Stale | Liveness::Missing) => {}
            Err(e) => {
                eprintln!(
                    "llmspell-fleet: {}: cannot probe {}: {e}",
                    entry.id,
                    entry.pid_file.display()
                );
                kept_with_error.push(entry.id.clone());
                continue;
            }
        }
        // llmspell-kerneld removes the stale connection and PID files under the PID-file lock
        // (and refuses if something still answers on the ports).
        let output = kerneld::stop(std::slice::from_ref(&entry.id), 1.0)?;
        let code = output.status.code().unwrap_or(-1);
        if code == 0 || code == i32::from(ExitCode::No.code()) {
            if let Ok(id) = KernelId::new(&entry.id) {
                let _ = std::fs::remove_file(home.dump_file(&id));
            }
            removed.push(entry.id.clone());
        } else {
            eprintln!("llmspell-fleet: {}", kerneld::failure(&output, &entry.id));
            kept_with_error.push(entry.id.clone());
        }
    }
    locked.registry.kernels.retain(|e| !removed.contains(&e.id));
    locked.save()?;
    write_stdout(&removed.iter().map(|id| format!("removed {id}\n")).collect::<String>())?;
    if kept_with_error.is_empty() {
        Ok(())
    } else {
        let msg = format!("kept (could not clean): {}", kept_with_error.join(", "));
        Err(Failure::new(ExitCode::TempFail, msg))
    }
}

/// Whether `cull` stops a kernel with this status.
pub fn cullable(s: &Status, idle_s: f64, busy_too: bool) -> bool {
    s.state == "running"
        && s.idle_s.is_some_and(|idle| idle > idle_s)
        && (busy_too || s.busy == Some(false))
}

pub fn cull(args: &CullArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let ids = ids_or_registered(&home, &[])?;
    let limit = args.idle.as_secs_f64();
    let victims: Vec<String> = kerneld::status(&ids)?
        .iter()
        .filter(|s| cullable(s, limit, args.busy))
        .map(|s| s.id.clone())
        .collect();
    let stopped = stop_ids(&home, &victims, args.timeout)?;
    write_stdout(&stopped.iter().map(|id| format!("culled {id}\n")).collect::<String>())?;
    not_stopped(&victims, &stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, busy: Option<bool>, idle_s: Option<f64>) -> Status {
        Status {
            id: "k".into(),
            state: state.into(),
            pid: Some(1),
            uptime_s: Some(9.0),
            rss_bytes: None,
            heartbeat_ok: true,
            kernel_info_ms: Some(1.0),
            executions: Some(0),
            busy,
            idle_s,
            error: None,
        }
    }

    #[test]
    fn only_idle_running_kernels_are_culled_unless_busy_is_asked() {
        assert!(cullable(&status("running", Some(false), Some(10.0)), 5.0, false));
        assert!(!cullable(&status("running", Some(false), Some(1.0)), 5.0, false));
        assert!(!cullable(&status("running", Some(true), Some(10.0)), 5.0, false));
        assert!(cullable(&status("running", Some(true), Some(10.0)), 5.0, true));
        // A kernel that does not say whether it is busy is never taken for idle.
        assert!(!cullable(&status("running", None, Some(10.0)), 5.0, false));
        assert!(!cullable(&status("unreachable", Some(false), Some(10.0)), 5.0, false));
    }

    #[test]
    fn health_is_a_running_kernel_and_process_follows_the_lock() {
        let h = Health::from_status(&status("running", Some(false), Some(1.0)));
        assert!(h.healthy && h.process == "alive");
        let h = Health::from_status(&status("unreachable", None, None));
        assert!(!h.healthy && h.process == "alive");
        assert_eq!(Health::from_status(&status("dead", None, None)).process, "dead");
    }
}

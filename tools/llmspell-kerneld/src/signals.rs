//! Signals (ARCHITECTURE §3). One thread receives them through signal-hook and turns each into
//! an action or a message; nothing runs inside a signal handler.
//!
//! | signal  | effect |
//! |---------|--------|
//! | SIGINT  | interrupt the running cell (nothing when idle) |
//! | SIGTERM | graceful shutdown; a second one hurries it |
//! | SIGHUP  | reopen the log file |
//! | SIGUSR1 | reload config.toml (log level), log what changed |
//! | SIGUSR2 | dump state as JSON to the log and `kernels/kernel-<id>.dump.json` |
//!
//! [`watch_parent`] adds Jupyter's `JPY_PARENT_PID`: a foreground kernel whose launcher died
//! shuts down as on SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::Sender;
use llmspell_common::{ExitCode, Home};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use tracing_subscriber::filter::LevelFilter;

use crate::Failure;
use crate::config;
use crate::core::stats::Stats;
use crate::core::{Interrupter, Lifecycle};
use crate::logger::LogHandle;

/// What the signal thread needs to act.
pub struct SignalContext {
    pub interrupter: Interrupter,
    pub lifecycle: Sender<Lifecycle>,
    pub log: LogHandle,
    pub stats: Arc<Stats>,
    pub home: Home,
    pub config_path: Option<PathBuf>,
    /// Level fixed by `--log-level` or `LLMSPELL_LOG`, which config.toml cannot override.
    pub level_override: Option<LevelFilter>,
    pub dump_file: PathBuf,
    pub connection_file: PathBuf,
    pub ports: [u16; 5],
}

/// Installs the handlers and starts the signal thread.
pub fn install(ctx: SignalContext) -> Result<(), Failure> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2]).map_err(
            |e| Failure::new(ExitCode::Software, format!("cannot install signal handlers: {e}")),
        )?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                ctx.handle(signal);
            }
        })
        .map_err(|e| {
            Failure::new(ExitCode::Software, format!("cannot start the signal thread: {e}"))
        })?;
    Ok(())
}

impl SignalContext {
    fn handle(&self, signal: i32) {
        match signal {
            SIGINT => {
                tracing::info!("SIGINT: interrupting the running cell, if any");
                self.interrupter.interrupt();
            }
            SIGTERM => {
                tracing::info!("SIGTERM: shutting down");
                let _ = self.lifecycle.send(Lifecycle::Terminate);
            }
            SIGHUP => match self.log.reopen() {
                Ok(Some(path)) => tracing::info!("SIGHUP: reopened log file {}", path.display()),
                Ok(None) => tracing::info!("SIGHUP: no log file to reopen"),
                Err(e) => tracing::error!("SIGHUP: {e}"),
            },
            SIGUSR1 => self.reload(),
            SIGUSR2 => self.dump(),
            _ => {}
        }
    }

    fn reload(&self) {
        let fresh = match config::load(self.config_path.as_deref(), &self.home) {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::error!("SIGUSR1: config not reloaded, keeping the current settings: {e}");
                return;
            }
        };
        let old = self.log.level();
        let wanted = fresh.log_level.unwrap_or(LevelFilter::WARN);
        match self.level_override {
            Some(fixed) if fixed != wanted => tracing::warn!(
                "SIGUSR1: config.toml asks for log_level {wanted}, but --log-level/LLMSPELL_LOG keeps {fixed}"
            ),
            Some(_) => tracing::warn!("SIGUSR1: config reloaded; nothing changed"),
            None if wanted != old => {
                self.log.set_level(wanted);
                self.log.write_line(&format!(
                    "{} SIGUSR1: config reloaded: log_level {old} -> {wanted}",
                    llmspell_wire::message::now_iso8601()
                ));
            }
            None => self.log.write_line(&format!(
                "{} SIGUSR1: config reloaded; nothing changed (log_level {old})",
                llmspell_wire::message::now_iso8601()
            )),
        }
    }

    fn dump(&self) {
        let mut state = self.stats.to_json();
        state["connection_file"] = json!(self.connection_file);
        state["ports"] = json!({
            "shell": self.ports[0], "iopub": self.ports[1], "stdin": self.ports[2],
            "control": self.ports[3], "hb": self.ports[4],
        });
        state["busy"] = json!(self.interrupter.is_busy());
        state["log_level"] = json!(self.log.level().to_string());
        state["dumped_at"] = json!(llmspell_wire::message::now_iso8601());
        let line = serde_json::to_string(&state).expect("JSON values serialize");
        self.log.write_line(&format!(
            "{} SIGUSR2 state dump: {line}",
            llmspell_wire::message::now_iso8601()
        ));
        if let Err(e) = write_atomically(
            &self.dump_file,
            &serde_json::to_vec_pretty(&state).expect("serializes"),
        ) {
            tracing::error!("SIGUSR2: cannot write {}: {e}", self.dump_file.display());
        }
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.write_all(b"\n")?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// How often the parent watch looks.
const PARENT_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Jupyter's `JPY_PARENT_PID` convention (jupyter_client sets it; ipykernel watches it): a
/// kernel in the foreground whose launching process is gone shuts down as on SIGTERM, so a
/// client killed with `kill -9` does not leave its kernel running. Gone means our parent process
/// changed (we were reparented), or, when that pid was not our parent to begin with, that no
/// process has it any more. Daemons ignore it: they have no parent to outlive.
pub fn watch_parent(lifecycle: Sender<Lifecycle>, daemon: bool) {
    let Some(watched) = std::env::var("JPY_PARENT_PID").ok().and_then(|v| v.trim().parse().ok())
    else {
        return;
    };
    if daemon || watched <= 1 {
        return;
    }
    let watched = nix::unistd::Pid::from_raw(watched);
    let direct = nix::unistd::getppid() == watched;
    let spawned = std::thread::Builder::new().name("parent-watch".into()).spawn(move || {
        loop {
            std::thread::sleep(PARENT_POLL);
            let gone = if direct {
                nix::unistd::getppid() != watched
            } else {
                nix::sys::signal::kill(watched, None) == Err(nix::errno::Errno::ESRCH)
            };
            if gone {
                tracing::warn!("parent process {watched} (JPY_PARENT_PID) is gone: shutting down");
                let _ = lifecycle.send(Lifecycle::Terminate);
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch the parent process {watched}: {e}");
    }
}

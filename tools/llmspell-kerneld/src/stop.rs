//! `llmspell-kerneld stop`: SIGTERM a kernel, wait for its PID-file lock to be released, SIGKILL
//! it if the wait times out, then remove whatever files it left.
//!
//! Only a pid read from a *locked* PID file is ever signalled, so a stale file's pid (perhaps
//! reused by another process) is never touched. Leftover files are removed while holding the
//! PID file's lock, exactly as a starting kernel would take it, so `stop` never deletes the files
//! of a kernel that starts with the same id meanwhile. Kernels are stopped in parallel.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args};
use llmspell_common::pidfile::{self, Liveness};
use llmspell_common::{ExitCode, Home, KernelId, PidFile, PidFileError};
use llmspell_wire::{Channel, Client, ConnectionInfo};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use crate::Failure;
use crate::status::{known_ids, parse_ids, print_all};

/// How often the lock is probed while waiting.
const POLL: Duration = Duration::from_millis(20);
/// How long to wait for the lock after SIGKILL (the kernel cannot delay that; the kernel of the
/// OS may, briefly, for a process in uninterruptible sleep).
const KILL_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["ids", "all"])))]
pub struct StopArgs {
    /// Kernel ids to stop.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Stop every kernel with files in $LLMSPELL_HOME/kernels.
    #[arg(long)]
    pub all: bool,
    /// Seconds to wait for a graceful exit after SIGTERM before sending SIGKILL.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    pub timeout: Duration,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

/// What happened to one kernel.
#[derive(Debug)]
enum Outcome {
    Stopped { pid: u32, killed: bool },
    NotRunning { removed: Vec<PathBuf> },
    Failed(Failure),
}

pub fn run(args: &StopArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let ids = if args.all { known_ids(&home)? } else { parse_ids(&args.ids)? };
    let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            ids.iter().map(|id| scope.spawn(|| stop_one(&home, id, args.timeout))).collect();
        handles.into_iter().map(|h| h.join().expect("stop thread panicked")).collect()
    });
    let mut out = String::new();
    let mut worst = None;
    for (id, outcome) in ids.iter().zip(&outcomes) {
        match outcome {
            Outcome::Stopped { pid, killed } => {
                out.push_str(&format!("stopped {id} (pid {pid})\n"));
                if *killed {
                    let secs = args.timeout.as_secs_f64();
                    eprintln!("llmspell-kerneld: {id} ignored SIGTERM for {secs}s; sent SIGKILL");
                }
            }
            Outcome::NotRunning { removed } => {
                out.push_str(&format!("{id}: not running"));
                if !removed.is_empty() {
                    let names: Vec<String> =
                        removed.iter().map(|p| p.display().to_string()).collect();
                    out.push_str(&format!(" (removed stale {})", names.join(", ")));
                }
                out.push('\n');
                worst.get_or_insert(ExitCode::No);
            }
            Outcome::Failed(failure) => {
                eprintln!("llmspell-kerneld: {id}: {failure}");
                worst = Some(match worst {
                    None | Some(ExitCode::No) => failure.code,
                    Some(code) => code,
                });
            }
        }
    }
    print_all(&out)?;
    let failed: Vec<&str> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !matches!(o, Outcome::Stopped { .. }))
        .map(|(id, _)| id.as_str())
        .collect();
    match worst {
        None => Ok(()),
        Some(code) => Err(Failure::new(code, format!("not stopped: {}", failed.join(", ")))),
    }
}

/// How long a kernel left without its PID file has to answer before its files count as stale.
const ANSWER_WAIT: Duration = Duration::from_secs(1);

fn stop_one(home: &Home, id: &KernelId, timeout: Duration) -> Outcome {
    let pid_path = home.pid_file(id);
    let pid = match wait_for_pid(&pid_path) {
        Ok(Some(pid)) => pid,
        Ok(None) => {
            return match remove_leftovers(home, id) {
                Ok(removed) => Outcome::NotRunning { removed },
                Err(failure) => Outcome::Failed(failure),
            };
        }
        Err(failure) => return Outcome::Failed(failure),
    };
    let Some(target) = i32::try_from(pid).ok().filter(|p| *p > 1).map(Pid::from_raw) else {
        let msg = format!("PID file {} holds an impossible pid {pid}", pid_path.display());
        return Outcome::Failed(Failure::new(ExitCode::DataErr, msg));
    };
    let mut killed = false;
    for (signal, wait) in [(Signal::SIGTERM, timeout), (Signal::SIGKILL, KILL_WAIT)] {
        match kill(target, signal) {
            // Gone between the probe and the signal: the lock is about to be released.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                let code = if e == Errno::EPERM { ExitCode::NoPerm } else { ExitCode::Software };
                let msg = format!("cannot send {signal} to pid {pid}: {}", e.desc());
                return Outcome::Failed(Failure::new(code, msg));
            }
        }
        if wait_released(&pid_path, pid, wait) {
            // A kernel killed with SIGKILL leaves its files; a graceful one removed them.
            return match remove_leftovers(home, id) {
                Ok(_) => Outcome::Stopped { pid, killed },
                Err(failure) => Outcome::Failed(failure),
            };
        }
        killed = true;
    }
    let msg = format!(
        "pid {pid} still holds {} {}s after SIGKILL",
        pid_path.display(),
        KILL_WAIT.as_secs()
    );
    Outcome::Failed(Failure::new(ExitCode::TempFail, msg))
}

/// The pid of the kernel holding the lock, or `None` when nobody holds it. A kernel that has just
/// taken the lock writes its pid a moment later, so an empty locked file is given a second.
fn wait_for_pid(path: &std::path::Path) -> Result<Option<u32>, Failure> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match pidfile::probe(path) {
            Ok(Liveness::Running(Some(pid))) => return Ok(Some(pid)),
            Ok(Liveness::Running(None)) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(Liveness::Running(None)) => {
                let msg = format!("PID file {} is locked but holds no pid", path.display());
                return Err(Failure::new(ExitCode::TempFail, msg));
            }
            Ok(Liveness::Stale | Liveness::Missing) => return Ok(None),
            Err(e) => {
                let code = llmspell_common::exit::for_io_error(&e, true);
                return Err(Failure::new(code, format!("cannot probe {}: {e}", path.display())));
            }
        }
    }
}

/// Polls the lock until `pid` no longer holds it (true) or `wait` passes (false).
fn wait_released(path: &std::path::Path, pid: u32, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    loop {
        // Held by another pid means a new kernel of the same id (a service restart): ours is gone.
        if !matches!(pidfile::probe(path), Ok(Liveness::Running(Some(p))) if p == pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// Removes the connection and PID files of a kernel that no longer runs; returns what it removed.
fn remove_leftovers(home: &Home, id: &KernelId) -> Result<Vec<PathBuf>, Failure> {
    let (pid_path, conn) = (home.pid_file(id), home.connection_file(id));
    if !pid_path.exists() && !conn.exists() {
        return Ok(Vec::new());
    }
    if conn.exists() && answers(&conn) {
        let msg = format!("{} answers but no process holds {}", conn.display(), pid_path.display());
        return Err(Failure::new(ExitCode::TempFail, msg));
    }
    let had_pid_file = pid_path.exists();
    // Take the lock as a starting kernel would: if one got there first, the files are its own.
    let lock = match PidFile::acquire(&pid_path) {
        Ok(lock) => lock,
        Err(PidFileError::Held { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(Failure::from_error(e)),
    };
    let mut removed = Vec::new();
    match std::fs::remove_file(&conn) {
        Ok(()) => removed.push(conn),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            let code = llmspell_common::exit::for_io_error(&e, false);
            return Err(Failure::new(code, format!("cannot remove {}: {e}", conn.display())));
        }
    }
    drop(lock); // removes the PID file while still locked
    if had_pid_file {
        removed.insert(0, pid_path);
    }
    Ok(removed)
}

/// Whether the kernel of the connection file answers a kernel_info on control: then it runs
/// without this PID file (`start --pid-file ELSEWHERE`) and the file must stay. The request is
/// signed with the file's key, so a kernel that has since taken one of the dead kernel's ports
/// (another key) drops it, where it would have echoed a heartbeat.
fn answers(conn: &std::path::Path) -> bool {
    let Ok(info) = ConnectionInfo::read(conn) else { return false };
    let Ok(client) = Client::connect(&info) else { return false };
    client.call(Channel::Control, "kernel_info_request", json!({}), ANSWER_WAIT).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_take_fractions_and_refuse_nonsense() {
        assert_eq!(parse_secs("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_secs("10").unwrap(), Duration::from_secs(10));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
    }

    #[test]
    fn stale_files_are_removed_and_reported_as_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let id = KernelId::new("old").unwrap();
        std::fs::create_dir_all(home.kernels_dir()).unwrap();
        std::fs::write(home.pid_file(&id), "4242\n").unwrap();
        match stop_one(&home, &id, Duration::from_secs(1)) {
            Outcome::NotRunning { removed } => assert_eq!(removed, [home.pid_file(&id)]),
            other => panic!("expected NotRunning, got {other:?}"),
        }
        assert!(!home.pid_file(&id).exists());
    }

    #[test]
    fn a_locked_pid_file_is_never_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let id = KernelId::new("live").unwrap();
        let _held = PidFile::acquire(&home.pid_file(&id)).unwrap();
        assert!(remove_leftovers(&home, &id).unwrap().is_empty());
        assert!(home.pid_file(&id).exists());
    }
}

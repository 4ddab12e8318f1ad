//! Finding, starting and stopping the kernel the REPL talks to.
//!
//! `--kernel ID|PATH` (or `LLMSPELL_KERNEL`) attaches to a running kernel: an id names
//! `$LLMSPELL_HOME/kernels/kernel-<id>.json`, anything with a `/` or ending in `.json` is a
//! connection file. A kernel whose PID file nobody locks is known dead: exit 69 at once.
//!
//! Without one, [`OwnKernel::start`] runs `llmspell-kerneld start` in the foreground (found next to
//! this executable, else on `PATH`) with its connection and PID files in a private temp dir and
//! its own process group, so a terminal's Ctrl-C reaches only the REPL. Dropping the
//! [`OwnKernel`] stops it as jupyter_client does — `shutdown_request` on control, SIGTERM after
//! 2.5 s, SIGKILL after 2.5 s more — so no path out of the REPL (error, signal, panic unwind)
//! leaves a kernel behind. For the one path that runs no code of ours (SIGKILL) the kernel gets
//! `JPY_PARENT_PID` and shuts itself down when the REPL is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmspell_common::{ExitCode, Home};
use llmspell_wire::{Channel, Client, ConnectionInfo};
use serde_json::json;

use crate::Failure;

/// How long a kernel we started may take to write its connection file.
const START_WAIT: Duration = Duration::from_secs(15);
/// Each step of the stop sequence (shutdown_request, SIGTERM, SIGKILL) gets this long.
const STOP_STEP: Duration = Duration::from_millis(2500);

/// A kernel named on the command line (`--kernel ID|PATH`).
pub use llmspell_common::KernelRef as Target;

/// Finds the kernel `spec` names; one that is certainly not running is exit 69 here.
pub fn resolve(spec: &str, home: &Home) -> Result<Target, Failure> {
    llmspell_common::kernel_ref::resolve(spec, home).map_err(Failure::from_error)
}

/// A kernel this process started; dropping it stops it.
#[derive(Debug)]
pub struct OwnKernel {
    child: Child,
    connection_file: PathBuf,
    // Removed on drop, after the kernel is gone.
    _dir: tempfile::TempDir,
}

impl OwnKernel {
    /// Starts `llmspell-kerneld` and waits until its connection file is written.
    pub fn start() -> Result<OwnKernel, Failure> {
        let unavailable = |msg: String| Failure::new(ExitCode::Unavailable, msg);
        let dir = tempfile::Builder::new().prefix("llmspell-repl-").tempdir().map_err(|e| {
            Failure::new(ExitCode::CantCreate, format!("cannot make a temp dir: {e}"))
        })?;
        let connection_file = dir.path().join("kernel.json");
        let program = kerneld_program();
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(&program)
                .arg("start")
                .arg("--connection-file")
                .arg(&connection_file)
                .arg("--pid-file")
                .arg(dir.path().join("kernel.pid"))
                .args(["--log-level", "error"])
                // Jupyter's convention: the kernel shuts down if we die, even by SIGKILL.
                .env("JPY_PARENT_PID", std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .process_group(0)
                .spawn()
                .map_err(|e| unavailable(format!("cannot run {}: {e}", program.display())))?
        };
        let mut own = OwnKernel { child, connection_file, _dir: dir };
        let deadline = Instant::now() + START_WAIT;
        loop {
            if ConnectionInfo::read(&own.connection_file).is_ok() {
                return Ok(own);
            }
            if let Ok(Some(status)) = own.child.try_wait() {
                return Err(unavailable(format!("the kernel exited at start-up ({status})")));
            }
            if Instant::now() >= deadline {
                return Err(unavailable(format!(
                    "the kernel wrote no connection file within {} s",
                    START_WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connection_file(&self) -> &Path {
        &self.connection_file
    }

    /// The kernel's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What another thread needs to stop this kernel when the main thread cannot.
    pub fn reaper(&self) -> Reaper {
        Reaper { pid: self.child.id(), dir: self._dir.path().to_owned() }
    }

    /// Whether the kernel process has ended.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Asks the kernel to shut down, then signals it; returns once it is reaped.
    fn stop(&mut self) {
        if self.exited() {
            return;
        }
        if let Ok(info) = ConnectionInfo::read(&self.connection_file)
            && let Ok(client) = Client::connect(&info)
        {
            let _ = client.request(Channel::Control, "shutdown_request", json!({"restart": false}));
            if self.wait(STOP_STEP) {
                return;
            }
        }
        for signal in [nix::sys::signal::SIGTERM, nix::sys::signal::SIGKILL] {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, signal);
            if self.wait(STOP_STEP) {
                return;
            }
        }
    }

    fn wait(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.exited() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

/// Stops a kernel we started from a thread that does not own its [`Child`]: SIGTERM (the kernel
/// shuts down gracefully), SIGKILL after 2.5 s, then removes the private directory.
#[derive(Debug, Clone)]
pub struct Reaper {
    pid: u32,
    dir: PathBuf,
}

impl Reaper {
    pub fn stop(&self) {
        use nix::sys::signal::{SIGKILL, SIGTERM, kill};
        use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
        let pid = nix::unistd::Pid::from_raw(self.pid as i32);
        let reaped =
            || !matches!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Ok(WaitStatus::StillAlive));
        'signals: for signal in [SIGTERM, SIGKILL] {
            if kill(pid, signal).is_err() {
                break;
            }
            let deadline = Instant::now() + STOP_STEP;
            while Instant::now() < deadline {
                if reaped() {
                    break 'signals;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for OwnKernel {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `llmspell-kerneld` beside this executable, else the one on `PATH`.
fn kerneld_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("llmspell-kerneld")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("llmspell-kerneld"))
}

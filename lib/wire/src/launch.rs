//! A kernel a client starts for itself and stops again: what llmspell-repl does without
//! `--kernel` and llmspell-dap does for `launch` (jupyter_client's KernelManager, in small).
//!
//! [`OwnKernel::start`] runs `llmspell-kerneld start` in the foreground (found beside the
//! running executable, else on `PATH`) with its connection and PID files in a private temp dir
//! and its own process group, so a terminal's Ctrl-C reaches only the client. Dropping the
//! [`OwnKernel`] stops it as jupyter_client does — `shutdown_request` on control, SIGTERM after
//! 2.5 s, SIGKILL after 2.5 s more — so no path out of the client (error, signal, panic unwind)
//! leaves a kernel behind. For the one path that runs no code of the client's (SIGKILL) the
//! kernel gets `JPY_PARENT_PID` and shuts itself down when its parent is gone.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use llmspell_common::{ExitCode, HasExitCode};
use serde_json::json;

use crate::{Channel, Client, ConnectionInfo};

/// How long a kernel may take to write its connection file.
const START_WAIT: Duration = Duration::from_secs(15);
/// Each step of the stop sequence (shutdown_request, SIGTERM, SIGKILL) gets this long.
const STOP_STEP: Duration = Duration::from_millis(2500);

/// Why a kernel could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("cannot make a temp dir: {0}")]
    TempDir(std::io::Error),
    #[error("cannot run {program}: {source}")]
    Spawn { program: PathBuf, source: std::io::Error },
    #[error("the kernel exited at start-up ({0})")]
    Exited(ExitStatus),
    #[error("the kernel wrote no connection file within {} s", START_WAIT.as_secs())]
    NoConnectionFile,
}

impl HasExitCode for LaunchError {
    fn exit_code(&self) -> ExitCode {
        match self {
            LaunchError::TempDir(_) => ExitCode::CantCreate,
            _ => ExitCode::Unavailable,
        }
    }
}

/// A kernel this process started; dropping it stops it.
#[derive(Debug)]
pub struct OwnKernel {
    child: Child,
    connection_file: PathBuf,
    // Removed on drop, after the kernel is gone.
    dir: tempfile::TempDir,
}

impl OwnKernel {
    /// Starts `llmspell-kerneld` (in `cwd` when given), its files in a temp dir named
    /// `prefix…`, and waits until its connection file is written.
    pub fn start(prefix: &str, cwd: Option<&Path>) -> Result<OwnKernel, LaunchError> {
        use std::os::unix::process::CommandExt;
        let dir =
            tempfile::Builder::new().prefix(prefix).tempdir().map_err(LaunchError::TempDir)?;
        let connection_file = dir.path().join("kernel.json");
        let program = kerneld_program();
        let mut command = Command::new(&program);
        command
            .arg("start")
            .arg("--connection-file")
            .arg(&connection_file)
            .arg("--pid-file")
            .arg(dir.path().join("kernel.pid"))
            .args(["--log-level", "error"])
            // Jupyter's convention: the kernel shuts down if we die, even by SIGKILL.
            .env("JPY_PARENT_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            // A client's stdout may carry a protocol (DAP): the kernel never writes there.
            .stdout(Stdio::null())
            .process_group(0);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let child = command.spawn().map_err(|source| LaunchError::Spawn { program, source })?;
        let mut own = OwnKernel { child, connection_file, dir };
        let deadline = Instant::now() + START_WAIT;
        loop {
            if ConnectionInfo::read(&own.connection_file).is_ok() {
                return Ok(own);
            }
            if let Ok(Some(status)) = own.child.try_wait() {
                return Err(LaunchError::Exited(status));
            }
            if Instant::now() >= deadline {
                return Err(LaunchError::NoConnectionFile);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn connection_file(&self) -> &Path {
        &self.connection_file
    }

    /// The kernel's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What another thread needs to stop this kernel when the owning thread cannot.
    pub fn reaper(&self) -> Reaper {
        Reaper { pid: self.child.id(), dir: self.dir.path().to_owned() }
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
            let _ = nix::sys::signal::kill(self.nix_pid(), signal);
            if self.wait(STOP_STEP) {
                return;
            }
        }
    }

    fn nix_pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(self.child.id() as i32)
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

impl Drop for OwnKernel {
    fn drop(&mut self) {
        self.stop();
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

/// `llmspell-kerneld` beside the running executable (an install puts the tools together; so does
/// `cargo build`), else the one on `PATH`.
pub fn kerneld_program() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("llmspell-kerneld")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("llmspell-kerneld"))
}

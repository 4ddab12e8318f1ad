//! The kernel a session debugs: one named with `--kernel` / `kernel` (attached, left running),
//! or one this adapter starts for `launch` and stops again.
//!
//! An own kernel is `llmspell-kerneld start` in the foreground (found beside this executable,
//! else on `PATH`), with its connection and PID files in a private temp dir, its own process
//! group (a terminal's Ctrl-C reaches only the editor) and `JPY_PARENT_PID`, so it shuts itself
//! down even if the adapter is killed with SIGKILL. Dropping the [`OwnKernel`] stops it as
//! jupyter_client does: `shutdown_request` on control, SIGTERM after 2.5 s, SIGKILL after 2.5 s
//! more.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmspell_common::{ExitCode, Failure, HasExitCode, Home};
use llmspell_wire::{Channel, Client, ConnectionInfo, WireError};
use serde_json::{Value, json};

/// How long a kernel we started may take to write its connection file.
const START_WAIT: Duration = Duration::from_secs(15);
/// How long a kernel may take to answer kernel_info once it is reachable.
const READY_WAIT: Duration = Duration::from_secs(10);
/// Each step of the stop sequence (shutdown_request, SIGTERM, SIGKILL) gets this long.
const STOP_STEP: Duration = Duration::from_millis(2500);

/// A connected kernel.
pub struct Kernel {
    pub client: Client,
    info: ConnectionInfo,
    /// How messages name it: `kernel ID`, `kernel at PATH` or `own kernel`.
    pub label: String,
    pub connection_file: PathBuf,
    // Dropped after the client, so the kernel is stopped last.
    pub own: Option<OwnKernel>,
}

impl Kernel {
    /// Connects to the kernel `spec` names (`ID|PATH`) and waits until it answers.
    pub fn attach(spec: &str, home: &Home) -> Result<Kernel, Failure> {
        let target =
            llmspell_common::kernel_ref::resolve(spec, home).map_err(Failure::from_error)?;
        Kernel::connect(target.connection_file, target.label, None)
    }

    /// Starts a kernel of our own in `cwd` and connects to it.
    pub fn start(cwd: &Path) -> Result<Kernel, Failure> {
        let own = OwnKernel::start(cwd)?;
        Kernel::connect(own.connection_file.clone(), "own kernel".into(), Some(own))
    }

    fn connect(file: PathBuf, label: String, own: Option<OwnKernel>) -> Result<Kernel, Failure> {
        let info = ConnectionInfo::read(&file).map_err(|e| {
            let code = match e.exit_code() {
                ExitCode::NoInput => ExitCode::Unavailable, // removed since resolve: it stopped
                code => code,
            };
            Failure::new(code, format!("{label}: {e}"))
        })?;
        let lost = |e: WireError| Failure::new(e.exit_code(), format!("{label}: {e}"));
        let client = Client::connect(&info).map_err(lost)?;
        client.wait_ready(READY_WAIT).map_err(lost)?;
        Ok(Kernel { client, info, label, connection_file: file, own })
    }

    /// Sends one DAP request as a debug_request on control and waits for its debug_reply's
    /// content (used only while no other debug_request is outstanding).
    pub fn debug_call(&self, request: &Value, wait: Duration) -> Result<Value, Failure> {
        let reply = self
            .client
            .call(Channel::Control, "debug_request", request.clone(), wait)
            .map_err(|e| Failure::new(e.exit_code(), format!("{}: {e}", self.label)))?;
        Ok(reply.content)
    }

    /// One heartbeat echo (answered by the kernel's heartbeat thread even while the debugger
    /// holds the program stopped).
    pub fn heartbeat(&mut self, wait: Duration) -> Result<Duration, WireError> {
        self.client.heartbeat(&self.info, wait)
    }

    /// Whether a kernel we started has exited.
    pub fn exited(&mut self) -> bool {
        self.own.as_mut().is_some_and(OwnKernel::exited)
    }

    /// Interrupts whatever the kernel is running.
    pub fn interrupt(&self) {
        let _ = self.client.request(Channel::Control, "interrupt_request", json!({}));
    }
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
    /// Starts `llmspell-kerneld` in `cwd` and waits until its connection file is written.
    pub fn start(cwd: &Path) -> Result<OwnKernel, Failure> {
        let unavailable = |msg: String| Failure::new(ExitCode::Unavailable, msg);
        let dir = tempfile::Builder::new().prefix("llmspell-dap-").tempdir().map_err(|e| {
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
                .env("JPY_PARENT_PID", std::process::id().to_string())
                .current_dir(cwd)
                .stdin(Stdio::null())
                // Our stdout carries DAP: the kernel must never write there.
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
            std::thread::sleep(Duration::from_millis(10));
        }
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

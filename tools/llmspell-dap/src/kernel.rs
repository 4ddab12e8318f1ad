//! The kernel a session debugs: one named with `--kernel` / `kernel` (attached, left running),
//! or one this adapter starts for `launch` and stops again.
//!
//! An own kernel is lib/wire's [`OwnKernel`]: `llmspell-kerneld start` in the foreground with a
//! private temp dir, its own process group (a terminal's Ctrl-C reaches only the editor) and
//! `JPY_PARENT_PID` (it shuts itself down even if the adapter is killed with SIGKILL); dropping
//! it stops the kernel as jupyter_client does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use llmspell_common::{ExitCode, Failure, HasExitCode, Home};
use llmspell_wire::launch::OwnKernel;
use llmspell_wire::{Channel, Client, ConnectionInfo, WireError};
use serde_json::{Value, json};

/// How long a kernel may take to answer kernel_info once it is reachable.
const READY_WAIT: Duration = Duration::from_secs(10);

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
        let own = OwnKernel::start("llmspell-dap-", Some(cwd)).map_err(Failure::from_error)?;
        Kernel::connect(own.connection_file().to_owned(), "own kernel".into(), Some(own))
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

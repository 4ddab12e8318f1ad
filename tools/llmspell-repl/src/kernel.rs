//! Finding, starting and stopping the kernel the REPL talks to.
//!
//! `--kernel ID|PATH` (or `LLMSPELL_KERNEL`) attaches to a running kernel: an id names
//! `$LLMSPELL_HOME/kernels/kernel-<id>.json`, anything with a `/` or ending in `.json` is a
//! connection file. A kernel whose PID file nobody locks is known dead: exit 69 at once.
//!
//! Without one, the REPL starts a kernel of its own ([`OwnKernel`], from lib/wire's `launch`:
//! foreground `llmspell-kerneld`, private temp dir, own process group, `JPY_PARENT_PID`) and
//! stops it however the REPL ends.

use llmspell_common::Home;
pub use llmspell_wire::launch::{OwnKernel, Reaper};

use crate::Failure;

/// A kernel named on the command line (`--kernel ID|PATH`).
pub use llmspell_common::KernelRef as Target;

/// Finds the kernel `spec` names; one that is certainly not running is exit 69 here.
pub fn resolve(spec: &str, home: &Home) -> Result<Target, Failure> {
    llmspell_common::kernel_ref::resolve(spec, home).map_err(Failure::from_error)
}

/// Starts the REPL's own kernel.
pub fn start_own() -> Result<OwnKernel, Failure> {
    OwnKernel::start("llmspell-repl-", None).map_err(Failure::from_error)
}

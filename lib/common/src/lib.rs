//! Pieces every llmspell tool shares: the exit codes (sysexits) and failures, the `$LLMSPELL_HOME` layout,
//! kernel ids, PID files and how `--kernel ID|PATH` names a kernel. Nothing here touches the
//! network or Lua, so every tool can link it.

pub mod exit;
pub mod failure;
pub mod kernel_ref;
pub mod paths;
pub mod pidfile;

pub use exit::{ExitCode, HasExitCode};
pub use failure::{Failure, exit_status, run_tool};
pub use kernel_ref::{KernelRef, KernelRefError};
pub use paths::{Home, KernelId, KernelIdError};
pub use pidfile::{Liveness, PidFile, PidFileError};

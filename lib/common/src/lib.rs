//! Pieces every llmspell tool shares: the exit codes (sysexits), the `$LLMSPELL_HOME` layout and
//! kernel ids. Nothing here touches the network or Lua, so every tool can link it.

pub mod exit;
pub mod paths;
pub mod pidfile;

pub use exit::{ExitCode, HasExitCode};
pub use paths::{Home, KernelId, KernelIdError};
pub use pidfile::{Liveness, PidFile, PidFileError};

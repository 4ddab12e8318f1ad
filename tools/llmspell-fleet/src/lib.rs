//! llmspell-fleet: many kernels, one JSON registry.
//!
//! The fleet composes `llmspell-kerneld` ([`kerneld`]): that binary starts, stops and inspects
//! one kernel; this tool keeps the [`registry`] of the kernels it started and acts on many at
//! once ([`spawn`], [`manage`], [`health`], [`metrics`]). It links lib/wire and lib/common, never
//! Lua. Exit codes are those of ARCHITECTURE §6; only [`main`] turns one into a process status.

pub mod cli;
pub mod external;
pub mod fsutil;
pub mod health;
pub mod kerneld;
pub mod manage;
pub mod metrics;
pub mod output;
pub mod registry;
pub mod spawn;

use llmspell_common::ExitCode;

pub use llmspell_common::Failure;

/// Parses the command line, runs the command, prints any failure; returns the exit status.
pub fn main() -> u8 {
    use cli::Command;
    llmspell_common::run_tool("llmspell-fleet", |cli: cli::Cli| match cli.command {
        Command::Spawn(args) => spawn::run(&args),
        Command::List(args) => manage::list(&args),
        Command::Stop(args) => manage::stop(&args),
        Command::Restart(args) => manage::restart(&args),
        Command::Logs(args) => manage::logs(&args),
        Command::Connect(args) => manage::connect(&args),
        Command::Health(args) => health::health(&args),
        Command::Cleanup => health::cleanup(),
        Command::Cull(args) => health::cull(&args),
        Command::Metrics(args) => metrics::run(&args),
    })
}

/// The worse of two outcomes: any real error beats "not so" (1), which beats success.
pub(crate) fn worst(a: Option<ExitCode>, b: ExitCode) -> Option<ExitCode> {
    match a {
        None | Some(ExitCode::No) => Some(b),
        Some(code) => Some(code),
    }
}

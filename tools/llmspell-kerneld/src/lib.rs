//! llmspell-kerneld: the llmspell kernel.
//!
//! Three layers, as in xeus: [`transport`] (ZeroMQ sockets and the threads that own them),
//! [`core`] (the dispatch from `msg_type` to handler, busy/idle, replies, history) and the
//! interpreter, `llmspell_runtime::Engine`, on the executor thread. [`start`] wires them
//! together; [`main`] parses flags, runs a command and maps its failure to an exit code.

pub mod cli;
pub mod config;
pub mod core;
pub mod daemon;
pub mod history;
pub mod kernelspec;
pub mod logger;
pub mod service;
pub mod signals;
pub mod start;
pub mod status;
pub mod stop;
pub mod transport;

pub use llmspell_common::Failure;

/// Parses the command line, runs the command, prints any failure; returns the exit status.
pub fn main() -> u8 {
    llmspell_common::run_tool("llmspell-kerneld", |cli: cli::Cli| match cli.command {
        cli::Command::Start(args) => start::run(args),
        cli::Command::InstallKernelspec(args) => kernelspec::run(&args),
        cli::Command::Status(args) => status::run(&args),
        cli::Command::Stop(args) => stop::run(&args),
        cli::Command::InstallService(args) => service::run(&args),
    })
}

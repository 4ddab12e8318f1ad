//! What a tool's commands fail with: an exit code (sysexits) and a one-line message that says
//! what and where. Libraries return typed errors; a tool turns them into a [`Failure`]
//! (keeping their exit code) and only its `main` turns that into a status with
//! [`exit_status`]; [`run_tool`] is that whole `main` (command line, run, status) for every tool.

use crate::exit::{ExitCode, HasExitCode};

#[derive(Debug)]
pub struct Failure {
    pub code: ExitCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: ExitCode, message: impl Into<String>) -> Failure {
        Failure { code, message: message.into() }
    }

    /// A failure from a typed library error, keeping its exit code.
    pub fn from_error<E: HasExitCode + std::fmt::Display>(err: E) -> Failure {
        Failure { code: err.exit_code(), message: err.to_string() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl HasExitCode for Failure {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

/// The exit status for a command's `result`; a failure is printed first as `TOOL: message` on
/// standard error (an empty message prints nothing: what went wrong was already shown).
pub fn exit_status(tool: &str, result: Result<(), Failure>) -> u8 {
    match result {
        Ok(()) => ExitCode::Ok.code(),
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("{tool}: {failure}");
            }
            failure.code.code()
        }
    }
}

/// A tool's whole `main`: parses the command line as `C` (clap prints usage errors on standard
/// error, exit 64; `--help` / `--version` on standard output, exit 0), runs `command` with it
/// and returns [`exit_status`] of the result.
pub fn run_tool<C: clap::Parser>(tool: &str, command: impl FnOnce(C) -> Result<(), Failure>) -> u8 {
    match C::try_parse() {
        Ok(cli) => exit_status(tool, command(cli)),
        Err(err) => {
            let _ = err.print();
            if err.use_stderr() { ExitCode::Usage.code() } else { ExitCode::Ok.code() }
        }
    }
}

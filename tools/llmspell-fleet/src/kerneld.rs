//! Running `llmspell-kerneld`, which owns starting, stopping and inspecting one kernel: the fleet
//! composes it rather than repeating its logic (the daemon fork, the PID-file lock protocol, the
//! graceful-then-forced stop, the heartbeat + kernel_info status).
//!
//! The binary is looked for beside this one first (an install puts them together; so does
//! `cargo build`), then on `$PATH`; `$LLMSPELL_KERNELD` names it explicitly.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use llmspell_common::ExitCode;
use serde::Deserialize;

use crate::Failure;

/// The `llmspell-kerneld` to run.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("LLMSPELL_KERNELD").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    llmspell_wire::launch::kerneld_program()
}

/// Runs `llmspell-kerneld ARGS`, capturing its output.
pub fn run(args: &[String]) -> Result<Output, Failure> {
    let bin = binary();
    Command::new(&bin).args(args).stdin(Stdio::null()).output().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            ExitCode::Unavailable
        } else {
            ExitCode::Software
        };
        Failure::new(code, format!("cannot run {}: {e}", bin.display()))
    })
}

/// The kernel's own error line from `llmspell-kerneld`'s stderr, and its exit code.
pub fn failure(output: &Output, what: &str) -> Failure {
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The first `llmspell-kerneld: ` line says why (stop adds a summary line after the causes).
    let line = stderr
        .lines()
        .find(|l| l.starts_with("llmspell-kerneld: "))
        .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("(no message)");
    let line = line.strip_prefix("llmspell-kerneld: ").unwrap_or(line);
    let code = output
        .status
        .code()
        .and_then(|c| u8::try_from(c).ok())
        .and_then(ExitCode::from_code)
        .filter(|c| *c != ExitCode::Ok)
        .unwrap_or(ExitCode::Software);
    Failure::new(code, format!("{what}: {line}"))
}

/// One kernel as `llmspell-kerneld status --json` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub id: String,
    /// running, unreachable, dead or missing.
    pub state: String,
    pub pid: Option<u32>,
    pub uptime_s: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub heartbeat_ok: bool,
    pub kernel_info_ms: Option<f64>,
    pub executions: Option<u64>,
    #[serde(default)]
    pub busy: Option<bool>,
    #[serde(default)]
    pub idle_s: Option<f64>,
    pub error: Option<String>,
}

/// Asks each kernel (in parallel, inside llmspell-kerneld) how it is.
pub fn status(ids: &[String]) -> Result<Vec<Status>, Failure> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec!["status".to_owned(), "--json".to_owned()];
    args.extend(ids.iter().cloned());
    let output = run(&args)?;
    // Exit 1 only says some kernel is not running; the JSON says which.
    serde_json::from_slice(&output.stdout).map_err(|e| {
        if output.stdout.is_empty() {
            failure(&output, "llmspell-kerneld status")
        } else {
            Failure::new(ExitCode::Protocol, format!("llmspell-kerneld status --json: {e}"))
        }
    })
}

/// `llmspell-kerneld stop IDS --timeout SECS`; the caller checks what is still running.
pub fn stop(ids: &[String], timeout_s: f64) -> Result<Output, Failure> {
    let mut args = vec!["stop".to_owned(), "--timeout".to_owned(), timeout_s.to_string()];
    args.extend(ids.iter().cloned());
    run(&args)
}

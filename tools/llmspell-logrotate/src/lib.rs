//! llmspell-logrotate: cron-driven log rotation that loses no line.
//!
//! `main` reads the top down: parse the flags, gather the logs (command line and `--config`
//! globs), check every log's options before touching anything, take the state lock, rotate each
//! log ([`rotate::process`]), map the first failure to its exit code. A failure on one log is
//! reported and the others are still rotated. Links no Lua and no ZeroMQ: only lib/common.
//!
//! Modules: [`cli`] (flags), [`options`] (values and layering), [`config`] (the TOML file),
//! [`state`] (the locked state file), [`names`] (rotation names), [`writers`] (PID files and
//! open files), [`rotate`] (switching files and recovery), [`maintain`] (compression and
//! retention), [`compress`] (gzip), [`fsops`] (atomic file steps).

pub mod cli;
pub mod compress;
pub mod config;
pub mod fsops;
pub mod maintain;
pub mod names;
pub mod options;
pub mod rotate;
pub mod state;
pub mod writers;

use std::path::PathBuf;

use llmspell_common::{ExitCode, Home};

use crate::cli::Cli;
use crate::config::Entry;
use crate::options::Policy;

pub use llmspell_common::Failure;

/// The environment variable that stops the process at a named step, for the tests that prove
/// an interrupted rotation is finished or undone: `STEP` (SIGKILL there) or `STEP:stop`
/// (SIGSTOP there, e.g. while holding the lock). Steps: `locked`, `shifted`, `renamed`,
/// `copied`, `truncated`, `compressed`.
pub const FAILPOINT_ENV: &str = "LLMSPELL_LOGROTATE_FAILPOINT";

/// Stops this process at `step` if [`FAILPOINT_ENV`] asks for it.
pub fn failpoint(step: &str) {
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let Some(wanted) = WANTED.get_or_init(|| std::env::var(FAILPOINT_ENV).ok()) else { return };
    let (name, action) = wanted.split_once(':').unwrap_or((wanted, "kill"));
    if name == step {
        use nix::sys::signal::{Signal, raise};
        let _ = raise(if action == "stop" { Signal::SIGSTOP } else { Signal::SIGKILL });
    }
}

/// Parses the command line, rotates, prints any failure; returns the exit status.
pub fn main() -> u8 {
    // run() prints each failure where it happens; only the code is left to return.
    llmspell_common::run_tool("llmspell-logrotate", |cli: Cli| {
        run(&cli).map_err(|failure| Failure::new(failure.code, ""))
    })
}

/// Rotates every log; failures are printed as they happen and the first one is returned.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let jobs = match plan(cli) {
        Ok(jobs) => jobs,
        Err(failure) => {
            eprintln!("llmspell-logrotate: {failure}");
            return Err(failure);
        }
    };
    let state_path =
        cli.state.clone().unwrap_or_else(|| Home::from_env().root().join("logrotate.state"));
    let mut state = match state::StateFile::open(&state_path, cli.dry_run) {
        Ok(state) => state,
        Err(failure) => {
            eprintln!("llmspell-logrotate: {failure}");
            return Err(failure);
        }
    };
    failpoint("locked");
    let mut run = rotate::Run {
        state: &mut state,
        now: std::time::SystemTime::now(),
        dry_run: cli.dry_run,
        verbose: cli.verbose,
        warnings: 0,
    };
    let mut first = None;
    for (path, policy) in &jobs {
        if let Err(failure) = rotate::process(&mut run, path, policy) {
            eprintln!("llmspell-logrotate: {failure}");
            first.get_or_insert(failure);
        }
    }
    first.map_or(Ok(()), Err)
}

/// Every log with its complete policy, checked before anything is touched.
fn plan(cli: &Cli) -> Result<Vec<(PathBuf, Policy)>, Failure> {
    let flags = cli.options();
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut entries: Vec<Entry> = Vec::new();
    let mut defaults = options::Options::default();
    if let Some(path) = &cli.config {
        if let Err(e) = std::fs::metadata(path) {
            let code = llmspell_common::exit::for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read config {}: {e}", path.display())));
        }
        let mut config = config::load(path).map_err(|e| Failure::new(ExitCode::Config, e))?;
        let base = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => cwd.join(dir),
            None => cwd.clone(),
        };
        for (_, options) in config.globs.iter_mut() {
            if let Some(pid_file) = &options.pid_file {
                options.pid_file = Some(config::expand(pid_file, &base).display().to_string());
            }
        }
        if let Some(pid_file) = &config.defaults.pid_file {
            config.defaults.pid_file = Some(config::expand(pid_file, &base).display().to_string());
        }
        entries = config::entries(&config, &base, &flags)
            .map_err(|e| Failure::new(ExitCode::Config, e))?;
        defaults = config.defaults;
    }
    for file in &cli.files {
        let options = defaults.overlaid(&flags);
        entries.push(Entry { path: file.clone(), options, pattern: None });
    }
    let mut jobs = Vec::new();
    for entry in entries {
        let policy = entry.options.policy().map_err(|e| match &entry.pattern {
            Some(glob) => Failure::new(ExitCode::Config, format!("[{glob:?}]: {e}")),
            None => Failure::new(ExitCode::Usage, e),
        })?;
        if !jobs.iter().any(|(p, _)| p == &entry.path) {
            jobs.push((entry.path, policy));
        }
    }
    Ok(jobs)
}

//! Command-line flags of llmspell-logrotate: one definition feeds `--help` and the man page
//! (tests/man/check.sh checks that every long option is documented there).
//!
//! Values are parsed here with the same functions the config file uses ([`crate::options`]), so
//! a bad value is a usage error (64) on the command line and a configuration error (78) in a
//! file, with the same message.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::options::{self, Options};

/// Rotate log files from cron without losing or doubling a line.
///
/// Each FILE (or each file matched by a glob of --config) is renamed aside when it is due and
/// its writer is told to reopen it (--signal/--pid-file), or copied and truncated for writers
/// that cannot reopen (--copytruncate). Old rotations are compressed and pruned.
#[derive(Debug, Parser)]
#[command(name = "llmspell-logrotate", version, about, long_about = None)]
pub struct Cli {
    /// Log files to rotate, with the options given on the command line.
    #[arg(value_name = "FILE", required_unless_present = "config")]
    pub files: Vec<PathBuf>,
    /// TOML file of options per glob (see the man page); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State file: last rotation per log and the files this tool made (default:
    /// $LLMSPELL_HOME/logrotate.state).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Rotate when the log is at least SIZE bytes (K, M, G: powers of 1024).
    #[arg(long, value_name = "SIZE", value_parser = options::parse_size)]
    pub size: Option<u64>,
    /// Rotate when the last rotation is older than DURATION (e.g. 1d, 12h, 1week).
    #[arg(long, value_name = "DURATION", value_parser = options::parse_duration)]
    pub max_age: Option<Duration>,
    /// Keep N rotations; older ones are deleted (0: delete each rotation once it is closed).
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Delete rotations last written more than DURATION ago.
    #[arg(long, value_name = "DURATION", value_parser = options::parse_duration)]
    pub keep_age: Option<Duration>,
    /// Delete the oldest rotations while all rotations together exceed SIZE.
    #[arg(long, value_name = "SIZE", value_parser = options::parse_size)]
    pub max_total: Option<u64>,
    /// Compress rotations with gzip (once no process has them open).
    #[arg(long)]
    pub compress: bool,
    /// gzip level, 1 (fast) to 9 (small); default 6.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=9))]
    pub compress_level: Option<u32>,
    /// Leave the newest rotation uncompressed until the next run.
    #[arg(long)]
    pub delay_compress: bool,
    /// Name rotations FILE-YYYYMMDD-HHMMSS-UUUUUU (UTC, sortable) instead of FILE.1, FILE.2 ….
    #[arg(long)]
    pub dateext: bool,
    /// A missing log is not an error.
    #[arg(long)]
    pub missing_ok: bool,
    /// Do not rotate an empty log.
    #[arg(long)]
    pub not_if_empty: bool,
    /// After renaming, create a new empty log with octal MODE (e.g. 0640).
    #[arg(long, value_name = "MODE", value_parser = options::parse_mode)]
    pub create: Option<u32>,
    /// Copy the log, then truncate it in place, for writers that cannot reopen (they must have
    /// it open with O_APPEND; lines written between the copy and the truncation are lost).
    #[arg(long, conflicts_with_all = ["signal", "pid_file"])]
    pub copytruncate: bool,
    /// Signal that makes the writer reopen its log (default HUP); needs --pid-file.
    #[arg(long, value_name = "SIG", value_parser = options::parse_signal, requires = "pid_file")]
    pub signal: Option<nix::sys::signal::Signal>,
    /// PID file of the writer to signal after the rename; `{stem}` stands for the log's name
    /// without its extension (kernels/{stem}.pid for logs/kernel-ID.log).
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<String>,
    /// How long to wait for the signalled writer to reopen before leaving the rotation
    /// uncompressed for a later run (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = options::parse_duration)]
    pub reopen_timeout: Option<Duration>,
    /// Print what would be done; change nothing (not even the state file).
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Print each action on stdout.
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl Cli {
    /// The rotation options given as flags (`None` where a flag was not given).
    pub fn options(&self) -> Options {
        let flag = |on: bool| on.then_some(true);
        Options {
            size: self.size,
            max_age: self.max_age,
            keep: self.keep,
            keep_age: self.keep_age,
            max_total: self.max_total,
            compress: flag(self.compress),
            compress_level: self.compress_level,
            delay_compress: flag(self.delay_compress),
            dateext: flag(self.dateext),
            missing_ok: flag(self.missing_ok),
            not_if_empty: flag(self.not_if_empty),
            create: self.create,
            copytruncate: flag(self.copytruncate),
            signal: self.signal,
            pid_file: self.pid_file.clone(),
            reopen_timeout: self.reopen_timeout,
        }
    }
}

//! Command-line flags of llmspell-kerneld: one definition feeds `--help` and the man page.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The llmspell kernel: Lua 5.4 behind the Jupyter messaging protocol.
#[derive(Debug, Parser)]
#[command(name = "llmspell-kerneld", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a kernel in the foreground until it is shut down.
    Start(StartArgs),
    /// Install the Jupyter kernelspec (kernel.json and logos) so Jupyter can launch the kernel.
    InstallKernelspec(InstallArgs),
    /// Show each kernel's state, pid, uptime, memory and ports, and whether it answers.
    Status(crate::status::StatusArgs),
    /// Stop kernels: SIGTERM, SIGKILL after a timeout, then remove their leftover files.
    Stop(crate::stop::StopArgs),
    /// Write a systemd unit or launchd property list that runs a kernel as a service.
    InstallService(crate::service::ServiceArgs),
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Kernel id ([a-z0-9-]{1,64}); names the files under $LLMSPELL_HOME/kernels. Generated if
    /// absent.
    #[arg(long)]
    pub id: Option<String>,
    /// Connection file. If it exists (Jupyter wrote it) its ports and key are used and it is never
    /// rewritten; otherwise the kernel writes it there.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub connection_file: Option<PathBuf>,
    /// Address to bind when the kernel chooses its own ports.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub ip: String,
    /// Bind the five sockets to free ports between A and B (inclusive), so a firewall can be set
    /// for them; ignored for ports an existing connection file fixes.
    #[arg(long, value_name = "A-B")]
    pub port_range: Option<crate::transport::PortRange>,
    /// Configuration file (default: $LLMSPELL_HOME/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Detach: double fork, new session, output to the log file. Returns once the kernel is
    /// listening, printing the connection file path (or the kernel's error and exit code).
    #[arg(long)]
    pub daemon: bool,
    /// PID file, locked for the kernel's life (default: $LLMSPELL_HOME/kernels/kernel-ID.pid).
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Log file, opened O_APPEND and reopened on SIGHUP (default with --daemon:
    /// $LLMSPELL_HOME/logs/kernel-ID.log; otherwise stderr).
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log level: off, error, warn, info, debug, trace (overrides config.toml and LLMSPELL_LOG).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Rotate the log file in-process when it reaches SIZE (e.g. 10M), for hosts without cron.
    #[arg(long, value_name = "SIZE", requires = "log_file")]
    pub log_rotate_size: Option<String>,
    /// Rotated log files to keep with --log-rotate-size.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "log_rotate_size")]
    pub log_rotate_keep: u32,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-11-23T10:00:00.000Z INFO target: message key=value`
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Install for the current user (the default): $JUPYTER_DATA_DIR or ~/.local/share/jupyter.
    #[arg(long, conflicts_with_all = ["sys_prefix", "prefix"])]
    pub user: bool,
    /// Install into the active Python environment ($VIRTUAL_ENV or $CONDA_PREFIX).
    #[arg(long, conflicts_with = "prefix")]
    pub sys_prefix: bool,
    /// Install under PREFIX/share/jupyter/kernels.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<PathBuf>,
    /// Kernelspec name (what `jupyter console --kernel NAME` takes).
    #[arg(long, default_value = "llmspell")]
    pub name: String,
}

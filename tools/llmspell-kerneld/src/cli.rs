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
    /// Configuration file (default: $LLMSPELL_HOME/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
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

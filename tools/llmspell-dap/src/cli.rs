//! Command-line flags of llmspell-dap: one definition feeds `--help` and the man page.

use clap::Parser;

/// Debug Adapter Protocol front of an llmspell kernel's debugger, for VS Code, nvim-dap and
/// any other DAP client.
#[derive(Debug, Parser)]
#[command(name = "llmspell-dap", version, about, long_about = None)]
pub struct Cli {
    /// Speak DAP on standard input and output (the default).
    #[arg(long, conflicts_with = "listen")]
    pub stdio: bool,
    /// Speak DAP with one TCP client on 127.0.0.1:PORT instead (0: any free port); the port is
    /// printed on standard error once it is bound.
    #[arg(long, value_name = "PORT")]
    pub listen: Option<u16>,
    /// The kernel to debug: an id (a file in $LLMSPELL_HOME/kernels) or the path of a
    /// connection file. launch runs the program there instead of starting a kernel, attach
    /// joins it when its arguments name no kernel.
    #[arg(long, value_name = "ID|PATH", env = "LLMSPELL_KERNEL")]
    pub kernel: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_and_listen_exclude_each_other() {
        assert!(Cli::try_parse_from(["d", "--stdio", "--listen", "5"]).is_err());
        let cli = Cli::try_parse_from(["d", "--listen", "4711", "--kernel", "work"]).unwrap();
        assert_eq!(cli.listen, Some(4711));
        assert_eq!(cli.kernel.as_deref(), Some("work"));
        assert!(Cli::try_parse_from(["d", "--listen", "x"]).is_err());
    }
}

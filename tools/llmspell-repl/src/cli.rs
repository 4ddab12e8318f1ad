//! Command-line flags of llmspell-repl: one definition feeds `--help` and the man page.

use std::path::PathBuf;

use clap::Parser;

/// Run Lua in an llmspell kernel. Batch mode (a pipe, --execute or -e) runs the input chunk by
/// chunk, as the kernel's parser splits it, and prints only what the code prints.
#[derive(Debug, Parser)]
#[command(name = "llmspell-repl", version, about, long_about = None)]
pub struct Cli {
    /// Attach to this kernel: an id (a file in $LLMSPELL_HOME/kernels) or the path of a
    /// connection file. Without it the REPL starts its own kernel and stops it on exit.
    #[arg(long, value_name = "ID|PATH", env = "LLMSPELL_KERNEL")]
    pub kernel: Option<String>,
    /// Run the Lua file FILE (`-` for standard input) instead of reading standard input.
    #[arg(long, value_name = "FILE", conflicts_with = "eval")]
    pub execute: Option<PathBuf>,
    /// Run CODE (repeatable: each is run in turn).
    #[arg(short = 'e', long = "eval", value_name = "CODE")]
    pub eval: Vec<String>,
    /// After a Lua error, go on with the next chunk (the exit status is still 1).
    #[arg(long)]
    pub keep_going: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from(["r", "-e", "print(1)", "-e", "x", "--keep-going"]).unwrap();
        assert_eq!(cli.eval, ["print(1)", "x"]);
        assert!(cli.keep_going);
        assert!(Cli::try_parse_from(["r", "-e", "x", "--execute", "f.lua"]).is_err());
    }
}

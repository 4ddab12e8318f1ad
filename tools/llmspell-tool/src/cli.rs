//! Command-line flags of llmspell-tool: one definition feeds `--help` and the man page.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// List, inspect, invoke, search and test the built-in tools, in a kernel or in-process.
#[derive(Debug, Parser)]
#[command(name = "llmspell-tool", version, about, long_about = None)]
pub struct Cli {
    /// Run the tools in this kernel: an id (a file in $LLMSPELL_HOME/kernels) or the path of a
    /// connection file. Without it the tools run in this process.
    #[arg(long, global = true, value_name = "ID|PATH", env = "LLMSPELL_KERNEL")]
    pub kernel: Option<String>,
    /// Print JSON (pretty on a terminal, one line when piped) instead of a table or TSV.
    #[arg(long, global = true)]
    pub json: bool,
    /// Configuration file whose [tools] table sets allowed paths, executables and the default
    /// timeout, and whose [providers] table lists LLM providers (default:
    /// $LLMSPELL_HOME/config.toml when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Time limit of an invoke, in seconds (default: timeout_secs of [tools], else 30). With
    /// --kernel, also how long to wait for any reply (plus 5 s); for test, the whole run.
    #[arg(long, global = true, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the tools: name, category, description.
    List(ListArgs),
    /// List the categories.
    Categories,
    /// Describe one tool: its parameters (types, required, descriptions) and examples.
    Info(InfoArgs),
    /// Run one tool and print {"tool", "result", "duration_ms"} as JSON.
    Invoke(InvokeArgs),
    /// Find tools whose name, category or description match every word, best first.
    Search(SearchArgs),
    /// Run the tools' own examples and print pass or fail for each; exit 1 if any failed.
    Test(TestArgs),
    /// List the LLM providers of config.toml ([providers.NAME]): name, kind, model, base_url
    /// and whether a key is set (never the key). Reads the file; contacts no kernel.
    Providers,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only the tools of this category.
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The tool.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct InvokeArgs {
    /// The tool.
    pub name: String,
    /// A parameter KEY=VALUE; VALUE is read as JSON when it parses, else as a string. A dotted
    /// KEY (a.b=1) sets a nested object. Repeatable; wins over --params.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// All parameters as one JSON object. Without -p and --params, a JSON object is read from
    /// standard input when it is not a terminal.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Words to look for (a tool must match every one).
    #[arg(value_name = "QUERY", required = true)]
    pub query: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Tools to test (default: every tool).
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} is not a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_before_and_after_the_command() {
        let cli =
            Cli::try_parse_from(["t", "--json", "invoke", "x", "-p", "a=1", "--timeout", "2.5"])
                .unwrap();
        assert!(cli.json);
        assert_eq!(cli.timeout, Some(Duration::from_millis(2500)));
        let Command::Invoke(args) = cli.command else { panic!("not invoke") };
        assert_eq!(args.param, ["a=1"]);
        for bad in ["0", "-1", "x", "inf"] {
            assert!(Cli::try_parse_from(["t", "--timeout", bad, "list"]).is_err(), "{bad}");
        }
        assert!(Cli::try_parse_from(["t", "search"]).is_err());
    }
}

//! Command-line flags of llmspell-fleet: one definition feeds `--help` and the man page.

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

/// Many llmspell kernels, one JSON registry ($LLMSPELL_HOME/fleet/registry.json).
#[derive(Debug, Parser)]
#[command(name = "llmspell-fleet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start kernels with `llmspell-kerneld start --daemon`, wait until they answer, register them.
    Spawn(SpawnArgs),
    /// List registered kernels, and kernels run by systemd or by hand that are not registered.
    List(JsonArgs),
    /// Stop kernels (SIGTERM, then SIGKILL after --timeout) and remove them from the registry.
    Stop(StopArgs),
    /// Stop a kernel and start it again with the same id, config and port range.
    Restart(RestartArgs),
    /// Print a kernel's log file; -f follows it (across rotations).
    Logs(LogsArgs),
    /// Print a kernel's connection file path (for `llmspell-repl --kernel "$(...)"`).
    Connect(ConnectArgs),
    /// Check process, heartbeat and kernel_info of kernels; exit 1 if any is unhealthy.
    Health(HealthArgs),
    /// Remove registry entries (and stale files) of kernels whose process is gone.
    Cleanup,
    /// Stop kernels idle for longer than --idle (never a busy one unless --busy).
    Cull(CullArgs),
    /// Print Prometheus text-format metrics, or write them atomically to --textfile.
    Metrics(MetricsArgs),
}

#[derive(Debug, Args)]
pub struct SpawnArgs {
    /// How many kernels to start.
    #[arg(long, short = 'n', default_value_t = 1, value_parser = count_range())]
    pub count: u32,
    /// Kernel id (only with --count 1; generated otherwise).
    #[arg(long)]
    pub id: Option<String>,
    /// Configuration file passed to each kernel.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Tag the kernels with KEY=VALUE (repeatable); `stop --tag` selects by it.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// Bind each kernel's five ports between A and B, so a firewall can be set for them.
    #[arg(long, value_name = "A-B")]
    pub port_range: Option<String>,
    /// Print a JSON array of the started kernels.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonArgs {
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["ids", "all", "tag"])))]
pub struct StopArgs {
    /// Registered kernel ids to stop.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Stop every registered kernel.
    #[arg(long)]
    pub all: bool,
    /// Stop the registered kernels tagged KEY=VALUE.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub tag: Option<(String, String)>,
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// The registered kernel to restart.
    pub id: String,
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The kernel whose log to print.
    pub id: String,
    /// Keep printing lines as they are written, following the file across rotations.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The kernel to connect to.
    pub id: String,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Kernels to check (default: every registered one).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Print a JSON array with one object per kernel.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CullArgs {
    /// Stop kernels with no request for longer than this (e.g. 30m, 1h, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub idle: Duration,
    /// Also stop busy kernels whose running request started longer ago than --idle.
    #[arg(long)]
    pub busy: bool,
    /// Seconds to wait after SIGTERM before SIGKILL.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub timeout: f64,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Write to PATH atomically (temp file + rename) instead of stdout, for node_exporter's
    /// textfile collector.
    #[arg(long, value_name = "PATH")]
    pub textfile: Option<PathBuf>,
}

fn count_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=256)
}

fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() && !k.contains(char::is_whitespace) => {
            Ok((k.to_owned(), v.to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_durations_parse() {
        assert_eq!(parse_tag("team=ml").unwrap(), ("team".into(), "ml".into()));
        assert_eq!(parse_tag("k=").unwrap(), ("k".into(), String::new()));
        assert!(parse_tag("=v").is_err());
        assert!(parse_tag("novalue").is_err());
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

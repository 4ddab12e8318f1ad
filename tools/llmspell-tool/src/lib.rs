//! llmspell-tool: list, inspect, invoke, search and test the built-in tools.
//!
//! Every command becomes one `tool_request` content (ARCHITECTURE §5). With `--kernel` it is
//! sent to that kernel ([`kernel`]); without, [`llmspell_tools::protocol::handle`] answers it in
//! this process from a registry built with the `[tools]` policy of config.toml. Both give the
//! same `tool_reply` content, which [`reply`] turns into an exit code and [`output`] into text,
//! so the two paths share everything after the request is answered.
//!
//! Start-up stays cheap: the registry compiles a tool's JSON Schema only when that tool is
//! validated, and nothing but the config file (and, with `--kernel`, the connection and PID
//! files) is read.

pub mod cli;
pub mod describe;
pub mod kernel;
pub mod output;
pub mod params;
pub mod reply;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmspell_common::{ExitCode, Home};
use llmspell_tools::{Policy, Registry};
use serde_json::{Value, json};

use crate::cli::{Cli, Command};

/// How much longer than the tool's own time limit a kernel's reply may take.
pub const REPLY_MARGIN: Duration = Duration::from_secs(5);
/// How long `test --kernel` waits for the whole run when `--timeout` is not given.
pub const TEST_WAIT: Duration = Duration::from_secs(600);

pub use llmspell_common::Failure;

/// Parses the command line, runs the command, prints any failure; returns the exit status.
pub fn main() -> u8 {
    llmspell_common::run_tool("llmspell-tool", |cli: Cli| run(&cli))
}

/// Runs one command: build the request, have it answered, print the reply.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let (name, request) = request(cli)?;
    let home = Home::from_env();
    let reply = match cli.kernel.as_deref().filter(|k| !k.is_empty()) {
        Some(spec) => {
            let target = kernel::resolve(spec, &home)?;
            let wait = match (&cli.command, cli.timeout) {
                (Command::Test(_), limit) => limit.unwrap_or(TEST_WAIT),
                (_, Some(limit)) => limit,
                (_, None) => load_policy(cli, &home)?.default_timeout(),
            };
            kernel::ask(&target, &request, wait + REPLY_MARGIN)?
        }
        None => {
            let registry = Registry::builtin(load_policy(cli, &home)?);
            let reply = llmspell_tools::protocol::handle(&registry, &request);
            // The process ends after printing: freeing every tool definition would only cost
            // time.
            std::mem::forget(registry);
            reply
        }
    };
    let reply = reply::check(reply, name)?;
    let terminal = output::stdout_is_terminal();
    let mode = output::Mode::pick(cli.json, terminal);
    output::print_all(&output::render(name, &reply, mode, terminal))?;
    match reply["failed"].as_u64() {
        Some(failed) if name == "test" && failed > 0 => {
            let total = reply["results"].as_array().map_or(0, Vec::len);
            Err(Failure::new(ExitCode::No, format!("{failed} of {total} examples failed")))
        }
        _ => Ok(()),
    }
}

/// The command's name and its `tool_request` content.
fn request(cli: &Cli) -> Result<(&'static str, Value), Failure> {
    Ok(match &cli.command {
        Command::List(args) => match &args.category {
            Some(c) => ("list", json!({"command": "list", "category": c})),
            None => ("list", json!({"command": "list"})),
        },
        Command::Categories => ("categories", json!({"command": "categories"})),
        Command::Info(args) => ("info", json!({"command": "info", "name": args.name})),
        Command::Search(args) => {
            ("search", json!({"command": "search", "query": args.query.join(" ")}))
        }
        Command::Test(args) => ("test", json!({"command": "test", "names": args.names})),
        Command::Invoke(args) => {
            let stdin = std::io::stdin();
            let mut input = stdin.lock();
            let piped = !input.is_terminal();
            let params = params::build(
                args.params.as_deref(),
                &args.param,
                if piped { Some(&mut input) } else { None },
            )?;
            let mut request = json!({"command": "invoke", "name": args.name, "params": params});
            if let Some(limit) = cli.timeout {
                request["timeout_ms"] = json!(limit.as_millis().max(1) as u64);
            }
            ("invoke", request)
        }
    })
}

/// The `[tools]` policy: `--config` (which must exist) or `$LLMSPELL_HOME/config.toml` (if it
/// exists); relative paths are relative to the working directory.
fn load_policy(cli: &Cli, home: &Home) -> Result<Policy, Failure> {
    let path: PathBuf = match &cli.config {
        Some(path) => {
            if let Err(e) = std::fs::metadata(path) {
                let code = llmspell_common::exit::for_io_error(&e, true);
                let message = format!("cannot read config {}: {e}", path.display());
                return Err(Failure::new(code, message));
            }
            path.clone()
        }
        None => home.config_file(),
    };
    let base = std::env::current_dir().unwrap_or_else(|_| Path::new("/").to_owned());
    Policy::load(&path, base).map_err(|e| Failure::new(ExitCode::Config, e))
}

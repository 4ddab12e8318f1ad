//! llmspell-tool: list, inspect, invoke, search and test the built-in tools; list the LLM
//! providers of config.toml (`providers`, answered from the file alone).
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
    let home = Home::from_env();
    if let Command::Providers = cli.command {
        return providers(cli, &home);
    }
    let (name, request) = request(cli)?;
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
        Command::Providers => unreachable!("answered from config.toml in run"),
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

/// `providers`: the `[providers.NAME]` tables of the config file, read here (the kernel reads
/// the same file at start), so no kernel is needed and no key is ever printed.
fn providers(cli: &Cli, home: &Home) -> Result<(), Failure> {
    let path = config_path(cli, home)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && cli.config.is_none() => String::new(),
        Err(e) => {
            let code = llmspell_common::exit::for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read config {}: {e}", path.display())));
        }
    };
    let base = std::env::current_dir().unwrap_or_else(|_| Path::new("/").to_owned());
    let providers = llmspell_llm::Providers::parse(&text, &base)
        .map_err(|e| Failure::new(ExitCode::Config, format!("config {}: {e}", path.display())))?;
    let list: Vec<Value> = providers
        .list
        .iter()
        .map(|p| {
            let mut v = p.summary();
            v["default"] = json!(providers.resolve(None).is_ok_and(|d| d.name == p.name));
            v
        })
        .collect();
    let reply = json!({"status": "ok", "providers": list});
    let terminal = output::stdout_is_terminal();
    let mode = output::Mode::pick(cli.json, terminal);
    output::print_all(&output::render("providers", &reply, mode, terminal))
}

/// `--config` (which must exist) or `$LLMSPELL_HOME/config.toml`.
fn config_path(cli: &Cli, home: &Home) -> Result<PathBuf, Failure> {
    match &cli.config {
        Some(path) => {
            if let Err(e) = std::fs::metadata(path) {
                let code = llmspell_common::exit::for_io_error(&e, true);
                let message = format!("cannot read config {}: {e}", path.display());
                return Err(Failure::new(code, message));
            }
            Ok(path.clone())
        }
        None => Ok(home.config_file()),
    }
}

/// The `[tools]` policy: `--config` (which must exist) or `$LLMSPELL_HOME/config.toml` (if it
/// exists); relative paths are relative to the working directory.
fn load_policy(cli: &Cli, home: &Home) -> Result<Policy, Failure> {
    let path = config_path(cli, home)?;
    let base = std::env::current_dir().unwrap_or_else(|_| Path::new("/").to_owned());
    Policy::load(&path, base).map_err(|e| Failure::new(ExitCode::Config, e))
}

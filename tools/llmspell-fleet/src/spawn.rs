//! `llmspell-fleet spawn`: start kernels with `llmspell-kerneld start --daemon` in parallel, check
//! each answers kernel_info on control, then register them all in one locked write.
//!
//! The registry is read (under its lock) before anything starts, so a corrupt one stops the
//! command with nothing started. A kernel that started but could not be registered or does not
//! answer is stopped again: nothing runs that the registry does not know.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmspell_common::{ExitCode, Home, KernelId};
use llmspell_wire::{Channel, Client, ConnectionInfo, Ports};
use serde_json::json;

use crate::cli::SpawnArgs;
use crate::output::{self, Rows};
use crate::registry::{self, Entry};
use crate::{Failure, kerneld, worst};

/// How long a freshly started kernel has to answer kernel_info on control.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// What a kernel is started with.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub config: Option<PathBuf>,
    pub tags: BTreeMap<String, String>,
    pub port_range: Option<String>,
}

pub fn run(args: &SpawnArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    if args.id.is_some() && args.count > 1 {
        return Err(Failure::new(ExitCode::Usage, "--id names one kernel: drop it or --count"));
    }
    let config = match &args.config {
        Some(path) => Some(std::path::absolute(path).map_err(|e| {
            Failure::new(ExitCode::Usage, format!("--config {}: {e}", path.display()))
        })?),
        None => None,
    };
    let recipe = Recipe {
        config,
        tags: args.tags.iter().cloned().collect(),
        port_range: args.port_range.clone(),
    };
    let taken: Vec<String> = {
        let locked = registry::lock(&home)?; // a corrupt registry stops us before any start
        locked.registry.kernels.iter().map(|e| e.id.clone()).collect()
    };
    let ids = match &args.id {
        Some(id) => {
            vec![KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?]
        }
        None => fresh_ids(&home, &taken, args.count as usize),
    };
    let results: Vec<Result<Entry, Failure>> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            ids.iter().map(|id| scope.spawn(|| start_one(&home, id, &recipe, 0))).collect();
        handles.into_iter().map(|h| h.join().expect("spawn thread panicked")).collect()
    });
    let started: Vec<Entry> = results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
    if let Err(failure) = register(&home, &started) {
        let ids: Vec<String> = started.iter().map(|e| e.id.clone()).collect();
        let _ = kerneld::stop(&ids, 5.0);
        return Err(failure);
    }
    let mut code = None;
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("llmspell-fleet: {failure}");
        code = worst(code, failure.code);
    }
    print(args.json, &started)?;
    match code {
        None => Ok(()),
        Some(code) => Err(Failure::new(code, "")),
    }
}

/// `count` generated ids used by no registered kernel and no file in `kernels/`.
fn fresh_ids(home: &Home, taken: &[String], count: usize) -> Vec<KernelId> {
    let on_disk: Vec<String> =
        home.kernel_ids().unwrap_or_default().iter().map(|i| i.to_string()).collect();
    let mut ids: Vec<KernelId> = Vec::new();
    while ids.len() < count {
        let id = KernelId::generate();
        let name = id.to_string();
        if !taken.contains(&name) && !on_disk.contains(&name) && !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

fn register(home: &Home, entries: &[Entry]) -> Result<(), Failure> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut locked = registry::lock(home)?;
    for entry in entries {
        locked.registry.upsert(entry.clone());
    }
    locked.save()
}

/// Starts one kernel and waits until it answers; its registry entry (not yet saved).
pub fn start_one(
    home: &Home,
    id: &KernelId,
    recipe: &Recipe,
    restarts: u32,
) -> Result<Entry, Failure> {
    let mut args =
        vec!["start".to_owned(), "--daemon".to_owned(), "--id".to_owned(), id.to_string()];
    if let Some(config) = &recipe.config {
        args.extend(["--config".to_owned(), config.display().to_string()]);
    }
    if let Some(range) = &recipe.port_range {
        args.extend(["--port-range".to_owned(), range.clone()]);
    }
    let output = kerneld::run(&args)?;
    if !output.status.success() {
        return Err(kerneld::failure(&output, &format!("cannot start kernel {id}")));
    }
    let connection_file = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    match ready(&connection_file) {
        Ok((info, pid, started_at)) => Ok(Entry {
            id: id.to_string(),
            pid,
            connection_file,
            pid_file: home.pid_file(id),
            log_file: home.log_file(id),
            ports: Ports::from(&info),
            config: recipe.config.clone(),
            tags: recipe.tags.clone(),
            started_at,
            restarts,
            port_range: recipe.port_range.clone(),
        }),
        Err(failure) => {
            let _ = kerneld::stop(&[id.to_string()], 2.0);
            Err(Failure::new(failure.code, format!("kernel {id}: {}", failure.message)))
        }
    }
}

/// Reads the connection file and asks kernel_info on control: the ports, pid and start time.
fn ready(path: &Path) -> Result<(ConnectionInfo, Option<u32>, String), Failure> {
    let info = ConnectionInfo::read(path)
        .map_err(|e| Failure::new(ExitCode::Config, format!("{}: {e}", path.display())))?;
    let unavailable = |e: llmspell_wire::WireError| {
        Failure::new(ExitCode::Unavailable, format!("no kernel_info reply on control: {e}"))
    };
    let client = Client::connect(&info).map_err(unavailable)?;
    let reply = client
        .call(Channel::Control, "kernel_info_request", json!({}), READY_TIMEOUT)
        .map_err(unavailable)?;
    let live = &reply.content["llmspell"];
    let pid = live["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    let started_at = live["started_at"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(llmspell_wire::message::now_iso8601);
    Ok((info, pid, started_at))
}

fn print(json: bool, entries: &[Entry]) -> Result<(), Failure> {
    let rows = entries
        .iter()
        .map(|e| vec![e.id.clone(), output::dash(e.pid), e.connection_file.display().to_string()])
        .collect();
    output::print(json, entries, Rows { header: vec!["ID", "PID", "CONNECTION FILE"], rows })
}

//! `list`, `stop`, `restart`, `logs`, `connect`: acting on registered kernels by id or tag.
//!
//! Stopping is `llmspell-kerneld stop` (SIGTERM, SIGKILL after the timeout, leftover files
//! removed under the PID-file lock); an entry leaves the registry only once its PID file's lock
//! is free, so a kernel that refused to die stays listed.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use llmspell_common::pidfile::{self, Liveness};
use llmspell_common::{ExitCode, Home, KernelId};
use serde_json::json;

use crate::cli::{ConnectArgs, JsonArgs, LogsArgs, RestartArgs, StopArgs};
use crate::output::{self, Rows, write_stdout};
use crate::registry::{self, Entry};
use crate::spawn::{Recipe, start_one};
use crate::{Failure, external, kerneld};

/// `alive` when the PID file's lock is held, `dead` otherwise.
pub fn process_state(entry: &Entry) -> &'static str {
    match pidfile::probe(&entry.pid_file) {
        Ok(Liveness::Running(_)) => "alive",
        _ => "dead",
    }
}

pub fn list(args: &JsonArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let registry = registry::lock(&home)?.registry;
    let ids: Vec<String> = registry.kernels.iter().map(|e| e.id.clone()).collect();
    let mut items = Vec::new();
    let mut rows = Vec::new();
    for e in &registry.kernels {
        let state = process_state(e);
        let mut item = serde_json::to_value(e).expect("entry serializes");
        item["process"] = json!(state);
        item["source"] = json!("fleet");
        items.push(item);
        let tags: Vec<String> = e.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(vec![
            e.id.clone(),
            state.to_owned(),
            output::dash(e.pid),
            "fleet".to_owned(),
            e.started_at.clone(),
            e.restarts.to_string(),
            if tags.is_empty() { "-".to_owned() } else { tags.join(",") },
            e.connection_file.display().to_string(),
        ]);
    }
    for x in external::find(&home, &ids) {
        let id = KernelId::new(&x.id).expect("ids come from valid file names");
        let conn = home.connection_file(&id);
        items.push(json!({
            "id": x.id, "pid": x.pid, "process": "alive", "source": x.source, "unit": x.unit,
            "connection_file": conn, "pid_file": home.pid_file(&id), "log_file": home.log_file(&id),
        }));
        let source = x.unit.clone().map_or(x.source.clone(), |u| format!("systemd ({u})"));
        let fields = [x.id.clone(), "alive".into(), output::dash(x.pid), source];
        let mut row: Vec<String> = fields.into();
        row.extend(["-".into(), "-".into(), "-".into(), conn.display().to_string()]);
        rows.push(row);
    }
    let header =
        vec!["ID", "PROCESS", "PID", "SOURCE", "STARTED", "RESTARTS", "TAGS", "CONNECTION FILE"];
    output::print(args.json, &items, Rows { header, rows })
}

/// The registered ids `args` selects; an unregistered id is an error (exit 66).
fn select(home: &Home, args: &StopArgs) -> Result<Vec<String>, Failure> {
    let registry = registry::lock(home)?.registry;
    if args.all {
        return Ok(registry.kernels.iter().map(|e| e.id.clone()).collect());
    }
    if let Some((key, value)) = &args.tag {
        return Ok(registry
            .kernels
            .iter()
            .filter(|e| e.tags.get(key) == Some(value))
            .map(|e| e.id.clone())
            .collect());
    }
    let mut ids = Vec::new();
    for id in &args.ids {
        KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
        if registry.find(id).is_none() {
            let msg =
                format!("{id} is not in the fleet registry {}", home.fleet_registry().display());
            return Err(Failure::new(ExitCode::NoInput, msg));
        }
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    Ok(ids)
}

pub fn stop(args: &StopArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let ids = select(&home, args)?;
    let stopped = stop_ids(&home, &ids, args.timeout)?;
    write_stdout(&stopped.iter().map(|id| format!("stopped {id}\n")).collect::<String>())?;
    not_stopped(&ids, &stopped)
}

/// Fails naming the ids of `asked` that are not in `stopped`.
pub(crate) fn not_stopped(asked: &[String], stopped: &[String]) -> Result<(), Failure> {
    let left: Vec<&str> =
        asked.iter().filter(|id| !stopped.contains(id)).map(String::as_str).collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(ExitCode::TempFail, format!("still running: {}", left.join(", "))))
    }
}

/// Stops `ids` through llmspell-kerneld and removes from the registry every one whose lock is
/// now free; returns those.
pub(crate) fn stop_ids(home: &Home, ids: &[String], timeout: f64) -> Result<Vec<String>, Failure> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let output = kerneld::stop(ids, timeout)?;
    let mut locked = registry::lock(home)?;
    let gone: Vec<String> = ids
        .iter()
        .filter(|id| locked.registry.find(id).is_none_or(|e| process_state(e) == "dead"))
        .cloned()
        .collect();
    locked.registry.kernels.retain(|e| !gone.contains(&e.id));
    locked.save()?;
    if gone.len() < ids.len() {
        let why = kerneld::failure(&output, "llmspell-kerneld stop");
        eprintln!("llmspell-fleet: {why}");
    }
    Ok(gone)
}

pub fn restart(args: &RestartArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let entry = registered(&home, &args.id)?;
    let output = kerneld::stop(std::slice::from_ref(&entry.id), args.timeout)?;
    if process_state(&entry) == "alive" {
        return Err(kerneld::failure(&output, &format!("cannot stop {}", entry.id)));
    }
    let id =
        KernelId::new(&entry.id).map_err(|e| Failure::new(ExitCode::DataErr, e.to_string()))?;
    let recipe = Recipe {
        config: entry.config.clone(),
        tags: entry.tags.clone(),
        port_range: entry.port_range.clone(),
    };
    let fresh = start_one(&home, &id, &recipe, entry.restarts + 1)?;
    let mut locked = registry::lock(&home)?;
    locked.registry.upsert(fresh.clone());
    locked.save()?;
    write_stdout(&format!("restarted {} (pid {})\n", fresh.id, output::dash(fresh.pid)))
}

fn registered(home: &Home, id: &str) -> Result<Entry, Failure> {
    KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
    registry::lock(home)?.registry.find(id).cloned().ok_or_else(|| {
        let msg = format!("{id} is not in the fleet registry {}", home.fleet_registry().display());
        Failure::new(ExitCode::NoInput, msg)
    })
}

/// The registered entry's file, else the file `llmspell-kerneld` uses for that id (so systemd
/// instances work too).
fn kernel_file(home: &Home, id: &str, pick: fn(&Entry) -> &PathBuf, default: PathBuf) -> PathBuf {
    let registry = registry::lock(home).ok().map(|l| l.registry);
    registry.and_then(|r| r.find(id).map(|e| pick(e).clone())).unwrap_or(default)
}

pub fn connect(args: &ConnectArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let id = KernelId::new(&args.id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
    let path = kernel_file(&home, &args.id, |e| &e.connection_file, home.connection_file(&id));
    if !path.is_file() {
        let msg = format!("kernel {id} has no connection file {}", path.display());
        return Err(Failure::new(ExitCode::NoInput, msg));
    }
    write_stdout(&format!("{}\n", path.display()))
}

pub fn logs(args: &LogsArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let id = KernelId::new(&args.id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
    let path = kernel_file(&home, &args.id, |e| &e.log_file, home.log_file(&id));
    let open = |path: &PathBuf| {
        std::fs::File::open(path).map_err(|e| {
            let code = llmspell_common::exit::for_io_error(&e, true);
            Failure::new(code, format!("cannot read {}: {e}", path.display()))
        })
    };
    let mut file = open(&path)?;
    copy_new(&mut file, &path)?;
    if !args.follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(Duration::from_millis(200));
        // Rotated (a new file at the path) or truncated: read the new file from its start.
        let (now, ours) = (std::fs::metadata(&path).ok(), file.metadata().ok());
        let replaced = match (&now, &ours) {
            (Some(now), Some(ours)) => now.ino() != ours.ino() || now.dev() != ours.dev(),
            _ => false,
        };
        if replaced {
            copy_new(&mut file, &path)?; // the rest of the old file first
            file = open(&path)?;
        } else if let (Some(ours), Ok(pos)) = (&ours, file.stream_position())
            && ours.len() < pos
        {
            let _ = file.seek(SeekFrom::Start(0));
        }
        copy_new(&mut file, &path)?;
    }
}

fn copy_new(file: &mut std::fs::File, path: &std::path::Path) -> Result<(), Failure> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(|e| {
        Failure::new(ExitCode::IoErr, format!("cannot read {}: {e}", path.display()))
    })?;
    write_stdout(&String::from_utf8_lossy(&bytes))
}

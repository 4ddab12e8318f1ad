//! The fleet registry, `$LLMSPELL_HOME/fleet/registry.json` (ARCHITECTURE §2).
//!
//! Every read-modify-write happens under an exclusive flock on `fleet/registry.lock`, and every
//! write is a temp file + fsync + rename, so ten `spawn`s at once never lose an entry and a crash
//! never leaves half a registry. A registry that does not parse is reported (exit 65) and never
//! replaced: the user decides what to keep.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use llmspell_common::exit::for_io_error;
use llmspell_common::{ExitCode, Home};
use llmspell_wire::Ports;
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::fsutil::write_atomic;

/// The registry format's version; a newer one is refused rather than rewritten.
pub const VERSION: u32 = 1;
/// How long to wait for another fleet command to finish with the registry.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// One registered kernel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub pid: Option<u32>,
    pub connection_file: PathBuf,
    pub pid_file: PathBuf,
    pub log_file: PathBuf,
    pub ports: Ports,
    pub config: Option<PathBuf>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub started_at: String,
    #[serde(default)]
    pub restarts: u32,
    /// The `--port-range` it was spawned with, so `restart` keeps its ports in the firewall's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_range: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub version: u32,
    pub kernels: Vec<Entry>,
}

impl Registry {
    pub fn find(&self, id: &str) -> Option<&Entry> {
        self.kernels.iter().find(|e| e.id == id)
    }

    /// Adds or replaces the entry with `entry.id`.
    pub fn upsert(&mut self, entry: Entry) {
        match self.kernels.iter_mut().find(|e| e.id == entry.id) {
            Some(old) => *old = entry,
            None => self.kernels.push(entry),
        }
    }
}

/// The registry held under its lock; [`Locked::save`] writes it back.
#[derive(Debug)]
pub struct Locked {
    pub registry: Registry,
    path: PathBuf,
    _lock: File,
}

/// Locks the registry and reads it (an absent file is an empty registry).
pub fn lock(home: &Home) -> Result<Locked, Failure> {
    let lock_path = home.fleet_lock();
    let io = |e: std::io::Error, what: &str| {
        Failure::new(for_io_error(&e, false), format!("cannot {what} {}: {e}", lock_path.display()))
    };
    if let Some(dir) = lock_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(e, "create the directory of"))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io(e, "open"))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(TryLockError::WouldBlock) => {
                let msg = format!(
                    "{} is still locked by another llmspell-fleet after {}s",
                    lock_path.display(),
                    LOCK_WAIT.as_secs()
                );
                return Err(Failure::new(ExitCode::TempFail, msg));
            }
            Err(TryLockError::Error(e)) => return Err(io(e, "lock")),
        }
    }
    let path = home.fleet_registry();
    let registry = read(&path)?;
    Ok(Locked { registry, path, _lock: file })
}

impl Locked {
    /// Writes the registry back: temp file, fsync, rename.
    pub fn save(&self) -> Result<(), Failure> {
        let mut text = serde_json::to_string_pretty(&self.registry).expect("registry serializes");
        text.push('\n');
        write_atomic(&self.path, text.as_bytes()).map_err(|e| {
            let code = for_io_error(&e, false);
            Failure::new(code, format!("cannot write {}: {e}", self.path.display()))
        })
    }
}

/// Reads the registry without changing it (callers hold the lock).
fn read(path: &std::path::Path) -> Result<Registry, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Registry { version: VERSION, kernels: Vec::new() });
        }
        Err(e) => {
            let code = for_io_error(&e, true);
            return Err(Failure::new(code, format!("cannot read {}: {e}", path.display())));
        }
    };
    let corrupt = |why: String| {
        Failure::new(
            ExitCode::DataErr,
            format!("corrupt fleet registry {}: {why} (left as it is)", path.display()),
        )
    };
    let registry: Registry = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    if registry.version != VERSION {
        return Err(corrupt(format!("version {} is not {VERSION}", registry.version)));
    }
    let mut seen = std::collections::BTreeSet::new();
    for entry in &registry.kernels {
        if llmspell_common::KernelId::new(&entry.id).is_err() || !seen.insert(&entry.id) {
            return Err(corrupt(format!("bad or repeated kernel id {:?}", entry.id)));
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Entry {
        Entry {
            id: id.into(),
            pid: Some(1),
            connection_file: "c".into(),
            pid_file: "p".into(),
            log_file: "l".into(),
            ports: Ports { shell: 1, iopub: 2, stdin: 3, control: 4, hb: 5 },
            config: None,
            tags: BTreeMap::new(),
            started_at: "2026-01-01T00:00:00Z".into(),
            restarts: 0,
            port_range: None,
        }
    }

    #[test]
    fn entries_survive_a_round_trip_and_ids_stay_unique() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let mut locked = lock(&home).unwrap();
        assert!(locked.registry.kernels.is_empty());
        locked.registry.upsert(entry("a"));
        locked.registry.upsert(entry("a"));
        locked.registry.upsert(entry("b"));
        locked.save().unwrap();
        drop(locked);
        let again = lock(&home).unwrap();
        let ids: Vec<_> = again.registry.kernels.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_corrupt_registry_is_data_error_and_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        std::fs::create_dir_all(dir.path().join("fleet")).unwrap();
        for text in ["{\"version\": 1, \"kernels\": [", "{\"version\": 9, \"kernels\": []}"] {
            std::fs::write(home.fleet_registry(), text).unwrap();
            let err = lock(&home).unwrap_err();
            assert_eq!(err.code, ExitCode::DataErr, "{text}");
            assert_eq!(std::fs::read_to_string(home.fleet_registry()).unwrap(), text);
        }
    }
}

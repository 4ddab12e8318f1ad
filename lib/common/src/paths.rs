//! The `$LLMSPELL_HOME` layout (ARCHITECTURE §2) and kernel ids.
//!
//! Every file a tool writes for a kernel is named here, so two tools never disagree on a path.
//! A [`KernelId`] is always `[a-z0-9-]{1,64}`, which makes it safe to put in a file name.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where llmspell keeps what a user's kernels share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$LLMSPELL_HOME`, else `~/.llmspell`, else `./.llmspell` when there is no home directory.
    pub fn from_env() -> Home {
        if let Some(dir) = std::env::var_os("LLMSPELL_HOME").filter(|v| !v.is_empty()) {
            return Home::at(dir);
        }
        let base = std::env::var_os("HOME").filter(|v| !v.is_empty()).unwrap_or_else(|| ".".into());
        Home::at(Path::new(&base).join(".llmspell"))
    }

    /// A home at an explicit directory.
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn kernels_dir(&self) -> PathBuf {
        self.root.join("kernels")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }
    /// `kernels/kernel-<id>.json`.
    pub fn connection_file(&self, id: &KernelId) -> PathBuf {
        self.kernels_dir().join(format!("kernel-{id}.json"))
    }
    /// `kernels/kernel-<id>.pid`.
    pub fn pid_file(&self, id: &KernelId) -> PathBuf {
        self.kernels_dir().join(format!("kernel-{id}.pid"))
    }
    /// `logs/kernel-<id>.log`.
    pub fn log_file(&self, id: &KernelId) -> PathBuf {
        self.logs_dir().join(format!("kernel-{id}.log"))
    }
    /// `kernels/kernel-<id>.dump.json` (SIGUSR2 state dump).
    pub fn dump_file(&self, id: &KernelId) -> PathBuf {
        self.kernels_dir().join(format!("kernel-{id}.dump.json"))
    }
    /// `state/<id>.sqlite` (the `State` global's store).
    pub fn state_db(&self, id: &KernelId) -> PathBuf {
        self.state_dir().join(format!("{id}.sqlite"))
    }
    /// `debug/<id>/`: the cells a debugger client dumped (`dumpCell`), named by their hash.
    pub fn debug_dir(&self, id: &KernelId) -> PathBuf {
        self.root.join("debug").join(id.as_str())
    }
    /// `fleet/registry.json`: llmspell-fleet's registry, replaced only by write-temp + rename.
    pub fn fleet_registry(&self) -> PathBuf {
        self.root.join("fleet").join("registry.json")
    }
    /// `fleet/registry.lock`: flocked around every read-modify-write of the registry (a lock on
    /// the registry itself would be lost with the inode each rename replaces).
    pub fn fleet_lock(&self) -> PathBuf {
        self.root.join("fleet").join("registry.lock")
    }
    /// `config.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// The REPL's line history (`llmspell-repl`), one entry a line.
    pub fn repl_history_file(&self) -> PathBuf {
        self.root.join("history")
    }
    /// Every id with a connection or PID file in `kernels/`, sorted (an absent directory: none).
    /// `kernel-ID.dump.json` yields "ID.dump", which is not an id and so is skipped.
    pub fn kernel_ids(&self) -> std::io::Result<Vec<KernelId>> {
        let entries = match std::fs::read_dir(self.kernels_dir()) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = std::collections::BTreeSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let stem = name
                .strip_prefix("kernel-")
                .and_then(|rest| rest.strip_suffix(".json").or_else(|| rest.strip_suffix(".pid")));
            if let Some(id) = stem.and_then(|s| KernelId::new(s).ok()) {
                ids.insert(id);
            }
        }
        Ok(ids.into_iter().collect())
    }
    /// The kernels' execution history (Jupyter `history_request`), shared by all kernels.
    pub fn kernel_history_file(&self) -> PathBuf {
        self.state_dir().join("kernel-history.jsonl")
    }
}

/// A validated kernel id: `[a-z0-9-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KernelId(String);

/// Why a string is not a kernel id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid kernel id {id:?}: use 1 to 64 of a-z, 0-9 and '-'")]
pub struct KernelIdError {
    pub id: String,
}

impl KernelId {
    pub fn new(id: &str) -> Result<KernelId, KernelIdError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok { Ok(KernelId(id.to_owned())) } else { Err(KernelIdError { id: id.to_owned() }) }
    }

    /// A short, readable random id such as `k-7fq2xm`.
    pub fn generate() -> KernelId {
        const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
        let mut bytes = [0u8; 6];
        // A failing OS random source only makes ids less random; the PID-file lock still keeps
        // two kernels from sharing one.
        let _ = getrandom::getrandom(&mut bytes);
        let tail: String =
            bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
        KernelId(format!("k-{tail}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KernelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for KernelId {
    type Err = KernelIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelId::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(KernelId::new("work-1").is_ok());
        assert!(KernelId::new("").is_err());
        assert!(KernelId::new("Work").is_err());
        assert!(KernelId::new("../x").is_err());
        assert!(KernelId::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_short() {
        let id = KernelId::generate();
        assert!(KernelId::new(id.as_str()).is_ok());
        assert_eq!(id.as_str().len(), 8);
    }

    #[test]
    fn layout_follows_the_architecture() {
        let home = Home::at("/h");
        let id = KernelId::new("work").unwrap();
        assert_eq!(home.connection_file(&id), Path::new("/h/kernels/kernel-work.json"));
        assert_eq!(home.pid_file(&id), Path::new("/h/kernels/kernel-work.pid"));
        assert_eq!(home.log_file(&id), Path::new("/h/logs/kernel-work.log"));
    }
}

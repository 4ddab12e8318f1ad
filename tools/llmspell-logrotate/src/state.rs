//! The state file: per log, when it was last rotated, which files this tool made (by identity,
//! so renames need no update) and the step an interrupted rotation stopped after.
//!
//! Guarantees: one instance at a time — `STATE.lock` is a flock-held PID file for the whole
//! run, and a second instance fails at once with exit 75 naming the holder's PID. The state is
//! JSON written to a temporary file, fsynced, renamed over the old one, and the directory
//! fsynced: after a crash it is the old state or the new one, never a mix. (One record, the
//! rename step's, skips the fsyncs: see [`StateFile::save_unsynced`].) Every step that
//! could be interrupted records what it is about to do *before* doing it, so the next run can
//! finish or undo it ([`crate::rotate`]). A dry run neither locks nor writes.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use llmspell_common::{ExitCode, PidFile};
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::names;
use crate::writers::FileId;

/// What the state file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    #[serde(default)]
    pub logs: BTreeMap<String, LogState>,
}

/// What is known about one log (keyed by its absolute path).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogState {
    /// Seconds since the epoch of the last completed rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotation: Option<i64>,
    /// When the log was first seen, for --max-age before its first rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<i64>,
    /// Files this tool made: rotated logs, compressed rotations, copies. Only these are ever
    /// deleted.
    #[serde(default)]
    pub owned: BTreeSet<FileId>,
    /// A rotation that was started and not finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

/// The step an interrupted rotation had reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Pending {
    /// The log (`id`) is being renamed to `rotated`; its writer may not have reopened yet.
    Reopen { rotated: PathBuf, id: FileId },
    /// The log (`source`) was copied (`copied` bytes, at least) to the copy temp file and is
    /// about to be truncated.
    CopyTruncate { source: FileId, copied: u64 },
}

/// The loaded state, with its lock held (unless a dry run).
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    pub state: State,
    dry_run: bool,
    _lock: Option<PidFile>,
}

impl StateFile {
    /// Locks (unless `dry_run`) and reads `path`; a missing file is an empty state.
    pub fn open(path: &Path, dry_run: bool) -> Result<StateFile, Failure> {
        let lock = if dry_run {
            None
        } else {
            let lock_path = path.with_file_name(format!("{}.lock", names::file_name(path)));
            Some(PidFile::acquire(&lock_path).map_err(Failure::from_error)?)
        };
        let state = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Failure::new(
                    ExitCode::DataErr,
                    format!("state file {} is corrupt: {e}", path.display()),
                )
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                State { version: 1, ..State::default() }
            }
            Err(e) => {
                let code = llmspell_common::exit::for_io_error(&e, true);
                return Err(Failure::new(code, format!("cannot read {}: {e}", path.display())));
            }
        };
        Ok(StateFile { path: path.to_owned(), state, dry_run, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry of `log` (created empty).
    pub fn log(&mut self, log: &str) -> &mut LogState {
        self.state.logs.entry(log.to_owned()).or_default()
    }

    /// Writes the state atomically: temp file, fsync, rename, fsync of the directory.
    pub fn save(&self) -> Result<(), Failure> {
        self.write(true)
    }

    /// Writes the state atomically (temp file, rename) without waiting for the disk: enough
    /// against the process being killed, whose writes the page cache keeps. Only for records
    /// whose loss in a power cut makes the next run more careful, not wrong (see
    /// `rotate::rename`).
    pub fn save_unsynced(&self) -> Result<(), Failure> {
        self.write(false)
    }

    fn write(&self, durable: bool) -> Result<(), Failure> {
        if self.dry_run {
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            let code = llmspell_common::exit::for_io_error(&e, false);
            Failure::new(code, format!("cannot write state file {}: {e}", self.path.display()))
        };
        let temp = names::temp_for(&self.path);
        let mut text = serde_json::to_vec_pretty(&self.state)
            .map_err(|e| Failure::new(ExitCode::Software, format!("state: {e}")))?;
        text.push(b'\n');
        let mut file = File::create(&temp).map_err(fail)?;
        file.write_all(&text).map_err(fail)?;
        if durable {
            file.sync_all().map_err(fail)?;
        }
        std::fs::rename(&temp, &self.path).map_err(fail)?;
        if durable {
            sync_dir(&self.path).map_err(fail)?;
        }
        Ok(())
    }
}

/// fsync of the directory holding `path`, so a rename in it is durable.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_state_reads_back_and_a_second_opener_gets_75() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logrotate.state");
        let mut file = StateFile::open(&path, false).unwrap();
        let entry = file.log("/var/log/a.log");
        entry.last_rotation = Some(42);
        entry.owned.insert(FileId { dev: 1, ino: 2 });
        entry.pending =
            Some(Pending::CopyTruncate { source: FileId { dev: 1, ino: 3 }, copied: 9 });
        file.save().unwrap();
        let err = StateFile::open(&path, false).unwrap_err();
        assert_eq!(err.code, ExitCode::TempFail);
        assert!(err.message.contains(&std::process::id().to_string()), "{err}");
        let read = StateFile::open(&path, true).unwrap();
        assert_eq!(read.state, file.state);
        drop(file);
        assert!(!names::temp_for(&path).exists());
        StateFile::open(&path, false).unwrap();
    }

    #[test]
    fn a_corrupt_state_is_a_data_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "{not json").unwrap();
        let err = StateFile::open(&path, true).unwrap_err();
        assert_eq!(err.code, ExitCode::DataErr);
        assert!(err.message.contains(&path.display().to_string()));
    }
}

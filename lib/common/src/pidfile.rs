//! PID files whose `flock` is the liveness test (ARCHITECTURE §2).
//!
//! The owner holds an exclusive lock on the open file for its whole life; the lock follows the
//! open file description, so it vanishes exactly when the process dies, however it dies. A file
//! left behind by `kill -9` is therefore harmless: the next [`PidFile::acquire`] gets the lock
//! and overwrites it. The pid written inside is only for people and signals, never for deciding
//! liveness (pids are reused).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};

/// A held PID file. Dropping it removes the file (while still locked), then unlocks.
#[derive(Debug)]
pub struct PidFile {
    file: File,
    path: PathBuf,
}

/// Why a PID file could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum PidFileError {
    #[error("{path} is locked by running process {}", pid.map_or("(unknown pid)".to_string(), |p| p.to_string()))]
    Held { path: PathBuf, pid: Option<u32> },
    #[error("PID file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl HasExitCode for PidFileError {
    fn exit_code(&self) -> ExitCode {
        match self {
            PidFileError::Held { .. } => ExitCode::TempFail,
            PidFileError::Io { source, .. } => crate::exit::for_io_error(source, false),
        }
    }
}

/// What a PID file says about its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Locked: the process is alive (its pid, if the file holds one).
    Running(Option<u32>),
    /// The file exists but nobody holds the lock: its process is gone.
    Stale,
    /// No such file.
    Missing,
}

impl PidFile {
    /// Locks `path` (creating it and its directory) and writes this process's pid into it.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io = |source| PidFileError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(PidFileError::Held {
                        path: path.to_owned(),
                        pid: read_pid(&mut file),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
            // The previous owner may have removed the file between our open and our lock: then
            // we hold a lock on an unlinked inode, which proves nothing. Start again.
            if !same_file(&file, path) {
                continue;
            }
            file.set_len(0).map_err(io)?;
            // No fsync: the lock, not the text, proves liveness, and the text matters only while
            // this process lives — after a crash nobody holds the lock and the file is stale.
            file.write_all(format!("{}\n", std::process::id()).as_bytes()).map_err(io)?;
            return Ok(PidFile { file, path: path.to_owned() });
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rewrites the pid (after a fork, the child is the owner).
    pub fn update_pid(&mut self) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(format!("{}\n", std::process::id()).as_bytes())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Remove while locked so nobody can take the lock on a file that is about to vanish.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Tells whether the process owning `path` is alive, by trying its lock (never by `kill -0`).
pub fn probe(path: &Path) -> std::io::Result<Liveness> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Liveness::Missing),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Liveness::Stale),
        Err(TryLockError::WouldBlock) => Ok(Liveness::Running(read_pid(&mut file))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_is_refused_naming_the_pid_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels/k.pid");
        let held = PidFile::acquire(&path).unwrap();
        assert_eq!(probe(&path).unwrap(), Liveness::Running(Some(std::process::id())));
        match PidFile::acquire(&path) {
            Err(e @ PidFileError::Held { pid: Some(pid), .. }) => {
                assert_eq!(pid, std::process::id());
                assert_eq!(e.exit_code(), ExitCode::TempFail);
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        assert_eq!(probe(&path).unwrap(), Liveness::Missing);
    }

    #[test]
    fn a_stale_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pid");
        std::fs::write(&path, "999999\n").unwrap();
        assert_eq!(probe(&path).unwrap(), Liveness::Stale);
        let held = PidFile::acquire(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        drop(held);
    }
}

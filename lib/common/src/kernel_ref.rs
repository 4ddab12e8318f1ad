//! Naming a kernel on a command line: `--kernel ID|PATH` (or `LLMSPELL_KERNEL`), as every tool
//! that talks to a kernel takes it (ARCHITECTURE §2).
//!
//! An id names `$LLMSPELL_HOME/kernels/kernel-<id>.json`; anything with a `/` or ending in
//! `.json` is the path of a connection file. A kernel whose PID file exists but is locked by
//! nobody is known dead, so the caller can fail at once (exit 69) instead of waiting on sockets
//! nobody serves. A connection file a kernel wrote itself has its PID file beside it.

use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};
use crate::paths::{Home, KernelId, KernelIdError};
use crate::pidfile::{self, Liveness};

/// A kernel named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelRef {
    /// How messages name it: `kernel ID` or `kernel at PATH`.
    pub label: String,
    pub connection_file: PathBuf,
    /// Its PID file, when one is known (an id, or `DIR/kernel-ID.json`).
    pub pid_file: Option<PathBuf>,
}

/// Why `--kernel` names no running kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelRefError {
    #[error(transparent)]
    BadId(#[from] KernelIdError),
    #[error("no kernel: connection file {0} does not exist")]
    NoFile(String),
    #[error(
        "no kernel {id}: {} does not exist (start one with `llmspell-kerneld start --daemon --id {id}`)",
        path.display()
    )]
    NoKernel { id: KernelId, path: PathBuf },
    #[error(
        "{label} is not running: nobody holds the lock of {} (files left by a kernel that died; \
         `llmspell-kerneld stop` removes them)",
        pid_file.display()
    )]
    Dead { label: String, pid_file: PathBuf },
}

impl HasExitCode for KernelRefError {
    fn exit_code(&self) -> ExitCode {
        match self {
            KernelRefError::BadId(_) => ExitCode::Usage,
            _ => ExitCode::Unavailable,
        }
    }
}

/// Finds the kernel `spec` names; one that is certainly not running is an error here.
pub fn resolve(spec: &str, home: &Home) -> Result<KernelRef, KernelRefError> {
    let kernel = if spec.contains('/') || spec.ends_with(".json") {
        let path = PathBuf::from(spec);
        if !path.exists() {
            return Err(KernelRefError::NoFile(spec.to_owned()));
        }
        let pid_file = sibling_pid_file(&path);
        KernelRef { label: format!("kernel at {spec}"), connection_file: path, pid_file }
    } else {
        let id = KernelId::new(spec)?;
        let path = home.connection_file(&id);
        if !path.exists() {
            return Err(KernelRefError::NoKernel { id, path });
        }
        let pid_file = Some(home.pid_file(&id));
        KernelRef { label: format!("kernel {id}"), connection_file: path, pid_file }
    };
    if let Some(pid_file) = &kernel.pid_file
        && let Ok(Liveness::Stale) = pidfile::probe(pid_file)
    {
        return Err(KernelRefError::Dead { label: kernel.label, pid_file: pid_file.clone() });
    }
    Ok(kernel)
}

/// `DIR/kernel-ID.pid` for `DIR/kernel-ID.json`.
fn sibling_pid_file(connection_file: &Path) -> Option<PathBuf> {
    let name = connection_file.file_name()?.to_str()?;
    let id = name.strip_prefix("kernel-")?.strip_suffix(".json")?;
    Some(connection_file.with_file_name(format!("kernel-{id}.pid")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_bad_and_dead_kernels_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert_eq!(resolve("work", &home).unwrap_err().exit_code(), ExitCode::Unavailable);
        assert_eq!(
            resolve("./nowhere.json", &home).unwrap_err().exit_code(),
            ExitCode::Unavailable
        );
        assert_eq!(resolve("Bad_Id", &home).unwrap_err().exit_code(), ExitCode::Usage);
        std::fs::create_dir_all(home.kernels_dir()).unwrap();
        let id = KernelId::new("work").unwrap();
        std::fs::write(home.connection_file(&id), "{}").unwrap();
        assert_eq!(resolve("work", &home).unwrap().label, "kernel work");
        let by_path = home.connection_file(&id);
        let by_path = resolve(by_path.to_str().unwrap(), &home).unwrap();
        assert_eq!(by_path.pid_file, Some(home.pid_file(&id)));
        std::fs::write(home.pid_file(&id), "4242\n").unwrap(); // nobody holds its lock
        let dead = resolve("work", &home).unwrap_err();
        assert!(dead.to_string().starts_with("kernel work is not running"), "{dead}");
    }
}

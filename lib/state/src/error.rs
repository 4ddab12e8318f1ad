//! [`StateError`]: why a [`Store`](crate::Store) operation failed.
//!
//! Every variant that touches the file names its path, so a message read out of context (a log
//! line, a Lua error) still says which store failed. Each variant maps to one sysexits code
//! through [`HasExitCode`].

use std::path::PathBuf;

use llmspell_common::{ExitCode, HasExitCode};

/// A failed store operation.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The directory that should hold the store could not be created.
    #[error("cannot create the state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    /// SQLite could not open the file or set it up (pragmas, schema).
    #[error("cannot open the state store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    /// The file was written by a newer llmspell with a schema this one does not know.
    #[error(
        "the state store {path} has schema version {found}; this llmspell understands up to \
         {supported}"
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    /// A scope or key is empty or too long.
    #[error("{reason}")]
    InvalidName { what: &'static str, reason: String },
    /// A read or write failed (`op` is `save`, `load`, ...).
    #[error("state store {path}: {op} failed: {source}")]
    Sqlite { path: PathBuf, op: &'static str, source: rusqlite::Error },
    /// A stored value is not valid JSON (the file was changed by something else).
    #[error("state store {path}: the value of {scope:?}/{key:?} is not valid JSON: {source}")]
    Corrupt { path: PathBuf, scope: String, key: String, source: serde_json::Error },
}

impl HasExitCode for StateError {
    fn exit_code(&self) -> ExitCode {
        match self {
            StateError::CreateDir { source, .. } => {
                llmspell_common::exit::for_io_error(source, false)
            }
            StateError::Open { .. } => ExitCode::CantCreate,
            StateError::NewerSchema { .. } | StateError::Corrupt { .. } => ExitCode::DataErr,
            StateError::InvalidName { .. } => ExitCode::DataErr,
            StateError::Sqlite { source, .. } if is_busy(source) => ExitCode::TempFail,
            StateError::Sqlite { .. } => ExitCode::IoErr,
        }
    }
}

/// Whether another connection held the lock for longer than the busy timeout.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

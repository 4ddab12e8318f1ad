//! Persistent key-value state for llmspell kernels: JSON values under `(scope, key)` names, kept
//! in one SQLite file.
//!
//! Guarantees:
//! - Each [`Store::save`] and [`Store::delete`] is its own transaction (SQLite autocommit): a
//!   reader sees a value whole or not at all, never half written.
//! - The file is in WAL mode with `synchronous=NORMAL`. A process killed at any point (even with
//!   SIGKILL in the middle of a write) leaves a readable store holding every save that returned;
//!   a power loss leaves it consistent but may forget the last saves before the crash. `FULL`
//!   would add an fsync per save for that last case, which a notebook's scratch state does not
//!   need and a loop of saves would feel.
//! - Several [`Store`]s (in one process or many) may use one file: writers wait up to
//!   [`BUSY_TIMEOUT`] for each other, and each sees the others' committed writes.
//! - Scopes and keys are non-empty and at most [`MAX_NAME_BYTES`] bytes; keys are listed in byte
//!   order.
//! - The schema version is kept in `PRAGMA user_version`; a file from a newer schema is refused
//!   rather than misread.

mod error;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

pub use error::StateError;

/// How long a write waits for another connection's lock before failing.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest scope or key, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// The schema this code reads and writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS state (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) WITHOUT ROWID;
";

/// One connection to a state file.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens the store at `path`, creating its directory and file and the schema if missing.
    pub fn open(path: &Path) -> Result<Store, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StateError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let open_err = |source| StateError::Open { path: path.to_path_buf(), source };
        let mut conn = Connection::open(path).map_err(open_err)?;
        // Set first, so every later step (even switching to WAL) waits for other openers.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        migrate(&mut conn, path)?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// The file this store was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores `value` under `(scope, key)`, replacing any earlier value.
    pub fn save(&self, scope: &str, key: &str, value: &Value) -> Result<(), StateError> {
        check_names(scope, key)?;
        self.conn
            .prepare_cached(
                "INSERT INTO state (scope, key, value, updated_at)
                 VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
                 ON CONFLICT (scope, key)
                 DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .and_then(|mut st| st.execute(params![scope, key, value.to_string()]))
            .map_err(|e| self.sqlite("save", e))?;
        Ok(())
    }

    /// The value under `(scope, key)`, `None` when there is none.
    pub fn load(&self, scope: &str, key: &str) -> Result<Option<Value>, StateError> {
        check_names(scope, key)?;
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM state WHERE scope = ?1 AND key = ?2")
            .and_then(|mut st| st.query_row(params![scope, key], |r| r.get(0)).optional())
            .map_err(|e| self.sqlite("load", e))?;
        let Some(text) = text else { return Ok(None) };
        serde_json::from_str(&text).map(Some).map_err(|source| StateError::Corrupt {
            path: self.path.clone(),
            scope: scope.to_string(),
            key: key.to_string(),
            source,
        })
    }

    /// Removes `(scope, key)`; returns whether it existed.
    pub fn delete(&self, scope: &str, key: &str) -> Result<bool, StateError> {
        check_names(scope, key)?;
        let n = self
            .conn
            .prepare_cached("DELETE FROM state WHERE scope = ?1 AND key = ?2")
            .and_then(|mut st| st.execute(params![scope, key]))
            .map_err(|e| self.sqlite("delete", e))?;
        Ok(n > 0)
    }

    /// The keys of `scope`, sorted by their bytes.
    pub fn list_keys(&self, scope: &str) -> Result<Vec<String>, StateError> {
        check_name("scope", scope)?;
        self.conn
            .prepare_cached("SELECT key FROM state WHERE scope = ?1 ORDER BY key")
            .and_then(|mut st| {
                st.query_map(params![scope], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()
            })
            .map_err(|e| self.sqlite("list_keys", e))
    }

    /// Copies the write-ahead log into the main file and empties it (graceful shutdown), so the
    /// file alone holds everything. When another connection is reading, SQLite copies what it
    /// can; nothing is lost either way, since the log stays valid.
    pub fn checkpoint(&self) -> Result<(), StateError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.sqlite("checkpoint", e))
    }

    fn sqlite(&self, op: &'static str, source: rusqlite::Error) -> StateError {
        StateError::Sqlite { path: self.path.clone(), op, source }
    }
}

/// Brings the schema to [`SCHEMA_VERSION`], or refuses a newer one.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let open_err = |source| StateError::Open { path: path.to_path_buf(), source };
    let version = |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get(0));
    let found: i64 = version(conn).map_err(open_err)?;
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // IMMEDIATE takes the write lock up front, so two first openers create the schema once.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(open_err)?;
    let found: i64 = version(&tx).map_err(open_err)?;
    if found > SCHEMA_VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    tx.execute_batch(SCHEMA).map_err(open_err)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(open_err)?;
    tx.commit().map_err(open_err)
}

fn check_names(scope: &str, key: &str) -> Result<(), StateError> {
    check_name("scope", scope)?;
    check_name("key", key)
}

fn check_name(what: &'static str, name: &str) -> Result<(), StateError> {
    let reason = if name.is_empty() {
        format!("the state {what} is empty")
    } else if name.len() > MAX_NAME_BYTES {
        format!("the state {what} is {} bytes long; the limit is {MAX_NAME_BYTES}", name.len())
    } else {
        return Ok(());
    };
    Err(StateError::InvalidName { what, reason })
}

#[cfg(test)]
mod tests;

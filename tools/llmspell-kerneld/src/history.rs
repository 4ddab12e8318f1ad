//! Execution history (messaging spec, "History"), kept across restarts in
//! `$LLMSPELL_HOME/state/kernel-history.jsonl`: one JSON object per line,
//! `{"session": n, "line": n, "input": "...", "output": "..."|null}`.
//!
//! Each kernel process is a new session (one more than the largest in the file); `line` is the
//! execution count. Appends are single `write`s of whole lines to a file opened O_APPEND, so
//! kernels sharing a home never interleave lines; a torn or foreign line is skipped on load.

use std::io::Write;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wildmatch::WildMatch;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub session: u64,
    pub line: u64,
    pub input: String,
    #[serde(default)]
    pub output: Option<String>,
}

pub struct History {
    path: PathBuf,
    session: u64,
    entries: Vec<Entry>,
}

impl History {
    /// Loads the file (missing = empty) and starts a new session.
    pub fn open(path: PathBuf) -> History {
        let entries: Vec<Entry> = std::fs::read_to_string(&path)
            .map(|text| text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
            .unwrap_or_default();
        let session = entries.iter().map(|e| e.session).max().unwrap_or(0) + 1;
        History { path, session, entries }
    }

    pub fn session(&self) -> u64 {
        self.session
    }

    /// Records one executed cell and appends it to the file (a write failure is logged only:
    /// losing history must never fail an execution).
    pub fn record(&mut self, line: u64, input: &str, output: Option<String>) {
        let entry = Entry { session: self.session, line, input: input.to_owned(), output };
        let mut text = serde_json::to_string(&entry).expect("entries serialize");
        text.push('\n');
        let appended = self.path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?
                .write_all(text.as_bytes())
        });
        if let Err(e) = appended {
            tracing::warn!("history: cannot append to {}: {e}", self.path.display());
        }
        self.entries.push(entry);
    }

    /// Answers a history_request's content with the `history` list.
    pub fn query(&self, request: &Value) -> Vec<Value> {
        let output = request.get("output").and_then(Value::as_bool).unwrap_or(false);
        let n = request.get("n").and_then(Value::as_u64).map(|n| n as usize);
        let selected: Vec<&Entry> = match request.get("hist_access_type").and_then(Value::as_str) {
            Some("tail") => last(self.entries.iter().collect(), n.unwrap_or(10)),
            Some("range") => self.range(request),
            Some("search") => self.search(request, n),
            _ => Vec::new(),
        };
        selected
            .into_iter()
            .map(|e| {
                if output {
                    json!([e.session, e.line, [e.input, e.output]])
                } else {
                    json!([e.session, e.line, e.input])
                }
            })
            .collect()
    }

    /// `session` > 0 is absolute, <= 0 counts back from the current one (0 = this session);
    /// lines `start <= line < stop` (stop absent = to the end).
    fn range(&self, request: &Value) -> Vec<&Entry> {
        let session = request.get("session").and_then(Value::as_i64).unwrap_or(0);
        let session = if session > 0 {
            session as u64
        } else {
            self.session.saturating_sub(session.unsigned_abs())
        };
        let start = request.get("start").and_then(Value::as_u64).unwrap_or(0);
        let stop = request.get("stop").and_then(Value::as_u64).unwrap_or(u64::MAX);
        self.entries
            .iter()
            .filter(|e| e.session == session && e.line >= start && e.line < stop)
            .collect()
    }

    /// Glob `pattern` (`*`, `?`) over whole inputs, like IPython; with `unique`, the latest of
    /// each distinct input; the last `n` matches.
    fn search(&self, request: &Value, n: Option<usize>) -> Vec<&Entry> {
        let pattern = WildMatch::new(request.get("pattern").and_then(Value::as_str).unwrap_or("*"));
        let unique = request.get("unique").and_then(Value::as_bool).unwrap_or(false);
        let mut found: Vec<&Entry> =
            self.entries.iter().filter(|e| pattern.matches(&e.input)).collect();
        if unique {
            let mut seen = std::collections::HashSet::new();
            found.reverse();
            found.retain(|e| seen.insert(e.input.as_str()));
            found.reverse();
        }
        match n {
            Some(n) => last(found, n),
            None => found,
        }
    }
}

fn last(mut entries: Vec<&Entry>, n: usize) -> Vec<&Entry> {
    let skip = entries.len().saturating_sub(n);
    entries.drain(..skip);
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(dir: &std::path::Path) -> History {
        let mut h = History::open(dir.join("h.jsonl"));
        for (i, code) in ["1+1", "x = 2", "1+1", "print(x)"].iter().enumerate() {
            h.record(i as u64 + 1, code, Some(format!("out{i}")));
        }
        h
    }

    #[test]
    fn tail_range_search() {
        let dir = tempfile::tempdir().unwrap();
        let h = filled(dir.path());
        let tail = h.query(&json!({"hist_access_type": "tail", "n": 2}));
        assert_eq!(tail, vec![json!([1, 3, "1+1"]), json!([1, 4, "print(x)"])]);
        let range =
            h.query(&json!({"hist_access_type": "range", "session": 1, "start": 2, "stop": 3}));
        assert_eq!(range, vec![json!([1, 2, "x = 2"])]);
        let with_output = h.query(&json!({"hist_access_type": "range", "session": 0, "start": 1, "stop": 2, "output": true}));
        assert_eq!(with_output, vec![json!([1, 1, ["1+1", "out0"]])]);
        let search = h.query(&json!({"hist_access_type": "search", "pattern": "1*"}));
        assert_eq!(search.len(), 2);
        let unique =
            h.query(&json!({"hist_access_type": "search", "pattern": "1*", "unique": true}));
        assert_eq!(unique, vec![json!([1, 3, "1+1"])]);
        let n = h.query(&json!({"hist_access_type": "search", "pattern": "*", "n": 3}));
        assert_eq!(n.len(), 3);
    }

    #[test]
    fn survives_restart_as_a_new_session_and_skips_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        drop(filled(dir.path()));
        let path = dir.path().join("h.jsonl");
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"sess")
            .unwrap();
        let h = History::open(path);
        assert_eq!(h.session(), 2);
        assert_eq!(h.query(&json!({"hist_access_type": "tail", "n": 100})).len(), 4);
    }
}

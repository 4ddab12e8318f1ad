//! The REPL's line history in `$LLMSPELL_HOME/history`: no duplicates, and every entry on disk
//! the moment it is entered, so a crash loses nothing.
//!
//! The file holds one entry a line (a backslash is written `\\`, a newline `\n`, so multi-line
//! cells fit). Entering a line appends it (`O_APPEND`, one write, under an exclusive `flock`);
//! entering an earlier line again moves it to the end. On opening, the file is read, repeats are
//! dropped (the newest copy wins) and only the newest [`CAPACITY`] entries kept; when that
//! changed anything the file is rewritten to a temp file and renamed over, under the same lock,
//! so several REPLs can share it. An appender that finds the path renamed under it reopens it.
//!
//! reedline panics when saving history fails, so [`LineHistory`] never reports an I/O error to
//! it: the first one is kept in a shared slot for the REPL to show.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use reedline::{
    CommandLineSearch, History, HistoryItem, HistoryItemId, HistorySessionId, ReedlineError,
    ReedlineErrorVariants, SearchDirection, SearchQuery,
};

/// Entries kept.
pub const CAPACITY: usize = 10_000;

/// The first history write that failed, for the REPL to report.
pub type Problem = Arc<Mutex<Option<String>>>;

/// A persistent, duplicate-free line history.
#[derive(Debug)]
pub struct LineHistory {
    path: PathBuf,
    entries: Vec<String>,
    problem: Problem,
}

impl LineHistory {
    /// Reads (and if needed compacts) the history at `path`; a missing file is an empty history.
    pub fn open(path: &Path, problem: Problem) -> std::io::Result<LineHistory> {
        let mut history = LineHistory { path: path.to_owned(), entries: Vec::new(), problem };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).read(true).open(path)?;
        let mut file = lock(file)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let lines: Vec<String> = text.lines().map(decode).collect();
        history.entries = newest_unique(&lines);
        if history.entries.len() != lines.len() {
            let mut out = String::new();
            for entry in &history.entries {
                out.push_str(&encode(entry));
                out.push('\n');
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            let mut temp = tempfile::NamedTempFile::new_in(dir)?;
            temp.write_all(out.as_bytes())?;
            temp.as_file().sync_all()?;
            temp.persist(path).map_err(|e| e.error)?;
        }
        Ok(history)
    }

    /// Every entry, oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    fn append(&self, entry: &str) -> std::io::Result<()> {
        loop {
            let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            let mut file = lock(file)?;
            // Compacted (renamed over) between our open and our lock: write to the new file.
            let on_path = std::fs::metadata(&self.path)?;
            let ours = file.metadata()?;
            if (on_path.dev(), on_path.ino()) != (ours.dev(), ours.ino()) {
                continue;
            }
            return file.write_all(format!("{}\n", encode(entry)).as_bytes());
        }
    }

    fn item(&self, index: usize) -> HistoryItem {
        let mut item = HistoryItem::from_command_line(self.entries[index].clone());
        item.id = Some(HistoryItemId::new(index as i64));
        item
    }
}

fn lock(file: File) -> std::io::Result<Flock<File>> {
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
}

/// The entries of `lines` without repeats (the newest copy wins), at most [`CAPACITY`].
fn newest_unique(lines: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<String> = lines
        .iter()
        .rev()
        .filter(|line| !line.is_empty() && seen.insert(line.as_str()))
        .take(CAPACITY)
        .cloned()
        .collect();
    kept.reverse();
    kept
}

fn encode(entry: &str) -> String {
    entry.replace('\\', "\\\\").replace('\n', "\\n")
}

fn decode(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

impl History for LineHistory {
    fn save(&mut self, mut item: HistoryItem) -> reedline::Result<HistoryItem> {
        let line = item.command_line.clone();
        if line.trim().is_empty() {
            return Ok(item);
        }
        self.entries.retain(|e| *e != line);
        self.entries.push(line.clone());
        if self.entries.len() > CAPACITY {
            self.entries.remove(0);
        }
        if let Err(e) = self.append(&line) {
            let mut problem = self.problem.lock().unwrap_or_else(|p| p.into_inner());
            problem.get_or_insert_with(|| {
                format!("cannot save history to {}: {e}", self.path.display())
            });
        }
        item.id = Some(HistoryItemId::new(self.entries.len() as i64 - 1));
        Ok(item)
    }

    fn load(&self, id: HistoryItemId) -> reedline::Result<HistoryItem> {
        match usize::try_from(id.0).ok().filter(|&i| i < self.entries.len()) {
            Some(index) => Ok(self.item(index)),
            None => Err(ReedlineError(ReedlineErrorVariants::OtherHistoryError(
                "no such history entry",
            ))),
        }
    }

    fn count(&self, query: SearchQuery) -> reedline::Result<i64> {
        Ok(self.search(query)?.len() as i64)
    }

    /// Entries between `start_id` and `end_id` (both exclusive) in `direction`, matching the
    /// command-line filter; time, host and directory filters do not apply to this history.
    fn search(&self, query: SearchQuery) -> reedline::Result<Vec<HistoryItem>> {
        let (low, high) = match query.direction {
            SearchDirection::Forward => (query.start_id, query.end_id),
            SearchDirection::Backward => (query.end_id, query.start_id),
        };
        let low = low.map_or(0, |id| id.0 + 1).max(0) as usize;
        let high = high.map_or(self.entries.len() as i64, |id| id.0).max(0) as usize;
        let high = high.min(self.entries.len());
        let matches = |entry: &String| match &query.filter.command_line {
            Some(CommandLineSearch::Prefix(p)) => entry.starts_with(p.as_str()),
            Some(CommandLineSearch::Substring(p)) => entry.contains(p.as_str()),
            Some(CommandLineSearch::Exact(p)) => entry == p,
            None => true,
        };
        let limit = query.limit.map_or(usize::MAX, |l| l.max(0) as usize);
        let indices: Box<dyn Iterator<Item = usize>> = match query.direction {
            SearchDirection::Forward => Box::new(low..high.max(low)),
            SearchDirection::Backward => Box::new((low..high.max(low)).rev()),
        };
        Ok(indices
            .filter(|&i| matches(&self.entries[i]))
            .take(limit)
            .map(|i| self.item(i))
            .collect())
    }

    fn update(
        &mut self,
        _id: HistoryItemId,
        _updater: &dyn Fn(HistoryItem) -> HistoryItem,
    ) -> reedline::Result<()> {
        Err(ReedlineError(ReedlineErrorVariants::HistoryFeatureUnsupported {
            history: "LineHistory",
            feature: "updating entries",
        }))
    }

    fn clear(&mut self) -> reedline::Result<()> {
        self.entries.clear();
        Ok(())
    }

    fn delete(&mut self, _id: HistoryItemId) -> reedline::Result<()> {
        Err(ReedlineError(ReedlineErrorVariants::HistoryFeatureUnsupported {
            history: "LineHistory",
            feature: "removing entries",
        }))
    }

    /// Nothing to do: every entry was written when it was saved.
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    fn session(&self) -> Option<HistorySessionId> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(path: &Path) -> LineHistory {
        LineHistory::open(path, Problem::default()).unwrap()
    }

    fn save(h: &mut LineHistory, line: &str) {
        h.save(HistoryItem::from_command_line(line)).unwrap();
    }

    #[test]
    fn entries_survive_reopening_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history");
        let mut h = open(&path);
        for line in ["a = 1", "for i = 1, 2 do\n  print(i)\nend", "a = 1", "b \\ c"] {
            save(&mut h, line);
        }
        assert_eq!(h.entries(), ["for i = 1, 2 do\n  print(i)\nend", "a = 1", "b \\ c"]);
        // On disk the repeat is still there until the next open compacts the file.
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4);
        let h = open(&path);
        assert_eq!(h.entries(), ["for i = 1, 2 do\n  print(i)\nend", "a = 1", "b \\ c"]);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn search_walks_back_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = open(&dir.path().join("history"));
        for line in ["print(1)", "x = 2", "print(3)"] {
            save(&mut h, line);
        }
        let q = SearchQuery::last_with_prefix("print".into(), None);
        let found: Vec<String> = h.search(q).unwrap().into_iter().map(|i| i.command_line).collect();
        assert_eq!(found, ["print(3)"]);
        let mut q = SearchQuery::everything(SearchDirection::Backward, None);
        q.start_id = Some(HistoryItemId::new(2));
        let found: Vec<String> = h.search(q).unwrap().into_iter().map(|i| i.command_line).collect();
        assert_eq!(found, ["x = 2", "print(1)"]);
    }

    #[test]
    fn a_write_failure_is_reported_not_raised() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history");
        let problem = Problem::default();
        let mut h = LineHistory::open(&path, problem.clone()).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap(); // the path is now a directory: appends fail
        save(&mut h, "x = 1");
        assert_eq!(h.entries(), ["x = 1"]);
        assert!(problem.lock().unwrap().as_deref().unwrap().contains("cannot save history"));
    }

    #[test]
    fn escapes_round_trip() {
        for s in ["plain", "a\nb", "back\\slash", "\\n literal", "end\\"] {
            assert_eq!(decode(&encode(s)), s);
        }
    }
}

//! Built-in tools that touch files: file_operations, file_search, file_converter,
//! archive_handler, sqlite_query and image_processor.
//!
//! Every path parameter goes through [`Context::path`], which refuses `..` and symlink escapes
//! and paths outside the allowed roots. Directory walks never follow symlinks; anything written
//! below a checked directory is checked again (a symlink already inside it could lead out).

mod archive_handler;
mod file_converter;
mod file_operations;
mod file_search;
mod image_processor;
mod sqlite_query;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ToolError, io_error};
use crate::spec::ToolDef;

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    vec![
        file_operations::tool(),
        file_search::tool(),
        file_converter::tool(),
        archive_handler::tool(),
        sqlite_query::tool(),
        image_processor::tool(),
    ]
}

/// Files larger than this are not read into memory whole.
pub(super) const MAX_READ: u64 = 64 * 1024 * 1024;

/// A path in the system temp dir, for examples (which run with the default policy).
fn example_path(name: &str) -> String {
    std::env::temp_dir().join(name).to_string_lossy().into_owned()
}

/// `{"if": operation in ops, "then": required fields}` for a schema's `allOf`.
fn requires(ops: &[&str], fields: &[&str]) -> Value {
    json!({
        "if": {"properties": {"operation": {"enum": ops}}, "required": ["operation"]},
        "then": {"required": fields}
    })
}

/// RFC 3339 in UTC, seconds precision.
fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn shown(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Checks a path computed by the tool (a name joined to a checked directory) like a parameter.
fn recheck(cx: &Context, path: &Path) -> Result<PathBuf, ToolError> {
    let text = path
        .to_str()
        .ok_or_else(|| ToolError::validation(format!("{} is not UTF-8", path.display())))?;
    cx.path(text)
}

/// Like [`Context::path`], but when the last component is a symlink, the link itself (in its
/// checked directory) rather than its target: for delete, move, metadata and exists.
fn resolve_link(cx: &Context, given: &str) -> Result<PathBuf, ToolError> {
    let path = Path::new(given);
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
        let parent = match parent.to_str() {
            Some("") => ".",
            Some(p) => p,
            None => return cx.path(given),
        };
        if let Ok(dir) = cx.path(parent) {
            let candidate = dir.join(name);
            if fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink()) {
                return Ok(candidate);
            }
        }
    }
    cx.path(given)
}

/// A permission error when `path` is one of the allowed roots (they are never removed).
fn refuse_root(cx: &Context, path: &Path, what: &str) -> Result<(), ToolError> {
    if cx.policy().roots().iter().any(|r| r == path) {
        return Err(ToolError::permission(format!(
            "{} is an allowed root; it cannot be {what}",
            path.display()
        )));
    }
    Ok(())
}

/// An execution error when `path` exists and `overwrite` is false.
fn refuse_existing(path: &Path, overwrite: bool) -> Result<(), ToolError> {
    if !overwrite && fs::symlink_metadata(path).is_ok() {
        return Err(ToolError::execution(format!(
            "{} already exists; set overwrite: true to replace it",
            path.display()
        )));
    }
    Ok(())
}

/// The metadata of a regular file; directories, fifos, sockets and devices are refused (a
/// fifo would block the tool, a device need not end).
fn regular_file(path: &Path, param: &str) -> Result<fs::Metadata, ToolError> {
    let meta = fs::metadata(path).map_err(|e| io_error(e, Some(path)))?;
    if meta.is_dir() {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is a directory, not a file",
            path.display()
        )));
    }
    if !meta.is_file() {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is not a regular file (a fifo, socket or device)",
            path.display()
        )));
    }
    Ok(meta)
}

/// Reads a whole file of at most `cap` bytes (a validation error naming `param` if larger).
fn read_capped(path: &Path, cap: u64, param: &str) -> Result<Vec<u8>, ToolError> {
    let meta = regular_file(path, param)?;
    if meta.len() > cap {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is {} bytes, more than the {} MiB limit",
            path.display(),
            meta.len(),
            cap / (1024 * 1024)
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    File::open(path)
        .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
        .map_err(|e| io_error(e, Some(path)))?;
    if bytes.len() as u64 > cap {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} grew past the {} MiB limit while being read",
            path.display(),
            cap / (1024 * 1024)
        )));
    }
    Ok(bytes)
}

/// A fresh name next to `path` for writing before a rename.
fn sibling_temp(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.llmspell-{}-{n}.tmp", std::process::id()))
}

/// Writes a file through a temp sibling and a rename, so a failure leaves no half-written
/// output; `fill` writes the content. Missing parent directories are made; the permissions of
/// a replaced file are kept.
fn write_replacing(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), ToolError>,
) -> Result<u64, ToolError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_error(e, Some(parent)))?;
    }
    let temp = sibling_temp(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| io_error(e, Some(&temp)))?;
        fill(&mut file)?;
        file.flush().map_err(|e| io_error(e, Some(&temp)))?;
        let size = file.metadata().map_err(|e| io_error(e, Some(&temp)))?.len();
        if let Ok(old) = fs::metadata(path) {
            let _ = fs::set_permissions(&temp, old.permissions());
        }
        fs::rename(&temp, path).map_err(|e| io_error(e, Some(path)))?;
        Ok(size)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// A reader that fails once the call's deadline passed, so long copies stop at the timeout.
struct Checked<'a, R> {
    inner: R,
    cx: &'a Context,
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cx.is_cancelled() {
            return Err(std::io::Error::other("the tool call timed out"));
        }
        self.inner.read(buf)
    }
}

impl<R: std::io::Seek> std::io::Seek for Checked<'_, R> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// The timeout error if the deadline passed, else `err`.
fn or_timeout(cx: &Context, err: ToolError) -> ToolError {
    if cx.is_cancelled() { cx.timed_out() } else { err }
}

/// Copies `from` into `to` in chunks, checking the deadline per chunk; the bytes copied.
fn copy_checked(cx: &Context, from: impl Read, to: &mut impl Write) -> std::io::Result<u64> {
    std::io::copy(&mut Checked { inner: from, cx }, to)
}

/// The kind of a file type as the tools report it.
fn kind_of(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else {
        "other"
    }
}

#[cfg(test)]
pub(super) mod testing {
    //! A fixture: an allowed root and, next to it, an outside directory that tools must not
    //! touch, with symlinks from the root pointing out.

    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use serde_json::Value;

    use crate::{ErrorType, Policy, Registry, ToolError};

    pub(crate) struct Fx {
        _dir: tempfile::TempDir,
        pub(crate) root: PathBuf,
        pub(crate) outside: PathBuf,
        pub(crate) r: Registry,
    }

    impl Fx {
        pub(crate) fn new() -> Fx {
            let dir = tempfile::tempdir().unwrap();
            let base = std::fs::canonicalize(dir.path()).unwrap();
            let root = base.join("root");
            let outside = base.join("outside");
            std::fs::create_dir_all(&root).unwrap();
            std::fs::create_dir_all(&outside).unwrap();
            std::fs::write(outside.join("secret.txt"), "secret\n").unwrap();
            std::os::unix::fs::symlink(&outside, root.join("out_dir")).unwrap();
            std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("out_file")).unwrap();
            let policy =
                Policy::with(root.clone(), vec![root.clone()], vec![], Duration::from_secs(60));
            let r = Registry::with_tools(super::tools(), policy);
            Fx { _dir: dir, root, outside, r }
        }

        /// A path under the root, as a string parameter.
        pub(crate) fn p(&self, rel: &str) -> String {
            self.root.join(rel).to_string_lossy().into_owned()
        }

        pub(crate) fn call(&self, tool: &str, params: Value) -> Result<Value, ToolError> {
            self.r.invoke(tool, params, None)
        }

        pub(crate) fn ok(&self, tool: &str, params: Value) -> Value {
            match self.call(tool, params.clone()) {
                Ok(v) => v,
                Err(e) => panic!("{tool} {params} failed: {e}"),
            }
        }

        pub(crate) fn err(&self, tool: &str, params: Value, kind: ErrorType) -> ToolError {
            match self.call(tool, params.clone()) {
                Ok(v) => panic!("{tool} {params} should fail with {kind}, got {v}"),
                Err(e) => {
                    assert_eq!(e.error_type, kind, "{tool} {params}: {e}");
                    e
                }
            }
        }

        /// The outside directory still holds only secret.txt, unchanged.
        pub(crate) fn outside_untouched(&self) {
            let names: Vec<String> = std::fs::read_dir(&self.outside)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            assert_eq!(names, ["secret.txt"], "something was written outside the roots");
            assert_eq!(
                std::fs::read_to_string(self.outside.join("secret.txt")).unwrap(),
                "secret\n"
            );
        }
    }

    /// Waits up to `secs` seconds for `done`.
    pub(crate) fn eventually(secs: u64, mut done: impl FnMut() -> bool) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if done() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        done()
    }

    pub(crate) fn exists(path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    pub(crate) fn size(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// Runs `tool` directly with a long deadline, waits (up to 20 s) until `working` sees it
    /// busy, then sets the cancel flag as the registry does at a timeout and waits for the
    /// tool to return. Whether it was seen working, and what it returned: a tool that stops
    /// returns (a timeout error) instead of finishing its work.
    pub(crate) fn cancel_while_working(
        fx: &Fx,
        tool: &str,
        params: Value,
        mut working: impl FnMut() -> bool,
    ) -> (bool, Result<Value, ToolError>) {
        let params = fx.r.validate(tool, params).unwrap();
        let run = fx.r.info(tool).unwrap().run;
        let cx = crate::Context::new(
            std::sync::Arc::new(fx.r.policy().clone()),
            Duration::from_secs(300),
        );
        let flag = cx.cancel_flag();
        std::thread::scope(|s| {
            let call = s.spawn(|| run(&params, &cx));
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut seen = false;
            while !seen && !call.is_finished() && std::time::Instant::now() < deadline {
                seen = working();
                std::thread::sleep(Duration::from_millis(1));
            }
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            (seen, call.join().unwrap())
        })
    }

    /// Makes a named pipe (a fifo) with mkfifo(1).
    pub(crate) fn fifo(path: &Path) {
        let status = std::process::Command::new("mkfifo").arg(path).status().unwrap();
        assert!(status.success());
    }
}

#[cfg(test)]
mod tests {
    use crate::{Policy, Registry};

    #[test]
    fn every_example_passes_with_the_default_policy() {
        let r = Registry::with_tools(super::tools(), Policy::new(std::env::temp_dir()));
        let outcomes = r.test(&[]).unwrap();
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| o.failure.as_ref().map(|f| format!("{} / {}: {f}", o.tool, o.example)))
            .collect();
        assert!(failed.is_empty(), "{failed:#?}");
        for def in super::tools() {
            assert!(def.examples.len() >= 2, "{} has too few examples", def.name);
            assert!(
                def.examples.iter().any(|e| matches!(e.expect, crate::Expect::Error(_))),
                "{} has no failure example",
                def.name
            );
        }
        assert_eq!(r.len(), 6);
    }
}

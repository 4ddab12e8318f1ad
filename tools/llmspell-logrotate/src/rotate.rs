//! Rotating one log: finish what an interrupted run left, decide whether the log is due, move
//! the writer off it, then compress and prune ([`crate::maintain`]).
//!
//! Rename mode: record the log's identity as ours and the pending step, shift `.1 .2 …` up
//! (from the first gap down, so a shift cut short is resumed by the next one), rename the log,
//! create a new one (--create), signal the writer and wait until it has closed the old file.
//! Every line is in exactly one file because the writer's descriptor follows the renamed inode
//! until it reopens by path; nothing is copied.
//!
//! Copytruncate mode: copy to a temporary file, fsync, record the step, copy what was appended
//! meanwhile, truncate at once, then give the copy its rotation name. Lines appended between
//! the last read and the truncation are lost: that window is what the mode costs.
//!
//! Interrupted runs (SIGKILL between any two steps): a pending rename is finished (the writer
//! is signalled); a pending copytruncate is finished if the log was truncated and undone (the
//! copy deleted) if not; temporary files are removed; a rotation found beside its complete
//! `.gz` (the crash fell between the rename of the `.gz` and the removal) is removed.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use llmspell_common::ExitCode;

use crate::fsops::{self, fail};
use crate::options::{Policy, Switch};
use crate::state::{Pending, StateFile, sync_dir};
use crate::writers::{self, FileId};
use crate::{Failure, failpoint, names};

/// One run over the logs: the state, the clock and how much to say.
#[derive(Debug)]
pub struct Run<'a> {
    pub state: &'a mut StateFile,
    pub now: SystemTime,
    pub dry_run: bool,
    pub verbose: bool,
    /// Warnings printed so far (they do not change the exit status).
    pub warnings: usize,
}

impl Run<'_> {
    /// Reports an action (with --verbose, or always in a dry run).
    pub fn say(&self, text: impl AsRef<str>) {
        if self.verbose || self.dry_run {
            println!("{}", text.as_ref());
        }
    }

    /// Something the user should know that does not stop the run.
    pub fn warn(&mut self, text: impl AsRef<str>) {
        self.warnings += 1;
        eprintln!("llmspell-logrotate: warning: {}", text.as_ref());
    }

    pub fn unix_now(&self) -> i64 {
        unix(self.now)
    }
}

pub fn unix(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// The state key of a log: its absolute path.
pub fn key(log: &Path) -> String {
    std::path::absolute(log).unwrap_or_else(|_| log.to_owned()).display().to_string()
}

/// Rotates `log` if due, after finishing any interrupted rotation; then compresses and prunes.
pub fn process(run: &mut Run, log: &Path, policy: &Policy) -> Result<(), Failure> {
    let key = key(log);
    if !run.dry_run {
        recover(run, log, &key, policy)?;
    } else if run.state.state.logs.get(&key).is_some_and(|l| l.pending.is_some()) {
        run.say(format!("would finish the interrupted rotation of {}", log.display()));
    }
    match std::fs::symlink_metadata(log) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !policy.missing_ok {
                return Err(Failure::new(
                    ExitCode::NoInput,
                    format!("{}: no such file", log.display()),
                ));
            }
        }
        Err(e) => return Err(fail(e, "read", log, true)),
        Ok(meta) if !meta.file_type().is_file() => {
            let what =
                if meta.file_type().is_symlink() { "a symlink" } else { "not a regular file" };
            let message = format!("{} is {what}; not rotating it", log.display());
            return Err(Failure::new(ExitCode::DataErr, message));
        }
        Ok(meta) => {
            if due(run, &key, &meta, policy) {
                match policy.switch {
                    Switch::CopyTruncate => copytruncate(run, log, &key, policy)?,
                    _ => rename(run, log, &key, &meta, policy)?,
                }
            }
        }
    }
    let tidied = crate::maintain::compress(run, log, &key, policy)
        .and_then(|()| crate::maintain::retain(run, log, &key, policy))
        .and_then(|()| crate::maintain::forget_gone(run, log, &key, policy));
    // The rotation's own outcome is saved even when tidying up failed.
    let saved = run.state.save();
    tidied.and(saved)
}

/// Whether `log` should be rotated now.
fn due(run: &mut Run, key: &str, meta: &std::fs::Metadata, policy: &Policy) -> bool {
    if meta.len() == 0 && policy.not_if_empty {
        return false;
    }
    let now = run.unix_now();
    let entry = run.state.log(key);
    if entry.last_rotation.is_none() && entry.first_seen.is_none() {
        // Before any rotation a log's age is its own: its birth time where the file system
        // records one, else from now on.
        entry.first_seen = Some(meta.created().map_or(now, unix));
    }
    let since = entry.last_rotation.or(entry.first_seen).unwrap_or(now);
    let by_size = policy.size.map(|size| meta.len() >= size);
    let by_age = policy.max_age.map(|age| now.saturating_sub(since) >= age.as_secs() as i64);
    match (by_size, by_age) {
        (None, None) => true,
        (size, age) => size == Some(true) || age == Some(true),
    }
}

/// The name the next rotation of `log` gets (numbered: slot 1, free once [`shift`] ran).
fn next_name(log: &Path, policy: &Policy, now: SystemTime) -> Result<PathBuf, Failure> {
    if !policy.dateext {
        return Ok(names::numbered(log, 1));
    }
    let newest = names::list(log, true).map_err(|e| fail(e, "list rotations of", log, true))?;
    let newest =
        newest.first().map(|r| names::file_name(&r.path).trim_end_matches(".gz").to_owned());
    let mut time: chrono::DateTime<chrono::Utc> = now.into();
    loop {
        let name = names::dated(log, time);
        let later = newest.as_deref().is_none_or(|n| names::file_name(&name) > n);
        if later && !name.exists() && !names::gz(&name).exists() {
            return Ok(name);
        }
        // Names must sort in rotation order even if the clock stepped back.
        time += chrono::Duration::microseconds(1);
    }
}

/// Moves `.K` (and `.K.gz`) to `.K+1` for every K below the first free slot, oldest first, so
/// slot 1 is free. Interrupted, it leaves a gap that the next shift closes.
fn shift(log: &Path) -> Result<(), Failure> {
    let variants = |k| [names::numbered(log, k), names::gz(&names::numbered(log, k))];
    let taken = |k| variants(k).iter().any(|p| p.symlink_metadata().is_ok());
    let mut free = 1;
    while taken(free) {
        free += 1;
    }
    for k in (1..free).rev() {
        for (from, to) in variants(k).iter().zip(variants(k + 1).iter()) {
            if from.symlink_metadata().is_ok() {
                fsops::rename_noreplace(from, to).map_err(|e| fail(e, "rename", from, false))?;
            }
        }
    }
    Ok(())
}

/// Rename mode (with or without a signal).
fn rename(
    run: &mut Run,
    log: &Path,
    key: &str,
    meta: &std::fs::Metadata,
    policy: &Policy,
) -> Result<(), Failure> {
    let target = next_name(log, policy, run.now)?;
    let shown = (log.display(), target.display());
    if run.dry_run {
        run.say(format!("would rotate {} -> {}", shown.0, shown.1));
        return Ok(());
    }
    let id = FileId::of(meta);
    let entry = run.state.log(key);
    entry.owned.insert(id);
    entry.pending = Some(Pending::Reopen { rotated: target.clone(), id });
    // Not fsynced, nor is the rename (the end of `process` saves durably): a killed process
    // loses neither; a power cut may lose the record but keep the rename, and then the
    // rotation is merely not known as ours (never deleted) and its writer, restarted with
    // the machine, needs no signal. Two fsync pairs fewer make the rotation a few ms.
    run.state.save_unsynced()?;
    if !policy.dateext {
        shift(log)?;
    }
    failpoint("shifted");
    fsops::rename_noreplace(log, &target).map_err(|e| fail(e, "rename", log, false))?;
    run.say(format!("rotated {} -> {}", shown.0, shown.1));
    failpoint("renamed");
    after_rename(run, log, id, policy)?;
    // Saved with the rest of this log's changes at the end of `process` (one fsync pair
    // fewer); killed before that, the next run only signals the writer once more.
    let now = run.unix_now();
    let entry = run.state.log(key);
    entry.pending = None;
    entry.last_rotation = Some(now);
    Ok(())
}

/// After the rename: the new log (--create), then the writer's reopen (--signal).
fn after_rename(run: &mut Run, log: &Path, id: FileId, policy: &Policy) -> Result<(), Failure> {
    if let Some(mode) = policy.create {
        fsops::create_log(log, mode).map_err(|e| fail(e, "create", log, false))?;
    }
    let Switch::Signal { signal, pid_file } = &policy.switch else { return Ok(()) };
    let stem = log.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let pid_file = PathBuf::from(pid_file.replace("{stem}", stem));
    let pid = match writers::writer_pid(&pid_file) {
        Ok(pid) => pid,
        Err(why) => {
            run.warn(format!("{}: no writer signalled: {why}", log.display()));
            return Ok(());
        }
    };
    match nix::sys::signal::kill(pid, *signal) {
        Ok(()) => run.say(format!("sent {signal} to {pid} ({})", pid_file.display())),
        Err(nix::errno::Errno::ESRCH) => {
            run.warn(format!(
                "{}: writer {pid} exited before it could be signalled",
                log.display()
            ));
            return Ok(());
        }
        Err(e) => {
            let code =
                if e == nix::errno::Errno::EPERM { ExitCode::NoPerm } else { ExitCode::Software };
            return Err(Failure::new(code, format!("cannot send {signal} to {pid}: {e}")));
        }
    }
    if !writers::wait_until_released(pid.as_raw(), id, policy.reopen_timeout) {
        let waited = humantime::format_duration(policy.reopen_timeout);
        run.warn(format!(
            "{}: writer {pid} still has the rotated file open after {waited}; it stays \
             uncompressed until it is closed",
            log.display()
        ));
    }
    Ok(())
}

/// Copytruncate mode.
fn copytruncate(run: &mut Run, log: &Path, key: &str, policy: &Policy) -> Result<(), Failure> {
    if run.dry_run {
        let target = next_name(log, policy, run.now)?;
        run.say(format!("would copy {} -> {} and truncate it", log.display(), target.display()));
        return Ok(());
    }
    let mut src = OpenOptions::new()
        .read(true)
        .write(true)
        .open(log)
        .map_err(|e| fail(e, "open", log, true))?;
    let meta = src.metadata().map_err(|e| fail(e, "read", log, true))?;
    let source = FileId::of(&meta);
    refuse_non_append_writers(log, source)?;
    let temp = names::copy_temp(log);
    let mode = meta.permissions().mode() & 0o7777;
    let mut copy = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&temp)
        .map_err(|e| fail(e, "create", &temp, false))?;
    let copy_fail = |e| fail(e, "copy to", &temp, false);
    let mut copied = std::io::copy(&mut src, &mut copy).map_err(copy_fail)?;
    copy.sync_data().map_err(copy_fail)?;
    let copy_id = FileId::of(&copy.metadata().map_err(copy_fail)?);
    let entry = run.state.log(key);
    entry.owned.insert(copy_id);
    entry.pending = Some(Pending::CopyTruncate { source, copied });
    run.state.save()?;
    failpoint("copied");
    // Catch up with what was appended while the state was saved, then truncate at once: the
    // lines lost are those appended between these two calls.
    copied += std::io::copy(&mut src, &mut copy).map_err(copy_fail)?;
    src.set_len(0).map_err(|e| fail(e, "truncate", log, false))?;
    failpoint("truncated");
    copy.sync_all().map_err(copy_fail)?;
    run.say(format!("copied {} bytes of {} and truncated it", copied, log.display()));
    finish_copy(run, log, key, policy, &temp)
}

/// A writer without O_APPEND keeps writing at its old offset after the truncation, leaving the
/// start of the file as a hole of NULs: refuse rather than corrupt the log.
fn refuse_non_append_writers(log: &Path, id: FileId) -> Result<(), Failure> {
    let open = writers::open_files();
    let bad =
        open.get(&id).and_then(|fds| fds.iter().find(|o| writers::writes_without_append(**o)));
    match bad {
        None => Ok(()),
        Some(o) => Err(Failure::new(
            ExitCode::Config,
            format!(
                "{}: process {} writes it without O_APPEND (fd {}), so truncating would fill it \
                 with NULs; use --signal/--pid-file, or open the log with O_APPEND",
                log.display(),
                o.pid,
                o.fd
            ),
        )),
    }
}

/// Gives the finished copy its rotation name and closes the rotation.
fn finish_copy(
    run: &mut Run,
    log: &Path,
    key: &str,
    policy: &Policy,
    temp: &Path,
) -> Result<(), Failure> {
    let target = next_name(log, policy, run.now)?;
    if !policy.dateext {
        shift(log)?;
    }
    fsops::rename_noreplace(temp, &target).map_err(|e| fail(e, "rename", temp, false))?;
    sync_dir(log).map_err(|e| fail(e, "sync the directory of", log, false))?;
    run.say(format!("rotated {} -> {} (copytruncate)", log.display(), target.display()));
    let now = run.unix_now();
    let entry = run.state.log(key);
    entry.pending = None;
    entry.last_rotation = Some(now);
    run.state.save()
}

/// Finishes or undoes an interrupted rotation and removes leftovers of ours.
fn recover(run: &mut Run, log: &Path, key: &str, policy: &Policy) -> Result<(), Failure> {
    match run.state.log(key).pending.clone() {
        Some(Pending::Reopen { rotated, id }) => {
            if file_id(&rotated) == Some(id) {
                run.say(format!(
                    "finishing the rotation of {} -> {}",
                    log.display(),
                    rotated.display()
                ));
                after_rename(run, log, id, policy)?;
                let now = run.unix_now();
                run.state.log(key).last_rotation = Some(now);
            }
            // Otherwise the rename never happened: the log is still where it was.
            run.state.log(key).pending = None;
            run.state.save()?;
        }
        Some(Pending::CopyTruncate { source, copied }) => {
            let temp = names::copy_temp(log);
            if temp.exists() {
                if truncated(log, source, copied, &temp)? {
                    finish_copy(run, log, key, policy, &temp)?;
                } else {
                    std::fs::remove_file(&temp).map_err(|e| fail(e, "remove", &temp, false))?;
                    run.say(format!("undid the interrupted copy of {}", log.display()));
                }
            }
            run.state.log(key).pending = None;
            run.state.save()?;
        }
        None => {}
    }
    for temp in names::temps(log).map_err(|e| fail(e, "list the directory of", log, true))? {
        std::fs::remove_file(&temp).map_err(|e| fail(e, "remove", &temp, false))?;
        run.say(format!("removed leftover {}", temp.display()));
    }
    crate::maintain::remove_compressed_twins(run, log, key, policy)
}

fn file_id(path: &Path) -> Option<FileId> {
    std::fs::symlink_metadata(path).ok().map(|m| FileId::of(&m))
}

/// Whether the log was truncated after `copied` bytes were copied to `temp`: it is gone or
/// replaced, shorter, or no longer starts with the copied bytes.
fn truncated(log: &Path, source: FileId, copied: u64, temp: &Path) -> Result<bool, Failure> {
    let Ok(meta) = std::fs::symlink_metadata(log) else { return Ok(true) };
    if FileId::of(&meta) != source || meta.len() < copied {
        return Ok(true);
    }
    let open = |p: &Path| File::open(p).map_err(|e| fail(e, "read", p, true));
    let (mut a, mut b) = (open(log)?.take(copied), open(temp)?.take(copied));
    let (mut x, mut y) = (vec![0; 1 << 16], vec![0; 1 << 16]);
    loop {
        let n = read_full(&mut a, &mut x).map_err(|e| fail(e, "read", log, true))?;
        let m = read_full(&mut b, &mut y).map_err(|e| fail(e, "read", temp, true))?;
        if n != m || x[..n] != y[..m] {
            return Ok(true);
        }
        if n == 0 {
            return Ok(false);
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

//! Who writes a log: the PID to signal, and which processes still have a file open.
//!
//! Guarantees: a PID is signalled only if it is provably the PID file's owner — the file's
//! `flock` is held (llmspell's PID files, ARCHITECTURE §2), or, for daemons that do not lock
//! their PID files, the process started before the PID file was last written (a reused PID
//! belongs to a younger process). Open files are found through `/proc/PID/fd`, so "nobody has
//! it open" covers every process this user can see, not only the one signalled; that is what
//! makes compressing or deleting a rotation safe.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use llmspell_common::pidfile::{self, Liveness};
use nix::unistd::Pid;

/// A file's identity: rename keeps it, a copy or a compressed file gets a new one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> FileId {
        FileId { dev: meta.dev(), ino: meta.ino() }
    }
}

/// One open file descriptor of another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFd {
    pub pid: i32,
    pub fd: u32,
}

/// Every file other processes have open, by identity. Processes we may not inspect are skipped.
pub fn open_files() -> HashMap<FileId, Vec<OpenFd>> {
    let mut found: HashMap<FileId, Vec<OpenFd>> = HashMap::new();
    let me = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else { return found };
    for entry in procs.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        for (fd, id) in fds_of(pid) {
            found.entry(id).or_default().push(OpenFd { pid, fd });
        }
    }
    found
}

/// The files process `pid` has open (empty if it is gone or not ours to inspect).
fn fds_of(pid: i32) -> Vec<(u32, FileId)> {
    let dir = format!("/proc/{pid}/fd");
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            // metadata follows the magic link to the open file, even if it was renamed.
            let meta = std::fs::metadata(e.path()).ok()?;
            meta.is_file().then(|| (fd, FileId::of(&meta)))
        })
        .collect()
}

/// Whether process `pid` has the file `id` open.
pub fn holds(pid: i32, id: FileId) -> bool {
    fds_of(pid).iter().any(|(_, held)| *held == id)
}

/// The open flags of a descriptor (from /proc/PID/fdinfo), if readable.
pub fn fd_flags(open: OpenFd) -> Option<i32> {
    let info = std::fs::read_to_string(format!("/proc/{}/fdinfo/{}", open.pid, open.fd)).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
    i32::from_str_radix(flags.trim(), 8).ok()
}

/// A descriptor that writes to the file at its own offset rather than at the end: after a
/// truncation it would leave a hole of NULs where the old data was.
pub fn writes_without_append(open: OpenFd) -> bool {
    use nix::fcntl::OFlag;
    let Some(flags) = fd_flags(open) else { return false };
    let flags = OFlag::from_bits_truncate(flags);
    let writes = flags.intersects(OFlag::O_WRONLY | OFlag::O_RDWR);
    writes && !flags.contains(OFlag::O_APPEND)
}

/// The PID to signal according to `pid_file`, or why there is none (no writer running).
pub fn writer_pid(pid_file: &Path) -> Result<Pid, String> {
    let shown = pid_file.display();
    match pidfile::probe(pid_file) {
        Err(e) => Err(format!("cannot read PID file {shown}: {e}")),
        Ok(Liveness::Missing) => Err(format!("PID file {shown} does not exist")),
        Ok(Liveness::Running(Some(pid))) => Ok(Pid::from_raw(pid as i32)),
        Ok(Liveness::Running(None)) => Err(format!("PID file {shown} is locked but holds no PID")),
        Ok(Liveness::Stale) => {
            let text = std::fs::read_to_string(pid_file).unwrap_or_default();
            let pid: i32 = text
                .trim()
                .parse()
                .map_err(|_| format!("PID file {shown} holds no PID: {:?}", text.trim()))?;
            let written = std::fs::metadata(pid_file).and_then(|m| m.modified());
            match (start_time(pid), written) {
                (Some(started), Ok(written)) if started <= written + Duration::from_secs(1) => {
                    Ok(Pid::from_raw(pid))
                }
                (Some(_), Ok(_)) => Err(format!(
                    "PID file {shown} is stale: process {pid} started after it was written"
                )),
                _ => Err(format!("PID file {shown} is stale: process {pid} is not running")),
            }
        }
    }
}

/// When process `pid` started (Linux: /proc/PID/stat field 22, in clock ticks after boot).
fn start_time(pid: i32) -> Option<SystemTime> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after.split_whitespace().nth(19)?.parse().ok()?;
    let boot: u64 = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    let hz = u64::try_from(hz).ok().filter(|&h| h > 0)?;
    let since_boot = Duration::from_millis(ticks.saturating_mul(1000) / hz);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(boot) + since_boot)
}

/// Waits until `pid` no longer has `id` open (it reopened its log) or has exited; false if it
/// still had it open when `timeout` ran out.
pub fn wait_until_released(pid: i32, id: FileId, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !holds(pid, id) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn our_own_process_starts_before_now_and_children_hold_files() {
        let me = std::process::id() as i32;
        let started = start_time(me).unwrap();
        assert!(started <= SystemTime::now() + Duration::from_secs(1));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held");
        std::fs::File::create(&path).unwrap().write_all(b"x").unwrap();
        let id = FileId::of(&std::fs::metadata(&path).unwrap());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::fs::File::open(&path).unwrap())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(holds(pid, id));
        assert!(open_files().get(&id).is_some_and(|fds| fds.iter().any(|o| o.pid == pid)));
        assert!(!writes_without_append(OpenFd { pid, fd: 0 }), "stdin is read-only");
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(wait_until_released(pid, id, Duration::from_secs(5)));
    }

    #[test]
    fn unlocked_pid_files_are_trusted_only_for_older_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.pid");
        // Our process started before this file was written: a plausible daemon.
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        assert_eq!(writer_pid(&path), Ok(Pid::from_raw(std::process::id() as i32)));
        // A file written long before the process started names a reused PID.
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(old).unwrap();
        assert!(writer_pid(&path).unwrap_err().contains("started after"));
        std::fs::write(&path, "nonsense").unwrap();
        assert!(writer_pid(&path).unwrap_err().contains("holds no PID"));
        assert!(writer_pid(&dir.path().join("none.pid")).unwrap_err().contains("does not exist"));
    }
}

//! The few file operations rotation is made of, each atomic on its own.
//!
//! Guarantees: a rename never replaces an existing file (`renameat2(RENAME_NOREPLACE)` where the
//! kernel and file system have it, otherwise a check just before, which is enough because only
//! one instance runs at a time and writers never create rotation names); a new log gets exactly
//! the asked mode whatever the umask; I/O errors become [`Failure`]s naming the path.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use llmspell_common::exit::for_io_error;

use crate::Failure;

/// `from` → `to`, failing with `AlreadyExists` rather than replacing `to`.
pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use nix::errno::Errno;
        use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
        match renameat2(AT_FDCWD, from, AT_FDCWD, to, RenameFlags::RENAME_NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL | Errno::ENOSYS) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if to.symlink_metadata().is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists", to.display()),
        ));
    }
    std::fs::rename(from, to)
}

/// Creates an empty `log` with `mode`; one that already exists (its writer was quicker) is left
/// alone.
pub fn create_log(log: &Path, mode: u32) -> std::io::Result<()> {
    match OpenOptions::new().write(true).create_new(true).mode(mode).open(log) {
        Ok(file) => file.set_permissions(std::fs::Permissions::from_mode(mode)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// A failure of `what` on `path`, with the exit code for reading or writing.
pub fn fail(e: std::io::Error, what: &str, path: &Path, reading: bool) -> Failure {
    Failure::new(for_io_error(&e, reading), format!("cannot {what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let err = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "b");
        std::fs::remove_file(&b).unwrap();
        rename_noreplace(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "a");
    }

    #[test]
    fn created_logs_get_the_mode_and_existing_ones_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("l");
        create_log(&log, 0o604).unwrap();
        let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o604);
        std::fs::write(&log, "kept").unwrap();
        create_log(&log, 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "kept");
    }
}

//! gzip of one rotation into a temporary file beside it.
//!
//! Guarantees: the result is complete and fsynced before anyone can see it under its final
//! name (the caller renames [`Gzipped::temp`] to `X.gz` only after recording it in the state,
//! then removes `X`), it keeps the original's permissions and modification time (so retention
//! by age still sees when the lines were written), and a failure removes the temporary file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::names;
use crate::writers::FileId;

/// A finished, fsynced gzip file not yet under its final name.
#[derive(Debug)]
pub struct Gzipped {
    pub temp: PathBuf,
    pub id: FileId,
    pub size: u64,
}

/// Compresses `src` into the temporary file of `names::gz(src)`, replacing a leftover one.
pub fn gzip(src: &Path, level: u32) -> std::io::Result<Gzipped> {
    let temp = names::temp_for(&names::gz(src));
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let result = write(src, &temp, level);
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn write(src: &Path, temp: &Path, level: u32) -> std::io::Result<Gzipped> {
    let mut input = File::open(src)?;
    let meta = input.metadata()?;
    let mode = meta.permissions().mode() & 0o7777;
    let out = OpenOptions::new().write(true).create_new(true).mode(mode).open(temp)?;
    // The umask may have narrowed the mode given to open.
    out.set_permissions(std::fs::Permissions::from_mode(mode))?;
    let mut encoder =
        GzEncoder::new(BufWriter::with_capacity(1 << 18, out), Compression::new(level));
    let mut buffer = vec![0; 1 << 18];
    loop {
        let n = input.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        encoder.write_all(&buffer[..n])?;
    }
    let out = encoder.finish()?.into_inner().map_err(|e| e.into_error())?;
    out.set_modified(meta.modified()?)?;
    out.sync_all()?;
    let written = out.metadata()?;
    Ok(Gzipped { temp: temp.to_owned(), id: FileId::of(&written), size: written.len() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::MultiGzDecoder;

    #[test]
    fn round_trips_and_keeps_mode_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("a.log.1");
        let text: String = (0..10_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&src, &text).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
        let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        File::options().write(true).open(&src).unwrap().set_modified(when).unwrap();
        let done = gzip(&src, 6).unwrap();
        let meta = std::fs::metadata(&done.temp).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.modified().unwrap(), when);
        assert!(done.size < text.len() as u64 / 3);
        let mut back = String::new();
        MultiGzDecoder::new(File::open(&done.temp).unwrap()).read_to_string(&mut back).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn a_failure_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("gone.1");
        assert!(gzip(&src, 6).is_err());
        assert!(!names::temp_for(&names::gz(&src)).exists());
    }
}

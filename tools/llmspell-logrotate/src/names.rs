//! Names of rotations and temporary files, and listing a log's rotations newest first.
//!
//! Numbered: `app.log.1` (newest), `app.log.2.gz` …; each rotation shifts the older ones up by
//! one. Dated (`--dateext`): `app.log-20260501-120000-123456[.gz]`, UTC to the microsecond with
//! fixed widths, so sorting the names sorts them by time, `.gz` or not; nothing is ever renamed
//! twice. Temporary files are `.NAME.logrotate-tmp` beside their target: hidden, and recognisable
//! as this tool's own so an interrupted run's leftovers can be cleaned up.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

/// The ending of every temporary file this tool creates.
pub const TEMP_SUFFIX: &str = ".logrotate-tmp";
const DATE_FORMAT: &str = "%Y%m%d-%H%M%S-%6f";
const DATE_LEN: usize = 22;

/// One existing rotation of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub path: PathBuf,
    pub compressed: bool,
    /// Numbered: the slot (1 is newest). Dated: 0.
    pub slot: u64,
}

/// The file name of `path` as text (logs this tool handles have UTF-8 names).
pub fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

/// `app.log.K`.
pub fn numbered(log: &Path, slot: u64) -> PathBuf {
    log.with_file_name(format!("{}.{slot}", file_name(log)))
}

/// `app.log-YYYYMMDD-HHMMSS-UUUUUU`.
pub fn dated(log: &Path, time: DateTime<Utc>) -> PathBuf {
    log.with_file_name(format!("{}-{}", file_name(log), time.format(DATE_FORMAT)))
}

/// `X.gz` for `X`.
pub fn gz(path: &Path) -> PathBuf {
    path.with_file_name(format!("{}.gz", file_name(path)))
}

/// The temporary file that becomes `target` once complete.
pub fn temp_for(target: &Path) -> PathBuf {
    target.with_file_name(format!(".{}{TEMP_SUFFIX}", file_name(target)))
}

/// The copy --copytruncate makes before it knows the copy's final name.
pub fn copy_temp(log: &Path) -> PathBuf {
    temp_for(&log.with_file_name(format!("{}.copy", file_name(log))))
}

/// What a rotation name of `log` (`name`, a file name in the log's directory) is, if it is one.
pub fn parse_rotation(log: &str, name: &str) -> Option<(bool, u64)> {
    let (stem, compressed) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    let rest = stem.strip_prefix(log)?;
    if let Some(digits) = rest.strip_prefix('.') {
        let ok = !digits.is_empty()
            && !digits.starts_with('0')
            && digits.len() <= 9
            && digits.bytes().all(|b| b.is_ascii_digit());
        return ok.then(|| (compressed, digits.parse().unwrap_or(0)));
    }
    let date = rest.strip_prefix('-')?;
    is_date(date).then_some((compressed, 0))
}

fn is_date(text: &str) -> bool {
    text.len() == DATE_LEN
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 | 15 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// Whether `name` may be a live log: not a rotation of some log, not compressed, not ours.
pub fn is_log_name(name: &str) -> bool {
    if name.ends_with(".gz") || name.ends_with(TEMP_SUFFIX) {
        return false;
    }
    let numbered = name
        .rsplit_once('.')
        .is_some_and(|(base, _)| !base.is_empty() && parse_rotation(base, name).is_some());
    let dated = name.len() > DATE_LEN + 1 && {
        let (base, date) = name.split_at(name.len() - DATE_LEN);
        base.ends_with('-') && is_date(date)
    };
    !numbered && !dated
}

/// Whether `name` is a temporary file of ours that belongs to `log`.
pub fn is_temp_of(log: &str, name: &str) -> bool {
    let Some(middle) = name.strip_prefix('.').and_then(|n| n.strip_suffix(TEMP_SUFFIX)) else {
        return false;
    };
    middle == format!("{log}.copy")
        || middle.strip_suffix(".gz").is_some_and(|r| parse_rotation(log, r).is_some())
}

/// The rotations of `log` in its directory under the given scheme, newest first.
pub fn list(log: &Path, dated: bool) -> std::io::Result<Vec<Rotation>> {
    let base = file_name(log);
    let dir = log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
        let Some((compressed, slot)) = parse_rotation(base, &name) else { continue };
        if (slot == 0) == dated && entry.file_type()?.is_file() {
            found.push(Rotation { path: log.with_file_name(&name), compressed, slot });
        }
    }
    if dated {
        // Fixed-width UTC stamps: the name order is the time order.
        found.sort_by(|a, b| date_part(&b.path).cmp(date_part(&a.path)));
    } else {
        found.sort_by_key(|r| (r.slot, r.compressed));
    }
    Ok(found)
}

fn date_part(path: &Path) -> &str {
    let name = file_name(path);
    let name = name.strip_suffix(".gz").unwrap_or(name);
    &name[name.len().saturating_sub(DATE_LEN)..]
}

/// Temporary files of ours belonging to `log`.
pub fn temps(log: &Path) -> std::io::Result<Vec<PathBuf>> {
    let base = file_name(log);
    let dir = log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(name) = entry.file_name().to_str()
            && is_temp_of(base, name)
        {
            found.push(log.with_file_name(name));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn rotation_names_are_recognised() {
        assert_eq!(parse_rotation("a.log", "a.log.1"), Some((false, 1)));
        assert_eq!(parse_rotation("a.log", "a.log.12.gz"), Some((true, 12)));
        assert_eq!(parse_rotation("a.log", "a.log.01"), None);
        assert_eq!(parse_rotation("a.log", "a.log.x"), None);
        assert_eq!(parse_rotation("a.log", "a.log"), None);
        assert_eq!(parse_rotation("a.log", "a.log-20260101-120000-000001.gz"), Some((true, 0)));
        assert_eq!(parse_rotation("a.log", "a.log-2026"), None);
        assert_eq!(parse_rotation("a", "ab.1"), None);
    }

    #[test]
    fn live_log_names_exclude_rotations_and_temps() {
        assert!(is_log_name("kernel-work.log"));
        assert!(is_log_name("app"));
        assert!(!is_log_name("kernel-work.log.3"));
        assert!(!is_log_name("app.log.gz"));
        assert!(!is_log_name("app.log-20260101-120000-000001"));
        assert!(!is_log_name(".app.log.1.gz.logrotate-tmp"));
    }

    #[test]
    fn temps_belong_to_exactly_their_log() {
        assert!(is_temp_of("a.log", ".a.log.1.gz.logrotate-tmp"));
        assert!(is_temp_of("a.log", ".a.log.copy.logrotate-tmp"));
        assert!(!is_temp_of("a.log", ".a.log2.1.gz.logrotate-tmp"));
        assert!(!is_temp_of("a.log", "a.log.1.gz.logrotate-tmp"));
    }

    #[test]
    fn dated_names_sort_by_time_compressed_or_not() {
        let log = Path::new("/x/app.log");
        let t1 = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let t2 = t1 + chrono::Duration::microseconds(1);
        let a = gz(&dated(log, t1));
        let b = dated(log, t2);
        assert_eq!(file_name(&a), "app.log-20260102-030405-000000.gz");
        assert!(file_name(&a) < file_name(&b));
    }

    #[test]
    fn listing_is_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        for name in ["a.log.10.gz", "a.log.2", "a.log.1", "a.log-20260101-000000-000000", "b.1"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let slots: Vec<u64> = list(&log, false).unwrap().iter().map(|r| r.slot).collect();
        assert_eq!(slots, [1, 2, 10]);
        assert_eq!(list(&log, true).unwrap().len(), 1);
    }
}

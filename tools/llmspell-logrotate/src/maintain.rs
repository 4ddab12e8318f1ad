//! After the switch: compressing rotations and deleting old ones.
//!
//! Guarantees: only rotations this tool made (their identity is in the state) are compressed
//! or deleted; others are left as they are, with a warning when a limit would have removed
//! them. Nothing that any process still has open is compressed or deleted (so a writer that
//! has not reopened yet loses no line), and with --delay-compress the newest rotation is left
//! as it is. A compressed file replaces its original only once complete and fsynced.

use std::path::Path;
use std::time::Duration;

use crate::compress;
use crate::fsops::{self, fail};
use crate::names::{self, Rotation};
use crate::options::Policy;
use crate::rotate::Run;
use crate::state::sync_dir;
use crate::writers::{self, FileId};
use crate::{Failure, failpoint};

fn rotations(log: &Path, policy: &Policy) -> Result<Vec<Rotation>, Failure> {
    names::list(log, policy.dateext).map_err(|e| fail(e, "list rotations of", log, true))
}

fn id_of(path: &Path) -> Option<(FileId, std::fs::Metadata)> {
    std::fs::symlink_metadata(path).ok().map(|m| (FileId::of(&m), m))
}

/// gzips every uncompressed rotation of ours that nobody has open (but the newest with
/// --delay-compress).
pub fn compress(run: &mut Run, log: &Path, key: &str, policy: &Policy) -> Result<(), Failure> {
    if !policy.compress {
        return Ok(());
    }
    let list = rotations(log, policy)?;
    let open = writers::open_files();
    for (i, rotation) in list.iter().enumerate() {
        if rotation.compressed || (policy.delay_compress && i == 0) {
            continue;
        }
        let path = &rotation.path;
        let Some((id, _)) = id_of(path) else { continue };
        if !run.state.log(key).owned.contains(&id) {
            continue;
        }
        if let Some(fds) = open.get(&id) {
            run.say(format!(
                "not compressing {}: process {} has it open",
                path.display(),
                fds[0].pid
            ));
            continue;
        }
        let target = names::gz(path);
        if run.dry_run {
            run.say(format!("would compress {} -> {}", path.display(), target.display()));
            continue;
        }
        let done = compress::gzip(path, policy.compress_level)
            .map_err(|e| fail(e, "compress", path, true))?;
        // Ours before it has its name: a crash after the rename leaves a file we may delete.
        run.state.log(key).owned.insert(done.id);
        run.state.save()?;
        fsops::rename_noreplace(&done.temp, &target)
            .map_err(|e| fail(e, "rename", &done.temp, false))?;
        sync_dir(&target).map_err(|e| fail(e, "sync the directory of", &target, false))?;
        failpoint("compressed");
        std::fs::remove_file(path).map_err(|e| fail(e, "remove", path, false))?;
        run.say(format!(
            "compressed {} -> {} ({} bytes)",
            path.display(),
            target.display(),
            done.size
        ));
    }
    Ok(())
}

/// After a crash between renaming `X.gz` into place and removing `X`, both exist and hold the
/// same lines: keep the compressed one.
pub fn remove_compressed_twins(
    run: &mut Run,
    log: &Path,
    key: &str,
    policy: &Policy,
) -> Result<(), Failure> {
    for rotation in rotations(log, policy)?.iter().filter(|r| !r.compressed) {
        let twin = names::gz(&rotation.path);
        let (Some((plain, _)), Some((packed, _))) = (id_of(&rotation.path), id_of(&twin)) else {
            continue;
        };
        let owned = &run.state.log(key).owned;
        if owned.contains(&plain) && owned.contains(&packed) {
            std::fs::remove_file(&rotation.path)
                .map_err(|e| fail(e, "remove", &rotation.path, false))?;
            run.say(format!(
                "removed {}: {} holds its lines",
                rotation.path.display(),
                twin.display()
            ));
        }
    }
    Ok(())
}

/// Deletes rotations beyond --keep, older than --keep-age, or beyond --max-total (newest kept
/// first).
pub fn retain(run: &mut Run, log: &Path, key: &str, policy: &Policy) -> Result<(), Failure> {
    if policy.keep.is_none() && policy.keep_age.is_none() && policy.max_total.is_none() {
        return Ok(());
    }
    let list = rotations(log, policy)?;
    let open = writers::open_files();
    let mut total = 0u64;
    let mut deleted = false;
    for (i, rotation) in list.iter().enumerate() {
        let path = &rotation.path;
        let Some((id, meta)) = id_of(path) else { continue };
        total += meta.len();
        let age = meta
            .modified()
            .ok()
            .and_then(|m| run.now.duration_since(m).ok())
            .unwrap_or(Duration::ZERO);
        let reason = match (policy.keep, policy.keep_age, policy.max_total) {
            (Some(keep), _, _) if i >= keep => format!("keep {keep}"),
            (_, Some(limit), _) if age > limit => {
                format!("keep-age {}", humantime::format_duration(limit))
            }
            (_, _, Some(max)) if total > max => format!("max-total {max} bytes"),
            _ => continue,
        };
        if !run.state.log(key).owned.contains(&id) {
            run.warn(format!(
                "{}: not deleted ({reason}): llmspell-logrotate did not create it",
                path.display()
            ));
            continue;
        }
        if let Some(fds) = open.get(&id) {
            run.say(format!("not deleting {}: process {} has it open", path.display(), fds[0].pid));
            continue;
        }
        if run.dry_run {
            run.say(format!("would delete {} ({reason})", path.display()));
            continue;
        }
        std::fs::remove_file(path).map_err(|e| fail(e, "remove", path, false))?;
        deleted = true;
        run.say(format!("deleted {} ({reason})", path.display()));
    }
    if deleted {
        sync_dir(log).map_err(|e| fail(e, "sync the directory of", log, false))?;
    }
    Ok(())
}

/// Drops from the state the identities of files that no longer exist as rotations, so a reused
/// inode number can never make a stranger's file look like ours.
pub fn forget_gone(run: &mut Run, log: &Path, key: &str, policy: &Policy) -> Result<(), Failure> {
    let mut present: Vec<FileId> =
        rotations(log, policy)?.iter().filter_map(|r| id_of(&r.path)).map(|(id, _)| id).collect();
    // A rotation under the other naming scheme stays ours too.
    let other = Policy { dateext: !policy.dateext, ..policy.clone() };
    present.extend(rotations(log, &other)?.iter().filter_map(|r| id_of(&r.path)).map(|(id, _)| id));
    let entry = run.state.log(key);
    if entry.pending.is_none() {
        entry.owned.retain(|id| present.contains(id));
    }
    Ok(())
}

//! archive_handler: create, list and extract zip, tar.gz and tar archives.
//!
//! Extraction plans every entry before writing anything: names with `..`, absolute names,
//! symlinks whose target leads out of the destination, entries that pass through a symlink
//! entry, and entries whose real location (through symlinks already on disk) is outside the
//! destination are refused with a permission error and nothing is written. Sizes and entry
//! counts are capped; whatever a failed extraction wrote is removed again.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{
    Checked, copy_checked, example_path, or_timeout, recheck, refuse_existing, regular_file,
    requires, shown, write_replacing,
};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError, io_error};

/// The most bytes create reads or extract writes.
const MAX_SIZE: u64 = 1 << 30;
/// The most entries an archive may have for create and extract.
const MAX_ENTRIES: u64 = 1_000_000;

pub(super) fn tool() -> ToolDef {
    let dir = "llmspell-example-archive_handler";
    ToolDef {
        name: "archive_handler",
        category: "files",
        description: "Creates zip, tar.gz and tar archives from files, directories and inline \
                      text, lists their entries with sizes, and extracts them safely (entries \
                      escaping the destination are refused, sizes and entry counts are capped).",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["create", "list", "extract"],
                    "description": "create: write the archive at path; list: its entries; \
                                    extract: unpack it into destination"
                },
                "path": {"type": "string", "description": "The archive file"},
                "format": {
                    "type": "string",
                    "enum": ["zip", "tar.gz", "tar"],
                    "description": "Archive format (default: from the file name — .zip, \
                                    .tar.gz / .tgz, .tar — or, for list and extract, from \
                                    the content)"
                },
                "sources": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "create: files and directories to add, each under its own \
                                    name (directories recursively; symlinks are skipped)"
                },
                "files": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "description": "Path in the archive"},
                            "text": {"type": "string", "description": "The file's content"}
                        },
                        "required": ["name", "text"],
                        "additionalProperties": false
                    },
                    "description": "create: inline text files to add"
                },
                "destination": {
                    "type": "string",
                    "description": "extract: the directory to unpack into (created if missing)"
                },
                "overwrite": {
                    "type": "boolean",
                    "description": "create: replace an existing archive; extract: replace \
                                    existing files (default false)"
                },
                "max_entries": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_ENTRIES,
                    "description": "list: show at most this many; create / extract: refuse \
                                    archives with more (default 10000)"
                },
                "max_size": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_SIZE,
                    "description": "create: most bytes to add; extract: most bytes to write \
                                    (default and limit 1 GiB)"
                }
            },
            "required": ["operation", "path"],
            "allOf": [requires(&["extract"], &["destination"])],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "create a zip from inline text files",
                json!({"operation": "create", "path": example_path(&format!("{dir}/notes.zip")),
                       "files": [{"name": "notes/a.txt", "text": "first\n"},
                                 {"name": "notes/b.txt", "text": "second\n"}],
                       "overwrite": true}),
                json!({"format": "zip", "files": 2, "bytes_in": 13}),
            ),
            Example::new(
                "create a tar.gz from inline text",
                json!({"operation": "create", "path": example_path(&format!("{dir}/t.tar.gz")),
                       "files": [{"name": "hello.txt", "text": "hello\n"}], "overwrite": true}),
                json!({"format": "tar.gz", "files": 1}),
            ),
            Example::fails(
                "an entry name with `..` is refused",
                json!({"operation": "create", "path": example_path(&format!("{dir}/bad.zip")),
                       "files": [{"name": "../escape.txt", "text": "x"}], "overwrite": true}),
                ErrorType::Permission,
            ),
            Example::fails(
                "listing an archive that does not exist",
                json!({"operation": "list",
                       "path": example_path(&format!("{dir}/no-such-archive.zip"))}),
                ErrorType::NotFound,
            ),
        ],
        run,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Zip,
    TarGz,
    Tar,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::TarGz => "tar.gz",
            Format::Tar => "tar",
        }
    }
}

/// The format from the parameter, the file name, or (when `sniff`) the first bytes.
fn format(p: &Params, path: &Path, sniff: bool) -> Result<Format, ToolError> {
    match p.opt_str("format")? {
        Some("zip") => return Ok(Format::Zip),
        Some("tar.gz") => return Ok(Format::TarGz),
        Some("tar") => return Ok(Format::Tar),
        _ => {}
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
    if name.ends_with(".zip") {
        return Ok(Format::Zip);
    }
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        return Ok(Format::TarGz);
    }
    if name.ends_with(".tar") {
        return Ok(Format::Tar);
    }
    if sniff {
        let mut head = [0u8; 262];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .map_err(|e| io_error(e, Some(path)))?;
        if head[..n].starts_with(b"PK") {
            return Ok(Format::Zip);
        }
        if head[..n].starts_with(&[0x1f, 0x8b]) {
            return Ok(Format::TarGz);
        }
        if n >= 262 && &head[257..262] == b"ustar" {
            return Ok(Format::Tar);
        }
    }
    Err(ToolError::validation(format!(
        "parameter \"format\": cannot tell the format of {}; give format zip, tar.gz or tar",
        path.display()
    )))
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    match p.str("operation")? {
        "create" => create(p, cx),
        "list" => list(p, cx),
        "extract" => extract(p, cx),
        other => Err(ToolError::validation(format!("unknown operation {other:?}"))),
    }
}

/// An entry name as a relative path, or why it would escape the destination.
fn safe_name(name: &str) -> Result<PathBuf, String> {
    if name.contains('\0') {
        return Err("contains a NUL byte".into());
    }
    let bytes = name.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if name.starts_with(['/', '\\']) || drive {
        return Err("is an absolute path".into());
    }
    let mut out = PathBuf::new();
    for part in name.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return Err("contains `..`".into()),
            part => out.push(part),
        }
    }
    if out.as_os_str().is_empty() {
        return Err("is empty".into());
    }
    Ok(out)
}

fn escape(name: &str, why: impl std::fmt::Display) -> ToolError {
    ToolError::permission(format!("archive entry {name:?} {why}; nothing was extracted"))
}

fn bad_archive(path: &Path, e: impl std::fmt::Display) -> ToolError {
    ToolError::execution(format!("{}: not a readable archive: {e}", path.display()))
}

fn zip_error(path: &Path, e: zip::result::ZipError) -> ToolError {
    match e {
        zip::result::ZipError::Io(e) => io_error(e, Some(path)),
        e => bad_archive(path, e),
    }
}

// ---------------------------------------------------------------------------------------------
// create

enum Content {
    Dir,
    File(PathBuf),
    Inline(String),
}

struct Source {
    name: String,
    content: Content,
    size: u64,
    mode: u32,
    mtime: SystemTime,
}

/// Everything create will add, in order, with the symlinks and other files it skips.
fn gather(
    p: &Params,
    cx: &Context,
    archive: &Path,
) -> Result<(Vec<Source>, Vec<String>), ToolError> {
    use std::os::unix::fs::PermissionsExt;
    let max_entries = p.u64_or("max_entries", 10_000)? as usize;
    let max_size = p.u64_or("max_size", MAX_SIZE)?;
    let (mut out, mut skipped, mut total) = (Vec::new(), Vec::new(), 0u64);
    let mut names = HashSet::new();
    let mut add = |s: Source, out: &mut Vec<Source>| -> Result<(), ToolError> {
        total += s.size;
        if total > max_size {
            return Err(ToolError::validation(format!(
                "parameter \"max_size\": the sources hold more than {max_size} bytes"
            )));
        }
        if out.len() >= max_entries {
            return Err(ToolError::validation(format!(
                "parameter \"max_entries\": the sources have more than {max_entries} entries"
            )));
        }
        out.push(s);
        Ok(())
    };
    for source in p.opt_strings("sources")?.unwrap_or_default() {
        let root = cx.path(source)?;
        fs::symlink_metadata(&root).map_err(|e| io_error(e, Some(&root)))?;
        let base = root.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            ToolError::validation(format!("parameter \"sources\": {source:?} has no UTF-8 name"))
        })?;
        if !names.insert(base.to_owned()) {
            return Err(ToolError::validation(format!(
                "parameter \"sources\": two sources are named {base:?}"
            )));
        }
        for entry in walkdir::WalkDir::new(&root).follow_links(false).sort_by_file_name() {
            cx.check()?;
            let entry = entry.map_err(|e| ToolError::execution(e.to_string()))?;
            if entry.path() == archive {
                continue;
            }
            let rel = entry.path().strip_prefix(&root).unwrap_or(Path::new(""));
            let mut name = base.to_owned();
            for part in rel.components() {
                let part = part.as_os_str().to_str().ok_or_else(|| {
                    ToolError::validation(format!("{} is not UTF-8", entry.path().display()))
                })?;
                name = format!("{name}/{part}");
            }
            let meta = entry.metadata().map_err(|e| ToolError::execution(e.to_string()))?;
            let (content, size) = if meta.is_dir() {
                (Content::Dir, 0)
            } else if meta.is_file() {
                (Content::File(entry.path().to_path_buf()), meta.len())
            } else {
                skipped.push(name);
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
            add(Source { name, content, size, mode, mtime }, &mut out)?;
        }
    }
    for item in p.opt_array("files")?.map(Vec::as_slice).unwrap_or_default() {
        let name = item["name"].as_str().unwrap_or_default();
        let text = item["text"].as_str().unwrap_or_default().to_owned();
        let rel = safe_name(name).map_err(|why| {
            ToolError::permission(format!("parameter \"files\": the name {name:?} {why}"))
        })?;
        let name = rel.to_string_lossy().into_owned();
        let source = Source {
            name,
            size: text.len() as u64,
            content: Content::Inline(text),
            mode: 0o644,
            mtime: SystemTime::now(),
        };
        add(source, &mut out)?;
    }
    Ok((out, skipped))
}

fn zip_time(t: SystemTime) -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let t = chrono::DateTime::<chrono::Local>::from(t);
    zip::DateTime::from_date_and_time(
        t.year().clamp(1980, 2107) as u16,
        t.month() as u8,
        t.day() as u8,
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
    )
    .unwrap_or_default()
}

fn write_zip(cx: &Context, file: &mut File, sources: &[Source]) -> Result<(), ToolError> {
    let failed = |e: zip::result::ZipError| ToolError::execution(format!("writing the zip: {e}"));
    let mut zip = zip::ZipWriter::new(file);
    for s in sources {
        cx.check()?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(s.mode)
            .last_modified_time(zip_time(s.mtime));
        match &s.content {
            Content::Dir => zip.add_directory(format!("{}/", s.name), options).map_err(failed)?,
            Content::File(path) => {
                zip.start_file(s.name.as_str(), options).map_err(failed)?;
                let from = File::open(path).map_err(|e| io_error(e, Some(path)))?;
                copy_checked(cx, from, &mut zip).map_err(|e| or_timeout(cx, e.into()))?;
            }
            Content::Inline(text) => {
                zip.start_file(s.name.as_str(), options).map_err(failed)?;
                zip.write_all(text.as_bytes()).map_err(ToolError::from)?;
            }
        }
    }
    zip.finish().map_err(failed)?;
    Ok(())
}

fn write_tar<W: Write>(cx: &Context, out: W, sources: &[Source]) -> Result<W, ToolError> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    for s in sources {
        cx.check()?;
        let mut header = tar::Header::new_gnu();
        header.set_mode(s.mode);
        header.set_mtime(s.mtime.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()));
        header.set_size(s.size);
        let result = match &s.content {
            Content::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &s.name, std::io::empty())
            }
            Content::File(path) => {
                let from = File::open(path).map_err(|e| io_error(e, Some(path)))?;
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, &s.name, Checked { inner: from, cx })
            }
            Content::Inline(text) => {
                header.set_entry_type(tar::EntryType::Regular);
                tar.append_data(&mut header, &s.name, text.as_bytes())
            }
        };
        result.map_err(|e| or_timeout(cx, ToolError::execution(format!("{}: {e}", s.name))))?;
    }
    tar.into_inner().map_err(|e| ToolError::execution(format!("writing the tar: {e}")))
}

fn create(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    let format = format(p, &path, false)?;
    refuse_existing(&path, p.bool_or("overwrite", false)?)?;
    if fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is a directory",
            path.display()
        )));
    }
    if !p.has("sources") && !p.has("files") {
        return Err(ToolError::validation(
            "create needs the parameter \"sources\" or \"files\" (or both)",
        ));
    }
    let (sources, skipped) = gather(p, cx, &path)?;
    let size = write_replacing(&path, |file| match format {
        Format::Zip => write_zip(cx, file, &sources),
        Format::Tar => write_tar(cx, &mut *file, &sources).map(drop),
        Format::TarGz => {
            let gz = flate2::write::GzEncoder::new(&mut *file, flate2::Compression::default());
            write_tar(cx, gz, &sources)?
                .finish()
                .map(drop)
                .map_err(|e| ToolError::execution(format!("writing the gzip stream: {e}")))
        }
    })?;
    let files = sources.iter().filter(|s| !matches!(s.content, Content::Dir)).count();
    Ok(json!({
        "path": shown(&path),
        "format": format.name(),
        "files": files,
        "dirs": sources.len() - files,
        "bytes_in": sources.iter().map(|s| s.size).sum::<u64>(),
        "size": size,
        "skipped": skipped,
    }))
}

// ---------------------------------------------------------------------------------------------
// reading entries (list and extract share this)

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Dir,
    File,
    Symlink(String),
    Hardlink(String),
    Other(&'static str),
}

#[derive(Debug, Clone)]
struct Entry {
    /// Position in the archive.
    index: usize,
    name: String,
    kind: Kind,
    size: u64,
    compressed: Option<u64>,
    mode: Option<u32>,
    mtime: Option<SystemTime>,
}

/// A tar reader that stops at the deadline (reading past data is also bounded by it).
fn open_tar<'a>(
    cx: &'a Context,
    path: &Path,
    format: Format,
) -> Result<tar::Archive<Box<dyn Read + 'a>>, ToolError> {
    let file = Checked { inner: File::open(path).map_err(|e| io_error(e, Some(path)))?, cx };
    let reader: Box<dyn Read + 'a> = match format {
        Format::TarGz => Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file))),
        _ => Box::new(std::io::BufReader::new(file)),
    };
    Ok(tar::Archive::new(reader))
}

fn tar_entry<R: Read>(index: usize, e: &tar::Entry<'_, R>) -> Result<Entry, String> {
    let h = e.header();
    let name = String::from_utf8(e.path_bytes().into_owned())
        .map_err(|_| "an entry name is not UTF-8".to_owned())?;
    let link = || {
        e.link_name_bytes()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .ok_or_else(|| format!("link entry {name:?} has no target"))
    };
    let kind = match h.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
        tar::EntryType::Directory => Kind::Dir,
        tar::EntryType::Symlink => Kind::Symlink(link()?),
        tar::EntryType::Link => Kind::Hardlink(link()?),
        tar::EntryType::Char => Kind::Other("char device"),
        tar::EntryType::Block => Kind::Other("block device"),
        tar::EntryType::Fifo => Kind::Other("fifo"),
        _ => Kind::Other("unsupported entry type"),
    };
    let size = if kind == Kind::File { e.size() } else { 0 };
    Ok(Entry {
        index,
        name,
        kind,
        size,
        compressed: None,
        mode: h.mode().ok(),
        mtime: h.mtime().ok().map(|s| UNIX_EPOCH + Duration::from_secs(s)),
    })
}

fn zip_entry<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    i: usize,
    path: &Path,
) -> Result<Entry, ToolError> {
    let (name, is_dir, is_symlink, size, compressed, mode, mtime, encrypted) = {
        let f = zip.by_index_raw(i).map_err(|e| zip_error(path, e))?;
        let name = f.name().map_err(|e| zip_error(path, e))?.into_owned();
        let mtime = f.last_modified().and_then(|d| {
            let date =
                chrono::NaiveDate::from_ymd_opt(d.year().into(), d.month().into(), d.day().into())?;
            let t = date.and_hms_opt(d.hour().into(), d.minute().into(), d.second().into())?;
            // Zip times are local times.
            Some(SystemTime::from(t.and_local_timezone(chrono::Local).earliest()?))
        });
        (
            name,
            f.is_dir(),
            f.is_symlink(),
            f.size(),
            f.compressed_size(),
            f.unix_mode(),
            mtime,
            f.encrypted(),
        )
    };
    if encrypted {
        return Err(ToolError::execution(format!(
            "{}: entry {name:?} is encrypted, which is not supported",
            path.display()
        )));
    }
    let kind = if is_symlink {
        let mut target = String::new();
        let f = zip.by_index(i).map_err(|e| zip_error(path, e))?;
        f.take(4096).read_to_string(&mut target).map_err(|e| bad_archive(path, e))?;
        Kind::Symlink(target)
    } else if is_dir {
        Kind::Dir
    } else {
        Kind::File
    };
    let size = if kind == Kind::File { size } else { 0 };
    Ok(Entry { index: i, name, kind, size, compressed: Some(compressed), mode, mtime })
}

type ZipReader<'a> = zip::ZipArchive<std::io::BufReader<Checked<'a, File>>>;

fn open_zip<'a>(cx: &'a Context, path: &Path) -> Result<ZipReader<'a>, ToolError> {
    let file = File::open(path).map_err(|e| io_error(e, Some(path)))?;
    zip::ZipArchive::new(std::io::BufReader::new(Checked { inner: file, cx }))
        .map_err(|e| or_timeout(cx, zip_error(path, e)))
}

/// Calls `each` with every entry in order until it returns false.
fn scan(
    cx: &Context,
    path: &Path,
    format: Format,
    mut each: impl FnMut(Entry) -> Result<bool, ToolError>,
) -> Result<(), ToolError> {
    match format {
        Format::Zip => {
            let mut zip = open_zip(cx, path)?;
            for i in 0..zip.len() {
                cx.check()?;
                if !each(zip_entry(&mut zip, i, path)?)? {
                    break;
                }
            }
        }
        Format::Tar | Format::TarGz => {
            let mut tar = open_tar(cx, path, format)?;
            let entries = tar.entries().map_err(|e| bad_archive(path, e))?;
            for (i, e) in entries.enumerate() {
                cx.check()?;
                let e = e.map_err(|e| or_timeout(cx, bad_archive(path, e)))?;
                let entry = tar_entry(i, &e).map_err(|why| bad_archive(path, why))?;
                if !each(entry)? {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn list(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    regular_file(&path, "path")?;
    let format = format(p, &path, true)?;
    let max = p.u64_or("max_entries", 10_000)? as usize;
    let (mut entries, mut total, mut truncated) = (Vec::new(), 0u64, false);
    scan(cx, &path, format, |e| {
        if entries.len() >= max {
            truncated = true;
            return Ok(false);
        }
        total += e.size;
        let (kind, target) = match &e.kind {
            Kind::Dir => ("dir", None),
            Kind::File => ("file", None),
            Kind::Symlink(t) => ("symlink", Some(t.clone())),
            Kind::Hardlink(t) => ("hardlink", Some(t.clone())),
            Kind::Other(what) => (*what, None),
        };
        let mut item = json!({"name": e.name, "type": kind, "size": e.size});
        if let Some(c) = e.compressed {
            item["compressed_size"] = json!(c);
        }
        if let Some(t) = target {
            item["target"] = json!(t);
        }
        if let Some(m) = e.mode {
            item["mode"] = json!(format!("{:04o}", m & 0o7777));
        }
        if let Some(t) = e.mtime {
            item["modified"] = json!(super::rfc3339(t));
        }
        entries.push(item);
        Ok(true)
    })?;
    Ok(json!({
        "path": shown(&path),
        "format": format.name(),
        "count": entries.len(),
        "entries": entries,
        "total_size": total,
        "truncated": truncated,
    }))
}

// ---------------------------------------------------------------------------------------------
// extract

/// The lexical target of a symlink entry, relative to the destination, or why it escapes.
fn link_target(link: &Path, target: &str, links: &HashSet<PathBuf>) -> Result<PathBuf, String> {
    if target.is_empty() {
        return Err("is a symlink with an empty target".into());
    }
    if target.starts_with(['/', '\\']) {
        return Err(format!("is a symlink to the absolute path {target:?}"));
    }
    let mut at: PathBuf = link.parent().map(Path::to_path_buf).unwrap_or_default();
    for part in target.split(['/', '\\']) {
        if part.is_empty() || part == "." {
            continue;
        }
        if !at.as_os_str().is_empty() && links.contains(&at) {
            return Err(format!("is a symlink whose target passes through the symlink {at:?}"));
        }
        if part == ".." {
            if !at.pop() {
                return Err(format!("is a symlink to {target:?}, outside the destination"));
            }
        } else {
            at.push(part);
        }
    }
    Ok(at)
}

struct Planned {
    entry: Entry,
    rel: PathBuf,
}

/// Checks every entry; nothing is written. The plan, its skipped entries.
fn plan(
    p: &Params,
    cx: &Context,
    path: &Path,
    format: Format,
    dest: &Path,
) -> Result<(Vec<Planned>, Vec<String>), ToolError> {
    let max_entries = p.u64_or("max_entries", 10_000)? as usize;
    let max_size = p.u64_or("max_size", MAX_SIZE)?;
    let overwrite = p.bool_or("overwrite", false)?;
    let (mut planned, mut skipped, mut total) = (Vec::new(), Vec::new(), 0u64);
    let mut files = HashSet::new();
    scan(cx, path, format, |entry| {
        if planned.len() + skipped.len() >= max_entries {
            return Err(ToolError::validation(format!(
                "parameter \"max_entries\": the archive has more than {max_entries} entries"
            )));
        }
        total += entry.size;
        if total > max_size {
            return Err(ToolError::validation(format!(
                "parameter \"max_size\": the archive would extract more than {max_size} bytes"
            )));
        }
        let rel = safe_name(&entry.name).map_err(|why| escape(&entry.name, why))?;
        if let Kind::Other(what) = entry.kind {
            skipped.push(format!("{} ({what})", entry.name));
            return Ok(true);
        }
        if let Kind::Hardlink(target) = &entry.kind {
            let to = safe_name(target)
                .map_err(|why| escape(&entry.name, format!("links to {target:?}, which {why}")))?;
            if !files.contains(&to) {
                return Err(ToolError::execution(format!(
                    "archive entry {:?} is a hard link to {target:?}, which is not an earlier \
                     file in the archive",
                    entry.name
                )));
            }
        }
        if entry.kind == Kind::File {
            files.insert(rel.clone());
        }
        planned.push(Planned { entry, rel });
        Ok(true)
    })?;
    let links: HashSet<PathBuf> = planned
        .iter()
        .filter(|p| matches!(p.entry.kind, Kind::Symlink(_)))
        .map(|p| p.rel.clone())
        .collect();
    for item in &planned {
        cx.check()?;
        let name = &item.entry.name;
        if let Some(link) = item.rel.ancestors().skip(1).find(|a| links.contains(*a)) {
            return Err(escape(name, format!("passes through the symlink entry {link:?}")));
        }
        if let Kind::Symlink(target) = &item.entry.kind {
            let to = link_target(&item.rel, target, &links).map_err(|why| escape(name, why))?;
            // Also through what is already on disk (a symlink in the destination).
            let real = recheck(cx, &dest.join(&to)).map_err(|e| escape(name, e.message))?;
            if !real.starts_with(dest) {
                return Err(escape(name, format!("is a symlink to {}", real.display())));
            }
        }
        let real = recheck(cx, &dest.join(&item.rel)).map_err(|e| escape(name, e.message))?;
        if !real.starts_with(dest) {
            return Err(escape(
                name,
                format!("resolves to {}, outside the destination", real.display()),
            ));
        }
        if !overwrite && item.entry.kind != Kind::Dir && fs::symlink_metadata(&real).is_ok() {
            return Err(ToolError::execution(format!(
                "{} already exists; set overwrite: true to replace it (nothing was extracted)",
                real.display()
            )));
        }
    }
    Ok((planned, skipped))
}

/// What extraction made, so a failure can take it back.
#[derive(Default)]
struct Made {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Made {
    fn mkdirs(&mut self, dir: &Path) -> Result<(), ToolError> {
        let missing: Vec<&Path> =
            dir.ancestors().take_while(|a| fs::symlink_metadata(a).is_err()).collect();
        for d in missing.into_iter().rev() {
            fs::create_dir(d).map_err(|e| io_error(e, Some(d)))?;
            self.dirs.push(d.to_path_buf());
        }
        Ok(())
    }

    fn undo(&self) {
        for f in self.files.iter().rev() {
            let _ = fs::remove_file(f);
        }
        for d in self.dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

struct Extraction<'a> {
    cx: &'a Context,
    dest: &'a Path,
    budget: u64,
    made: Made,
    counts: HashMap<&'static str, u64>,
}

impl Extraction<'_> {
    /// The checked location of an entry inside the destination.
    fn place(&self, rel: &Path) -> Result<PathBuf, ToolError> {
        let real = recheck(self.cx, &self.dest.join(rel))?;
        if !real.starts_with(self.dest) {
            return Err(ToolError::permission(format!(
                "{} resolves outside the destination",
                rel.display()
            )));
        }
        Ok(real)
    }

    fn file(&mut self, item: &Planned, data: &mut dyn Read) -> Result<(), ToolError> {
        use std::os::unix::fs::PermissionsExt;
        let real = self.place(&item.rel)?;
        if let Some(parent) = real.parent() {
            self.made.mkdirs(parent)?;
        }
        let existed = fs::symlink_metadata(&real).is_ok();
        let mut out = File::create(&real).map_err(|e| io_error(e, Some(&real)))?;
        if !existed {
            self.made.files.push(real.clone());
        }
        let n = copy_checked(self.cx, data.take(self.budget + 1), &mut out).map_err(|e| {
            or_timeout(self.cx, ToolError::execution(format!("{}: {e}", item.entry.name)))
        })?;
        if n > self.budget {
            return Err(ToolError::validation(format!(
                "parameter \"max_size\": entry {:?} holds more data than the archive declared, \
                 past the limit",
                item.entry.name
            )));
        }
        self.budget -= n;
        if let Some(mode) = item.entry.mode.filter(|m| m & 0o777 != 0) {
            let _ = fs::set_permissions(&real, fs::Permissions::from_mode(mode & 0o777));
        }
        if let Some(t) = item.entry.mtime {
            let _ = out.set_modified(t);
        }
        *self.counts.entry("files").or_default() += 1;
        *self.counts.entry("bytes").or_default() += n;
        Ok(())
    }

    fn one(&mut self, item: &Planned, data: &mut dyn Read) -> Result<(), ToolError> {
        self.cx.check()?;
        match &item.entry.kind {
            Kind::Dir => {
                let real = self.place(&item.rel)?;
                self.made.mkdirs(&real)?;
                *self.counts.entry("dirs").or_default() += 1;
            }
            Kind::File => self.file(item, data)?,
            Kind::Hardlink(target) => {
                let from = self.place(&safe_name(target).map_err(ToolError::permission)?)?;
                let mut source = File::open(&from).map_err(|e| io_error(e, Some(&from)))?;
                self.file(item, &mut source)?;
            }
            Kind::Symlink(_) | Kind::Other(_) => {}
        }
        Ok(())
    }

    /// Symlinks come last, so no entry is written through one; each is checked once made.
    fn links(&mut self, plan: &[Planned]) -> Result<(), ToolError> {
        for item in plan {
            let Kind::Symlink(target) = &item.entry.kind else { continue };
            self.cx.check()?;
            let real = self.place(&item.rel)?;
            if let Some(parent) = real.parent() {
                self.made.mkdirs(parent)?;
            }
            if fs::symlink_metadata(&real).is_ok() {
                fs::remove_file(&real).map_err(|e| io_error(e, Some(&real)))?;
            }
            std::os::unix::fs::symlink(target, &real).map_err(|e| io_error(e, Some(&real)))?;
            self.made.files.push(real.clone());
            if let Ok(points_to) = fs::canonicalize(&real)
                && !points_to.starts_with(self.dest)
            {
                return Err(escape(&item.entry.name, "points outside the destination"));
            }
            *self.counts.entry("symlinks").or_default() += 1;
        }
        Ok(())
    }
}

fn extract(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    regular_file(&path, "path")?;
    let format = format(p, &path, true)?;
    let dest = cx.path(p.str("destination")?)?;
    if fs::metadata(&dest).is_ok_and(|m| !m.is_dir()) {
        return Err(ToolError::validation(format!(
            "parameter \"destination\": {} is not a directory",
            dest.display()
        )));
    }
    let (plan, skipped) = plan(p, cx, &path, format, &dest)?;
    let mut x = Extraction {
        cx,
        dest: &dest,
        budget: p.u64_or("max_size", MAX_SIZE)?,
        made: Made::default(),
        counts: HashMap::new(),
    };
    let result = (|| {
        x.made.mkdirs(&dest)?;
        match format {
            Format::Zip => {
                let mut zip = open_zip(cx, &path)?;
                for item in &plan {
                    let mut data = zip
                        .by_index(item.entry.index)
                        .map_err(|e| or_timeout(cx, zip_error(&path, e)))?;
                    x.one(item, &mut data)?;
                }
            }
            Format::Tar | Format::TarGz => {
                let mut tar = open_tar(cx, &path, format)?;
                let mut items = plan.iter().peekable();
                let entries = tar.entries().map_err(|e| bad_archive(&path, e))?;
                for (i, e) in entries.enumerate() {
                    let Some(item) = items.peek() else { break };
                    let mut e = e.map_err(|e| or_timeout(cx, bad_archive(&path, e)))?;
                    if i == item.entry.index {
                        x.one(item, &mut e)?;
                        items.next();
                    }
                }
            }
        }
        x.links(&plan)
    })();
    if let Err(e) = result {
        x.made.undo();
        return Err(e);
    }
    let count = |k: &str| x.counts.get(k).copied().unwrap_or(0);
    Ok(json!({
        "path": shown(&path),
        "destination": shown(&dest),
        "format": format.name(),
        "files": count("files"),
        "dirs": count("dirs"),
        "symlinks": count("symlinks"),
        "bytes": count("bytes"),
        "skipped": skipped,
    }))
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::path::Path;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::super::testing::{Fx, cancel_while_working, eventually, exists, size};
    use crate::ErrorType;

    const T: &str = "archive_handler";

    /// A zip with the given entries: (name, symlink target or None, data).
    fn zip_of(path: &Path, entries: &[(&str, Option<&str>, &[u8])]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, link, data) in entries {
            match link {
                Some(target) => zip.add_symlink(*name, *target, options).unwrap(),
                None => {
                    zip.start_file(*name, options).unwrap();
                    zip.write_all(data).unwrap();
                }
            }
        }
        zip.finish().unwrap();
    }

    /// A tar (gzipped when the name ends in .gz) with raw, unchecked names and link targets.
    fn tar_of(path: &Path, entries: &[(&str, tar::EntryType, &str, &[u8])]) {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, kind, link, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        let bytes = tar.into_inner().unwrap();
        if path.to_string_lossy().ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(
                std::fs::File::create(path).unwrap(),
                flate2::Compression::fast(),
            );
            gz.write_all(&bytes).unwrap();
            gz.finish().unwrap();
        } else {
            std::fs::write(path, bytes).unwrap();
        }
    }

    fn names(out: &Value) -> Vec<String> {
        let mut v: Vec<String> = out["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().trim_end_matches('/').to_owned())
            .collect();
        v.sort();
        v
    }

    fn sources(fx: &Fx) {
        std::fs::create_dir_all(fx.root.join("src/sub")).unwrap();
        std::fs::write(fx.root.join("src/a.txt"), "alpha\n").unwrap();
        // An old, even time, so the check below does not depend on zip's two-second steps.
        let old = std::time::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(fx.root.join("src/a.txt"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(fx.root.join("src/sub/b.txt"), "beta\n").unwrap();
        std::fs::write(fx.root.join("single.txt"), "single\n").unwrap();
        std::os::unix::fs::symlink(&fx.outside, fx.root.join("src/out")).unwrap();
    }

    #[test]
    fn create_list_and_extract_every_format() {
        let fx = Fx::new();
        sources(&fx);
        let mtime = 1_600_000_000i64;
        for (file, format) in
            [("a.zip", "zip"), ("a.tar.gz", "tar.gz"), ("a.tgz", "tar.gz"), ("a.tar", "tar")]
        {
            let out = fx.ok(
                T,
                json!({"operation": "create", "path": fx.p(file),
                "sources": [fx.p("src"), fx.p("single.txt")],
                "files": [{"name": "inline/note.md", "text": "# note\n"}]}),
            );
            assert_eq!(out["format"], format);
            assert_eq!(out["files"], 4, "{out}");
            assert_eq!(out["dirs"], 2);
            assert_eq!(out["bytes_in"], 6 + 5 + 7 + 7);
            assert_eq!(out["skipped"], json!(["src/out"]), "the symlink is not archived");
            let listed = fx.ok(T, json!({"operation": "list", "path": fx.p(file)}));
            assert_eq!(listed["format"], format);
            assert_eq!(
                names(&listed),
                ["inline/note.md", "single.txt", "src", "src/a.txt", "src/sub", "src/sub/b.txt"]
            );
            assert_eq!(listed["total_size"], 25);
            let a = listed["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == "src/a.txt")
                .unwrap()
                .clone();
            assert_eq!(a["type"], "file");
            assert_eq!(a["size"], 6);
            // Times survive (zip keeps them to two seconds).
            let listed_time = chrono::DateTime::parse_from_rfc3339(a["modified"].as_str().unwrap())
                .unwrap()
                .timestamp();
            assert!((listed_time - mtime).abs() <= 2, "{listed_time} vs {mtime}");
            let dest = format!("out-{format}-{file}");
            let out = fx.ok(
                T,
                json!({"operation": "extract", "path": fx.p(file),
                                      "destination": fx.p(&dest)}),
            );
            assert_eq!(out["files"], 4);
            assert_eq!(out["bytes"], 25);
            let d = fx.root.join(&dest);
            assert_eq!(std::fs::read_to_string(d.join("src/a.txt")).unwrap(), "alpha\n");
            let extracted = std::fs::metadata(d.join("src/a.txt")).unwrap().modified().unwrap();
            let extracted = chrono::DateTime::<chrono::Utc>::from(extracted).timestamp();
            assert!((extracted - mtime).abs() <= 2, "{extracted} vs {mtime}");
            assert_eq!(std::fs::read_to_string(d.join("src/sub/b.txt")).unwrap(), "beta\n");
            assert_eq!(std::fs::read_to_string(d.join("single.txt")).unwrap(), "single\n");
            assert_eq!(std::fs::read_to_string(d.join("inline/note.md")).unwrap(), "# note\n");
            assert!(!exists(&d.join("src/out")));
            // Extracting again needs overwrite.
            let e = fx.err(
                T,
                json!({"operation": "extract", "path": fx.p(file),
                                     "destination": fx.p(&dest)}),
                ErrorType::Execution,
            );
            assert!(e.message.contains("overwrite"), "{e}");
            fx.ok(
                T,
                json!({"operation": "extract", "path": fx.p(file),
                            "destination": fx.p(&dest), "overwrite": true}),
            );
        }
        // The format is sniffed when the name does not tell.
        std::fs::copy(fx.root.join("a.zip"), fx.root.join("zip.bin")).unwrap();
        std::fs::copy(fx.root.join("a.tgz"), fx.root.join("tgz.bin")).unwrap();
        std::fs::copy(fx.root.join("a.tar"), fx.root.join("tar.bin")).unwrap();
        for (file, format) in [("zip.bin", "zip"), ("tgz.bin", "tar.gz"), ("tar.bin", "tar")] {
            let out = fx.ok(T, json!({"operation": "list", "path": fx.p(file)}));
            assert_eq!(out["format"], format);
        }
        let out = fx.ok(T, json!({"operation": "list", "path": fx.p("a.zip"), "max_entries": 2}));
        assert_eq!(out["count"], 2);
        assert_eq!(out["truncated"], true);
    }

    #[test]
    fn create_failures() {
        let fx = Fx::new();
        sources(&fx);
        fx.ok(T, json!({"operation": "create", "path": fx.p("x.zip"), "sources": [fx.p("src")]}));
        let e = fx.err(
            T,
            json!({"operation": "create", "path": fx.p("x.zip"),
                                 "sources": [fx.p("src")]}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("overwrite"), "{e}");
        let e = fx.err(
            T,
            json!({"operation": "create", "path": fx.p("x.rar"),
                                 "sources": [fx.p("src")]}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("\"format\""), "{e}");
        fx.err(T, json!({"operation": "create", "path": fx.p("y.zip")}), ErrorType::Validation);
        fx.err(
            T,
            json!({"operation": "create", "path": fx.p("y.zip"),
                         "sources": [fx.p("missing")]}),
            ErrorType::NotFound,
        );
        let e = fx.err(
            T,
            json!({"operation": "create", "path": fx.p("y.zip"),
                                 "sources": [fx.p("src/a.txt"), fx.p("src/sub/../a.txt")]}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("two sources"), "{e}");
        let e = fx.err(
            T,
            json!({"operation": "create", "path": fx.p("y.zip"),
                                 "sources": [fx.p("src")], "max_size": 8}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("max_size"), "{e}");
        fx.err(
            T,
            json!({"operation": "create", "path": fx.p("y.tar"),
                         "sources": [fx.p("src")], "max_entries": 2}),
            ErrorType::Validation,
        );
        for name in ["../x", "/etc/x", "a/../../x", "", "C:\\x"] {
            fx.err(
                T,
                json!({"operation": "create", "path": fx.p("y.zip"),
                             "files": [{"name": name, "text": "x"}]}),
                ErrorType::Permission,
            );
        }
        assert!(!exists(&fx.root.join("y.zip")) && !exists(&fx.root.join("y.tar")));
        fx.err(T, json!({"operation": "list", "path": fx.p("missing.zip")}), ErrorType::NotFound);
        std::fs::write(fx.root.join("junk.zip"), "not a zip at all").unwrap();
        fx.err(T, json!({"operation": "list", "path": fx.p("junk.zip")}), ErrorType::Execution);
        fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("junk.zip"),
                         "destination": fx.p("j")}),
            ErrorType::Execution,
        );
        std::fs::write(fx.root.join("junk.tgz"), "not gzip").unwrap();
        fx.err(T, json!({"operation": "list", "path": fx.p("junk.tgz")}), ErrorType::Execution);
        fx.err(T, json!({"operation": "extract", "path": fx.p("x.zip")}), ErrorType::Validation);
        fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("x.zip"),
                         "destination": fx.p("single.txt")}),
            ErrorType::Validation,
        );
        assert!(!exists(&fx.root.join("j")));
    }

    #[test]
    fn create_refuses_paths_out_of_the_root() {
        let fx = Fx::new();
        sources(&fx);
        let outside = fx.outside.join("x.zip").to_string_lossy().into_owned();
        for params in [
            json!({"operation": "create", "path": fx.p("x.zip"), "sources": [fx.p("out_dir")]}),
            json!({"operation": "create", "path": fx.p("x.zip"), "sources": [fx.p("out_file")]}),
            json!({"operation": "create", "path": fx.p("x.zip"),
                   "sources": [fx.p("../outside")]}),
            json!({"operation": "create", "path": fx.p("x.zip"),
                   "sources": [fx.outside.to_string_lossy()]}),
            json!({"operation": "create", "path": outside, "sources": [fx.p("src")]}),
            json!({"operation": "create", "path": fx.p("out_dir/x.zip"), "sources": [fx.p("src")]}),
            json!({"operation": "list", "path": fx.p("out_dir/x.zip")}),
            json!({"operation": "extract", "path": fx.p("out_dir/x.zip"),
                   "destination": fx.p("d")}),
        ] {
            fx.err(T, params, ErrorType::Permission);
        }
        assert!(!exists(&fx.root.join("x.zip")));
        fx.outside_untouched();
    }

    /// Extracting `archive` into root/dest fails with a permission error and writes nothing.
    fn refused(fx: &Fx, archive: &str, why: &str) {
        let e = fx.err(
            T,
            json!({"operation": "extract", "path": fx.p(archive),
                                 "destination": fx.p("dest")}),
            ErrorType::Permission,
        );
        assert!(e.message.contains(why), "{archive}: {e}");
        assert!(!exists(&fx.root.join("dest")), "{archive}: something was extracted");
        fx.outside_untouched();
    }

    #[test]
    fn zip_slip_absolute_and_symlink_entries_are_refused_before_writing() {
        let fx = Fx::new();
        let ok: (&str, Option<&str>, &[u8]) = ("good.txt", None, b"fine");
        zip_of(&fx.root.join("slip.zip"), &[ok, ("../outside/evil.txt", None, b"x")]);
        refused(&fx, "slip.zip", "`..`");
        zip_of(&fx.root.join("deep.zip"), &[ok, ("a/b/../../../evil.txt", None, b"x")]);
        refused(&fx, "deep.zip", "`..`");
        let abs = format!("{}/evil.txt", fx.outside.display());
        zip_of(&fx.root.join("abs.zip"), &[ok, (abs.as_str(), None, b"x")]);
        refused(&fx, "abs.zip", "absolute");
        zip_of(&fx.root.join("link.zip"), &[ok, ("l", Some("../outside"), b"")]);
        refused(&fx, "link.zip", "outside the destination");
        zip_of(&fx.root.join("abslink.zip"), &[ok, ("l", Some("/etc"), b"")]);
        refused(&fx, "abslink.zip", "absolute");
        zip_of(
            &fx.root.join("through.zip"),
            &[("sub/x", None, b"x"), ("l", Some("sub"), b""), ("l/evil.txt", None, b"x")],
        );
        refused(&fx, "through.zip", "passes through the symlink");
        zip_of(
            &fx.root.join("chain.zip"),
            &[ok, ("a", Some("."), b""), ("b", Some("a/../.."), b"")],
        );
        refused(&fx, "chain.zip", "passes through the symlink");
        // A symlink that stays inside is extracted.
        zip_of(
            &fx.root.join("inside.zip"),
            &[("sub/x.txt", None, b"x"), ("l", Some("sub/x.txt"), b"")],
        );
        let out = fx.ok(
            T,
            json!({"operation": "extract", "path": fx.p("inside.zip"),
                                  "destination": fx.p("in")}),
        );
        assert_eq!(out["symlinks"], 1);
        assert_eq!(std::fs::read_to_string(fx.root.join("in/l")).unwrap(), "x");
        let listed = fx.ok(T, json!({"operation": "list", "path": fx.p("inside.zip")}));
        assert_eq!(listed["entries"][1]["type"], "symlink");
        assert_eq!(listed["entries"][1]["target"], "sub/x.txt");
    }

    #[test]
    fn tar_slip_links_and_special_entries() {
        use tar::EntryType::{Directory, Fifo, Link, Regular, Symlink};
        let fx = Fx::new();
        for ext in ["tar", "tar.gz"] {
            let a = |name: &str| format!("{name}.{ext}");
            tar_of(
                &fx.root.join(a("slip")),
                &[("ok.txt", Regular, "", b"ok"), ("../evil.txt", Regular, "", b"x")],
            );
            refused(&fx, &a("slip"), "`..`");
            tar_of(
                &fx.root.join(a("abs")),
                &[("ok.txt", Regular, "", b"ok"), ("/tmp/evil.txt", Regular, "", b"x")],
            );
            refused(&fx, &a("abs"), "absolute");
            tar_of(&fx.root.join(a("link")), &[("l", Symlink, "../../outside", b"")]);
            refused(&fx, &a("link"), "outside the destination");
            tar_of(&fx.root.join(a("abslink")), &[("l", Symlink, "/etc", b"")]);
            refused(&fx, &a("abslink"), "absolute");
            tar_of(
                &fx.root.join(a("through")),
                &[
                    ("d", Directory, "", b""),
                    ("l", Symlink, "d", b""),
                    ("l/x.txt", Regular, "", b"x"),
                ],
            );
            refused(&fx, &a("through"), "passes through the symlink");
            tar_of(&fx.root.join(a("hard")), &[("h", Link, "../outside/secret.txt", b"")]);
            refused(&fx, &a("hard"), "`..`");
        }
        // Hard links to earlier files become copies; fifos are skipped.
        tar_of(
            &fx.root.join("ok.tar"),
            &[("a.txt", Regular, "", b"data"), ("b.txt", Link, "a.txt", b""), ("p", Fifo, "", b"")],
        );
        let out = fx.ok(
            T,
            json!({"operation": "extract", "path": fx.p("ok.tar"),
                                  "destination": fx.p("ok")}),
        );
        assert_eq!(out["files"], 2);
        assert_eq!(out["skipped"], json!(["p (fifo)"]));
        assert_eq!(std::fs::read_to_string(fx.root.join("ok/b.txt")).unwrap(), "data");
        assert!(!exists(&fx.root.join("ok/p")));
        tar_of(&fx.root.join("dangling.tar"), &[("b.txt", Link, "nope.txt", b"")]);
        fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("dangling.tar"),
                         "destination": fx.p("dd")}),
            ErrorType::Execution,
        );
        assert!(!exists(&fx.root.join("dd")));
    }

    #[test]
    fn destinations_that_lead_out_are_refused() {
        let fx = Fx::new();
        zip_of(&fx.root.join("a.zip"), &[("pre/x.txt", None, b"x"), ("y.txt", None, b"y")]);
        // A symlink already inside the destination, pointing out.
        std::fs::create_dir(fx.root.join("dest")).unwrap();
        std::os::unix::fs::symlink(&fx.outside, fx.root.join("dest/pre")).unwrap();
        let e = fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("a.zip"),
                                 "destination": fx.p("dest")}),
            ErrorType::Permission,
        );
        assert!(e.message.contains("pre/x.txt"), "{e}");
        assert!(!exists(&fx.root.join("dest/y.txt")), "nothing may be written");
        // A symlink entry whose target goes through that symlink on disk.
        zip_of(
            &fx.root.join("l.zip"),
            &[("y.txt", None, b"y"), ("l", Some("pre/secret.txt"), b"")],
        );
        let e = fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("l.zip"), "destination": fx.p("dest")}),
            ErrorType::Permission,
        );
        assert!(e.message.contains("\"l\""), "{e}");
        assert!(!exists(&fx.root.join("dest/y.txt")), "nothing may be written");
        for dest in [
            fx.p("out_dir"),
            fx.p("out_dir/new"),
            fx.p("../outside/new"),
            fx.outside.to_string_lossy().into_owned(),
        ] {
            fx.err(
                T,
                json!({"operation": "extract", "path": fx.p("a.zip"), "destination": dest}),
                ErrorType::Permission,
            );
        }
        fx.outside_untouched();
    }

    #[test]
    fn size_and_entry_caps() {
        let fx = Fx::new();
        let big = vec![b'z'; 5000];
        zip_of(&fx.root.join("big.zip"), &[("a.txt", None, b"a"), ("big.txt", None, &big)]);
        let e = fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("big.zip"),
                                 "destination": fx.p("d"), "max_size": 4096}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("max_size"), "{e}");
        let e = fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("big.zip"),
                                 "destination": fx.p("d"), "max_entries": 1}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("max_entries"), "{e}");
        assert!(!exists(&fx.root.join("d")));
        fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("big.zip"),
                         "destination": fx.p("d"), "max_size": 2_000_000_000u64}),
            ErrorType::Validation,
        );
    }

    #[test]
    fn an_extraction_that_times_out_stops_and_removes_what_it_wrote() {
        let fx = Fx::new();
        let mut zip =
            zip::ZipWriter::new(std::fs::File::create(fx.root.join("large.zip")).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("first.txt", stored).unwrap();
        zip.write_all(b"1").unwrap();
        zip.start_file("large.bin", stored.large_file(true)).unwrap();
        std::io::copy(&mut std::io::repeat(0).take(256 << 20), &mut zip).unwrap();
        zip.finish().unwrap();
        let params = json!({"operation": "extract", "path": fx.p("large.zip"),
                            "destination": fx.p("dest")});
        let e = fx.r.invoke(T, params.clone(), Some(Duration::from_millis(50))).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(eventually(10, || !exists(&fx.root.join("dest"))), "the extraction kept going");
        // Cancelled while writing the large entry: it stops and removes everything it made.
        let (seen, result) =
            cancel_while_working(&fx, T, params, || size(&fx.root.join("dest/large.bin")) > 0);
        assert!(seen, "the extraction never started writing");
        assert_eq!(result.unwrap_err().error_type, ErrorType::Timeout);
        assert!(!exists(&fx.root.join("dest")), "partial output was left");
    }

    #[test]
    fn a_create_that_times_out_leaves_no_archive() {
        let fx = Fx::new();
        // 1 GiB of sparse zeros: quick to read, many seconds to gzip in a debug build.
        let big = std::fs::File::create(fx.root.join("big")).unwrap();
        big.set_len(1 << 30).unwrap();
        let params = json!({"operation": "create", "path": fx.p("big.tar.gz"),
                            "sources": [fx.p("big")]});
        let temp = || {
            std::fs::read_dir(&fx.root)
                .unwrap()
                .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".tmp"))
        };
        let (seen, result) = cancel_while_working(&fx, T, params, temp);
        assert!(seen, "the archive was never started");
        assert_eq!(result.unwrap_err().error_type, ErrorType::Timeout);
        assert!(!temp() && !exists(&fx.root.join("big.tar.gz")), "a partial archive was left");
    }

    #[test]
    fn fifos_are_not_archives() {
        let fx = Fx::new();
        super::super::testing::fifo(&fx.root.join("pipe.tar"));
        fx.err(T, json!({"operation": "list", "path": fx.p("pipe.tar")}), ErrorType::Validation);
        fx.err(
            T,
            json!({"operation": "extract", "path": fx.p("pipe.tar"),
                         "destination": fx.p("d")}),
            ErrorType::Validation,
        );
    }
}

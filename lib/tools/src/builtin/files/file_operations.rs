//! file_operations: read, write, append, list, copy, move, delete, metadata, exists, mkdir.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{Value, json};

use super::{
    MAX_READ, copy_checked, example_path, kind_of, or_timeout, recheck, refuse_existing,
    refuse_root, regular_file, requires, resolve_link, rfc3339, shown,
};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError, io_error};

const OPERATIONS: [&str; 10] =
    ["read", "write", "append", "list", "copy", "move", "delete", "metadata", "exists", "mkdir"];

pub(super) fn tool() -> ToolDef {
    let demo = example_path("llmspell-example-file_operations/hello.txt");
    let missing = example_path("llmspell-example-file_operations/no-such-file.txt");
    let nowhere = example_path("llmspell-example-no-such-dir-7c1f/../x.txt");
    ToolDef {
        name: "file_operations",
        category: "files",
        description: "Reads, writes, appends, lists, copies, moves and deletes files and \
                      directories, reads metadata, checks existence and makes directories, only \
                      inside the allowed paths.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": OPERATIONS,
                    "description": "read: a file's content; write: replace a file; append: add \
                                    to a file; list: a directory's entries; copy / move: path to \
                                    destination; delete: a file, link or (recursive) directory; \
                                    metadata: size, type, permissions, times; exists: whether \
                                    the path exists; mkdir: make a directory and its parents"
                },
                "path": {
                    "type": "string",
                    "description": "The file or directory (copy and move: the source); relative \
                                    paths are relative to the working directory"
                },
                "destination": {
                    "type": "string",
                    "description": "copy / move: where to; an existing directory receives the \
                                    source under its own name"
                },
                "content": {
                    "type": "string",
                    "description": "write / append: the data (text, or base64 when encoding is \
                                    base64)"
                },
                "encoding": {
                    "type": "string",
                    "enum": ["text", "base64"],
                    "description": "read / write / append: text is UTF-8 (default); base64 for \
                                    binary data"
                },
                "max_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_READ,
                    "description": "read: at most this many bytes from the start (default: the \
                                    whole file, which must be at most 64 MiB)"
                },
                "create_dirs": {
                    "type": "boolean",
                    "description": "write / append / copy / move: create missing parent \
                                    directories (default false)"
                },
                "overwrite": {
                    "type": "boolean",
                    "description": "write: replace an existing file (default true); copy / \
                                    move: replace an existing destination (default false)"
                },
                "recursive": {
                    "type": "boolean",
                    "description": "list: descend into subdirectories; copy: copy a directory \
                                    tree; delete: remove a directory with its contents \
                                    (default false)"
                },
                "max_depth": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 64,
                    "description": "list with recursive: how many levels to descend (default 16)"
                },
                "max_entries": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100000,
                    "description": "list: at most this many entries (default 1000)"
                }
            },
            "required": ["operation", "path"],
            "allOf": [
                requires(&["write", "append"], &["content"]),
                requires(&["copy", "move"], &["destination"])
            ],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "write a text file, creating its directory",
                json!({"operation": "write", "path": demo, "content": "hello world\n",
                       "create_dirs": true}),
                json!({"bytes_written": 12}),
            ),
            Example::new(
                "a path that does not exist",
                json!({"operation": "exists", "path": missing}),
                json!({"exists": false}),
            ),
            Example::fails(
                "reading a file that does not exist",
                json!({"operation": "read", "path": missing}),
                ErrorType::NotFound,
            ),
            Example::fails(
                "`..` after a directory that does not exist is refused",
                json!({"operation": "read", "path": nowhere}),
                ErrorType::Permission,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    match p.str("operation")? {
        "read" => read(p, cx),
        "write" => write(p, cx),
        "append" => append(p, cx),
        "list" => list(p, cx),
        "copy" => copy(p, cx),
        "move" => move_(p, cx),
        "delete" => delete(p, cx),
        "metadata" => metadata(p, cx),
        "exists" => exists(p, cx),
        "mkdir" => mkdir(p, cx),
        other => Err(ToolError::validation(format!("unknown operation {other:?}"))),
    }
}

fn read(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    let meta = regular_file(&path, "path")?;
    let max_bytes = p.opt_u64("max_bytes")?;
    if max_bytes.is_none() && meta.len() > MAX_READ {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is {} bytes, more than the 64 MiB read limit; pass \
             max_bytes to read its beginning",
            path.display(),
            meta.len()
        )));
    }
    let limit = max_bytes.unwrap_or(MAX_READ);
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|f| f.take(limit).read_to_end(&mut bytes))
        .map_err(|e| io_error(e, Some(&path)))?;
    let truncated = meta.len() > bytes.len() as u64;
    let encoding = p.str_or("encoding", "text")?;
    let content = if encoding == "base64" {
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    } else {
        text_of(bytes, truncated, &path)?
    };
    Ok(json!({
        "path": shown(&path),
        "content": content,
        "encoding": encoding,
        "size": meta.len(),
        "truncated": truncated,
    }))
}

/// The bytes as text; a cut in the middle of a character at the end of a truncated read is
/// dropped, anything else that is not UTF-8 (or has NUL bytes) is an error.
fn text_of(mut bytes: Vec<u8>, truncated: bool, path: &Path) -> Result<String, ToolError> {
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(ToolError::execution(format!(
            "{} looks binary (a NUL byte at offset {at}); read it with encoding \"base64\"",
            path.display()
        )));
    }
    match std::str::from_utf8(&bytes) {
        Ok(_) => {}
        Err(e) if truncated && e.error_len().is_none() => bytes.truncate(e.valid_up_to()),
        Err(e) => {
            return Err(ToolError::execution(format!(
                "{} is not UTF-8 text (invalid byte at offset {}); read it with encoding \
                 \"base64\"",
                path.display(),
                e.valid_up_to()
            )));
        }
    }
    String::from_utf8(bytes).map_err(|e| ToolError::execution(e.to_string()))
}

/// The `content` parameter as bytes.
fn content(p: &Params) -> Result<Vec<u8>, ToolError> {
    let text = p.str("content")?;
    if p.str_or("encoding", "text")? == "base64" {
        base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| {
            ToolError::validation(format!("parameter \"content\" is not valid base64: {e}"))
        })
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// Makes the parent directory when create_dirs is set; else a missing parent is not_found.
fn parent_ready(p: &Params, path: &Path) -> Result<(), ToolError> {
    let Some(parent) = path.parent() else { return Ok(()) };
    if parent.is_dir() {
        return Ok(());
    }
    if p.bool_or("create_dirs", false)? {
        fs::create_dir_all(parent).map_err(|e| io_error(e, Some(parent)))
    } else {
        Err(ToolError::not_found(format!(
            "directory {} does not exist; set create_dirs: true to create it",
            parent.display()
        )))
    }
}

/// Writing goes to regular files only (opening a fifo for writing would block).
fn refuse_special(path: &Path, param: &str) -> Result<(), ToolError> {
    match fs::metadata(path) {
        Ok(_) => regular_file(path, param).map(drop),
        Err(_) => Ok(()),
    }
}

fn write(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    let bytes = content(p)?;
    refuse_special(&path, "path")?;
    parent_ready(p, &path)?;
    let existed = path.exists();
    let mut options = OpenOptions::new();
    options.write(true);
    if p.bool_or("overwrite", true)? {
        options.create(true).truncate(true);
    } else {
        refuse_existing(&path, false)?;
        options.create_new(true);
    }
    let mut file = options.open(&path).map_err(|e| io_error(e, Some(&path)))?;
    file.write_all(&bytes).map_err(|e| io_error(e, Some(&path)))?;
    Ok(json!({"path": shown(&path), "bytes_written": bytes.len(), "created": !existed}))
}

fn append(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    let bytes = content(p)?;
    refuse_special(&path, "path")?;
    parent_ready(p, &path)?;
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| io_error(e, Some(&path)))?;
    file.write_all(&bytes).map_err(|e| io_error(e, Some(&path)))?;
    let size = file.metadata().map_err(|e| io_error(e, Some(&path)))?.len();
    Ok(json!({"path": shown(&path), "bytes_appended": bytes.len(), "size": size}))
}

fn list(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let dir = cx.path(p.str("path")?)?;
    let meta = fs::metadata(&dir).map_err(|e| io_error(e, Some(&dir)))?;
    if !meta.is_dir() {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is not a directory",
            dir.display()
        )));
    }
    let depth = if p.bool_or("recursive", false)? { p.u64_or("max_depth", 16)? } else { 1 };
    let max_entries = p.u64_or("max_entries", 1000)? as usize;
    let walker = walkdir::WalkDir::new(&dir)
        .min_depth(1)
        .max_depth(depth as usize)
        .follow_links(false)
        .sort_by_file_name();
    let (mut entries, mut errors, mut truncated) = (Vec::new(), Vec::new(), false);
    for entry in walker {
        cx.check()?;
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                if errors.len() < 20 {
                    errors.push(e.to_string());
                }
                continue;
            }
        };
        if entries.len() >= max_entries {
            truncated = true;
            break;
        }
        let rel = entry.path().strip_prefix(&dir).unwrap_or(entry.path());
        let mut item = json!({
            "path": shown(rel),
            "name": entry.file_name().to_string_lossy(),
            "type": kind_of(entry.file_type()),
        });
        if let Ok(m) = entry.metadata() {
            item["size"] = json!(m.len());
            if let Ok(t) = m.modified() {
                item["modified"] = json!(rfc3339(t));
            }
        }
        entries.push(item);
    }
    Ok(json!({
        "path": shown(&dir),
        "entries": entries,
        "count": entries.len(),
        "truncated": truncated,
        "errors": errors,
    }))
}

/// The destination of copy / move: inside an existing directory under the source's name.
fn destination(cx: &Context, p: &Params, source: &Path) -> Result<PathBuf, ToolError> {
    let dest = cx.path(p.str("destination")?)?;
    if !dest.is_dir() {
        return Ok(dest);
    }
    let name = source.file_name().ok_or_else(|| {
        ToolError::validation(format!("parameter \"path\": {} has no name", source.display()))
    })?;
    recheck(cx, &dest.join(name))
}

fn same_or_inside(source: &Path, dest: &Path) -> Result<(), ToolError> {
    if dest == source {
        return Err(ToolError::validation(format!(
            "parameters \"path\" and \"destination\" are the same: {}",
            source.display()
        )));
    }
    if source.is_dir() && dest.starts_with(source) {
        return Err(ToolError::validation(format!(
            "parameter \"destination\": {} is inside the source directory {}",
            dest.display(),
            source.display()
        )));
    }
    Ok(())
}

/// Copies one file in chunks (stopping at the deadline); a failed copy leaves no partial file.
fn copy_file(cx: &Context, from: &Path, to: &Path) -> Result<u64, ToolError> {
    let source = File::open(from).map_err(|e| io_error(e, Some(from)))?;
    let perms = source.metadata().map_err(|e| io_error(e, Some(from)))?.permissions();
    let mut target = File::create(to).map_err(|e| io_error(e, Some(to)))?;
    match copy_checked(cx, source, &mut target) {
        Ok(n) => {
            let _ = fs::set_permissions(to, perms);
            Ok(n)
        }
        Err(e) => {
            drop(target);
            let _ = fs::remove_file(to);
            Err(or_timeout(cx, io_error(e, Some(to))))
        }
    }
}

#[derive(Default)]
struct Copied {
    files: u64,
    dirs: u64,
    bytes: u64,
    skipped: Vec<String>,
}

/// Copies a directory tree without following symlinks (they are skipped); every target is
/// checked again, so a symlink already inside the destination cannot lead out.
fn copy_tree(cx: &Context, from: &Path, to: &Path) -> Result<Copied, ToolError> {
    let mut done = Copied::default();
    for entry in walkdir::WalkDir::new(from).follow_links(false).sort_by_file_name() {
        cx.check()?;
        let entry = entry.map_err(|e| ToolError::execution(e.to_string()))?;
        let rel = entry.path().strip_prefix(from).unwrap_or(Path::new(""));
        let target = if rel.as_os_str().is_empty() { to.to_path_buf() } else { to.join(rel) };
        let target = recheck(cx, &target)?;
        if !target.starts_with(to) {
            return Err(ToolError::permission(format!(
                "{} leads out of the destination {}",
                to.join(rel).display(),
                to.display()
            )));
        }
        let ft = entry.file_type();
        if ft.is_dir() {
            fs::create_dir_all(&target).map_err(|e| io_error(e, Some(&target)))?;
            done.dirs += 1;
        } else if ft.is_file() {
            done.bytes += copy_file(cx, entry.path(), &target)?;
            done.files += 1;
        } else {
            done.skipped.push(shown(rel));
        }
    }
    Ok(done)
}

fn copy(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let source = cx.path(p.str("path")?)?;
    let meta = fs::metadata(&source).map_err(|e| io_error(e, Some(&source)))?;
    let dest = destination(cx, p, &source)?;
    same_or_inside(&source, &dest)?;
    refuse_existing(&dest, p.bool_or("overwrite", false)?)?;
    parent_ready(p, &dest)?;
    let done = if meta.is_dir() {
        if !p.bool_or("recursive", false)? {
            return Err(ToolError::validation(format!(
                "parameter \"path\": {} is a directory; set recursive: true to copy it",
                source.display()
            )));
        }
        copy_tree(cx, &source, &dest)?
    } else {
        regular_file(&source, "path")?;
        refuse_special(&dest, "destination")?;
        Copied { files: 1, bytes: copy_file(cx, &source, &dest)?, ..Copied::default() }
    };
    Ok(json!({
        "source": shown(&source),
        "destination": shown(&dest),
        "files": done.files,
        "dirs": done.dirs,
        "bytes": done.bytes,
        "skipped": done.skipped,
    }))
}

fn move_(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let source = resolve_link(cx, p.str("path")?)?;
    refuse_root(cx, &source, "moved")?;
    let meta = fs::symlink_metadata(&source).map_err(|e| io_error(e, Some(&source)))?;
    let dest = destination(cx, p, &source)?;
    same_or_inside(&source, &dest)?;
    refuse_existing(&dest, p.bool_or("overwrite", false)?)?;
    parent_ready(p, &dest)?;
    match fs::rename(&source, &dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
            // Another file system: copy, then remove the source.
            let ft = meta.file_type();
            if ft.is_symlink() {
                let target = fs::read_link(&source).map_err(|e| io_error(e, Some(&source)))?;
                std::os::unix::fs::symlink(target, &dest).map_err(|e| io_error(e, Some(&dest)))?;
                fs::remove_file(&source).map_err(|e| io_error(e, Some(&source)))?;
            } else if ft.is_dir() {
                copy_tree(cx, &source, &dest)?;
                fs::remove_dir_all(&source).map_err(|e| io_error(e, Some(&source)))?;
            } else {
                copy_file(cx, &source, &dest)?;
                fs::remove_file(&source).map_err(|e| io_error(e, Some(&source)))?;
            }
        }
        Err(e) => return Err(io_error(e, Some(&dest))),
    }
    Ok(json!({"source": shown(&source), "destination": shown(&dest)}))
}

fn delete(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = resolve_link(cx, p.str("path")?)?;
    refuse_root(cx, &path, "deleted")?;
    let meta = fs::symlink_metadata(&path).map_err(|e| io_error(e, Some(&path)))?;
    if !meta.is_dir() {
        fs::remove_file(&path).map_err(|e| io_error(e, Some(&path)))?;
        return Ok(json!({"path": shown(&path), "deleted": true, "files": 1, "dirs": 0}));
    }
    if !p.bool_or("recursive", false)? {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is a directory; set recursive: true to delete it",
            path.display()
        )));
    }
    // Contents first, links themselves (never their targets), stopping at the deadline.
    let (mut files, mut dirs) = (0u64, 0u64);
    for entry in walkdir::WalkDir::new(&path).follow_links(false).contents_first(true) {
        cx.check()?;
        let entry = entry.map_err(|e| ToolError::execution(e.to_string()))?;
        if entry.file_type().is_dir() {
            fs::remove_dir(entry.path()).map_err(|e| io_error(e, Some(entry.path())))?;
            dirs += 1;
        } else {
            fs::remove_file(entry.path()).map_err(|e| io_error(e, Some(entry.path())))?;
            files += 1;
        }
    }
    Ok(json!({"path": shown(&path), "deleted": true, "files": files, "dirs": dirs}))
}

fn metadata(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    use std::os::unix::fs::PermissionsExt;
    let path = resolve_link(cx, p.str("path")?)?;
    let meta = fs::symlink_metadata(&path).map_err(|e| io_error(e, Some(&path)))?;
    let time = |t: std::io::Result<std::time::SystemTime>| t.ok().map(rfc3339);
    let mode = meta.permissions().mode() & 0o7777;
    let mut out = json!({
        "path": shown(&path),
        "type": kind_of(meta.file_type()),
        "size": meta.len(),
        "permissions": format!("{mode:04o}"),
        "readonly": meta.permissions().readonly(),
        "modified": time(meta.modified()),
        "accessed": time(meta.accessed()),
        "created": time(meta.created()),
        "is_symlink": meta.file_type().is_symlink(),
    });
    if meta.file_type().is_symlink() {
        let target = fs::read_link(&path).map_err(|e| io_error(e, Some(&path)))?;
        out["target"] = json!(shown(&target));
    }
    Ok(out)
}

fn exists(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = resolve_link(cx, p.str("path")?)?;
    match fs::symlink_metadata(&path) {
        Ok(m) => Ok(json!({"path": shown(&path), "exists": true, "type": kind_of(m.file_type())})),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok(json!({"path": shown(&path), "exists": false}))
        }
        Err(e) => Err(io_error(e, Some(&path))),
    }
}

fn mkdir(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let path = cx.path(p.str("path")?)?;
    match fs::metadata(&path) {
        Ok(m) if m.is_dir() => return Ok(json!({"path": shown(&path), "created": false})),
        Ok(_) => {
            return Err(ToolError::execution(format!(
                "{} exists and is not a directory",
                path.display()
            )));
        }
        Err(_) => {}
    }
    fs::create_dir_all(&path).map_err(|e| io_error(e, Some(&path)))?;
    Ok(json!({"path": shown(&path), "created": true}))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::super::testing::{Fx, cancel_while_working, eventually, exists, fifo, size};
    use crate::ErrorType;

    const T: &str = "file_operations";

    #[test]
    fn write_read_append_and_base64() {
        let fx = Fx::new();
        let f = fx.p("a/b/c.txt");
        let e = fx.err(
            T,
            json!({"operation": "write", "path": f, "content": "x"}),
            ErrorType::NotFound,
        );
        assert!(e.message.contains("create_dirs"), "{e}");
        let out = fx.ok(
            T,
            json!({"operation": "write", "path": f, "content": "héllo\n", "create_dirs": true}),
        );
        assert_eq!(out["bytes_written"], 7);
        assert_eq!(out["created"], true);
        let out = fx.ok(T, json!({"operation": "append", "path": f, "content": "more\n"}));
        assert_eq!(out["size"], 12);
        let out = fx.ok(T, json!({"operation": "read", "path": f}));
        assert_eq!(out["content"], "héllo\nmore\n");
        assert_eq!(out["truncated"], false);
        // A cut inside the two-byte é is dropped rather than failing.
        let out = fx.ok(T, json!({"operation": "read", "path": f, "max_bytes": 2}));
        assert_eq!(out["content"], "h");
        assert_eq!(out["truncated"], true);
        let out = fx.ok(T, json!({"operation": "read", "path": f, "encoding": "base64"}));
        assert_eq!(out["content"], "aMOpbGxvCm1vcmUK");
        // Overwrite flag.
        let e = fx.err(
            T,
            json!({"operation": "write", "path": f, "content": "new", "overwrite": false}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("already exists"), "{e}");
        fx.ok(T, json!({"operation": "write", "path": f, "content": "new"}));
        assert_eq!(std::fs::read_to_string(fx.root.join("a/b/c.txt")).unwrap(), "new");
        // Binary data round trip through base64.
        let bin = fx.p("bin.dat");
        fx.ok(
            T,
            json!({"operation": "write", "path": bin, "content": "AAEC/w==",
                       "encoding": "base64"}),
        );
        assert_eq!(std::fs::read(fx.root.join("bin.dat")).unwrap(), [0, 1, 2, 255]);
        let e = fx.err(T, json!({"operation": "read", "path": bin}), ErrorType::Execution);
        assert!(e.message.contains("base64"), "{e}");
        std::fs::write(fx.root.join("latin.txt"), b"caf\xe9").unwrap();
        let e = fx.err(
            T,
            json!({"operation": "read", "path": fx.p("latin.txt")}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("offset 3"), "{e}");
        let e = fx.err(
            T,
            json!({"operation": "write", "path": bin, "content": "!!", "encoding": "base64"}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("\"content\""), "{e}");
    }

    #[test]
    fn failures_name_the_parameter() {
        let fx = Fx::new();
        let e = fx.err(T, json!({"operation": "write", "path": fx.p("x")}), ErrorType::Validation);
        assert!(e.message.contains("content") && e.message.contains("required"), "{e}");
        let e = fx.err(T, json!({"operation": "copy", "path": fx.p("x")}), ErrorType::Validation);
        assert!(e.message.contains("destination"), "{e}");
        let e = fx.err(T, json!({"operation": "shred", "path": "x"}), ErrorType::Validation);
        assert!(e.message.contains("operation"), "{e}");
        let e = fx.err(T, json!({"operation": "read", "path": fx.p("nope")}), ErrorType::NotFound);
        assert!(e.message.contains("nope"), "{e}");
        fx.err(T, json!({"operation": "read", "path": fx.p("")}), ErrorType::Validation);
        let e = fx.err(T, json!({"operation": "read", "path": ""}), ErrorType::Validation);
        assert!(e.message.contains("empty"), "{e}");
        fx.err(
            T,
            json!({"operation": "read", "path": fx.p("x"), "max_bytes": -1}),
            ErrorType::Validation,
        );
        fx.err(T, json!({"operation": "list", "path": fx.p("nope")}), ErrorType::NotFound);
        fx.err(T, json!({"operation": "metadata", "path": fx.p("nope")}), ErrorType::NotFound);
        fx.err(T, json!({"operation": "delete", "path": fx.p("nope")}), ErrorType::NotFound);
        fx.err(T, json!({"operation": "read", "path": fx.p(".")}), ErrorType::Validation);
    }

    #[test]
    fn reading_more_than_64_mib_needs_max_bytes() {
        let fx = Fx::new();
        let big = std::fs::File::create(fx.root.join("big")).unwrap();
        big.set_len(super::MAX_READ + 1).unwrap();
        let e = fx.err(T, json!({"operation": "read", "path": fx.p("big")}), ErrorType::Validation);
        assert!(e.message.contains("max_bytes"), "{e}");
        let out = fx.ok(
            T,
            json!({"operation": "read", "path": fx.p("big"), "max_bytes": 3,
                                  "encoding": "base64"}),
        );
        assert_eq!(out["content"], "AAAA");
        assert_eq!(out["truncated"], true);
    }

    #[test]
    fn list_flat_and_recursive_without_following_links() {
        let fx = Fx::new();
        std::fs::create_dir_all(fx.root.join("d/e/f")).unwrap();
        std::fs::write(fx.root.join("d/one.txt"), "1").unwrap();
        std::fs::write(fx.root.join("d/e/two.txt"), "22").unwrap();
        std::fs::write(fx.root.join("d/e/f/three.txt"), "333").unwrap();
        std::os::unix::fs::symlink(&fx.outside, fx.root.join("d/link")).unwrap();
        let out = fx.ok(T, json!({"operation": "list", "path": fx.p("d")}));
        let names: Vec<&str> = out["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["e", "link", "one.txt"]);
        assert_eq!(out["entries"][1]["type"], "symlink");
        assert_eq!(out["entries"][2]["type"], "file");
        assert_eq!(out["entries"][2]["size"], 1);
        assert!(out["entries"][2]["modified"].as_str().unwrap().ends_with('Z'));
        let out = fx.ok(T, json!({"operation": "list", "path": fx.p("d"), "recursive": true}));
        let names: Vec<&str> = out["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["e", "e/f", "e/f/three.txt", "e/two.txt", "link", "one.txt"]);
        assert!(!out.to_string().contains("secret"), "the walk followed a link out: {out}");
        let out = fx.ok(
            T,
            json!({"operation": "list", "path": fx.p("d"), "recursive": true, "max_depth": 2}),
        );
        assert_eq!(out["count"], 5);
        let out = fx.ok(T, json!({"operation": "list", "path": fx.p("d"), "max_entries": 2}));
        assert_eq!(out["count"], 2);
        assert_eq!(out["truncated"], true);
        fx.err(T, json!({"operation": "list", "path": fx.p("d/one.txt")}), ErrorType::Validation);
    }

    #[test]
    fn copy_files_and_trees() {
        let fx = Fx::new();
        std::fs::create_dir_all(fx.root.join("src/sub")).unwrap();
        std::fs::write(fx.root.join("src/a.txt"), "aaa").unwrap();
        std::fs::write(fx.root.join("src/sub/b.txt"), "bb").unwrap();
        std::os::unix::fs::symlink(fx.outside.join("secret.txt"), fx.root.join("src/ln")).unwrap();
        let out = fx.ok(
            T,
            json!({"operation": "copy", "path": fx.p("src/a.txt"),
                                  "destination": fx.p("copy.txt")}),
        );
        assert_eq!(out["bytes"], 3);
        assert_eq!(std::fs::read_to_string(fx.root.join("copy.txt")).unwrap(), "aaa");
        fx.err(
            T,
            json!({"operation": "copy", "path": fx.p("src/a.txt"),
                         "destination": fx.p("copy.txt")}),
            ErrorType::Execution,
        );
        fx.ok(
            T,
            json!({"operation": "copy", "path": fx.p("src/sub/b.txt"),
                        "destination": fx.p("copy.txt"), "overwrite": true}),
        );
        assert_eq!(std::fs::read_to_string(fx.root.join("copy.txt")).unwrap(), "bb");
        // Into an existing directory, under the source's name.
        std::fs::create_dir(fx.root.join("into")).unwrap();
        fx.ok(
            T,
            json!({"operation": "copy", "path": fx.p("src/a.txt"),
                        "destination": fx.p("into")}),
        );
        assert!(fx.root.join("into/a.txt").is_file());
        // Trees need recursive; symlinks inside are skipped, not followed.
        let e = fx.err(
            T,
            json!({"operation": "copy", "path": fx.p("src"),
                                 "destination": fx.p("tree")}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("recursive"), "{e}");
        let out = fx.ok(
            T,
            json!({"operation": "copy", "path": fx.p("src"),
                                  "destination": fx.p("tree"), "recursive": true}),
        );
        assert_eq!(out["files"], 2);
        assert_eq!(out["skipped"], json!(["ln"]));
        assert_eq!(std::fs::read_to_string(fx.root.join("tree/sub/b.txt")).unwrap(), "bb");
        assert!(!exists(&fx.root.join("tree/ln")));
        fx.err(
            T,
            json!({"operation": "copy", "path": fx.p("src"),
                         "destination": fx.p("src/sub/x"), "recursive": true}),
            ErrorType::Validation,
        );
        fx.err(
            T,
            json!({"operation": "copy", "path": fx.p("src/a.txt"),
                         "destination": fx.p("src/a.txt")}),
            ErrorType::Validation,
        );
        fx.err(
            T,
            json!({"operation": "copy", "path": fx.p("nope"),
                         "destination": fx.p("x")}),
            ErrorType::NotFound,
        );
    }

    #[test]
    fn move_files_dirs_and_links() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("a.txt"), "a").unwrap();
        fx.ok(
            T,
            json!({"operation": "move", "path": fx.p("a.txt"),
                        "destination": fx.p("new/b.txt"), "create_dirs": true}),
        );
        assert!(!exists(&fx.root.join("a.txt")));
        assert_eq!(std::fs::read_to_string(fx.root.join("new/b.txt")).unwrap(), "a");
        std::fs::write(fx.root.join("c.txt"), "c").unwrap();
        fx.err(
            T,
            json!({"operation": "move", "path": fx.p("c.txt"),
                         "destination": fx.p("new/b.txt")}),
            ErrorType::Execution,
        );
        fx.ok(
            T,
            json!({"operation": "move", "path": fx.p("c.txt"),
                        "destination": fx.p("new/b.txt"), "overwrite": true}),
        );
        assert_eq!(std::fs::read_to_string(fx.root.join("new/b.txt")).unwrap(), "c");
        fx.ok(T, json!({"operation": "move", "path": fx.p("new"), "destination": fx.p("moved")}));
        assert!(fx.root.join("moved/b.txt").is_file());
        // A link pointing out is moved as a link; its target stays where it is.
        fx.ok(
            T,
            json!({"operation": "move", "path": fx.p("out_file"),
                        "destination": fx.p("moved/link")}),
        );
        assert!(std::fs::symlink_metadata(fx.root.join("moved/link")).unwrap().is_symlink());
        fx.outside_untouched();
        let e = fx.err(
            T,
            json!({"operation": "move", "path": fx.p("."),
                                 "destination": fx.p("elsewhere")}),
            ErrorType::Permission,
        );
        assert!(e.message.contains("allowed root"), "{e}");
    }

    #[test]
    fn delete_files_links_and_dirs() {
        let fx = Fx::new();
        std::fs::create_dir_all(fx.root.join("d/e")).unwrap();
        std::fs::write(fx.root.join("d/e/x"), "x").unwrap();
        std::fs::write(fx.root.join("f"), "f").unwrap();
        std::os::unix::fs::symlink(&fx.outside, fx.root.join("d/e/out")).unwrap();
        let out = fx.ok(T, json!({"operation": "delete", "path": fx.p("f")}));
        assert_eq!(out["deleted"], true);
        assert!(!exists(&fx.root.join("f")));
        let e = fx.err(T, json!({"operation": "delete", "path": fx.p("d")}), ErrorType::Validation);
        assert!(e.message.contains("recursive"), "{e}");
        let out = fx.ok(T, json!({"operation": "delete", "path": fx.p("d"), "recursive": true}));
        assert_eq!(out["files"], 2);
        assert_eq!(out["dirs"], 2);
        assert!(!exists(&fx.root.join("d")));
        // Deleting a link removes the link, never what it points to.
        fx.ok(T, json!({"operation": "delete", "path": fx.p("out_dir")}));
        fx.ok(T, json!({"operation": "delete", "path": fx.p("out_file")}));
        assert!(!exists(&fx.root.join("out_file")));
        fx.outside_untouched();
        let e = fx.err(
            T,
            json!({"operation": "delete", "path": fx.p("."), "recursive": true}),
            ErrorType::Permission,
        );
        assert!(e.message.contains("allowed root"), "{e}");
        assert!(fx.root.is_dir());
    }

    #[test]
    fn metadata_exists_and_mkdir() {
        use std::os::unix::fs::PermissionsExt;
        let fx = Fx::new();
        std::fs::write(fx.root.join("m.txt"), "12345").unwrap();
        std::fs::set_permissions(fx.root.join("m.txt"), std::fs::Permissions::from_mode(0o640))
            .unwrap();
        let out = fx.ok(T, json!({"operation": "metadata", "path": fx.p("m.txt")}));
        assert_eq!(out["type"], "file");
        assert_eq!(out["size"], 5);
        assert_eq!(out["permissions"], "0640");
        assert_eq!(out["is_symlink"], false);
        let modified = out["modified"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(modified).is_ok(), "{modified}");
        let out = fx.ok(T, json!({"operation": "metadata", "path": fx.p("out_file")}));
        assert_eq!(out["is_symlink"], true);
        assert_eq!(out["type"], "symlink");
        assert!(out["target"].as_str().unwrap().ends_with("outside/secret.txt"));
        let out = fx.ok(T, json!({"operation": "exists", "path": fx.p("m.txt")}));
        assert_eq!(out, json!({"path": fx.p("m.txt"), "exists": true, "type": "file"}));
        let out = fx.ok(T, json!({"operation": "exists", "path": fx.p("nope/deeper")}));
        assert_eq!(out["exists"], false);
        let out = fx.ok(T, json!({"operation": "mkdir", "path": fx.p("x/y/z")}));
        assert_eq!(out["created"], true);
        assert!(fx.root.join("x/y/z").is_dir());
        let out = fx.ok(T, json!({"operation": "mkdir", "path": fx.p("x/y/z")}));
        assert_eq!(out["created"], false);
        fx.err(T, json!({"operation": "mkdir", "path": fx.p("m.txt")}), ErrorType::Execution);
    }

    #[test]
    fn every_escape_is_refused_and_nothing_is_written_outside() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("in.txt"), "in").unwrap();
        std::fs::create_dir(fx.root.join("dir")).unwrap();
        let secret = fx.outside.join("secret.txt").to_string_lossy().into_owned();
        let out_dir = fx.outside.to_string_lossy().into_owned();
        let dotdot = fx.p("../outside/secret.txt");
        let dotdot_new = fx.p("dir/../../outside/new.txt");
        let via_link = fx.p("out_dir/secret.txt");
        let via_link_new = fx.p("out_dir/new.txt");
        let link_file = fx.p("out_file");
        let cases = [
            json!({"operation": "read", "path": dotdot}),
            json!({"operation": "read", "path": secret}),
            json!({"operation": "read", "path": via_link}),
            json!({"operation": "read", "path": link_file}),
            json!({"operation": "read", "path": "/etc/passwd"}),
            json!({"operation": "write", "path": dotdot_new, "content": "x"}),
            json!({"operation": "write", "path": via_link_new, "content": "x"}),
            json!({"operation": "write", "path": link_file, "content": "x"}),
            json!({"operation": "write", "path": format!("{out_dir}/new.txt"), "content": "x"}),
            json!({"operation": "append", "path": link_file, "content": "x"}),
            json!({"operation": "append", "path": via_link_new, "content": "x"}),
            json!({"operation": "list", "path": fx.p("out_dir")}),
            json!({"operation": "list", "path": out_dir}),
            json!({"operation": "list", "path": fx.p("..")}),
            json!({"operation": "copy", "path": fx.p("in.txt"), "destination": via_link_new}),
            json!({"operation": "copy", "path": fx.p("in.txt"), "destination": link_file,
                   "overwrite": true}),
            json!({"operation": "copy", "path": fx.p("in.txt"), "destination": fx.p("out_dir")}),
            json!({"operation": "copy", "path": fx.p("in.txt"), "destination": dotdot_new}),
            json!({"operation": "copy", "path": link_file, "destination": fx.p("stolen.txt")}),
            json!({"operation": "copy", "path": fx.p("dir"), "destination": fx.p("out_dir"),
                   "recursive": true}),
            json!({"operation": "move", "path": fx.p("in.txt"), "destination": via_link_new}),
            json!({"operation": "move", "path": secret, "destination": fx.p("stolen.txt")}),
            json!({"operation": "delete", "path": via_link}),
            json!({"operation": "delete", "path": secret}),
            json!({"operation": "metadata", "path": via_link}),
            json!({"operation": "exists", "path": via_link}),
            json!({"operation": "exists", "path": "/etc/passwd"}),
            json!({"operation": "mkdir", "path": via_link_new}),
            json!({"operation": "mkdir", "path": fx.p("dir/new/../../../outside/x")}),
        ];
        for params in cases {
            fx.err(T, params, ErrorType::Permission);
        }
        fx.outside_untouched();
        assert!(!exists(&fx.root.join("stolen.txt")));
        assert_eq!(std::fs::read_to_string(fx.root.join("in.txt")).unwrap(), "in");
    }

    #[test]
    fn a_copy_that_times_out_stops_and_leaves_no_partial_file() {
        let fx = Fx::new();
        // 4 GiB, sparse: reading it costs no disk; copying it all would take many seconds.
        let big = std::fs::File::create(fx.root.join("big")).unwrap();
        big.set_len(4 << 30).unwrap();
        let params = json!({"operation": "copy", "path": fx.p("big"), "destination": fx.p("copy")});
        let e = fx.r.invoke(T, params.clone(), Some(Duration::from_millis(200))).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(eventually(10, || !exists(&fx.root.join("copy"))), "the copy kept going");
        // Cancelled in the middle of the copy, the tool stops and removes its partial output.
        let (seen, result) =
            cancel_while_working(&fx, T, params, || size(&fx.root.join("copy")) > 0);
        assert!(seen, "the copy never started");
        assert_eq!(result.unwrap_err().error_type, ErrorType::Timeout);
        assert!(!exists(&fx.root.join("copy")), "a partial copy was left");
    }

    #[test]
    fn fifos_and_devices_are_refused_instead_of_blocking() {
        let fx = Fx::new();
        fifo(&fx.root.join("pipe"));
        for params in [
            json!({"operation": "read", "path": fx.p("pipe")}),
            json!({"operation": "write", "path": fx.p("pipe"), "content": "x"}),
            json!({"operation": "append", "path": fx.p("pipe"), "content": "x"}),
            json!({"operation": "copy", "path": fx.p("pipe"), "destination": fx.p("c")}),
        ] {
            let e = fx.err(T, params, ErrorType::Validation);
            assert!(e.message.contains("not a regular file"), "{e}");
        }
        let out = fx.ok(T, json!({"operation": "metadata", "path": fx.p("pipe")}));
        assert_eq!(out["type"], "other");
        let out = fx.ok(T, json!({"operation": "list", "path": fx.p("")}));
        assert!(out["entries"].as_array().unwrap().iter().any(|e| e["name"] == "pipe"));
    }
}

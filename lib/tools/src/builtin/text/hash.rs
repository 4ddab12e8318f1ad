//! hash_calculator: MD5, SHA-1, SHA-256, SHA-512 and BLAKE3 of text or of a file (streamed in
//! chunks, so any size, and stopped at the deadline), and verifying a hash.

use std::io::Read;

use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;

use crate::context::Context;
use crate::error::{ErrorType, ToolError, io_error};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const CHUNK: usize = 64 * 1024;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "hash_calculator",
        category: "crypto",
        description: "Computes the md5, sha1, sha256, sha512 or blake3 hash of text or of a file, \
                      as hex (and base64 on request), or verifies a file or text against an \
                      expected hash.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["hash", "verify"],
                    "description": "hash (default) or verify (compare with expected)."
                },
                "algorithm": {
                    "type": "string",
                    "enum": ["md5", "sha1", "sha256", "sha512", "blake3"],
                    "description": "The hash function (default sha256)."
                },
                "input": {
                    "type": "string",
                    "description": "The text to hash (its UTF-8 bytes); give this or path."
                },
                "path": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A file to hash, read in chunks (any size); give this or \
                        input."
                },
                "base64": {
                    "type": "boolean",
                    "description": "hash: also give the digest in standard base64 (default \
                        false)."
                },
                "expected": {
                    "type": "string",
                    "minLength": 1,
                    "description": "verify: the expected hash in hex (upper or lower case)."
                }
            },
            "allOf": [{
                "if": {"properties": {"operation": {"const": "verify"}},
                       "required": ["operation"]},
                "then": {"required": ["expected"]}
            }],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "SHA-256 of a text",
                json!({"input": "hello"}),
                json!({"algorithm": "sha256", "bytes": 5, "hash":
                    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"}),
            ),
            Example::new(
                "MD5 with base64",
                json!({"input": "hello", "algorithm": "md5", "base64": true}),
                json!({"hash": "5d41402abc4b2a76b9719d911017c592",
                       "base64": "XUFAKrxLKna5cZ2REBfFkg=="}),
            ),
            Example::new(
                "Verify a SHA-1, case-insensitively",
                json!({"operation": "verify", "input": "hello", "algorithm": "sha1",
                       "expected": "AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D"}),
                json!({"matches": true}),
            ),
            Example::fails(
                "An unknown algorithm",
                json!({"input": "hello", "algorithm": "crc32"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// One of the supported hash functions, in progress.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn new(algorithm: &str) -> Result<Hasher, ToolError> {
        Ok(match algorithm {
            "md5" => Hasher::Md5(md5::Md5::new()),
            "sha1" => Hasher::Sha1(sha1::Sha1::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            "blake3" => Hasher::Blake3(Box::new(blake3::Hasher::new())),
            other => {
                return Err(ToolError::validation(format!(
                    "parameter \"algorithm\": unknown algorithm {other:?}"
                )));
            }
        })
    }

    /// Length of the digest in bytes.
    fn digest_len(&self) -> usize {
        match self {
            Hasher::Md5(_) => 16,
            Hasher::Sha1(_) => 20,
            Hasher::Sha256(_) | Hasher::Blake3(_) => 32,
            Hasher::Sha512(_) => 64,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
            Hasher::Blake3(h) => {
                h.update(data);
            }
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
            Hasher::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let algorithm = p.str_or("algorithm", "sha256")?;
    let mut hasher = Hasher::new(algorithm)?;
    let verify = p.str_or("operation", "hash")? == "verify";
    let expected = if verify {
        let expected = p.str("expected")?.trim();
        let want = hasher.digest_len() * 2;
        if expected.len() != want || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ToolError::validation(format!(
                "parameter \"expected\" must be {want} hex digits for {algorithm}, \
                 got {} characters{}",
                expected.chars().count(),
                if expected.bytes().all(|b| b.is_ascii_hexdigit()) { "" } else { " (not hex)" }
            )));
        }
        Some(expected)
    } else {
        None
    };
    let bytes = match (p.opt_str("input")?, p.opt_str("path")?) {
        (Some(_), Some(_)) => {
            return Err(ToolError::validation("give either \"input\" or \"path\", not both"));
        }
        (None, None) => {
            return Err(ToolError::validation("parameter \"input\" or \"path\" is required"));
        }
        (Some(text), None) => {
            hasher.update(text.as_bytes());
            text.len() as u64
        }
        (None, Some(path)) => hash_file(&mut hasher, path, cx)?,
    };
    let digest = hasher.finish();
    let hex = hex::encode(&digest);
    let mut out = json!({"algorithm": algorithm, "hash": hex, "bytes": bytes});
    if let Some(expected) = expected {
        out["matches"] = json!(expected.eq_ignore_ascii_case(&hex));
        out["expected"] = json!(expected.to_ascii_lowercase());
    } else if p.bool_or("base64", false)? {
        out["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(&digest));
    }
    Ok(out)
}

/// Feeds the file at `path` to `hasher` chunk by chunk; the number of bytes read.
fn hash_file(hasher: &mut Hasher, path: &str, cx: &Context) -> Result<u64, ToolError> {
    let real = cx.path(path)?;
    let meta = std::fs::metadata(&real).map_err(|e| io_error(e, Some(&real)))?;
    if meta.is_dir() {
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is a directory, not a file",
            real.display()
        )));
    }
    if !meta.is_file() {
        // a FIFO or socket could block the open or a read past any deadline
        return Err(ToolError::validation(format!(
            "parameter \"path\": {} is not a regular file",
            real.display()
        )));
    }
    let mut file = std::fs::File::open(&real).map_err(|e| io_error(e, Some(&real)))?;
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        cx.check()?;
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e, Some(&real))),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry, registry_in};
    use crate::ErrorType;

    const VECTORS: [(&str, &str); 5] = [
        ("md5", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("sha256", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "sha512",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        ("blake3", "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"),
    ];

    #[test]
    fn known_vectors_for_text() {
        let r = registry();
        for (algorithm, want) in VECTORS {
            let v = ok(&r, "hash_calculator", json!({"input": "abc", "algorithm": algorithm}));
            assert_eq!(v["hash"], want, "{algorithm}");
            assert_eq!(v["bytes"], 3);
            assert!(v.get("base64").is_none());
        }
        let v = ok(&r, "hash_calculator", json!({"input": ""}));
        assert_eq!(v["hash"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let v = ok(&r, "hash_calculator", json!({"input": "abc", "base64": true}));
        assert_eq!(v["base64"], "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    }

    #[test]
    fn files_hash_like_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry_in(dir.path());
        // bigger than one chunk, not a multiple of it
        let data = "0123456789abcdef".repeat(10_000) + "tail";
        std::fs::write(dir.path().join("f.txt"), &data).unwrap();
        for (algorithm, _) in VECTORS {
            let from_file =
                ok(&r, "hash_calculator", json!({"path": "f.txt", "algorithm": algorithm}));
            let from_text =
                ok(&r, "hash_calculator", json!({"input": data, "algorithm": algorithm}));
            assert_eq!(from_file["hash"], from_text["hash"], "{algorithm}");
            assert_eq!(from_file["bytes"], data.len());
        }
        let abs = dir.path().join("f.txt");
        let v = ok(&r, "hash_calculator", json!({"path": abs.to_str().unwrap()}));
        assert_eq!(v["bytes"], data.len());
    }

    #[test]
    fn verify_compares_case_insensitively() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry_in(dir.path());
        std::fs::write(dir.path().join("abc"), "abc").unwrap();
        for (algorithm, want) in VECTORS {
            for expected in [want.to_string(), want.to_uppercase(), format!(" {want}\n")] {
                let v = ok(
                    &r,
                    "hash_calculator",
                    json!({"operation": "verify", "path": "abc",
                    "algorithm": algorithm, "expected": expected}),
                );
                assert_eq!(v["matches"], true, "{algorithm}");
                assert_eq!(v["hash"], want);
            }
        }
        let wrong = "0".repeat(64);
        let v = ok(
            &r,
            "hash_calculator",
            json!({"operation": "verify", "input": "abc", "expected": wrong}),
        );
        assert_eq!(v["matches"], false);
        fails(
            &r,
            "hash_calculator",
            json!({"operation": "verify", "input": "abc", "expected": VECTORS[1].1}),
            ErrorType::Validation,
            &["\"expected\" must be 64 hex digits for sha256", "40"],
        );
        fails(
            &r,
            "hash_calculator",
            json!({"operation": "verify", "input": "abc", "algorithm": "md5",
                     "expected": "z".repeat(32)}),
            ErrorType::Validation,
            &["not hex"],
        );
        fails(
            &r,
            "hash_calculator",
            json!({"operation": "verify", "input": "abc"}),
            ErrorType::Validation,
            &["expected", "required"],
        );
    }

    #[test]
    fn file_errors() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        let r = registry_in(&inner);
        fails(
            &r,
            "hash_calculator",
            json!({"path": "missing.bin"}),
            ErrorType::NotFound,
            &["missing.bin"],
        );
        fails(
            &r,
            "hash_calculator",
            json!({"path": "../secret"}),
            ErrorType::Permission,
            &["outside the allowed paths"],
        );
        std::os::unix::fs::symlink(dir.path().join("secret"), inner.join("link")).unwrap();
        fails(&r, "hash_calculator", json!({"path": "link"}), ErrorType::Permission, &[]);
        fails(
            &r,
            "hash_calculator",
            json!({"path": "."}),
            ErrorType::Validation,
            &["is a directory"],
        );
        let made = std::process::Command::new("mkfifo").arg(inner.join("fifo")).status();
        if made.is_ok_and(|s| s.success()) {
            fails(
                &r,
                "hash_calculator",
                json!({"path": "fifo"}),
                ErrorType::Validation,
                &["not a regular file"],
            );
        }
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "hash_calculator", params, ErrorType::Validation, needles)
        };
        f(json!({}), &["\"input\" or \"path\" is required"]);
        f(json!({"input": "a", "path": "b"}), &["not both"]);
        f(json!({"input": "a", "algorithm": "sha3"}), &["/algorithm", "enum"]);
        f(json!({"input": 5}), &["/input", "type"]);
        f(json!({"input": "a", "operation": "crack"}), &["/operation", "enum"]);
    }

    /// Names of this process's threads that are hashing.
    fn hashing_threads() -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .filter(|name| name.starts_with("tool hash_calc"))
            .count()
    }

    #[test]
    fn a_timeout_stops_hashing_a_huge_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.bin");
        // sparse: 1 TiB of zeros takes no disk but hours to hash
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(1 << 40).unwrap();
        drop(file);
        let r = registry_in(dir.path());
        let started = Instant::now();
        let e = r
            .invoke(
                "hash_calculator",
                json!({"path": "huge.bin", "algorithm": "sha512"}),
                Some(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        // the tool thread itself ends, not only the wait for it
        let deadline = Instant::now() + Duration::from_secs(20);
        while hashing_threads() > 0 {
            assert!(Instant::now() < deadline, "the hashing thread kept running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

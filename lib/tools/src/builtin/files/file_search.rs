//! file_search: files by glob under a directory, optionally grepped with a regex.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::{MAX_READ, example_path, shown};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError, io_error};

/// Longest line text returned (in characters); longer lines are cut.
const MAX_LINE: usize = 1000;

pub(super) fn tool() -> ToolDef {
    let tmp = std::env::temp_dir().to_string_lossy().into_owned();
    ToolDef {
        name: "file_search",
        category: "files",
        description: "Finds files by glob pattern under a directory and optionally greps their \
                      contents with a regular expression, returning matching lines with line \
                      numbers and context lines; binary files are skipped.",
        schema: json!({
            "type": "object",
            "properties": {
                "path": {
                    "type": "string",
                    "description": "The directory to search (or a single file to grep)"
                },
                "pattern": {
                    "type": "string",
                    "description": "Glob for the files, e.g. \"*.rs\" or \"src/**/*.md\"; \
                                    without a `/` it matches file names at any depth, with one \
                                    it matches paths relative to `path` (default \"*\")"
                },
                "regex": {
                    "type": "string",
                    "description": "Regular expression (Rust regex syntax) to find in the \
                                    files' lines; without it, the matching files are listed"
                },
                "case_insensitive": {
                    "type": "boolean",
                    "description": "Match the regex (not the glob) ignoring case (default false)"
                },
                "context_lines": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 20,
                    "description": "Lines of context before and after each match (default 0)"
                },
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10000,
                    "description": "Stop after this many files or matches (default 200)"
                },
                "max_depth": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 64,
                    "description": "How many directory levels to descend (default 32)"
                },
                "include_hidden": {
                    "type": "boolean",
                    "description": "Also search files and directories whose names start with a \
                                    dot (default false)"
                },
                "max_file_size": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_READ,
                    "description": "Files larger than this many bytes are not grepped \
                                    (default 16 MiB)"
                }
            },
            "required": ["path"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "a glob that matches nothing in the temp dir",
                json!({"path": tmp, "pattern": "llmspell-example-no-such-file-*.none",
                       "max_depth": 1}),
                json!({"matches": [], "count": 0, "truncated": false}),
            ),
            Example::fails(
                "an invalid regex",
                json!({"path": tmp, "regex": "(unclosed", "max_depth": 1}),
                ErrorType::Validation,
            ),
            Example::fails(
                "a directory that does not exist",
                json!({"path": example_path("llmspell-example-no-such-dir-5e2a")}),
                ErrorType::NotFound,
            ),
        ],
        run,
    }
}

struct Search {
    regex: Option<regex::Regex>,
    context: usize,
    max_results: usize,
    max_file_size: u64,
    matches: Vec<Value>,
    files_scanned: u64,
    skipped_binary: u64,
    skipped_large: u64,
    truncated: bool,
    errors: Vec<String>,
}

impl Search {
    fn full(&self) -> bool {
        self.matches.len() >= self.max_results
    }

    /// Lists or greps one regular file.
    fn file(&mut self, cx: &Context, path: &Path) -> Result<(), ToolError> {
        self.files_scanned += 1;
        let Some(regex) = &self.regex else {
            let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            self.matches.push(json!({"path": shown(path), "size": size}));
            return Ok(());
        };
        match fs::metadata(path) {
            Ok(m) if m.len() > self.max_file_size => {
                self.skipped_large += 1;
                return Ok(());
            }
            Ok(_) => {}
            Err(e) => return self.error(io_error(e, Some(path))),
        }
        let bytes = match fs::read(path) {
            Ok(b) => b,
            Err(e) => return self.error(io_error(e, Some(path))),
        };
        if bytes.iter().take(8192).any(|b| *b == 0) {
            self.skipped_binary += 1;
            return Ok(());
        }
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().collect();
        let clip = |line: &str| -> String {
            match line.char_indices().nth(MAX_LINE) {
                Some((at, _)) => format!("{}…", &line[..at]),
                None => line.to_owned(),
            }
        };
        for (i, line) in lines.iter().enumerate() {
            if i % 4096 == 0 {
                cx.check()?;
            }
            if !regex.is_match(line) {
                continue;
            }
            let before = &lines[i.saturating_sub(self.context)..i];
            let after = &lines[i + 1..(i + 1 + self.context).min(lines.len())];
            self.matches.push(json!({
                "path": shown(path),
                "line": i + 1,
                "text": clip(line),
                "before": before.iter().map(|l| clip(l)).collect::<Vec<_>>(),
                "after": after.iter().map(|l| clip(l)).collect::<Vec<_>>(),
            }));
            if self.full() {
                self.truncated = i + 1 < lines.len();
                break;
            }
        }
        Ok(())
    }

    /// Unreadable files do not stop the search; the first few are reported.
    fn error(&mut self, e: ToolError) -> Result<(), ToolError> {
        if self.errors.len() < 20 {
            self.errors.push(e.message);
        }
        Ok(())
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let root = cx.path(p.str("path")?)?;
    let meta = fs::metadata(&root).map_err(|e| io_error(e, Some(&root)))?;
    let pattern = p.str_or("pattern", "*")?;
    let glob = globset::GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| ToolError::validation(format!("parameter \"pattern\": {e}")))?
        .compile_matcher();
    let by_name = !pattern.contains('/');
    let regex = match p.opt_str("regex")? {
        None => None,
        Some(r) => Some(
            regex::RegexBuilder::new(r)
                .case_insensitive(p.bool_or("case_insensitive", false)?)
                .size_limit(16 << 20)
                .build()
                .map_err(|e| {
                    let e = e.to_string().replace('\n', " ");
                    ToolError::validation(format!("parameter \"regex\": {e}"))
                })?,
        ),
    };
    let mut search = Search {
        regex,
        context: p.u64_or("context_lines", 0)? as usize,
        max_results: p.u64_or("max_results", 200)? as usize,
        max_file_size: p.u64_or("max_file_size", 16 << 20)?,
        matches: Vec::new(),
        files_scanned: 0,
        skipped_binary: 0,
        skipped_large: 0,
        truncated: false,
        errors: Vec::new(),
    };
    if meta.is_file() {
        search.file(cx, &root)?;
    } else {
        let hidden = p.bool_or("include_hidden", false)?;
        let walker = walkdir::WalkDir::new(&root)
            .follow_links(false)
            .max_depth(p.u64_or("max_depth", 32)? as usize)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                hidden || e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
            });
        for entry in walker {
            cx.check()?;
            if search.full() {
                search.truncated = true;
                break;
            }
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    search.error(ToolError::execution(e.to_string()))?;
                    continue;
                }
            };
            // Symlinks are neither followed nor read: they may point out of the roots.
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path());
            let hit = if by_name {
                glob.is_match(Path::new(entry.file_name()))
            } else {
                glob.is_match(rel)
            };
            if hit {
                search.file(cx, entry.path())?;
            }
        }
    }
    Ok(json!({
        "path": shown(&root),
        "count": search.matches.len(),
        "matches": search.matches,
        "files_scanned": search.files_scanned,
        "skipped_binary": search.skipped_binary,
        "skipped_large": search.skipped_large,
        "truncated": search.truncated,
        "errors": search.errors,
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::testing::Fx;
    use crate::{Context, ErrorType, Policy};

    const T: &str = "file_search";

    fn tree(fx: &Fx) {
        let r = &fx.root;
        std::fs::create_dir_all(r.join("src/deep")).unwrap();
        std::fs::create_dir_all(r.join(".hidden")).unwrap();
        std::fs::write(r.join("src/main.rs"), "fn main() {\n    let x = 1;\n    todo!();\n}\n")
            .unwrap();
        std::fs::write(r.join("src/deep/lib.rs"), "// TODO: one\nline2\nline3\n// todo two\n")
            .unwrap();
        std::fs::write(r.join("notes.md"), "a TODO in markdown\r\nsecond\r\n").unwrap();
        std::fs::write(r.join(".hidden/h.rs"), "TODO hidden\n").unwrap();
        std::fs::write(r.join("bin.rs"), b"TODO\0binary").unwrap();
    }

    fn paths(out: &serde_json::Value, fx: &Fx) -> Vec<String> {
        let prefix = format!("{}/", fx.root.display());
        out["matches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["path"].as_str().unwrap().strip_prefix(&prefix).unwrap().to_owned())
            .collect()
    }

    #[test]
    fn globs_by_name_and_by_path() {
        let fx = Fx::new();
        tree(&fx);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "*.rs"}));
        assert_eq!(paths(&out, &fx), ["bin.rs", "src/deep/lib.rs", "src/main.rs"]);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "*.rs", "include_hidden": true}));
        assert_eq!(out["count"], 4);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "src/*.rs"}));
        assert_eq!(paths(&out, &fx), ["src/main.rs"]);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "src/**/*.rs"}));
        assert_eq!(paths(&out, &fx), ["src/deep/lib.rs", "src/main.rs"]);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "*.rs", "max_depth": 2}));
        assert_eq!(paths(&out, &fx), ["bin.rs", "src/main.rs"]);
        let out = fx.ok(T, json!({"path": fx.p(""), "pattern": "*", "max_results": 2}));
        assert_eq!(out["count"], 2);
        assert_eq!(out["truncated"], true);
        assert!(out["matches"][0]["size"].is_u64());
    }

    #[test]
    fn grep_with_line_numbers_and_context() {
        let fx = Fx::new();
        tree(&fx);
        let out = fx.ok(
            T,
            json!({"path": fx.p(""), "regex": "todo", "case_insensitive": true,
                                  "context_lines": 1}),
        );
        assert_eq!(
            paths(&out, &fx),
            ["notes.md", "src/deep/lib.rs", "src/deep/lib.rs", "src/main.rs"]
        );
        assert_eq!(out["skipped_binary"], 1);
        let m = &out["matches"];
        assert_eq!(m[0]["text"], "a TODO in markdown");
        assert_eq!(m[0]["after"], json!(["second"]));
        assert_eq!(m[1]["line"], 1);
        assert_eq!(m[1]["before"], json!([]));
        assert_eq!(m[2]["line"], 4);
        assert_eq!(m[2]["before"], json!(["line3"]));
        assert_eq!(m[2]["after"], json!([]));
        assert_eq!(m[3]["line"], 3);
        assert_eq!(m[3]["text"], "    todo!();");
        assert_eq!(m[3]["before"], json!(["    let x = 1;"]));
        let out = fx.ok(T, json!({"path": fx.p(""), "regex": "TODO", "pattern": "*.rs"}));
        assert_eq!(paths(&out, &fx), ["src/deep/lib.rs"]);
        // A single file can be grepped directly.
        let out = fx.ok(T, json!({"path": fx.p("src/main.rs"), "regex": "^}"}));
        assert_eq!(out["matches"][0]["line"], 4);
        let out = fx.ok(T, json!({"path": fx.p(""), "regex": "line", "max_file_size": 10}));
        assert_eq!(out["count"], 0);
        assert!(out["skipped_large"].as_u64().unwrap() >= 2);
        let out = fx.ok(T, json!({"path": fx.p(""), "regex": "o", "max_results": 3}));
        assert_eq!(out["count"], 3);
        assert_eq!(out["truncated"], true);
    }

    #[test]
    fn bad_parameters_and_missing_paths() {
        let fx = Fx::new();
        let e = fx.err(T, json!({"path": fx.p(""), "regex": "a("}), ErrorType::Validation);
        assert!(e.message.contains("\"regex\""), "{e}");
        let e = fx.err(T, json!({"path": fx.p(""), "pattern": "a[b"}), ErrorType::Validation);
        assert!(e.message.contains("\"pattern\""), "{e}");
        let e = fx.err(T, json!({"path": fx.p(""), "context_lines": 99}), ErrorType::Validation);
        assert!(e.message.contains("context_lines"), "{e}");
        fx.err(T, json!({"pattern": "*"}), ErrorType::Validation);
        fx.err(T, json!({"path": fx.p("nope")}), ErrorType::NotFound);
    }

    #[test]
    fn links_out_of_the_root_are_neither_followed_nor_read() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("own.txt"), "secret too\n").unwrap();
        let out = fx.ok(T, json!({"path": fx.p(""), "regex": "secret"}));
        assert_eq!(paths(&out, &fx), ["own.txt"]);
        for bad in [
            fx.p("out_dir"),
            fx.p("out_file"),
            fx.p("../outside"),
            fx.outside.to_string_lossy().into_owned(),
        ] {
            fx.err(T, json!({"path": bad, "regex": "secret"}), ErrorType::Permission);
        }
    }

    #[test]
    fn a_search_stops_at_its_deadline() {
        let fx = Fx::new();
        let line = "nothing to see on this line at all, keep looking\n".repeat(20_000);
        for i in 0..10 {
            std::fs::write(fx.root.join(format!("f{i}.txt")), &line).unwrap();
        }
        let params = json!({"path": fx.p(""), "regex": "needle", "context_lines": 3});
        let e = fx.r.invoke(T, params.clone(), Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        // Run synchronously: the tool itself returns the timeout instead of finishing.
        let policy =
            Policy::with(fx.root.clone(), vec![fx.root.clone()], vec![], Duration::from_secs(1));
        let cx = Context::new(Arc::new(policy), Duration::from_millis(1));
        let params = fx.r.validate(T, params).unwrap();
        let started = Instant::now();
        let e = (fx.r.info(T).unwrap().run)(&params, &cx).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

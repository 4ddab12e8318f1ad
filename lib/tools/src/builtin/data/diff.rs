//! diff_calculator: unified line diffs of texts or files (similar), and structural diffs of
//! JSON values as JSON-pointer changes.

use std::borrow::Cow;

use serde_json::{Map, Value, json};
use similar::{Algorithm, ChangeTag, TextDiff, WhitespaceMode};

use super::{MAX_JSON_DEPTH, check_depth, read_text_file};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// Files larger than this are not diffed.
const MAX_DIFF_FILE: u64 = 16 * 1024 * 1024;
const DEFAULT_MAX_CHANGES: u64 = 1000;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "diff_calculator",
        category: "data",
        description: "Compares two texts or two files and returns a unified diff with \
                      insertion and deletion counts (operation text), or compares two JSON \
                      values and lists the add, remove and replace changes by JSON pointer \
                      (operation json).",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["text", "json"],
                    "description": "text: line diff; json: structural diff (default text)"
                },
                "old": {
                    "description": "The old side: a string for text, any JSON value for json \
                                    (or give old_path)"
                },
                "new": {
                    "description": "The new side: a string for text, any JSON value for json \
                                    (or give new_path)"
                },
                "old_path": {
                    "type": "string",
                    "description": "A file to read the old side from (text, or JSON for \
                                    operation json; at most 16 MiB)"
                },
                "new_path": {
                    "type": "string",
                    "description": "A file to read the new side from (at most 16 MiB)"
                },
                "context_lines": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10000,
                    "description": "text: unchanged lines shown around each change (default 3)"
                },
                "algorithm": {
                    "type": "string",
                    "enum": ["myers", "patience", "histogram", "lcs"],
                    "description": "text: the diff algorithm (default myers)"
                },
                "whitespace": {
                    "type": "string",
                    "enum": ["exact", "ignore_changes", "ignore_all"],
                    "description": "text: exact, ignore changes in the amount of whitespace \
                                    (git -b), or ignore all whitespace (git -w) (default exact)"
                },
                "max_changes": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "json: list at most this many changes (default 1000)"
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "a unified diff of two texts",
                json!({"old": "a\nb\nc\n", "new": "a\nB\nc\nd\n"}),
                json!({
                    "diff": "--- old\n+++ new\n@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d\n",
                    "changes": {"insertions": 2, "deletions": 1},
                    "identical": false
                }),
            ),
            Example::new(
                "identical texts",
                json!({"old": "same\n", "new": "same\n"}),
                json!({"diff": "", "identical": true}),
            ),
            Example::new(
                "a JSON diff",
                json!({
                    "operation": "json",
                    "old": {"name": "a", "tags": ["x"], "gone": 1},
                    "new": {"name": "b", "tags": ["x", "y"]}
                }),
                json!({
                    "changes": [
                        {"op": "replace", "path": "/name", "old": "a", "new": "b"},
                        {"op": "add", "path": "/tags/1", "new": "y"},
                        {"op": "remove", "path": "/gone", "old": 1}
                    ],
                    "identical": false
                }),
            ),
            Example::fails(
                "text diff of something that is not text",
                json!({"old": "a", "new": 5}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    match p.str_or("operation", "text")? {
        "json" => json_diff(p, cx),
        _ => text_diff(p, cx),
    }
}

/// One side: the inline value `key`, or the file `key_path`; exactly one of them.
/// One side of a diff: borrowed from the parameters (a JSON value can be large: copying it would
/// be work the cancel flag cannot stop), or read from a file.
enum Side<'a> {
    Inline(&'a Value),
    File(String, String),
}

fn side<'a>(p: &'a Params, cx: &Context, key: &str) -> Result<Side<'a>, ToolError> {
    let path_key = format!("{key}_path");
    // `null` is a JSON value to compare, so presence is by key.
    let inline = p.as_map().get(key);
    match (inline, p.opt_str(&path_key)?) {
        (Some(_), Some(_)) => {
            Err(ToolError::validation(format!("give either \"{key}\" or \"{path_key}\", not both")))
        }
        (Some(v), None) => Ok(Side::Inline(v)),
        (None, Some(path)) => {
            Ok(Side::File(path.to_owned(), read_text_file(cx, &path_key, path, MAX_DIFF_FILE)?))
        }
        (None, None) => Err(ToolError::validation(format!(
            "the parameter \"{key}\" or \"{path_key}\" is needed"
        ))),
    }
}

fn text_diff(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let text = |key: &str| -> Result<(String, String), ToolError> {
        match side(p, cx, key)? {
            Side::File(path, text) => Ok((path, text)),
            Side::Inline(Value::String(s)) => Ok((key.to_owned(), s.clone())),
            Side::Inline(other) => Err(ToolError::validation(format!(
                "parameter \"{key}\" must be a string for operation text, not {}",
                kind(other)
            ))),
        }
    };
    let (old_label, old) = text("old")?;
    let (new_label, new) = text("new")?;
    let context_lines = p.u64_or("context_lines", 3)? as usize;
    let algorithm = match p.str_or("algorithm", "myers")? {
        "patience" => Algorithm::Patience,
        "histogram" => Algorithm::Histogram,
        "lcs" => Algorithm::Lcs,
        _ => Algorithm::Myers,
    };
    let whitespace = match p.str_or("whitespace", "exact")? {
        "ignore_changes" => WhitespaceMode::IgnoreChanges,
        "ignore_all" => WhitespaceMode::IgnoreAll,
        _ => WhitespaceMode::Exact,
    };
    let diff = TextDiff::configure()
        .algorithm(algorithm)
        .whitespace_mode(whitespace)
        .deadline(cx.deadline())
        .diff_lines(old.as_str(), new.as_str());
    cx.check()?;
    let (mut insertions, mut deletions) = (0u64, 0u64);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => insertions += 1,
            ChangeTag::Delete => deletions += 1,
            ChangeTag::Equal => {}
        }
    }
    let identical = insertions == 0 && deletions == 0;
    let hunks = diff.grouped_ops(context_lines).into_iter().filter(|g| !g.is_empty()).count();
    let text = if identical {
        String::new()
    } else {
        diff.unified_diff().context_radius(context_lines).header(&old_label, &new_label).to_string()
    };
    cx.check()?;
    Ok(json!({
        "diff": text,
        "changes": {"insertions": insertions, "deletions": deletions},
        "identical": identical,
        "hunks": hunks,
        "similarity": (diff.ratio() as f64 * 1000.0).round() / 1000.0,
    }))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn json_diff(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let value = |key: &str| -> Result<Cow<'_, Value>, ToolError> {
        match side(p, cx, key)? {
            Side::Inline(v) => Ok(Cow::Borrowed(v)),
            Side::File(path, text) => serde_json::from_str(&text).map(Cow::Owned).map_err(|e| {
                ToolError::validation(format!(
                    "parameter \"{key}_path\": {path} is not valid JSON: {e}"
                ))
            }),
        }
    };
    let old = value("old")?;
    let new = value("new")?;
    check_depth("old", &old)?;
    check_depth("new", &new)?;
    let max = p.u64_or("max_changes", DEFAULT_MAX_CHANGES)? as usize;
    let mut diff = JsonDiff { cx, depth: 0, changes: Vec::new(), total: 0, max };
    diff.compare(&old, &new, &mut String::new())?;
    let count = diff.total;
    Ok(json!({
        "changes": diff.changes,
        "identical": count == 0,
        "count": count,
        "truncated": count > max,
    }))
}

struct JsonDiff<'a> {
    cx: &'a Context,
    depth: usize,
    changes: Vec<Value>,
    total: usize,
    max: usize,
}

impl JsonDiff<'_> {
    fn push(&mut self, change: Value) {
        self.total += 1;
        if self.changes.len() < self.max {
            self.changes.push(change);
        }
    }

    /// Records how `old` became `new` at `path` (a JSON pointer, extended in place).
    fn compare(&mut self, old: &Value, new: &Value, path: &mut String) -> Result<(), ToolError> {
        self.cx.check()?;
        self.depth += 1;
        if self.depth > MAX_JSON_DEPTH {
            return Err(ToolError::validation(format!(
                "the JSON values are nested more than {MAX_JSON_DEPTH} levels deep"
            )));
        }
        let outcome = self.compare_here(old, new, path);
        self.depth -= 1;
        outcome
    }

    fn compare_here(
        &mut self,
        old: &Value,
        new: &Value,
        path: &mut String,
    ) -> Result<(), ToolError> {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => self.objects(a, b, path),
            (Value::Array(a), Value::Array(b)) => {
                let common = a.len().min(b.len());
                for i in 0..common {
                    let len = path.len();
                    path.push_str(&format!("/{i}"));
                    self.compare(&a[i], &b[i], path)?;
                    path.truncate(len);
                }
                for (i, item) in b.iter().enumerate().skip(common) {
                    self.push(json!({"op": "add", "path": format!("{path}/{i}"), "new": item}));
                }
                // From the end, so that applying the changes in order keeps indexes valid.
                for i in (common..a.len()).rev() {
                    self.push(json!({"op": "remove", "path": format!("{path}/{i}"), "old": a[i]}));
                }
                Ok(())
            }
            (a, b) if same(a, b) => Ok(()),
            (a, b) => {
                self.push(json!({"op": "replace", "path": path.clone(), "old": a, "new": b}));
                Ok(())
            }
        }
    }

    fn objects(
        &mut self,
        a: &Map<String, Value>,
        b: &Map<String, Value>,
        path: &mut String,
    ) -> Result<(), ToolError> {
        for (k, new) in b {
            let len = path.len();
            path.push('/');
            path.push_str(&escape(k));
            match a.get(k) {
                Some(old) => self.compare(old, new, path)?,
                None => self.push(json!({"op": "add", "path": path.clone(), "new": new})),
            }
            path.truncate(len);
        }
        for (k, old) in a {
            if !b.contains_key(k) {
                self.push(
                    json!({"op": "remove", "path": format!("{path}/{}", escape(k)), "old": old}),
                );
            }
        }
        Ok(())
    }
}

/// Equal as JSON: numbers by value (1 and 1.0 are the same).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(i), Some(j)) = (x.as_i64(), y.as_i64()) {
                i == j
            } else if let (Some(i), Some(j)) = (x.as_u64(), y.as_u64()) {
                i == j
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        _ => a == b,
    }
}

/// A key as a JSON pointer token (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use super::super::test_util::{
        assert_err, run_with_deadline, stops_when_cancelled, temp_registry,
    };
    use crate::error::ErrorType;

    #[test]
    fn text_diffs_are_unified_with_counts() {
        let (_d, r) = temp_registry();
        let old = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";
        let new = "one\nTWO\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven\n";
        let out = r.invoke("diff_calculator", json!({"old": old, "new": new}), None).unwrap();
        assert_eq!(out["changes"], json!({"insertions": 2, "deletions": 1}));
        assert_eq!(out["identical"], false);
        assert_eq!(out["hunks"], 2);
        let text = out["diff"].as_str().unwrap();
        assert!(
            text.starts_with("--- old\n+++ new\n@@ -1,5 +1,5 @@\n one\n-two\n+TWO\n"),
            "{text}"
        );
        assert!(text.ends_with(" ten\n+eleven\n"), "{text}");
        let out = r
            .invoke("diff_calculator", json!({"old": old, "new": new, "context_lines": 0}), None)
            .unwrap();
        assert_eq!(
            out["diff"],
            "--- old\n+++ new\n@@ -2 +2 @@\n-two\n+TWO\n@@ -10,0 +11 @@\n+eleven\n"
        );
        let out = r
            .invoke("diff_calculator", json!({"old": old, "new": new, "context_lines": 20}), None)
            .unwrap();
        assert_eq!(out["hunks"], 1);
        let out = r.invoke("diff_calculator", json!({"old": "a\n", "new": "a\n"}), None).unwrap();
        assert_eq!(out["identical"], true);
        assert_eq!(out["diff"], "");
        assert_eq!(out["similarity"], 1.0);
    }

    #[test]
    fn algorithm_and_whitespace_options() {
        let (_d, r) = temp_registry();
        let old = "fn a() {\n  x;\n}\n";
        let new = "fn a() {\n    x;  \n}\n";
        let out = r.invoke("diff_calculator", json!({"old": old, "new": new}), None).unwrap();
        assert_eq!(out["changes"], json!({"insertions": 1, "deletions": 1}));
        let out = r
            .invoke(
                "diff_calculator",
                json!({"old": old, "new": new, "whitespace": "ignore_changes"}),
                None,
            )
            .unwrap();
        assert_eq!(out["identical"], true, "{out}");
        for algorithm in ["myers", "patience", "histogram", "lcs"] {
            let out = r
                .invoke(
                    "diff_calculator",
                    json!({"old": "a\nb\nc\n", "new": "a\nc\nb\n", "algorithm": algorithm}),
                    None,
                )
                .unwrap();
            assert_eq!(out["changes"], json!({"insertions": 1, "deletions": 1}), "{algorithm}");
        }
        let e =
            r.invoke("diff_calculator", json!({"old": "a", "new": "b", "algorithm": "x"}), None);
        assert_err(e, ErrorType::Validation, &["/algorithm", "enum"]);
    }

    #[test]
    fn files_are_read_through_the_policy() {
        let (dir, r) = temp_registry();
        std::fs::write(dir.path().join("a.txt"), "x\ny\n").unwrap();
        std::fs::write(dir.path().join("b.txt"), "x\nz\n").unwrap();
        let out = r
            .invoke("diff_calculator", json!({"old_path": "a.txt", "new_path": "b.txt"}), None)
            .unwrap();
        assert_eq!(out["diff"], "--- a.txt\n+++ b.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n");
        // A file against inline text.
        let out = r
            .invoke("diff_calculator", json!({"old_path": "a.txt", "new": "x\ny\n"}), None)
            .unwrap();
        assert_eq!(out["identical"], true);
        let e = r.invoke("diff_calculator", json!({"old_path": "nope.txt", "new": ""}), None);
        assert_err(e, ErrorType::NotFound, &["nope.txt"]);
        let e = r.invoke("diff_calculator", json!({"old_path": "../x", "new": ""}), None);
        assert_eq!(e.unwrap_err().error_type, ErrorType::Permission);
        let e = r.invoke("diff_calculator", json!({"old_path": "/etc/passwd", "new": ""}), None);
        assert_err(e, ErrorType::Permission, &["/etc/passwd"]);
        let big = dir.path().join("big.txt");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(super::MAX_DIFF_FILE + 1).unwrap();
        let e = r.invoke("diff_calculator", json!({"old_path": "big.txt", "new": ""}), None);
        assert_err(e, ErrorType::Validation, &["old_path", "bytes allowed"]);
    }

    #[test]
    fn bad_parameters_are_validation_errors() {
        let (_d, r) = temp_registry();
        let e = r.invoke("diff_calculator", json!({"old": "a"}), None);
        assert_err(e, ErrorType::Validation, &["\"new\" or \"new_path\""]);
        let e = r.invoke("diff_calculator", json!({"old": "a", "old_path": "x", "new": ""}), None);
        assert_err(e, ErrorType::Validation, &["not both"]);
        let e = r.invoke("diff_calculator", json!({"old": ["a"], "new": "a"}), None);
        assert_err(e, ErrorType::Validation, &["\"old\" must be a string", "an array"]);
        let e =
            r.invoke("diff_calculator", json!({"old": "a", "new": "b", "context_lines": -1}), None);
        assert_err(e, ErrorType::Validation, &["/context_lines", "minimum"]);
    }

    #[test]
    fn json_diffs_list_pointer_changes() {
        let (_d, r) = temp_registry();
        let old = json!({"a": {"b": 1, "c": [1, 2, 3]}, "x/y": true, "t~": null, "n": 1});
        let new = json!({"a": {"b": 2, "c": [1]}, "x/y": false, "t~": null, "n": 1.0, "d": {}});
        let out = r
            .invoke("diff_calculator", json!({"operation": "json", "old": old, "new": new}), None)
            .unwrap();
        assert_eq!(
            out["changes"],
            json!([
                {"op": "replace", "path": "/a/b", "old": 1, "new": 2},
                {"op": "remove", "path": "/a/c/2", "old": 3},
                {"op": "remove", "path": "/a/c/1", "old": 2},
                {"op": "replace", "path": "/x~1y", "old": true, "new": false},
                {"op": "add", "path": "/d", "new": {}}
            ])
        );
        assert_eq!(out["count"], 5);
        let out = r
            .invoke("diff_calculator", json!({"operation": "json", "old": null, "new": [1]}), None)
            .unwrap();
        assert_eq!(out["changes"], json!([{"op": "replace", "path": "", "old": null, "new": [1]}]));
        let out = r
            .invoke(
                "diff_calculator",
                json!({"operation": "json", "old": {"k~": 1}, "new": {"k~": 1}}),
                None,
            )
            .unwrap();
        assert_eq!(out, json!({"changes": [], "identical": true, "count": 0, "truncated": false}));
        let out = r
            .invoke(
                "diff_calculator",
                json!({"operation": "json", "old": [1, 2, 3], "new": [4, 5, 6], "max_changes": 2}),
                None,
            )
            .unwrap();
        assert_eq!(out["changes"].as_array().unwrap().len(), 2);
        assert_eq!(out["count"], 3);
        assert_eq!(out["truncated"], true);
    }

    #[test]
    fn too_deep_json_is_refused() {
        let (_d, r) = temp_registry();
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let e = r.invoke(
            "diff_calculator",
            json!({"operation": "json", "old": deep.clone(), "new": deep}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["nested more than 128"]);
    }

    #[test]
    fn json_diffs_of_files() {
        let (dir, r) = temp_registry();
        std::fs::write(dir.path().join("a.json"), "{\"v\": 1}").unwrap();
        std::fs::write(dir.path().join("b.json"), "{\"v\": 2}").unwrap();
        std::fs::write(dir.path().join("bad.json"), "{\"v\": ").unwrap();
        let out = r
            .invoke(
                "diff_calculator",
                json!({"operation": "json", "old_path": "a.json", "new_path": "b.json"}),
                None,
            )
            .unwrap();
        assert_eq!(out["changes"], json!([{"op": "replace", "path": "/v", "old": 1, "new": 2}]));
        let e = r.invoke(
            "diff_calculator",
            json!({"operation": "json", "old_path": "bad.json", "new": 1}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["old_path", "bad.json", "not valid JSON"]);
    }

    #[test]
    fn a_timeout_stops_a_text_diff() {
        let (_d, r) = temp_registry();
        // Two pseudo-random sequences over 3 distinct lines: LCS needs 30k x 30k steps, far
        // longer than the deadline; similar gives up at the deadline and the tool reports it.
        let mut seed = 7u64;
        let mut lines = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ["x\n", "y\n", "z\n"][(seed >> 33) as usize % 3]
                })
                .collect()
        };
        let (old, new) = (lines(30_000), lines(30_000));
        let params = json!({"old": old, "new": new, "algorithm": "lcs"});
        let (outcome, took) =
            run_with_deadline(&r, "diff_calculator", params.clone(), Duration::from_millis(300));
        assert_err(outcome, ErrorType::Timeout, &["timeout"]);
        assert!(took < Duration::from_secs(10), "took {took:?}");
        let started = Instant::now();
        let e = r.invoke("diff_calculator", params, Some(Duration::from_millis(300)));
        assert_err(e, ErrorType::Timeout, &["timeout"]);
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn a_cancel_stops_a_json_diff() {
        let (_d, r) = temp_registry();
        let old = Value::Array((0..3_000_000).map(|i| json!(i)).collect());
        let new = Value::Array((0..3_000_000).map(|i| json!(i + 1)).collect());
        let e = stops_when_cancelled(
            &r,
            "diff_calculator",
            json!({"operation": "json", "old": old, "new": new}),
        );
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
    }
}

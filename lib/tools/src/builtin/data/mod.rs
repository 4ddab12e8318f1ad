//! Built-in data tools: template_engine, json_processor, data_validation, diff_calculator,
//! csv_analyzer, date_time_handler and graph_builder, one file each; shared helpers here.

mod csv_analyzer;
mod date_time;
mod diff;
mod graph;
mod json;
mod template;
mod validation;

use std::io::Read;

use crate::context::Context;
use crate::error::{ToolError, io_error};
use crate::spec::ToolDef;

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    vec![
        template::tool(),
        json::tool(),
        validation::tool(),
        diff::tool(),
        csv_analyzer::tool(),
        date_time::tool(),
        graph::tool(),
    ]
}

/// Files larger than this are refused rather than read into memory.
pub(crate) const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Reads the UTF-8 text file named by the path parameter `param`, through the policy, refusing
/// files over `max_bytes` with a validation error.
pub(crate) fn read_text_file(
    cx: &Context,
    param: &str,
    path: &str,
    max_bytes: u64,
) -> Result<String, ToolError> {
    let real = cx.path(path)?;
    let meta = std::fs::metadata(&real).map_err(|e| io_error(e, Some(&real)))?;
    if meta.is_dir() {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is a directory, not a file",
            real.display()
        )));
    }
    if meta.len() > max_bytes {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is {} bytes, more than the {max_bytes} bytes allowed",
            real.display(),
            meta.len()
        )));
    }
    let file = std::fs::File::open(&real).map_err(|e| io_error(e, Some(&real)))?;
    let mut bytes = Vec::new();
    // The file may grow between metadata and read: read at most one byte past the cap.
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| io_error(e, Some(&real)))?;
    if bytes.len() as u64 > max_bytes {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: {} is more than the {max_bytes} bytes allowed",
            real.display()
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        ToolError::validation(format!(
            "parameter {param:?}: {} is not UTF-8 text (invalid byte at offset {})",
            real.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// How deeply `v` nests (a scalar is 1), counted without recursion.
pub(crate) fn json_depth(v: &serde_json::Value) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(v, 1)];
    while let Some((v, depth)) = todo.pop() {
        deepest = deepest.max(depth);
        match v {
            serde_json::Value::Array(items) => todo.extend(items.iter().map(|x| (x, depth + 1))),
            serde_json::Value::Object(map) => todo.extend(map.values().map(|x| (x, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Values nested deeper than serde_json parses from text are refused by tools that recurse.
pub(crate) const MAX_JSON_DEPTH: usize = 128;

/// A validation error when the parameter `param` nests deeper than [`MAX_JSON_DEPTH`].
pub(crate) fn check_depth(param: &str, v: &serde_json::Value) -> Result<(), ToolError> {
    if json_depth(v) > MAX_JSON_DEPTH {
        return Err(ToolError::validation(format!(
            "parameter {param:?} is nested more than {MAX_JSON_DEPTH} levels deep"
        )));
    }
    Ok(())
}

/// 1-based line and column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
pub(crate) mod test_util {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use serde_json::Value;

    use crate::context::Context;
    use crate::error::{ErrorType, ToolError};
    use crate::policy::Policy;
    use crate::registry::Registry;

    /// A registry of this module's tools whose only allowed root is `dir`.
    pub(crate) fn registry(dir: &Path) -> Registry {
        let root = std::fs::canonicalize(dir).expect("test dir exists");
        Registry::with_tools(
            super::tools(),
            Policy::with(root.clone(), vec![root], Vec::new(), Duration::from_secs(60)),
        )
    }

    /// A registry rooted at a fresh temp dir (kept alive by the returned guard).
    pub(crate) fn temp_registry() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().expect("temp dir");
        let r = registry(dir.path());
        (dir, r)
    }

    /// Runs `name` with a cancel flag the test sets after a moment (the tool must still be
    /// working then), and returns the error the tool stopped with: proof that cancelling (which
    /// is what the registry does at a timeout) really stops the work.
    pub(crate) fn stops_when_cancelled(r: &Registry, name: &str, params: Value) -> ToolError {
        let def = r.info(name).expect("tool exists").clone();
        let p = r.validate(name, params).expect("valid params");
        let cx = Context::new(Arc::new(r.policy().clone()), Duration::from_secs(3600));
        let flag = cx.cancel_flag();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let _ = tx.send((def.run)(&p, &cx));
        });
        if let Ok(done) = rx.recv_timeout(Duration::from_millis(300)) {
            panic!("{name} finished before it was cancelled: {done:?}");
        }
        flag.store(true, Ordering::SeqCst);
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Err(e)) => e,
            Ok(Ok(v)) => panic!("{name} succeeded after the cancel: {v}"),
            Err(_) => panic!("{name} kept running 15 s after the cancel"),
        }
    }

    /// Runs `name` synchronously on this thread with a `timeout` deadline and returns its
    /// outcome and how long it took: a tool that stops at its deadline returns soon after it.
    pub(crate) fn run_with_deadline(
        r: &Registry,
        name: &str,
        params: Value,
        timeout: Duration,
    ) -> (Result<Value, ToolError>, Duration) {
        let def = r.info(name).expect("tool exists");
        let p = r.validate(name, params).expect("valid params");
        let cx = Context::new(Arc::new(r.policy().clone()), timeout);
        let started = std::time::Instant::now();
        let outcome = (def.run)(&p, &cx);
        (outcome, started.elapsed())
    }

    /// Asserts `outcome` failed with `kind` and a message containing every one of `words`.
    pub(crate) fn assert_err(outcome: Result<Value, ToolError>, kind: ErrorType, words: &[&str]) {
        let e = match outcome {
            Ok(v) => {
                let text: String = v.to_string().chars().take(500).collect();
                panic!("expected a {kind} error, got {text}")
            }
            Err(e) => e,
        };
        assert_eq!(e.error_type, kind, "{e}");
        for w in words {
            assert!(e.message.contains(w), "{w:?} not in: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::registry::Registry;

    #[test]
    fn every_example_passes() {
        let r = Registry::with_tools(tools(), Policy::new(std::env::temp_dir()));
        let outcomes = r.test(&[]).unwrap();
        assert!(outcomes.len() >= 14, "{} examples", outcomes.len());
        let failed: Vec<String> = outcomes
            .iter()
            .filter_map(|o| o.failure.as_ref().map(|f| format!("{} / {}: {f}", o.tool, o.example)))
            .collect();
        assert!(failed.is_empty(), "failing examples:\n{}", failed.join("\n"));
    }

    #[test]
    fn every_tool_has_a_failing_example_and_a_closed_schema() {
        for def in tools() {
            assert!(def.examples.len() >= 2, "{}", def.name);
            assert!(
                def.examples.iter().any(|e| matches!(e.expect, crate::spec::Expect::Error(_))),
                "{} has no failure example",
                def.name
            );
            assert_eq!(def.schema["additionalProperties"], false, "{}", def.name);
            for (k, v) in def.schema["properties"].as_object().unwrap() {
                assert!(v["description"].is_string(), "{}.{k} has no description", def.name);
            }
        }
    }

    #[test]
    fn depth_is_counted_without_recursion() {
        assert_eq!(json_depth(&serde_json::json!(1)), 1);
        assert_eq!(json_depth(&serde_json::json!({"a": [1, {"b": []}], "c": 2})), 4);
        let mut deep = serde_json::json!(0);
        for _ in 0..200 {
            deep = serde_json::json!([deep]);
        }
        assert_eq!(json_depth(&deep), 201);
        assert!(check_depth("x", &deep).unwrap_err().message.contains("\"x\" is nested"));
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx", 1), (1, 1));
        assert_eq!(line_col("x", 99), (1, 2));
    }

    #[test]
    fn read_text_file_caps_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let policy = Policy::with(root.clone(), vec![root.clone()], vec![], Default::default());
        let cx = Context::new(std::sync::Arc::new(policy), std::time::Duration::from_secs(5));
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("bin"), [0xff, 0xfe]).unwrap();
        assert_eq!(read_text_file(&cx, "path", "a.txt", 10).unwrap(), "hello");
        let e = read_text_file(&cx, "path", "a.txt", 3).unwrap_err();
        assert!(e.message.contains("more than the 3 bytes"), "{e}");
        let e = read_text_file(&cx, "path", "bin", 10).unwrap_err();
        assert!(e.message.contains("not UTF-8"), "{e}");
        let e = read_text_file(&cx, "path", "missing", 10).unwrap_err();
        assert_eq!(e.error_type, crate::ErrorType::NotFound);
        let e = read_text_file(&cx, "path", ".", 10).unwrap_err();
        assert!(e.message.contains("directory"), "{e}");
        let e = read_text_file(&cx, "path", "/etc/hostname", 10).unwrap_err();
        assert_eq!(e.error_type, crate::ErrorType::Permission);
    }
}

//! What each command prints (ARCHITECTURE §7), from a `tool_reply` whatever made it.
//!
//! - On a terminal: a table (comfy-table), or for `info` a readable description.
//! - Piped: one record a line, tab-separated, no header, in the columns of [`columns`]; tabs and
//!   line breaks inside a field become spaces, an absent value is `-`. `info` prints JSON.
//! - With `--json`: JSON (pretty on a terminal, one line when piped).
//!
//! `invoke` always prints the JSON object `{"tool", "result", "duration_ms"}`, pretty on a
//! terminal and on one line when piped, so `| jq -r .result.x` works.

use std::io::{IsTerminal, Write};

use comfy_table::{ContentArrangement, Table, presets};
use llmspell_common::ExitCode;
use serde_json::{Value, json};

use crate::Failure;

/// How records are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Table,
    Tsv,
    Json,
}

impl Mode {
    pub fn pick(json: bool, terminal: bool) -> Mode {
        match (json, terminal) {
            (true, _) => Mode::Json,
            (false, true) => Mode::Table,
            (false, false) => Mode::Tsv,
        }
    }
}

/// The TSV columns of each command, in order; documented in llmspell-tool(1).
pub fn columns(command: &str) -> &'static [&'static str] {
    match command {
        "list" => &["name", "category", "description"],
        "categories" => &["category"],
        "search" => &["name", "category", "score", "description"],
        "test" => &["tool", "example", "result", "duration_ms", "message"],
        "providers" => &["name", "kind", "model", "base_url", "key", "default"],
        _ => &[],
    }
}

/// The text `command` prints for its (ok) `reply`.
pub fn render(command: &str, reply: &Value, mode: Mode, terminal: bool) -> String {
    let json_text = |v: &Value| {
        let mut text =
            if terminal { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }
                .expect("JSON values serialize");
        text.push('\n');
        text
    };
    match (command, mode) {
        ("invoke", _) => json_text(&json!({
            "tool": reply["tool"],
            "result": reply["result"],
            "duration_ms": reply["duration_ms"],
        })),
        ("info", Mode::Table) => crate::describe::describe(&reply["tool"]),
        ("info", _) => json_text(&reply["tool"]),
        ("test", Mode::Json) => {
            let (results, passed, failed) = (&reply["results"], &reply["passed"], &reply["failed"]);
            json_text(&json!({"results": results, "passed": passed, "failed": failed}))
        }
        (_, Mode::Json) => json_text(records(command, reply)),
        _ => {
            let rows: Vec<Vec<String>> =
                items(records(command, reply)).iter().map(|r| row(command, r)).collect();
            if mode == Mode::Tsv {
                return rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect();
            }
            table(command, reply, &rows)
        }
    }
}

/// The array a command's reply lists.
fn records<'a>(command: &str, reply: &'a Value) -> &'a Value {
    match command {
        "categories" => &reply["categories"],
        "test" => &reply["results"],
        "providers" => &reply["providers"],
        _ => &reply["tools"],
    }
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

/// One record's fields in [`columns`] order.
fn row(command: &str, r: &Value) -> Vec<String> {
    let text = |key: &str| field(&r[key]);
    match command {
        "categories" => vec![field(r)],
        "search" => vec![
            text("name"),
            text("category"),
            r["score"].as_f64().map_or_else(|| "-".into(), |s| format!("{s:.1}")),
            text("description"),
        ],
        "test" => vec![
            text("tool"),
            text("example"),
            if r["passed"] == true { "pass" } else { "fail" }.to_owned(),
            r["duration_ms"].as_f64().map_or_else(|| "-".into(), |ms| format!("{ms:.1}")),
            text("message"),
        ],
        "providers" => vec![
            text("name"),
            text("kind"),
            text("model"),
            text("base_url"),
            match (r["key_set"] == true, r["key_required"] == true) {
                (true, _) => "yes",
                (false, true) => "no",
                (false, false) => "none",
            }
            .to_owned(),
            if r["default"] == true { "yes" } else { "no" }.to_owned(),
        ],
        _ => vec![text("name"), text("category"), text("description")],
    }
}

/// A value as one TSV field.
fn field(v: &Value) -> String {
    let text = match v {
        Value::Null => return "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.replace(['\t', '\n', '\r'], " ")
}

fn table(command: &str, reply: &Value, rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return match command {
            "test" => "no examples to run\n".to_owned(),
            _ => String::new(),
        };
    }
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(columns(command).iter().map(|c| c.to_uppercase()));
    for r in rows {
        table.add_row(r);
    }
    let mut text = format!("{table}\n");
    if command == "test" {
        let (passed, failed) = (&reply["passed"], &reply["failed"]);
        text.push_str(&format!("{passed} passed, {failed} failed\n"));
    }
    text
}

/// Whether standard output is a terminal.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// Writes to stdout; a closed pipe (`llmspell-tool list | head -1`) is not an error.
pub fn print_all(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(ExitCode::IoErr, format!("cannot write to standard output: {e}")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list_reply() -> Value {
        json!({"status": "ok", "tools": [
            {"name": "a", "category": "text", "description": "one\ttwo\nthree"},
            {"name": "b", "category": "data", "description": null},
        ]})
    }

    #[test]
    fn tsv_has_the_documented_columns_and_no_header() {
        let text = render("list", &list_reply(), Mode::Tsv, false);
        assert_eq!(text, "a\ttext\tone two three\nb\tdata\t-\n");
        let reply = json!({"status": "ok", "tools": [{"name": "a", "category": "c", "description": "d", "score": 10.0}]});
        assert_eq!(render("search", &reply, Mode::Tsv, false), "a\tc\t10.0\td\n");
        let reply = json!({"status": "ok", "categories": ["data", "text"]});
        assert_eq!(render("categories", &reply, Mode::Tsv, false), "data\ntext\n");
        let reply = json!({"status": "ok", "passed": 1, "failed": 1, "results": [
            {"tool": "a", "example": "ok", "passed": true, "message": null, "duration_ms": 1.26},
            {"tool": "a", "example": "bad", "passed": false, "message": "expected 3", "duration_ms": 0.5},
        ]});
        assert_eq!(
            render("test", &reply, Mode::Tsv, false),
            "a\tok\tpass\t1.3\t-\na\tbad\tfail\t0.5\texpected 3\n"
        );
        for command in ["list", "search", "categories", "test"] {
            let text = render(command, &json!({"status": "ok"}), Mode::Tsv, false);
            assert_eq!(text, "", "{command} with nothing to list");
        }
    }

    #[test]
    fn json_is_one_line_when_piped_and_invoke_drops_the_status() {
        let text = render("list", &list_reply(), Mode::Json, false);
        assert_eq!(text.lines().count(), 1);
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), list_reply()["tools"]);
        let reply = json!({"status": "ok", "tool": "t", "result": {"x": 1}, "duration_ms": 0.1});
        let piped = render("invoke", &reply, Mode::Tsv, false);
        assert_eq!(piped, "{\"tool\":\"t\",\"result\":{\"x\":1},\"duration_ms\":0.1}\n");
        assert!(render("invoke", &reply, Mode::Table, true).lines().count() > 3);
    }

    #[test]
    fn tables_have_headers_and_test_a_summary() {
        let text = render("list", &list_reply(), Mode::Table, true);
        assert!(text.contains("NAME") && text.contains("DESCRIPTION") && text.contains("text"));
        let reply = json!({"status": "ok", "passed": 0, "failed": 0, "results": []});
        assert_eq!(render("test", &reply, Mode::Table, true), "no examples to run\n");
    }
}

//! How results are printed (ARCHITECTURE §7): a table on a terminal, one tab-separated line per
//! record when piped (stable columns, no header, `-` for unknown), JSON with `--json`.

use std::io::{IsTerminal, Write};

use comfy_table::{Table, presets};
use llmspell_common::ExitCode;
use serde::Serialize;

use crate::Failure;

/// Rows with a header, printed as a table or TSV.
pub struct Rows {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

/// Prints `rows`, or `json` with `--json`.
pub fn print<T: Serialize + ?Sized>(json: bool, value: &T, rows: Rows) -> Result<(), Failure> {
    let text = if json {
        let mut text = serde_json::to_string_pretty(value).expect("output serializes");
        text.push('\n');
        text
    } else if std::io::stdout().is_terminal() {
        if rows.rows.is_empty() {
            String::new()
        } else {
            let mut table = Table::new();
            table.load_preset(presets::UTF8_FULL_CONDENSED);
            table.set_header(rows.header);
            for row in rows.rows {
                table.add_row(row);
            }
            format!("{table}\n")
        }
    } else {
        rows.rows.iter().map(|r| format!("{}\n", r.join("\t"))).collect()
    };
    write_stdout(&text)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::new(ExitCode::IoErr, format!("cannot write to stdout: {e}"))),
    }
}

/// `-` for an unknown value.
pub fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

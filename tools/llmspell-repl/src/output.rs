//! Showing a cell's output: `stream` stdout, `execute_result` and `display_data` (their
//! `text/plain`) on standard output; `stream` stderr and `error` (`ename: evalue`, then the
//! traceback) on standard error; red errors only when colour is on.
//!
//! Writes go straight to the file descriptors and are flushed per message, so output is seen as
//! it arrives. A closed pipe or terminal is an I/O error (exit 74), never a panic.

use std::io::Write;

use llmspell_common::ExitCode;
use llmspell_wire::Message;
use serde_json::Value;

use crate::Failure;
use crate::exec::Frontend;

const RED: &str = "\x1b[31m";
const RESET: &str = "\x1b[0m";

/// Prints output where it belongs.
#[derive(Debug)]
pub struct Printer {
    color: bool,
    /// Whether the last thing written to the terminal ended a line.
    at_line_start: bool,
}

impl Printer {
    pub fn new(color: bool) -> Printer {
        Printer { color, at_line_start: true }
    }

    pub fn color(&self) -> bool {
        self.color
    }

    /// Prints one iopub message's output (other message types print nothing).
    pub fn show(&mut self, msg: &Message) -> Result<(), Failure> {
        let c = &msg.content;
        let plain = |c: &Value| c["data"]["text/plain"].as_str().map(|t| format!("{t}\n"));
        match msg.msg_type() {
            "stream" if c["name"] == "stderr" => self.err(c["text"].as_str().unwrap_or("")),
            "stream" => self.out(c["text"].as_str().unwrap_or("")),
            "execute_result" | "display_data" => self.out(&plain(c).unwrap_or_default()),
            "error" => self.error(c),
            _ => Ok(()),
        }
    }

    /// A pager payload (`page(text)` in Lua): the text on standard output, one final newline.
    pub fn page(&mut self, text: &str) -> Result<(), Failure> {
        self.out(&format!("{}\n", text.trim_end_matches('\n')))
    }

    /// Text on standard output.
    pub fn out(&mut self, text: &str) -> Result<(), Failure> {
        self.write(true, text)
    }

    /// Text on standard error.
    pub fn err(&mut self, text: &str) -> Result<(), Failure> {
        self.write(false, text)
    }

    /// An `error` message (or an error reply's content) on standard error, red when coloured.
    pub fn error(&mut self, content: &Value) -> Result<(), Failure> {
        let text = error_text(content);
        if self.color {
            self.err(&format!("{RED}{}{RESET}\n", text.trim_end_matches('\n')))
        } else {
            self.err(&text)
        }
    }

    /// A one-line problem of the REPL itself (a meta-command that failed), red when coloured.
    pub fn problem(&mut self, text: &str) -> Result<(), Failure> {
        if self.color {
            self.err(&format!("{RED}{text}{RESET}\n"))
        } else {
            self.err(&format!("{text}\n"))
        }
    }

    /// Ends an unfinished line (output without a final newline) so the prompt starts clean.
    pub fn finish_line(&mut self) -> Result<(), Failure> {
        if self.at_line_start { Ok(()) } else { self.out("\n") }
    }

    fn write(&mut self, to_stdout: bool, text: &str) -> Result<(), Failure> {
        if text.is_empty() {
            return Ok(());
        }
        self.at_line_start = text.ends_with('\n');
        let written = if to_stdout {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        } else {
            std::io::stderr().lock().write_all(text.as_bytes())
        };
        written.map_err(|e| Failure::new(ExitCode::IoErr, format!("cannot write the output: {e}")))
    }
}

/// `ename: evalue` and the traceback lines that do not repeat it.
pub fn error_text(content: &Value) -> String {
    let head = format!(
        "{}: {}",
        content["ename"].as_str().unwrap_or("Error"),
        content["evalue"].as_str().unwrap_or("")
    );
    let mut text = format!("{head}\n");
    for line in content["traceback"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if line != head {
            text.push_str(line.strip_suffix('\n').unwrap_or(line));
            text.push('\n');
        }
    }
    text
}

/// A printer alone is the frontend of a batch run: nobody can answer `input()`.
impl Frontend for Printer {
    fn show(&mut self, msg: &Message) -> Result<(), Failure> {
        Printer::show(self, msg)
    }
    fn input(&mut self, _prompt: &str, _password: bool) -> Option<String> {
        None
    }
    fn page(&mut self, text: &str) -> Result<(), Failure> {
        Printer::page(self, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_print_name_value_and_the_rest_of_the_traceback() {
        let c = json!({"ename": "LuaError", "evalue": "boom",
                       "traceback": ["LuaError: boom", "stack traceback:", "\tcell-1:1: in main"]});
        assert_eq!(error_text(&c), "LuaError: boom\nstack traceback:\n\tcell-1:1: in main\n");
    }
}

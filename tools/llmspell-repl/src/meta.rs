//! Meta-commands: lines starting with `.` and a letter are the REPL's own, never sent as Lua
//! (no Lua statement starts that way; `.5` is a number and stays Lua).
//!
//! A meta-command that fails on what the user gave (a missing file, a bad count) prints one red
//! line and the session goes on; losing the kernel ends the session like any cell would.

use std::fmt::Write as _;
use std::time::Duration;

use llmspell_common::ExitCode;
use llmspell_wire::Channel;
use reedline::{SearchDirection, SearchQuery};
use serde_json::{Value, json};

use crate::Failure;
use crate::batch;
use crate::exec::{self, Cell};
use crate::interactive::Repl;

/// Name, argument, what it does: `.help` prints this table.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (".help", "", "show the meta-commands"),
    (".exit", "", "leave (as Ctrl-D does); a kernel the REPL started is stopped"),
    (".clear", "", "restart the kernel's Lua state (globals go, State stays)"),
    (".vars", "", "user globals with their types and short values"),
    (".save", "FILE", "write this session's cells to FILE, as a Lua script"),
    (".load", "FILE", "run FILE chunk by chunk, as if typed, stopping at an error"),
    (".history", "[N]", "the last N history entries (default 20)"),
    (".run", "FILE", "run FILE as one cell"),
    (".info", "", "kernel id, pid, connection file and protocol"),
    (".tools", "", "the built-in tools, by category"),
];

/// How many entries `.history` shows without a count.
const HISTORY_DEFAULT: usize = 20;
const CALL_WAIT: Duration = Duration::from_secs(10);

/// Globals every kernel starts with; `.vars` shows the others.
const BUILTIN_GLOBALS: &[&str] = &[
    "Agent",
    "JSON",
    "Provider",
    "State",
    "Tool",
    "Workflow",
    "_G",
    "_VERSION",
    "assert",
    "clear_output",
    "collectgarbage",
    "coroutine",
    "debug",
    "display",
    "dofile",
    "error",
    "getmetatable",
    "input",
    "io",
    "ipairs",
    "load",
    "loadfile",
    "math",
    "next",
    "os",
    "package",
    "page",
    "pairs",
    "pcall",
    "print",
    "rawequal",
    "rawget",
    "rawlen",
    "rawset",
    "require",
    "select",
    "setmetatable",
    "string",
    "table",
    "tonumber",
    "tostring",
    "type",
    "utf8",
    "warn",
    "xpcall",
];

/// Whether `line` is a meta-command rather than Lua.
pub fn is_meta(line: &str) -> bool {
    let mut chars = line.trim_start().chars();
    chars.next() == Some('.') && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
}

/// Meta-command names starting with `prefix` (for Tab).
pub fn complete(prefix: &str) -> Vec<&'static str> {
    let prefix = prefix.trim_start();
    COMMANDS.iter().map(|c| c.0).filter(|name| name.starts_with(prefix)).collect()
}

/// What the session does after a meta-command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Exit,
}

/// Runs the meta-command `line`.
pub fn run(repl: &mut Repl, line: &str) -> Result<Flow, Failure> {
    let line = line.trim();
    let (name, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    let needs_file = |what: &str| -> Result<(), Failure> {
        if arg.is_empty() { Err(usage(format!("{name} needs a FILE to {what}"))) } else { Ok(()) }
    };
    let done = match name {
        ".help" => help(repl),
        ".exit" | ".quit" => return Ok(Flow::Exit),
        ".clear" => clear(repl),
        ".vars" => vars(repl),
        ".save" => needs_file("write").and_then(|()| save(repl, arg)),
        ".load" => needs_file("load").and_then(|()| load(repl, arg)),
        ".run" => needs_file("run").and_then(|()| run_file(repl, arg)),
        ".history" => history(repl, arg),
        ".info" => info(repl),
        ".tools" => tools(repl),
        _ => Err(usage(format!("unknown meta-command {name} (.help lists them)"))),
    };
    match done {
        Ok(()) => Ok(Flow::Continue),
        // The user's mistake (a bad argument, a file that cannot be read or written): say so
        // and carry on. Anything else (a lost kernel) ends the session.
        Err(f)
            if matches!(
                f.code,
                ExitCode::Usage
                    | ExitCode::NoInput
                    | ExitCode::DataErr
                    | ExitCode::CantCreate
                    | ExitCode::IoErr
                    | ExitCode::NoPerm
            ) =>
        {
            repl.printer.problem(&f.message)?;
            Ok(Flow::Continue)
        }
        Err(f) => Err(f),
    }
}

fn usage(message: String) -> Failure {
    Failure::new(ExitCode::Usage, message)
}

fn help(repl: &mut Repl) -> Result<(), Failure> {
    let mut text =
        String::from("Lua runs in the kernel; a line starting with . is for the REPL:\n");
    for (name, arg, what) in COMMANDS {
        let _ = writeln!(text, "  {:<16} {what}", format!("{name} {arg}").trim_end());
    }
    text.push_str("Tab completes, Up/Down walk the history, Ctrl-C interrupts a running cell\n");
    text.push_str("or clears the line, Ctrl-D leaves.\n");
    repl.printer.out(&text)
}

/// `shutdown_request{restart: true}`: a standalone kernel resets its Lua state in place.
fn clear(repl: &mut Repl) -> Result<(), Failure> {
    let session = &mut repl.session;
    let content = json!({"restart": true});
    let reply = session.client().call(Channel::Control, "shutdown_request", content, CALL_WAIT);
    reply.map_err(|e| session.lost(e))?;
    // A kernel that a Jupyter manager launched exits on restart instead: then it is gone.
    let ready = session.client().wait_ready(CALL_WAIT);
    ready.map_err(|e| {
        Failure::new(
            ExitCode::Unavailable,
            format!("{} did not come back from the restart: {e}", session.label),
        )
    })?;
    repl.printer.out("Lua state cleared\n")
}

/// Runs a silent cell that prints the user's globals, one a line: name, type, short value.
fn vars(repl: &mut Repl) -> Result<(), Failure> {
    let skip: Vec<String> = BUILTIN_GLOBALS.iter().map(|n| format!("[{n:?}]=true")).collect();
    let code = format!(
        r#"do
  local skip, names = {{{}}}, {{}}
  for k in pairs(_G) do
    if type(k) == "string" and not skip[k] then names[#names + 1] = k end
  end
  table.sort(names)
  if #names == 0 then print("(no user globals)") end
  for _, k in ipairs(names) do
    local v = rawget(_G, k)
    local s = type(v) == "string" and string.format("%q", v) or tostring(v)
    s = s:gsub("\n", "\\n")
    if #s > 50 then s = s:sub(1, 47) .. "..." end
    print(string.format("%-20s %-9s %s", k, type(v), s))
  end
end"#,
        skip.join(",")
    );
    let cell = Cell { code: &code, silent: true, allow_stdin: false };
    let reply = exec::execute(&mut repl.session, cell, &repl.flags, &mut repl.printer)?;
    if reply["status"] != "ok" {
        repl.printer.error(&reply)?;
    }
    Ok(())
}

fn save(repl: &mut Repl, path: &str) -> Result<(), Failure> {
    let mut text = String::from("-- llmspell-repl session\n");
    for cell in &repl.cells {
        text.push_str(cell.trim_end_matches('\n'));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| io_failure(e, false, path))?;
    let n = repl.cells.len();
    repl.printer.out(&format!("saved {n} cell{} to {path}\n", if n == 1 { "" } else { "s" }))
}

fn read(path: &str) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| io_failure(e, true, path))
}

fn io_failure(e: std::io::Error, reading: bool, path: &str) -> Failure {
    let code = llmspell_common::exit::for_io_error(&e, reading);
    let verb = if reading { "read" } else { "write" };
    Failure::new(code, format!("cannot {verb} {path}: {e}"))
}

fn load(repl: &mut Repl, path: &str) -> Result<(), Failure> {
    let text = read(path)?;
    let mut lines = text.split_inclusive('\n').map(str::to_owned);
    let mut next = || Ok(lines.next());
    let (printer, cells, flags) = (&mut repl.printer, &mut repl.cells, &repl.flags);
    let mut run = |session: &mut crate::session::Session, code: &str| -> Result<bool, Failure> {
        cells.push(code.to_owned());
        let reply =
            exec::execute(session, Cell { allow_stdin: true, ..Cell::new(code) }, flags, printer)?;
        Ok(reply["status"] == "ok")
    };
    batch::for_each_chunk(&mut repl.session, &mut next, &mut run)
}

fn run_file(repl: &mut Repl, path: &str) -> Result<(), Failure> {
    let code = read(path)?;
    repl.run_cell(&code)
}

fn history(repl: &mut Repl, arg: &str) -> Result<(), Failure> {
    let n = if arg.is_empty() {
        HISTORY_DEFAULT
    } else {
        arg.parse().map_err(|_| usage(format!(".history takes a count, not {arg:?}")))?
    };
    let mut query = SearchQuery::everything(SearchDirection::Backward, None);
    query.limit = Some(i64::try_from(n).unwrap_or(i64::MAX));
    let items = repl.editor.history().search(query).unwrap_or_default();
    let mut text = String::new();
    for item in items.iter().rev() {
        let number = item.id.map_or(0, |id| id.0 + 1);
        let mut lines = item.command_line.lines();
        let _ = writeln!(text, "{number:>5}  {}", lines.next().unwrap_or(""));
        for more in lines {
            let _ = writeln!(text, "       {more}");
        }
    }
    repl.printer.out(&text)
}

fn info(repl: &mut Repl) -> Result<(), Failure> {
    let session = &mut repl.session;
    let reply =
        session.client().call(Channel::Control, "kernel_info_request", json!({}), CALL_WAIT);
    let info = reply.map_err(|e| session.lost(e))?.content;
    let stats = &info["llmspell"];
    let str_of = |v: &Value| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    let who = if session.own.is_some() {
        "own kernel, stopped when the REPL exits".to_owned()
    } else {
        format!("{}, attached", session.label)
    };
    let rows = [
        ("kernel", format!("{} ({who})", str_of(&stats["id"]))),
        ("pid", str_of(&stats["pid"])),
        ("connection file", session.connection_file.display().to_string()),
        ("transport", format!("{}://{}", session.info.transport, session.info.ip)),
        ("protocol", format!("Jupyter messaging {}", str_of(&info["protocol_version"]))),
        (
            "implementation",
            format!(
                "{} {}",
                str_of(&info["implementation"]),
                str_of(&info["implementation_version"])
            ),
        ),
        ("language", format!("Lua {}", str_of(&info["language_info"]["version"]))),
        ("executions", str_of(&stats["executions"])),
        ("uptime", format!("{:.1} s", stats["uptime_s"].as_f64().unwrap_or(0.0))),
    ];
    let mut text = String::new();
    for (key, value) in rows {
        let _ = writeln!(text, "{key:<16} {value}");
    }
    repl.printer.out(&text)
}

/// The tool names, by category, from `tool_request {command: "list"}` (the Tool API).
fn tools(repl: &mut Repl) -> Result<(), Failure> {
    let session = &mut repl.session;
    let content = json!({"command": "list"});
    let reply = session.client().call(Channel::Shell, "tool_request", content, CALL_WAIT);
    let reply = reply.map_err(|e| session.lost(e))?.content;
    if reply["status"] != "ok" {
        let message = reply["message"].as_str().unwrap_or("no tool list");
        return Err(Failure::new(ExitCode::Protocol, format!("tool_request: {message}")));
    }
    let mut by_category = std::collections::BTreeMap::<String, Vec<String>>::new();
    for tool in reply["tools"].as_array().into_iter().flatten() {
        let category = tool["category"].as_str().unwrap_or("other").to_owned();
        by_category.entry(category).or_default().push(tool["name"].as_str().unwrap_or("").into());
    }
    let mut text = String::new();
    for (category, mut names) in by_category {
        names.sort();
        let _ = writeln!(text, "{category:<10} {}", names.join(" "));
    }
    repl.printer.out(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_lines_are_told_from_lua() {
        assert!(is_meta(".help"));
        assert!(is_meta("  .run f.lua"));
        assert!(!is_meta(".5 + 1"));
        assert!(!is_meta("x = 1"));
        assert!(!is_meta("."));
    }

    #[test]
    fn meta_commands_complete_by_prefix() {
        assert_eq!(complete(".h"), [".help", ".history"]);
        assert_eq!(complete(".ex"), [".exit"]);
        assert!(complete(".z").is_empty());
    }
}

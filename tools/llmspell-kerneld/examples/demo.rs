//! Runs a Lua script cell by cell through a real llmspell kernel, end to end, and prints what a
//! notebook would show. Cells are separated by lines starting with `-- %%`.
//!
//! `cargo run --release -p llmspell-kerneld --example demo -- examples/demo.lua`
//!
//! The kernel binary is `$LLMSPELL_KERNELD`, or the one built beside this example. Its home is
//! a temporary `$LLMSPELL_HOME`, removed afterwards. Exits 1 if any cell fails.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use llmspell_wire::client::Channel;
use llmspell_wire::{Client, ConnectionInfo};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(30);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let script = std::env::args().nth(1).unwrap_or_else(|| "examples/demo.lua".into());
    let source = std::fs::read_to_string(&script).map_err(|e| format!("{script}: {e}"))?;
    let home = tempfile::tempdir()?;
    let mut kernel = Command::new(kernel_binary()?)
        .args(["start", "--id", "demo"])
        .env("LLMSPELL_HOME", home.path())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut path = String::new();
    BufReader::new(kernel.stdout.take().ok_or("no stdout")?).read_line(&mut path)?;
    let info = ConnectionInfo::read(path.trim_end().as_ref())?;
    let client = Client::connect(&info)?;
    let banner = client.wait_ready(TIMEOUT)?;
    println!("kernel: {}  (connection file {})\n", banner.content["banner"], path.trim_end());

    let mut failed = 0;
    for (n, cell) in cells(&source).iter().enumerate() {
        println!("In [{}]:\n{}\n", n + 1, indent(cell));
        let out = client.execute(cell, TIMEOUT)?;
        for msg in &out.iopub {
            match msg.msg_type() {
                "stream" => print!("{}", msg.str_field("text").unwrap_or("")),
                "execute_result" => println!(
                    "Out[{}]: {}",
                    n + 1,
                    msg.content["data"]["text/plain"].as_str().unwrap_or("")
                ),
                "display_data" => println!("[display: {}]", mime_types(&msg.content["data"])),
                "error" => {
                    failed += 1;
                    for line in msg.content["traceback"].as_array().into_iter().flatten() {
                        eprintln!("{}", line.as_str().unwrap_or(""));
                    }
                }
                _ => {}
            }
        }
        println!();
    }
    client.call(Channel::Control, "shutdown_request", json!({"restart": false}), TIMEOUT)?;
    let status = kernel.wait()?;
    println!("kernel exited with {status}; {failed} cell(s) failed");
    if failed > 0 || !status.success() {
        std::process::exit(1);
    }
    Ok(())
}

fn kernel_binary() -> Result<PathBuf, Box<dyn std::error::Error>> {
    if let Some(path) = std::env::var_os("LLMSPELL_KERNELD") {
        return Ok(path.into());
    }
    // target/<profile>/examples/demo → target/<profile>/llmspell-kerneld
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(|d| d.parent()).ok_or("cannot locate the build directory")?;
    Ok(dir.join("llmspell-kerneld"))
}

fn cells(source: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    for line in source.lines() {
        if line.starts_with("-- %%") {
            cells.push(String::new());
        }
        let cell = cells.last_mut().expect("never empty");
        cell.push_str(line);
        cell.push('\n');
    }
    cells
        .into_iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| c.lines().any(|l| !l.starts_with("--")))
        .collect()
}

fn indent(code: &str) -> String {
    code.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
}

fn mime_types(data: &serde_json::Value) -> String {
    data.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

//! Test harness for llmspell-fleet: the real binary and the `llmspell-kerneld` built beside it,
//! a temp `$LLMSPELL_HOME` per test, and every kernel started in that home stopped on drop
//! (`llmspell-kerneld stop --all`), whatever the test did.

#![allow(dead_code)] // each test file uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-fleet"))
}

/// `llmspell-kerneld` from the same build (`cargo build -p llmspell-kerneld`).
pub fn kerneld() -> PathBuf {
    let path = binary().parent().unwrap().join("llmspell-kerneld");
    assert!(path.exists(), "{} is missing: cargo build -p llmspell-kerneld", path.display());
    path
}

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts exit 0 and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "expected success: {self:?}");
        self.stdout
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

fn run(output: Output) -> Run {
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let _ = kerneld();
        Home { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn registry(&self) -> PathBuf {
        self.path().join("fleet/registry.json")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_KERNELD")
            .env_remove("LLMSPELL_LOG")
            .current_dir(self.path());
        cmd
    }

    /// Runs llmspell-fleet (stdout piped, so TSV unless --json).
    pub fn fleet(&self, args: &[&str]) -> Run {
        run(self.command(args).output().unwrap())
    }

    /// Runs llmspell-kerneld in this home.
    pub fn kerneld(&self, args: &[&str]) -> Run {
        let out = Command::new(kerneld())
            .args(args)
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_LOG")
            .output()
            .unwrap();
        run(out)
    }

    /// The registry's kernels (an absent registry: none).
    pub fn registered(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.registry()) {
            Ok(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                value["kernels"].as_array().unwrap().clone()
            }
            Err(_) => Vec::new(),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> =
            self.registered().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = self.kerneld(&["stop", "--all", "--timeout", "1"]);
    }
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

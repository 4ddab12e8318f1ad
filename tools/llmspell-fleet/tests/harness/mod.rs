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
    llmspell_testkit::beside(binary(), "llmspell-kerneld")
}

pub use llmspell_testkit::{Run, alive};

fn run(output: Output) -> Run {
    Run::new("llmspell-fleet", output)
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
        llmspell_testkit::stop_all(&kerneld(), self.path());
    }
}

//! Test harness for llmspell-repl: the real binary and the `llmspell-kerneld` built beside it,
//! a temp `$LLMSPELL_HOME` per test (also the REPL's `TMPDIR`, so the private kernel it starts
//! can be found by its command line), daemon kernels stopped on drop, and a tmux terminal.

#![allow(dead_code)] // each test file uses part of it

pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-repl"))
}

/// `llmspell-kerneld` from the same build (`cargo build -p llmspell-kerneld`).
pub fn kerneld() -> PathBuf {
    llmspell_testkit::beside(binary(), "llmspell-kerneld")
}

pub use llmspell_testkit::{Run, alive};

pub struct Home {
    /// Stopped when the home is dropped, before its directory goes (fields drop in order).
    daemons: Vec<llmspell_testkit::Daemon>,
    dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home { daemons: Vec::new(), dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let _ = kerneld();
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .env("LLMSPELL_HOME", self.path())
            .env("TMPDIR", self.path())
            .env_remove("LLMSPELL_KERNEL")
            .env_remove("LLMSPELL_LOG")
            .current_dir(self.path());
        cmd
    }

    /// Runs the REPL with `stdin` piped in.
    pub fn run(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        llmspell_testkit::write_input(&mut child, stdin);
        Run::new("llmspell-repl", child.wait_with_output().unwrap())
    }

    /// Starts `llmspell-kerneld start --daemon --id ID`; stopped when the home is dropped.
    pub fn daemon(&mut self, id: &str) {
        let daemon = llmspell_testkit::Daemon::start(&kerneld(), self.path(), id);
        self.daemons.push(daemon);
    }

    /// The pid of the kernel the REPL started (its connection file is under this home).
    pub fn own_kernel_pid(&self) -> Option<u32> {
        let needle = self.path().to_str().unwrap();
        std::fs::read_dir("/proc").unwrap().flatten().find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline);
            (cmdline.contains("llmspell-kerneld") && cmdline.contains(needle)).then_some(pid)
        })
    }
}

/// Waits for the REPL `child` to exit; its exit code.
pub fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    llmspell_testkit::wait(child, limit, "the REPL")
}

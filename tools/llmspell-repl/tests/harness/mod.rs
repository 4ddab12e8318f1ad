//! Test harness for llmspell-repl: the real binary and the `llmspell-kerneld` built beside it,
//! a temp `$LLMSPELL_HOME` per test (also the REPL's `TMPDIR`, so the private kernel it starts
//! can be found by its command line), daemon kernels stopped on drop, and a tmux terminal.

#![allow(dead_code)] // each test file uses part of it

pub mod tmux;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-repl"))
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

pub struct Home {
    dir: tempfile::TempDir,
    daemons: Vec<String>,
}

impl Home {
    pub fn new() -> Home {
        Home { dir: tempfile::tempdir().unwrap(), daemons: Vec::new() }
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
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `llmspell-kerneld start --daemon --id ID`; stopped when the home is dropped.
    pub fn daemon(&mut self, id: &str) {
        let out = Command::new(kerneld())
            .args(["start", "--daemon", "--id", id])
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "the daemon did not start: {out:?}");
        self.daemons.push(id.to_owned());
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

impl Drop for Home {
    fn drop(&mut self) {
        for id in &self.daemons {
            let _ = Command::new(kerneld())
                .args(["stop", "--timeout", "2", id])
                .env("LLMSPELL_HOME", self.path())
                .output();
        }
    }
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Waits for `child` to exit; its exit code.
pub fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "the REPL did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

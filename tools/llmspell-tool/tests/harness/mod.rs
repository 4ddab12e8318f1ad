//! Test harness: the real `llmspell-tool` binary in a temp `$LLMSPELL_HOME` (also its working
//! directory), a command builder, shell pipelines (`| jq`), a pseudo-terminal (`script`), and
//! daemon kernels started with the `llmspell-kerneld` binary built beside it, stopped however
//! the test ends.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-tool"))
}

/// The directory of the built binaries (target/<profile>).
pub fn bin_dir() -> &'static Path {
    binary().parent().expect("the binary has a directory")
}

/// `llmspell-kerneld` from the same build; `cargo test --workspace` builds it.
pub fn kerneld() -> PathBuf {
    let path = bin_dir().join("llmspell-kerneld");
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p llmspell-kerneld, or cargo test --workspace)",
        path.display()
    );
    path
}

/// A program the test needs from the system, with a message naming it when it is missing.
pub fn require(program: &str, why: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "`{program}` is not installed; {why}");
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts exit 0 and an empty stderr; returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success: {self:#?}");
        assert_eq!(self.stderr, "", "unexpected stderr: {self:#?}");
        &self.stdout
    }

    /// Asserts the exit code, nothing on stdout and one `llmspell-tool: ` line on stderr;
    /// returns that line.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        assert_eq!(self.stdout, "", "a failure printed to stdout: {self:#?}");
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(
            line.starts_with("llmspell-tool: ") && !line.contains('\n'),
            "expected one `llmspell-tool: ` line on stderr: {self:#?}"
        );
        line
    }

    /// Stdout parsed as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `cmd` with `input` piped to its stdin.
pub fn feed(mut cmd: Command, input: &str) -> Run {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from(child.wait_with_output().unwrap())
}

/// A temp `$LLMSPELL_HOME`, used as the working directory too.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The tool with `args`, stdin from /dev/null, no LLMSPELL_KERNEL from the outside.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.path())
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_KERNEL")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().unwrap())
    }

    /// Runs with `input` piped to stdin.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        feed(self.command(args), input)
    }

    /// `sh -c script` with the built binaries first on PATH, in this home.
    pub fn sh(&self, script: &str) -> Run {
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("sh")
            .args(["-c", script])
            .current_dir(self.path())
            .env("PATH", path)
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_KERNEL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run::from(out)
    }

    /// Runs the tool on a pseudo-terminal (util-linux `script`), so stdout is a terminal.
    /// The terminal turns `\n` into `\r\n`; the output is given back with plain `\n`.
    pub fn tty(&self, args: &[&str]) -> Run {
        require("script", "the terminal-output tests run the tool on a pty with it (util-linux)");
        let line = std::iter::once(binary().to_str().unwrap())
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let out = Command::new("script")
            .args(["-qec", &format!("stty cols 200 2>/dev/null; {line}"), "/dev/null"])
            .current_dir(self.path())
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_KERNEL")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let mut run = Run::from(out);
        run.stdout = run.stdout.replace("\r\n", "\n");
        run
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("config.toml"), text).unwrap();
    }

    /// Starts `llmspell-kerneld start --daemon --id ID` in this home.
    pub fn daemon(&self, id: &str) -> Daemon {
        let out = Command::new(kerneld())
            .args(["start", "--daemon", "--id", id])
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_LOG")
            .output()
            .unwrap();
        let run = Run::from(out);
        assert_eq!(run.code, Some(0), "the daemon did not start: {run:#?}");
        let connection_file = PathBuf::from(run.stdout.trim_end());
        let pid_file = self.path().join(format!("kernels/kernel-{id}.pid"));
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        Daemon { home: self.path().to_owned(), id: id.to_owned(), pid, connection_file }
    }
}

/// A daemon kernel; stopped (SIGTERM, SIGKILL after 2 s) when dropped.
pub struct Daemon {
    home: PathBuf,
    pub id: String,
    pub pid: u32,
    pub connection_file: PathBuf,
}

impl Daemon {
    /// Whether any thread still runs: after SIGKILL the main thread can be a zombie while the
    /// others, which share its open files and so the PID-file lock, are still being torn down.
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|entries| entries.count())
            .unwrap_or(0);
        !stat.contains(") Z ") || tasks > 1
    }

    /// `kill -9`, then waits until the process is gone; its files stay behind.
    pub fn kill9(&self) {
        let ok = Command::new("kill").args(["-KILL", &self.pid.to_string()]).status().unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.alive() {
            assert!(Instant::now() < deadline, "kernel {} survived SIGKILL", self.pid);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new(bin_dir().join("llmspell-kerneld"))
            .args(["stop", &self.id, "--timeout", "2"])
            .env("LLMSPELL_HOME", &self.home)
            .output();
    }
}

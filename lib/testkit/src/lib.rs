//! What the tools' integration tests share (a dev-dependency only, never linked into a tool):
//! the outcome of running a binary ([`Run`]), the binaries built beside the one under test
//! ([`beside`]), and daemon kernels stopped however a test ends ([`Daemon`], [`stop_all`]).
//!
//! Nothing here measures time: a limit only turns a hang into a failure.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// What a run of `tool` printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub tool: &'static str,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(tool: &'static str, out: Output) -> Run {
        Run {
            tool,
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

    /// Asserts exit 0 (whatever stderr says); returns stdout.
    pub fn succeeded(self) -> String {
        assert_eq!(self.code, Some(0), "expected success: {self:?}");
        self.stdout
    }

    /// Asserts the exit code, nothing on stdout and one `TOOL: ` line on stderr; returns it.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self:#?}");
        assert_eq!(self.stdout, "", "a failure printed to stdout: {self:#?}");
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        let prefix = format!("{}: ", self.tool);
        assert!(
            line.starts_with(&prefix) && !line.contains('\n'),
            "expected one `{prefix}` line on stderr: {self:#?}"
        );
        line
    }

    /// Stdout of a successful run (see [`Run::ok`]) parsed as one JSON value.
    pub fn json(&self) -> Value {
        self.ok();
        self.stdout_json()
    }

    /// Stdout parsed as one JSON value, however the run ended (`health --json` exits 1).
    pub fn stdout_json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// Runs `cmd` (a run of `tool`) with `input` piped to its stdin.
pub fn feed(tool: &'static str, mut cmd: Command, input: &str) -> Run {
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    write_input(&mut child, input);
    Run::new(tool, child.wait_with_output().unwrap())
}

/// Writes `input` to the child's stdin and closes it. A child that exits without reading it
/// all (a start-up error, say) closes the pipe first: that broken pipe is not the test's concern.
pub fn write_input(child: &mut Child, input: &str) {
    let mut stdin = child.stdin.take().expect("stdin is piped");
    match stdin.write_all(input.as_bytes()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("cannot write the child's stdin: {e}"),
    }
}

/// The binary `name` built beside `binary` (the same target/<profile>), which must exist.
pub fn beside(binary: &Path, name: &str) -> PathBuf {
    let path = binary.parent().expect("a binary has a directory").join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build -p {name}, or cargo test --workspace)",
        path.display()
    );
    path
}

/// Whether `pid` is still a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
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

/// Waits up to `limit` for `child` (`what`, for the message) to exit; its exit code.
pub fn wait(child: &mut Child, limit: Duration, what: &str) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "{what} did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `llmspell-kerneld start --daemon --id ID` kernel in a home; stopped (SIGTERM, SIGKILL
/// after 2 s) when dropped.
#[derive(Debug)]
pub struct Daemon {
    kerneld: PathBuf,
    home: PathBuf,
    pub id: String,
    pub pid: u32,
    pub connection_file: PathBuf,
}

impl Daemon {
    pub fn start(kerneld: &Path, home: &Path, id: &str) -> Daemon {
        let out = Command::new(kerneld)
            .args(["start", "--daemon", "--id", id])
            .env("LLMSPELL_HOME", home)
            .env_remove("LLMSPELL_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "the daemon did not start: {out:?}");
        let connection_file = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end());
        let pid_file = home.join(format!("kernels/kernel-{id}.pid"));
        let pid = std::fs::read_to_string(pid_file).unwrap().trim().parse().unwrap();
        Daemon {
            kerneld: kerneld.to_owned(),
            home: home.to_owned(),
            id: id.to_owned(),
            pid,
            connection_file,
        }
    }

    /// Whether any thread still runs: after SIGKILL the main thread can be a zombie while the
    /// others, which share its open files and so the PID-file lock, are still being torn down.
    pub fn alive(&self) -> bool {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|entries| entries.count())
            .unwrap_or(0);
        alive(self.pid) || tasks > 1
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
        let _ = Command::new(&self.kerneld)
            .args(["stop", &self.id, "--timeout", "2"])
            .env("LLMSPELL_HOME", &self.home)
            .output();
    }
}

/// Stops every kernel of `home` (`llmspell-kerneld stop --all`), for a test's clean-up.
pub fn stop_all(kerneld: &Path, home: &Path) {
    let _ = Command::new(kerneld)
        .args(["stop", "--all", "--timeout", "1"])
        .env("LLMSPELL_HOME", home)
        .env_remove("LLMSPELL_LOG")
        .output();
}

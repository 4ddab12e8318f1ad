//! Test harness: the real `llmspell-logrotate` binary in a temp `$LLMSPELL_HOME` (also its
//! working directory), a command builder, the `logwriter` example as a separate writer process
//! that reopens on SIGHUP, readers that gather every line of a log and its (decompressed)
//! rotations, and daemon kernels from the `llmspell-kerneld` binary built beside it, stopped
//! however the test ends.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-logrotate"))
}

/// The directory of the built binaries (target/<profile>).
pub fn bin_dir() -> &'static Path {
    binary().parent().expect("the binary has a directory")
}

/// A binary from the same build (`cargo test` builds examples into `examples/`).
pub fn built(relative: &str, how: &str) -> PathBuf {
    let path = bin_dir().join(relative);
    assert!(path.exists(), "{} is missing: {how}", path.display());
    path
}

pub use llmspell_testkit::Run;

/// A run of this tool.
fn run_of(out: Output) -> Run {
    Run::new("llmspell-logrotate", out)
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

    pub fn file(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// The tool with `args`, in this home, stdin from /dev/null.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.path())
            .env("LLMSPELL_HOME", self.path())
            .env_remove(llmspell_logrotate::FAILPOINT_ENV)
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_of(self.command(args).output().unwrap())
    }

    /// Runs with the failpoint `step` (the process SIGKILLs itself there); asserts it died so.
    pub fn run_killed_at(&self, step: &str, args: &[&str]) {
        let status = self
            .command(args)
            .env(llmspell_logrotate::FAILPOINT_ENV, step)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "expected a SIGKILL at {step}: {status:?}");
    }

    /// Every file name in the home, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Name → content of every file (decompressed), for "nothing changed" checks.
    pub fn snapshot(&self) -> BTreeMap<String, (Vec<u8>, std::time::SystemTime)> {
        self.names()
            .into_iter()
            .filter(|n| self.file(n).is_file())
            .map(|n| {
                let path = self.file(&n);
                let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
                (n, (std::fs::read(path).unwrap(), mtime))
            })
            .collect()
    }

    /// The writer example writing `count` numbered lines to `log`, paused `pause_us` every
    /// `every` lines, with its PID written to `<log>.pid`.
    pub fn writer(
        &self,
        log: &str,
        count: u64,
        every: u64,
        pause_us: u64,
        extra: &[&str],
    ) -> Writer {
        let exe = built("examples/logwriter", "cargo test builds the examples");
        let mut child = Command::new(exe)
            .arg(self.file(log))
            .arg(count.to_string())
            .args(["--pause-every", &every.to_string(), "--pause-us", &pause_us.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n", "the writer did not start");
        std::fs::write(self.file(&format!("{log}.pid")), format!("{}\n", child.id())).unwrap();
        let stdin = child.stdin.take();
        Writer { child, out, stdin }
    }

    /// Every line of `log` and its rotations (plain or gzip), in no particular order.
    pub fn all_lines(&self, log: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for name in self.names() {
            let is_rotation = name.strip_prefix(log).is_some_and(|r| r.starts_with(['.', '-']));
            if name != log && !is_rotation || name.ends_with(".pid") {
                continue;
            }
            let text = read_maybe_gz(&self.file(&name));
            assert!(!text.contains('\0'), "{name} contains NUL bytes");
            lines.extend(text.lines().map(str::to_owned));
        }
        lines
    }
}

/// A file's text, gunzipped if its name ends in `.gz`.
pub fn read_maybe_gz(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
        text
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

/// How often each of the numbered lines `1..=count` occurs.
pub fn tally(lines: &[String], count: u64) -> (Vec<u64>, Vec<u64>) {
    let mut seen = vec![0u32; count as usize + 1];
    for line in lines {
        let n: usize = line.parse().unwrap_or_else(|_| panic!("not a numbered line: {line:?}"));
        assert!((1..=count as usize).contains(&n), "line {n} out of range");
        seen[n] += 1;
    }
    let missing = (1..=count).filter(|&n| seen[n as usize] == 0).collect();
    let doubled = (1..=count).filter(|&n| seen[n as usize] > 1).collect();
    (missing, doubled)
}

/// The writer process; killed when dropped.
pub struct Writer {
    pub child: Child,
    out: BufReader<std::process::ChildStdout>,
    stdin: Option<ChildStdin>,
}

impl Writer {
    /// Waits until every line is written (`done N`); the writer keeps reopening on SIGHUP.
    pub fn wait_done(&mut self) {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(line.starts_with("done "), "the writer stopped early: {line:?}");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes its stdin (it exits) and waits.
    pub fn finish(mut self) {
        self.stdin.take();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "writer: {status:?}");
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A daemon kernel started with `llmspell-kerneld start --daemon`; stopped when dropped.
pub struct Daemon(llmspell_testkit::Daemon);

impl Daemon {
    /// `llmspell-kerneld start --daemon --id ID` in `home`; stopped when dropped.
    pub fn start(home: &Home, id: &str) -> Daemon {
        let kerneld = llmspell_testkit::beside(binary(), "llmspell-kerneld");
        Daemon(llmspell_testkit::Daemon::start(&kerneld, home.path(), id))
    }
}

impl std::ops::Deref for Daemon {
    type Target = llmspell_testkit::Daemon;
    fn deref(&self) -> &llmspell_testkit::Daemon {
        &self.0
    }
}

//! Test harness: a real `llmspell-kerneld` process in a temp `$LLMSPELL_HOME`, a connected
//! client, and clean-up (SIGTERM, then SIGKILL) however the test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmspell_wire::{Client, ConnectionInfo};

pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_llmspell-kerneld")
}

/// A temp home plus a command builder for the kernel binary.
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

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args).env("LLMSPELL_HOME", self.path()).env_remove("LLMSPELL_LOG");
        cmd
    }

    /// Starts `start <args>` and waits for the connection-file line.
    pub fn start(&self, args: &[&str]) -> Kernel {
        let mut full = vec!["start"];
        full.extend_from_slice(args);
        let mut child =
            self.command(&full).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "kernel printed nothing; exit {:?}", child.try_wait());
        let path = PathBuf::from(line.trim_end());
        let info = ConnectionInfo::read(&path).unwrap();
        let client = Client::connect(&info).unwrap();
        client.wait_ready(TIMEOUT).unwrap();
        Kernel { child, path, info, client }
    }
}

pub struct Kernel {
    pub child: Child,
    pub path: PathBuf,
    pub info: ConnectionInfo,
    pub client: Client,
}

impl Kernel {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the process to end; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("kernel did not exit");
    }

    /// Another client on the same kernel.
    pub fn connect(&self) -> Client {
        let client = Client::connect(&self.info).unwrap();
        client.wait_ready(TIMEOUT).unwrap();
        client
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A kernel started with `start --daemon`: not our child, so it is watched through /proc.
pub struct Daemon {
    pub pid: u32,
    pub path: PathBuf,
    pub info: ConnectionInfo,
    pub client: Client,
}

impl Home {
    /// Runs `start --daemon <args>`; asserts it exits 0 and prints the connection file.
    pub fn start_daemon(&self, args: &[&str]) -> Daemon {
        let mut full = vec!["start", "--daemon"];
        full.extend_from_slice(args);
        let out = self.command(&full).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        let path = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end());
        let info = ConnectionInfo::read(&path).unwrap();
        let client = Client::connect(&info).unwrap();
        client.wait_ready(TIMEOUT).unwrap();
        let reply = client
            .call(
                llmspell_wire::Channel::Control,
                "kernel_info_request",
                serde_json::json!({}),
                TIMEOUT,
            )
            .unwrap();
        let pid = reply.content["llmspell"]["pid"].as_u64().unwrap() as u32;
        Daemon { pid, path, info, client }
    }
}

impl Daemon {
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Whether any thread of the daemon still runs. After SIGKILL the main thread can be a
    /// zombie while the others are still being torn down, holding the open files (and so the
    /// PID-file lock); only when the last one is gone is the process really over. Daemons are
    /// reaped by init, so a lone zombie is gone for every purpose.
    pub fn alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return false;
        };
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid))
            .map(|entries| entries.count())
            .unwrap_or(0);
        !stat.contains(") Z ") || tasks > 1
    }

    pub fn wait_gone(&self) {
        let deadline = Instant::now() + TIMEOUT;
        while self.alive() {
            assert!(Instant::now() < deadline, "daemon {} did not exit", self.pid);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.alive() {
            let _ = Command::new("kill").arg("-TERM").arg(self.pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while self.alive() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if self.alive() {
                let _ = Command::new("kill").arg("-KILL").arg(self.pid.to_string()).status();
            }
        }
    }
}

//! Test harness: the real `llmspell-dap` binary in a temp `$LLMSPELL_HOME` (also its working
//! directory), a small DAP client over its stdio (or TCP) with a deadline on every read, and
//! daemon kernels started with the `llmspell-kerneld` built beside it, stopped however the
//! test ends.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Generous: the machine is slow and shared. Only turns hangs into failures.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-dap"))
}

/// `llmspell-kerneld` from the same build; `cargo test --workspace` builds it.
pub fn kerneld() -> PathBuf {
    llmspell_testkit::beside(binary(), "llmspell-kerneld")
}

/// A temp `$LLMSPELL_HOME`; daemon kernels started in it are stopped on drop.
pub struct Home {
    /// Stopped when the home is dropped, before its directory goes (fields drop in order).
    daemons: Vec<llmspell_testkit::Daemon>,
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        Home { daemons: Vec::new(), dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `name` in the home and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The adapter with `args`, piped stdio, no LLMSPELL_KERNEL from the outside.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .current_dir(self.path())
            .env("LLMSPELL_HOME", self.path())
            .env_remove("LLMSPELL_KERNEL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Starts the adapter on stdio.
    pub fn adapter(&self, args: &[&str]) -> Adapter {
        let mut child = self.command(args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        Adapter::over(child, Box::new(stdout), Box::new(stdin))
    }

    /// Starts a daemon kernel with `id` in this home.
    pub fn daemon(&mut self, id: &str) {
        let daemon = llmspell_testkit::Daemon::start(&kerneld(), self.path(), id);
        self.daemons.push(daemon);
    }
}

/// A running adapter and a DAP client of it.
pub struct Adapter {
    pub child: Child,
    input: Box<dyn Write + Send>,
    messages: Receiver<Value>,
    /// Every message received so far, in order.
    pub seen: Vec<Value>,
    seq: i64,
}

impl Adapter {
    pub fn over(
        child: Child,
        output: Box<dyn Read + Send>,
        input: Box<dyn Write + Send>,
    ) -> Adapter {
        let (tx, messages) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            while let Some(msg) = read_message(&mut reader) {
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
        Adapter { child, input, messages, seen: Vec::new(), seq: 0 }
    }

    /// Sends raw bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
        self.input.flush().unwrap();
    }

    /// Sends a request; returns its seq.
    pub fn request(&mut self, command: &str, arguments: Value) -> i64 {
        self.seq += 1;
        let body = json!({"seq": self.seq, "type": "request", "command": command,
                          "arguments": arguments})
        .to_string();
        self.raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
        self.seq
    }

    /// The next message, failing after [`WAIT`].
    pub fn next(&mut self) -> Option<Value> {
        match self.messages.recv_timeout(WAIT) {
            Ok(msg) => {
                self.seen.push(msg.clone());
                Some(msg)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no message within {WAIT:?}; seen {:#?}", self.seen)
            }
        }
    }

    /// Messages until one matches `pred` (which is returned).
    pub fn until(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            match self.next() {
                Some(msg) if pred(&msg) => return msg,
                Some(_) => {}
                None => {
                    panic!("the adapter closed its output before {what}; seen {:#?}", self.seen)
                }
            }
        }
    }

    /// The response to request `seq`.
    pub fn response(&mut self, seq: i64) -> Value {
        self.until(&format!("the response to {seq}"), |m| {
            m["type"] == "response" && m["request_seq"] == seq
        })
    }

    /// Sends a request and returns its response.
    pub fn call(&mut self, command: &str, arguments: Value) -> Value {
        let seq = self.request(command, arguments);
        self.response(seq)
    }

    pub fn event(&mut self, name: &str) -> Value {
        self.until(&format!("event {name}"), |m| m["type"] == "event" && m["event"] == name)
    }

    /// Closes the adapter's stdin and waits for it to end; returns (code, stderr).
    pub fn finish(mut self) -> (Option<i32>, String) {
        drop(std::mem::replace(&mut self.input, Box::new(std::io::sink())));
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    err.read_to_string(&mut stderr).unwrap();
                }
                return (status.code(), stderr);
            }
            assert!(Instant::now() < deadline, "the adapter did not end; seen {:#?}", self.seen);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The text of every `output` event of `category` seen so far.
    pub fn output(&self, category: &str) -> String {
        self.seen
            .iter()
            .filter(|m| m["event"] == "output" && m["body"]["category"] == category)
            .filter_map(|m| m["body"]["output"].as_str())
            .collect()
    }
}

impl Drop for Adapter {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            length = n.parse().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("the adapter sends JSON"))
}

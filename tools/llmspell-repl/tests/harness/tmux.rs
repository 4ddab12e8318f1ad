//! A real terminal for the interactive REPL: a private tmux server (its socket in the test's
//! home, no user config) running the binary in one pane; keys go in with `send-keys`, the
//! screen comes out with `capture-pane`. When the REPL exits the pane prints `EXIT=<status>`
//! and stays, so tests can read how it ended.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{Home, binary, kerneld};

/// How long a screen may take to show what a test waits for (a slow shared machine).
const SCREEN_WAIT: Duration = Duration::from_secs(30);

pub struct Terminal {
    socket: PathBuf,
}

/// Quotes `s` for `sh`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl Terminal {
    /// Starts `llmspell-repl ARGS` in a 120×40 terminal with `home` as its `$LLMSPELL_HOME`.
    pub fn start(home: &Home, args: &[&str]) -> Terminal {
        Terminal::start_with_env(home, args, &[])
    }

    /// Like [`Terminal::start`], with extra environment variables.
    pub fn start_with_env(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Terminal {
        let _ = kerneld();
        // A socket of its own per terminal: a new server never meets a dying one.
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = home.path().join(format!("tmux-{n}"));
        let mut command = format!(
            "env -u LLMSPELL_KERNEL -u LLMSPELL_LOG LLMSPELL_HOME={home} TMPDIR={home}",
            home = quote(home.path().to_str().unwrap())
        );
        for (key, value) in env {
            command.push_str(&format!(" {key}={}", quote(value)));
        }
        command.push_str(&format!(" {}", quote(binary().to_str().unwrap())));
        for arg in args {
            command.push_str(&format!(" {}", quote(arg)));
        }
        command.push_str("; echo EXIT=$?; sleep 600");
        let terminal = Terminal { socket };
        let out = terminal.tmux(&[
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            "-c",
            home.path().to_str().unwrap(),
            &command,
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?} (is tmux installed?)");
        terminal.wait_until("the first prompt", |s| s.lines().any(|l| l.trim_end() == ">"));
        terminal
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs (the interactive tests need tmux installed)")
    }

    /// Types `text` as it is (no key names).
    pub fn type_text(&self, text: &str) {
        let out = self.tmux(&["send-keys", "-t", "0", "-l", text]);
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Presses keys by tmux name: `Enter`, `Tab`, `C-c`, `C-d`, `Up`.
    pub fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "send-keys: {out:?}");
    }

    /// Types `line` and presses Enter.
    pub fn enter(&self, line: &str) {
        self.type_text(line);
        self.press(&["Enter"]);
    }

    /// Enters `line` as a cell and waits until it has run: the screen shows it once more than
    /// before, and a fresh `>` prompt after it. (A key typed while a cell runs meets the
    /// terminal in cooked mode, where Ctrl-D is an end of file and is lost, so tests that go
    /// on with keys wait for the prompt.)
    pub fn run(&self, line: &str) -> String {
        let echoed = format!("> {line}");
        let count = |s: &str| s.lines().filter(|l| l.trim_end() == echoed).count();
        let before = count(&self.screen());
        self.enter(line);
        self.wait_until(&format!("{line:?} to run and a prompt after it"), |s| {
            let last = s.lines().last().map(str::trim_end);
            count(s) > before && last == Some(">")
        })
    }

    /// The screen and its scrollback, trailing blank lines removed.
    pub fn screen(&self) -> String {
        self.capture(false)
    }

    /// The screen with its colour escapes.
    pub fn screen_with_escapes(&self) -> String {
        self.capture(true)
    }

    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["capture-pane", "-p", "-J", "-S", "-500", "-t", "0"];
        if escapes {
            args.push("-e");
        }
        let out = self.tmux(&args);
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// Waits until the screen shows `needle`; returns the screen.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_until(&format!("the screen to show {needle:?}"), |s| s.contains(needle))
    }

    /// Waits until the screen's last line is `line` (e.g. a fresh `>` prompt).
    pub fn wait_last_line(&self, line: &str) -> String {
        self.wait_until(&format!("a last line of {line:?}"), |s| {
            s.lines().last().is_some_and(|l| l.trim_end() == line.trim_end())
        })
    }

    /// Waits until `ok(screen)`; panics with the screen after [`SCREEN_WAIT`].
    pub fn wait_until(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the REPL to exit; its exit status.
    pub fn exit_status(&self) -> i32 {
        let screen = self.wait_for("EXIT=");
        let tail = screen.rsplit("EXIT=").next().unwrap_or("");
        tail.trim().lines().next().unwrap_or("").parse().expect("a numeric exit status")
    }

    /// The process id of the REPL (the pane's shell runs it as a child).
    pub fn pane_pid(&self) -> u32 {
        let out = self.tmux(&["display-message", "-p", "-t", "0", "#{pane_pid}"]);
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a pane pid")
    }

    /// The REPL's process id: the pane's shell's child.
    pub fn repl_pid(&self) -> u32 {
        let shell = self.pane_pid();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"));
        let children = children.expect("the pane's shell has a children list");
        children
            .split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .find(|pid: &u32| {
                std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary())
            })
            .expect("the REPL runs in the pane")
    }

    /// Closes the terminal: the server goes, and the REPL gets SIGHUP.
    pub fn close(&self) {
        let _ = self.tmux(&["kill-server"]);
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.close();
    }
}

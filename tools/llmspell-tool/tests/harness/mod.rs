//! Test harness: the real `llmspell-tool` binary in a temp `$LLMSPELL_HOME` (also its working
//! directory), a command builder, shell pipelines (`| jq`), a pseudo-terminal (`script`), and
//! daemon kernels started with the `llmspell-kerneld` binary built beside it, stopped however
//! the test ends.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use llmspell_testkit::beside;
pub use llmspell_testkit::{Daemon, Run, require};

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_llmspell-tool"))
}

/// The directory of the built binaries (target/<profile>).
pub fn bin_dir() -> &'static Path {
    binary().parent().expect("the binary has a directory")
}

/// `llmspell-kerneld` from the same build; `cargo test --workspace` builds it.
pub fn kerneld() -> PathBuf {
    beside(binary(), "llmspell-kerneld")
}

/// A run of this tool.
fn run_of(out: Output) -> Run {
    Run::new("llmspell-tool", out)
}

/// Runs `cmd` with `input` piped to stdin.
pub fn feed(cmd: Command, input: &str) -> Run {
    llmspell_testkit::feed("llmspell-tool", cmd, input)
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
        run_of(self.command(args).output().unwrap())
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
        run_of(out)
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
        let mut run = run_of(out);
        run.stdout = run.stdout.replace("\r\n", "\n");
        run
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.path().join("config.toml"), text).unwrap();
    }

    /// Starts `llmspell-kerneld start --daemon --id ID` in this home; stopped when dropped.
    pub fn daemon(&self, id: &str) -> Daemon {
        Daemon::start(&kerneld(), self.path(), id)
    }
}

//! Logging: `tracing` events as text or JSON lines, to stderr or to a log file.
//!
//! - A log file is opened `O_APPEND` (so writers never overwrite each other, and
//!   `copytruncate` rotation cannot fill it with NULs) and reopened by path on SIGHUP
//!   ([`LogHandle::reopen`]), which is how `llmspell-logrotate` and logrotate(8) rotate it
//!   without losing a line. In daemon mode stdout and stderr point at the same file and follow it.
//! - With `--log-rotate-size`, `logroller` rotates the file in-process instead.
//! - The level is chosen by `--log-level`, else `LLMSPELL_LOG`, else config.toml, else `warn`,
//!   and can be changed while running (SIGUSR1 reloads config.toml).
//!
//! Each event is formatted into one buffer and written with one `write`, under a lock, so lines
//! from different threads never interleave.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use llmspell_common::ExitCode;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{Registry, reload};

use crate::Failure;
use crate::cli::LogFormat;

/// Where log lines go.
#[derive(Debug, Clone)]
pub enum LogTarget {
    Stderr,
    File(PathBuf),
    /// In-process size rotation: the file, its size limit in bytes, rotated files kept.
    Rotating {
        path: PathBuf,
        max_bytes: u64,
        keep: u32,
    },
}

enum Sink {
    Stderr,
    File { path: PathBuf, file: File, follow_stdio: bool },
    Rolling(Box<logroller::LogRoller>),
}

impl Sink {
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stderr => std::io::stderr().lock().write_all(buf),
            Sink::File { file, .. } => file.write_all(buf),
            Sink::Rolling(roller) => roller.write_all(buf).and_then(|()| roller.flush()),
        }
    }
}

/// Changes the running logger: reopen its file, change its level, write a line regardless of level.
#[derive(Clone)]
pub struct LogHandle {
    sink: Arc<Mutex<Sink>>,
    level: reload::Handle<LevelFilter, Registry>,
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle").finish_non_exhaustive()
    }
}

struct SinkWriter(Arc<Mutex<Sink>>);

impl Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut sink = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sink.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone)]
struct MakeSink(Arc<Mutex<Sink>>);

impl<'a> MakeWriter<'a> for MakeSink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> SinkWriter {
        SinkWriter(self.0.clone())
    }
}

/// Parses a level name (`off`, `error`, `warn`, `info`, `debug`, `trace`).
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    name.trim().parse::<LevelFilter>().ok()
}

/// Opens a log file for appending (mode 0640), creating its directory.
pub fn open_log_file(path: &Path) -> Result<File, Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(
            llmspell_common::exit::for_io_error(&e, false),
            format!("cannot open log file {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    OpenOptions::new().append(true).create(true).mode(0o640).open(path).map_err(fail)
}

/// Installs the global subscriber. `follow_stdio`: also point stdout/stderr at the file on
/// reopen (daemon mode, where they already are).
pub fn init(
    target: &LogTarget,
    format: LogFormat,
    level: LevelFilter,
    follow_stdio: bool,
) -> Result<LogHandle, Failure> {
    let sink = match target {
        LogTarget::Stderr => Sink::Stderr,
        LogTarget::File(path) => {
            Sink::File { path: path.clone(), file: open_log_file(path)?, follow_stdio }
        }
        LogTarget::Rotating { path, max_bytes, keep } => {
            Sink::Rolling(Box::new(roller(path, *max_bytes, *keep)?))
        }
    };
    let sink = Arc::new(Mutex::new(sink));
    let (filter, level_handle) = reload::Layer::new(level);
    let ansi =
        matches!(target, LogTarget::Stderr) && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer =
        tracing_subscriber::fmt::layer().with_writer(MakeSink(sink.clone())).with_ansi(ansi);
    let layer = match format {
        LogFormat::Text => layer.with_thread_names(true).boxed(),
        LogFormat::Json => layer.json().with_current_span(false).with_thread_names(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .map_err(|e| Failure::new(ExitCode::Software, format!("cannot install the logger: {e}")))?;
    Ok(LogHandle { sink, level: level_handle })
}

fn roller(path: &Path, max_bytes: u64, keep: u32) -> Result<logroller::LogRoller, Failure> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = Path::new(path.file_name().unwrap_or("kernel.log".as_ref()));
    let kib = max_bytes.div_ceil(1024).max(1);
    logroller::LogRollerBuilder::new(dir, name)
        .rotation(logroller::Rotation::SizeBased(logroller::RotationSize::KB(kib)))
        .max_keep_files(u64::from(keep))
        .build()
        .map_err(|e| {
            Failure::new(
                ExitCode::CantCreate,
                format!("cannot set up log rotation for {}: {e}", path.display()),
            )
        })
}

/// Parses `10M`, `512K`, `1G` or a byte count.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let factor = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&b| b > 0)
}

impl LogHandle {
    /// Reopens the log file by path (after a rename by a rotator). Stderr and in-process rotation
    /// have nothing to reopen.
    pub fn reopen(&self) -> Result<Option<PathBuf>, Failure> {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let Sink::File { path, file, follow_stdio } = &mut *sink else { return Ok(None) };
        let fresh = open_log_file(path)?;
        if *follow_stdio {
            // Panics and stray prints follow the log to its new file.
            let _ = nix::unistd::dup2_stdout(&fresh);
            let _ = nix::unistd::dup2_stderr(&fresh);
        }
        *file = fresh;
        Ok(Some(path.clone()))
    }

    pub fn level(&self) -> LevelFilter {
        self.level.clone_current().unwrap_or(LevelFilter::WARN)
    }

    pub fn set_level(&self, level: LevelFilter) {
        let _ = self.level.modify(|current| *current = level);
    }

    /// Writes one line whatever the level (state dumps asked for by a signal).
    pub fn write_line(&self, line: &str) {
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = sink.write_all(format!("{line}\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10M"), Some(10 << 20));
        assert_eq!(parse_size("512k"), Some(512 << 10));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("1X"), None);
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(parse_level("loud"), None);
    }
}

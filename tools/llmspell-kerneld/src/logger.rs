//! A small `log` backend: one line per record on stderr, UTC timestamp first.
//!
//! The level comes from `LLMSPELL_LOG` if set, else from config.toml (`[kernel] log_level`),
//! else `warn`. Lines are written whole with one `write` so threads never interleave mid-line.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let time = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let line = format!("{time} {:5} {}: {}\n", record.level(), record.target(), record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Parses a level name (`error`, `warn`, `info`, `debug`, `trace`, `off`).
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    name.parse::<LevelFilter>().ok()
}

/// Installs the logger (once; later calls only change the level).
pub fn init(level: LevelFilter) {
    let _ = log::set_logger(&StderrLogger);
    let level = std::env::var("LLMSPELL_LOG").ok().and_then(|v| parse_level(&v)).unwrap_or(level);
    log::set_max_level(level);
}

/// Whether records at `level` are logged.
pub fn enabled(level: Level) -> bool {
    level <= log::max_level()
}

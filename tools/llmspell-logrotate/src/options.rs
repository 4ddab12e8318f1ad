//! Rotation options: the partial [`Options`] that flags and config tables give, how they are
//! layered, and the complete [`Policy`] one log is rotated with.
//!
//! Guarantees: every value is parsed by one function whichever way it arrives (flag or TOML), and
//! a [`Policy`] is only built from a consistent set (no --signal without a PID file, no
//! --copytruncate with a signal), so the rotation code never sees a contradiction.

use std::time::Duration;

use nix::sys::signal::Signal;
use serde::{Deserialize, Deserializer};

/// Options as given: `None` means "not said here", so layers can be merged.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Options {
    #[serde(default, deserialize_with = "de_size")]
    pub size: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    pub max_age: Option<Duration>,
    pub keep: Option<usize>,
    #[serde(default, deserialize_with = "de_duration")]
    pub keep_age: Option<Duration>,
    #[serde(default, deserialize_with = "de_size")]
    pub max_total: Option<u64>,
    pub compress: Option<bool>,
    pub compress_level: Option<u32>,
    pub delay_compress: Option<bool>,
    pub dateext: Option<bool>,
    pub missing_ok: Option<bool>,
    pub not_if_empty: Option<bool>,
    #[serde(default, deserialize_with = "de_mode")]
    pub create: Option<u32>,
    pub copytruncate: Option<bool>,
    #[serde(default, deserialize_with = "de_signal")]
    pub signal: Option<Signal>,
    pub pid_file: Option<String>,
    #[serde(default, deserialize_with = "de_duration")]
    pub reopen_timeout: Option<Duration>,
}

/// How the writer is moved off the rotated file.
#[derive(Debug, Clone, PartialEq)]
pub enum Switch {
    /// Rename only: for writers that open the log for each line, or when none runs.
    Rename,
    /// Rename, then send `signal` to the PID in `pid_file` (`{stem}` not yet replaced) and wait
    /// until the writer no longer has the rotated file open.
    Signal { signal: Signal, pid_file: String },
    /// Copy, then truncate in place (the writer must use O_APPEND).
    CopyTruncate,
}

/// Everything one log is rotated with.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub size: Option<u64>,
    pub max_age: Option<Duration>,
    pub keep: Option<usize>,
    pub keep_age: Option<Duration>,
    pub max_total: Option<u64>,
    pub compress: bool,
    pub compress_level: u32,
    pub delay_compress: bool,
    pub dateext: bool,
    pub missing_ok: bool,
    pub not_if_empty: bool,
    pub create: Option<u32>,
    pub switch: Switch,
    pub reopen_timeout: Duration,
}

impl Options {
    /// These options with every value `over` gives replacing ours.
    pub fn overlaid(&self, over: &Options) -> Options {
        let o = over.clone();
        let s = self.clone();
        Options {
            size: o.size.or(s.size),
            max_age: o.max_age.or(s.max_age),
            keep: o.keep.or(s.keep),
            keep_age: o.keep_age.or(s.keep_age),
            max_total: o.max_total.or(s.max_total),
            compress: o.compress.or(s.compress),
            compress_level: o.compress_level.or(s.compress_level),
            delay_compress: o.delay_compress.or(s.delay_compress),
            dateext: o.dateext.or(s.dateext),
            missing_ok: o.missing_ok.or(s.missing_ok),
            not_if_empty: o.not_if_empty.or(s.not_if_empty),
            create: o.create.or(s.create),
            copytruncate: o.copytruncate.or(s.copytruncate),
            signal: o.signal.or(s.signal),
            pid_file: o.pid_file.or(s.pid_file),
            reopen_timeout: o.reopen_timeout.or(s.reopen_timeout),
        }
    }

    /// The complete policy, or what is inconsistent.
    pub fn policy(&self) -> Result<Policy, String> {
        let copytruncate = self.copytruncate.unwrap_or(false);
        let switch = match (copytruncate, self.signal, &self.pid_file) {
            (true, None, None) => Switch::CopyTruncate,
            (true, _, _) => {
                return Err("copytruncate cannot be combined with signal/pid-file".into());
            }
            (false, signal, Some(pid_file)) => Switch::Signal {
                signal: signal.unwrap_or(Signal::SIGHUP),
                pid_file: pid_file.clone(),
            },
            (false, Some(_), None) => return Err("signal needs pid-file".into()),
            (false, None, None) => Switch::Rename,
        };
        let compress_level = self.compress_level.unwrap_or(6);
        if !(1..=9).contains(&compress_level) {
            return Err(format!("compress-level {compress_level} is not in 1..=9"));
        }
        if self.size == Some(0) {
            return Err("size must be more than 0".into());
        }
        Ok(Policy {
            size: self.size,
            max_age: self.max_age,
            keep: self.keep,
            keep_age: self.keep_age,
            max_total: self.max_total,
            compress: self.compress.unwrap_or(false),
            compress_level,
            delay_compress: self.delay_compress.unwrap_or(false),
            dateext: self.dateext.unwrap_or(false),
            missing_ok: self.missing_ok.unwrap_or(false),
            not_if_empty: self.not_if_empty.unwrap_or(false),
            create: self.create,
            switch,
            reopen_timeout: self.reopen_timeout.unwrap_or(Duration::from_secs(10)),
        })
    }
}

/// `N`, `NK`, `NM`, `NG` (powers of 1024, as logrotate(8) reads them; `KiB`, `MB` … too).
pub fn parse_size(text: &str) -> Result<u64, String> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| format!("invalid size {text:?} ({e}): use N, NK, NM or NG"))
}

/// A duration such as `30s`, `12h`, `7d`, `2weeks`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("invalid duration {text:?} ({e}): use e.g. 30s, 12h, 7d"))
}

/// An octal file mode such as `0640` or `640`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim();
    match u32::from_str_radix(digits.strip_prefix("0o").unwrap_or(digits), 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(format!("invalid mode {text:?}: use octal digits, e.g. 0640")),
    }
}

/// A signal by name (`HUP`, `SIGHUP`, `usr1`) or number (`1`).
pub fn parse_signal(text: &str) -> Result<Signal, String> {
    let bad = || format!("invalid signal {text:?}: use a name such as HUP or USR1, or a number");
    let word = text.trim().to_ascii_uppercase();
    if let Ok(number) = word.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| bad());
    }
    let name = if word.starts_with("SIG") { word } else { format!("SIG{word}") };
    name.parse::<Signal>().map_err(|_| bad())
}

/// A TOML value that may be written as a number or a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(i64),
    Text(String),
}

fn de_with<'de, D, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    let text = match NumOrText::deserialize(d)? {
        NumOrText::Num(n) => n.to_string(),
        NumOrText::Text(t) => t,
    };
    parse(&text).map(Some).map_err(serde::de::Error::custom)
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_with(d, parse_size)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    de_with(d, parse_duration)
}

fn de_signal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signal>, D::Error> {
    de_with(d, parse_signal)
}

/// TOML modes are best written as octal literals (`0o640`); a string is read as octal too.
fn de_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match NumOrText::deserialize(d)? {
        NumOrText::Num(n) => match u32::try_from(n) {
            Ok(mode) if mode <= 0o7777 => Ok(Some(mode)),
            _ => Err(serde::de::Error::custom(format!("invalid mode {n:o}"))),
        },
        NumOrText::Text(t) => parse_mode(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_powers_of_1024() {
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("ten").unwrap_err().contains("\"ten\""));
    }

    #[test]
    fn durations_signals_and_modes() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_signal("hup"), Ok(Signal::SIGHUP));
        assert_eq!(parse_signal("SIGUSR1"), Ok(Signal::SIGUSR1));
        assert_eq!(parse_signal("1"), Ok(Signal::SIGHUP));
        assert!(parse_signal("NOPE").is_err());
        assert_eq!(parse_mode("0640"), Ok(0o640));
        assert!(parse_mode("0999").is_err());
        assert!(parse_mode("").is_err());
    }

    #[test]
    fn later_layers_win_and_policy_checks_consistency() {
        let base = Options { keep: Some(3), compress: Some(true), ..Options::default() };
        let over = Options { keep: Some(7), ..Options::default() };
        let merged = base.overlaid(&over);
        assert_eq!((merged.keep, merged.compress), (Some(7), Some(true)));
        let policy = merged.policy().unwrap();
        assert_eq!((policy.compress_level, policy.switch), (6, Switch::Rename));
        let bad =
            Options { copytruncate: Some(true), pid_file: Some("p".into()), ..Options::default() };
        assert!(bad.policy().is_err());
        let signal_alone = Options { signal: Some(Signal::SIGUSR1), ..Options::default() };
        assert!(signal_alone.policy().unwrap_err().contains("pid-file"));
    }

    #[test]
    fn toml_values_may_be_numbers_or_text() {
        let o: Options =
            toml::from_str("size = \"10M\"\nmax-total = 4096\ncreate = 0o640\nsignal = \"USR1\"")
                .unwrap();
        assert_eq!(o.size, Some(10 << 20));
        assert_eq!(o.max_total, Some(4096));
        assert_eq!(o.create, Some(0o640));
        assert_eq!(o.signal, Some(Signal::SIGUSR1));
        let err = toml::from_str::<Options>("sise = 1").unwrap_err().to_string();
        assert!(err.contains("sise"), "{err}");
    }
}

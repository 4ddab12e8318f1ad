//! Daemon mode, the way daemon(7) asks: double fork and `setsid` (by the `daemonize` crate),
//! umask 027, working directory `/`, stdin from /dev/null, stdout and stderr into the log file.
//!
//! The original process does not exit when the fork does. It waits on a readiness pipe and
//! reports what the daemon reports: the connection file path (exit 0) once every socket is
//! bound and the file is written, or the daemon's one-line error and its exit code. If the daemon
//! dies without a word, the pipe closes and the parent says so (exit 70), pointing at the log.
//!
//! This must run before any thread, ZeroMQ context or runtime exists: only the forking thread
//! survives a fork.

use std::fs::File;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::path::Path;

use llmspell_common::ExitCode;

use crate::Failure;

/// Which process we are after [`detach`].
pub enum Side {
    /// The original process: the daemon's outcome, to report and exit with.
    Parent(Result<String, Failure>),
    /// The daemon: carry on starting, then tell the parent through this.
    Daemon(Readiness),
}

/// The daemon's end of the readiness pipe. Foreground kernels have none.
#[derive(Default)]
pub struct Readiness(Option<PipeWriter>);

impl Readiness {
    /// Reports success (the connection file path) and closes the pipe.
    pub fn ready(&mut self, connection_file: &Path) {
        self.send(&format!("ok\t{}\n", connection_file.display()));
    }

    /// Reports a start-up failure and closes the pipe.
    pub fn failed(&mut self, failure: &Failure) {
        self.send(&format!(
            "err\t{}\t{}\n",
            failure.code.code(),
            failure.message.replace('\n', " ")
        ));
    }

    fn send(&mut self, line: &str) {
        if let Some(mut pipe) = self.0.take() {
            let _ = pipe.write_all(line.as_bytes());
        }
    }
}

/// Forks into the background with stdout and stderr going to `log`.
pub fn detach(log: File) -> Result<Side, Failure> {
    let (reader, writer) = std::io::pipe().map_err(|e| {
        Failure::new(ExitCode::Software, format!("cannot create the readiness pipe: {e}"))
    })?;
    let stdout = log.try_clone().map_err(|e| {
        Failure::new(ExitCode::IoErr, format!("cannot duplicate the log file: {e}"))
    })?;
    let outcome = daemonize::Daemonize::new()
        .working_directory("/")
        .umask(0o027)
        .stdout(stdout)
        .stderr(log)
        .execute();
    match outcome {
        daemonize::Outcome::Parent(Ok(_)) => {
            drop(writer);
            Ok(Side::Parent(wait_for_daemon(reader)))
        }
        daemonize::Outcome::Parent(Err(e)) => {
            Err(Failure::new(ExitCode::Software, format!("cannot fork the daemon: {e}")))
        }
        daemonize::Outcome::Child(Err(e)) => {
            let failure = Failure::new(ExitCode::Software, format!("cannot become a daemon: {e}"));
            Readiness(Some(writer)).failed(&failure);
            Err(failure)
        }
        daemonize::Outcome::Child(Ok(_)) => {
            drop(reader);
            Ok(Side::Daemon(Readiness(Some(writer))))
        }
    }
}

/// Reads the daemon's one report.
fn wait_for_daemon(mut reader: PipeReader) -> Result<String, Failure> {
    let mut report = String::new();
    let _ = reader.read_to_string(&mut report);
    parse_report(report.lines().next().unwrap_or(""))
}

fn parse_report(line: &str) -> Result<String, Failure> {
    let mut fields = line.splitn(3, '\t');
    match (fields.next(), fields.next(), fields.next()) {
        (Some("ok"), Some(path), None) => Ok(path.to_owned()),
        (Some("err"), Some(code), Some(message)) => {
            let code =
                code.parse::<u8>().ok().and_then(ExitCode::from_code).unwrap_or(ExitCode::Software);
            Err(Failure::new(code, message))
        }
        _ => Err(Failure::new(
            ExitCode::Software,
            "the daemon exited before it was ready; see its log file",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        assert_eq!(
            parse_report("ok\t/h/kernels/kernel-a.json").unwrap(),
            "/h/kernels/kernel-a.json"
        );
        let err = parse_report("err\t75\t/h/kernels/kernel-a.pid is locked by running process 42")
            .unwrap_err();
        assert_eq!(err.code, ExitCode::TempFail);
        assert!(err.message.contains("42"));
        assert_eq!(parse_report("").unwrap_err().code, ExitCode::Software);
    }
}

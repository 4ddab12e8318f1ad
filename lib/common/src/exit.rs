//! Exit codes of every llmspell tool, in one place (ARCHITECTURE §6; the values are sysexits(3)).
//!
//! Libraries return typed errors that say which code they map to through [`HasExitCode`]; only a
//! tool's `main` turns a code into a process exit.

/// The documented exit codes. `as u8` gives the process status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Everything worked.
    Ok = 0,
    /// The thing asked about is not so (a dead kernel for `status`, an unhealthy one for `health`).
    No = 1,
    /// The command line was wrong (EX_USAGE).
    Usage = 64,
    /// Input data was malformed: bad JSON, a corrupt registry (EX_DATAERR).
    DataErr = 65,
    /// An input file does not exist or cannot be read (EX_NOINPUT).
    NoInput = 66,
    /// No kernel answers; a needed service is unavailable (EX_UNAVAILABLE).
    Unavailable = 69,
    /// A bug or an unexpected internal failure (EX_SOFTWARE).
    Software = 70,
    /// An output file cannot be created (EX_CANTCREAT).
    CantCreate = 73,
    /// Reading or writing failed (EX_IOERR).
    IoErr = 74,
    /// A temporary failure: a lock is held or a port is busy; retrying may work (EX_TEMPFAIL).
    TempFail = 75,
    /// The other side broke the protocol: a bad signature, a malformed reply (EX_PROTOCOL).
    Protocol = 76,
    /// Not allowed (EX_NOPERM).
    NoPerm = 77,
    /// A configuration or connection file is wrong (EX_CONFIG).
    Config = 78,
}

impl ExitCode {
    /// The numeric process status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code for a process status, if it is one of ours.
    pub fn from_code(code: u8) -> Option<ExitCode> {
        use ExitCode::*;
        [
            Ok,
            No,
            Usage,
            DataErr,
            NoInput,
            Unavailable,
            Software,
            CantCreate,
            IoErr,
            TempFail,
            Protocol,
            NoPerm,
            Config,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

/// An error that knows which exit code a tool should end with.
pub trait HasExitCode {
    fn exit_code(&self) -> ExitCode;
}

/// The exit code that best describes an I/O failure on a path being read (`reading`) or written.
pub fn for_io_error(err: &std::io::Error, reading: bool) -> ExitCode {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::NotFound if reading => ExitCode::NoInput,
        ErrorKind::PermissionDenied => ExitCode::NoPerm,
        _ if reading => ExitCode::IoErr,
        _ => ExitCode::CantCreate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_sysexits_values() {
        assert_eq!(ExitCode::Usage.code(), 64);
        assert_eq!(ExitCode::TempFail.code(), 75);
        assert_eq!(ExitCode::Config.code(), 78);
    }

    #[test]
    fn io_errors_map_by_direction() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert_eq!(for_io_error(&missing, true), ExitCode::NoInput);
        assert_eq!(for_io_error(&missing, false), ExitCode::CantCreate);
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert_eq!(for_io_error(&denied, true), ExitCode::NoPerm);
    }
}

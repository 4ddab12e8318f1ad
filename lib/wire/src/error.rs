//! Errors from decoding or sending wire messages.

use llmspell_common::{ExitCode, HasExitCode};

/// What was wrong with a multipart message, or with sending one.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// No `<IDS|MSG>` delimiter frame.
    #[error("no <IDS|MSG> delimiter among {frames} frames")]
    NoDelimiter { frames: usize },
    /// Fewer than the five frames (signature, header, parent, metadata, content) after it.
    #[error("truncated message: {found} frames after <IDS|MSG>, need 5")]
    Truncated { found: usize },
    /// The signature frame is missing or does not match.
    #[error("bad signature")]
    BadSignature,
    /// A frame is not the JSON it must be.
    #[error("{part} is not valid JSON: {source}")]
    BadJson { part: &'static str, source: serde_json::Error },
    /// The header lacks a field or has one of the wrong type.
    #[error("header field {field:?} is missing or not a string")]
    BadHeader { field: &'static str },
    /// ZeroMQ failed.
    #[error("zmq: {0}")]
    Zmq(#[from] zmq::Error),
    /// Nothing arrived in time.
    #[error("timed out after {0:?} waiting for the kernel")]
    Timeout(std::time::Duration),
}

impl HasExitCode for WireError {
    fn exit_code(&self) -> ExitCode {
        match self {
            WireError::Zmq(_) | WireError::Timeout(_) => ExitCode::Unavailable,
            _ => ExitCode::Protocol,
        }
    }
}

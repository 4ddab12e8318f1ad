//! The typed error every tool call ends in when it does not succeed.

use serde::{Deserialize, Serialize};

/// The five kinds of failure, as they appear in `tool_reply` (`error_type`) and in Lua errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// No tool (or no file, key, selector target …) of that name.
    NotFound,
    /// The parameters break the tool's schema or its own rules.
    Validation,
    /// The tool ran and failed.
    Execution,
    /// The invoke ran out of time and was stopped.
    Timeout,
    /// A path outside the allowed paths, or an executable not allowed.
    Permission,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "not_found",
            ErrorType::Validation => "validation",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Permission => "permission",
        }
    }

    /// Parses the `error_type` string of a reply.
    pub fn parse(text: &str) -> Option<ErrorType> {
        Some(match text {
            "not_found" => ErrorType::NotFound,
            "validation" => ErrorType::Validation,
            "execution" => ErrorType::Execution,
            "timeout" => ErrorType::Timeout,
            "permission" => ErrorType::Permission,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed tool call: its kind and a one-line message saying what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {message}")]
pub struct ToolError {
    pub error_type: ErrorType,
    pub message: String,
}

impl ToolError {
    pub fn new(error_type: ErrorType, message: impl Into<String>) -> ToolError {
        ToolError { error_type, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorType::NotFound, message)
    }
    pub fn validation(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorType::Validation, message)
    }
    pub fn execution(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorType::Execution, message)
    }
    pub fn timeout(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorType::Timeout, message)
    }
    pub fn permission(message: impl Into<String>) -> ToolError {
        ToolError::new(ErrorType::Permission, message)
    }
}

/// `?` on I/O inside a tool: the OS error becomes an execution error (use the `io_error` helper
/// to name the path, which is better).
impl From<std::io::Error> for ToolError {
    fn from(e: std::io::Error) -> ToolError {
        io_error(e, None)
    }
}

/// An I/O error about `path`: not found and permission keep their kind, the rest is execution.
pub fn io_error(e: std::io::Error, path: Option<&std::path::Path>) -> ToolError {
    let what = match path {
        Some(p) => format!("{}: {e}", p.display()),
        None => e.to_string(),
    };
    match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::not_found(what),
        std::io::ErrorKind::PermissionDenied => ToolError::permission(what),
        std::io::ErrorKind::TimedOut => ToolError::timeout(what),
        _ => ToolError::execution(what),
    }
}

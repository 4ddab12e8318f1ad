//! [`LlmError`]: every way a provider call can fail, with messages fit to show a script user.

/// Why a chat request failed. Messages never contain an API key (see [`crate::redact`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// No provider to use; the message names the config key or env var to set.
    #[error("{0}")]
    NotConfigured(String),
    /// The provider has no key; the message names the env var / key file.
    #[error("{0}")]
    NoKey(String),
    /// The provider answered with an HTTP error status.
    #[error("provider {provider}: HTTP {status}: {message}")]
    Http { provider: String, status: u16, message: String },
    /// The request never got an answer (connection refused, DNS, reset, timeout).
    #[error("provider {provider}: {message}")]
    Transport { provider: String, message: String },
    /// The answer could not be understood.
    #[error("provider {provider}: malformed reply: {message}")]
    Malformed { provider: String, message: String },
    /// The request was invalid before it was sent (bad message list, bad options).
    #[error("{0}")]
    Invalid(String),
    /// Cancelled by the caller (interrupt).
    #[error("the request was cancelled")]
    Cancelled,
}

impl LlmError {
    /// Whether trying again may help: 408, 409, 429, 5xx and transport failures.
    pub fn is_transient(&self) -> bool {
        match self {
            LlmError::Http { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            LlmError::Transport { .. } => true,
            _ => false,
        }
    }
}

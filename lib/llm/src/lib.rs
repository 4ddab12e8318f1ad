//! LLM providers for llmspell: configuration (`[providers.NAME]` in config.toml), the two wire
//! formats that cover the field (OpenAI-compatible chat completions and Anthropic Messages),
//! server-sent-event parsing, retries with backoff, and a cancellable call running on its own
//! thread. No Lua here: the runtime's `Agent` global drives it.
//!
//! Guarantees:
//! - API keys live in [`ApiKey`], whose `Debug` and `Display` never show the key; every error
//!   message built from a provider's reply is passed through [`redact`] first, so a key a
//!   server echoes back never reaches a log, an error or a script.
//! - A malformed reply is an [`LlmError::Malformed`], never a panic.
//! - [`Call`] runs the request on a worker thread; dropping it or calling [`Call::cancel`]
//!   stops the worker at the next chunk, and the caller never waits for the network to notice.

mod anthropic;
mod call;
pub mod config;
mod error;
mod http;
mod openai;
mod secret;
pub mod sse;
mod types;

pub use call::{Call, Event};
pub use config::{Kind, ProviderConfig, Providers};
pub use error::LlmError;
pub use http::{backoff, parse_retry_after};
pub use secret::{ApiKey, redact};
pub use types::{ChatRequest, ChatResponse, Message, ToolCall, ToolSpec, Usage};

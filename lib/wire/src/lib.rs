//! The Jupyter wire protocol as llmspell speaks it (messaging spec 5.5).
//!
//! - [`connection`]: connection files (read every field, name the bad one, write 0600 atomically).
//! - [`signer`]: HMAC-SHA256 over exactly header, parent_header, metadata and content.
//! - [`frames`]: a multipart ZeroMQ message split at `<IDS|MSG>`, verified *before* any JSON is
//!   parsed, then decoded into a [`Message`].
//! - [`message`]: headers, messages and reply builders that keep identities and parents.
//! - [`client`]: a small blocking client over all five channels, for the tools and the tests.
//! - [`launch`]: a kernel a client starts for itself and stops again (llmspell-repl, llmspell-dap).
//!
//! Nothing here panics on what the network sends: every malformed input is a [`WireError`].

pub mod client;
pub mod connection;
pub mod error;
pub mod frames;
pub mod launch;
pub mod message;
pub mod signer;

pub use client::{Channel, Client, ExecuteOutcome};
pub use connection::{ConnectionFileError, ConnectionInfo, Ports};
pub use error::WireError;
pub use message::{Header, Message, PROTOCOL_VERSION};
pub use signer::Signer;

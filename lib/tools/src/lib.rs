//! The built-in tools and their registry: pure Rust, no Lua, no ZeroMQ. The kernel serves them
//! over `tool_request`, the Lua `Tool` global calls them, and `llmspell-tool` runs them either
//! through a kernel or in-process, all through [`Registry`] and [`protocol::handle`].
//!
//! A tool is a [`ToolDef`]: name, category, description, a JSON Schema for its parameters,
//! examples that are also its self-test, and a `run` function. Parameters are validated before
//! `run` sees them; every failure is a [`ToolError`] of one of five [`ErrorType`]s; every call
//! has a timeout that really stops the work (see [`Context`]); file tools only touch paths the
//! [`Policy`] allows.

mod builtin;
pub mod context;
pub mod error;
pub mod params;
pub mod policy;
pub mod protocol;
pub mod registry;
pub mod spec;

pub use context::Context;
pub use error::{ErrorType, ToolError, io_error};
pub use params::Params;
pub use policy::Policy;
pub use registry::{ExampleOutcome, Registry};
pub use spec::{Example, Expect, RunFn, ToolDef};

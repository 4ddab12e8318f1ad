//! The Lua debugger of llmspell kernels, speaking DAP (the Debug Adapter Protocol) messages as
//! JSON values; the kernel carries them in Jupyter `debug_request` / `debug_reply` /
//! `debug_event` messages, and llmspell-dap tunnels editors' DAP sessions to them.
//!
//! Two halves:
//! - [`Debugger`] (thread-safe): the control thread hands it every request; breakpoints,
//!   `debugInfo`, `dumpCell`, `pause`, `disconnect` are answered from shared state, the rest is
//!   queued for the executor thread.
//! - [`Session`] (executor thread, owns the Lua state's global hook): breakpoints, stepping,
//!   pause, exception stops, and, while stopped, stack, scopes, variables, evaluate from inside
//!   the hook.
//!
//! Pure pieces: [`murmur`] (cell file names), [`breakpoints`] (verification, hit conditions),
//! [`step`] (stepping by depth), [`inspect`] (values as DAP variables).

pub mod breakpoints;
pub mod debugger;
pub mod inspect;
pub mod murmur;
pub mod session;
pub mod step;

pub use debugger::{Debugger, EventSink, Exceptions, Reply, Work};
pub use inspect::DebugLib;
pub use session::{InterruptCheck, Session, record_builtins};

//! llmspell-dap: the Debug Adapter Protocol front of an llmspell kernel's debugger.
//!
//! An editor (VS Code, nvim-dap) speaks DAP to this process, on standard input and output or
//! over one TCP connection; [`session`] turns its requests into `debug_request`s on the
//! kernel's control channel and the kernel's `debug_event`s (iopub) back into DAP events,
//! starting a kernel of its own for `launch` when none is named ([`kernel`]). It links
//! `lib/wire` and `lib/common`, not Lua: the debugger itself runs inside the kernel.

pub mod cli;
pub mod framing;
pub mod kernel;
pub mod lua;
pub mod session;
pub mod transport;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};

use llmspell_common::{ExitCode, Failure, Home};

use crate::cli::Cli;
use crate::transport::{Inbox, Outbox};

/// Parses the command line, serves one client, prints any failure; returns the exit status.
pub fn main() -> u8 {
    llmspell_common::run_tool("llmspell-dap", |cli: Cli| run(&cli))
}

/// Serves one DAP client until it disconnects.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let home = Home::from_env();
    let kernel = cli.kernel.clone().filter(|k| !k.is_empty());
    if let Some(spec) = &kernel {
        // A kernel that is not there is an error now, not at the client's first request.
        llmspell_common::kernel_ref::resolve(spec, &home).map_err(Failure::from_error)?;
    }
    let (input, output): (Box<dyn Read + Send>, Box<dyn Write + Send>) = match cli.listen {
        None => (Box::new(std::io::stdin()), Box::new(std::io::stdout())),
        Some(port) => {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).map_err(|e| {
                let code = match e.kind() {
                    std::io::ErrorKind::AddrInUse => ExitCode::TempFail,
                    std::io::ErrorKind::PermissionDenied => ExitCode::NoPerm,
                    _ => ExitCode::Unavailable,
                };
                Failure::new(code, format!("cannot listen on 127.0.0.1:{port}: {e}"))
            })?;
            let io = |e: std::io::Error| Failure::new(ExitCode::IoErr, format!("listen: {e}"));
            let bound = listener.local_addr().map_err(io)?;
            eprintln!("llmspell-dap: listening on {bound}");
            let (stream, _) = listener.accept().map_err(io)?;
            let _ = stream.set_nodelay(true);
            (Box::new(stream.try_clone().map_err(io)?), Box::new(stream))
        }
    };
    let inbox = Inbox::spawn(input)
        .map_err(|e| Failure::new(ExitCode::Software, format!("cannot start the reader: {e}")))?;
    session::serve(inbox, Outbox::new(output), session::Options { kernel, home })
}

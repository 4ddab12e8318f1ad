//! llmspell-repl: an interactive and batch client of any llmspell kernel.
//!
//! [`session`] attaches to `--kernel ID|PATH` or starts a private kernel ([`kernel`]) that is
//! stopped on every way out; [`interactive`] is the line-editor REPL for a terminal, with
//! [`meta`]-commands and a persistent [`history`]; [`batch`] runs a pipe, a file or `-e` code and
//! prints only what the code prints. Both run cells through [`exec`] and show output with
//! [`output`]; [`signals`] turns SIGINT, SIGTERM and SIGHUP into interrupts and stops.
//!
//! Exit status: 0 when every cell ran, 1 after a Lua error in batch mode (or a stopping signal),
//! 64 bad usage, 66 missing `--execute` file, 69 no kernel answers, 74 I/O error, 76 protocol
//! error.

pub mod batch;
pub mod cli;
pub mod editor;
pub mod exec;
pub mod history;
pub mod interactive;
pub mod kernel;
pub mod meta;
pub mod output;
pub mod session;
pub mod signals;

use std::io::{BufReader, IsTerminal, Read};

use llmspell_common::{ExitCode, Home};

use crate::batch::Input;
use crate::cli::Cli;
use crate::exec::Flags;
use crate::interactive::{AtPrompt, Repl};
use crate::session::Session;

pub use llmspell_common::Failure;

/// Parses the command line, runs, prints any failure; returns the exit status.
pub fn main() -> u8 {
    llmspell_common::run_tool("llmspell-repl", |cli: Cli| run(&cli))
}

/// Runs the REPL: interactive on a terminal, batch for a pipe, `--execute` or `-e`.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let input = batch_input(cli)?;
    let home = Home::from_env();
    let spec = cli.kernel.as_deref().filter(|k| !k.is_empty());
    let flags = Flags::default();
    let at_prompt = AtPrompt::default();
    let mut session = Session::open(spec, &home)?;
    let reaper = session.own.as_ref().map(kernel::OwnKernel::reaper);
    signals::watch(&flags, input.is_none(), at_prompt.clone(), reaper)?;
    let Some(input) = input else {
        let mut repl = Repl::new(session, &home, flags, interactive::color_wanted())?;
        return repl.run(&at_prompt);
    };
    let summary = batch::run(&mut session, input, cli.keep_going, &flags)?;
    if summary.failed > 0 {
        // The Lua error is already on stderr.
        return Err(Failure::new(ExitCode::No, ""));
    }
    Ok(())
}

/// What batch mode reads, or `None` for the interactive mode (standard input is a terminal).
fn batch_input(cli: &Cli) -> Result<Option<Input>, Failure> {
    if !cli.eval.is_empty() {
        return Ok(Some(Input::Chunks(cli.eval.clone())));
    }
    match cli.execute.as_deref() {
        Some(path) if path.as_os_str() == "-" => {
            let mut code = String::new();
            std::io::stdin().read_to_string(&mut code).map_err(|e| {
                Failure::new(ExitCode::IoErr, format!("cannot read standard input: {e}"))
            })?;
            Ok(Some(Input::Chunks(vec![code])))
        }
        Some(path) => {
            let code = std::fs::read_to_string(path).map_err(|e| {
                let code = llmspell_common::exit::for_io_error(&e, true);
                Failure::new(code, format!("cannot read {}: {e}", path.display()))
            })?;
            Ok(Some(Input::Chunks(vec![code])))
        }
        None if std::io::stdin().is_terminal() => Ok(None),
        None => Ok(Some(Input::Lines(batch::lines(BufReader::new(std::io::stdin()))))),
    }
}

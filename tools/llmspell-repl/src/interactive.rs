//! The interactive REPL (standard input is a terminal): read a cell with the line editor, run
//! it, show its output live, again until Ctrl-D or `.exit`.
//!
//! Ctrl-C at the prompt clears the line (reedline reads it as a key). While a cell runs the
//! terminal is back in cooked mode, so Ctrl-C is a SIGINT to the REPL alone (its own kernel is
//! in another process group): it becomes an `interrupt_request` and the prompt returns once the
//! kernel has ended the cell. `input()` in a cell is answered at a prompt of its own; a password
//! is read without echo.

use std::borrow::Cow;
use std::io::Write;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use llmspell_common::{ExitCode, Home};
use llmspell_wire::Message;
use reedline::{Prompt, PromptEditMode, PromptHistorySearch, Reedline, Signal};

use crate::Failure;
use crate::editor::{self, LuaPrompt};
use crate::exec::{self, Cell, Flags, Frontend};
use crate::history::{LineHistory, Problem};
use crate::meta::{self, Flow};
use crate::output::Printer;
use crate::session::Session;

/// One interactive session.
pub struct Repl {
    pub session: Session,
    pub editor: Reedline,
    pub printer: Terminal,
    pub flags: Flags,
    /// The cells run in this session, in order (`.save` writes them).
    pub cells: Vec<String>,
    history_problem: Problem,
    history_problem_shown: bool,
}

impl Repl {
    /// Sets up the editor over `session`, with the history in `$LLMSPELL_HOME/history`.
    pub fn new(session: Session, home: &Home, flags: Flags, color: bool) -> Result<Repl, Failure> {
        let path = home.repl_history_file();
        let problem = Problem::default();
        let history = LineHistory::open(&path, problem.clone()).map_err(|e| {
            let code = llmspell_common::exit::for_io_error(&e, true);
            Failure::new(code, format!("cannot open the history {}: {e}", path.display()))
        })?;
        let editor = editor::build(session.shared_client(), history, color);
        Ok(Repl {
            session,
            editor,
            printer: Terminal { printer: Printer::new(color) },
            flags,
            cells: Vec::new(),
            history_problem: problem,
            history_problem_shown: false,
        })
    }

    /// Reads and runs cells until Ctrl-D, `.exit`, a stopping signal or a lost kernel.
    /// `at_prompt` is true while the editor waits for a line (the signal thread's cue).
    pub fn run(&mut self, at_prompt: &AtomicBool) -> Result<(), Failure> {
        self.banner()?;
        loop {
            self.printer.finish_line()?;
            self.report_history_problem()?;
            at_prompt.store(true, Ordering::SeqCst);
            if self.flags.stopped() {
                return Err(exec::stopped());
            }
            let read = self.editor.read_line(&LuaPrompt);
            at_prompt.store(false, Ordering::SeqCst);
            match read {
                Ok(Signal::Success(line)) if line.trim().is_empty() => {}
                Ok(Signal::Success(line)) if meta::is_meta(&line) => {
                    if meta::run(self, &line)? == Flow::Exit {
                        return Ok(());
                    }
                }
                Ok(Signal::Success(line)) => self.run_cell(&line)?,
                Ok(Signal::CtrlD) => return Ok(()),
                Ok(_) => {} // Ctrl-C: reedline has cleared the line
                Err(e) => {
                    return Err(Failure::new(
                        ExitCode::IoErr,
                        format!("cannot read the terminal: {e}"),
                    ));
                }
            }
        }
    }

    /// Runs `code` as one cell, recorded for `.save`.
    pub fn run_cell(&mut self, code: &str) -> Result<(), Failure> {
        self.cells.push(code.to_owned());
        let cell = Cell { allow_stdin: true, ..Cell::new(code) };
        exec::execute(&mut self.session, cell, &self.flags, &mut self.printer).map(drop)
    }

    fn banner(&mut self) -> Result<(), Failure> {
        let info = &self.session.kernel_info;
        let banner = info["banner"].as_str().unwrap_or("llmspell");
        let whose = match &self.session.own {
            Some(_) => "a kernel of its own".to_owned(),
            None => self.session.label.clone(),
        };
        let text = format!("{banner}\nconnected to {whose}; .help for help, Ctrl-D to leave\n");
        self.printer.out(&text)
    }

    fn report_history_problem(&mut self) -> Result<(), Failure> {
        if self.history_problem_shown {
            return Ok(());
        }
        let problem = self.history_problem.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(problem) = problem {
            self.history_problem_shown = true;
            self.printer.problem(&problem)?;
        }
        Ok(())
    }
}

/// The terminal as a cell's frontend: a [`Printer`] that can also ask for input.
#[derive(Debug)]
pub struct Terminal {
    printer: Printer,
}

impl Deref for Terminal {
    type Target = Printer;
    fn deref(&self) -> &Printer {
        &self.printer
    }
}

impl DerefMut for Terminal {
    fn deref_mut(&mut self) -> &mut Printer {
        &mut self.printer
    }
}

impl Frontend for Terminal {
    fn show(&mut self, msg: &Message) -> Result<(), Failure> {
        self.printer.show(msg)
    }

    fn input(&mut self, prompt: &str, password: bool) -> Option<String> {
        let _ = self.printer.finish_line();
        if password { read_password(prompt) } else { read_input(prompt) }
    }

    fn page(&mut self, text: &str) -> Result<(), Failure> {
        self.printer.page(text)
    }
}

/// The kernel's `input(prompt)` prompt, as is.
struct InputPrompt<'a>(&'a str);

impl Prompt for InputPrompt<'_> {
    fn render_prompt_left(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.0)
    }
    fn render_prompt_right(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_indicator(&self, _mode: PromptEditMode) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_multiline_indicator(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    fn render_prompt_history_search_indicator(&self, _: PromptHistorySearch) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
}

/// A line for `input()`, edited like any line; `None` on Ctrl-C or Ctrl-D.
fn read_input(prompt: &str) -> Option<String> {
    match Reedline::create().read_line(&InputPrompt(prompt)) {
        Ok(Signal::Success(line)) => Some(line),
        _ => None,
    }
}

/// A password: raw mode, nothing echoed; `None` on Ctrl-C, or Ctrl-D on an empty line.
fn read_password(prompt: &str) -> Option<String> {
    let mut out = std::io::stdout();
    let _ = write!(out, "{prompt}");
    let _ = out.flush();
    crossterm::terminal::enable_raw_mode().ok()?;
    let mut value = String::new();
    let answer = loop {
        let Ok(Event::Key(KeyEvent { code, modifiers, kind, .. })) = crossterm::event::read()
        else {
            continue;
        };
        if kind == KeyEventKind::Release {
            continue;
        }
        let ctrl = modifiers.contains(KeyModifiers::CONTROL);
        match code {
            KeyCode::Enter => break Some(value),
            KeyCode::Char('c') if ctrl => break None,
            KeyCode::Char('d') if ctrl && value.is_empty() => break None,
            KeyCode::Backspace => {
                value.pop();
            }
            KeyCode::Char(c) if !ctrl => value.push(c),
            _ => {}
        }
    };
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = write!(out, "\r\n");
    answer
}

/// Whether the REPL shows colour: on a terminal, unless `NO_COLOR` is set or `TERM=dumb`.
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stdout().is_terminal() && !no_color && !dumb
}

/// Shared by the signal thread and the loop: whether the editor is waiting for a line.
pub type AtPrompt = Arc<AtomicBool>;

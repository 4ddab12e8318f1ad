//! Test support: a [`Frontend`] that records every call, and helpers to run cells.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::{Engine, Frontend, InputError, Outcome, ScriptError, StreamName};

/// One call the engine made to its frontend.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Stream(StreamName, String),
    Display(Map<String, Value>, Map<String, Value>),
    Clear(bool),
    Input(String, bool),
}

/// Shared view of what the recorder saw, plus the answers `input` will give.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded {
    pub(crate) events: Rc<RefCell<Vec<Event>>>,
    pub(crate) answers: Rc<RefCell<VecDeque<Result<String, InputError>>>>,
}

impl Recorded {
    pub(crate) fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.events.borrow_mut())
    }

    /// All stream text of one stream, concatenated.
    pub(crate) fn text(&self, name: StreamName) -> String {
        self.events
            .borrow()
            .iter()
            .filter_map(|e| match e {
                Event::Stream(n, t) if *n == name => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn answer(&self, a: Result<&str, InputError>) {
        self.answers.borrow_mut().push_back(a.map(str::to_string));
    }
}

struct Recorder(Recorded);

impl Frontend for Recorder {
    fn stream(&mut self, name: StreamName, text: &str) {
        self.0.events.borrow_mut().push(Event::Stream(name, text.to_string()));
    }
    fn display(&mut self, data: Map<String, Value>, metadata: Map<String, Value>) {
        self.0.events.borrow_mut().push(Event::Display(data, metadata));
    }
    fn clear_output(&mut self, wait: bool) {
        self.0.events.borrow_mut().push(Event::Clear(wait));
    }
    fn input(&mut self, prompt: &str, password: bool) -> Result<String, InputError> {
        self.0.events.borrow_mut().push(Event::Input(prompt.to_string(), password));
        self.0.answers.borrow_mut().pop_front().unwrap_or(Err(InputError::NotAllowed))
    }
}

/// A fresh engine with a recorder.
pub(crate) fn engine() -> (Engine, Recorded) {
    let rec = Recorded::default();
    let engine = Engine::new(Box::new(Recorder(rec.clone()))).expect("engine");
    (engine, rec)
}

/// Run a cell named `cell-1` and return its outcome.
pub(crate) fn run(engine: &mut Engine, code: &str) -> Outcome {
    engine.execute(code, "cell-1")
}

/// The text/plain result of a cell that must succeed.
pub(crate) fn value(engine: &mut Engine, code: &str) -> Option<String> {
    match run(engine, code).result {
        Ok(v) => v,
        Err(e) => panic!("{code:?} failed: {e:?}"),
    }
}

/// The error of a cell that must fail.
pub(crate) fn error(engine: &mut Engine, code: &str) -> ScriptError {
    match run(engine, code).result {
        Ok(v) => panic!("{code:?} succeeded with {v:?}"),
        Err(e) => e,
    }
}

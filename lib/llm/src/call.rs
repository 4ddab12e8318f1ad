//! [`Call`]: one chat request running on its own thread, delivering [`Event`]s.
//!
//! The caller (the Lua thread) waits with [`Call::run`], which looks at its stop flag every
//! [`SLICE`](crate::http::SLICE): an interrupt returns [`LlmError::Cancelled`] at once, while
//! the worker notices the cancel at its next chunk (or its timeout) and exits on its own.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use serde_json::Value as Json;

use crate::config::{Kind, ProviderConfig};
use crate::error::LlmError;
use crate::http::{self, SLICE};
use crate::secret::redact;
use crate::sse::{SseEvent, SseParser};
use crate::types::{ChatRequest, ChatResponse};
use crate::{anthropic, openai};

/// The most a reply may hold (JSON body or the whole stream).
const MAX_REPLY: u64 = 64 << 20;

/// What a running call reports.
#[derive(Debug)]
pub enum Event {
    /// A piece of streamed text, in order.
    Text(String),
    /// The end: the whole answer, or why there is none. Always the last event.
    Done(Result<ChatResponse, LlmError>),
}

/// A request in flight. Dropping it cancels the request.
#[derive(Debug)]
pub struct Call {
    events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
}

impl Call {
    /// Starts `req` against `cfg` on a new thread.
    pub fn start(cfg: ProviderConfig, req: ChatRequest) -> Call {
        let (tx, events) = crossbeam_channel::unbounded();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = cancel.clone();
        let spawned = std::thread::Builder::new().name("llm-call".into()).spawn({
            let tx = tx.clone();
            move || {
                let outcome = work(&cfg, &req, &flag, &tx);
                let _ = tx.send(Event::Done(outcome));
            }
        });
        if let Err(e) = spawned {
            let _ = tx.send(Event::Done(Err(LlmError::Invalid(format!(
                "cannot start a thread for the request: {e}"
            )))));
        }
        Call { events, cancel }
    }

    /// Asks the worker to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Waits for the end, handing each text piece to `on_text` as it arrives. Returns
    /// `Ok(Err(Cancelled))` as soon as `stop` is set, and `Err(e)` (cancelling the call) when
    /// `on_text` fails.
    pub fn run<E>(
        self,
        stop: &AtomicBool,
        mut on_text: impl FnMut(&str) -> Result<(), E>,
    ) -> Result<Result<ChatResponse, LlmError>, E> {
        loop {
            if stop.load(Ordering::Relaxed) {
                self.cancel();
                return Ok(Err(LlmError::Cancelled));
            }
            match self.events.recv_timeout(SLICE) {
                Ok(Event::Text(t)) => {
                    if let Err(e) = on_text(&t) {
                        self.cancel();
                        return Err(e);
                    }
                }
                Ok(Event::Done(outcome)) => return Ok(outcome),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Ok(Err(LlmError::Invalid(
                        "the request thread ended without an answer".into(),
                    )));
                }
            }
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// A stream decoder of either format.
enum Decoder {
    OpenAi(openai::Stream),
    Anthropic(anthropic::Stream),
}

impl Decoder {
    fn event(&mut self, ev: &SseEvent) -> Result<Option<String>, StreamError> {
        match self {
            Decoder::OpenAi(s) => s.data(&ev.data),
            Decoder::Anthropic(s) => s.event(&ev.event, &ev.data),
        }
    }
    fn done(&self) -> bool {
        match self {
            Decoder::OpenAi(s) => s.done,
            Decoder::Anthropic(s) => s.done,
        }
    }
    fn finish(self) -> Result<ChatResponse, String> {
        match self {
            Decoder::OpenAi(s) => s.finish(),
            Decoder::Anthropic(s) => s.finish(),
        }
    }
}

/// Why a stream could not be read: the reply made no sense, or the provider sent an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamError {
    Malformed(String),
    Remote(String),
}

impl From<String> for StreamError {
    fn from(s: String) -> Self {
        StreamError::Malformed(s)
    }
}

impl From<&str> for StreamError {
    fn from(s: &str) -> Self {
        StreamError::Malformed(s.to_string())
    }
}

fn work(
    cfg: &ProviderConfig,
    req: &ChatRequest,
    cancel: &AtomicBool,
    tx: &Sender<Event>,
) -> Result<ChatResponse, LlmError> {
    let key = cfg.api_key()?;
    let key = key.as_ref();
    let body = match cfg.kind {
        Kind::OpenAi => openai::body(req),
        Kind::Anthropic => anthropic::body(req),
    };
    let response = http::post(cfg, key, &body, cancel)?;
    let malformed =
        |m: String| LlmError::Malformed { provider: cfg.name.clone(), message: redact(&m, key) };
    let transport =
        |m: String| LlmError::Transport { provider: cfg.name.clone(), message: redact(&m, key) };
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut reader = response.into_body().into_reader().take(MAX_REPLY);
    if !(req.stream && is_sse) {
        // Also when a server ignores `stream: true` and answers with one JSON body.
        let mut text = String::new();
        reader
            .read_to_string(&mut text)
            .map_err(|e| transport(format!("reading the reply: {e}")))?;
        let v: Json = serde_json::from_str(&text).map_err(|e| {
            let head: String = text.chars().take(200).collect();
            malformed(format!("the reply is not JSON ({e}): {head}"))
        })?;
        let out = match cfg.kind {
            Kind::OpenAi => openai::parse(&v),
            Kind::Anthropic => anthropic::parse(&v),
        }
        .map_err(malformed)?;
        if req.stream && !out.text.is_empty() {
            let _ = tx.send(Event::Text(out.text.clone()));
        }
        return Ok(out);
    }
    let mut parser = SseParser::new();
    let mut decoder = match cfg.kind {
        Kind::OpenAi => Decoder::OpenAi(openai::Stream::default()),
        Kind::Anthropic => Decoder::Anthropic(anthropic::Stream::default()),
    };
    let mut buf = vec![0u8; 8192];
    while !decoder.done() {
        if cancel.load(Ordering::Relaxed) {
            return Err(LlmError::Cancelled);
        }
        let n = reader.read(&mut buf).map_err(|e| transport(format!("reading the stream: {e}")))?;
        let events = if n == 0 { parser.finish() } else { parser.feed(&buf[..n]) };
        for ev in events {
            match decoder.event(&ev) {
                Ok(Some(text)) => {
                    let _ = tx.send(Event::Text(text));
                }
                Ok(None) => {}
                Err(StreamError::Malformed(m)) => return Err(malformed(m)),
                Err(StreamError::Remote(m)) => {
                    return Err(transport(format!("the stream ended with an error: {m}")));
                }
            }
        }
        if n == 0 {
            break; // the server closed the stream (a missing end marker is tolerated)
        }
    }
    decoder.finish().map_err(malformed)
}

//! Sending one provider request: headers per wire format, retries with backoff on transient
//! failures (408/409/429/5xx, connection problems) honouring `Retry-After`, and HTTP errors
//! turned into [`LlmError::Http`] with the provider's own message (redacted).
//!
//! Waits between attempts are sliced so a cancel is seen within [`SLICE`].

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value as Json;
use ureq::http;

use crate::config::{Kind, ProviderConfig};
use crate::error::LlmError;
use crate::secret::{ApiKey, redact};

/// First backoff; doubled per attempt up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// The longest exponential backoff step.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// The longest wait a `Retry-After` can ask for; longer asks are capped to it.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// How often a wait looks at the cancel flag.
pub(crate) const SLICE: Duration = Duration::from_millis(10);
/// The most of an error body read (to find the provider's message).
const ERROR_BODY_LIMIT: u64 = 1 << 20;

/// A `Retry-After` value in delta-seconds (`"2"`, `"1.5"`); HTTP dates are not used by LLM
/// APIs and give `None` (plain backoff then).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

/// How long to wait before retry number `attempt + 1`: the server's `Retry-After` when given,
/// else 0.5 s, 1 s, 2 s, ... up to 8 s.
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(d) = retry_after {
        return d.min(MAX_RETRY_AFTER);
    }
    BASE_BACKOFF.saturating_mul(1u32 << attempt.min(8)).min(MAX_BACKOFF)
}

/// `{"type": "...", "message": "..."}` (both APIs' error objects) as `type: message`, or the
/// message alone, or the JSON text.
pub(crate) fn error_message(err: &Json) -> String {
    match (err["type"].as_str(), err["message"].as_str(), err.as_str()) {
        (_, _, Some(s)) => s.to_string(),
        (Some(t), Some(m), _) => format!("{t}: {m}"),
        (None, Some(m), _) => m.to_string(),
        _ => err.to_string(),
    }
}

/// The provider's message in an error body: `error.message` (OpenAI, Anthropic, Ollama's
/// `error` string), else the first 300 characters of the body.
fn body_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Json>(body) {
        if let Some(e) = v.get("error") {
            return error_message(e);
        }
        if let Some(m) = v["message"].as_str() {
            return m.to_string();
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return "(empty body)".into();
    }
    body.chars().take(300).collect()
}

/// Sleeps `d` in slices; `Err(Cancelled)` as soon as `cancel` is set.
pub(crate) fn wait(d: Duration, cancel: &AtomicBool) -> Result<(), LlmError> {
    let end = std::time::Instant::now() + d;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(LlmError::Cancelled);
        }
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(SLICE));
    }
}

/// The endpoint of a provider.
pub(crate) fn url(cfg: &ProviderConfig) -> String {
    match cfg.kind {
        Kind::OpenAi => format!("{}/chat/completions", cfg.base_url),
        Kind::Anthropic => format!("{}/v1/messages", cfg.base_url),
    }
}

/// POSTs `body`, retrying transient failures; returns the successful response.
pub(crate) fn post(
    cfg: &ProviderConfig,
    key: Option<&ApiKey>,
    body: &Json,
    cancel: &AtomicBool,
) -> Result<http::Response<ureq::Body>, LlmError> {
    let bytes = body.to_string().into_bytes();
    let mut attempt = 0;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(LlmError::Cancelled);
        }
        match post_once(cfg, key, &bytes) {
            Ok(r) => return Ok(r),
            Err((e, retry_after)) if e.is_transient() && attempt < cfg.max_retries => {
                wait(backoff(attempt, retry_after), cancel)?;
                attempt += 1;
            }
            Err((e, _)) => return Err(e),
        }
    }
}

type Attempt = Result<http::Response<ureq::Body>, (LlmError, Option<Duration>)>;

fn post_once(cfg: &ProviderConfig, key: Option<&ApiKey>, bytes: &[u8]) -> Attempt {
    let name = cfg.name.clone();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(cfg.timeout))
        .user_agent(concat!("llmspell/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut builder = http::Request::builder()
        .method(http::Method::POST)
        .uri(url(cfg))
        .header("content-type", "application/json");
    match (cfg.kind, key) {
        (Kind::OpenAi, Some(k)) => {
            builder = builder.header("authorization", format!("Bearer {}", k.expose()));
        }
        (Kind::Anthropic, k) => {
            builder = builder.header("anthropic-version", "2023-06-01");
            if let Some(k) = k {
                builder = builder.header("x-api-key", k.expose());
            }
        }
        (Kind::OpenAi, None) => {}
    }
    let transport = |message: String| LlmError::Transport {
        provider: name.clone(),
        message: redact(&message, key),
    };
    let request = builder
        .body(bytes.to_vec())
        .map_err(|e| (LlmError::Invalid(redact(&format!("provider {name}: {e}"), key)), None))?;
    let mut response = match agent.run(request) {
        Ok(r) => r,
        Err(ureq::Error::Timeout(which)) => {
            let secs = cfg.timeout.as_secs_f64();
            let msg = format!("no answer within the {secs} s timeout ({which})");
            return Err((transport(msg), None));
        }
        Err(e) => return Err((transport(format!("cannot reach {}: {e}", url(cfg))), None)),
    };
    let status = response.status().as_u16();
    if status < 400 {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let mut text = String::new();
    let _ = response
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_LIMIT)
        .reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_string(&mut text);
    let message = redact(&body_message(&text), key);
    Err((LlmError::Http { provider: name, status, message }, retry_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_and_backoff_is_bounded() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.25 "), Some(Duration::from_millis(250)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(backoff(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(backoff(0, None), Duration::from_millis(500));
        assert_eq!(backoff(2, None), Duration::from_secs(2));
        assert_eq!(backoff(30, None), MAX_BACKOFF);
    }

    #[test]
    fn provider_messages_are_found() {
        let openai =
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#;
        assert_eq!(body_message(openai), "invalid_request_error: Incorrect API key provided");
        let anthropic =
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
        assert_eq!(body_message(anthropic), "rate_limit_error: slow down");
        assert_eq!(body_message(r#"{"error":"model not found"}"#), "model not found");
        assert_eq!(body_message("  "), "(empty body)");
        assert_eq!(body_message(&"x".repeat(1000)).len(), 300);
    }

    #[test]
    fn waits_stop_on_cancel() {
        let cancel = AtomicBool::new(true);
        assert_eq!(wait(Duration::from_secs(60), &cancel), Err(LlmError::Cancelled));
    }
}

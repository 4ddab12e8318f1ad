//! webhook_caller: POST a JSON payload, optionally signed with HMAC-SHA256, retrying with
//! exponential backoff on 5xx, 429, connection failures and attempt timeouts.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use ureq::http::Method;

use super::client::{self, Limit, Request};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// The longest single wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "webhook_caller",
        category: "network",
        description: "Calls a webhook: POSTs a JSON payload to an http(s) URL with optional \
                      headers and an HMAC-SHA256 signature header, retrying with exponential \
                      backoff on 5xx, 429, connection errors and timeouts; returns status, \
                      attempts and body.",
        schema: json!({
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "Absolute http:// or https:// URL."},
                "payload": {"description": "The JSON value sent as the request body."},
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Extra request headers, name -> value."
                },
                "secret": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Signs the exact body bytes with HMAC-SHA256 using this key."
                },
                "signature_header": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Header carrying the signature (default X-Signature)."
                },
                "signature_prefix": {
                    "type": "string",
                    "description": "Text before the hex digest (default \"sha256=\")."
                },
                "max_retries": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10,
                    "description": "Retries after the first attempt (default 3)."
                },
                "backoff_ms": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Wait before the first retry, doubled for each next one, \
                                    at most 30 s (default 500)."
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Timeout of each attempt in ms (default 10000), never past \
                                    the invoke's own timeout."
                },
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Response body bytes kept (default 65536); longer bodies \
                                    are cut and body_truncated is true."
                }
            },
            "required": ["url", "payload"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::fails(
                "the payload is required",
                json!({"url": "https://hooks.example.com/x"}),
                ErrorType::Validation,
            ),
            Example::fails(
                "only http and https URLs are accepted",
                json!({"url": "mailto:ops@example.com", "payload": {"event": "deploy"}}),
                ErrorType::Validation,
            ),
            Example::fails(
                "nothing listens on 127.0.0.1 port 1: refused, no retries asked",
                json!({"url": "http://127.0.0.1:1/hook", "payload": {"a": 1}, "max_retries": 0}),
                ErrorType::Execution,
            ),
        ],
        run,
    }
}

/// The signature header value for `body`.
fn signature(secret: &str, prefix: &str, body: &[u8]) -> Result<String, ToolError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| ToolError::validation(format!("parameter \"secret\": {e}")))?;
    mac.update(body);
    Ok(format!("{prefix}{}", hex::encode(mac.finalize().into_bytes())))
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let url = client::http_url("url", p.str("url")?)?;
    let payload = p.value("payload")?;
    let body = serde_json::to_vec(payload).map_err(|e| ToolError::validation(e.to_string()))?;
    let mut headers = client::headers_param(p)?;
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    if let Some(secret) = p.opt_str("secret")? {
        let name = p.str_or("signature_header", "X-Signature")?;
        let value = signature(secret, p.str_or("signature_prefix", "sha256=")?, &body)?;
        client::check_header(name, &value)?;
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value));
    } else if p.has("signature_header") || p.has("signature_prefix") {
        return Err(ToolError::validation(
            "parameters \"signature_header\"/\"signature_prefix\" need \"secret\"",
        ));
    }
    let max_retries = p.u64_or("max_retries", 3)?.min(10);
    let mut backoff = Duration::from_millis(p.u64_or("backoff_ms", 500)?).min(MAX_BACKOFF);
    let per_attempt = Duration::from_millis(p.u64_or("timeout_ms", 10_000)?.max(1));
    let limit = Limit::Truncate(p.u64_or("max_body_bytes", 65_536)?.min(client::MAX_BODY_CAP));
    let started = Instant::now();
    let mut errors: Vec<String> = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        cx.check()?;
        let request = Request {
            method: Method::POST,
            url: url.clone(),
            headers: headers.clone(),
            body: Some(body.clone()),
            timeout: per_attempt.min(cx.remaining()),
            max_redirects: 0,
            limit,
        };
        let last = attempt > max_retries;
        match request.send(cx) {
            Ok(fetched) => {
                let retryable = fetched.status >= 500 || fetched.status == 429;
                if !retryable || last {
                    let text = String::from_utf8_lossy(&fetched.body).into_owned();
                    let parsed = client::is_json(fetched.content_type.as_deref())
                        .then(|| serde_json::from_slice::<Value>(&fetched.body).ok())
                        .flatten();
                    let mut out = json!({
                        "status": fetched.status,
                        "delivered": (200..300).contains(&fetched.status),
                        "attempts": attempt,
                        "body": text,
                        "body_truncated": fetched.truncated,
                        "elapsed_ms": client::ms(started.elapsed()),
                        "errors": errors,
                    });
                    if let Some(value) = parsed {
                        out["json"] = value;
                    }
                    return Ok(out);
                }
                errors.push(format!("attempt {attempt}: HTTP {}", fetched.status));
            }
            Err(failure) if !last && retryable(&failure, cx) => {
                errors.push(format!("attempt {attempt}: {}", failure.error.message));
            }
            Err(failure) => {
                let mut error = failure.error;
                if !cx.is_cancelled() && attempt > 1 {
                    error.message = format!("{} (after {attempt} attempts)", error.message);
                }
                return Err(error);
            }
        }
        sleep_checked(backoff, cx)?;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Connection failures, and attempts that ran out of their own timeout_ms while the invoke
/// still has time, are worth another try.
fn retryable(failure: &client::Failure, cx: &Context) -> bool {
    failure.transient || (failure.error.error_type == ErrorType::Timeout && !cx.is_cancelled())
}

/// Sleeps in short slices so a cancelled invoke stops waiting at once.
fn sleep_checked(total: Duration, cx: &Context) -> Result<(), ToolError> {
    let until = Instant::now() + total;
    loop {
        cx.check()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::testing::{Reply, closed_port, serve};
    use crate::{ErrorType, Policy, Registry};

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    #[test]
    fn posts_the_payload_with_an_hmac_signature() {
        let server = serve(|_, _| Reply::text(200, "application/json", r#"{"received":true}"#));
        let out = registry()
            .invoke(
                "webhook_caller",
                json!({
                    "url": server.url("/hook"),
                    "payload": {"event": "deploy", "id": 7},
                    "headers": {"X-Source": "llmspell"},
                    "secret": "s3cret"
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["attempts"], 1);
        assert_eq!(out["delivered"], true);
        assert_eq!(out["json"], json!({"received": true}));
        let req = &server.requests()[0];
        assert_eq!(req.method, "POST");
        assert_eq!(req.body, br#"{"event":"deploy","id":7}"#);
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("x-source"), Some("llmspell"));
        // Known answer: HMAC-SHA256(key "s3cret", the body above), computed independently
        // (`printf '{"event":"deploy","id":7}' | openssl dgst -sha256 -hmac s3cret`).
        assert_eq!(
            req.header("x-signature"),
            Some("sha256=c6c9d93556a62f5dfda8ed8863e51ec65811615a1568eb165e3b590255bcaab3")
        );
        assert_eq!(
            super::signature("key", "", b"The quick brown fox jumps over the lazy dog").unwrap(),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn custom_signature_header_and_prefix() {
        let server = serve(|_, _| Reply::text(204, "text/plain", ""));
        let out = registry()
            .invoke(
                "webhook_caller",
                json!({
                    "url": server.url("/"), "payload": [1, 2],
                    "secret": "k", "signature_header": "X-Hub-Signature-256",
                    "signature_prefix": ""
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 204);
        let req = &server.requests()[0];
        let sig = req.header("x-hub-signature-256").unwrap();
        assert_eq!(sig.len(), 64, "{sig}");
        assert!(req.header("x-signature").is_none());
    }

    #[test]
    fn retries_5xx_with_backoff_then_succeeds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = calls.clone();
        let server = serve(move |_, _| {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                Reply::text(503, "text/plain", "busy")
            } else {
                Reply::text(200, "text/plain", "ok")
            }
        });
        let started = Instant::now();
        let out = registry()
            .invoke(
                "webhook_caller",
                json!({"url": server.url("/"), "payload": {}, "backoff_ms": 100}),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["attempts"], 3);
        assert_eq!(out["body"], "ok");
        assert_eq!(out["errors"], json!(["attempt 1: HTTP 503", "attempt 2: HTTP 503"]));
        // 100 ms then 200 ms of backoff.
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn gives_up_after_max_retries_and_does_not_retry_4xx() {
        let server = serve(|req, _| match req.path() {
            "/down" => Reply::text(500, "text/plain", "down"),
            _ => Reply::text(400, "text/plain", "bad payload"),
        });
        let r = registry();
        let out = r
            .invoke(
                "webhook_caller",
                json!({
                    "url": server.url("/down"), "payload": 1, "max_retries": 2, "backoff_ms": 0
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 500);
        assert_eq!(out["attempts"], 3);
        assert_eq!(out["delivered"], false);
        let out = r
            .invoke("webhook_caller", json!({"url": server.url("/bad"), "payload": 1}), None)
            .unwrap();
        assert_eq!(out["status"], 400);
        assert_eq!(out["attempts"], 1);
        assert_eq!(out["body"], "bad payload");
        assert_eq!(server.requests().len(), 4);
    }

    #[test]
    fn connection_errors_are_retried_then_reported() {
        let url = format!("http://127.0.0.1:{}/", closed_port());
        let e = registry()
            .invoke(
                "webhook_caller",
                json!({"url": url, "payload": 1, "max_retries": 2, "backoff_ms": 10}),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution, "{e}");
        assert!(e.message.contains("after 3 attempts"), "{e}");
    }

    #[test]
    fn long_bodies_are_truncated_not_failed() {
        let server = serve(|_, _| Reply::text(200, "text/plain", &"y".repeat(300)));
        let out = registry()
            .invoke(
                "webhook_caller",
                json!({"url": server.url("/"), "payload": 1, "max_body_bytes": 100}),
                None,
            )
            .unwrap();
        assert_eq!(out["body"].as_str().unwrap().len(), 100);
        assert_eq!(out["body_truncated"], true);
    }

    #[test]
    fn validation_errors() {
        let r = registry();
        for (params, needle) in [
            (json!({"url": "http://x/", "payload": 1, "signature_header": "X"}), "secret"),
            (json!({"url": "http://x/", "payload": 1, "secret": ""}), "/secret"),
            (
                json!({"url": "http://x/", "payload": 1, "secret": "k", "signature_header": "a b"}),
                "a b",
            ),
            (json!({"url": "http://x/", "payload": 1, "max_retries": 11}), "/max_retries"),
            (json!({"payload": 1}), "url"),
        ] {
            let e = r.invoke("webhook_caller", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }

    #[test]
    fn a_silent_endpoint_times_out_and_backoff_stops_at_the_deadline() {
        let server = serve(|_, _| Reply::Hang);
        let r = registry();
        let e = r
            .invoke(
                "webhook_caller",
                json!({
                    "url": server.url("/"), "payload": 1, "timeout_ms": 200,
                    "max_retries": 1, "backoff_ms": 0
                }),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        assert!(e.message.contains("after 2 attempts"), "{e}");
        assert!(server.wait_hung_up(2, Duration::from_secs(10)), "attempts were not closed");
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2, "an attempt timeout is retried");

        // The invoke's own deadline is final: no retry after it.
        let silent = serve(|_, _| Reply::Hang);
        let e = r
            .invoke(
                "webhook_caller",
                json!({"url": silent.url("/"), "payload": 1, "backoff_ms": 0}),
                Some(Duration::from_millis(400)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        assert!(silent.wait_hung_up(1, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(silent.accepted.load(Ordering::SeqCst), 1, "retried after the deadline");

        // A long backoff cannot outlive the invoke: the retry never happens.
        let down = serve(|_, _| Reply::text(503, "text/plain", "down"));
        let started = Instant::now();
        let e = r
            .invoke(
                "webhook_caller",
                json!({"url": down.url("/"), "payload": 1, "backoff_ms": 20000}),
                Some(Duration::from_millis(500)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(started.elapsed() < Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(down.requests().len(), 1, "the tool went on after the deadline");
    }
}

//! The HTTP client the network tools share: URL checks, one blocking request with every phase
//! bounded by the invoke's remaining time, a bounded body, and ureq errors turned into
//! [`ToolError`]s (timeouts stay timeouts, connection failures are execution errors).

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use ureq::http;
use url::Url;

use crate::context::Context;
use crate::error::ToolError;
use crate::params::Params;

/// The default cap on a response body.
pub(super) const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
/// The most any caller may ask to read.
pub(super) const MAX_BODY_CAP: u64 = 256 * 1024 * 1024;
/// Default per-request timeout when the caller gives none (the invoke's deadline still wins).
pub(super) const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// The URL in parameter `param`, which must be an absolute http(s) URL with a host.
pub(super) fn http_url(param: &str, text: &str) -> Result<Url, ToolError> {
    let url = Url::parse(text).map_err(|e| {
        ToolError::validation(format!("parameter {param:?}: {text:?} is not a valid URL: {e}"))
    })?;
    check_scheme(param, &url)?;
    Ok(url)
}

/// A parsed URL must be http or https with a host.
pub(super) fn check_scheme(param: &str, url: &Url) -> Result<(), ToolError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ToolError::validation(format!(
            "parameter {param:?}: scheme {:?} is not supported (only http and https): {url}",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ToolError::validation(format!("parameter {param:?}: {url} has no host")));
    }
    Ok(())
}

/// `timeout_ms` from the parameters (or `default`), never past the invoke's deadline.
pub(super) fn timeout(p: &Params, cx: &Context, default_ms: u64) -> Result<Duration, ToolError> {
    let ms = p.u64_or("timeout_ms", default_ms)?;
    Ok(Duration::from_millis(ms.max(1)).min(cx.remaining()))
}

/// `max_body_bytes` from the parameters, checked against [`MAX_BODY_CAP`].
pub(super) fn max_body(p: &Params, default: u64) -> Result<u64, ToolError> {
    let n = p.u64_or("max_body_bytes", default)?;
    if n > MAX_BODY_CAP {
        return Err(ToolError::validation(format!(
            "parameter \"max_body_bytes\": {n} is more than the {MAX_BODY_CAP} byte cap"
        )));
    }
    Ok(n)
}

/// The `headers` parameter (an object of strings) as checked name/value pairs.
pub(super) fn headers_param(p: &Params) -> Result<Vec<(String, String)>, ToolError> {
    let Some(map) = p.opt_object("headers")? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let Some(value) = value.as_str() else {
            return Err(ToolError::validation(format!(
                "parameter \"headers\": the value of {name:?} must be a string"
            )));
        };
        check_header(name, value)?;
        out.push((name.clone(), value.to_owned()));
    }
    Ok(out)
}

/// A header the http crate would refuse, as a validation error naming it.
pub(super) fn check_header(name: &str, value: &str) -> Result<(), ToolError> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(ToolError::validation(format!(
            "parameter \"headers\": {name:?} is not a valid header name"
        )));
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(ToolError::validation(format!(
            "parameter \"headers\": the value of {name:?} has characters a header cannot carry"
        )));
    }
    Ok(())
}

/// What to do with a body longer than the cap.
#[derive(Debug, Clone, Copy)]
pub(super) enum Limit {
    /// An execution error naming the cap.
    Fail(u64),
    /// Keep the first bytes and say it was cut.
    Truncate(u64),
}

/// One request to send.
#[derive(Debug)]
pub(super) struct Request {
    pub method: http::Method,
    pub url: Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Already bounded by the invoke's remaining time.
    pub timeout: Duration,
    /// 0: do not follow redirects (the 3xx is the answer).
    pub max_redirects: u32,
    pub limit: Limit,
}

/// A response with its body read.
#[derive(Debug)]
pub(super) struct Fetched {
    pub status: u16,
    pub headers: Map<String, Value>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub truncated: bool,
    /// After redirects.
    pub url: String,
    pub elapsed: Duration,
}

/// A failed request: the error, and whether trying again might help (connection problems).
#[derive(Debug)]
pub(super) struct Failure {
    pub error: ToolError,
    pub transient: bool,
}

impl From<Failure> for ToolError {
    fn from(f: Failure) -> ToolError {
        f.error
    }
}

impl Request {
    /// A GET of `url` with no extra headers.
    pub fn get(url: Url, timeout: Duration, max_redirects: u32, limit: Limit) -> Request {
        Request {
            method: http::Method::GET,
            url,
            headers: Vec::new(),
            body: None,
            timeout,
            max_redirects,
            limit,
        }
    }

    /// Sends the request and reads the body. Non-2xx statuses are answers, not errors.
    pub fn send(self, cx: &Context) -> Result<Fetched, Failure> {
        let timeout = self.timeout.min(cx.remaining());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .max_redirects(self.max_redirects)
            .max_redirects_will_error(true)
            .user_agent(concat!("llmspell-tools/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections(0)
            .build()
            .into();
        let mut builder =
            http::Request::builder().method(self.method.clone()).uri(self.url.as_str());
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let started = Instant::now();
        let outcome = match self.body {
            Some(body) => builder.body(body).map(|r| agent.run(r)),
            None => builder.body(()).map(|r| agent.run(r)),
        };
        let invalid = |e: http::Error| Failure {
            error: ToolError::validation(format!("{}: cannot build the request: {e}", self.url)),
            transient: false,
        };
        let mut response = outcome.map_err(invalid)?.map_err(|e| failure(e, &self.url, cx))?;
        let status = response.status().as_u16();
        let final_url = ureq::ResponseExt::get_uri(&response).to_string();
        let headers = header_map(response.headers());
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (body, truncated) = match self.limit {
            Limit::Fail(max) => {
                let read = response.body_mut().with_config().limit(max).read_to_vec();
                (read.map_err(|e| body_failure(e, max, &self.url, cx))?, false)
            }
            Limit::Truncate(max) => {
                let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
                let mut body = Vec::new();
                let io = |e: std::io::Error| failure(ureq::Error::from(e), &self.url, cx);
                (&mut reader).take(max).read_to_end(&mut body).map_err(io)?;
                let more = reader.read(&mut [0u8; 1]).map_err(io)? > 0;
                (body, more)
            }
        };
        Ok(Fetched {
            status,
            headers,
            content_type,
            body,
            truncated,
            url: final_url,
            elapsed: started.elapsed(),
        })
    }
}

fn body_failure(e: ureq::Error, max: u64, url: &Url, cx: &Context) -> Failure {
    match e {
        ureq::Error::BodyExceedsLimit(_) => Failure {
            error: ToolError::execution(format!(
                "{url}: the response body is larger than max_body_bytes ({max} bytes)"
            )),
            transient: false,
        },
        other => failure(other, url, cx),
    }
}

/// A ureq error as a tool error about `url`.
pub(super) fn failure(e: ureq::Error, url: &Url, cx: &Context) -> Failure {
    use std::io::ErrorKind;
    let exec =
        |msg: String, transient: bool| Failure { error: ToolError::execution(msg), transient };
    if cx.is_cancelled() {
        return Failure { error: cx.timed_out(), transient: false };
    }
    match e {
        ureq::Error::Timeout(which) => Failure {
            error: ToolError::timeout(format!(
                "{url}: no complete answer within the timeout ({which})"
            )),
            transient: false,
        },
        ureq::Error::Io(io) if matches!(io.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) => {
            Failure {
                error: ToolError::timeout(format!("{url}: timed out: {io}")),
                transient: false,
            }
        }
        ureq::Error::Io(io) => exec(format!("{url}: {io}"), true),
        ureq::Error::HostNotFound => exec(format!("{url}: cannot resolve the host name"), true),
        ureq::Error::ConnectionFailed => exec(format!("{url}: cannot connect"), true),
        ureq::Error::TooManyRedirects => {
            exec(format!("{url}: too many redirects (raise max_redirects to follow more)"), false)
        }
        ureq::Error::BadUri(why) => Failure {
            error: ToolError::validation(format!("{url}: not a usable URL: {why}")),
            transient: false,
        },
        ureq::Error::Http(why) => Failure {
            error: ToolError::validation(format!("{url}: cannot build the request: {why}")),
            transient: false,
        },
        other => exec(format!("{url}: {other}"), false),
    }
}

/// Response headers as an object: one value as a string, repeated ones as an array.
fn header_map(headers: &http::HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let value = if values.len() == 1 {
            values.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(values)
        };
        out.insert(name.as_str().to_owned(), value);
    }
    out
}

/// Whether a content type is JSON (`application/json`, `*/*+json`).
pub(super) fn is_json(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// A duration in milliseconds with microsecond precision.
pub(super) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

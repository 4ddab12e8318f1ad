//! http_request: one HTTP(S) request with headers, query, a text or JSON body, redirects and a
//! bounded response body.

use serde_json::{Value, json};
use ureq::http::Method;

use super::client::{self, Limit, Request};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "http_request",
        category: "network",
        description: "Sends an HTTP or HTTPS request (GET, POST, PUT, PATCH, DELETE, HEAD) with \
                      headers, query parameters and a text or JSON body, following redirects, and \
                      returns the status, headers, body (parsed when JSON), time and final URL.",
        schema: json!({
            "type": "object",
            "properties": {
                "method": {
                    "type": "string",
                    "enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"],
                    "description": "HTTP method (default GET)."
                },
                "url": {
                    "type": "string",
                    "description": "Absolute http:// or https:// URL."
                },
                "headers": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Request headers, name -> value."
                },
                "query": {
                    "type": "object",
                    "additionalProperties": {
                        "type": ["string", "number", "boolean", "array"],
                        "items": {"type": ["string", "number", "boolean"]}
                    },
                    "description": "Query parameters appended to the URL; an array repeats \
                                    the name."
                },
                "body": {
                    "type": "string",
                    "description": "Text request body (not with GET or HEAD; not with json)."
                },
                "json": {
                    "description": "A JSON request body; sets Content-Type: application/json \
                                    unless headers set it (not with body)."
                },
                "timeout_ms": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Whole-request timeout in ms (default 30000), never longer \
                                    than the invoke's own timeout."
                },
                "follow_redirects": {
                    "type": "boolean",
                    "description": "Follow 3xx redirects (default true); false returns the 3xx."
                },
                "max_redirects": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 50,
                    "description": "Most redirects to follow (default 5); more is an \
                                    execution error."
                },
                "max_body_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Largest response body read (default 10485760 = 10 MiB); a \
                                    bigger one is an execution error."
                }
            },
            "required": ["url"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::fails(
                "only http and https URLs are accepted",
                json!({"url": "ftp://example.com/file.txt"}),
                ErrorType::Validation,
            ),
            Example::fails(
                "a GET cannot carry a body",
                json!({"url": "http://127.0.0.1:1/", "body": "x"}),
                ErrorType::Validation,
            ),
            Example::fails(
                "nothing listens on 127.0.0.1 port 1: connection refused",
                json!({"url": "http://127.0.0.1:1/", "timeout_ms": 5000}),
                ErrorType::Execution,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let method_name = p.str_or("method", "GET")?;
    let method = match method_name {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        other => {
            return Err(ToolError::validation(format!(
                "parameter \"method\": {other:?} is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
            )));
        }
    };
    let mut url = client::http_url("url", p.str("url")?)?;
    if let Some(query) = p.opt_object("query")? {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            let items = match value {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                one => vec![one],
            };
            for item in items {
                let text = match item {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => {
                        return Err(ToolError::validation(format!(
                            "parameter \"query\": {name:?} must be a string, number, boolean \
                             or an array of them"
                        )));
                    }
                };
                pairs.append_pair(name, &text);
            }
        }
    }
    let mut headers = client::headers_param(p)?;
    let has_content_type = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
    let body = match (p.opt_str("body")?, p.get("json")) {
        (Some(_), Some(_)) => {
            return Err(ToolError::validation(
                "parameters \"body\" and \"json\" exclude each other: give one",
            ));
        }
        (Some(text), None) => Some(text.as_bytes().to_vec()),
        (None, Some(value)) => {
            if !has_content_type {
                headers.push(("Content-Type".into(), "application/json".into()));
            }
            Some(serde_json::to_vec(value).map_err(|e| ToolError::validation(e.to_string()))?)
        }
        (None, None) => None,
    };
    if body.is_some() && matches!(method, Method::GET | Method::HEAD) {
        return Err(ToolError::validation(format!(
            "a {method_name} request cannot carry \"body\" or \"json\"; use POST, PUT, PATCH \
             or DELETE"
        )));
    }
    let max_redirects = if p.bool_or("follow_redirects", true)? {
        u32::try_from(p.u64_or("max_redirects", 5)?.min(50)).unwrap_or(50)
    } else {
        0
    };
    let max = client::max_body(p, client::DEFAULT_MAX_BODY)?;
    let request = Request {
        method,
        url,
        headers,
        body,
        timeout: client::timeout(p, cx, client::DEFAULT_TIMEOUT_MS)?,
        max_redirects,
        limit: Limit::Fail(max),
    };
    let fetched = request.send(cx)?;
    let mut out = json!({
        "status": fetched.status,
        "ok": (200..300).contains(&fetched.status),
        "headers": fetched.headers,
        "url": fetched.url,
        "elapsed_ms": client::ms(fetched.elapsed),
        "body_bytes": fetched.body.len(),
    });
    let parsed = if client::is_json(fetched.content_type.as_deref()) && !fetched.body.is_empty() {
        serde_json::from_slice::<Value>(&fetched.body).map_err(|e| e.to_string())
    } else {
        Err(String::new())
    };
    match parsed {
        Ok(value) => out["json"] = value,
        Err(why) => {
            match String::from_utf8(fetched.body) {
                Ok(text) => out["body"] = json!(text),
                Err(e) => {
                    out["body"] = json!(String::from_utf8_lossy(e.as_bytes()));
                    out["body_utf8"] = json!(false);
                }
            }
            if !why.is_empty() {
                out["json_error"] = json!(why);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::testing::{Reply, closed_port, serve};
    use crate::{ErrorType, Policy, Registry};

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    #[test]
    fn get_returns_status_headers_json_and_sends_query_and_headers() {
        let server = serve(|req, _| match req.path() {
            "/api" => Reply::Send(
                200,
                vec![
                    ("Content-Type".into(), "application/json; charset=utf-8".into()),
                    ("X-Multi".into(), "a".into()),
                    ("X-Multi".into(), "b".into()),
                ],
                br#"{"hello": "world", "n": [1, 2]}"#.to_vec(),
            ),
            _ => Reply::text(404, "text/plain", "no such page"),
        });
        let r = registry();
        let out = r
            .invoke(
                "http_request",
                json!({
                    "url": server.url("/api"),
                    "query": {"q": "a b", "n": 3, "tag": ["x", "y"], "flag": true},
                    "headers": {"X-Test": "yes"}
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["ok"], true);
        assert_eq!(out["json"], json!({"hello": "world", "n": [1, 2]}));
        assert!(out.get("body").is_none(), "{out}");
        assert_eq!(out["headers"]["x-multi"], json!(["a", "b"]));
        assert!(out["elapsed_ms"].as_f64().unwrap() >= 0.0);
        assert!(out["url"].as_str().unwrap().ends_with("/api?q=a+b&n=3&tag=x&tag=y&flag=true"));
        let req = &server.requests()[0];
        assert_eq!(req.method, "GET");
        assert_eq!(req.target, "/api?q=a+b&n=3&tag=x&tag=y&flag=true");
        assert_eq!(req.header("x-test"), Some("yes"));

        let out = r.invoke("http_request", json!({"url": server.url("/missing")}), None).unwrap();
        assert_eq!(out["status"], 404, "a non-2xx status is an answer, not an error");
        assert_eq!(out["ok"], false);
        assert_eq!(out["body"], "no such page");
    }

    #[test]
    fn post_put_patch_delete_send_bodies_and_head_has_none() {
        let server = serve(|req, _| {
            let echo = json!({
                "method": req.method,
                "type": req.header("content-type"),
                "body": String::from_utf8_lossy(&req.body),
            });
            Reply::text(201, "application/json", &echo.to_string())
        });
        let r = registry();
        let out = r
            .invoke(
                "http_request",
                json!({"method": "POST", "url": server.url("/"), "json": {"a": 1}}),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 201);
        assert_eq!(
            out["json"],
            json!({"method": "POST", "type": "application/json", "body": "{\"a\":1}"})
        );
        for method in ["PUT", "PATCH", "DELETE"] {
            let out = r
                .invoke(
                    "http_request",
                    json!({
                        "method": method, "url": server.url("/"), "body": "plain text",
                        "headers": {"Content-Type": "text/plain"}
                    }),
                    None,
                )
                .unwrap();
            assert_eq!(out["json"]["method"], method);
            assert_eq!(out["json"]["body"], "plain text");
            assert_eq!(out["json"]["type"], "text/plain");
        }
        let out = r
            .invoke("http_request", json!({"method": "HEAD", "url": server.url("/")}), None)
            .unwrap();
        assert_eq!(out["status"], 201);
        assert_eq!(out["body_bytes"], 0);
    }

    #[test]
    fn redirects_are_followed_up_to_the_limit() {
        let server = serve(|req, _| match req.path() {
            "/start" => Reply::redirect(302, "/middle"),
            "/middle" => Reply::redirect(301, "/end"),
            "/loop" => Reply::redirect(302, "/loop"),
            _ => Reply::text(200, "text/plain", "arrived"),
        });
        let r = registry();
        let out = r.invoke("http_request", json!({"url": server.url("/start")}), None).unwrap();
        assert_eq!(out["status"], 200);
        assert_eq!(out["body"], "arrived");
        assert_eq!(out["url"], server.url("/end"));
        let out = r
            .invoke(
                "http_request",
                json!({"url": server.url("/start"), "follow_redirects": false}),
                None,
            )
            .unwrap();
        assert_eq!(out["status"], 302);
        assert_eq!(out["headers"]["location"], "/middle");
        let e = r
            .invoke("http_request", json!({"url": server.url("/start"), "max_redirects": 1}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("too many redirects"), "{e}");
        let e = r.invoke("http_request", json!({"url": server.url("/loop")}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
    }

    #[test]
    fn bodies_over_max_body_bytes_fail_and_bad_json_falls_back_to_text() {
        let server = serve(|req, _| match req.path() {
            "/big" => Reply::text(200, "text/plain", &"x".repeat(5000)),
            _ => Reply::text(200, "application/json", "{not json"),
        });
        let r = registry();
        let e = r
            .invoke(
                "http_request",
                json!({"url": server.url("/big"), "max_body_bytes": 1000}),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("max_body_bytes"), "{e}");
        let out = r
            .invoke(
                "http_request",
                json!({"url": server.url("/big"), "max_body_bytes": 5000}),
                None,
            )
            .unwrap();
        assert_eq!(out["body_bytes"], 5000);
        let out = r.invoke("http_request", json!({"url": server.url("/bad")}), None).unwrap();
        assert_eq!(out["body"], "{not json");
        assert!(out["json_error"].is_string());
    }

    #[test]
    fn bad_parameters_are_validation_errors_naming_them() {
        let r = registry();
        let cases = [
            (json!({"url": "file:///etc/passwd"}), "scheme"),
            (json!({"url": "not a url"}), "\"url\""),
            (json!({"url": "http://x/", "method": "TRACE"}), "/method"),
            (json!({"url": "http://x/", "method": "HEAD", "json": {}}), "HEAD"),
            (json!({"url": "http://x/", "method": "POST", "json": 1, "body": "x"}), "exclude"),
            (json!({"url": "http://x/", "headers": {"bad name": "v"}}), "bad name"),
            (json!({"url": "http://x/", "headers": {"X": "a\nb"}}), "\"X\""),
            (json!({"url": "http://x/", "query": {"a": {"b": 1}}}), "/query/a"),
            (json!({"url": "http://x/", "max_body_bytes": u64::MAX}), "max_body_bytes"),
            (json!({"url": "http://x/", "timeout_ms": 0}), "timeout_ms"),
            (json!({"url": "http://x/", "extra": 1}), "additionalProperties"),
        ];
        for (params, needle) in cases {
            let e = r.invoke("http_request", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }

    #[test]
    fn refused_connections_and_unknown_hosts_are_execution_errors() {
        let r = registry();
        let url = format!("http://127.0.0.1:{}/", closed_port());
        let e = r.invoke("http_request", json!({"url": url}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution, "{e}");
        assert!(e.message.contains("127.0.0.1"), "{e}");
        // `.invalid` never resolves (RFC 2606); without a network it fails just the same.
        let e = r
            .invoke("http_request", json!({"url": "http://no-such-host.invalid/"}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution, "{e}");
    }

    #[test]
    fn https_to_a_plain_http_server_fails_in_the_tls_handshake() {
        // The server answers the TLS ClientHello with plain HTTP.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let url = format!("https://127.0.0.1:{port}/");
        let e = registry()
            .invoke("http_request", json!({"url": url, "timeout_ms": 10000}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution, "{e}");
    }

    #[test]
    fn a_silent_server_times_out_and_the_connection_is_closed() {
        let server = serve(|_, _| Reply::Hang);
        let r = registry();
        let started = Instant::now();
        let e = r
            .invoke("http_request", json!({"url": server.url("/"), "timeout_ms": 300}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(server.wait_hung_up(1, Duration::from_secs(10)), "the request was not closed");

        // The invoke's own deadline bounds the request too.
        let e = r
            .invoke(
                "http_request",
                json!({"url": server.url("/")}),
                Some(Duration::from_millis(300)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        assert!(server.wait_hung_up(2, Duration::from_secs(10)), "the request kept running");
    }
}

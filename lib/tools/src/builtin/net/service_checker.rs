//! service_checker: TCP reachability and HTTP health of one target or many, checked
//! concurrently, each bounded by its timeout and the invoke's remaining time.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::client::{self, Limit, Request};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// The most targets one call checks.
const MAX_TARGETS: usize = 64;
const DEFAULT_TIMEOUT_MS: u64 = 5_000;

fn target_properties() -> Value {
    json!({
        "type": {
            "type": "string",
            "enum": ["tcp", "http"],
            "description": "tcp: connect to host:port; http: GET url and check the status \
                            (default http when url is given, else tcp)."
        },
        "host": {"type": "string", "minLength": 1, "description": "tcp: host name or IP."},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "tcp: port."},
        "url": {"type": "string", "description": "http: absolute http(s) URL to GET."},
        "expected_status": {
            "type": ["integer", "array"],
            "items": {"type": "integer"},
            "description": "http: status(es) that count as healthy (default any 2xx)."
        },
        "contains": {
            "type": "string",
            "description": "http: text the body (first 64 KiB) must contain to be healthy."
        },
        "follow_redirects": {
            "type": "boolean",
            "description": "http: follow up to 5 redirects (default true)."
        },
        "timeout_ms": {
            "type": "integer",
            "minimum": 1,
            "description": "Timeout of this check in ms (default 5000), never past the \
                            invoke's own timeout."
        },
        "name": {"type": "string", "description": "A label echoed in the result."}
    })
}

pub(super) fn tool() -> ToolDef {
    let mut top = target_properties();
    let item = json!({
        "type": "object",
        "properties": target_properties(),
        "additionalProperties": false
    });
    top["targets"] = json!({
        "type": "array",
        "items": item,
        "minItems": 1,
        "maxItems": MAX_TARGETS,
        "description": "Several targets (objects with the same fields as a single check), \
                        checked concurrently; top-level timeout_ms is their default."
    });
    ToolDef {
        name: "service_checker",
        category: "network",
        description: "Checks services: tcp (connect to host and port: reachable, latency) and \
                      http (GET a URL: healthy when the status is expected, status, latency), \
                      for one target or a targets array checked concurrently.",
        schema: json!({
            "type": "object",
            "properties": top,
            "additionalProperties": false
        }),
        examples: vec![
            Example::satisfies(
                "nothing listens on 127.0.0.1 port 1: unreachable, which is an answer",
                json!({"host": "127.0.0.1", "port": 1, "timeout_ms": 3000}),
                "reachable false with an error",
                |v| v["reachable"] == json!(false) && v["error"].is_string(),
            ),
            Example::fails(
                "a tcp check needs a port",
                json!({"type": "tcp", "host": "localhost"}),
                ErrorType::Validation,
            ),
            Example::fails(
                "only http and https URLs are accepted",
                json!({"url": "gopher://example.com/"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// One checked-in-advance target.
#[derive(Debug, Clone)]
enum Target {
    Tcp { host: String, port: u16 },
    Http { url: url::Url, expected: Vec<u16>, contains: Option<String>, redirects: u32 },
}

#[derive(Debug, Clone)]
struct Check {
    name: Option<String>,
    target: Target,
    timeout: Duration,
}

fn parse_target(
    map: &Map<String, Value>,
    index: Option<usize>,
    default_timeout: u64,
) -> Result<Check, ToolError> {
    let at = index.map(|i| format!("parameter \"targets\"[{i}]: ")).unwrap_or_default();
    let at = at.as_str();
    let p = Params::new(map.clone());
    let name = p.opt_str("name")?.map(str::to_owned);
    let timeout = Duration::from_millis(p.u64_or("timeout_ms", default_timeout)?.max(1));
    let kind = match p.opt_str("type")? {
        Some(kind) => kind,
        None if p.has("url") => "http",
        None => "tcp",
    };
    let target = match kind {
        "tcp" => {
            let host = p.opt_str("host")?.ok_or_else(|| {
                ToolError::validation(format!("{at}: a tcp check needs \"host\" and \"port\""))
            })?;
            let port = p.opt_u64("port")?.ok_or_else(|| {
                ToolError::validation(format!("{at}: a tcp check needs \"port\""))
            })?;
            let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                ToolError::validation(format!("{at}: \"port\" {port} is not 1..65535"))
            })?;
            Target::Tcp { host: host.trim_matches(['[', ']']).to_owned(), port }
        }
        "http" => {
            let text = p.opt_str("url")?.ok_or_else(|| {
                ToolError::validation(format!("{at}: an http check needs \"url\""))
            })?;
            let param = index.map_or_else(|| "url".to_owned(), |i| format!("targets[{i}].url"));
            let url = client::http_url(&param, text)?;
            let expected = match p.get("expected_status") {
                None => Vec::new(),
                Some(Value::Array(items)) => {
                    items.iter().map(|v| status(v, at)).collect::<Result<Vec<_>, _>>()?
                }
                Some(one) => vec![status(one, at)?],
            };
            let contains = p.opt_str("contains")?.map(str::to_owned);
            let redirects = if p.bool_or("follow_redirects", true)? { 5 } else { 0 };
            Target::Http { url, expected, contains, redirects }
        }
        other => {
            return Err(ToolError::validation(format!(
                "{at}\"type\": {other:?} is not tcp or http"
            )));
        }
    };
    Ok(Check { name, target, timeout })
}

fn status(v: &Value, at: &str) -> Result<u16, ToolError> {
    v.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| (100..=599).contains(n)).ok_or_else(
        || ToolError::validation(format!("{at}\"expected_status\": {v} is not an HTTP status")),
    )
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let default_timeout = p.u64_or("timeout_ms", DEFAULT_TIMEOUT_MS)?;
    if let Some(targets) = p.opt_array("targets")? {
        let single_fields = ["type", "host", "port", "url", "expected_status", "contains", "name"];
        if let Some(field) = single_fields.iter().find(|f| p.has(f)) {
            return Err(ToolError::validation(format!(
                "parameter {field:?} belongs inside a target when \"targets\" is given"
            )));
        }
        if targets.len() > MAX_TARGETS {
            return Err(ToolError::validation(format!(
                "parameter \"targets\": at most {MAX_TARGETS} targets per call"
            )));
        }
        let checks = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let map = t.as_object().ok_or_else(|| {
                    ToolError::validation(format!("parameter \"targets\"[{i}] is not an object"))
                })?;
                parse_target(map, Some(i), default_timeout)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let results: Vec<Value> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                checks.iter().map(|c| scope.spawn(move || check(c, cx))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| json!({"healthy": false, "error": "check crashed"}))
                })
                .collect()
        });
        cx.check()?;
        let healthy = results.iter().filter(|r| r["healthy"] == json!(true)).count();
        return Ok(json!({
            "results": results,
            "total": checks.len(),
            "healthy": healthy,
            "unhealthy": checks.len() - healthy,
            "all_healthy": healthy == checks.len(),
        }));
    }
    if !p.has("url") && !p.has("host") && !p.has("type") {
        return Err(ToolError::validation(
            "give \"host\" and \"port\" (tcp), \"url\" (http) or \"targets\"",
        ));
    }
    let c = parse_target(p.as_map(), None, default_timeout)?;
    let result = check(&c, cx);
    cx.check()?;
    Ok(result)
}

/// Runs one check; failures to reach the target are part of the answer.
fn check(c: &Check, cx: &Context) -> Value {
    let timeout = c.timeout.min(cx.remaining());
    let mut out = match &c.target {
        Target::Tcp { host, port } => tcp(host, *port, timeout),
        Target::Http { url, expected, contains, redirects } => {
            http(url, expected, contains.as_deref(), *redirects, timeout, cx)
        }
    };
    if let Some(name) = &c.name {
        out["name"] = json!(name);
    }
    out
}

fn tcp(host: &str, port: u16, timeout: Duration) -> Value {
    let started = Instant::now();
    let mut out = json!({"type": "tcp", "host": host, "port": port});
    let outcome = resolve(host, port, timeout).and_then(|addrs| {
        let mut last = String::from("no address");
        for addr in addrs {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(format!("timed out after {} ms", timeout.as_millis()));
            }
            let connect_started = Instant::now();
            match TcpStream::connect_timeout(&addr, left) {
                Ok(_) => return Ok((addr, connect_started.elapsed())),
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    last = format!("{addr}: timed out after {} ms", timeout.as_millis());
                }
                Err(e) => last = format!("{addr}: {e}"),
            }
        }
        Err(last)
    });
    match outcome {
        Ok((addr, latency)) => {
            out["reachable"] = json!(true);
            out["healthy"] = json!(true);
            out["address"] = json!(addr.to_string());
            out["latency_ms"] = json!(client::ms(latency));
        }
        Err(why) => {
            out["reachable"] = json!(false);
            out["healthy"] = json!(false);
            out["error"] = json!(why);
            out["elapsed_ms"] = json!(client::ms(started.elapsed()));
        }
    }
    out
}

/// Name resolution on a helper thread, so a slow resolver cannot outlive the timeout.
fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let owned = host.to_owned();
    std::thread::spawn(move || {
        let found = (owned.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>());
        let _ = tx.send(found);
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(format!("{host} has no address")),
        Ok(Err(e)) => Err(format!("cannot resolve {host}: {e}")),
        Err(_) => Err(format!("resolving {host} timed out after {} ms", timeout.as_millis())),
    }
}

fn http(
    url: &url::Url,
    expected: &[u16],
    contains: Option<&str>,
    redirects: u32,
    timeout: Duration,
    cx: &Context,
) -> Value {
    let mut out = json!({"type": "http", "url": url.as_str()});
    let request = Request::get(url.clone(), timeout, redirects, Limit::Truncate(64 * 1024));
    match request.send(cx) {
        Ok(fetched) => {
            let status_ok = if expected.is_empty() {
                (200..300).contains(&fetched.status)
            } else {
                expected.contains(&fetched.status)
            };
            let body_ok = contains
                .is_none_or(|needle| String::from_utf8_lossy(&fetched.body).contains(needle));
            out["healthy"] = json!(status_ok && body_ok);
            out["status"] = json!(fetched.status);
            out["latency_ms"] = json!(client::ms(fetched.elapsed));
            out["final_url"] = json!(fetched.url);
            if !status_ok {
                out["error"] = json!(format!("unexpected status {}", fetched.status));
            } else if !body_ok {
                out["error"] = json!("the body does not contain the expected text");
            }
        }
        Err(failure) => {
            out["healthy"] = json!(false);
            out["status"] = Value::Null;
            out["error"] = json!(failure.error.message);
            out["timed_out"] = json!(failure.error.error_type == ErrorType::Timeout);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::testing::{Reply, closed_port, serve};
    use crate::{ErrorType, Policy, Registry};

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    #[test]
    fn tcp_reachable_and_unreachable() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = registry();
        let out =
            r.invoke("service_checker", json!({"host": "127.0.0.1", "port": port}), None).unwrap();
        assert_eq!(out["reachable"], true, "{out}");
        assert_eq!(out["address"], format!("127.0.0.1:{port}"));
        assert!(out["latency_ms"].as_f64().unwrap() >= 0.0);
        let out = r
            .invoke(
                "service_checker",
                json!({"type": "tcp", "host": "localhost", "port": closed_port(), "name": "db"}),
                None,
            )
            .unwrap();
        assert_eq!(out["reachable"], false, "{out}");
        assert_eq!(out["name"], "db");
        assert!(out["error"].as_str().unwrap().contains("refused"), "{out}");
        let out = r
            .invoke("service_checker", json!({"host": "no-such-host.invalid", "port": 80}), None)
            .unwrap();
        assert_eq!(out["reachable"], false, "{out}");
    }

    #[test]
    fn http_status_expectations_and_body_text() {
        let server = serve(|req, _| match req.path() {
            "/health" => Reply::text(200, "text/plain", "status: ok"),
            "/moved" => Reply::redirect(301, "/health"),
            _ => Reply::text(503, "text/plain", "down"),
        });
        let r = registry();
        let out = r.invoke("service_checker", json!({"url": server.url("/health")}), None).unwrap();
        assert_eq!(out["healthy"], true, "{out}");
        assert_eq!(out["status"], 200);
        assert!(out["latency_ms"].is_number());
        let out = r.invoke("service_checker", json!({"url": server.url("/down")}), None).unwrap();
        assert_eq!(out["healthy"], false);
        assert_eq!(out["status"], 503);
        assert_eq!(out["error"], "unexpected status 503");
        let out = r
            .invoke(
                "service_checker",
                json!({"url": server.url("/down"), "expected_status": [503, 500]}),
                None,
            )
            .unwrap();
        assert_eq!(out["healthy"], true);
        let out = r
            .invoke(
                "service_checker",
                json!({"url": server.url("/health"), "contains": "degraded"}),
                None,
            )
            .unwrap();
        assert_eq!(out["healthy"], false);
        let out = r.invoke("service_checker", json!({"url": server.url("/moved")}), None).unwrap();
        assert_eq!(out["healthy"], true);
        assert_eq!(out["final_url"], server.url("/health"));
        let out = r
            .invoke(
                "service_checker",
                json!({"url": server.url("/moved"), "follow_redirects": false,
                       "expected_status": 301}),
                None,
            )
            .unwrap();
        assert_eq!(out["healthy"], true);
        let url = format!("http://127.0.0.1:{}/", closed_port());
        let out = r.invoke("service_checker", json!({"url": url}), None).unwrap();
        assert_eq!(out["healthy"], false);
        assert_eq!(out["status"], json!(null));
    }

    #[test]
    fn many_targets_are_checked_concurrently() {
        let fast = serve(|_, _| Reply::text(200, "text/plain", "ok"));
        let slow = serve(|_, _| Reply::Hang);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let out = registry()
            .invoke(
                "service_checker",
                json!({
                    "timeout_ms": 1500,
                    "targets": [
                        {"name": "web", "url": fast.url("/")},
                        {"name": "hang1", "url": slow.url("/a")},
                        {"name": "hang2", "url": slow.url("/b")},
                        {"name": "hang3", "url": slow.url("/c")},
                        {"name": "hang4", "url": slow.url("/d")},
                        {"name": "tcp", "host": "127.0.0.1", "port": port},
                        {"name": "closed", "type": "tcp", "host": "127.0.0.1",
                         "port": closed_port()}
                    ]
                }),
                None,
            )
            .unwrap();
        // Four hanging checks of 1.5 s each, run one after another, would take 6 s.
        assert!(started.elapsed() < Duration::from_millis(5000), "{:?}", started.elapsed());
        assert_eq!(out["total"], 7);
        assert_eq!(out["healthy"], 2);
        assert_eq!(out["all_healthy"], false);
        let names: Vec<&str> = out["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web", "hang1", "hang2", "hang3", "hang4", "tcp", "closed"]);
        assert_eq!(out["results"][1]["timed_out"], true, "{out}");
        assert!(slow.wait_hung_up(4, Duration::from_secs(10)), "hanging checks were not closed");
    }

    #[test]
    fn the_invoke_timeout_stops_every_check() {
        let slow = serve(|_, _| Reply::Hang);
        let e = registry()
            .invoke(
                "service_checker",
                json!({"targets": [{"url": slow.url("/1")}, {"url": slow.url("/2")}]}),
                Some(Duration::from_millis(400)),
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(slow.wait_hung_up(2, Duration::from_secs(10)), "checks outlived the invoke");
    }

    #[test]
    fn validation_errors_name_the_problem() {
        let r = registry();
        for (params, needle) in [
            (json!({}), "targets"),
            (json!({"host": "x"}), "port"),
            (json!({"type": "http", "host": "x"}), "url"),
            (json!({"url": "ftp://x/"}), "scheme"),
            (json!({"port": 0, "host": "x"}), "/port"),
            (json!({"url": "http://x/", "expected_status": 42}), "expected_status"),
            (json!({"targets": []}), "/targets"),
            (json!({"targets": [{"host": "x"}]}), "targets\"[0]"),
            (json!({"targets": [{"url": "http://x/"}], "url": "http://y/"}), "inside a target"),
            (json!({"targets": [{"url": "http://x/", "bogus": 1}]}), "additionalProperties"),
        ] {
            let e = r.invoke("service_checker", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }
}

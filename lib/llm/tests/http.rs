//! The HTTP path of llmspell-llm against a scripted server on 127.0.0.1: retries honour
//! Retry-After and stop at max_retries, keys are sent but never come back in errors, streams
//! deliver pieces and can be cancelled mid-stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmspell_llm::{Call, ChatRequest, LlmError, Message, Providers};

/// One scripted answer: the raw HTTP response text, then an optional pause before closing.
struct Reply {
    head_and_body: String,
    hold: Duration,
}

/// What the server saw: when each request came and its headers (lower-cased).
#[derive(Default)]
struct Seen {
    at: Vec<Instant>,
    headers: Vec<String>,
}

fn serve(replies: Vec<Reply>) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((stream, _)) = listener.accept() else { return };
            let head = read_request(&stream);
            {
                let mut s = log.lock().unwrap();
                s.at.push(Instant::now());
                s.headers.push(head);
            }
            let mut stream = stream;
            let _ = stream.write_all(reply.head_and_body.as_bytes());
            let _ = stream.flush();
            std::thread::sleep(reply.hold);
        }
    });
    (base, seen)
}

fn read_request(stream: &TcpStream) -> String {
    let mut r = BufReader::new(stream);
    let mut head = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
        head.push_str(&lower);
    }
    let mut body = vec![0; len];
    let _ = r.read_exact(&mut body);
    head
}

fn json_reply(status: &str, extra: &str, body: &str) -> Reply {
    Reply {
        head_and_body: format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n{extra}\r\n{body}",
            body.len()
        ),
        hold: Duration::ZERO,
    }
}

const OK: &str = r#"{"model":"m","choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;

fn provider(base: &str, extra: &str) -> llmspell_llm::ProviderConfig {
    let text = format!(
        "[providers.t]\nkind = \"openai\"\nbase_url = \"{base}/v1\"\nmodel = \"m\"\n{extra}"
    );
    Providers::parse(&text, Path::new("/")).unwrap().list.remove(0)
}

fn request(stream: bool) -> ChatRequest {
    ChatRequest {
        model: "m".into(),
        system: None,
        messages: vec![Message::user("hi")],
        temperature: None,
        max_tokens: None,
        tools: vec![],
        stream,
    }
}

fn run(call: Call) -> (Result<llmspell_llm::ChatResponse, LlmError>, Vec<String>) {
    let never = AtomicBool::new(false);
    let mut pieces = Vec::new();
    let out = call
        .run(&never, |t| {
            pieces.push(t.to_string());
            Ok::<(), ()>(())
        })
        .unwrap();
    (out, pieces)
}

#[test]
fn retries_429_after_retry_after_then_succeeds() {
    let (base, seen) = serve(vec![
        json_reply(
            "429 Too Many Requests",
            "retry-after: 1\r\n",
            r#"{"error":{"message":"slow down"}}"#,
        ),
        json_reply("200 OK", "", OK),
    ]);
    let (out, _) = run(Call::start(provider(&base, ""), request(false)));
    let r = out.unwrap();
    assert_eq!(r.text, "hello");
    assert_eq!((r.usage.prompt_tokens, r.usage.completion_tokens), (3, 1));
    let s = seen.lock().unwrap();
    assert_eq!(s.at.len(), 2);
    // The wait honoured Retry-After (a lower bound, so never flaky).
    assert!(s.at[1] - s.at[0] >= Duration::from_millis(950), "{:?}", s.at[1] - s.at[0]);
}

#[test]
fn retries_are_bounded_and_the_error_keeps_status_and_message() {
    let fail =
        || json_reply("503 Service Unavailable", "retry-after: 0\r\n", r#"{"error":"overloaded"}"#);
    let (base, seen) = serve(vec![fail(), fail(), fail()]);
    let (out, _) = run(Call::start(provider(&base, "max_retries = 1\n"), request(false)));
    assert_eq!(
        out.unwrap_err(),
        LlmError::Http { provider: "t".into(), status: 503, message: "overloaded".into() }
    );
    assert_eq!(seen.lock().unwrap().at.len(), 2, "one try and one retry");
}

#[test]
fn key_is_sent_but_redacted_from_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key"), "sk-test-abcdef123456\n").unwrap();
    let body = r#"{"error":{"message":"Incorrect API key provided: sk-test-abcdef123456","type":"invalid_request_error"}}"#;
    let (base, seen) = serve(vec![json_reply("401 Unauthorized", "", body)]);
    let cfg =
        provider(&base, &format!("api_key_file = \"{}\"\n", dir.path().join("key").display()));
    let (out, _) = run(Call::start(cfg, request(false)));
    let err = out.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("sk-test-abcdef123456"), "{text}");
    assert_eq!(
        err.to_string(),
        "provider t: HTTP 401: invalid_request_error: Incorrect API key provided: [REDACTED]"
    );
    assert!(seen.lock().unwrap().headers[0].contains("authorization: bearer sk-test-abcdef123456"));
}

fn sse(events: &[&str], hold: Duration) -> Reply {
    let mut body = String::new();
    for e in events {
        body.push_str(&format!("data: {e}\n\n"));
    }
    Reply {
        head_and_body: format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{body}"
        ),
        hold,
    }
}

#[test]
fn a_stream_arrives_in_pieces() {
    let chunk = |t: &str| format!(r#"{{"choices":[{{"delta":{{"content":"{t}"}}}}]}}"#);
    let (a, b) = (chunk("Hel"), chunk("lo"));
    let (base, _) = serve(vec![sse(&[&a, &b, "[DONE]"], Duration::ZERO)]);
    let (out, pieces) = run(Call::start(provider(&base, ""), request(true)));
    assert_eq!(out.unwrap().text, "Hello");
    assert_eq!(pieces, vec!["Hel", "lo"]);
}

#[test]
fn a_stalled_stream_is_cancelled_at_once() {
    let first = r#"{"choices":[{"delta":{"content":"first"}}]}"#;
    // The server sends one piece and then says nothing for a minute.
    let (base, _) = serve(vec![sse(&[first], Duration::from_secs(60))]);
    let stop = AtomicBool::new(false);
    let mut pieces = Vec::new();
    let out = Call::start(provider(&base, ""), request(true))
        .run(&stop, |t| {
            pieces.push(t.to_string());
            stop.store(true, Ordering::Relaxed); // an interrupt arrives after the first piece
            Ok::<(), ()>(())
        })
        .unwrap();
    assert_eq!(out.unwrap_err(), LlmError::Cancelled);
    assert_eq!(pieces, vec!["first"]);
}

#[test]
fn malformed_replies_are_errors_not_panics() {
    let (base, _) = serve(vec![
        json_reply("200 OK", "", "{\"choices\": 5"),
        sse(&["{not json"], Duration::ZERO),
    ]);
    let (out, _) = run(Call::start(provider(&base, ""), request(false)));
    assert!(matches!(out, Err(LlmError::Malformed { .. })), "{out:?}");
    let (out, _) = run(Call::start(provider(&base, ""), request(true)));
    assert!(matches!(out, Err(LlmError::Malformed { .. })), "{out:?}");
}

#[test]
fn the_timeout_bounds_a_silent_server() {
    // Headers never come: the server accepts and says nothing for a minute.
    let silent = Reply { head_and_body: String::new(), hold: Duration::from_secs(60) };
    let (base, _) = serve(vec![silent]);
    let cfg = provider(&base, "timeout = 0.5\nmax_retries = 0\n");
    let (out, _) = run(Call::start(cfg, request(false)));
    let err = out.unwrap_err();
    assert!(matches!(err, LlmError::Transport { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within the 0.5 s timeout"), "{err}");
}

//! A small HTTP/1.1 server on 127.0.0.1 for the network tools' tests: each connection gets one
//! answer from a handler and is closed; a handler may also never answer, and the server then
//! records when the client hung up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What to do with a request.
pub enum Reply {
    /// Status, headers, body.
    Send(u16, Vec<(String, String)>, Vec<u8>),
    /// Keep the connection open and never answer.
    Hang,
}

impl Reply {
    pub fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply::Send(
            status,
            vec![("Content-Type".into(), content_type.into())],
            body.as_bytes().to_vec(),
        )
    }

    pub fn redirect(status: u16, location: &str) -> Reply {
        Reply::Send(status, vec![("Location".into(), location.into())], Vec::new())
    }
}

type Handler = dyn Fn(&Req, SocketAddr) -> Reply + Send + Sync;

/// A running server; it lives until the test process ends.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Req>>>,
    /// Connections whose client closed while the server was hanging on them.
    pub hung_up: Arc<AtomicUsize>,
    pub accepted: Arc<AtomicUsize>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (generously) until `n` hanging connections were closed by the client.
    pub fn wait_hung_up(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.hung_up.load(Ordering::SeqCst) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

pub fn serve(handler: impl Fn(&Req, SocketAddr) -> Reply + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handler: Arc<Handler> = Arc::new(handler);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let hung_up = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let server = Server {
        addr,
        requests: requests.clone(),
        hung_up: hung_up.clone(),
        accepted: accepted.clone(),
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            accepted.fetch_add(1, Ordering::SeqCst);
            let (handler, requests, hung_up) = (handler.clone(), requests.clone(), hung_up.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, addr, &*handler, &requests, &hung_up);
            });
        }
    });
    server
}

fn handle(
    mut stream: TcpStream,
    addr: SocketAddr,
    handler: &Handler,
    requests: &Mutex<Vec<Req>>,
    hung_up: &AtomicUsize,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(req) = read_request(&mut stream)? else { return Ok(()) };
    requests.lock().unwrap().push(req.clone());
    match handler(&req, addr) {
        Reply::Send(status, headers, body) => {
            let mut head = format!("HTTP/1.1 {status} Status\r\nConnection: close\r\n");
            for (n, v) in &headers {
                head.push_str(&format!("{n}: {v}\r\n"));
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes())?;
            if req.method != "HEAD" {
                stream.write_all(&body)?;
            }
            stream.flush()?;
        }
        Reply::Hang => {
            let mut buf = [0u8; 1024];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        hung_up.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                        hung_up.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
    Ok(())
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<Req>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Ok(Some(Req { method, target, headers, body }))
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

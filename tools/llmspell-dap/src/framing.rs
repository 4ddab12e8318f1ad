//! DAP's base protocol: each message is `Content-Length: N\r\n\r\n` and N bytes of UTF-8 JSON
//! (Debug Adapter Protocol, "Base Protocol"). Other header fields are allowed and ignored.
//!
//! Reading never panics on what a client sends: a header that is not `Name: value`, a missing
//! or non-numeric length, a body larger than [`MAX_BODY`] or a stream that ends inside a message
//! is a [`FrameError::Malformed`]. After one the stream cannot be re-synchronised, so the adapter
//! ends (exit 65). A body that is not JSON is the caller's business: the frame itself was fine.

use std::io::{BufRead, Read, Write};

use llmspell_common::{ExitCode, HasExitCode};

/// Largest body accepted (a source file sent in a request is well below it).
pub const MAX_BODY: usize = 64 << 20;
/// Longest header line accepted.
const MAX_HEADER_LINE: usize = 8 << 10;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("malformed frame: {0}")]
    Malformed(String),
    #[error("reading the client: {0}")]
    Io(#[from] std::io::Error),
}

impl HasExitCode for FrameError {
    fn exit_code(&self) -> ExitCode {
        match self {
            FrameError::Malformed(_) => ExitCode::DataErr,
            FrameError::Io(_) => ExitCode::IoErr,
        }
    }
}

/// Reads one message body; `None` at a clean end of the stream (between messages).
pub fn read_frame(input: &mut impl BufRead) -> Result<Option<Vec<u8>>, FrameError> {
    let mut length = None;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = Read::take(&mut *input, MAX_HEADER_LINE as u64 + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            if first {
                return Ok(None);
            }
            return Err(FrameError::Malformed("the stream ended inside a header".into()));
        }
        first = false;
        if !line.ends_with(b"\n") {
            return Err(if line.len() > MAX_HEADER_LINE {
                FrameError::Malformed(format!(
                    "a header line is longer than {MAX_HEADER_LINE} bytes"
                ))
            } else {
                FrameError::Malformed("the stream ended inside a header".into())
            });
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        let Some((name, value)) = text.split_once(':') else {
            return Err(FrameError::Malformed(format!("header {text:?} is not `Name: value`")));
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            let n: usize = value.parse().map_err(|_| {
                FrameError::Malformed(format!("Content-Length {value:?} is not a number"))
            })?;
            if n > MAX_BODY {
                return Err(FrameError::Malformed(format!(
                    "Content-Length {n} is larger than {MAX_BODY} bytes"
                )));
            }
            length = Some(n);
        }
    }
    let length = length.ok_or_else(|| FrameError::Malformed("no Content-Length header".into()))?;
    let mut body = vec![0; length];
    input.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            FrameError::Malformed(format!("the stream ended inside a {length}-byte body"))
        }
        _ => FrameError::Io(e),
    })?;
    Ok(Some(body))
}

/// Writes one message and flushes it.
pub fn write_frame(output: &mut impl Write, body: &[u8]) -> std::io::Result<()> {
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(body)?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8]) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut input = std::io::BufReader::new(bytes);
        let mut out = Vec::new();
        loop {
            let frame = read_frame(&mut input).map_err(|e| e.to_string());
            let end = !matches!(frame, Ok(Some(_)));
            out.push(frame);
            if end {
                return out;
            }
        }
    }

    #[test]
    fn frames_round_trip_and_extra_headers_are_ignored() {
        let mut bytes = Vec::new();
        write_frame(&mut bytes, b"{\"a\":1}").unwrap();
        bytes.extend_from_slice(b"Content-Type: application/json\r\ncontent-length:2\r\n\r\n{}");
        let frames = read_all(&bytes);
        assert_eq!(frames[0].as_ref().unwrap().as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(frames[1].as_ref().unwrap().as_deref(), Some(&b"{}"[..]));
        assert_eq!(frames[2], Ok(None));
    }

    #[test]
    fn broken_frames_are_errors_not_panics() {
        for (bytes, what) in [
            (&b"Content-Length: x\r\n\r\n"[..], "not a number"),
            (b"Content-Type: a\r\n\r\n{}", "no Content-Length"),
            (b"garbage\r\n\r\n", "not `Name: value`"),
            (b"Content-Length: 10\r\n\r\n{}", "inside a 10-byte body"),
            (b"Content-Length: 2\r\n", "inside a header"),
            (b"Content-Length: 99999999999\r\n\r\n", "larger than"),
        ] {
            let frames = read_all(bytes);
            let err = frames.last().unwrap().as_ref().unwrap_err();
            assert!(err.contains(what), "{bytes:?}: {err}");
        }
        let long = vec![b'a'; MAX_HEADER_LINE + 10];
        assert!(read_all(&long).last().unwrap().as_ref().unwrap_err().contains("longer than"));
    }
}

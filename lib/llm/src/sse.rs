//! Incremental server-sent-events parsing (WHATWG HTML, "Parsing an event stream"): feed the
//! bytes as they arrive, in chunks of any size, and take out whole events.
//!
//! Lines end in `\n`, `\r\n` or `\r`; `data:` lines of one event are joined with `\n`; a
//! blank line ends the event (events without data are dropped, as the spec says); lines
//! starting with `:` are comments (keep-alives); one space after the colon is dropped. Bytes
//! are kept until their line is complete, so a UTF-8 character split across chunks is intact.

/// One event: its `event:` type (empty for the default `message`) and its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    event: String,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Parse `chunk`; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < self.buf.len() {
            let b = self.buf[i];
            if b == b'\n' || b == b'\r' {
                if b == b'\r' && i + 1 == self.buf.len() {
                    break; // could be the first half of "\r\n": wait for the next byte
                }
                let line = String::from_utf8_lossy(&self.buf[start..i]).into_owned();
                self.line(&line, &mut out);
                i += if b == b'\r' && self.buf[i + 1] == b'\n' { 2 } else { 1 };
                start = i;
            } else {
                i += 1;
            }
        }
        self.buf.drain(..start);
        out
    }

    /// End of stream: a last unterminated line and event still count.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            let text = String::from_utf8_lossy(&rest);
            self.line(text.trim_end_matches('\r'), &mut out);
        }
        self.line("", &mut out);
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                out.push(SseEvent { event: std::mem::take(&mut self.event), data });
            }
            self.event.clear();
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            _ => {} // id, retry and unknown fields do not matter here
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    #[test]
    fn whole_events() {
        let mut p = SseParser::new();
        let got = p.feed(b": ping\n\nevent: message_start\ndata: {\"a\":1}\n\ndata: x\ndata:y\n\n");
        assert_eq!(got, vec![ev("message_start", "{\"a\":1}"), ev("", "x\ny")]);
        assert!(p.finish().is_empty());
    }

    #[test]
    fn split_anywhere_gives_the_same_events() {
        let stream = "event: content_block_delta\r\ndata: {\"t\":\"h\u{e9}llo\"}\r\n\r\n\
                      data: [DONE]\n\n";
        let whole = SseParser::new().feed(stream.as_bytes());
        assert_eq!(whole.len(), 2);
        let bytes = stream.as_bytes();
        for size in 1..8 {
            let mut p = SseParser::new();
            let mut got = Vec::new();
            for chunk in bytes.chunks(size) {
                got.extend(p.feed(chunk));
            }
            got.extend(p.finish());
            assert_eq!(got, whole, "chunk size {size}");
        }
        for cut in 0..bytes.len() {
            let mut p = SseParser::new();
            let mut got = p.feed(&bytes[..cut]);
            got.extend(p.feed(&bytes[cut..]));
            assert_eq!(got, whole, "cut at {cut}");
        }
    }

    #[test]
    fn bare_cr_lines_and_unterminated_end() {
        let mut p = SseParser::new();
        let mut got = p.feed(b"data: a\r\rdata: b");
        got.extend(p.finish());
        assert_eq!(got, vec![ev("", "a"), ev("", "b")]);
        let mut p = SseParser::new();
        assert!(p.feed(b"event: x\n\n").is_empty(), "no data, no event");
    }
}

//! file_converter: text encodings, line endings and byte-order marks.

use std::io::Write;

use encoding_rs::{DecoderResult, EncoderResult, Encoding, UTF_8, UTF_16BE, UTF_16LE};
use serde_json::{Value, json};

use super::{MAX_READ, example_path, read_capped, refuse_existing, shown, write_replacing};
use crate::{Context, ErrorType, Example, Params, ToolDef, ToolError};

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "file_converter",
        category: "files",
        description: "Converts a text file's encoding (utf-8, utf-16le/be, latin1/windows-1252, \
                      shift_jis, euc-jp, gbk, big5 and the other WHATWG encodings), its line \
                      endings (lf, crlf, cr) and its byte-order mark, in place or to another \
                      file, reporting what it found.",
        schema: json!({
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "The input file"},
                "text": {
                    "type": "string",
                    "description": "Inline input text instead of a file (then output is \
                                    required)"
                },
                "output": {
                    "type": "string",
                    "description": "Where to write the result (default: path, in place)"
                },
                "from": {
                    "type": "string",
                    "description": "The input encoding label, e.g. utf-8, utf-16le, latin1, \
                                    windows-1252, shift_jis; \"auto\" (default) reads a BOM, \
                                    else requires valid UTF-8; ignored for text"
                },
                "to": {
                    "type": "string",
                    "description": "The output encoding label (default utf-8)"
                },
                "line_endings": {
                    "type": "string",
                    "enum": ["keep", "lf", "crlf", "cr"],
                    "description": "Rewrite every line break as this (default keep)"
                },
                "bom": {
                    "type": "string",
                    "enum": ["keep", "add", "strip"],
                    "description": "Byte-order mark of the output: keep writes one if the \
                                    input had one (default); add and keep only apply to \
                                    utf-8 / utf-16 output"
                },
                "overwrite": {
                    "type": "boolean",
                    "description": "Replace an existing output file other than the input \
                                    (default false)"
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "write text as latin1 with CRLF line endings",
                json!({"text": "café\nau lait\n", "to": "latin1", "line_endings": "crlf",
                       "output": example_path("llmspell-example-file_converter/latin1.txt"),
                       "overwrite": true}),
                json!({"to": "windows-1252", "bytes_out": 15,
                       "line_endings_found": {"lf": 2, "crlf": 0, "cr": 0}}),
            ),
            Example::new(
                "write text as UTF-16LE with a byte-order mark",
                json!({"text": "hi", "to": "utf-16le", "bom": "add",
                       "output": example_path("llmspell-example-file_converter/utf16.txt"),
                       "overwrite": true}),
                json!({"to": "UTF-16LE", "bom_written": true, "bytes_out": 6}),
            ),
            Example::fails(
                "an unknown encoding",
                json!({"text": "x", "to": "klingon",
                       "output": example_path("llmspell-example-file_converter/x.txt")}),
                ErrorType::Validation,
            ),
            Example::fails(
                "a character latin1 cannot encode",
                json!({"text": "snow ☃", "to": "latin1", "overwrite": true,
                       "output": example_path("llmspell-example-file_converter/snow.txt")}),
                ErrorType::Execution,
            ),
        ],
        run,
    }
}

fn encoding(p: &Params, key: &str, default: &str) -> Result<Option<&'static Encoding>, ToolError> {
    let label = p.str_or(key, default)?;
    if key == "from" && label.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    match Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e != encoding_rs::REPLACEMENT => Ok(Some(e)),
        _ => Err(ToolError::validation(format!(
            "parameter {key:?}: {label:?} is not a supported encoding (try utf-8, utf-16le, \
             utf-16be, latin1, windows-1252, shift_jis, euc-jp, gbk, big5)"
        ))),
    }
}

fn bom_of(enc: &'static Encoding) -> Option<&'static [u8]> {
    if enc == UTF_8 {
        Some(b"\xEF\xBB\xBF")
    } else if enc == UTF_16LE {
        Some(b"\xFF\xFE")
    } else if enc == UTF_16BE {
        Some(b"\xFE\xFF")
    } else {
        None
    }
}

/// Decodes `bytes` as `enc`; malformed input is an error naming its byte offset.
fn decode(enc: &'static Encoding, bytes: &[u8], offset: usize) -> Result<String, ToolError> {
    let mut decoder = enc.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or_else(|| ToolError::validation("the input is too large"))?;
    let mut out = String::with_capacity(capacity);
    let mut pos = 0;
    loop {
        let (result, read) =
            decoder.decode_to_string_without_replacement(&bytes[pos..], &mut out, true);
        pos += read;
        match result {
            DecoderResult::InputEmpty => return Ok(out),
            DecoderResult::OutputFull => out.reserve(bytes.len() - pos + 16),
            DecoderResult::Malformed(bad, after) => {
                let at = pos - after as usize - bad as usize;
                let shown: Vec<String> =
                    bytes[at..at + bad as usize].iter().map(|b| format!("{b:02x}")).collect();
                return Err(ToolError::execution(format!(
                    "the input is not valid {}: malformed bytes [{}] at byte offset {}",
                    enc.name(),
                    shown.join(" "),
                    at + offset
                )));
            }
        }
    }
}

/// Encodes `text` as `enc`; a character it cannot represent is an error naming its place.
fn encode(enc: &'static Encoding, text: &str) -> Result<Vec<u8>, ToolError> {
    if enc == UTF_8 {
        return Ok(text.as_bytes().to_vec());
    }
    if enc == UTF_16LE || enc == UTF_16BE {
        let mut out = Vec::with_capacity(text.len() * 2);
        for unit in text.encode_utf16() {
            let pair = if enc == UTF_16LE { unit.to_le_bytes() } else { unit.to_be_bytes() };
            out.extend_from_slice(&pair);
        }
        return Ok(out);
    }
    let mut encoder = enc.new_encoder();
    let mut out = Vec::with_capacity(
        encoder.max_buffer_length_from_utf8_without_replacement(text.len()).unwrap_or(text.len()),
    );
    let mut pos = 0;
    loop {
        let (result, read) =
            encoder.encode_from_utf8_to_vec_without_replacement(&text[pos..], &mut out, true);
        pos += read;
        match result {
            EncoderResult::InputEmpty => return Ok(out),
            EncoderResult::OutputFull => out.reserve(text.len() - pos + 16),
            EncoderResult::Unmappable(c) => {
                let at = pos - c.len_utf8();
                let line = text[..at].matches('\n').count() + 1;
                let column = text[..at].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                return Err(ToolError::execution(format!(
                    "{c:?} (U+{:04X}) at line {line}, column {column} cannot be encoded in {}",
                    c as u32,
                    enc.name()
                )));
            }
        }
    }
}

/// Counts of each line break kind.
fn count_breaks(text: &str) -> (usize, usize, usize) {
    let bytes = text.as_bytes();
    let (mut lf, mut crlf, mut cr) = (0, 0, 0);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                crlf += 1;
                i += 1;
            }
            b'\r' => cr += 1,
            b'\n' => lf += 1,
            _ => {}
        }
        i += 1;
    }
    (lf, crlf, cr)
}

fn rewrite_breaks(cx: &Context, text: &str, eol: &str) -> Result<String, ToolError> {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    let mut rest = text;
    let mut n = 0u64;
    while let Some(at) = rest.find(['\r', '\n']) {
        n += 1;
        if n.is_multiple_of(65536) {
            cx.check()?;
        }
        out.push_str(&rest[..at]);
        out.push_str(eol);
        let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = &rest[at + skip..];
    }
    out.push_str(rest);
    Ok(out)
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let from = encoding(p, "from", "auto")?;
    let to = encoding(p, "to", "utf-8")?.unwrap_or(UTF_8);
    let bom = p.str_or("bom", "keep")?;
    if bom == "add" && bom_of(to).is_none() {
        return Err(ToolError::validation(format!(
            "parameter \"bom\": {} has no byte-order mark; only utf-8 and utf-16 do",
            to.name()
        )));
    }
    let (input, bytes) = match (p.opt_str("path")?, p.opt_str("text")?) {
        (Some(path), None) => {
            let path = cx.path(path)?;
            let bytes = read_capped(&path, MAX_READ, "path")?;
            (Some(path), bytes)
        }
        (None, Some(text)) => (None, text.as_bytes().to_vec()),
        _ => {
            return Err(ToolError::validation(
                "give exactly one of the parameters \"path\" and \"text\"",
            ));
        }
    };
    let output = match (p.opt_str("output")?, &input) {
        (Some(o), _) => cx.path(o)?,
        (None, Some(i)) => i.clone(),
        (None, None) => {
            return Err(ToolError::validation("parameter \"output\" is required with \"text\""));
        }
    };
    if input.as_deref() != Some(output.as_path()) {
        refuse_existing(&output, p.bool_or("overwrite", false)?)?;
    }
    cx.check()?;
    // Inline text is already Unicode: it is decoded as UTF-8 whatever `from` says.
    let sniffed = Encoding::for_bom(&bytes);
    let (source, bom_len, detected) = match (from, &input) {
        (_, None) => (UTF_8, sniffed.filter(|(e, _)| *e == UTF_8).map_or(0, |(_, n)| n), false),
        (None, _) => match sniffed {
            Some((e, n)) => (e, n, true),
            None => (UTF_8, 0, true),
        },
        (Some(e), _) => (e, sniffed.filter(|(s, _)| *s == e).map_or(0, |(_, n)| n), false),
    };
    let text = decode(source, &bytes[bom_len..], bom_len).map_err(|e| {
        if detected {
            ToolError::execution(format!("{}; name the encoding with \"from\"", e.message))
        } else {
            e
        }
    })?;
    cx.check()?;
    let (lf, crlf, cr) = count_breaks(&text);
    let eol = p.str_or("line_endings", "keep")?;
    let text = match eol {
        "lf" => rewrite_breaks(cx, &text, "\n")?,
        "crlf" => rewrite_breaks(cx, &text, "\r\n")?,
        "cr" => rewrite_breaks(cx, &text, "\r")?,
        _ => text,
    };
    let write_bom = match bom {
        "add" => true,
        "strip" => false,
        _ => bom_len > 0 && bom_of(to).is_some(),
    };
    let encoded = encode(to, &text)?;
    cx.check()?;
    let bytes_out = write_replacing(&output, |file| {
        if write_bom && let Some(bom) = bom_of(to) {
            file.write_all(bom).map_err(|e| ToolError::execution(e.to_string()))?;
        }
        file.write_all(&encoded).map_err(|e| ToolError::execution(e.to_string()))
    })?;
    Ok(json!({
        "input": input.as_deref().map(shown),
        "output": shown(&output),
        "from": source.name(),
        "detected": detected,
        "to": to.name(),
        "had_bom": bom_len > 0,
        "bom_written": write_bom,
        "line_endings_found": {"lf": lf, "crlf": crlf, "cr": cr},
        "line_endings": eol,
        "chars": text.chars().count(),
        "bytes_in": bytes.len(),
        "bytes_out": bytes_out,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{Fx, exists};
    use crate::ErrorType;

    const T: &str = "file_converter";

    #[test]
    fn latin1_to_utf8_and_back() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("l1.txt"), b"caf\xe9\n").unwrap();
        let e = fx.err(
            T,
            json!({"path": fx.p("l1.txt"), "output": fx.p("u8.txt")}),
            ErrorType::Execution,
        );
        assert!(e.message.contains("byte offset 3") && e.message.contains("from"), "{e}");
        assert!(!exists(&fx.root.join("u8.txt")));
        let out = fx.ok(
            T,
            json!({"path": fx.p("l1.txt"), "from": "latin1",
                                  "output": fx.p("u8.txt")}),
        );
        assert_eq!(out["from"], "windows-1252");
        assert_eq!(out["to"], "UTF-8");
        assert_eq!(out["bytes_in"], 5);
        assert_eq!(out["bytes_out"], 6);
        assert_eq!(out["chars"], 5);
        assert_eq!(std::fs::read_to_string(fx.root.join("u8.txt")).unwrap(), "café\n");
        let out = fx.ok(T, json!({"path": fx.p("u8.txt"), "to": "iso-8859-1"}));
        assert_eq!(out["detected"], true);
        assert_eq!(out["from"], "UTF-8");
        assert_eq!(std::fs::read(fx.root.join("u8.txt")).unwrap(), b"caf\xe9\n");
        // An existing output is kept unless overwrite is set.
        fx.err(
            T,
            json!({"path": fx.p("l1.txt"), "from": "latin1", "output": fx.p("u8.txt")}),
            ErrorType::Execution,
        );
        fx.ok(
            T,
            json!({"path": fx.p("l1.txt"), "from": "latin1", "output": fx.p("u8.txt"),
                        "overwrite": true}),
        );
        assert_eq!(std::fs::read_to_string(fx.root.join("u8.txt")).unwrap(), "café\n");
    }

    #[test]
    fn utf16_boms_and_shift_jis() {
        let fx = Fx::new();
        let out = fx.ok(
            T,
            json!({"text": "日本\n", "to": "utf-16be", "bom": "add",
                                  "output": fx.p("be.txt")}),
        );
        assert_eq!(out["bom_written"], true);
        assert_eq!(
            std::fs::read(fx.root.join("be.txt")).unwrap(),
            b"\xFE\xFF\x65\xE5\x67\x2C\x00\x0A"
        );
        // The BOM is detected; keep writes one when the output is Unicode.
        let out = fx.ok(
            T,
            json!({"path": fx.p("be.txt"), "to": "utf-8",
                                  "output": fx.p("u8bom.txt")}),
        );
        assert_eq!(out["from"], "UTF-16BE");
        assert_eq!(out["had_bom"], true);
        let written = std::fs::read(fx.root.join("u8bom.txt")).unwrap();
        assert_eq!(written, "\u{feff}日本\n".as_bytes());
        let out = fx.ok(T, json!({"path": fx.p("u8bom.txt"), "bom": "strip"}));
        assert_eq!(out["had_bom"], true);
        assert_eq!(out["bom_written"], false);
        assert_eq!(std::fs::read_to_string(fx.root.join("u8bom.txt")).unwrap(), "日本\n");
        fx.ok(T, json!({"path": fx.p("u8bom.txt"), "to": "shift_jis", "output": fx.p("sj.txt")}));
        assert_eq!(std::fs::read(fx.root.join("sj.txt")).unwrap(), b"\x93\xfa\x96\x7b\n");
        let out = fx.ok(
            T,
            json!({"path": fx.p("sj.txt"), "from": "sjis", "to": "utf-16le",
                                  "output": fx.p("le.txt")}),
        );
        assert_eq!(out["bom_written"], false);
        assert_eq!(std::fs::read(fx.root.join("le.txt")).unwrap(), b"\xE5\x65\x2C\x67\x0A\x00");
        let e = fx.err(
            T,
            json!({"path": fx.p("sj.txt"), "to": "latin1", "bom": "add"}),
            ErrorType::Validation,
        );
        assert!(e.message.contains("\"bom\""), "{e}");
        // Malformed Shift_JIS names the offset of the bad bytes.
        std::fs::write(fx.root.join("bad.txt"), b"ok\x81\x20").unwrap();
        let e =
            fx.err(T, json!({"path": fx.p("bad.txt"), "from": "shift_jis"}), ErrorType::Execution);
        assert!(e.message.contains("byte offset 2"), "{e}");
    }

    #[test]
    fn line_endings_are_counted_and_rewritten() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("mixed.txt"), "a\r\nb\nc\rd").unwrap();
        let out = fx.ok(
            T,
            json!({"path": fx.p("mixed.txt"), "line_endings": "lf",
                                  "output": fx.p("lf.txt")}),
        );
        assert_eq!(out["line_endings_found"], json!({"lf": 1, "crlf": 1, "cr": 1}));
        assert_eq!(std::fs::read_to_string(fx.root.join("lf.txt")).unwrap(), "a\nb\nc\nd");
        fx.ok(T, json!({"path": fx.p("mixed.txt"), "line_endings": "crlf"}));
        assert_eq!(std::fs::read_to_string(fx.root.join("mixed.txt")).unwrap(), "a\r\nb\r\nc\r\nd");
        fx.ok(T, json!({"path": fx.p("mixed.txt"), "line_endings": "cr"}));
        assert_eq!(std::fs::read_to_string(fx.root.join("mixed.txt")).unwrap(), "a\rb\rc\rd");
    }

    #[test]
    fn failures() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("in.txt"), "x☃\n").unwrap();
        let e = fx.err(T, json!({"path": fx.p("in.txt"), "to": "latin1"}), ErrorType::Execution);
        assert!(e.message.contains("U+2603") && e.message.contains("line 1, column 2"), "{e}");
        assert_eq!(std::fs::read_to_string(fx.root.join("in.txt")).unwrap(), "x☃\n");
        let e = fx.err(T, json!({"path": fx.p("in.txt"), "from": "nope"}), ErrorType::Validation);
        assert!(e.message.contains("\"from\""), "{e}");
        fx.err(T, json!({}), ErrorType::Validation);
        fx.err(T, json!({"text": "x"}), ErrorType::Validation);
        fx.err(T, json!({"text": "x", "path": fx.p("in.txt")}), ErrorType::Validation);
        fx.err(T, json!({"path": fx.p("missing.txt")}), ErrorType::NotFound);
        fx.err(T, json!({"path": fx.p("in.txt"), "line_endings": "nl"}), ErrorType::Validation);
        let big = std::fs::File::create(fx.root.join("big")).unwrap();
        big.set_len(super::MAX_READ + 1).unwrap();
        fx.err(T, json!({"path": fx.p("big")}), ErrorType::Validation);
    }

    #[test]
    fn paths_out_of_the_root_are_refused() {
        let fx = Fx::new();
        std::fs::write(fx.root.join("in.txt"), "x\n").unwrap();
        for params in [
            json!({"path": fx.p("out_file")}),
            json!({"path": fx.p("out_dir/secret.txt"), "output": fx.p("copy.txt")}),
            json!({"path": fx.p("../outside/secret.txt"), "output": fx.p("copy.txt")}),
            json!({"path": fx.p("in.txt"), "output": fx.p("out_dir/new.txt")}),
            json!({"path": fx.p("in.txt"), "output": fx.p("out_file"), "overwrite": true}),
            json!({"text": "x", "output": fx.outside.join("new.txt").to_string_lossy()}),
        ] {
            fx.err(T, params, ErrorType::Permission);
        }
        fx.outside_untouched();
        assert!(!exists(&fx.root.join("copy.txt")));
    }
}

//! base64_encoder: base64 encoding and decoding, standard or URL-safe alphabet, with or without
//! padding.
//!
//! Decoded bytes that are not UTF-8 are a validation error naming the first bad byte, unless
//! `binary_output` asks for them as hex; `binary_input` encodes bytes given as hex.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, Engine, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// Decoding accepts input with or without padding.
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_DECODE: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_DECODE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "base64_encoder",
        category: "encoding",
        description: "Encodes text (or hex bytes) to base64 and decodes base64 back to text (or \
                      hex bytes), with the standard or URL-safe alphabet, with or without \
                      padding.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["encode", "decode"],
                    "description": "encode (default) or decode."
                },
                "input": {
                    "type": "string",
                    "description": "encode: the text (its UTF-8 bytes); decode: the base64 \
                        (whitespace and line breaks are ignored)."
                },
                "variant": {
                    "type": "string",
                    "enum": ["standard", "url_safe"],
                    "description": "The alphabet: standard (default, + and /) or url_safe \
                        (- and _)."
                },
                "padding": {
                    "type": "boolean",
                    "description": "encode: end with = padding (default true). Decoding \
                        accepts input with or without padding."
                },
                "binary_input": {
                    "type": "boolean",
                    "description": "encode: input is hex digits of the bytes to encode \
                        (default false)."
                },
                "binary_output": {
                    "type": "boolean",
                    "description": "decode: give the decoded bytes as hex (default false: \
                        they must be UTF-8 text, else it is a validation error)."
                }
            },
            "required": ["input"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "Encode text",
                json!({"input": "hello world"}),
                json!({"result": "aGVsbG8gd29ybGQ=", "bytes": 11}),
            ),
            Example::new(
                "URL-safe without padding",
                json!({"input": "subjects?_d", "variant": "url_safe", "padding": false}),
                json!({"result": "c3ViamVjdHM_X2Q"}),
            ),
            Example::new(
                "Decode to text",
                json!({"operation": "decode", "input": "aGVsbG8gd29ybGQ="}),
                json!({"result": "hello world"}),
            ),
            Example::new(
                "Decode binary data as hex",
                json!({"operation": "decode", "input": "3q2+7w==", "binary_output": true}),
                json!({"result": "deadbeef", "format": "hex", "bytes": 4}),
            ),
            Example::fails(
                "A character outside the alphabet",
                json!({"operation": "decode", "input": "aGVs*G8="}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    let input = p.str("input")?;
    let url_safe = p.str_or("variant", "standard")? == "url_safe";
    if p.str_or("operation", "encode")? == "decode" {
        decode(input, url_safe, p.bool_or("binary_output", false)?)
    } else {
        let bytes = if p.bool_or("binary_input", false)? {
            hex::decode(input.trim()).map_err(|e| {
                ToolError::validation(format!("parameter \"input\" is not hex: {e}"))
            })?
        } else {
            input.as_bytes().to_vec()
        };
        let engine = match (url_safe, p.bool_or("padding", true)?) {
            (false, true) => &base64::engine::general_purpose::STANDARD,
            (false, false) => &base64::engine::general_purpose::STANDARD_NO_PAD,
            (true, true) => &base64::engine::general_purpose::URL_SAFE,
            (true, false) => &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        };
        Ok(json!({"result": engine.encode(&bytes), "bytes": bytes.len()}))
    }
}

fn decode(input: &str, url_safe: bool, binary_output: bool) -> Result<Value, ToolError> {
    // Whitespace is dropped; `positions` maps each kept byte back to its place in the input.
    let mut compact = Vec::with_capacity(input.len());
    let mut positions = Vec::with_capacity(input.len());
    for (i, c) in input.char_indices() {
        if !c.is_whitespace() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                compact.push(b);
                positions.push(i);
            }
        }
    }
    let engine = if url_safe { &URL_SAFE_DECODE } else { &STANDARD_DECODE };
    let bytes = engine.decode(&compact).map_err(|e| {
        let at = |offset: usize| {
            let byte = positions.get(offset).copied().unwrap_or(input.len());
            input.get(..byte).map_or(byte, |before| before.chars().count())
        };
        let character =
            |offset: usize| input[positions.get(offset).copied().unwrap_or(0)..].chars().next();
        let message = match e {
            base64::DecodeError::InvalidByte(offset, _) => {
                let c = character(offset).unwrap_or('?');
                let hint = match (c, url_safe) {
                    ('-' | '_', false) => " (it belongs to the url_safe variant)",
                    ('+' | '/', true) => " (it belongs to the standard variant)",
                    ('=', _) => " (padding may only end the input)",
                    _ => "",
                };
                format!("invalid character {c:?} at position {}{hint}", at(offset))
            }
            base64::DecodeError::InvalidLength(n) => format!(
                "invalid length: {n} base64 characters leave a lone character in the last \
                 group of 4 (truncated input?)"
            ),
            base64::DecodeError::InvalidLastSymbol(offset, _) => format!(
                "the last character {:?} at position {} has bits that should be zero \
                 (truncated or corrupted input?)",
                character(offset).unwrap_or('?'),
                at(offset)
            ),
            base64::DecodeError::InvalidPadding => "invalid padding".to_string(),
        };
        ToolError::validation(format!("parameter \"input\" is not valid base64: {message}"))
    })?;
    let n = bytes.len();
    if binary_output {
        return Ok(json!({"result": hex::encode(&bytes), "format": "hex", "bytes": n}));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(json!({"result": text, "format": "text", "bytes": n})),
        Err(e) => Err(ToolError::validation(format!(
            "the decoded {n} bytes are not UTF-8 text (byte {} is not); set binary_output to \
             get them as hex",
            e.utf8_error().valid_up_to()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn b(params: Value) -> Value {
        ok(&registry(), "base64_encoder", params)
    }

    #[test]
    fn encode_variants_and_padding() {
        assert_eq!(b(json!({"input": ""}))["result"], "");
        assert_eq!(b(json!({"input": "f"}))["result"], "Zg==");
        assert_eq!(b(json!({"input": "fo", "padding": false}))["result"], "Zm8");
        assert_eq!(b(json!({"input": "foobar"})), json!({"result": "Zm9vYmFy", "bytes": 6}));
        assert_eq!(b(json!({"input": "héllo"}))["result"], "aMOpbGxv");
        let bin = json!({"input": "fbff", "binary_input": true});
        assert_eq!(b(bin)["result"], "+/8=");
        let bin = json!({"input": "FBFF", "binary_input": true, "variant": "url_safe"});
        assert_eq!(b(bin)["result"], "-_8=");
        let bin = json!({"input": "fbff", "binary_input": true, "variant": "url_safe",
                         "padding": false});
        assert_eq!(b(bin)["result"], "-_8");
    }

    #[test]
    fn decode_round_trips() {
        let d = |input: &str, extra: Value| {
            let mut params = json!({"operation": "decode", "input": input});
            for (k, v) in extra.as_object().unwrap() {
                params[k] = v.clone();
            }
            b(params)
        };
        assert_eq!(
            d("Zm9vYmFy", json!({})),
            json!({"result": "foobar", "format": "text",
                                                    "bytes": 6})
        );
        assert_eq!(d("Zm8", json!({}))["result"], "fo", "padding is optional");
        assert_eq!(d("Zm8=", json!({}))["result"], "fo");
        assert_eq!(d("Zm9v\nYmFy\r\n", json!({}))["result"], "foobar", "line breaks ignored");
        assert_eq!(
            d("-_8", json!({"variant": "url_safe", "binary_output": true}))["result"],
            "fbff"
        );
        assert_eq!(d("aMOpbGxv", json!({}))["result"], "héllo");
        assert_eq!(d("", json!({}))["result"], "");
        for text in ["", "a", "ab", "abc", "abcd", "ünï ☃ 😀", "with\nnewline"] {
            for variant in ["standard", "url_safe"] {
                for padding in [true, false] {
                    let enc = b(json!({"input": text, "variant": variant, "padding": padding}));
                    let dec = d(enc["result"].as_str().unwrap(), json!({"variant": variant}));
                    assert_eq!(dec["result"], text);
                }
            }
        }
    }

    #[test]
    fn decode_errors_name_the_position() {
        let r = registry();
        let f = |input: &str, extra: Value, needles: &[&str]| {
            let mut params = json!({"operation": "decode", "input": input});
            for (k, v) in extra.as_object().unwrap() {
                params[k] = v.clone();
            }
            fails(&r, "base64_encoder", params, ErrorType::Validation, needles)
        };
        f("aGVs*G8=", json!({}), &["invalid character '*' at position 4"]);
        // the position counts the original input, whitespace included
        f("aG Vs\n*G8=", json!({}), &["'*' at position 6"]);
        f("ab-_", json!({}), &["'-' at position 2", "url_safe"]);
        f("ab+/", json!({"variant": "url_safe"}), &["'+' at position 2", "standard"]);
        f("Zg==Zg==", json!({}), &["'=' at position 2", "padding"]);
        f("Zm9vY", json!({}), &["invalid length"]);
        f("Zh==", json!({}), &["last character 'h' at position 1"]);
        f("/w==", json!({}), &["not UTF-8", "byte 0", "binary_output"]);
        f("aGk//w==", json!({}), &["not UTF-8", "byte 3"]);
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "base64_encoder", params, ErrorType::Validation, needles)
        };
        f(json!({}), &["input", "required"]);
        f(json!({"input": "a", "variant": "mime"}), &["/variant", "enum"]);
        f(json!({"input": "xyz", "binary_input": true}), &["\"input\" is not hex"]);
        f(json!({"input": "a", "operation": "rot13"}), &["/operation", "enum"]);
    }
}

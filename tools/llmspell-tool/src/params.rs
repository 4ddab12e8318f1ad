//! The parameter object of `invoke`, from `--params JSON`, `-p KEY=VALUE` and standard input.
//!
//! `--params` gives a JSON object; each `-p` then sets one key on it (a dotted key sets a key of
//! a nested object, creating it). A `-p` value is JSON when it parses as JSON (`-p n=3`,
//! `-p flags=[1,2]`, `-p ok=true`), else the text itself (`-p input=hello`), so a string that
//! looks like JSON needs quoting: `-p 'id="42"'`. With neither, a JSON object is read from
//! standard input when it is not a terminal; empty input means `{}`.
//!
//! Malformed JSON is exit 65 naming where it is (`--params` or standard input) and the line and
//! column; a malformed `-p` (no `=`, an empty key part) is a usage error (64).

use std::io::Read;

use llmspell_common::ExitCode;
use serde_json::{Map, Value};

use crate::Failure;

/// Builds the parameters; `stdin` is read only when neither `--params` nor `-p` is given.
pub fn build(
    params: Option<&str>,
    pairs: &[String],
    stdin: Option<&mut dyn Read>,
) -> Result<Value, Failure> {
    let mut object = match (params, stdin) {
        (Some(text), _) => object(text, "--params")?,
        (None, Some(input)) if pairs.is_empty() => {
            let mut text = String::new();
            input.read_to_string(&mut text).map_err(|e| {
                Failure::new(ExitCode::IoErr, format!("cannot read standard input: {e}"))
            })?;
            if text.trim().is_empty() { Map::new() } else { object(&text, "standard input")? }
        }
        _ => Map::new(),
    };
    for pair in pairs {
        set(&mut object, pair)?;
    }
    Ok(Value::Object(object))
}

fn object(text: &str, source: &str) -> Result<Map<String, Value>, Failure> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(Failure::new(
            ExitCode::DataErr,
            format!("{source}: the parameters must be a JSON object, not {}", kind(&other)),
        )),
        Err(e) => Err(Failure::new(ExitCode::DataErr, format!("{source}: invalid JSON: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Applies one `-p KEY=VALUE`.
fn set(object: &mut Map<String, Value>, pair: &str) -> Result<(), Failure> {
    let usage = |why: &str| Failure::new(ExitCode::Usage, format!("-p {pair:?}: {why}"));
    let (key, text) = pair.split_once('=').ok_or_else(|| usage("expected KEY=VALUE"))?;
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(usage("the key has an empty part"));
    }
    let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    let (last, path) = parts.split_last().expect("split yields at least one part");
    let mut at = object;
    for (i, part) in path.iter().enumerate() {
        let slot = at.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        at = slot.as_object_mut().ok_or_else(|| {
            usage(&format!(
                "{} is already set to a value that is not an object",
                parts[..=i].join(".")
            ))
        })?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pairs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn values_are_json_when_they_parse_else_strings() {
        let got = build(
            None,
            &pairs(&["n=3", "s=hello", "b=true", "l=[1,\"x\"]", "q=\"42\"", "e=", "eq=a=b"]),
            None,
        )
        .unwrap();
        assert_eq!(
            got,
            json!({"n": 3, "s": "hello", "b": true, "l": [1, "x"], "q": "42", "e": "", "eq": "a=b"})
        );
    }

    #[test]
    fn dotted_keys_nest_and_pairs_win_over_params() {
        let got =
            build(Some(r#"{"a": {"x": 1}, "k": 1}"#), &pairs(&["a.b.c=2", "k=5"]), None).unwrap();
        assert_eq!(got, json!({"a": {"x": 1, "b": {"c": 2}}, "k": 5}));
        let e = build(None, &pairs(&["a=1", "a.b=2"]), None).unwrap_err();
        assert_eq!(e.code, ExitCode::Usage);
        assert!(e.message.contains("a is already set"), "{e}");
        for bad in ["noequals", ".a=1", "a..b=1", "=1"] {
            assert_eq!(build(None, &pairs(&[bad]), None).unwrap_err().code, ExitCode::Usage);
        }
    }

    #[test]
    fn stdin_is_read_only_without_flags_and_bad_json_is_65_naming_where() {
        let mut input = &b"{\"x\": 1}"[..];
        assert_eq!(build(None, &[], Some(&mut input)).unwrap(), json!({"x": 1}));
        let mut input = &b"{\"x\": 1}"[..];
        assert_eq!(build(None, &pairs(&["y=2"]), Some(&mut input)).unwrap(), json!({"y": 2}));
        let mut empty = &b" \n"[..];
        assert_eq!(build(None, &[], Some(&mut empty)).unwrap(), json!({}));
        let mut bad = &b"{\"x\": \n oops}"[..];
        let e = build(None, &[], Some(&mut bad)).unwrap_err();
        assert_eq!(e.code, ExitCode::DataErr);
        assert!(
            e.message.starts_with("standard input: invalid JSON") && e.message.contains("line 2")
        );
        let e = build(Some("[1]"), &[], None).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (ExitCode::DataErr, "--params: the parameters must be a JSON object, not an array")
        );
    }
}

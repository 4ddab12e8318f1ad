//! `info` on a terminal: a tool described for people, from the `tool` object of its reply
//! (name, category, description, the JSON Schema of its parameters, examples).
//!
//! Each parameter gets one line of facts (type, required or not, allowed values, default,
//! bounds) and its description below; a schema this cannot summarize (no `properties`) is shown
//! as JSON. The tool object is only read, never trusted: a missing field shows as `-`.

use serde_json::Value;

/// The widest line of wrapped text.
const WIDTH: usize = 80;

/// The readable description of one `tool` object.
pub fn describe(tool: &Value) -> String {
    let text = |key: &str| tool[key].as_str().unwrap_or("-");
    let mut out = format!("{} ({})\n", text("name"), text("category"));
    out.push_str(&wrap(text("description"), 2));
    out.push_str("\nParameters:\n");
    out.push_str(&parameters(&tool["parameters"]));
    let examples = tool["examples"].as_array().map_or(&[][..], Vec::as_slice);
    if !examples.is_empty() {
        out.push_str("\nExamples:\n");
        for ex in examples {
            out.push_str(&format!("  {}\n", ex["description"].as_str().unwrap_or("-")));
            out.push_str(&format!("    params: {}\n", ex["params"]));
            let expect = &ex["expect"];
            let want = match (&expect["result"], &expect["satisfies"], &expect["error_type"]) {
                (Value::Null, Value::String(what), _) => what.clone(),
                (Value::Null, _, Value::String(kind)) => format!("a {kind} error"),
                (result, _, _) => format!("result has {result}"),
            };
            out.push_str(&format!("    expect: {want}\n"));
        }
    }
    out
}

fn parameters(schema: &Value) -> String {
    let Some(props) = schema["properties"].as_object() else {
        return format!("  {schema}\n");
    };
    if props.is_empty() {
        return "  (none)\n".to_owned();
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map_or(Vec::new(), |r| r.iter().filter_map(Value::as_str).collect());
    let width = props.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    for (name, prop) in props {
        let mut facts = vec![type_name(prop)];
        facts.push(if required.contains(&name.as_str()) { "required" } else { "optional" }.into());
        if let Some(values) = prop["enum"].as_array() {
            let values: Vec<String> = values.iter().map(short).collect();
            facts.push(format!("one of {}", values.join(", ")));
        }
        for (key, label) in [
            ("default", "default"),
            ("minimum", "min"),
            ("maximum", "max"),
            ("minLength", "min length"),
            ("maxLength", "max length"),
            ("pattern", "pattern"),
        ] {
            if !prop[key].is_null() {
                facts.push(format!("{label} {}", prop[key]));
            }
        }
        out.push_str(&format!("  {name:<width$}  {}\n", facts.join(", ")));
        if let Some(description) = prop["description"].as_str() {
            out.push_str(&wrap(description, width + 4));
        }
    }
    out
}

/// `text` indented by `indent` spaces, its words wrapped to lines of at most [`WIDTH`] columns
/// (a longer word gets a line of its own); nothing for empty text.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&format!("{:indent$}{line}\n", ""));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{:indent$}{line}\n", ""));
    }
    out
}

/// `string`, `integer|null`, `array of string`, `any`.
fn type_name(prop: &Value) -> String {
    let base = match &prop["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts.iter().map(short).collect::<Vec<_>>().join("|"),
        _ => {
            let alternatives = prop["oneOf"].as_array().or(prop["anyOf"].as_array());
            match alternatives {
                Some(alts) => alts.iter().map(type_name).collect::<Vec<_>>().join("|"),
                None if prop["enum"].is_array() => "enum".to_owned(),
                None => "any".to_owned(),
            }
        }
    };
    match &prop["items"] {
        Value::Object(_) if base == "array" => format!("array of {}", type_name(&prop["items"])),
        _ => base,
    }
}

/// A string without quotes, anything else as JSON.
fn short(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parameters_and_examples_read_well() {
        let tool = json!({
            "name": "hash_calculator",
            "category": "text",
            "description": "Hashes text",
            "parameters": {
                "type": "object",
                "properties": {
                    "input": {"type": "string", "description": "The text"},
                    "algorithm": {"type": "string", "enum": ["md5", "sha256"], "default": "sha256"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "n": {"type": ["integer", "null"], "minimum": 1}
                },
                "required": ["input"]
            },
            "examples": [
                {"description": "hash hello", "params": {"input": "hello"}, "expect": {"result": {"hash": "x"}}},
                {"description": "no input", "params": {}, "expect": {"error_type": "validation"}},
                {"description": "a uuid", "params": {}, "expect": {"satisfies": "a v4 uuid"}}
            ]
        });
        let text = describe(&tool);
        for want in [
            "hash_calculator (text)\n  Hashes text\n",
            "  input      string, required\n             The text\n",
            "  algorithm  string, optional, one of md5, sha256, default \"sha256\"\n",
            "  tags       array of string, optional\n",
            "  n          integer|null, optional, min 1\n",
            "  hash hello\n    params: {\"input\":\"hello\"}\n    expect: result has {\"hash\":\"x\"}\n",
            "    expect: a validation error\n",
            "    expect: a v4 uuid\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn long_descriptions_wrap_under_their_indent() {
        let text = wrap(&"word ".repeat(40), 4);
        assert!(text.lines().count() > 1);
        assert!(text.lines().all(|l| l.starts_with("    word") && l.len() <= WIDTH), "{text}");
        assert_eq!(wrap("", 2), "");
        let long = "x".repeat(100);
        assert_eq!(wrap(&format!("a {long} b"), 0), format!("a\n{long}\nb\n"));
    }

    #[test]
    fn odd_schemas_and_missing_fields_do_not_panic() {
        let text = describe(&json!({"parameters": {"type": "object"}}));
        assert!(text.starts_with("- (-)\n"), "{text}");
        assert!(text.contains("{\"type\":\"object\"}"));
        assert!(describe(&json!(null)).contains("Parameters:"));
        let none = describe(&json!({"parameters": {"type": "object", "properties": {}}}));
        assert!(none.contains("(none)"));
    }
}

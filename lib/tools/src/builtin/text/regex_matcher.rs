//! regex_matcher: whether a regular expression matches, every match with its groups, replacing
//! and splitting, with the `regex` crate's syntax (linear time: no backreferences or
//! look-around).

use serde_json::{Map, Value, json};

use super::{RegexFlags, compile_regex};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const DEFAULT_MAX: u64 = 1000;
const MAX_MAX: u64 = 100_000;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "regex_matcher",
        category: "text",
        description: "Applies a regular expression to text: match (does it match), find_all \
                      (every match with its position and capture groups, named too), replace \
                      (with $1 or ${name} references) or split; flags for case-insensitive, \
                      multiline and dot-matches-newline.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["match", "find_all", "replace", "split"],
                    "description": "find_all (default), match, replace or split."
                },
                "pattern": {
                    "type": "string",
                    "description": "The regular expression (Rust regex syntax: Perl-like \
                        classes, (?P<name>...) or (?<name>...) groups, inline flags like (?i); \
                        no backreferences or look-around)."
                },
                "text": {"type": "string", "description": "The text to search."},
                "replacement": {
                    "type": "string",
                    "description": "replace: the replacement; $1 or ${1} insert a group by \
                        number, ${name} by name, $$ a dollar sign (required for replace)."
                },
                "case_insensitive": {
                    "type": "boolean",
                    "description": "Letters match either case (default false)."
                },
                "multiline": {
                    "type": "boolean",
                    "description": "^ and $ match at every line start and end (default false)."
                },
                "dot_matches_newline": {
                    "type": "boolean",
                    "description": ". matches a newline too (default false)."
                },
                "max_matches": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_MAX,
                    "description": "find_all: list at most this many matches (default 1000; \
                        truncated says when there were more); replace: replace only the first \
                        this many (default all); split: split at most this many times (default \
                        all)."
                }
            },
            "required": ["pattern", "text"],
            "allOf": [{
                "if": {"properties": {"operation": {"const": "replace"}},
                       "required": ["operation"]},
                "then": {"required": ["replacement"]}
            }],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "Every match with named groups",
                json!({"pattern": "(?P<key>\\w+)=(?P<value>\\d+)", "text": "a=1, b=22"}),
                json!({"count": 2, "truncated": false, "matches": [
                    {"match": "a=1", "start": 0, "end": 3, "groups": ["a", "1"],
                     "named": {"key": "a", "value": "1"}},
                    {"match": "b=22", "start": 5, "end": 9, "groups": ["b", "22"],
                     "named": {"key": "b", "value": "22"}}
                ]}),
            ),
            Example::new(
                "Does it match, ignoring case",
                json!({"operation": "match", "pattern": "^hello", "text": "HELLO world",
                       "case_insensitive": true}),
                json!({"matched": true}),
            ),
            Example::new(
                "Replace with group references",
                json!({"operation": "replace", "pattern": "(\\w+)@(\\w+)\\.com",
                       "text": "mail bob@example.com", "replacement": "$2:$1"}),
                json!({"result": "mail example:bob", "replacements": 1}),
            ),
            Example::new(
                "Split on commas with spaces",
                json!({"operation": "split", "pattern": "\\s*,\\s*", "text": "a , b,c"}),
                json!({"result": ["a", "b", "c"], "count": 3}),
            ),
            Example::fails(
                "An invalid pattern",
                json!({"pattern": "(unclosed", "text": "x"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let flags = RegexFlags {
        case_insensitive: p.bool_or("case_insensitive", false)?,
        multiline: p.bool_or("multiline", false)?,
        dot_matches_newline: p.bool_or("dot_matches_newline", false)?,
    };
    let re = compile_regex(p.str("pattern")?, "pattern", flags)?;
    let text = p.str("text")?;
    let max = p.opt_u64("max_matches")?.map(|m| usize::try_from(m).unwrap_or(usize::MAX));
    match p.str_or("operation", "find_all")? {
        "match" => {
            let first = re.captures(text).map(|c| capture_json(&re, &c));
            Ok(json!({"matched": first.is_some(), "match": first}))
        }
        "replace" => {
            let replacement = p.str("replacement")?;
            let limit = max.unwrap_or(usize::MAX);
            let replacements = re.find_iter(text).take(limit).count();
            let result = re.replacen(text, max.unwrap_or(0), replacement);
            Ok(json!({"result": result, "replacements": replacements}))
        }
        "split" => {
            let parts: Vec<&str> = match max {
                Some(m) => re.splitn(text, m.saturating_add(1)).collect(),
                None => re.split(text).collect(),
            };
            Ok(json!({"count": parts.len(), "result": parts}))
        }
        _ => {
            let limit = max.unwrap_or(DEFAULT_MAX as usize);
            let mut matches = Vec::new();
            let mut truncated = false;
            for c in re.captures_iter(text) {
                if matches.len() == limit {
                    truncated = true;
                    break;
                }
                if matches.len() % 1024 == 0 {
                    cx.check()?;
                }
                matches.push(capture_json(&re, &c));
            }
            Ok(json!({"count": matches.len(), "truncated": truncated, "matches": matches}))
        }
    }
}

/// A match: its text, byte offsets, the numbered groups (null when a group took no part) and
/// the named ones.
fn capture_json(re: &regex::Regex, c: &regex::Captures) -> Value {
    let whole = c.get(0).map_or((0, 0, ""), |m| (m.start(), m.end(), m.as_str()));
    let groups: Vec<Value> =
        c.iter().skip(1).map(|g| g.map_or(Value::Null, |m| json!(m.as_str()))).collect();
    let mut out = json!({"match": whole.2, "start": whole.0, "end": whole.1, "groups": groups});
    let named: Map<String, Value> = re
        .capture_names()
        .flatten()
        .map(|name| (name.to_string(), c.name(name).map_or(Value::Null, |m| json!(m.as_str()))))
        .collect();
    if !named.is_empty() {
        out["named"] = Value::Object(named);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn rx(params: Value) -> Value {
        ok(&registry(), "regex_matcher", params)
    }

    #[test]
    fn matching() {
        let v = rx(json!({"operation": "match", "pattern": "\\d+", "text": "abc 123 45"}));
        assert_eq!(
            v,
            json!({"matched": true, "match": {"match": "123", "start": 4, "end": 7,
                                                         "groups": []}})
        );
        let v = rx(json!({"operation": "match", "pattern": "\\d+", "text": "none"}));
        assert_eq!(v, json!({"matched": false, "match": null}));
        let v = rx(json!({"operation": "match", "pattern": "^b$", "text": "a\nb\nc"}));
        assert_eq!(v["matched"], false);
        let v = rx(json!({"operation": "match", "pattern": "^b$", "text": "a\nb\nc",
                          "multiline": true}));
        assert_eq!(v["matched"], true);
        let v = rx(json!({"operation": "match", "pattern": "a.b", "text": "a\nb"}));
        assert_eq!(v["matched"], false);
        let v = rx(json!({"operation": "match", "pattern": "a.b", "text": "a\nb",
                          "dot_matches_newline": true}));
        assert_eq!(v["matched"], true);
        let v = rx(json!({"operation": "match", "pattern": "ÉTÉ", "text": "un été",
                          "case_insensitive": true}));
        assert_eq!(v["match"]["match"], "été");
        assert_eq!(v["match"]["start"], 3, "byte offsets");
    }

    #[test]
    fn find_all_with_groups() {
        let v = rx(json!({"pattern": "(\\w)(\\d)?", "text": "a1 b"}));
        assert_eq!(
            v["matches"],
            json!([
                {"match": "a1", "start": 0, "end": 2, "groups": ["a", "1"]},
                {"match": "b", "start": 3, "end": 4, "groups": ["b", null]},
            ])
        );
        let v = rx(json!({"pattern": "(?<y>\\d{4})-(?<m>\\d{2})", "text": "2024-05 and 1999-12"}));
        assert_eq!(v["count"], 2);
        assert_eq!(v["matches"][1]["named"], json!({"y": "1999", "m": "12"}));
        let v = rx(json!({"pattern": "x", "text": "abc"}));
        assert_eq!(v, json!({"count": 0, "truncated": false, "matches": []}));
        let v = rx(json!({"pattern": "\\d", "text": "1 2 3 4 5", "max_matches": 3}));
        assert_eq!(v["count"], 3);
        assert_eq!(v["truncated"], true);
        let v = rx(json!({"pattern": "\\d", "text": "1 2 3", "max_matches": 3}));
        assert_eq!(v["truncated"], false);
        let many = "a".repeat(5000);
        let v = rx(json!({"pattern": "a", "text": many}));
        assert_eq!(v["count"], 1000, "the default cap");
        assert_eq!(v["truncated"], true);
    }

    #[test]
    fn replacing() {
        let v = rx(json!({"operation": "replace", "pattern": "(?P<first>\\w+) (?P<last>\\w+)",
                          "text": "John Smith", "replacement": "${last}, $first"}));
        assert_eq!(v, json!({"result": "Smith, John", "replacements": 1}));
        let v = rx(json!({"operation": "replace", "pattern": "o", "text": "foo boo",
                          "replacement": "0", "max_matches": 3}));
        assert_eq!(v, json!({"result": "f00 b0o", "replacements": 3}));
        let v = rx(json!({"operation": "replace", "pattern": "\\s+", "text": "a  b \t c",
                          "replacement": " "}));
        assert_eq!(v["result"], "a b c");
        let v = rx(json!({"operation": "replace", "pattern": "HELLO", "text": "hello",
                          "replacement": "$$1", "case_insensitive": true}));
        assert_eq!(v["result"], "$1");
        fails(
            &registry(),
            "regex_matcher",
            json!({"operation": "replace", "pattern": "a", "text": "a"}),
            ErrorType::Validation,
            &["replacement", "required"],
        );
    }

    #[test]
    fn splitting() {
        let v = rx(json!({"operation": "split", "pattern": "[,;]", "text": "a,b;c,,d"}));
        assert_eq!(v, json!({"result": ["a", "b", "c", "", "d"], "count": 5}));
        let v = rx(json!({"operation": "split", "pattern": ",", "text": "a,b,c,d",
                          "max_matches": 2}));
        assert_eq!(v["result"], json!(["a", "b", "c,d"]));
        let v = rx(json!({"operation": "split", "pattern": ",", "text": "abc"}));
        assert_eq!(v["result"], json!(["abc"]));
    }

    #[test]
    fn bad_patterns_and_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "regex_matcher", params, ErrorType::Validation, needles)
        };
        f(
            json!({"pattern": "(unclosed", "text": "x"}),
            &["\"pattern\"", "unclosed group at position 0"],
        );
        f(json!({"pattern": "ab[", "text": "x"}), &["\"pattern\"", "unclosed character class"]);
        f(json!({"pattern": "ab(?z)", "text": "x"}), &["\"pattern\"", "flag", "position 4"]);
        f(
            json!({"pattern": "*a", "text": "x"}),
            &["repetition operator missing expression at position 0"],
        );
        f(json!({"pattern": "(?<n>a)(?<n>b)", "text": "x"}), &["duplicate capture group name"]);
        f(json!({"pattern": "(a)\\1", "text": "x"}), &["backreferences are not supported"]);
        f(json!({"pattern": "a"}), &["text", "required"]);
        f(json!({"text": "a"}), &["pattern", "required"]);
        f(json!({"pattern": "a", "text": "a", "max_matches": 0}), &["/max_matches", "minimum"]);
        f(json!({"pattern": "a", "text": "a", "operation": "grep"}), &["/operation", "enum"]);
    }
}

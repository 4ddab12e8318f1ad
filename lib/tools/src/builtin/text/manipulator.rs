//! text_manipulator: case changes, trimming, replacing, splitting, joining, wrapping, slugs,
//! reversing and truncating text.

use heck::{
    ToKebabCase, ToLowerCamelCase, ToShoutySnakeCase, ToSnakeCase, ToTrainCase, ToUpperCamelCase,
};
use serde_json::{Value, json};
use unicode_segmentation::UnicodeSegmentation;

use super::{RegexFlags, compile_regex};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const OPERATIONS: [&str; 20] = [
    "upper",
    "lower",
    "title",
    "capitalize",
    "snake_case",
    "camel_case",
    "pascal_case",
    "kebab_case",
    "constant_case",
    "train_case",
    "trim",
    "trim_start",
    "trim_end",
    "replace",
    "split",
    "join",
    "wrap",
    "slug",
    "reverse",
    "truncate",
];

/// Most parts `split` returns.
const MAX_PARTS: u64 = 1_000_000;

fn needs(operation: &str, required: &[&str]) -> Value {
    json!({
        "if": {"properties": {"operation": {"const": operation}}, "required": ["operation"]},
        "then": {"required": required}
    })
}

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "text_manipulator",
        category: "text",
        description: "Transforms text: upper, lower, title, capitalize, snake_case, camel_case, \
                      pascal_case, kebab_case, constant_case, train_case, trim, trim_start, \
                      trim_end, replace (literal or regex), split, join, wrap, slug, reverse and \
                      truncate.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": OPERATIONS,
                    "description": "What to do (required). title capitalizes every word \
                        (first letter upper, the rest lower) keeping spacing and punctuation; \
                        capitalize does it for the first letter of the text only; the *_case \
                        operations turn text into identifiers (words split at spaces, \
                        punctuation and case changes); reverse and truncate count user-visible \
                        characters (grapheme clusters)."
                },
                "text": {
                    "type": "string",
                    "description": "The input text (every operation but join)."
                },
                "items": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "join: the strings to join."
                },
                "separator": {
                    "type": "string",
                    "description": "split: the separator (default: runs of whitespace, and \
                        empty parts are dropped); join: put between items (default \"\")."
                },
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PARTS,
                    "description": "split: at most this many parts (the last holds the rest)."
                },
                "from": {
                    "type": "string",
                    "minLength": 1,
                    "description": "replace: the text to find, or a regular expression when \
                        regex is true."
                },
                "to": {
                    "type": "string",
                    "description": "replace: the replacement (default \"\"); with regex, $1 or \
                        ${name} insert groups and $$ is a dollar sign."
                },
                "regex": {
                    "type": "boolean",
                    "description": "replace: from is a regular expression (default false)."
                },
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "replace: replace only the first count matches (default \
                        all)."
                },
                "chars": {
                    "type": "string",
                    "minLength": 1,
                    "description": "trim, trim_start, trim_end: remove these characters \
                        instead of whitespace."
                },
                "width": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 100000,
                    "description": "wrap: the maximum line width in columns (default 80); \
                        words longer than that are broken."
                },
                "length": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "truncate: the maximum length of the result in characters, \
                        ellipsis included (required)."
                },
                "ellipsis": {
                    "type": "string",
                    "description": "truncate: appended when text was cut (default \"...\")."
                },
                "word_boundary": {
                    "type": "boolean",
                    "description": "truncate: cut at the last whitespace before the limit \
                        rather than inside a word, when there is one (default false)."
                }
            },
            "required": ["operation"],
            "allOf": [
                {
                    "if": {"properties": {"operation": {"const": "join"}},
                           "required": ["operation"]},
                    "then": {"required": ["items"]},
                    "else": {"required": ["text"]}
                },
                needs("replace", &["from"]),
                needs("truncate", &["length"])
            ],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "An identifier in snake case",
                json!({"operation": "snake_case", "text": "Hello World Example"}),
                json!({"result": "hello_world_example"}),
            ),
            Example::new(
                "Regex replacement with a group reference",
                json!({"operation": "replace", "text": "2024-05-01", "regex": true,
                       "from": "(\\d+)-(\\d+)-(\\d+)", "to": "$3/$2/$1"}),
                json!({"result": "01/05/2024", "replacements": 1}),
            ),
            Example::new(
                "Split on a separator",
                json!({"operation": "split", "text": "a,b,,c", "separator": ","}),
                json!({"result": ["a", "b", "", "c"], "count": 4}),
            ),
            Example::new(
                "A URL slug",
                json!({"operation": "slug", "text": "Héllo, Wörld! 2024"}),
                json!({"result": "hello-world-2024"}),
            ),
            Example::new(
                "Truncate at a word boundary",
                json!({"operation": "truncate", "text": "The quick brown fox", "length": 14,
                       "word_boundary": true}),
                json!({"result": "The quick...", "truncated": true}),
            ),
            Example::fails(
                "join needs items",
                json!({"operation": "join", "text": "a b"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let operation = p.str("operation")?;
    if operation == "join" {
        let items = p.opt_strings("items")?.ok_or_else(|| missing("items", operation))?;
        return Ok(json!({"result": items.join(p.str_or("separator", "")?)}));
    }
    let text = p.opt_str("text")?.ok_or_else(|| missing("text", operation))?;
    let result = match operation {
        "upper" => json!(text.to_uppercase()),
        "lower" => json!(text.to_lowercase()),
        "title" => json!(title(text)),
        "capitalize" => json!(capitalize(text)),
        "snake_case" => json!(text.to_snake_case()),
        "camel_case" => json!(text.to_lower_camel_case()),
        "pascal_case" => json!(text.to_upper_camel_case()),
        "kebab_case" => json!(text.to_kebab_case()),
        "constant_case" => json!(text.to_shouty_snake_case()),
        "train_case" => json!(text.to_train_case()),
        "trim" | "trim_start" | "trim_end" => json!(trim(text, operation, p.opt_str("chars")?)),
        "slug" => json!(slug::slugify(text)),
        "reverse" => json!(text.graphemes(true).rev().collect::<String>()),
        "replace" => return replace(p, text),
        "split" => return split(p, text, cx),
        "wrap" => {
            let width = p.u64_or("width", 80)?;
            let width = usize::try_from(width).map_err(|_| too_big("width"))?;
            let lines: Vec<String> =
                textwrap::wrap(text, width).into_iter().map(|l| l.into_owned()).collect();
            return Ok(json!({"result": lines.join("\n"), "lines": lines}));
        }
        "truncate" => return truncate(p, text),
        other => {
            return Err(ToolError::validation(format!(
                "parameter \"operation\": unknown operation {other:?}"
            )));
        }
    };
    Ok(json!({"result": result}))
}

fn missing(param: &str, operation: &str) -> ToolError {
    ToolError::validation(format!("parameter {param:?} is required for operation {operation}"))
}

fn too_big(param: &str) -> ToolError {
    ToolError::validation(format!("parameter {param:?} is too large"))
}

/// Upper-cases the first letter of `word` and lower-cases the rest.
fn capitalize_word(word: &str, out: &mut String) {
    let mut chars = word.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(&chars.as_str().to_lowercase());
    }
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in text.split_word_bounds() {
        if piece.chars().next().is_some_and(char::is_alphanumeric) {
            capitalize_word(piece, &mut out);
        } else {
            out.push_str(piece);
        }
    }
    out
}

fn capitalize(text: &str) -> String {
    let start = text.find(|c: char| !c.is_whitespace()).unwrap_or(text.len());
    let mut out = text[..start].to_string();
    let mut chars = text[start..].chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    out
}

fn trim<'a>(text: &'a str, operation: &str, chars: Option<&str>) -> &'a str {
    let matches = |c: char| chars.map_or(c.is_whitespace(), |set| set.contains(c));
    match operation {
        "trim_start" => text.trim_start_matches(matches),
        "trim_end" => text.trim_end_matches(matches),
        _ => text.trim_matches(matches),
    }
}

fn replace(p: &Params, text: &str) -> Result<Value, ToolError> {
    let from = p.str("from")?;
    let to = p.str_or("to", "")?;
    let count = match p.opt_u64("count")? {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    if p.bool_or("regex", false)? {
        let re = compile_regex(from, "from", RegexFlags::default())?;
        let replacements = re.find_iter(text).take(count).count();
        let limit = if count == usize::MAX { 0 } else { count };
        let result = re.replacen(text, limit, to);
        Ok(json!({"result": result, "replacements": replacements}))
    } else {
        let replacements = text.matches(from).take(count).count();
        Ok(json!({"result": text.replacen(from, to, count), "replacements": replacements}))
    }
}

fn split(p: &Params, text: &str, cx: &Context) -> Result<Value, ToolError> {
    let limit = p.u64_or("limit", MAX_PARTS)?;
    let limit = usize::try_from(limit).map_err(|_| too_big("limit"))?;
    let parts: Vec<&str> = match p.opt_str("separator")? {
        Some("") => {
            return Err(ToolError::validation(
                "parameter \"separator\" is empty; leave it out to split on whitespace",
            ));
        }
        Some(sep) => text.splitn(limit, sep).collect(),
        None => {
            let mut parts = Vec::new();
            let mut rest = text.trim_start();
            while !rest.is_empty() {
                if parts.len() + 1 == limit {
                    parts.push(rest.trim_end());
                    break;
                }
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                parts.push(&rest[..end]);
                rest = rest[end..].trim_start();
                if parts.len() % 4096 == 0 {
                    cx.check()?;
                }
            }
            parts
        }
    };
    if parts.len() as u64 > MAX_PARTS {
        return Err(ToolError::validation(format!(
            "split gives more than {MAX_PARTS} parts; set \"limit\""
        )));
    }
    Ok(json!({"count": parts.len(), "result": parts}))
}

fn truncate(p: &Params, text: &str) -> Result<Value, ToolError> {
    let length =
        usize::try_from(p.opt_u64("length")?.ok_or_else(|| missing("length", "truncate"))?)
            .map_err(|_| too_big("length"))?;
    let ellipsis = p.str_or("ellipsis", "...")?;
    let graphemes: Vec<&str> = text.graphemes(true).collect();
    if graphemes.len() <= length {
        return Ok(json!({"result": text, "truncated": false}));
    }
    let ellipsis_len = ellipsis.graphemes(true).count();
    let (keep, ellipsis) =
        if ellipsis_len <= length { (length - ellipsis_len, ellipsis) } else { (length, "") };
    let mut cut = graphemes[..keep].concat();
    if p.bool_or("word_boundary", false)? {
        let next_is_space = graphemes[keep].chars().all(char::is_whitespace);
        if !next_is_space && let Some(space) = cut.rfind(char::is_whitespace) {
            cut.truncate(space);
        }
        let kept = cut.trim_end().len();
        cut.truncate(kept);
    }
    cut.push_str(ellipsis);
    Ok(json!({"result": cut, "truncated": true}))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn m(params: Value) -> Value {
        ok(&registry(), "text_manipulator", params)
    }

    fn op(operation: &str, text: &str) -> Value {
        m(json!({"operation": operation, "text": text}))["result"].clone()
    }

    #[test]
    fn cases() {
        assert_eq!(op("upper", "straße ok"), json!("STRASSE OK"));
        assert_eq!(op("lower", "ÀB C"), json!("àb c"));
        assert_eq!(
            op("title", "the QUICK brown-fox's tail, isn't it?"),
            json!("The Quick Brown-Fox's Tail, Isn't It?")
        );
        assert_eq!(op("capitalize", "  hello World"), json!("  Hello World"));
        assert_eq!(op("capitalize", ""), json!(""));
        assert_eq!(op("snake_case", "HelloWorld HTTPServer"), json!("hello_world_http_server"));
        assert_eq!(op("camel_case", "hello world-example"), json!("helloWorldExample"));
        assert_eq!(op("pascal_case", "hello world"), json!("HelloWorld"));
        assert_eq!(op("kebab_case", "Hello World_Example"), json!("hello-world-example"));
        assert_eq!(op("constant_case", "max value"), json!("MAX_VALUE"));
        assert_eq!(op("train_case", "content type"), json!("Content-Type"));
    }

    #[test]
    fn trimming() {
        assert_eq!(op("trim", " \t a b \n"), json!("a b"));
        assert_eq!(op("trim_start", "  a  "), json!("a  "));
        assert_eq!(op("trim_end", "  a  "), json!("  a"));
        let v = m(json!({"operation": "trim", "text": "--==a-b==--", "chars": "-="}));
        assert_eq!(v["result"], "a-b");
        let v = m(json!({"operation": "trim_end", "text": "x.,;", "chars": ";,."}));
        assert_eq!(v["result"], "x");
    }

    #[test]
    fn replacing() {
        let v = m(json!({"operation": "replace", "text": "a-b-c-d", "from": "-", "to": "+"}));
        assert_eq!(v, json!({"result": "a+b+c+d", "replacements": 3}));
        let v = m(json!({"operation": "replace", "text": "a-b-c-d", "from": "-", "count": 2}));
        assert_eq!(v, json!({"result": "abc-d", "replacements": 2}));
        let v = m(json!({"operation": "replace", "text": "a.b", "from": ".", "to": "!"}));
        assert_eq!(v["result"], "a!b", "literal by default");
        let v = m(json!({"operation": "replace", "text": "x1 y22 z333", "regex": true,
                         "from": "(?P<l>[a-z])(\\d+)", "to": "${2}${l}"}));
        assert_eq!(v, json!({"result": "1x 22y 333z", "replacements": 3}));
        let v = m(json!({"operation": "replace", "text": "aaa", "regex": true, "from": "a",
                         "to": "$$", "count": 2}));
        assert_eq!(v, json!({"result": "$$a", "replacements": 2}));
        let v = m(json!({"operation": "replace", "text": "none", "from": "x"}));
        assert_eq!(v, json!({"result": "none", "replacements": 0}));
        let r = registry();
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "replace", "text": "x", "regex": true, "from": "(a"}),
            ErrorType::Validation,
            &["\"from\"", "unclosed group", "position 0"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "replace", "text": "x"}),
            ErrorType::Validation,
            &["from", "required"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "replace", "text": "x", "from": "x", "count": 0}),
            ErrorType::Validation,
            &["/count", "minimum"],
        );
    }

    #[test]
    fn splitting_and_joining() {
        let v = m(json!({"operation": "split", "text": "  a  b\tc\n"}));
        assert_eq!(v, json!({"result": ["a", "b", "c"], "count": 3}));
        let v = m(json!({"operation": "split", "text": "  a  b\tc d ", "limit": 2}));
        assert_eq!(v["result"], json!(["a", "b\tc d"]));
        let v = m(json!({"operation": "split", "text": "a::b::c", "separator": "::",
                         "limit": 2}));
        assert_eq!(v["result"], json!(["a", "b::c"]));
        let v = m(json!({"operation": "split", "text": "", "separator": ","}));
        assert_eq!(v["result"], json!([""]));
        let v = m(json!({"operation": "split", "text": "   "}));
        assert_eq!(v["result"], json!([]));
        let v = m(json!({"operation": "join", "items": ["a", "b", "c"], "separator": ", "}));
        assert_eq!(v["result"], "a, b, c");
        let v = m(json!({"operation": "join", "items": []}));
        assert_eq!(v["result"], "");
        let r = registry();
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "split", "text": "a", "separator": ""}),
            ErrorType::Validation,
            &["separator", "empty"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "join", "items": ["a", 1]}),
            ErrorType::Validation,
            &["/items/1"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "join", "text": "a"}),
            ErrorType::Validation,
            &["items", "required"],
        );
    }

    #[test]
    fn wrapping() {
        let v = m(json!({"operation": "wrap", "text": "the quick brown fox jumps", "width": 10}));
        assert_eq!(v["lines"], json!(["the quick", "brown fox", "jumps"]));
        assert_eq!(v["result"], "the quick\nbrown fox\njumps");
        let v = m(json!({"operation": "wrap", "text": "abcdefgh", "width": 3}));
        assert_eq!(v["lines"], json!(["abc", "def", "gh"]));
        let v = m(json!({"operation": "wrap", "text": "one two\nthree", "width": 80}));
        assert_eq!(v["lines"], json!(["one two", "three"]));
        let long = "word ".repeat(40);
        let v = m(json!({"operation": "wrap", "text": long}));
        assert!(v["lines"].as_array().unwrap().iter().all(|l| l.as_str().unwrap().len() <= 80));
        fails(
            &registry(),
            "text_manipulator",
            json!({"operation": "wrap", "text": "a", "width": 0}),
            ErrorType::Validation,
            &["/width", "minimum"],
        );
    }

    #[test]
    fn slug_reverse_truncate() {
        assert_eq!(op("slug", "  Ünïcödé -- Title! "), json!("unicode-title"));
        assert_eq!(op("reverse", "abc"), json!("cba"));
        // grapheme clusters stay whole: e + combining acute, and a flag
        assert_eq!(op("reverse", "ae\u{301}🇫🇷"), json!("🇫🇷e\u{301}a"));
        let t = |params: Value| m(params);
        let v = t(json!({"operation": "truncate", "text": "hello world", "length": 8}));
        assert_eq!(v, json!({"result": "hello...", "truncated": true}));
        let v = t(json!({"operation": "truncate", "text": "hello", "length": 5}));
        assert_eq!(v, json!({"result": "hello", "truncated": false}));
        let v = t(json!({"operation": "truncate", "text": "hello world", "length": 6,
                         "ellipsis": "…"}));
        assert_eq!(v["result"], "hello…");
        let v = t(json!({"operation": "truncate", "text": "hello world", "length": 2}));
        assert_eq!(v["result"], "he", "no room for the ellipsis");
        let v = t(json!({"operation": "truncate", "text": "hello big world", "length": 11,
                         "word_boundary": true, "ellipsis": ""}));
        assert_eq!(v["result"], "hello big");
        let v = t(json!({"operation": "truncate", "text": "hello big world", "length": 9,
                         "word_boundary": true, "ellipsis": ""}));
        assert_eq!(v["result"], "hello big", "the cut falls on a space");
        let v = t(json!({"operation": "truncate", "text": "e\u{301}e\u{301}e\u{301}",
                         "length": 2, "ellipsis": ""}));
        assert_eq!(v["result"], "e\u{301}e\u{301}");
        fails(
            &registry(),
            "text_manipulator",
            json!({"operation": "truncate", "text": "x"}),
            ErrorType::Validation,
            &["length", "required"],
        );
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "upper"}),
            ErrorType::Validation,
            &["text", "required"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "shout", "text": "a"}),
            ErrorType::Validation,
            &["/operation", "enum"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"text": "a"}),
            ErrorType::Validation,
            &["operation", "required"],
        );
        fails(
            &r,
            "text_manipulator",
            json!({"operation": "upper", "text": 3}),
            ErrorType::Validation,
            &["/text", "type"],
        );
    }
}

//! The `text/plain` form of Lua values: execute results, `display(v)`, `eval_expression`,
//! inspection and non-string error values.
//!
//! Guarantees: deterministic for everything except addresses (`function: 0x...`); never calls
//! user code except a `__tostring` metamethod (whose failure is shown, not raised); bounded by
//! [`MAX_DEPTH`] and [`MAX_ENTRIES`]. Rules:
//! - `nil`, `true`, integers (`42`), floats as Lua's `tostring` (`0.5`, `3.0`, `inf`; NaN is `nan`).
//! - strings quoted with `"`, escaping `\ " \n \r \t \0`, other control bytes and invalid UTF-8
//!   as `\xHH`.
//! - tables: the sequence `1..n` first in order, then the other keys sorted (numbers, strings,
//!   booleans, others), `name = v` for identifier keys and `[k] = v` otherwise. On one line
//!   (`{1, 2, x = {y = "z"}}`) when that fits in [`WIDTH`] columns, else one entry per line
//!   with two-space indentation and trailing commas. A table already being rendered on the
//!   current path is `<cycle>`; deeper than [`MAX_DEPTH`] is `{...}`; past [`MAX_ENTRIES`]
//!   entries a final `...` stands for the rest.
//! - a value with a `__tostring` metamethod, functions, threads, userdata: Lua's `tostring`.
//! - `JSON.null` renders as `JSON.null`.

use std::ffi::c_void;

use mlua::{Lua, Table, Value};

/// Tables nested deeper than this render as `{...}`.
pub const MAX_DEPTH: usize = 8;
/// Entries shown per table before `...`.
pub const MAX_ENTRIES: usize = 100;
/// Line width within which a table is kept on one line.
pub const WIDTH: usize = 80;

/// Render one value.
pub(crate) fn render(lua: &Lua, v: &Value) -> String {
    Renderer { lua, path: Vec::new() }.value(v, 0)
}

/// Render several values separated by tabs, as Lua's REPL prints multiple results.
pub(crate) fn render_all<'a>(lua: &Lua, vs: impl IntoIterator<Item = &'a Value>) -> String {
    vs.into_iter().map(|v| render(lua, v)).collect::<Vec<_>>().join("\t")
}

/// Lua's `tostring` for a number.
pub(crate) fn number(lua: &Lua, v: &Value) -> String {
    match v {
        Value::Integer(i) => i.to_string(),
        Value::Number(f) if f.is_nan() => "nan".to_string(),
        Value::Number(f) => match lua.coerce_string(v.clone()) {
            Ok(Some(s)) => s.to_string_lossy(),
            _ => f.to_string(),
        },
        _ => String::new(),
    }
}

/// A string as a double-quoted Lua literal.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written as a bare Lua name (`x = 1` rather than `["x"] = 1`).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !crate::lex::KEYWORDS.contains(&s)
}

struct Renderer<'a> {
    lua: &'a Lua,
    /// Tables on the path from the root to the one being rendered, for cycle detection.
    path: Vec<*const c_void>,
}

impl Renderer<'_> {
    fn value(&mut self, v: &Value, indent: usize) -> String {
        match v {
            Value::Nil => "nil".to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Integer(_) | Value::Number(_) => number(self.lua, v),
            Value::String(s) => quote(&s.as_bytes()),
            Value::LightUserData(p) if p.0.is_null() => "JSON.null".to_string(),
            Value::Table(t) if !has_tostring(t) => self.table(t, indent),
            Value::Error(e) => crate::errors::message(e),
            other => match other.to_string() {
                Ok(s) => s,
                Err(e) => format!("<__tostring error: {}>", crate::errors::message(&e)),
            },
        }
    }

    fn table(&mut self, t: &Table, indent: usize) -> String {
        let ptr = t.to_pointer();
        if self.path.contains(&ptr) {
            return "<cycle>".to_string();
        }
        if self.path.len() >= MAX_DEPTH {
            return "{...}".to_string();
        }
        self.path.push(ptr);
        let items = self.items(t, indent + 2);
        self.path.pop();
        layout(&items, indent)
    }

    /// Each entry rendered as `v`, `name = v` or `[k] = v`, in display order.
    fn items(&mut self, t: &Table, indent: usize) -> Vec<String> {
        let (seq, rest) = entries(t);
        let total = seq.len() + rest.len();
        let mut items = Vec::new();
        for v in seq.iter().take(MAX_ENTRIES) {
            items.push(self.value(v, indent));
        }
        for (k, v) in rest.iter().take(MAX_ENTRIES.saturating_sub(items.len())) {
            let key = match k {
                Value::String(s) if is_identifier(&s.to_string_lossy()) => s.to_string_lossy(),
                other => format!("[{}]", self.value(other, indent)),
            };
            items.push(format!("{key} = {}", self.value(v, indent)));
        }
        if total > items.len() {
            items.push("...".to_string());
        }
        items
    }
}

fn has_tostring(t: &Table) -> bool {
    t.metatable().is_some_and(|mt| mt.raw_get::<Value>("__tostring").is_ok_and(|v| !v.is_nil()))
}

/// One line if it fits and no item spans lines; otherwise one item per line.
fn layout(items: &[String], indent: usize) -> String {
    if items.is_empty() {
        return "{}".to_string();
    }
    let one_line = format!("{{{}}}", items.join(", "));
    if indent + one_line.chars().count() <= WIDTH && !one_line.contains('\n') {
        return one_line;
    }
    let pad = " ".repeat(indent + 2);
    let mut out = String::from("{\n");
    for item in items {
        out.push_str(&format!("{pad}{item},\n"));
    }
    out.push_str(&" ".repeat(indent));
    out.push('}');
    out
}

/// The sequence part `1..n` (raw), and the remaining entries sorted by key.
pub(crate) fn entries(t: &Table) -> (Vec<Value>, Vec<(Value, Value)>) {
    let mut seq = Vec::new();
    while let Ok(v) = t.raw_get::<Value>(seq.len() + 1) {
        if v.is_nil() {
            break;
        }
        seq.push(v);
    }
    let n = seq.len() as i64;
    let mut rest: Vec<(Value, Value)> = t
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .filter(|(k, _)| !matches!(k, Value::Integer(i) if (1..=n).contains(i)))
        .collect();
    rest.sort_by(|a, b| key_order(&a.0, &b.0));
    (seq, rest)
}

/// Numbers (by value), then strings (bytewise), then booleans, then everything else by type.
pub(crate) fn key_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Integer(_) | Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Boolean(_) => 2,
            _ => 3,
        }
    }
    fn num(v: &Value) -> f64 {
        match v {
            Value::Integer(i) => *i as f64,
            Value::Number(f) => *f,
            _ => 0.0,
        }
    }
    rank(a).cmp(&rank(b)).then_with(|| match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.as_bytes().cmp(&y.as_bytes()),
        (Value::Boolean(x), Value::Boolean(y)) => x.cmp(y),
        _ if rank(a) == 0 => num(a).total_cmp(&num(b)),
        _ => a.type_name().cmp(b.type_name()),
    })
}

/// A table key as written in messages: strings quoted, numbers and booleans as Lua shows them.
pub(crate) fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => quote(&s.as_bytes()),
        Value::Integer(i) => i.to_string(),
        Value::Number(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => other.type_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{engine, value};

    fn show(code: &str) -> String {
        let (mut e, _) = engine();
        value(&mut e, code).unwrap_or_else(|| "<none>".into())
    }

    #[test]
    fn scalars() {
        assert_eq!(show("42"), "42");
        assert_eq!(show("0.5"), "0.5");
        assert_eq!(show("3.0"), "3.0");
        assert_eq!(show("1/0"), "inf");
        assert_eq!(show("-1/0"), "-inf");
        assert_eq!(show("0/0"), "nan");
        assert_eq!(show("1e100"), "1e+100");
        assert_eq!(show("true"), "true");
        assert_eq!(show("nil, nil"), "nil\tnil");
        assert_eq!(show("math.maxinteger"), "9223372036854775807");
        assert_eq!(show("'a\\tb', 10 // 3, 10 / 4"), "\"a\\tb\"\t3\t2.5");
    }

    #[test]
    fn strings_are_quoted() {
        assert_eq!(show("'hi'"), "\"hi\"");
        assert_eq!(show(r#"'a"b\\c\n\t\0'"#), r#""a\"b\\c\n\t\0""#);
        assert_eq!(show(r#""\x01\xff""#), r#""\x01\xff""#);
        assert_eq!(show("'héllo'"), "\"héllo\"");
    }

    #[test]
    fn tables_sorted_and_nested() {
        assert_eq!(show("{1, 2, x = {y = 'z'}}"), "{1, 2, x = {y = \"z\"}}");
        assert_eq!(show("{}"), "{}");
        assert_eq!(
            show("{b = 1, a = 2, [10] = 3, [2.5] = 4, ['not id'] = 5, [true] = 6, ['end'] = 7}"),
            "{[2.5] = 4, [10] = 3, a = 2, b = 1, [\"end\"] = 7, [\"not id\"] = 5, [true] = 6}"
        );
        assert_eq!(show("{1, nil, 3}"), "{1, [3] = 3}");
    }

    #[test]
    fn long_tables_break_lines() {
        let out =
            show("{name = string.rep('a', 40), list = {1, 2, 3}, more = string.rep('b', 30)}");
        let expected = format!(
            "{{\n  list = {{1, 2, 3}},\n  more = \"{}\",\n  name = \"{}\",\n}}",
            "b".repeat(30),
            "a".repeat(40)
        );
        assert_eq!(out, expected);
        let nested = show("{outer = {string.rep('x', 50), string.rep('y', 30)}}");
        let expected = format!(
            "{{\n  outer = {{\n    \"{}\",\n    \"{}\",\n  }},\n}}",
            "x".repeat(50),
            "y".repeat(30)
        );
        assert_eq!(nested, expected);
    }

    #[test]
    fn cycles_depth_and_size_limits() {
        assert_eq!(show("local t = {1}; t.self = t; return t"), "{1, self = <cycle>}");
        assert_eq!(show("local t = {} ; return {t, t}"), "{{}, {}}");
        let deep = show("local t = {} for i = 1, 20 do t = {t} end return t");
        assert!(deep.contains("{...}") && !deep.contains("{{{{{{{{{{"), "{deep}");
        let big = show("local t = {} for i = 1, 150 do t[i] = i end return t");
        assert!(big.contains("100,\n  ...,\n}"), "{big}");
        assert!(!big.contains("101"));
    }

    #[test]
    fn tostring_metamethods_and_functions() {
        assert_eq!(show("setmetatable({}, {__tostring = function() return 'P(1)' end})"), "P(1)");
        assert!(show("print").starts_with("function: "));
        assert!(show("coroutine.create(print)").starts_with("thread: "));
        let bad = show("setmetatable({}, {__tostring = function() error('no') end})");
        assert!(bad.starts_with("<__tostring error: ") && bad.contains("no"), "{bad}");
        assert_eq!(show("JSON.null"), "JSON.null");
    }
}

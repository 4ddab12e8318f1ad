//! `inspect`: documentation or a summary for the name at the cursor.
//!
//! The name is the dotted path (`string.format`, `obj:method`) touching the cursor, or, when the
//! cursor follows `name(`, the function being called. A documented name (see
//! [`docs`](crate::docs)) gives its signature and description; a global that holds a documented
//! function under another name (`fmt = string.format`) gives that function's doc. Any other
//! global value gives its type, size and rendering; Lua functions also their definition site.
//! `detail_level` is accepted; both levels currently return the same text. Never runs user code
//! except a `__tostring` metamethod while rendering.

use mlua::{Lua, Value};

use crate::complete::{path_before, resolve};
use crate::lex::{self, Kind};
use crate::{Inspection, docs, render};

pub(crate) fn inspect(lua: &Lua, code: &str, cursor_pos: usize, _detail: u8) -> Option<Inspection> {
    let chars: Vec<char> = code.chars().collect();
    let (path, name) = name_at(&chars, cursor_pos.min(chars.len()))?;
    let doc_name = name.replace(':', ".");
    let value = resolve(lua, &path);
    let doc = docs::find(&doc_name).or_else(|| value.as_ref().and_then(|v| doc_of(lua, v)));
    if let Some((_, sig, text)) = doc {
        return Some(Inspection {
            text_plain: format!("{sig}\n{text}"),
            text_markdown: format!("```lua\n{sig}\n```\n\n{text}"),
        });
    }
    let value = value?;
    let summary = format!("{name}: {}", describe(&value));
    let shown = render::render(lua, &value);
    Some(Inspection {
        text_plain: format!("{summary}\n{shown}"),
        text_markdown: format!("**{name}**: {}\n\n```lua\n{shown}\n```", describe(&value)),
    })
}

/// The name path at the cursor and its source text (with `:` kept).
fn name_at(chars: &[char], cursor: usize) -> Option<(Vec<String>, String)> {
    let lexed = lex::lex(chars);
    let toks = lexed.code();
    // The name the cursor is in or just after, extended forward to the end of that name.
    let mut end =
        toks.iter().position(|t| t.kind == Kind::Name && t.start <= cursor && cursor <= t.end);
    if end.is_none() {
        // `f(` with the cursor after the parenthesis (or inside the arguments list start).
        let before = toks.iter().rposition(|t| t.end <= cursor)?;
        if toks[before].text == "(" && before > 0 {
            end = Some(before - 1);
        }
    }
    let end = end?;
    // Allow a trailing `:method` that path_before does not accept.
    let (head, method) = match end.checked_sub(1).map(|i| toks[i].text.as_str()) {
        Some(":") if end >= 2 => (&toks[..end - 1], Some(toks[end].text.clone())),
        _ => (&toks[..=end], None),
    };
    let mut path = path_before(head)?;
    let mut name = path.join(".");
    if let Some(m) = method {
        name = format!("{name}:{m}");
        path.push(m);
    }
    Some((path, name))
}

/// The doc of a documented library function held under another name.
fn doc_of(lua: &Lua, v: &Value) -> Option<&'static docs::Doc> {
    let Value::Function(f) = v else { return None };
    docs::DOCS.iter().find(|d| {
        let path: Vec<String> = d.0.split('.').map(str::to_string).collect();
        matches!(resolve(lua, &path), Some(Value::Function(g)) if g.to_pointer() == f.to_pointer())
    })
}

/// `table (3 entries)`, `string (5 bytes)`, `Lua function defined at cell-2:1`, `integer`, ...
fn describe(v: &Value) -> String {
    match v {
        Value::Table(t) => {
            let n = t.pairs::<Value, Value>().count();
            format!("table ({n} {})", if n == 1 { "entry" } else { "entries" })
        }
        Value::String(s) => format!("string ({} bytes)", s.as_bytes().len()),
        Value::Function(f) => {
            let info = f.info();
            match (info.what, info.short_src, info.line_defined) {
                ("Lua", Some(src), Some(line)) => {
                    let last = info.last_line_defined.filter(|l| *l != line);
                    let lines = last.map_or(line.to_string(), |l| format!("{line}-{l}"));
                    format!("Lua function defined at {src}:{lines}")
                }
                _ => "function (built in)".to_string(),
            }
        }
        Value::Integer(_) => "integer".to_string(),
        Value::Number(_) => "float".to_string(),
        other => other.type_name().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::testutil::{engine, run};

    #[test]
    fn library_docs() {
        let (mut e, _) = engine();
        let i = e.inspect("print", 5, 0).unwrap();
        assert!(i.text_plain.starts_with("print(...)\n"), "{i:?}");
        assert!(i.text_markdown.starts_with("```lua\nprint(...)\n```\n\n"));
        let i = e.inspect("x = string.format('%d', 1)", 13, 0).unwrap();
        assert!(i.text_plain.starts_with("string.format(fmt, ...) -> string"), "{i:?}");
        let i = e.inspect("string.format(", 14, 1).unwrap();
        assert!(i.text_plain.starts_with("string.format("), "after the parenthesis");
        let i = e.inspect("JSON.decode", 8, 0).unwrap();
        assert!(i.text_plain.starts_with("JSON.decode(text)"));
        let i = e.inspect("display", 3, 0).unwrap();
        assert!(i.text_plain.starts_with("display(value [, metadata])"));
    }

    #[test]
    fn aliases_of_documented_functions() {
        let (mut e, _) = engine();
        run(&mut e, "fmt = string.format; s = 'x'");
        assert!(e.inspect("fmt", 3, 0).unwrap().text_plain.starts_with("string.format("));
        assert!(e.inspect("s:upper", 7, 0).unwrap().text_plain.starts_with("string.upper("));
    }

    #[test]
    fn user_values() {
        let (mut e, _) = engine();
        run(&mut e, "cfg = {1, 2, name = 'x'}\nfunction add(a, b)\n  return a + b\nend");
        let code = "-- é\nprint(cfg)";
        let n = code.chars().count();
        let i = e.inspect(code, n - 2, 0).unwrap();
        assert_eq!(i.text_plain, "cfg: table (3 entries)\n{1, 2, name = \"x\"}");
        assert_eq!(
            i.text_markdown,
            "**cfg**: table (3 entries)\n\n```lua\n{1, 2, name = \"x\"}\n```"
        );
        let i = e.inspect("add", 1, 0).unwrap();
        assert!(i.text_plain.starts_with("add: Lua function defined at cell-1:2-4\n"), "{i:?}");
    }

    #[test]
    fn nothing_found() {
        let (mut e, _) = engine();
        assert_eq!(e.inspect("nosuch", 3, 0), None);
        assert_eq!(e.inspect("1 + 2", 3, 0), None);
        assert_eq!(e.inspect("", 0, 0), None);
    }
}

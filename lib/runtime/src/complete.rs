//! Completion of the identifier or field path that ends at the cursor.
//!
//! Candidates for a plain name: Lua keywords, the keys of `_G` (including the llmspell globals)
//! and names the code declares (`local`, parameters, `for` variables; scope is ignored). After
//! `a.b.` the fields of that table; after `a:` the functions reachable from it. For a string
//! value the `string` library stands in for its methods.
//!
//! Guarantee: completion never runs user code. Paths are resolved from `_G` with raw gets only,
//! following `__index` only when it is a plain table. Inside a string or comment there are no
//! matches. Positions are code points.

use std::collections::BTreeSet;

use mlua::{Lua, Table, Value};

use crate::Completion;
use crate::lex::{self, KEYWORDS, Kind, Token};

/// Deepest `__index` chain followed.
const MAX_INDEX_CHAIN: usize = 8;

pub(crate) fn complete(lua: &Lua, code: &str, cursor_pos: usize) -> Completion {
    let chars: Vec<char> = code.chars().collect();
    let cursor = cursor_pos.min(chars.len());
    let none = Completion { matches: Vec::new(), cursor_start: cursor, cursor_end: cursor };
    let lexed = lex::lex(&chars[..cursor]);
    if lexed.unterminated {
        return none;
    }
    let toks = lexed.code();
    let (prefix, start, before) = match toks.last() {
        Some(t) if t.end == cursor && matches!(t.kind, Kind::Name | Kind::Keyword) => {
            (t.text.as_str(), t.start, &toks[..toks.len() - 1])
        }
        Some(t) if t.end == cursor && t.kind == Kind::Number => return none,
        _ => ("", cursor, &toks[..]),
    };
    let candidates = match before.last() {
        Some(sep) if sep.text == "." || sep.text == ":" => {
            let Some(path) = path_before(&before[..before.len() - 1]) else { return none };
            match resolve(lua, &path) {
                Some(v) => fields(lua, &v, sep.text == ":"),
                None => BTreeSet::new(),
            }
        }
        _ => {
            let mut names = fields(lua, &Value::Table(lua.globals()), false);
            names.extend(KEYWORDS.iter().map(|k| k.to_string()));
            names.extend(lex::declared_names(&lex::lex(&chars)));
            names
        }
    };
    let matches = candidates.into_iter().filter(|c| c.starts_with(prefix)).collect();
    Completion { matches, cursor_start: start, cursor_end: cursor }
}

/// The dotted name that ends the token list (`a.b.c` -> `[a, b, c]`), `None` when it is not a
/// plain name path (`f().x`, `t[1].x`).
pub(crate) fn path_before(toks: &[&Token]) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut i = toks.len();
    loop {
        let t = toks.get(i.checked_sub(1)?)?;
        if t.kind != Kind::Name {
            return None;
        }
        path.push(t.text.clone());
        i -= 1;
        match i.checked_sub(1).and_then(|j| toks.get(j)) {
            Some(sep) if sep.text == "." => i -= 1,
            _ => break,
        }
    }
    path.reverse();
    Some(path)
}

/// The value of a global path, by raw gets (see the module doc).
pub(crate) fn resolve(lua: &Lua, path: &[String]) -> Option<Value> {
    let mut v = Value::Table(lua.globals());
    for key in path {
        v = match &v {
            Value::Table(t) => lookup(t, key)?,
            Value::String(_) => lookup(&string_lib(lua)?, key)?,
            _ => return None,
        };
    }
    (!v.is_nil()).then_some(v)
}

/// `t[key]` by raw gets, following plain-table `__index` chains.
pub(crate) fn lookup(t: &Table, key: &str) -> Option<Value> {
    for t in index_chain(t) {
        match t.raw_get::<Value>(key) {
            Ok(Value::Nil) | Err(_) => {}
            Ok(v) => return Some(v),
        }
    }
    None
}

/// `t`, then its metatable's `__index` while that is a table.
fn index_chain(t: &Table) -> Vec<Table> {
    let mut chain = vec![t.clone()];
    while chain.len() <= MAX_INDEX_CHAIN {
        let next =
            chain.last().and_then(Table::metatable).and_then(|mt| mt.raw_get("__index").ok());
        match next {
            Some(Value::Table(n)) if !chain.iter().any(|c| c.to_pointer() == n.to_pointer()) => {
                chain.push(n)
            }
            _ => break,
        }
    }
    chain
}

fn string_lib(lua: &Lua) -> Option<Table> {
    lua.globals().raw_get::<Option<Table>>("string").ok().flatten()
}

/// Identifier keys of a value's table (and `__index` chain); functions only for methods.
fn fields(lua: &Lua, v: &Value, methods: bool) -> BTreeSet<String> {
    let table = match v {
        Value::Table(t) => t.clone(),
        Value::String(_) => match string_lib(lua) {
            Some(t) => t,
            None => return BTreeSet::new(),
        },
        _ => return BTreeSet::new(),
    };
    let mut out = BTreeSet::new();
    for t in index_chain(&table) {
        for (k, v) in t.pairs::<Value, Value>().filter_map(Result::ok) {
            let Value::String(k) = k else { continue };
            let Ok(k) = k.to_str() else { continue };
            if crate::render::is_identifier(&k) && (!methods || matches!(v, Value::Function(_))) {
                out.insert(k.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::testutil::{engine, run};

    fn matches(code: &str, cursor: usize) -> (Vec<String>, usize, usize) {
        let (mut e, _) = engine();
        run(&mut e, "obj = setmetatable({size = 1}, {__index = {grow = function() end, n = 2}})");
        let c = e.complete(code, cursor);
        (c.matches, c.cursor_start, c.cursor_end)
    }

    #[test]
    fn library_fields() {
        assert_eq!(matches("string.fo", 9), (vec!["format".to_string()], 7, 9));
        let (m, start, _) = matches("x = math.", 9);
        assert!(m.contains(&"floor".to_string()) && m.contains(&"pi".to_string()));
        assert_eq!(start, 9);
    }

    #[test]
    fn globals_keywords_and_llmspell_names() {
        assert_eq!(matches("pri", 3).0, vec!["print"]);
        assert_eq!(matches("whi", 3).0, vec!["while"]);
        assert_eq!(matches("disp", 4).0, vec!["display"]);
        assert_eq!(matches("JSON.st", 7).0, vec!["stringify"]);
    }

    #[test]
    fn cursor_counts_code_points() {
        // "é" and "日本" are one code point each but several bytes.
        let code = "s = \"é日本\"; pri";
        let n = code.chars().count();
        assert_eq!(matches(code, n), (vec!["print".to_string()], n - 3, n));
        let code = "-- ünïcödé\nstring.up";
        let n = code.chars().count();
        assert_eq!(matches(code, n), (vec!["upper".to_string()], n - 2, n));
    }

    #[test]
    fn locals_and_parameters() {
        let code = "local counter = 1\nlocal function helper(argument) return arg";
        let n = code.chars().count();
        assert_eq!(matches(code, n).0, vec!["argument"]);
        let code = "for index = 1, 3 do print(ind";
        assert_eq!(matches(code, code.len()).0, vec!["index"]);
    }

    #[test]
    fn methods_and_index_tables() {
        assert_eq!(matches("obj:gr", 6).0, vec!["grow"]);
        assert_eq!(matches("obj.", 4).0, vec!["grow", "n", "size"]);
        assert_eq!(matches("obj:", 4).0, vec!["grow"]);
        assert!(matches("string.rep('x', 2):up", 20).0.is_empty(), "no value for a call result");
        let (mut e, _) = engine();
        run(&mut e, "s = 'text'");
        assert_eq!(e.complete("s:up", 4).matches, vec!["upper"]);
    }

    #[test]
    fn nothing_inside_strings_comments_or_numbers() {
        assert!(matches("x = \"pri", 8).0.is_empty());
        assert!(matches("-- pri", 6).0.is_empty());
        assert!(matches("x = 3", 5).0.is_empty());
        assert!(matches("nosuch.x", 8).0.is_empty());
    }

    #[test]
    fn does_not_run_metamethods() {
        let (mut e, rec) = engine();
        run(&mut e, "t = setmetatable({}, {__index = function() print('ran') return {} end})");
        assert!(e.complete("t.x.", 4).matches.is_empty());
        assert_eq!(rec.text(crate::StreamName::Stdout), "");
    }
}

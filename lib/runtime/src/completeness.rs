//! `is_complete`: the Lua parser decides. The code is compiled (never run) as statements and as
//! `return <code>`; if either compiles it is complete. If either fails only because the input
//! ended (`... near <eof>`, the test `lua.c` uses for multi-line input) it is incomplete;
//! otherwise invalid. The code is compiled with a newline appended, so an unfinished `"string`
//! is invalid while an unfinished `[[long string` is incomplete. The suggested indent is a heuristic: two spaces per block left open.

use mlua::Lua;
use mlua::chunk::ChunkMode;

use crate::Completeness;
use crate::lex::{self, Kind};

pub(crate) fn is_complete(lua: &Lua, code: &str) -> Completeness {
    let compile = |src: &str| -> Result<(), bool> {
        match lua.load(src).set_name("=input").set_mode(ChunkMode::Text).into_function() {
            Ok(_) => Ok(()),
            Err(mlua::Error::SyntaxError { incomplete_input, .. }) => Err(incomplete_input),
            Err(_) => Err(false),
        }
    };
    // Compile as if the user had pressed Enter: a short string left open at the end of a line
    // can never be completed, and Lua only says so once it sees the newline.
    match (compile(&format!("{code}\n")), compile(&format!("return {code}\n"))) {
        (Ok(()), _) | (_, Ok(())) => Completeness::Complete,
        (Err(a), Err(b)) if a || b => Completeness::Incomplete { indent: indent(code) },
        _ => Completeness::Invalid,
    }
}

/// Two spaces per open block, counting openers and closers in the token stream.
fn indent(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let lexed = lex::lex(&chars);
    let mut depth: i64 = 0;
    for t in lexed.code() {
        let delta = match (t.kind, t.text.as_str()) {
            (Kind::Keyword, "function" | "do" | "then" | "repeat") => 1,
            (Kind::Keyword, "end" | "until" | "elseif") => -1,
            (Kind::Punct, "{" | "(") => 1,
            (Kind::Punct, "}" | ")") => -1,
            _ => 0,
        };
        depth = (depth + delta).max(0);
    }
    "  ".repeat(depth as usize)
}

#[cfg(test)]
mod tests {
    use crate::Completeness::{self, Complete, Incomplete, Invalid};
    use crate::testutil::engine;

    fn check(code: &str) -> Completeness {
        engine().0.is_complete(code)
    }

    fn incomplete(indent: &str) -> Completeness {
        Incomplete { indent: indent.to_string() }
    }

    #[test]
    fn complete_code() {
        for code in ["print(\"hi\")", "1", "", "  -- only a comment", "x = 1\ny = 2", "f()"] {
            assert_eq!(check(code), Complete, "{code:?}");
        }
    }

    #[test]
    fn incomplete_code_with_indent() {
        assert_eq!(check("for i = 1, 10 do"), incomplete("  "));
        assert_eq!(check("function f(x)"), incomplete("  "));
        assert_eq!(check("x = {"), incomplete("  "));
        assert_eq!(check("[[abc"), incomplete(""));
        assert_eq!(check("if x then\n  for i = 1, 2 do"), incomplete("    "));
        assert_eq!(check("if a then\nelseif b then"), incomplete("  "));
        assert_eq!(check("1 +"), incomplete(""));
    }

    #[test]
    fn invalid_code() {
        for code in ["x = = 1", "1 +* 2", "\"abc", "end", "for for"] {
            assert_eq!(check(code), Invalid, "{code:?}");
        }
    }
}

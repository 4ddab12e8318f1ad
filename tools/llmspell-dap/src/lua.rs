//! Lua source text the adapter sends: the `arg` table of a launched program.

/// `s` as a Lua string literal: printable ASCII as is, everything else as `\ddd` escapes, so
/// any bytes (quotes, newlines, UTF-8) survive exactly.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            0x20..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// `arg = {[0] = PATH, ARGS...}`: what `lua PATH ARGS...` gives a script.
pub fn arg_table(path: &str, args: &[String]) -> String {
    let mut code = format!("arg = {{[0] = {}", string(path));
    for a in args {
        code.push_str(", ");
        code.push_str(&string(a));
    }
    code.push('}');
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_everything_but_printable_ascii() {
        assert_eq!(string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(string("x\ny"), r#""x\010y""#);
        assert_eq!(string("é"), r#""\195\169""#);
        assert_eq!(
            arg_table("/p.lua", &["1".into(), "two".into()]),
            r#"arg = {[0] = "/p.lua", "1", "two"}"#
        );
    }
}

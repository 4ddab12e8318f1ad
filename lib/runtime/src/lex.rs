//! A small, forgiving Lua tokenizer over code points, for completion, inspection and the
//! `is_complete` indent hint. It never fails: malformed input just ends a token early.
//!
//! Token positions are code-point offsets (Jupyter's unit). Strings and comments become single
//! tokens; [`Lexed::unterminated`] says the input ended inside one (so the cursor is inside a
//! string literal or comment).

/// Lua 5.4's reserved words.
pub(crate) const KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Name,
    Keyword,
    Number,
    Str,
    Comment,
    Punct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) kind: Kind,
    pub(crate) text: String,
    /// Code-point offsets, end exclusive.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl Token {
    pub(crate) fn is(&self, kind: Kind, text: &str) -> bool {
        self.kind == kind && self.text == text
    }
}

#[derive(Debug, Default)]
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    /// The input ended inside a string or comment.
    pub(crate) unterminated: bool,
}

impl Lexed {
    /// Tokens other than comments.
    pub(crate) fn code(&self) -> Vec<&Token> {
        self.tokens.iter().filter(|t| t.kind != Kind::Comment).collect()
    }
}

pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(crate) fn lex(src: &[char]) -> Lexed {
    let mut out = Lexed::default();
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        let start = i;
        let kind = if c.is_whitespace() {
            i += 1;
            continue;
        } else if c == '-' && src.get(i + 1) == Some(&'-') {
            i += 2;
            match long_bracket(src, i) {
                Some(level) => {
                    let (end, closed) = long_end(src, i + level + 2, level);
                    out.unterminated |= !closed;
                    i = end;
                }
                None => {
                    while i < src.len() && src[i] != '\n' {
                        i += 1;
                    }
                    out.unterminated |= i == src.len();
                }
            }
            Kind::Comment
        } else if let Some(level) = long_bracket(src, i) {
            let (end, closed) = long_end(src, i + level + 2, level);
            out.unterminated |= !closed;
            i = end;
            Kind::Str
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut closed = false;
            while i < src.len() && src[i] != '\n' {
                if src[i] == '\\' {
                    i += 2;
                    continue;
                }
                i += 1;
                if src[i - 1] == c {
                    closed = true;
                    break;
                }
            }
            i = i.min(src.len());
            out.unterminated |= !closed && i == src.len();
            Kind::Str
        } else if c.is_ascii_digit()
            || (c == '.' && src.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < src.len() && (is_name_char(src[i]) || src[i] == '.') {
                let exp = matches!(src[i], 'e' | 'E' | 'p' | 'P');
                i += 1;
                if exp && i < src.len() && matches!(src[i], '+' | '-') {
                    i += 1;
                }
            }
            Kind::Number
        } else if is_name_char(c) {
            while i < src.len() && is_name_char(src[i]) {
                i += 1;
            }
            Kind::Name
        } else {
            let rest: String = src[i..src.len().min(i + 3)].iter().collect();
            let len = ["...", "..", "::", "==", "~=", "<=", ">=", "//", "<<", ">>"]
                .iter()
                .find(|p| rest.starts_with(*p))
                .map_or(1, |p| p.len());
            i += len;
            Kind::Punct
        };
        let text: String = src[start..i].iter().collect();
        let kind = if kind == Kind::Name && KEYWORDS.contains(&text.as_str()) {
            Kind::Keyword
        } else {
            kind
        };
        out.tokens.push(Token { kind, text, start, end: i });
    }
    out
}

/// At `[[` or `[==[`: the number of `=` signs.
fn long_bracket(src: &[char], i: usize) -> Option<usize> {
    if src.get(i) != Some(&'[') {
        return None;
    }
    let level = src[i + 1..].iter().take_while(|c| **c == '=').count();
    (src.get(i + 1 + level) == Some(&'[')).then_some(level)
}

/// From the body start of a long bracket: the offset after its `]=*]` and whether it closed.
fn long_end(src: &[char], mut i: usize, level: usize) -> (usize, bool) {
    while i < src.len() {
        if src[i] == ']'
            && src[i + 1..].iter().take_while(|c| **c == '=').count() >= level
            && src.get(i + 1 + level) == Some(&']')
            && src[i + 1..i + 1 + level].iter().all(|c| *c == '=')
        {
            return (i + level + 2, true);
        }
        i += 1;
    }
    (src.len(), false)
}

/// Names a piece of code declares: `local a, b`, `local function f`, function parameters,
/// `for` variables. Scope is ignored.
pub(crate) fn declared_names(lexed: &Lexed) -> Vec<String> {
    let toks = lexed.code();
    let mut names = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let t = toks[i];
        if t.is(Kind::Keyword, "local") || t.is(Kind::Keyword, "for") {
            i += 1;
            if toks.get(i).is_some_and(|t| t.is(Kind::Keyword, "function")) {
                continue; // handled as a function below
            }
            i = name_list(&toks, i, &mut names);
            continue;
        }
        if t.is(Kind::Keyword, "function") {
            i += 1;
            if toks.get(i).is_some_and(|t| t.kind == Kind::Name) {
                // `local function f`: f is new; `function a.b:c` declares nothing local but
                // `self` for methods.
                let mut j = i + 1;
                let mut method = false;
                while toks.get(j).is_some_and(|t| t.text == "." || t.text == ":") {
                    method |= toks[j].text == ":";
                    j += 2;
                }
                if j == i + 1 && i >= 2 && toks[i - 2].is(Kind::Keyword, "local") {
                    names.push(toks[i].text.clone());
                }
                if method {
                    names.push("self".to_string());
                }
                i = j;
            }
            if toks.get(i).is_some_and(|t| t.text == "(") {
                i = name_list(&toks, i + 1, &mut names);
            }
            continue;
        }
        i += 1;
    }
    names
}

/// `a, b <const>, c` starting at `i`; returns the index after the list.
fn name_list(toks: &[&Token], mut i: usize, names: &mut Vec<String>) -> usize {
    while let Some(t) = toks.get(i) {
        if t.kind != Kind::Name {
            break;
        }
        names.push(t.text.clone());
        i += 1;
        if toks.get(i).is_some_and(|t| t.text == "<") {
            i += 3; // `<const>` / `<close>`
        }
        if toks.get(i).is_none_or(|t| t.text != ",") {
            break;
        }
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn tokens_and_positions_in_code_points() {
        let l = lex(&chars("é = a.b -- c"));
        let kinds: Vec<_> = l.tokens.iter().map(|t| (t.kind, t.text.as_str(), t.start)).collect();
        assert_eq!(kinds[0], (Kind::Punct, "é", 0));
        assert_eq!(kinds[2], (Kind::Name, "a", 4));
        assert_eq!(kinds[3], (Kind::Punct, ".", 5));
        assert_eq!(kinds.last().unwrap().0, Kind::Comment);
        assert!(l.unterminated, "a line comment runs to the end of input");
    }

    #[test]
    fn strings_and_long_brackets() {
        assert!(lex(&chars("x = \"abc")).unterminated);
        assert!(!lex(&chars("x = \"a\\\"bc\"")).unterminated);
        assert!(lex(&chars("x = [==[ a ]] ")).unterminated);
        assert!(!lex(&chars("x = [==[ a ]==] y")).unterminated);
        assert!(!lex(&chars("--[[ c ]] x")).unterminated);
        assert_eq!(lex(&chars("a..b")).tokens[1].text, "..");
    }

    #[test]
    fn declared_names_found() {
        let code = "local a, b <const> = 1\nlocal function f(x, y) end\n\
                    for i, v in pairs(t) do end\nfunction obj:m(z) end\nfor k = 1, 2 do end";
        let names = declared_names(&lex(&chars(code)));
        for n in ["a", "b", "f", "x", "y", "i", "v", "self", "z", "k"] {
            assert!(names.contains(&n.to_string()), "{n} missing from {names:?}");
        }
        assert!(!names.contains(&"obj".to_string()));
    }
}

//! Breakpoints as the hook sees them: line breakpoints verified against the source text, hit
//! conditions, log messages, function breakpoints. Pure data and text logic, no Lua state.
//!
//! Verification (DAP `setBreakpoints`): a breakpoint on a blank or comment-only line moves to
//! the next line that holds code; one past the last code line, or in a source the kernel cannot
//! read, is unverified with a `message` saying why.

use std::collections::BTreeMap;

/// A DAP `hitCondition`: `>= N`, `== N`, `% N`, or a plain `N` (meaning `>= N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitCondition {
    AtLeast(u64),
    Exactly(u64),
    EveryNth(u64),
}

impl HitCondition {
    /// Parses a hit condition; the error says what is accepted.
    pub fn parse(text: &str) -> Result<HitCondition, String> {
        let t = text.trim();
        let number = |s: &str| {
            s.trim().parse::<u64>().map_err(|_| {
                format!("hit condition {text:?} is not one of `N`, `>= N`, `== N`, `% N`")
            })
        };
        if let Some(rest) = t.strip_prefix(">=") {
            Ok(HitCondition::AtLeast(number(rest)?))
        } else if let Some(rest) = t.strip_prefix("==") {
            Ok(HitCondition::Exactly(number(rest)?))
        } else if let Some(rest) = t.strip_prefix('%') {
            match number(rest)? {
                0 => Err(format!("hit condition {text:?}: `% 0` never holds")),
                n => Ok(HitCondition::EveryNth(n)),
            }
        } else {
            Ok(HitCondition::AtLeast(number(t)?))
        }
    }

    /// Whether the `hits`-th hit (counting from 1) stops.
    pub fn holds(self, hits: u64) -> bool {
        match self {
            HitCondition::AtLeast(n) => hits >= n,
            HitCondition::Exactly(n) => hits == n,
            HitCondition::EveryNth(n) => hits.is_multiple_of(n),
        }
    }
}

/// One line breakpoint after verification.
#[derive(Debug, Clone, PartialEq)]
pub struct LineBreakpoint {
    pub id: i64,
    /// The line asked for and the line it was moved to.
    pub requested: usize,
    pub line: usize,
    pub verified: bool,
    pub message: Option<String>,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
    pub log_message: Option<String>,
}

/// One function breakpoint: stops on entry to a function called by this name.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionBreakpoint {
    pub id: i64,
    pub name: String,
    pub condition: Option<String>,
    pub hit_condition: Option<HitCondition>,
}

/// Every breakpoint, as one immutable snapshot the hook holds between changes.
#[derive(Debug, Clone, Default)]
pub struct Breakpoints {
    /// By source path (the chunk name without its `@`).
    pub lines: BTreeMap<String, Vec<LineBreakpoint>>,
    pub functions: Vec<FunctionBreakpoint>,
}

impl Breakpoints {
    /// Whether the hook needs call/return events at all.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && self.lines.values().all(|v| v.iter().all(|b| !b.verified))
    }

    /// The verified breakpoint at `source:line`.
    pub fn at(&self, source: &str, line: usize) -> Option<&LineBreakpoint> {
        self.lines.get(source)?.iter().find(|b| b.verified && b.line == line)
    }
}

/// For each line of `source` (index 0 = line 1), whether it holds code: not blank, not only a
/// comment (line or long comment). Lines inside a long string count as code.
pub fn code_lines(source: &str) -> Vec<bool> {
    let mut out = Vec::new();
    // Inside a long comment or string: its closing bracket and whether it is a comment.
    let mut open: Option<(String, bool)> = None;
    for raw in source.split('\n') {
        let line: Vec<char> = raw.chars().collect();
        // A line that starts inside a long string is part of a statement.
        let mut code = matches!(open, Some((_, false)));
        let mut i = 0;
        while i < line.len() {
            if let Some((close, comment)) = &open {
                let rest: String = line[i..].iter().collect();
                if !comment {
                    code = true;
                }
                match rest.find(close.as_str()) {
                    Some(at) => {
                        i += rest[..at].chars().count() + close.chars().count();
                        open = None;
                    }
                    None => break,
                }
                continue;
            }
            let c = line[i];
            if c.is_whitespace() {
                i += 1;
            } else if c == '-' && line.get(i + 1) == Some(&'-') {
                match long_bracket(&line[i + 2..]) {
                    Some(level) => {
                        open = Some((format!("]{}]", "=".repeat(level)), true));
                        i += 2 + level + 2;
                    }
                    None => break,
                }
            } else if c == '[' && long_bracket(&line[i..]).is_some() {
                let level = long_bracket(&line[i..]).unwrap_or(0);
                code = true;
                open = Some((format!("]{}]", "=".repeat(level)), false));
                i += level + 2;
            } else if c == '"' || c == '\'' {
                code = true;
                i += 1;
                while i < line.len() && line[i] != c {
                    i += if line[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            } else {
                code = true;
                i += 1;
            }
        }
        out.push(code);
    }
    out
}

/// `[[` or `[=*[` at the start of `text`: its level.
fn long_bracket(text: &[char]) -> Option<usize> {
    if text.first() != Some(&'[') {
        return None;
    }
    let level = text[1..].iter().take_while(|&&c| c == '=').count();
    (text.get(1 + level) == Some(&'[')).then_some(level)
}

/// Where a breakpoint asked for at `line` (1-based) lands in `source`: the line itself if it
/// holds code, else the next line that does; `Err` with a message when there is none.
pub fn verify_line(source: Option<&str>, line: usize) -> Result<usize, String> {
    let Some(source) = source else {
        return Err("the kernel has not seen this source (run or dump it first)".into());
    };
    let code = code_lines(source);
    if line == 0 || line > code.len() {
        return Err(format!("line {line} is outside the source ({} lines)", code.len()));
    }
    match code[line - 1..].iter().position(|&c| c) {
        Some(offset) => Ok(line + offset),
        None => Err(format!("no code on or after line {line}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_conditions() {
        assert_eq!(HitCondition::parse("3"), Ok(HitCondition::AtLeast(3)));
        assert_eq!(HitCondition::parse(">= 2"), Ok(HitCondition::AtLeast(2)));
        assert_eq!(HitCondition::parse("==4"), Ok(HitCondition::Exactly(4)));
        assert_eq!(HitCondition::parse(" % 3 "), Ok(HitCondition::EveryNth(3)));
        assert!(HitCondition::parse("% 0").is_err());
        assert!(HitCondition::parse("> 2").unwrap_err().contains("hit condition"));
        assert!(HitCondition::parse("x").is_err());
        let stops = |c: HitCondition| (1..=6).filter(|&h| c.holds(h)).collect::<Vec<_>>();
        assert_eq!(stops(HitCondition::AtLeast(5)), vec![5, 6]);
        assert_eq!(stops(HitCondition::Exactly(2)), vec![2]);
        assert_eq!(stops(HitCondition::EveryNth(3)), vec![3, 6]);
    }

    #[test]
    fn code_lines_skip_blanks_and_comments() {
        let src = "local x = 1\n\n-- note\n  --[[ long\n still comment ]]\nprint('--x')\ns = [[\n\n]]\n--[==[ a ]==] y = 2\n";
        assert_eq!(
            code_lines(src),
            vec![true, false, false, false, false, true, true, true, true, true, false]
        );
    }

    #[test]
    fn verification_moves_to_the_next_code_line() {
        let src = "local a = 1\n\n-- c\nlocal b = 2\n\n";
        assert_eq!(verify_line(Some(src), 1), Ok(1));
        assert_eq!(verify_line(Some(src), 2), Ok(4));
        assert_eq!(verify_line(Some(src), 3), Ok(4));
        assert!(verify_line(Some(src), 5).unwrap_err().contains("no code"));
        assert!(verify_line(Some(src), 40).unwrap_err().contains("outside"));
        assert!(verify_line(None, 1).is_err());
    }

    #[test]
    fn ranges_and_lookup() {
        let bp = |line, verified| LineBreakpoint {
            id: line as i64,
            requested: line,
            line,
            verified,
            message: None,
            condition: None,
            hit_condition: None,
            log_message: None,
        };
        let mut set = Breakpoints::default();
        assert!(set.is_empty());
        set.lines.insert("/a.lua".into(), vec![bp(5, true), bp(9, false)]);
        assert!(!set.is_empty());
        assert_eq!(set.at("/a.lua", 5).map(|b| b.id), Some(5));
        assert!(set.at("/a.lua", 9).is_none());
    }
}

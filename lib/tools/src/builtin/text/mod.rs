//! Built-in tools for text, numbers and identifiers: calculator, text_manipulator,
//! uuid_generator, hash_calculator, base64_encoder, text_stats, regex_matcher and
//! random_generator. One file per tool; the helpers they share are here.

mod calculator;
mod encoding;
mod hash;
mod manipulator;
mod random;
mod regex_matcher;
mod stats;
mod uuids;

use regex::{Regex, RegexBuilder};

use crate::error::ToolError;
use crate::spec::ToolDef;

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    vec![
        calculator::tool(),
        manipulator::tool(),
        uuids::tool(),
        hash::tool(),
        encoding::tool(),
        stats::tool(),
        regex_matcher::tool(),
        random::tool(),
    ]
}

/// How a regular expression is matched.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RegexFlags {
    pub case_insensitive: bool,
    pub multiline: bool,
    pub dot_matches_newline: bool,
}

/// Compiles `pattern` (the value of parameter `param`); a bad pattern is a validation error
/// naming the parameter, what is wrong and where (character position, 0-based).
pub(super) fn compile_regex(
    pattern: &str,
    param: &str,
    flags: RegexFlags,
) -> Result<Regex, ToolError> {
    let built = RegexBuilder::new(pattern)
        .case_insensitive(flags.case_insensitive)
        .multi_line(flags.multiline)
        .dot_matches_new_line(flags.dot_matches_newline)
        .build();
    match built {
        Ok(re) => Ok(re),
        Err(regex::Error::CompiledTooBig(limit)) => Err(ToolError::validation(format!(
            "parameter {param:?}: the pattern {pattern:?} compiles to more than {limit} bytes; \
             simplify it (large repetition counts are the usual cause)"
        ))),
        Err(other) => Err(ToolError::validation(format!(
            "parameter {param:?}: invalid regular expression {pattern:?}: {}",
            regex_problem(pattern, flags).unwrap_or_else(|| one_line(&other.to_string()))
        ))),
    }
}

/// What regex-syntax says is wrong with `pattern`, with the position, on one line.
fn regex_problem(pattern: &str, flags: RegexFlags) -> Option<String> {
    let parsed = regex_syntax::ParserBuilder::new()
        .case_insensitive(flags.case_insensitive)
        .multi_line(flags.multiline)
        .dot_matches_new_line(flags.dot_matches_newline)
        .build()
        .parse(pattern);
    let (kind, offset) = match parsed {
        Ok(_) => return None,
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), e.span().start.offset),
        Err(regex_syntax::Error::Translate(e)) => (e.kind().to_string(), e.span().start.offset),
        Err(other) => return Some(one_line(&other.to_string())),
    };
    let position = pattern.get(..offset).map_or(offset, |before| before.chars().count());
    Some(format!("{kind} at position {position}"))
}

/// A possibly multi-line message as one line.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
pub(super) mod testing {
    use std::time::Duration;

    use serde_json::Value;

    use crate::error::{ErrorType, ToolError};
    use crate::policy::{DEFAULT_TIMEOUT, Policy};
    use crate::registry::Registry;

    /// A registry of this module's tools allowing `dir` (and the temp dir).
    pub fn registry_in(dir: &std::path::Path) -> Registry {
        let policy =
            Policy::with(dir.to_path_buf(), vec![dir.to_path_buf()], Vec::new(), DEFAULT_TIMEOUT);
        Registry::with_tools(super::tools(), policy)
    }

    /// A registry of this module's tools under the default policy.
    pub fn registry() -> Registry {
        Registry::with_tools(super::tools(), Policy::new(std::env::temp_dir()))
    }

    pub fn ok(r: &Registry, tool: &str, params: Value) -> Value {
        match r.invoke(tool, params.clone(), Some(Duration::from_secs(60))) {
            Ok(v) => v,
            Err(e) => panic!("{tool} {params}: {e}"),
        }
    }

    /// The error of a call that must fail with `kind`; its message must contain every `needle`.
    pub fn fails(r: &Registry, tool: &str, params: Value, kind: ErrorType, needles: &[&str]) {
        let outcome = r.invoke(tool, params.clone(), Some(Duration::from_secs(60)));
        let e: ToolError = match outcome {
            Ok(v) => panic!("{tool} {params}: expected a {kind} error, got {v}"),
            Err(e) => e,
        };
        assert_eq!(e.error_type, kind, "{tool} {params}: {e}");
        assert!(!e.message.contains('\n'), "{tool}: a multi-line message: {e}");
        for n in needles {
            assert!(e.message.contains(n), "{tool} {params}: {e:?} lacks {n:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::registry;
    use super::*;

    #[test]
    fn every_example_passes() {
        let r = registry();
        assert_eq!(r.len(), 8);
        let outcomes = r.test(&[]).unwrap();
        let failed: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        for def in r.list(None) {
            assert!(def.examples.len() >= 2, "{} has too few examples", def.name);
            assert!(
                def.examples.iter().any(|e| matches!(e.expect, crate::Expect::Error(_))),
                "{} has no failing example",
                def.name
            );
            assert_eq!(def.schema["additionalProperties"], false, "{}", def.name);
            assert!(!def.category.is_empty() && !def.description.is_empty());
            for (name, prop) in def.schema["properties"].as_object().unwrap() {
                assert!(prop["description"].is_string(), "{}.{name} lacks a description", def.name);
            }
        }
    }

    #[test]
    fn regex_errors_are_one_line_with_a_position() {
        let e = compile_regex("ab(c", "pattern", RegexFlags::default()).unwrap_err();
        assert_eq!(e.error_type, crate::ErrorType::Validation);
        assert!(e.message.contains("unclosed group at position 2"), "{e}");
        let e = compile_regex("é[z-a]", "from", RegexFlags::default()).unwrap_err();
        assert!(e.message.contains("\"from\"") && e.message.contains("position 2"), "{e}");
        let e = compile_regex("(a{1000}){1000}", "p", RegexFlags::default()).unwrap_err();
        assert!(e.message.contains("compiles to more than"), "{e}");
        assert!(compile_regex("(?i)x", "p", RegexFlags::default()).is_ok());
    }
}

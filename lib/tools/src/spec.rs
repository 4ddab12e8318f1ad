//! How a tool describes itself: name, category, description, the JSON Schema of its parameters
//! and examples that double as its self-test (`llmspell-tool test`).

use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;

/// The function that does a tool's work, given validated parameters.
pub type RunFn = fn(&Params, &Context) -> Result<Value, ToolError>;

/// One built-in tool.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: &'static str,
    pub category: &'static str,
    pub description: &'static str,
    /// JSON Schema (draft 2020-12) of the parameter object.
    pub schema: Value,
    pub examples: Vec<Example>,
    pub run: RunFn,
}

/// Parameters and what the tool must answer. Examples run with the policy the registry has, so
/// ones that need files create them under the temp dir themselves (a `setup` parameter, or a
/// path the tool writes first).
#[derive(Debug, Clone)]
pub struct Example {
    pub description: &'static str,
    pub params: Value,
    pub expect: Expect,
}

/// What an example's result must be.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Every key and value given must be in the result (objects recursively; arrays element by
    /// element with equal length; numbers compared as f64 within 1e-9).
    Subset(Value),
    /// For results that vary (uuids, times, random): a predicate and what it checks.
    Satisfies(&'static str, fn(&Value) -> bool),
    /// The call must fail with this kind of error.
    Error(ErrorType),
}

impl Example {
    pub fn new(description: &'static str, params: Value, expect: Value) -> Example {
        Example { description, params, expect: Expect::Subset(expect) }
    }

    pub fn satisfies(
        description: &'static str,
        params: Value,
        what: &'static str,
        check: fn(&Value) -> bool,
    ) -> Example {
        Example { description, params, expect: Expect::Satisfies(what, check) }
    }

    pub fn fails(description: &'static str, params: Value, kind: ErrorType) -> Example {
        Example { description, params, expect: Expect::Error(kind) }
    }

    pub fn to_json(&self) -> Value {
        let expect = match &self.expect {
            Expect::Subset(v) => json!({"result": v}),
            Expect::Satisfies(what, _) => json!({"satisfies": what}),
            Expect::Error(kind) => json!({"error_type": kind}),
        };
        json!({"description": self.description, "params": self.params, "expect": expect})
    }

    /// Whether `outcome` is what this example expects; else why not.
    pub fn judge(&self, outcome: &Result<Value, ToolError>) -> Result<(), String> {
        match (&self.expect, outcome) {
            (Expect::Subset(want), Ok(got)) => subset(want, got, "result"),
            (Expect::Satisfies(what, check), Ok(got)) => {
                if check(got) {
                    Ok(())
                } else {
                    Err(format!("expected {what}, got {got}"))
                }
            }
            (Expect::Error(kind), Err(e)) if e.error_type == *kind => Ok(()),
            (Expect::Error(kind), Err(e)) => Err(format!("expected a {kind} error, got {e}")),
            (Expect::Error(kind), Ok(got)) => Err(format!("expected a {kind} error, got {got}")),
            (_, Err(e)) => Err(format!("failed: {e}")),
        }
    }
}

impl ToolDef {
    /// The short form used by `list` and `search`.
    pub fn summary(&self) -> Value {
        json!({"name": self.name, "category": self.category, "description": self.description})
    }

    /// Everything about the tool, as `info` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "parameters": self.schema,
            "examples": self.examples.iter().map(Example::to_json).collect::<Vec<_>>(),
        })
    }
}

fn subset(want: &Value, got: &Value, at: &str) -> Result<(), String> {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            for (k, wv) in w {
                let gv = g.get(k).ok_or_else(|| format!("{at}.{k} is missing"))?;
                subset(wv, gv, &format!("{at}.{k}"))?;
            }
            Ok(())
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                return Err(format!("{at} has {} items, expected {}", g.len(), w.len()));
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                subset(wv, gv, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        (Value::Number(w), Value::Number(g)) => {
            let (w, g) = (w.as_f64().unwrap_or(f64::NAN), g.as_f64().unwrap_or(f64::NAN));
            if (w - g).abs() <= 1e-9 * w.abs().max(1.0) {
                Ok(())
            } else {
                Err(format!("{at} is {g}, expected {w}"))
            }
        }
        (w, g) if w == g => Ok(()),
        (w, g) => Err(format!("{at} is {g}, expected {w}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_matching() {
        let got = json!({"a": 1, "b": [1, {"c": 2.0, "d": 3}], "e": "x"});
        assert!(subset(&json!({"b": [1, {"c": 2}]}), &got, "result").is_ok());
        assert!(subset(&json!({"b": [1]}), &got, "result").unwrap_err().contains("2 items"));
        assert!(subset(&json!({"z": 1}), &got, "result").unwrap_err().contains("result.z"));
        assert!(subset(&json!({"e": "y"}), &got, "result").is_err());
    }
}

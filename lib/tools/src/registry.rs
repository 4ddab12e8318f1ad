//! The registry: every built-in tool by name, with its schema compiled on first use.
//!
//! `invoke` validates the parameters against the schema, then runs the tool on its own thread
//! and waits at most the timeout. When the wait ends first, the tool's cancel flag is set and a
//! `timeout` error returned; the tool stops at its next [`Context::check`], at the end of the
//! I/O it bounded by [`Context::remaining`], or by killing its child process.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::error::ToolError;
use crate::params::Params;
use crate::policy::Policy;
use crate::spec::ToolDef;

struct Entry {
    def: ToolDef,
    validator: OnceLock<Result<jsonschema::Validator, String>>,
}

pub struct Registry {
    /// Sorted by name.
    entries: Vec<Entry>,
    policy: Arc<Policy>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("tools", &self.entries.len()).finish()
    }
}

/// How one example of `test` went.
#[derive(Debug, Clone)]
pub struct ExampleOutcome {
    pub tool: &'static str,
    pub example: &'static str,
    /// None when it passed; else why it failed.
    pub failure: Option<String>,
    pub duration: Duration,
}

impl Registry {
    /// Every built-in tool under `policy`.
    pub fn builtin(policy: Policy) -> Registry {
        Registry::with_tools(crate::builtin::all(), policy)
    }

    /// A registry of the given tools (tests, embedders).
    pub fn with_tools(tools: Vec<ToolDef>, policy: Policy) -> Registry {
        let mut entries: Vec<Entry> =
            tools.into_iter().map(|def| Entry { def, validator: OnceLock::new() }).collect();
        entries.sort_by(|a, b| a.def.name.cmp(b.def.name));
        entries.dedup_by(|a, b| a.def.name == b.def.name);
        Registry { entries, policy: Arc::new(policy) }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Tools in name order, of one category if given.
    pub fn list(&self, category: Option<&str>) -> Vec<&ToolDef> {
        self.entries
            .iter()
            .map(|e| &e.def)
            .filter(|d| category.is_none_or(|c| d.category == c))
            .collect()
    }

    /// The sorted category names.
    pub fn categories(&self) -> Vec<&'static str> {
        let set: BTreeSet<&'static str> = self.entries.iter().map(|e| e.def.category).collect();
        set.into_iter().collect()
    }

    pub fn exists(&self, name: &str) -> bool {
        self.entry(name).is_ok()
    }

    pub fn info(&self, name: &str) -> Result<&ToolDef, ToolError> {
        self.entry(name).map(|e| &e.def)
    }

    fn entry(&self, name: &str) -> Result<&Entry, ToolError> {
        match self.entries.binary_search_by(|e| e.def.name.cmp(name)) {
            Ok(i) => Ok(&self.entries[i]),
            Err(_) => {
                let hint = self
                    .search(name)
                    .first()
                    .map(|(d, _)| format!("; did you mean {}?", d.name))
                    .unwrap_or_default();
                Err(ToolError::not_found(format!("no tool named {name:?}{hint}")))
            }
        }
    }

    /// Tools whose name, category or description match the words of `query`, best first.
    /// A word in the name counts most, then the category, then the description; a tool must
    /// match every word somewhere.
    pub fn search(&self, query: &str) -> Vec<(&ToolDef, f64)> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<(&ToolDef, f64)> = self
            .entries
            .iter()
            .filter_map(|e| {
                let d = &e.def;
                let name = d.name.to_lowercase();
                let description = d.description.to_lowercase();
                let mut score = 0.0;
                for w in &words {
                    let mut s = 0.0;
                    if name == *w || name.replace('_', "") == *w {
                        s += 10.0;
                    } else if name.split('_').any(|part| part == w) {
                        s += 6.0;
                    } else if name.contains(w.as_str()) {
                        s += 4.0;
                    }
                    if d.category == w {
                        s += 3.0;
                    }
                    let in_words = description
                        .split(|c: char| !c.is_alphanumeric())
                        .filter(|x| *x == w || (w.len() >= 4 && x.starts_with(w.as_str())))
                        .count();
                    s += (in_words as f64).min(3.0);
                    if s == 0.0 {
                        return None;
                    }
                    score += s;
                }
                Some((d, score))
            })
            .collect();
        hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.name.cmp(b.0.name)));
        hits
    }

    /// Checks `params` against the tool's schema; `null` counts as `{}`.
    pub fn validate(&self, name: &str, params: Value) -> Result<Params, ToolError> {
        self.validate_entry(self.entry(name)?, params)
    }

    fn validate_entry(&self, entry: &Entry, params: Value) -> Result<Params, ToolError> {
        let name = entry.def.name;
        let map = match params {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            other => {
                return Err(ToolError::validation(format!(
                    "{name}: the parameters must be a JSON object, not {other}"
                )));
            }
        };
        let validator = entry
            .validator
            .get_or_init(|| jsonschema::validator_for(&entry.def.schema).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| ToolError::execution(format!("{name}: its schema is broken: {e}")))?;
        let instance = Value::Object(map);
        let problems: Vec<String> = validator
            .iter_errors(&instance)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at =
                    if at.is_empty() { "parameters".to_owned() } else { format!("parameter {at}") };
                let schema_path = e.schema_path().to_string();
                let rule = schema_path.rsplit('/').next().unwrap_or("");
                format!("{at}: {e} (schema rule: {rule})")
            })
            .collect();
        if !problems.is_empty() {
            return Err(ToolError::validation(format!("{name}: {}", problems.join("; "))));
        }
        let Value::Object(map) = instance else { unreachable!("built as an object above") };
        Ok(Params::new(map))
    }

    /// Validates and runs `name`, waiting at most `timeout` (the policy's default when None).
    pub fn invoke(
        &self,
        name: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<Value, ToolError> {
        let entry = self.entry(name)?;
        let params = self.validate_entry(entry, params)?;
        let timeout = timeout.unwrap_or(self.policy.default_timeout());
        let cx = Context::new(self.policy.clone(), timeout);
        let cancel = cx.cancel_flag();
        let run = entry.def.run;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new().name(format!("tool {name}")).spawn(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&params, &cx)));
            let _ = tx.send(outcome);
        });
        if let Err(e) = spawned {
            return Err(ToolError::execution(format!("{name}: cannot start a thread: {e}")));
        }
        match rx.recv_timeout(timeout) {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(ToolError::execution(format!("{name}: the tool crashed: {what}")))
            }
            Err(RecvTimeoutError::Timeout) => {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                Err(ToolError::timeout(format!(
                    "{name}: stopped after the {:.3} s timeout",
                    timeout.as_secs_f64()
                )))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(ToolError::execution(format!("{name}: the tool thread ended without a result")))
            }
        }
    }

    /// Runs the examples of the named tools (every tool when `names` is empty).
    pub fn test(&self, names: &[&str]) -> Result<Vec<ExampleOutcome>, ToolError> {
        let defs: Vec<&ToolDef> = if names.is_empty() {
            self.list(None)
        } else {
            names.iter().map(|n| self.info(n)).collect::<Result<_, _>>()?
        };
        let mut out = Vec::new();
        for def in defs {
            for example in &def.examples {
                let started = Instant::now();
                let outcome = self.invoke(def.name, example.params.clone(), None);
                out.push(ExampleOutcome {
                    tool: def.name,
                    example: example.description,
                    failure: example.judge(&outcome).err(),
                    duration: started.elapsed(),
                });
            }
        }
        Ok(out)
    }
}

impl ExampleOutcome {
    pub fn to_json(&self) -> Value {
        json!({
            "tool": self.tool,
            "example": self.example,
            "passed": self.failure.is_none(),
            "message": self.failure,
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::{ErrorType, Example};

    static STOPPED: AtomicBool = AtomicBool::new(false);

    fn spin(_: &Params, cx: &Context) -> Result<Value, ToolError> {
        loop {
            if let Err(e) = cx.check() {
                STOPPED.store(true, Ordering::SeqCst);
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn add(p: &Params, _: &Context) -> Result<Value, ToolError> {
        let (a, b) = (p.opt_f64("a")?.unwrap_or(0.0), p.opt_f64("b")?.unwrap_or(0.0));
        if a < 0.0 {
            panic!("negative");
        }
        Ok(json!({"sum": a + b}))
    }

    fn registry() -> Registry {
        let adder = ToolDef {
            name: "adder",
            category: "math",
            description: "Adds two numbers a and b",
            schema: json!({
                "type": "object",
                "properties": {"a": {"type": "number"}, "b": {"type": "number", "maximum": 100}},
                "required": ["a"],
                "additionalProperties": false
            }),
            examples: vec![
                Example::new("one plus two", json!({"a": 1, "b": 2}), json!({"sum": 3})),
                Example::fails("b too big", json!({"a": 1, "b": 101}), ErrorType::Validation),
            ],
            run: add,
        };
        let spinner = ToolDef {
            name: "spinner",
            category: "test",
            description: "Loops until stopped",
            schema: json!({"type": "object"}),
            examples: vec![],
            run: spin,
        };
        Registry::with_tools(vec![spinner, adder], Policy::new(std::env::temp_dir()))
    }

    #[test]
    fn invoke_validates_then_runs() {
        let r = registry();
        assert_eq!(r.invoke("adder", json!({"a": 1, "b": 2}), None).unwrap(), json!({"sum": 3.0}));
        let e = r.invoke("adder", json!({"b": "x"}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Validation);
        assert!(e.message.contains("parameter /b") && e.message.contains("rule: type"), "{e}");
        let e = r.invoke("adder", json!({}), None).unwrap_err();
        assert!(e.message.contains("\"a\"") && e.message.contains("rule: required"), "{e}");
        let e = r.invoke("adder", json!([1]), None).unwrap_err();
        assert!(e.message.contains("JSON object"), "{e}");
        let e = r.invoke("adder", json!({"a": -1}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("negative"), "{e}");
    }

    #[test]
    fn unknown_tools_are_not_found_with_a_hint() {
        let e = registry().invoke("add", json!({}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::NotFound);
        assert!(e.message.contains("did you mean adder"), "{e}");
    }

    #[test]
    fn a_timeout_stops_the_tool_itself() {
        let started = Instant::now();
        let e =
            registry().invoke("spinner", json!({}), Some(Duration::from_millis(50))).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(started.elapsed() < Duration::from_secs(5));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !STOPPED.load(Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "the tool kept running after the timeout");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn search_ranks_names_over_descriptions_and_test_runs_examples() {
        let r = registry();
        let hits: Vec<&str> = r.search("adder").iter().map(|(d, _)| d.name).collect();
        assert_eq!(hits, ["adder"]);
        let hits: Vec<&str> = r.search("loops").iter().map(|(d, _)| d.name).collect();
        assert_eq!(hits, ["spinner"]);
        assert!(r.search("math numbers").first().is_some_and(|(d, _)| d.name == "adder"));
        assert!(r.search("nothing-like-it").is_empty());
        let outcomes = r.test(&["adder"]).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|o| o.failure.is_none()), "{outcomes:?}");
        assert_eq!(r.categories(), ["math", "test"]);
        assert_eq!(r.list(Some("math")).len(), 1);
    }
}

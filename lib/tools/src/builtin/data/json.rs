//! json_processor: jq queries (jaq), validation, pretty/minified text, JSON pointer lookups and
//! merges.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jaq_core::data::{DataT, HasLut};
use jaq_core::load::{Arena, File, Loader};
use jaq_core::native::{Fun, v};
use jaq_core::{Compiler, Ctx, Cv, Error as JqError, Exn, Lut, RunPtr, ValXs, Vars};
use jaq_json::{Num, Val};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{check_depth, line_col};
use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const DEFAULT_MAX_RESULTS: u64 = 1000;
const DEFAULT_MAX_STEPS: u64 = 1_000_000;
/// Results nested deeper than this are refused (converting them would risk the stack).
const MAX_DEPTH: usize = 512;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "json_processor",
        category: "data",
        description: "Processes JSON: query runs a jq filter (jaq) and returns its results, \
                      validate checks JSON text, pretty and minify reformat it, get reads a \
                      value by JSON pointer, merge deep-merges (or merge-patches) objects.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["query", "validate", "pretty", "minify", "get", "merge"],
                    "description": "What to do (default query)"
                },
                "input": {
                    "description": "The JSON value to work on (give this or text)"
                },
                "text": {
                    "type": "string",
                    "description": "JSON text to parse and work on instead of input"
                },
                "query": {
                    "type": "string",
                    "description": "query: the jq filter, e.g. '.items[] | select(.n > 1) | \
                                    .name' (default '.'); recursive def's are refused, use \
                                    recurse/while/until/reduce"
                },
                "variables": {
                    "type": "object",
                    "description": "query: values bound to $name variables in the filter"
                },
                "max_results": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "query: at most this many results are kept (default 1000)"
                },
                "max_steps": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 10_000_000,
                    "description": "query: cap on generator steps (range, repeat, while, \
                                    until, recurse) before the query is stopped \
                                    (default 1000000, at most 10000000)"
                },
                "pointer": {
                    "type": "string",
                    "description": "get: an RFC 6901 JSON pointer such as /items/0/name \
                                    ('' is the whole value)"
                },
                "other": {
                    "description": "merge: the value merged into input (its keys win)"
                },
                "mode": {
                    "type": "string",
                    "enum": ["deep", "patch"],
                    "description": "merge: deep merges objects recursively and replaces \
                                    everything else; patch is RFC 7386 (null deletes a key) \
                                    (default deep)"
                },
                "indent": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 16,
                    "description": "pretty: spaces per level (default 2)"
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "a jq query selecting names",
                json!({
                    "query": ".items[] | select(.qty > 1) | .name",
                    "input": {"items": [{"name": "a", "qty": 1}, {"name": "b", "qty": 5}]}
                }),
                json!({"results": ["b"], "count": 1, "truncated": false}),
            ),
            Example::new(
                "aggregate with variables",
                json!({
                    "query": "[.[] * $k] | add",
                    "input": [1, 2, 3],
                    "variables": {"k": 10}
                }),
                json!({"results": [60]}),
            ),
            Example::new(
                "read a value by JSON pointer",
                json!({
                    "operation": "get",
                    "text": "{\"a\": {\"b\": [10, 20]}}",
                    "pointer": "/a/b/1"
                }),
                json!({"value": 20}),
            ),
            Example::new(
                "deep merge",
                json!({
                    "operation": "merge",
                    "input": {"a": {"x": 1, "y": 2}, "b": 1},
                    "other": {"a": {"y": 3}, "c": true}
                }),
                json!({"result": {"a": {"x": 1, "y": 3}, "b": 1, "c": true}}),
            ),
            Example::new(
                "validate reports where JSON text is broken",
                json!({"operation": "validate", "text": "{\"a\": 1,\n \"b\": }"}),
                json!({"valid": false, "line": 2}),
            ),
            Example::fails(
                "a query that does not compile",
                json!({"query": ".a | nosuchfilter", "input": {}}),
                ErrorType::Validation,
            ),
            Example::fails(
                "a runtime error in the query",
                json!({"query": ".a + 1", "input": {"a": "text"}}),
                ErrorType::Execution,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let operation = p.str_or("operation", "query")?;
    if operation == "validate" {
        return validate(p);
    }
    let input = input(p)?;
    match operation {
        "query" => query(p, cx, input),
        "pretty" => {
            let indent = p.u64_or("indent", 2)? as usize;
            Ok(json!({"result": pretty(&input, indent)?}))
        }
        "minify" => Ok(json!({"result": input.to_string()})),
        "get" => get(p, &input),
        "merge" => {
            let other = p.value("other").map_err(|_| {
                ToolError::validation("operation merge needs the parameter \"other\"")
            })?;
            check_depth("other", other)?;
            let mut merged = input;
            match p.str_or("mode", "deep")? {
                "patch" => merge_patch(&mut merged, other),
                _ => deep_merge(&mut merged, other),
            }
            Ok(json!({"result": merged}))
        }
        other => Err(ToolError::validation(format!("unknown operation {other:?}"))),
    }
}

/// The value to work on: `input`, or `text` parsed.
fn input(p: &Params) -> Result<Value, ToolError> {
    match (p.get("input"), p.opt_str("text")?) {
        (Some(_), Some(_)) => {
            Err(ToolError::validation("give either \"input\" or \"text\", not both"))
        }
        (Some(v), None) => {
            check_depth("input", v)?;
            Ok(v.clone())
        }
        (None, Some(text)) => serde_json::from_str(text).map_err(|e| {
            ToolError::validation(format!(
                "parameter \"text\" is not valid JSON: {} at line {} column {}",
                strip_position(&e),
                e.line(),
                e.column()
            ))
        }),
        // A missing input is null, as `jq -n`; useful for queries that build values.
        (None, None) => Ok(Value::Null),
    }
}

/// serde_json's message without its trailing " at line L column C".
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn validate(p: &Params) -> Result<Value, ToolError> {
    let Some(text) = p.opt_str("text")? else {
        if p.has("input") {
            return Ok(json!({"valid": true}));
        }
        return Err(ToolError::validation("operation validate needs the parameter \"text\""));
    };
    Ok(match serde_json::from_str::<Value>(text) {
        Ok(v) => json!({"valid": true, "type": type_name(&v)}),
        Err(e) => json!({
            "valid": false,
            "error": strip_position(&e),
            "line": e.line(),
            "column": e.column(),
        }),
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn pretty(v: &Value, indent: usize) -> Result<String, ToolError> {
    use serde::Serialize;
    let spaces = " ".repeat(indent);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(spaces.as_bytes());
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    v.serialize(&mut ser).map_err(|e| ToolError::execution(format!("cannot format: {e}")))?;
    String::from_utf8(out).map_err(|e| ToolError::execution(format!("cannot format: {e}")))
}

fn get(p: &Params, input: &Value) -> Result<Value, ToolError> {
    let pointer = p
        .opt_str("pointer")?
        .ok_or_else(|| ToolError::validation("operation get needs the parameter \"pointer\""))?;
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(ToolError::validation(format!(
            "parameter \"pointer\": {pointer:?} is not a JSON pointer (it must be empty or \
             start with '/', e.g. /items/0)"
        )));
    }
    match input.pointer(pointer) {
        Some(v) => Ok(json!({"value": v, "type": type_name(v)})),
        None => Err(ToolError::not_found(format!("nothing at JSON pointer {pointer:?}"))),
    }
}

/// Objects merge key by key, recursively; anything else in `other` replaces.
fn deep_merge(target: &mut Value, other: &Value) {
    match (target, other) {
        (Value::Object(t), Value::Object(o)) => {
            for (k, v) in o {
                match t.get_mut(k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (target, other) => *target = other.clone(),
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

// ---- jq through jaq ----

/// The data jaq natives see: the lookup table, plus what the step counter needs.
struct Jq;

impl DataT for Jq {
    type V<'a> = Val;
    type Data<'a> = Run<'a>;
}

#[derive(Clone)]
struct Run<'a> {
    lut: &'a Lut<Jq>,
    cx: &'a Context,
    steps: &'a Cell<u64>,
    max_steps: u64,
}

impl<'a> HasLut<'a, Jq> for Run<'a> {
    fn lut(&self) -> &'a Lut<Jq> {
        self.lut
    }
}

/// What stopped the query inside jaq, told apart from the query's own errors.
const STOP_MARK: &str = "\u{0}llmspell-stop";

impl Run<'_> {
    /// Counts one generator step; fails once cancelled or past max_steps.
    fn tick(&self) -> Result<(), Exn<'static, Val>> {
        let n = self.steps.get() + 1;
        self.steps.set(n);
        if n > self.max_steps || (n.is_multiple_of(1024) && self.cx.is_cancelled()) {
            return Err(Exn::from(JqError::new(Val::from(STOP_MARK.to_owned()))));
        }
        Ok(())
    }
}

/// `range/3` with a step count (replaces jaq's own, which cannot be stopped).
fn range<'a>(mut cv: Cv<'a, Jq>) -> ValXs<'a, Val> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let by = cv.0.pop_var();
    let to = cv.0.pop_var();
    let from = cv.0.pop_var();
    let run = cv.0.data().clone();
    let direction = by.partial_cmp(&Val::from(0usize)).unwrap_or(Equal);
    let mut next: Option<Val> = Some(from);
    Box::new(std::iter::from_fn(move || {
        let x = next.take()?;
        let go_on = match direction {
            Greater => x < to,
            Less => x > to,
            Equal => x != to,
        };
        if !go_on {
            return None;
        }
        if let Err(e) = run.tick() {
            return Some(Err(e));
        }
        match x.clone() + by.clone() {
            Ok(n) => next = Some(n),
            Err(e) => return Some(Err(Exn::from(e))),
        }
        Some(Ok(x))
    }))
}

/// `__tick`: passes its input through, counting a step.
fn tick<'a>(cv: Cv<'a, Jq>) -> ValXs<'a, Val> {
    let out = cv.0.data().tick().map(|()| cv.1);
    Box::new(std::iter::once(out))
}

/// Definitions that replace jaq's unbounded generators with step-counted ones.
const BOUNDED_DEFS: &str = "
def repeat(f): def rec: __tick | (f, rec); rec;
def recurse(f): def rec: __tick | (., (f | rec)); rec;
def recurse(f; cond): recurse(f | select(cond));
def while(cond; update): def rec: __tick | if cond then ., (update | rec) else empty end; rec;
def until(cond; update): def rec: __tick | if cond then . else update | rec end; rec;
def combinations($n): [limit($n; repeat(.))] | combinations;
";

fn natives() -> Vec<Fun<Jq>> {
    let range: RunPtr<Jq> = range;
    let tick: RunPtr<Jq> = tick;
    let ours: Vec<Fun<Jq>> = vec![
        jaq_core::native::run::<Jq>(("range", v(3), range)),
        jaq_core::native::run::<Jq>(("__tick", v(0), tick)),
    ];
    jaq_core::funs::<Jq>()
        .chain(jaq_std::funs::<Jq>())
        .chain(jaq_json::funs::<Jq>())
        // `range` is replaced; `env` would hand out the process environment.
        .filter(|(name, _, _)| *name != "range" && *name != "env")
        .chain(ours)
        .collect()
}

/// jaq evaluates recursively and drops deep values recursively, so a query that builds a
/// value millions of levels deep (`reduce range(n) as $i (null; [.])`) needs a deep stack: it
/// runs on a thread with the first of these stack sizes the OS grants (only the part used is
/// ever committed). 4 GiB holds about 10 million levels.
const JQ_STACKS: [usize; 3] = [4 << 30, 1 << 30, 256 << 20];
/// Longest query accepted.
const MAX_QUERY_BYTES: usize = 64 * 1024;

fn query(p: &Params, cx: &Context, input: Value) -> Result<Value, ToolError> {
    let code = p.str_or("query", ".")?.to_owned();
    let max_results = p.u64_or("max_results", DEFAULT_MAX_RESULTS)?;
    let max_steps = p.u64_or("max_steps", DEFAULT_MAX_STEPS)?;
    let variables = p.opt_object("variables")?.cloned().unwrap_or_default();
    if code.len() > MAX_QUERY_BYTES {
        return Err(ToolError::validation(format!(
            "parameter \"query\" is longer than {MAX_QUERY_BYTES} bytes"
        )));
    }
    for name in variables.keys() {
        let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(ToolError::validation(format!(
                "parameter \"variables\": {name:?} is not a jq variable name (letters, digits, _)"
            )));
        }
    }
    let job = Job { code, input, variables, max_results, max_steps, cx: cx.clone() };
    // The job waits in a slot, so a refused spawn (too big a stack) leaves it for the next try.
    let slot = Arc::new(Mutex::new(Some(job)));
    let mut refused = None;
    for stack in JQ_STACKS {
        let slot = slot.clone();
        let spawned = std::thread::Builder::new()
            .name("json_processor jq".into())
            .stack_size(stack)
            .spawn(move || match slot.lock().ok().and_then(|mut job| job.take()) {
                Some(job) => job.run(),
                None => Err(ToolError::execution("the jq thread found no query to run")),
            });
        match spawned {
            Ok(worker) => {
                return worker
                    .join()
                    .unwrap_or_else(|_| Err(ToolError::execution("the jq evaluation crashed")));
            }
            Err(e) => refused = Some(e),
        }
    }
    Err(ToolError::execution(format!(
        "cannot start the jq thread: {}",
        refused.map(|e| e.to_string()).unwrap_or_default()
    )))
}

/// One query, run on its own thread (jaq's values are not Send; everything stays there).
struct Job {
    code: String,
    input: Value,
    variables: Map<String, Value>,
    max_results: u64,
    max_steps: u64,
    cx: Context,
}

impl Job {
    fn run(self) -> Result<Value, ToolError> {
        let Job { code, input, variables, max_results, max_steps, cx } = self;
        let code = code.as_str();
        let var_names: Vec<String> = variables.keys().map(|k| format!("${k}")).collect();
        let bounded = jaq_core::load::parse(BOUNDED_DEFS, |p| p.defs())
            .ok_or_else(|| ToolError::execution("json_processor: its jq prelude does not parse"))?;
        let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs()).chain(bounded);
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules =
            loader.load(&arena, File { code, path: () }).map_err(|errs| load_error(code, errs))?;
        refuse_recursion(code)?;
        let filter = Compiler::default()
            .with_funs(natives())
            .with_global_vars(var_names.iter().map(String::as_str))
            .compile(modules)
            .map_err(|errs| compile_error(code, errs))?;

        let to_val = |v: &Value| {
            Val::deserialize(v).map_err(|e| ToolError::validation(format!("input: {e}")))
        };
        let input = to_val(&input)?;
        let vars = variables.values().map(to_val).collect::<Result<Vec<_>, _>>()?;
        let steps = Cell::new(0);
        let run = Run { lut: &filter.lut, cx: &cx, steps: &steps, max_steps };
        let ctx = Ctx::<Jq>::new(run, Vars::new(vars));

        let mut results = Vec::new();
        let mut truncated = false;
        for out in filter.id.run((ctx, input)) {
            cx.check()?;
            if results.len() as u64 >= max_results {
                truncated = true;
                break;
            }
            match out {
                Ok(v) => results.push(to_json(&v, 0)?),
                Err(exn) => return Err(runtime_error(exn, &cx, max_steps, steps.get())),
            }
        }
        let count = results.len();
        Ok(json!({"results": results, "count": count, "truncated": truncated}))
    }
}

/// Recursive definitions can recurse without end, and nothing inside jaq could stop them
/// (nor the stack overflow they end in): they are refused. Generators (recurse, while,
/// until, repeat, range) and reduce/foreach cover what recursion is used for in jq.
fn refuse_recursion(code: &str) -> Result<(), ToolError> {
    let Some(term) = jaq_core::load::parse(code, |p| p.term()) else {
        return Err(ToolError::validation(
            "parameter \"query\": module directives (module, import, include) are not supported",
        ));
    };
    let mut defs: Vec<(&str, Vec<&str>)> = Vec::new();
    let mut top = Vec::new();
    collect_calls(&term, &mut top, &mut defs);
    let mut callees: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, calls) in &defs {
        callees.entry(name).or_default().extend(calls.iter().copied());
    }
    // A definition reaching itself through the calls of user definitions is recursive.
    for start in callees.keys() {
        let mut seen: Vec<&str> = Vec::new();
        let mut todo: Vec<&str> = callees[start].clone();
        while let Some(name) = todo.pop() {
            if name == *start {
                return Err(ToolError::validation(format!(
                    "parameter \"query\": the definition {start:?} is recursive; recursive \
                     definitions are refused because they cannot be bounded (use recurse, \
                     while, until, repeat or reduce)"
                )));
            }
            if !seen.contains(&name) {
                seen.push(name);
                if let Some(next) = callees.get(name) {
                    todo.extend(next.iter().copied());
                }
            }
        }
    }
    Ok(())
}

/// Every filter called in `t` goes to `calls`; every definition, with the calls of its body
/// (nested ones included), to `defs`.
fn collect_calls<'s>(
    t: &jaq_core::load::parse::Term<&'s str>,
    calls: &mut Vec<&'s str>,
    defs: &mut Vec<(&'s str, Vec<&'s str>)>,
) {
    use jaq_core::load::lex::StrPart;
    use jaq_core::load::parse::{BinaryOp, Pattern, Term};
    use jaq_core::path::Part;
    fn pattern<'s>(
        p: &Pattern<&'s str>,
        calls: &mut Vec<&'s str>,
        defs: &mut Vec<(&'s str, Vec<&'s str>)>,
    ) {
        match p {
            Pattern::Var(_) => {}
            Pattern::Arr(items) => items.iter().for_each(|x| pattern(x, calls, defs)),
            Pattern::Obj(items) => {
                for (k, v) in items {
                    collect_calls(k, calls, defs);
                    pattern(v, calls, defs);
                }
            }
        }
    }
    let mut walk = |x: &Term<&'s str>| collect_calls(x, calls, defs);
    match t {
        Term::Id | Term::Recurse | Term::Num(_) | Term::Break(_) | Term::Var(_) => {}
        Term::Arr(None) => {}
        Term::Str(_, parts) => {
            for part in parts {
                if let StrPart::Term(x) = part {
                    walk(x);
                }
            }
        }
        Term::Arr(Some(x)) | Term::Neg(x) | Term::Label(_, x) => walk(x),
        Term::Obj(items) => {
            for (k, v) in items {
                walk(k);
                if let Some(v) = v {
                    walk(v);
                }
            }
        }
        Term::BinOp(l, op, r) => {
            walk(l);
            walk(r);
            if let BinaryOp::Pipe(Some(p)) = op {
                pattern(p, calls, defs);
            }
        }
        Term::Fold(_, x, p, xs) => {
            walk(x);
            xs.iter().for_each(&mut walk);
            pattern(p, calls, defs);
        }
        Term::TryCatch(x, c) => {
            walk(x);
            if let Some(c) = c {
                walk(c);
            }
        }
        Term::IfThenElse(branches, otherwise) => {
            for (c, x) in branches {
                walk(c);
                walk(x);
            }
            if let Some(x) = otherwise {
                walk(x);
            }
        }
        Term::Def(ds, rest) => {
            for d in ds {
                let mut inner = Vec::new();
                collect_calls(&d.body, &mut inner, defs);
                calls.extend(inner.iter().copied());
                defs.push((d.name, inner));
            }
            collect_calls(rest, calls, defs);
        }
        Term::Call(name, args) => {
            calls.push(name);
            for a in args {
                collect_calls(a, calls, defs);
            }
        }
        Term::Path(x, path) => {
            walk(x);
            for (part, _) in &path.0 {
                match part {
                    Part::Index(i) => walk(i),
                    Part::Range(a, b) => {
                        if let Some(a) = a {
                            walk(a);
                        }
                        if let Some(b) = b {
                            walk(b);
                        }
                    }
                }
            }
        }
    }
}

fn runtime_error(exn: Exn<'_, Val>, cx: &Context, max_steps: u64, steps: u64) -> ToolError {
    match exn.get_err() {
        Ok(e) => {
            let is_stop =
                matches!(e.clone().into_val(), Val::TStr(ref s) if s[..] == *STOP_MARK.as_bytes());
            if is_stop {
                if cx.is_cancelled() {
                    return cx.timed_out();
                }
                return ToolError::execution(format!(
                    "the query ran more than max_steps ({max_steps}) generator steps ({steps})"
                ));
            }
            ToolError::execution(format!("jq error: {e}"))
        }
        Err(exn) => match exn.get_halt() {
            Ok(code) => ToolError::execution(format!("the query called halt (exit code {code})")),
            Err(_) => ToolError::execution("the query stopped with an internal jq exception"),
        },
    }
}

/// Where `part` (a slice of `whole`) starts, as "line L column C", if it is one.
fn position(whole: &str, part: &str) -> String {
    let start = (part.as_ptr() as usize).checked_sub(whole.as_ptr() as usize);
    match start {
        Some(s) if s + part.len() <= whole.len() => {
            let (line, col) = line_col(whole, s);
            format!("line {line} column {col}")
        }
        _ => "the jq prelude".to_owned(),
    }
}

fn load_error(code: &str, errs: jaq_core::load::Errors<&str, ()>) -> ToolError {
    use jaq_core::load::{Error, lex};
    let mut problems = Vec::new();
    for (_file, err) in errs {
        match err {
            Error::Io(items) => {
                for (path, why) in items {
                    problems.push(format!("cannot import {path:?}: {why}"));
                }
            }
            Error::Lex(items) => {
                for (expect, at) in items {
                    let what = match expect {
                        lex::Expect::Delim(open) => match open.chars().next() {
                            Some('(') => "closing parenthesis",
                            Some('[') => "closing bracket",
                            Some('{') => "closing brace",
                            _ => "closing quote",
                        },
                        other => other.as_str(),
                    };
                    problems.push(format!("expected {what} at {}", position(code, at)));
                }
            }
            Error::Parse(items) => {
                for (expect, found) in items {
                    let what = if found.is_empty() {
                        "the end of the query".to_owned()
                    } else {
                        format!("{found:?}")
                    };
                    problems.push(format!(
                        "expected {} but found {what} at {}",
                        expect.as_str(),
                        position(code, found)
                    ));
                }
            }
        }
    }
    ToolError::validation(format!("parameter \"query\" does not parse: {}", problems.join("; ")))
}

fn compile_error(code: &str, errs: jaq_core::compile::Errors<&str, ()>) -> ToolError {
    let mut problems = Vec::new();
    for (_file, items) in errs {
        for (name, undefined) in items {
            problems.push(format!(
                "undefined {} {name:?} at {}",
                undefined.as_str(),
                position(code, name)
            ));
        }
    }
    ToolError::validation(format!("parameter \"query\" does not compile: {}", problems.join("; ")))
}

/// jaq's value as JSON: byte strings become text (lossily), non-string keys their JSON text,
/// NaN and infinities null.
fn to_json(v: &Val, depth: usize) -> Result<Value, ToolError> {
    if depth > MAX_DEPTH {
        return Err(ToolError::execution(format!(
            "a query result is nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num_to_json(n),
        Val::BStr(b) | Val::TStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(items) => {
            Value::Array(items.iter().map(|x| to_json(x, depth + 1)).collect::<Result<_, _>>()?)
        }
        Val::Obj(map) => {
            let mut out = Map::new();
            for (k, x) in map.iter() {
                let key = match k {
                    Val::TStr(s) | Val::BStr(s) => String::from_utf8_lossy(s).into_owned(),
                    other => other.to_string(),
                };
                out.insert(key, to_json(x, depth + 1)?);
            }
            Value::Object(out)
        }
    })
}

fn num_to_json(n: &Num) -> Value {
    let float = |f: f64| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    match n {
        Num::Int(i) => json!(*i as i64),
        Num::BigInt(b) => {
            let text = b.to_string();
            text.parse::<serde_json::Number>()
                .map(Value::Number)
                .unwrap_or_else(|_| float(text.parse().unwrap_or(f64::NAN)))
        }
        Num::Float(f) => float(*f),
        Num::Dec(d) => d
            .parse::<serde_json::Number>()
            .map(Value::Number)
            .unwrap_or_else(|_| float(d.parse().unwrap_or(f64::NAN))),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::test_util::{assert_err, stops_when_cancelled, temp_registry};
    use crate::error::ErrorType;

    fn q(query: &str, input: serde_json::Value) -> serde_json::Value {
        let (_d, r) = temp_registry();
        r.invoke("json_processor", json!({"query": query, "input": input}), None).unwrap()
    }

    #[test]
    fn queries_return_every_result() {
        let input = json!({"items": [{"n": "a", "v": 1}, {"n": "b", "v": 2}, {"n": "c", "v": 3}]});
        let out = q(".items[] | select(.v >= 2) | .n", input.clone());
        assert_eq!(out, json!({"results": ["b", "c"], "count": 2, "truncated": false}));
        let out = q("[.items[].v] | add / length", input.clone());
        assert_eq!(out["results"], json!([2.0]));
        let out = q(".items | map({(.n): .v}) | add | keys", input.clone());
        assert_eq!(out["results"], json!([["a", "b", "c"]]));
        let out = q("[.items[] | .n | ascii_upcase] | join(\"-\")", input.clone());
        assert_eq!(out["results"], json!(["A-B-C"]));
        let out = q(".items | group_by(.v > 1) | map(length)", input.clone());
        assert_eq!(out["results"], json!([[1, 2]]));
        let out = q("[.items[] | .n | test(\"[ab]\")]", input.clone());
        assert_eq!(out["results"], json!([[true, true, false]]));
        let out = q(".missing, .items[0].n", input);
        assert_eq!(out["results"], json!([null, "a"]));
        // No input is null, like `jq -n`.
        let (_d, r) = temp_registry();
        let out = r.invoke("json_processor", json!({"query": "[range(3)]"}), None).unwrap();
        assert_eq!(out["results"], json!([[0, 1, 2]]));
        let out = r.invoke("json_processor", json!({"query": "[limit(3; repeat(1))]"}), None);
        assert_eq!(out.unwrap()["results"], json!([[1, 1, 1]]));
        let out = r.invoke(
            "json_processor",
            json!({"query": "[.[] | tostring]", "text": "[1, 1.5, \"x\"]"}),
            None,
        );
        assert_eq!(out.unwrap()["results"], json!([["1", "1.5", "x"]]));
        let query = "[0 | until(. > 4; . + 2)], [1 | while(. < 9; . * 3)], \
                     [2 | recurse(if . < 4 then . + 1 else empty end)]";
        let out = r.invoke("json_processor", json!({ "query": query }), None);
        assert_eq!(out.unwrap()["results"], json!([[6], [1, 3], [2, 3, 4]]));
    }

    #[test]
    fn variables_are_bound_in_order() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "json_processor",
                json!({"query": "[$a, $b, $c.x]",
                       "variables": {"a": 1, "b": "two", "c": {"x": [3]}}}),
                None,
            )
            .unwrap();
        assert_eq!(out["results"], json!([[1, "two", [3]]]));
        let e = r.invoke("json_processor", json!({"query": "$a", "variables": {"a-b": 1}}), None);
        assert_err(e, ErrorType::Validation, &["variables", "a-b"]);
        let e = r.invoke("json_processor", json!({"query": "$nope"}), None);
        assert_err(e, ErrorType::Validation, &["undefined variable", "$nope", "line 1 column 1"]);
    }

    #[test]
    fn results_are_capped() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke("json_processor", json!({"query": "range(10)", "max_results": 3}), None)
            .unwrap();
        assert_eq!(out, json!({"results": [0, 1, 2], "count": 3, "truncated": true}));
        // An endless generator stops at the cap too.
        let out = r
            .invoke("json_processor", json!({"query": "repeat(7)", "max_results": 2}), None)
            .unwrap();
        assert_eq!(out["results"], json!([7, 7]));
    }

    #[test]
    fn compile_and_parse_errors_are_validation_naming_the_problem() {
        let (_d, r) = temp_registry();
        let e = r.invoke("json_processor", json!({"query": ".a |\n  frobnicate(1)"}), None);
        assert_err(
            e,
            ErrorType::Validation,
            &["undefined filter", "frobnicate", "line 2 column 3"],
        );
        let e = r.invoke("json_processor", json!({"query": ".a | "}), None);
        assert_err(e, ErrorType::Validation, &["does not parse", "end of the query"]);
        let e = r.invoke("json_processor", json!({"query": "[1, 2"}), None);
        assert_err(e, ErrorType::Validation, &["does not parse", "closing bracket"]);
        let e = r.invoke("json_processor", json!({"query": "\"abc"}), None);
        assert_err(e, ErrorType::Validation, &["closing quote"]);
        let e = r.invoke("json_processor", json!({"query": "if . then 1"}), None);
        assert_err(e, ErrorType::Validation, &["else or end"]);
        // The process environment is not handed out.
        let e = r.invoke("json_processor", json!({"query": "env"}), None);
        assert_err(e, ErrorType::Validation, &["undefined filter", "env"]);
    }

    #[test]
    fn runtime_errors_are_execution() {
        let (_d, r) = temp_registry();
        let e = r.invoke("json_processor", json!({"query": ".a + 1", "input": {"a": "x"}}), None);
        assert_err(e, ErrorType::Execution, &["jq error", "cannot"]);
        let e = r.invoke("json_processor", json!({"query": "error(\"boom\")"}), None);
        assert_err(e, ErrorType::Execution, &["boom"]);
        let e = r.invoke("json_processor", json!({"query": "halt"}), None);
        assert_err(e, ErrorType::Execution, &["halt"]);
        let out = r
            .invoke("json_processor", json!({"query": "try error(\"x\") catch \"caught\""}), None)
            .unwrap();
        assert_eq!(out["results"], json!(["caught"]));
        let e =
            r.invoke("json_processor", json!({"query": "reduce range(600) as $i (0; [.])"}), None);
        assert_err(e, ErrorType::Execution, &["nested more than 512"]);
    }

    #[test]
    fn runaway_generators_hit_max_steps() {
        let (_d, r) = temp_registry();
        let started = Instant::now();
        for query in [
            "[range(1e9)] | length",
            "last(repeat(1))",
            "0 | until(. < 0; . + 1)",
            "[0 | while(true; .)] | length",
            "last(range(0; 10; 0))",
            "last(1 | recurse(. + 1))",
        ] {
            let e = r.invoke("json_processor", json!({"query": query, "max_steps": 10000}), None);
            assert_err(e, ErrorType::Execution, &["max_steps (10000)"]);
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn recursion_and_depth_cannot_crash_the_process() {
        let (_d, r) = temp_registry();
        for query in [
            "def f: 1 + f; f",
            "def f: f; f",
            "def f: def g: f; g; f",
            "def a: b; def b: a; a",
            "def f(x): x | f(x); f(.)",
        ] {
            let e = r.invoke("json_processor", json!({"query": query}), None);
            assert_err(e, ErrorType::Validation, &["is recursive", "recurse"]);
        }
        // Non-recursive definitions, also ones that shadow or take filters, are fine.
        let out = r
            .invoke(
                "json_processor",
                json!({"query": "def inc(f): f + 1; def two: 2; [inc(two), inc(inc(.))]",
                       "input": 0}),
                None,
            )
            .unwrap();
        assert_eq!(out["results"], json!([[3, 2]]));
        // A deeply nested query or a value built a million levels deep are handled on the
        // jq thread's deep stack instead of overflowing it.
        let nested = format!("{}1{}", "[".repeat(3000), "]".repeat(3000));
        let e = r.invoke("json_processor", json!({ "query": nested }), None);
        assert_err(e, ErrorType::Execution, &["nested more than 512"]);
        let out = r
            .invoke(
                "json_processor",
                json!({"query": "reduce range(1000000) as $i (null; [.]) | length",
                       "max_steps": 2_000_000}),
                None,
            )
            .unwrap();
        assert_eq!(out["results"], json!([1]));
        let e = r.invoke(
            "json_processor",
            json!({"query": "[combinations(100000000)] | length", "max_steps": 1000}),
            None,
        );
        assert_err(e, ErrorType::Execution, &["max_steps"]);
        let e = r.invoke("json_processor", json!({"query": "import \"m\" as m; ."}), None);
        assert_err(e, ErrorType::Validation, &["module loading not supported"]);
        let e = r.invoke("json_processor", json!({"query": "1", "max_steps": 10_000_001}), None);
        assert_err(e, ErrorType::Validation, &["/max_steps", "maximum"]);
    }

    #[test]
    fn a_timeout_stops_the_query() {
        let (_d, r) = temp_registry();
        let params = json!({"query": "last(range(1e15))", "max_steps": 10_000_000});
        let e = r.invoke("json_processor", params.clone(), Some(Duration::from_millis(200)));
        assert_err(e, ErrorType::Timeout, &["timeout"]);
        let e = stops_when_cancelled(&r, "json_processor", params);
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
        let e = stops_when_cancelled(
            &r,
            "json_processor",
            json!({"query": "[repeat(1)] | length", "max_steps": 10_000_000}),
        );
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
    }

    #[test]
    fn validate_pretty_and_minify() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "json_processor",
                json!({"operation": "validate", "text": "[1, {\"a\": null}]"}),
                None,
            )
            .unwrap();
        assert_eq!(out, json!({"valid": true, "type": "array"}));
        let out = r
            .invoke("json_processor", json!({"operation": "validate", "text": "[1,\n2,,3]"}), None)
            .unwrap();
        assert_eq!(out["valid"], false);
        assert_eq!(out["line"], 2);
        assert!(out["error"].as_str().unwrap().contains("expected"), "{out}");
        let e = r.invoke("json_processor", json!({"operation": "validate"}), None);
        assert_err(e, ErrorType::Validation, &["text"]);
        let out = r
            .invoke("json_processor", json!({"operation": "pretty", "text": "{\"a\":[1,2]}"}), None)
            .unwrap();
        assert_eq!(out["result"], "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
        let out = r
            .invoke(
                "json_processor",
                json!({"operation": "pretty", "input": {"a": 1}, "indent": 4}),
                None,
            )
            .unwrap();
        assert_eq!(out["result"], "{\n    \"a\": 1\n}");
        let out = r
            .invoke(
                "json_processor",
                json!({"operation": "minify", "text": "{ \"b\" : 1,\n \"a\" : [ ] }"}),
                None,
            )
            .unwrap();
        assert_eq!(out["result"], "{\"b\":1,\"a\":[]}");
        let e = r.invoke("json_processor", json!({"operation": "minify", "text": "{oops"}), None);
        assert_err(e, ErrorType::Validation, &["\"text\" is not valid JSON", "line 1 column 2"]);
        let e = r.invoke(
            "json_processor",
            json!({"operation": "minify", "text": "1", "input": 1}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["not both"]);
    }

    #[test]
    fn get_by_pointer() {
        let (_d, r) = temp_registry();
        let input = json!({"a": {"b/c": [1, {"d": true}]}, "e~f": 2});
        let get = |pointer: &str| {
            r.invoke(
                "json_processor",
                json!({"operation": "get", "input": input, "pointer": pointer}),
                None,
            )
        };
        assert_eq!(get("/a/b~1c/1/d").unwrap(), json!({"value": true, "type": "boolean"}));
        assert_eq!(get("/e~0f").unwrap()["value"], 2);
        assert_eq!(get("").unwrap()["value"], input);
        assert_err(get("/a/zz"), ErrorType::NotFound, &["/a/zz"]);
        assert_err(get("a/b"), ErrorType::Validation, &["pointer", "start with '/'"]);
        let e = r.invoke("json_processor", json!({"operation": "get", "input": 1}), None);
        assert_err(e, ErrorType::Validation, &["pointer"]);
    }

    #[test]
    fn merge_deep_and_patch() {
        let (_d, r) = temp_registry();
        let input = json!({"a": {"x": 1, "y": [1, 2]}, "b": 1, "n": 5});
        let other = json!({"a": {"y": [3], "z": {"k": 1}}, "b": {"nested": true}, "n": null});
        let out = r
            .invoke(
                "json_processor",
                json!({"operation": "merge", "input": input, "other": other}),
                None,
            )
            .unwrap();
        assert_eq!(
            out["result"],
            json!({"a": {"x": 1, "y": [3], "z": {"k": 1}}, "b": {"nested": true}, "n": null})
        );
        let out = r
            .invoke(
                "json_processor",
                json!({"operation": "merge", "input": input, "other": other, "mode": "patch"}),
                None,
            )
            .unwrap();
        assert_eq!(
            out["result"],
            json!({"a": {"x": 1, "y": [3], "z": {"k": 1}}, "b": {"nested": true}})
        );
        let mut deep = json!(0);
        for _ in 0..200 {
            deep = json!({ "a": deep });
        }
        let e = r.invoke(
            "json_processor",
            json!({"operation": "merge", "input": {}, "other": deep.clone()}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["\"other\" is nested more than 128"]);
        let e = r.invoke("json_processor", json!({"operation": "pretty", "input": deep}), None);
        assert_err(e, ErrorType::Validation, &["\"input\" is nested"]);
        let e = r.invoke("json_processor", json!({"operation": "merge", "input": {}}), None);
        assert_err(e, ErrorType::Validation, &["other"]);
        let e = r.invoke(
            "json_processor",
            json!({"operation": "merge", "input": {}, "other": {}, "mode": "x"}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["/mode", "enum"]);
        let e = r.invoke("json_processor", json!({"operation": "sort"}), None);
        assert_err(e, ErrorType::Validation, &["/operation", "enum"]);
    }
}

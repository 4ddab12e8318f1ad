//! The registry: every built-in tool by name, with its schema compiled on first use.
//!
//! `invoke` validates the parameters against the schema, then runs the tool on a worker thread
//! and waits at most the timeout. When the wait ends first, the tool's cancel flag is set and a
//! `timeout` error returned; the tool stops at its next [`Context::check`], at the end of the
//! I/O it bounded by [`Context::remaining`], or by killing its child process.
//! [`Registry::invoke_with`] also watches a caller's stop flag (the Lua engine's interrupt) and
//! cancels the tool the same way when it is set.
//!
//! Workers come from a pool owned by the registry (see [`Pool`]): a call hands its job to an
//! idle worker, or starts a new one when none is idle, so a tool that is stuck (or slow to
//! notice its cancel flag) holds only its own worker and never delays other calls. Workers idle
//! for [`WORKER_IDLE_EXIT`] end; all end when the registry is dropped.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
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
    pool: Pool,
}

/// How long a pool worker waits for work before it ends.
pub const WORKER_IDLE_EXIT: Duration = Duration::from_secs(60);

/// Stack of a tool worker. A stack overflow aborts the whole process (it is not a panic), so
/// tools that recurse over their input (parsers, JSON walkers) get room well beyond the 2 MiB
/// default; only the pages a tool touches are ever committed.
pub const WORKER_STACK: usize = 64 << 20;

/// How often a waiting [`Registry::invoke_with`] looks at the caller's stop flag.
pub const STOP_POLL: Duration = Duration::from_millis(10);

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Reusable tool threads. `idle` counts workers waiting for a job that nobody has claimed yet:
/// a caller claims one by decrementing it and then sends its job, and when it is zero the caller
/// starts a new worker that runs the job at once. So every job has a worker as soon as it is
/// submitted, however many tools are stuck. Invariant: workers waiting in `recv` = `idle` + jobs
/// in the channel; a worker leaves (idle timeout) only by decrementing `idle`, and when that
/// fails (a caller claimed it meanwhile) it waits for the job that caller is sending.
struct Pool {
    tx: Sender<Job>,
    rx: Receiver<Job>,
    idle: Arc<AtomicUsize>,
    spawned: Arc<AtomicUsize>,
}

impl Pool {
    fn new() -> Pool {
        let (tx, rx) = crossbeam_channel::unbounded();
        Pool { tx, rx, idle: Arc::default(), spawned: Arc::default() }
    }

    /// Runs `job` on an idle worker, or on a new one when none is idle.
    fn submit(&self, job: Job) -> std::io::Result<()> {
        let mut n = self.idle.load(Ordering::Acquire);
        while n > 0 {
            match self.idle.compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    // A claimed worker is waiting, and the receiver lives as long as `self`.
                    let _ = self.tx.send(job);
                    return Ok(());
                }
                Err(now) => n = now,
            }
        }
        let (rx, idle) = (self.rx.clone(), self.idle.clone());
        let number = self.spawned.fetch_add(1, Ordering::Relaxed);
        std::thread::Builder::new()
            .name(format!("tool-worker-{number}"))
            .stack_size(WORKER_STACK)
            .spawn(move || worker(job, &rx, &idle))
            .map(|_| ())
    }
}

fn worker(first: Job, rx: &Receiver<Job>, idle: &AtomicUsize) {
    first();
    loop {
        idle.fetch_add(1, Ordering::AcqRel);
        let job = match rx.recv_timeout(WORKER_IDLE_EXIT) {
            Ok(job) => job,
            Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                let mut n = idle.load(Ordering::Acquire);
                loop {
                    if n == 0 {
                        // A caller claimed this worker after the timeout: take its job.
                        match rx.recv() {
                            Ok(job) => break job,
                            Err(_) => return,
                        }
                    }
                    match idle.compare_exchange_weak(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
                    {
                        Ok(_) => return,
                        Err(now) => n = now,
                    }
                }
            }
        };
        job();
    }
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
        Registry { entries, policy: Arc::new(policy), pool: Pool::new() }
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
        static NEVER: AtomicBool = AtomicBool::new(false);
        self.invoke_with(name, params, timeout, &NEVER)
    }

    /// Like [`invoke`](Registry::invoke), and also gives up as soon as `stop` is set (checked
    /// every [`STOP_POLL`]): the tool is cancelled as on a timeout and the call fails with an
    /// `execution` error saying it was interrupted. A `stop` already set fails before the tool
    /// starts.
    pub fn invoke_with(
        &self,
        name: &str,
        params: Value,
        timeout: Option<Duration>,
        stop: &AtomicBool,
    ) -> Result<Value, ToolError> {
        let entry = self.entry(name)?;
        let params = self.validate_entry(entry, params)?;
        if stop.load(Ordering::Relaxed) {
            return Err(interrupted(name));
        }
        let timeout = timeout.unwrap_or(self.policy.default_timeout());
        let cx = Context::new(self.policy.clone(), timeout);
        let deadline = cx.deadline();
        let cancel = cx.cancel_flag();
        let run = entry.def.run;
        let (tx, rx) = crossbeam_channel::bounded(1);
        let job: Job = Box::new(move || {
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&params, &cx)));
            let _ = tx.send(outcome);
        });
        if let Err(e) = self.pool.submit(job) {
            return Err(ToolError::execution(format!("{name}: cannot start a thread: {e}")));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(STOP_POLL)) {
                Ok(Ok(result)) => return result,
                Ok(Err(panic)) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown panic".into());
                    return Err(ToolError::execution(format!("{name}: the tool crashed: {what}")));
                }
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(interrupted(name));
                }
                Err(RecvTimeoutError::Timeout) if left <= STOP_POLL => {
                    cancel.store(true, Ordering::Relaxed);
                    return Err(ToolError::timeout(format!(
                        "{name}: stopped after the {:.3} s timeout",
                        timeout.as_secs_f64()
                    )));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ToolError::execution(format!(
                        "{name}: the tool thread ended without a result"
                    )));
                }
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

fn interrupted(name: &str) -> ToolError {
    ToolError::execution(format!("{name}: interrupted; the tool was cancelled"))
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
    use std::collections::HashSet;
    use std::sync::Mutex;

    use super::*;
    use crate::{ErrorType, Example};

    /// The `id`s of spinner calls that saw their cancel flag and stopped.
    static STOPPED: Mutex<Option<HashSet<String>>> = Mutex::new(None);

    fn spin(p: &Params, cx: &Context) -> Result<Value, ToolError> {
        let id = p.opt_str("id")?.unwrap_or("").to_owned();
        loop {
            if let Err(e) = cx.check() {
                STOPPED.lock().unwrap().get_or_insert_default().insert(id);
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn wait_stopped(id: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !STOPPED.lock().unwrap().as_ref().is_some_and(|s| s.contains(id)) {
            assert!(Instant::now() < deadline, "spinner {id} kept running after it was cancelled");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Ignores its cancel flag: holds its worker for `ms` milliseconds whatever happens.
    fn stuck(p: &Params, _: &Context) -> Result<Value, ToolError> {
        std::thread::sleep(Duration::from_millis(p.opt_f64("ms")?.unwrap_or(1000.0) as u64));
        Ok(json!({}))
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
        let stuck = ToolDef {
            name: "stuck",
            category: "test",
            description: "Sleeps and ignores its cancel flag",
            schema: json!({"type": "object"}),
            examples: vec![],
            run: stuck,
        };
        Registry::with_tools(vec![spinner, adder, stuck], Policy::new(std::env::temp_dir()))
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
        let e = registry()
            .invoke("spinner", json!({"id": "timeout"}), Some(Duration::from_millis(50)))
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(e.message.contains("0.050 s timeout"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        wait_stopped("timeout");
    }

    #[test]
    fn a_stop_flag_cancels_the_tool() {
        let r = registry();
        let stop = Arc::new(AtomicBool::new(false));
        let setter = stop.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            setter.store(true, Ordering::SeqCst);
            Instant::now()
        });
        let e = r.invoke_with("spinner", json!({"id": "stop"}), None, &stop).unwrap_err();
        let took = t.join().unwrap().elapsed();
        assert_eq!(e.error_type, ErrorType::Execution);
        assert!(e.message.contains("interrupted"), "{e}");
        assert!(took < Duration::from_secs(1), "noticed the stop flag after {took:?}");
        wait_stopped("stop");
        // Already set: the tool does not start; validation still comes first.
        let e = r.invoke_with("adder", json!({"a": 1}), None, &stop).unwrap_err();
        assert!(e.message.contains("interrupted"), "{e}");
        let e = r.invoke_with("adder", json!({}), None, &stop).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Validation);
    }

    #[test]
    fn workers_are_reused() {
        let r = registry();
        for i in 0..200 {
            assert_eq!(r.invoke("adder", json!({"a": i}), None).unwrap()["sum"], json!(i as f64));
        }
        let spawned = r.pool.spawned.load(Ordering::Relaxed);
        assert!(spawned < 20, "{spawned} workers for 200 sequential calls");
    }

    #[test]
    fn a_stuck_tool_does_not_starve_the_pool() {
        let r = registry();
        for _ in 0..4 {
            let e = r
                .invoke("stuck", json!({"ms": 3000}), Some(Duration::from_millis(20)))
                .unwrap_err();
            assert_eq!(e.error_type, ErrorType::Timeout);
        }
        let started = Instant::now();
        assert_eq!(r.invoke("adder", json!({"a": 1}), None).unwrap(), json!({"sum": 1.0}));
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }

    #[test]
    fn concurrent_calls_all_answer() {
        let r = Arc::new(registry());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let got = r.invoke("adder", json!({"a": t, "b": i}), None).unwrap();
                        assert_eq!(got["sum"], json!((t + i) as f64));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
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

//! The `Provider`, `Agent` and `Workflow` globals without a network: configuration errors,
//! builder checks, and every workflow kind with function and tool steps (parallel overlap
//! judged from the tools' recorded start and end). Requests to real fake servers are tested
//! in llmspell-llm (tests/http.rs) and through the kernel (tests/python/test_agents.py).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmspell_llm::Providers;
use llmspell_tools::{Context, Params, Policy, Registry, ToolDef, ToolError};
use serde_json::{Value, json};

use crate::Engine;
use crate::testutil::{engine, error, value};

/// (tag, start, end) of every nap.
static NAPS: Mutex<Vec<(String, Instant, Instant)>> = Mutex::new(Vec::new());

fn nap(p: &Params, _: &Context) -> Result<Value, ToolError> {
    let tag = p.str("tag")?.to_string();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    NAPS.lock().unwrap().push((tag.clone(), start, Instant::now()));
    Ok(json!({"tag": tag}))
}

fn double(p: &Params, _: &Context) -> Result<Value, ToolError> {
    let n = p.as_map().get("n").and_then(Value::as_i64).ok_or(ToolError::validation("no n"))?;
    Ok(json!({"n": n * 2}))
}

fn with_tools() -> Engine {
    let def = |name, run| ToolDef {
        name,
        category: "test",
        description: "test tool",
        schema: json!({"type": "object"}),
        examples: vec![],
        run,
    };
    let registry =
        Registry::with_tools(vec![def("nap", nap), def("double", double)], Policy::new("/".into()));
    let (mut e, _) = engine();
    e.attach_tools(Arc::new(registry));
    e
}

#[test]
fn without_providers_agents_say_what_to_configure() {
    let (mut e, _) = engine();
    assert_eq!(value(&mut e, "#Provider.list()"), Some("0".into()));
    let i = e.inspect("Agent.builder", 9, 0).unwrap();
    assert!(i.text_plain.starts_with("Agent.builder() -> builder"), "{i:?}");
    let i = e.inspect("Workflow", 4, 0).unwrap();
    assert!(i.text_plain.contains(":parallel()"), "{i:?}");
    // A statement: as a bare expression the call would be a tail call, whose caller Lua no
    // longer knows (so no position, as with Lua's own `error`).
    let err = error(&mut e, "local a = Agent.builder():name('a'):build()");
    assert_eq!(
        err.evalue,
        "cell-1:1: Agent.builder():build: no LLM provider configured: add a [providers.NAME] \
         table (kind, base_url, model, api_key_env) to config.toml in $LLMSPELL_HOME"
    );
}

#[test]
fn provider_list_and_request_errors_never_show_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "sk-unit-secret\n").unwrap();
    let text = "[providers.dead]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
                api_key_file = \"k\"\nmax_retries = 0\nmodel = \"m\"\n\
                [providers.nomodel]\nkind = \"anthropic\"\n";
    let providers = Providers::parse(text, dir.path()).unwrap();
    let (mut e, _) = engine();
    e.attach_providers(Arc::new(providers));
    let listed = value(&mut e, "JSON.encode(Provider.list())").unwrap();
    assert!(listed.contains("\\\"key_set\\\":true") && !listed.contains("sk-unit"), "{listed}");
    let err = error(&mut e, "a = Agent.builder():provider('dead'):build()\na:execute('hi')");
    assert!(
        err.evalue.starts_with("cell-1:2: agent agent: provider dead: cannot reach"),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("sk-unit"));
    let err = error(&mut e, "Agent.builder():provider('nomodel'):build():execute('hi')");
    assert!(err.evalue.contains("set providers.nomodel.model in config.toml"), "{err:?}");
    let err = error(&mut e, "Agent.builder():build()");
    assert!(err.evalue.contains("several providers are configured (dead, nomodel)"), "{err:?}");
}

#[test]
fn builders_check_their_arguments() {
    let mut e = with_tools();
    let cases = [
        ("Agent.builder():temperature(5)", "temperature: expects a number from 0 to 2"),
        ("Agent.builder():max_tokens(1.5)", "max_tokens: expects a positive integer"),
        ("Agent.builder():allow_tool('nope')", "no tool \"nope\""),
        ("Agent.builder():type('rule')", "only \"llm\" agents exist"),
        ("Workflow.builder():build()", "add at least one step"),
        ("Workflow.builder():step{fn = print, tool = 'nap'}", "exactly one of tool="),
        ("Workflow.builder():step{agent = {}}", "agent= expects an agent"),
        ("Workflow.builder():conditional():step{fn = print}:build()", "needs :condition"),
        ("Workflow.builder():loop():max_iterations(0)", "max_iterations: expects an integer"),
    ];
    for (code, want) in cases {
        let err = error(&mut e, &format!("local _ = {code}"));
        assert!(err.evalue.starts_with("cell-1:1: "), "{code}: {err:?}");
        assert!(err.evalue.contains(want), "{code}: {err:?}");
    }
}

#[test]
fn workflows_pass_outputs_on() {
    let mut e = with_tools();
    let seq = "local w = Workflow.builder():name('s')\n\
               :step{name = 'a', fn = function(x) return {n = x + 1} end}\n\
               :step{name = 'b', tool = 'double'}\n\
               :step{name = 'c', fn = function(out, outs) return out.n + outs.a.n end}\n\
               :build()\n\
               local r = w:execute(4)\n\
               return r.output, r.outputs.b.n, #r.steps, r.steps[2].name";
    assert_eq!(value(&mut e, seq), Some("15\t10\t3\t\"b\"".into()));
    let cond = "local w = Workflow.builder():conditional():condition(function(x) return x > 0 end)\n\
                :then_step{fn = function() return 'pos' end}\n\
                :else_step{fn = function() return 'neg' end}:build()\n\
                return w:execute(1).output, w:execute(-1).output, w:execute(-1).branch";
    assert_eq!(value(&mut e, cond), Some("\"pos\"\t\"neg\"\t\"else\"".into()));
    let nested = "local inner = Workflow.builder():step{tool = 'double', params = function(x) \
                  return {n = x} end}:build()\n\
                  local outer = Workflow.builder():loop():max_iterations(5)\n\
                  :step{name = 'in', workflow = inner}\n\
                  :step{fn = function(r) return r.n end}\n\
                  :stop_when(function(x, i) return x > 20 end):build()\n\
                  local r = outer:execute(3)\n\
                  return r.output, r.iterations";
    assert_eq!(value(&mut e, nested), Some("24\t3".into()));
    let err = error(
        &mut e,
        "Workflow.builder():name('w'):step{name = 'bad', tool = 'double', params = {}}:build():execute()",
    );
    assert!(err.evalue.contains("workflow w: step bad: double: validation"), "{err:?}");
    let err = error(
        &mut e,
        "Workflow.builder():name('w'):step{fn = function() error('boom') end}:build():execute()",
    );
    assert!(err.evalue.starts_with("workflow w: step step1: "), "{err:?}");
    assert!(err.evalue.ends_with("boom"), "{err:?}");
}

#[test]
fn parallel_tool_steps_overlap() {
    let mut e = with_tools();
    let code = "local w = Workflow.builder():parallel()\n\
                :step{name = 'x', tool = 'nap', params = {tag = 'unit-x'}}\n\
                :step{name = 'y', tool = 'nap', params = {tag = 'unit-y'}}\n\
                :step{name = 'z', fn = function(input) return input * 2 end}\n\
                :build()\n\
                local r = w:execute(21)\n\
                return r.outputs.x.tag, r.outputs.y.tag, r.output.z";
    assert_eq!(value(&mut e, code), Some("\"unit-x\"\t\"unit-y\"\t42".into()));
    let naps = NAPS.lock().unwrap();
    let get = |t: &str| naps.iter().find(|n| n.0 == t).map(|n| (n.1, n.2)).unwrap();
    let ((x0, x1), (y0, y1)) = (get("unit-x"), get("unit-y"));
    assert!(x0 < y1 && y0 < x1, "the two naps did not overlap");
}

#[test]
fn providers_survive_a_reset() {
    let text = "[providers.p]\nkind = \"openai\"\nmodel = \"m\"\n";
    let (mut e, _) = engine();
    e.attach_providers(Arc::new(Providers::parse(text, Path::new("/")).unwrap()));
    e.reset().unwrap();
    assert_eq!(value(&mut e, "Provider.get().model"), Some("\"m\"".into()));
}

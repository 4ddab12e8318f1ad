//! Tests of the `Tool` global through Lua code run by an [`Engine`](crate::Engine), with a
//! registry of test tools (the built-in ones are tested in llmspell-tools).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use llmspell_tools::{Context, Example, Params, Policy, Registry, ToolDef, ToolError};
use serde_json::{Value, json};

use crate::Engine;
use crate::testutil::{engine, error, run, value};

/// How many spinner calls saw their cancel flag.
static SPINNERS_STOPPED: AtomicUsize = AtomicUsize::new(0);

fn echo(p: &Params, _: &Context) -> Result<Value, ToolError> {
    Ok(json!({"got": p.as_map(), "null": null, "list": [1, 2.5, "x"]}))
}

fn spin(_: &Params, cx: &Context) -> Result<Value, ToolError> {
    loop {
        if let Err(e) = cx.check() {
            SPINNERS_STOPPED.fetch_add(1, Ordering::SeqCst);
            return Err(e);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn missing(_: &Params, _: &Context) -> Result<Value, ToolError> {
    Err(ToolError::not_found("missing: no file /nope"))
}

fn registry() -> Arc<Registry> {
    let echo = ToolDef {
        name: "echo",
        category: "text",
        description: "Returns its parameters",
        schema: json!({
            "type": "object",
            "properties": {"text": {"type": "string"}, "n": {"type": "integer"}},
            "required": ["text"],
        }),
        examples: vec![Example::new("hi", json!({"text": "hi"}), json!({"got": {"text": "hi"}}))],
        run: echo,
    };
    let spinner = ToolDef {
        name: "spinner",
        category: "test",
        description: "Loops until cancelled",
        schema: json!({"type": "object"}),
        examples: vec![],
        run: spin,
    };
    let missing = ToolDef {
        name: "missing",
        category: "test",
        description: "Always fails with not_found",
        schema: json!({"type": "object"}),
        examples: vec![],
        run: missing,
    };
    Arc::new(Registry::with_tools(vec![echo, spinner, missing], Policy::new(std::env::temp_dir())))
}

fn attached() -> Engine {
    let (mut e, _) = engine();
    e.attach_tools(registry());
    e
}

#[test]
fn without_a_registry_every_call_raises_not_available() {
    let (mut e, _) = engine();
    for call in [
        "Tool.list()",
        "Tool.info('echo')",
        "Tool.invoke('echo', {})",
        "Tool.exists('echo')",
        "Tool.categories()",
        "Tool.search('x')",
    ] {
        // Not `return Tool.x()`: a tail call into the Lua wrapper would lose the cell's frame.
        let err = error(&mut e, &format!("local _\nlocal x = {call}"));
        assert_eq!(err.ename, "RuntimeError", "{call}");
        assert_eq!(err.evalue, format!("cell-1:2: {}", super::NOT_AVAILABLE), "{call}");
    }
}

#[test]
fn list_categories_exists_info_search() {
    let mut e = attached();
    assert_eq!(
        value(&mut e, "Tool.list('text')").as_deref(),
        Some("{{category = \"text\", description = \"Returns its parameters\", name = \"echo\"}}")
    );
    assert_eq!(
        value(&mut e, "local n = {} for i, t in ipairs(Tool.list()) do n[i] = t.name end return n")
            .as_deref(),
        Some("{\"echo\", \"missing\", \"spinner\"}")
    );
    assert_eq!(value(&mut e, "#Tool.list('none')").as_deref(), Some("0"));
    assert_eq!(value(&mut e, "Tool.categories()").as_deref(), Some("{\"test\", \"text\"}"));
    assert_eq!(
        value(&mut e, "Tool.exists('echo'), Tool.exists('nope')").as_deref(),
        Some("true\tfalse")
    );
    let info = "local i = Tool.info('echo') \
                return i.name, i.category, i.parameters.required[1], \
                i.parameters.properties.n.type, #i.examples, i.examples[1].params.text";
    assert_eq!(
        value(&mut e, info).as_deref(),
        Some("\"echo\"\t\"text\"\t\"text\"\t\"integer\"\t1\t\"hi\"")
    );
    let hits = "local h = Tool.search('cancelled loops') return #h, h[1].name, h[1].score > 0";
    assert_eq!(value(&mut e, hits).as_deref(), Some("1\t\"spinner\"\ttrue"));
    assert_eq!(value(&mut e, "#Tool.search('zzz')").as_deref(), Some("0"));
}

#[test]
fn invoke_converts_params_and_results() {
    let mut e = attached();
    let code = "local r = Tool.invoke('echo', {text = 'hé', n = 3}) \
                return r.got.text, math.type(r.got.n), r.null == JSON.null, r.list";
    assert_eq!(value(&mut e, code).as_deref(), Some("\"hé\"\t\"integer\"\ttrue\t{1, 2.5, \"x\"}"));
    assert_eq!(
        value(&mut e, "Tool.invoke('echo', {text = 'a'}, {timeout_ms = 5000}).got").as_deref(),
        Some("{text = \"a\"}")
    );
}

#[test]
fn failures_raise_tool_error_tables() {
    let mut e = attached();
    let read = "local ok, err = pcall(Tool.invoke, %CALL%) \
                return ok, err.error_type, err.tool, err.message, tostring(err), getmetatable(err).__name";
    let check = |e: &mut Engine, call: &str| -> Vec<String> {
        let out = value(e, &read.replace("%CALL%", call)).unwrap();
        out.split('\t').map(str::to_owned).collect()
    };
    // Unknown tool: not_found, with a hint.
    let got = check(&mut e, "'ech', {}");
    assert_eq!(got[0..3], ["false", "\"not_found\"", "\"ech\""]);
    assert!(got[3].contains("did you mean echo"), "{got:?}");
    assert!(got[4].starts_with("\"ech: not_found: no tool named"), "{got:?}");
    assert_eq!(got[5], "\"ToolError\"");
    // Bad parameters: validation naming the parameter; the tool name is not repeated.
    let got = check(&mut e, "'echo', {text = 1}");
    assert_eq!(got[1], "\"validation\"");
    assert!(got[3].contains("parameter /text"), "{got:?}");
    assert!(got[4].starts_with("\"echo: validation: parameter /text"), "{got:?}");
    let got = check(&mut e, "'echo', {}");
    assert!(got[3].contains("\\\"text\\\"") && got[3].contains("required"), "{got:?}");
    // Wrong argument types are validation errors too.
    let got = check(&mut e, "'echo', 'text'");
    assert_eq!(got[1], "\"validation\"");
    assert!(got[3].contains("params must be a table, got string"), "{got:?}");
    let got = check(&mut e, "42");
    assert!(got[3].contains("name must be a string, got integer"), "{got:?}");
    assert_eq!(got[2], "nil");
    let got = check(&mut e, "'echo', {text = 'x', f = print}");
    assert!(got[3].contains("cannot encode a function"), "{got:?}");
    let got = check(&mut e, "'echo', {text = 'x'}, {timeout_ms = -1}");
    assert!(got[3].contains("timeout_ms must be a positive integer"), "{got:?}");
    // A tool's own not_found, and a timeout.
    let got = check(&mut e, "'missing'");
    assert_eq!(got[1..3], ["\"not_found\"", "\"missing\""]);
    assert_eq!(got[4], "\"missing: not_found: no file /nope\"");
    let got = check(&mut e, "'spinner', {}, {timeout_ms = 30}");
    assert_eq!(got[1], "\"timeout\"");
    // info raises not_found as a table too.
    let out =
        value(&mut e, "local ok, err = pcall(Tool.info, 'nope') return err.error_type").unwrap();
    assert_eq!(out, "\"not_found\"");
}

#[test]
fn an_uncaught_tool_error_is_a_tool_error_in_jupyter_terms() {
    let mut e = attached();
    let err = error(&mut e, "local x = 1\nTool.invoke('echo', {text = 2})");
    assert_eq!(err.ename, "ToolError");
    assert!(err.evalue.starts_with("echo: validation: parameter /text"), "{err:?}");
    // The wrapper's frames (and its `error` call) are left out: the script's call comes first.
    assert_eq!(
        err.traceback,
        [
            format!("ToolError: {}", err.evalue),
            "stack traceback:".into(),
            "  cell-1:2: in main chunk".into()
        ]
    );
}

#[test]
fn the_registry_survives_reset() {
    let mut e = attached();
    e.reset().unwrap();
    assert_eq!(value(&mut e, "Tool.exists('echo')").as_deref(), Some("true"));
}

#[test]
fn an_interrupt_cancels_a_running_tool() {
    let mut e = attached();
    let before = SPINNERS_STOPPED.load(Ordering::SeqCst);
    let handle = e.interrupt_handle();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        handle.interrupt();
        Instant::now()
    });
    // pcall must not swallow it.
    let out = run(&mut e, "local ok = pcall(Tool.invoke, 'spinner', {})\nreturn 'after', ok");
    let took = t.join().unwrap().elapsed();
    let err = out.result.unwrap_err();
    assert_eq!(err.ename, "Interrupted");
    assert!(took < Duration::from_millis(500), "took {took:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while SPINNERS_STOPPED.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "the tool kept running after the interrupt");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The next cell runs normally.
    assert_eq!(
        value(&mut e, "Tool.invoke('echo', {text = 'x'}).got.text").as_deref(),
        Some("\"x\"")
    );
}

#[test]
fn every_tool_function_is_documented_and_completes() {
    let mut e = attached();
    let names = value(&mut e, "local n = {} for k in pairs(Tool) do n[#n + 1] = k end return n");
    let names = names.unwrap();
    assert!(names.contains("\"invoke\""), "{names}");
    for name in names.trim_matches(|c| c == '{' || c == '}').split(", ") {
        let name = format!("Tool.{}", name.trim_matches('"'));
        assert!(crate::docs::find(&name).is_some(), "no doc for {name}");
    }
    let c = e.complete("Tool.in", 7);
    assert_eq!(c.matches, ["info", "invoke"]);
    let i = e.inspect("Tool.invoke", 8, 0).unwrap();
    assert!(i.text_plain.starts_with("Tool.invoke(name [, params"), "{i:?}");
}

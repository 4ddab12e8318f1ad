//! llmspell-tool end to end, in-process: every command, every output shape (TSV when piped,
//! JSON, tables and `info` text on a pseudo-terminal), parameters from -p, --params and stdin,
//! pipes into jq, and each exit code that does not need a kernel. Kernels: tests/kernel.rs.

mod harness;

use harness::{Home, Run, require};
use serde_json::{Value, json};

fn lines(text: &str) -> Vec<Vec<&str>> {
    text.lines().map(|l| l.split('\t').collect()).collect()
}

fn names(tsv: &str) -> Vec<String> {
    lines(tsv).iter().map(|f| f[0].to_owned()).collect()
}

#[test]
fn list_is_one_tsv_line_per_tool_sorted_and_json_matches() {
    let home = Home::new();
    let run = home.run(&["list"]);
    let tsv = run.ok();
    let rows = lines(tsv);
    assert!(rows.iter().all(|f| f.len() == 3), "three columns: {tsv}");
    let mut sorted = names(tsv);
    sorted.sort();
    assert_eq!(names(tsv), sorted);
    assert!(tsv.lines().any(|l| l.starts_with("calculator\tmath\t")), "{tsv}");

    let json = home.run(&["--json", "list"]);
    assert_eq!(json.stdout.lines().count(), 1, "piped JSON is one line");
    let tools = json.json();
    let json_names: Vec<&str> =
        tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(json_names, names(tsv));
    assert_eq!(
        tools[0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["name", "category", "description"]
    );

    let math = home.run(&["list", "--category", "math"]);
    assert!(lines(math.ok()).iter().all(|f| f[1] == "math"));
    assert!(names(math.ok()).contains(&"calculator".to_owned()));
    assert_eq!(home.run(&["list", "--category", "no-such-category"]).ok(), "");
}

#[test]
fn categories_are_listed_once_each() {
    let home = Home::new();
    let run = home.run(&["categories"]);
    let tsv = run.ok();
    assert!(tsv.lines().any(|l| l == "math"), "{tsv}");
    let listed = home.run(&["list"]);
    let mut from_list: Vec<&str> = lines(listed.ok()).iter().map(|f| f[1]).collect();
    from_list.sort();
    from_list.dedup();
    assert_eq!(tsv.lines().collect::<Vec<_>>(), from_list);
    assert_eq!(home.run(&["--json", "categories"]).json(), json!(from_list));
}

#[test]
fn search_ranks_the_named_tool_first() {
    let home = Home::new();
    let run = home.run(&["search", "calculator"]);
    let rows = lines(run.ok());
    assert_eq!(rows[0][..2], ["calculator", "math"]);
    assert!(rows.iter().all(|f| f.len() == 4 && f[2].parse::<f64>().is_ok()), "{rows:?}");
    let scores: Vec<f64> = rows.iter().map(|f| f[2].parse().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "best first: {scores:?}");
    let run = home.run(&["search", "arithmetic", "expression"]);
    assert!(names(run.ok()).contains(&"calculator".to_owned()));
    assert_eq!(home.run(&["search", "zzqx-nothing-like-it"]).ok(), "");
    let hits = home.run(&["--json", "search", "calculator"]).json();
    assert_eq!(hits[0]["name"], "calculator");
    assert!(hits[0]["score"].is_number());
}

#[test]
fn info_is_json_when_piped_or_asked_and_readable_on_a_terminal() {
    let home = Home::new();
    let tool = home.run(&["info", "calculator"]).json();
    assert_eq!(tool["name"], "calculator");
    assert_eq!(tool["category"], "math");
    assert_eq!(tool["parameters"]["properties"]["expression"]["type"], "string");
    assert!(tool["parameters"]["required"].as_array().unwrap().contains(&json!("expression")));
    assert!(!tool["examples"].as_array().unwrap().is_empty());
    assert_eq!(home.run(&["--json", "info", "calculator"]).json(), tool);

    let text = home.tty(&["info", "calculator"]);
    let text = text.ok();
    for want in
        ["calculator (math)", "Parameters:", "  expression", "string, required", "Examples:"]
    {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    let pretty = home.tty(&["--json", "info", "calculator"]);
    assert!(pretty.ok().lines().count() > 5, "JSON is pretty on a terminal");
    assert_eq!(serde_json::from_str::<Value>(pretty.ok()).unwrap(), tool);
}

#[test]
fn tables_on_a_terminal() {
    let home = Home::new();
    let list = home.tty(&["list"]);
    let text = list.ok();
    assert!(text.contains("NAME") && text.contains("CATEGORY") && text.contains("DESCRIPTION"));
    assert!(text.contains("calculator") && text.contains('│'), "{text}");
    let search = home.tty(&["search", "calculator"]);
    assert!(search.ok().contains("SCORE"));
    let categories = home.tty(&["categories"]);
    assert!(categories.ok().contains("CATEGORY") && categories.ok().contains("math"));
    let test = home.tty(&["test", "calculator"]);
    assert!(test.ok().contains("RESULT") && test.ok().contains(" passed, 0 failed"), "{test:?}");
}

#[test]
fn invoke_prints_tool_result_and_duration_one_line_when_piped_pretty_on_a_terminal() {
    let home = Home::new();
    let run = home.run(&["invoke", "calculator", "-p", "expression=1+2"]);
    assert_eq!(run.ok().lines().count(), 1);
    let reply = run.json();
    let keys: Vec<&String> = reply.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["tool", "result", "duration_ms"]);
    assert_eq!(reply["tool"], "calculator");
    assert_eq!(reply["result"]["result"], 3);
    assert!(reply["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    let tty = home.tty(&["invoke", "calculator", "-p", "expression=1+2"]);
    assert!(tty.ok().lines().count() > 3, "pretty on a terminal: {tty:?}");
    assert_eq!(serde_json::from_str::<Value>(tty.ok()).unwrap()["result"], reply["result"]);
}

#[test]
fn invoke_pipes_into_jq() {
    require("jq", "the pipe tests need it (apt-get install jq)");
    let home = Home::new();
    let run = home.sh("llmspell-tool invoke calculator -p expression=1+2 | jq -r .result.result");
    assert_eq!(run.ok(), "3\n");
    let run = home.sh(
        "llmspell-tool --json list | jq -r '.[] | select(.name == \"calculator\") | .category'",
    );
    assert_eq!(run.ok(), "math\n");
    let run = home.sh(
        "echo '{\"expression\": \"6*7\"}' | llmspell-tool invoke calculator | jq .result.result",
    );
    assert_eq!(run.ok(), "42\n");
}

#[test]
fn the_text_tools_compose_with_jq() {
    require("jq", "the pipe tests need it (apt-get install jq)");
    let home = Home::new();
    let run = home.sh("llmspell-tool invoke hash_calculator -p input=hello | jq -r .result.hash");
    assert_eq!(run.ok(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n");
    let run = home
        .sh("llmspell-tool invoke text_manipulator -p operation=snake_case -p 'text=Hello World' \
         | jq -r .result.result");
    assert_eq!(run.ok(), "hello_world\n");
    let run = home.sh("llmspell-tool invoke uuid_generator --params '{}' | jq -r .result.uuid");
    let uuid = run.ok().trim();
    assert_eq!((uuid.len(), uuid.chars().filter(|c| *c == '-').count()), (36, 4), "{uuid}");
}

#[test]
fn file_operations_missing_input_is_66_and_outside_the_allowed_paths_77() {
    let home = Home::new();
    std::fs::write(home.path().join("a.txt"), "hi\n").unwrap();
    let read = |path: &str| {
        home.run(&[
            "invoke",
            "file_operations",
            "-p",
            "operation=read",
            "-p",
            &format!("path={path}"),
        ])
    };
    assert_eq!(
        read("a.txt").json()["result"]["content"],
        "hi\n",
        "relative to the working directory"
    );
    let line = read("missing.txt").fails(66).to_owned();
    assert!(
        line.starts_with("llmspell-tool: not_found: ") && line.contains("missing.txt"),
        "{line}"
    );
    let line = read("/etc/passwd").fails(77).to_owned();
    assert!(line.contains("outside the allowed paths"), "{line}");
}

fn result(run: &Run) -> Value {
    run.json()["result"]["result"].clone()
}

#[test]
fn params_come_from_p_params_and_stdin() {
    let home = Home::new();
    let nested = home.run(&["invoke", "calculator", "-p", "variables.x=4", "-p", "expression=x*2"]);
    assert_eq!(result(&nested), 8, "-p values parse as JSON; dotted keys nest");
    let quoted = home.run(&["invoke", "calculator", "-p", "expression=\"2+2\""]);
    assert_eq!(result(&quoted), 4, "a JSON string value");
    let params = home.run(&["invoke", "calculator", "--params", r#"{"expression": "2*3"}"#]);
    assert_eq!(result(&params), 6);
    let both = home.run(&[
        "invoke",
        "calculator",
        "--params",
        r#"{"expression": "2*3"}"#,
        "-p",
        "expression=9-4",
    ]);
    assert_eq!(result(&both), 5, "-p wins over --params");
    let number = home.run(&["invoke", "calculator", "-p", "expression=5"]);
    assert!(number.fails(65).contains("not of type \"string\""), "5 is JSON, so a number");
    let stdin = home.run_with_stdin(&["invoke", "calculator"], "{\"expression\": \"7-2\"}\n");
    assert_eq!(result(&stdin), 5);
    let ignored = home.run_with_stdin(&["invoke", "calculator", "-p", "expression=0+1"], "{oops");
    assert_eq!(result(&ignored), 1, "stdin is not read when -p is given");
    // Empty stdin is no parameters; calculator requires one.
    let empty = home.run_with_stdin(&["invoke", "calculator"], "");
    assert!(empty.fails(65).contains("expression"));
}

#[test]
fn bad_json_is_65_naming_where() {
    let home = Home::new();
    let line =
        home.run(&["invoke", "calculator", "--params", "{\"expression\": }"]).fails(65).to_owned();
    assert!(line.contains("--params: invalid JSON") && line.contains("line 1 column"), "{line}");
    let run = home.run_with_stdin(&["invoke", "calculator"], "{\n  oops\n}");
    let line = run.fails(65);
    assert!(line.contains("standard input: invalid JSON") && line.contains("line 2"), "{line}");
    let run = home.run(&["invoke", "calculator", "--params", "[1, 2]"]);
    assert!(run.fails(65).contains("must be a JSON object, not an array"));
}

#[test]
fn invalid_params_are_65_naming_the_parameter_and_the_rule() {
    let home = Home::new();
    let run = home.run(&["invoke", "calculator"]);
    let line = run.fails(65);
    assert!(
        line.contains("validation") && line.contains("expression") && line.contains("required"),
        "{line}"
    );
    let run = home.run(&["invoke", "calculator", "-p", "expression=1", "-p", "bogus=1"]);
    assert!(run.fails(65).contains("additionalProperties"));
    let run = home.run(&["invoke", "calculator", "-p", "expression=1", "-p", "variables=3"]);
    let line = run.fails(65);
    assert!(line.contains("/variables") && line.contains("type"), "{line}");
}

#[test]
fn unknown_tools_and_bad_usage_are_64() {
    let home = Home::new();
    for args in [
        &["invoke", "nope-tool", "-p", "x=1"][..],
        &["info", "nope-tool"],
        &["test", "nope-tool"],
        &["test", "calculator", "nope-tool"],
    ] {
        let run = home.run(args);
        assert!(run.fails(64).contains("nope-tool"), "{args:?}: {run:?}");
    }
    let hint = home.run(&["info", "calc"]);
    assert!(hint.fails(64).contains("did you mean calculator"), "{hint:?}");
    for args in [
        &["--bogus", "list"][..],
        &["invoke"],
        &["search"],
        &["frobnicate"],
        &["--timeout", "0", "list"],
    ] {
        assert_eq!(home.run(args).code, Some(64), "{args:?}");
    }
    assert!(home.run(&["invoke", "calculator", "-p", "novalue"]).fails(64).contains("KEY=VALUE"));
    assert!(home.run(&["--kernel", "Bad_Id", "list"]).fails(64).contains("invalid kernel id"));
    assert_eq!(home.run(&["--help"]).code, Some(0));
}

#[test]
fn a_failing_tool_is_70() {
    let home = Home::new();
    let run = home.run(&["invoke", "calculator", "-p", "expression=1/0"]);
    let line = run.fails(70);
    assert!(line.starts_with("llmspell-tool: execution: ") && line.contains("zero"), "{line}");
}

#[test]
fn a_program_outside_the_policy_is_77_and_one_that_runs_too_long_75() {
    let home = Home::new();
    let sleep = ["invoke", "process_executor", "-p", "command=sleep", "-p", "args=[\"5\"]"];
    let line = home.run(&sleep).fails(77).to_owned();
    assert!(
        line.starts_with("llmspell-tool: permission: ") && line.contains("allowed_executables")
    );
    home.write_config("[tools]\nallowed_executables = [\"sleep\"]\n");
    let started = std::time::Instant::now();
    let mut args = vec!["--timeout", "0.3"];
    args.extend_from_slice(&sleep);
    let line = home.run(&args).fails(75).to_owned();
    assert!(line.starts_with("llmspell-tool: timeout: ") && line.contains("0.300 s"), "{line}");
    assert!(started.elapsed().as_secs_f64() < 3.0, "the tool was stopped at its time limit");
}

#[test]
fn config_errors_are_78_and_a_missing_config_file_66() {
    let home = Home::new();
    home.write_config("[tools]\nbogus = 1\n");
    let line = home.run(&["list"]).fails(78).to_owned();
    assert!(line.contains("config.toml") && line.contains("bogus"), "{line}");
    let run = home.run(&["--config", "missing.toml", "list"]);
    assert!(run.fails(66).contains("missing.toml"));
    std::fs::write(home.path().join("other.toml"), "[tools]\ntimeout_secs = -1\n").unwrap();
    assert!(home.run(&["--config", "other.toml", "list"]).fails(78).contains("timeout_secs"));
    std::fs::write(home.path().join("good.toml"), "[kernel]\nlog_level = \"info\"\n").unwrap();
    home.run(&["--config", "good.toml", "list"]).ok();
}

#[test]
fn test_runs_each_example_and_exits_1_when_one_fails() {
    let home = Home::new();
    let examples = home.run(&["info", "calculator"]).json()["examples"].as_array().unwrap().len();
    let run = home.run(&["test", "calculator"]);
    let rows = lines(run.ok());
    assert_eq!(rows.len(), examples);
    for row in &rows {
        assert_eq!(row.len(), 5, "{row:?}");
        assert_eq!((row[0], row[2], row[4]), ("calculator", "pass", "-"));
        assert!(row[3].parse::<f64>().is_ok(), "{row:?}");
    }
    let report = home.run(&["--json", "test", "calculator"]).json();
    assert_eq!(report["passed"], examples);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["results"][0]["tool"], "calculator");

    // Allowing echo breaks process_executor's example that expects it to be refused.
    home.write_config("[tools]\nallowed_executables = [\"echo\"]\n");
    let run = home.run(&["test", "process_executor"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let rows = lines(&run.stdout);
    let failed: Vec<_> = rows.iter().filter(|r| r[2] == "fail").collect();
    assert_eq!(failed.len(), 1, "{run:?}");
    assert!(failed[0][4].starts_with("expected a permission error, got {"), "{run:?}");
    assert!(rows.iter().any(|r| r[2] == "pass"), "the others still pass: {run:?}");
    assert_eq!(run.stderr, format!("llmspell-tool: 1 of {} examples failed\n", rows.len()));
    let tty = home.tty(&["test", "process_executor"]);
    assert_eq!(tty.code, Some(1));
    assert!(tty.stdout.contains(" passed, 1 failed"), "{tty:?}");
}

#[test]
fn test_without_names_runs_every_tool() {
    let home = Home::new();
    let run = home.run(&["--json", "test"]);
    let report = run.json();
    let tested: std::collections::BTreeSet<&str> =
        report["results"].as_array().unwrap().iter().map(|r| r["tool"].as_str().unwrap()).collect();
    assert!(tested.contains("calculator"), "{tested:?}");
    assert_eq!(report["failed"], 0, "every built-in example passes: {report:#}");
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let home = Home::new();
    let mut child = home
        .command(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let run = home.sh("llmspell-tool list | head -n 1 | cut -f1");
    assert_eq!(run.ok().lines().count(), 1);
}

#[test]
fn missing_kernels_are_69_naming_the_kernel_and_the_file() {
    let home = Home::new();
    let line = home.run(&["--kernel", "nope", "list"]).fails(69).to_owned();
    assert!(line.contains("no kernel nope") && line.contains("kernels/kernel-nope.json"), "{line}");
    let env = home.command(&["list"]).env("LLMSPELL_KERNEL", "nope").output().unwrap();
    assert_eq!(env.status.code(), Some(69), "LLMSPELL_KERNEL is --kernel");
    let line = home.run(&["--kernel", "./gone.json", "list"]).fails(69).to_owned();
    assert!(line.contains("./gone.json"), "{line}");
    // Files left by a kernel that died: the PID file is not locked, so no wait at all.
    let kernels = home.path().join("kernels");
    std::fs::create_dir_all(&kernels).unwrap();
    std::fs::write(kernels.join("kernel-dead.json"), "{}").unwrap();
    std::fs::write(kernels.join("kernel-dead.pid"), "4242\n").unwrap();
    let started = std::time::Instant::now();
    let line = home
        .run(&["--kernel", "dead", "invoke", "calculator", "-p", "expression=1"])
        .fails(69)
        .to_owned();
    assert!(line.contains("kernel dead is not running"), "{line}");
    assert!(started.elapsed().as_secs_f64() < 1.0);
    // An empty LLMSPELL_KERNEL means in-process.
    let empty = home.command(&["list"]).env("LLMSPELL_KERNEL", "").output().unwrap();
    assert_eq!(empty.status.code(), Some(0));
}

#[test]
fn providers_are_listed_from_the_config_without_keys() {
    let home = Home::new();
    assert_eq!(home.run(&["providers"]).ok(), "", "no config, no providers");
    std::fs::write(home.path().join("key"), "sk-file-secret-123\n").unwrap();
    home.write_config(
        "[providers]\ndefault = \"local\"\n\
         [providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.2\"\n\
         [providers.claude]\nkind = \"anthropic\"\napi_key_file = \"key\"\nmodel = \"claude-x\"\n\
         [providers.gpt]\nkind = \"openai\"\napi_key_env = \"LLMSPELL_TOOL_TEST_UNSET\"\n",
    );
    let tsv = home.run(&["providers"]);
    assert_eq!(
        lines(tsv.ok()),
        vec![
            vec!["claude", "anthropic", "claude-x", "https://api.anthropic.com", "yes", "no"],
            vec!["gpt", "openai", "-", "https://api.openai.com/v1", "no", "no"],
            vec!["local", "openai", "llama3.2", "http://127.0.0.1:11434/v1", "none", "yes"],
        ]
    );
    let json = home.run(&["--json", "providers"]);
    assert!(!json.stdout.contains("sk-file-secret-123"));
    let list = json.json();
    assert_eq!(list[0]["key_set"], json!(true));
    assert_eq!(list[2]["default"], json!(true));
    home.write_config("[providers.x]\nkind = \"gpt\"\n");
    let err = home.run(&["providers"]);
    assert!(err.fails(78).contains("providers.x.kind"), "{}", err.stderr);
}

//! What the debugger costs a running script (issue 6's targets: ≤ 1.1× with a debugger attached
//! and no breakpoints, ≤ 1.5× with a breakpoint in a function that is never called).
//!
//! Runs CPU-bound Lua in one [`Engine`] per configuration, on this thread, and prints the median
//! of `--runs` run times and the ratio to the engine without any debugger (today's count hook):
//!
//! - `no debugger`: the plain engine (the baseline);
//! - `detached`: a debugger session installed but no client attached (a kernel's normal state);
//! - `attached`: a client attached (`attach`), no breakpoints;
//! - `bp uncalled`: attached, one line breakpoint inside a function that is never called;
//! - `bp other fn`: attached, a breakpoint in a called function, on a line that never runs
//!   (that function gets line events; the rest call/return events);
//! - `bp same fn`: attached, a breakpoint on a line that never runs in the function doing the
//!   work (the main chunk's loop, or `fib`): it runs with line events throughout.
//!
//! For scale, the floor of any call-hook design on mlua: the same script in a bare `mlua::Lua`
//! without a hook and with a call hook that does nothing (`floor` = their ratio).
//!
//! Two scripts: `loop` (arithmetic in a loop: few calls) and `calls` (recursive fib: a call and
//! a return every few instructions, the worst case for call/return hooks). A ratio over the
//! target prints MISS; the bench never fails.
//!
//! Run: `bench/debug_overhead.sh` or `cargo bench -p llmspell-runtime --bench debug_overhead --
//! [--runs N]`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llmspell_debug::Debugger;
use llmspell_runtime::{Engine, Frontend, InputError, StreamName};
use serde_json::{Map, Value, json};

struct Quiet;

impl Frontend for Quiet {
    fn stream(&mut self, _: StreamName, _: &str) {}
    fn display(&mut self, _: Map<String, Value>, _: Map<String, Value>) {}
    fn clear_output(&mut self, _: bool) {}
    fn input(&mut self, _: &str, _: bool) -> Result<String, InputError> {
        Err(InputError::NotAllowed)
    }
}

const PATH: &str = "/bench/script.lua";

/// Line 2 is in a function never called; line 6 in a called function, but never reached.
const HEAD: &str = "local function never()\n  return 1\nend\n\
local function step(x)\n  if x > 1e12 then\n    return 0\n  end\n  return x\nend\n";
/// Line 15 never runs.
const LOOP: &str = "local s = 0\nfor i = 1, 3000000 do\n  s = s + (i % 7) * 2\nend\n\
if s < 0 then\n  s = 0\nend\nreturn step(s)\n";
/// Line 12 never runs.
const CALLS: &str = "local function fib(n)\n  if n < 0 then\n    error(\"negative\")\n  end\n\
  if n < 2 then return step(n) end\n  return fib(n - 1) + fib(n - 2)\nend\nreturn fib(27)\n";

#[derive(Clone, Copy)]
enum Setup {
    Plain,
    Detached,
    Attached,
    BpUncalled,
    BpOtherFn,
    BpSameFn,
}

const SETUPS: [(Setup, &str); 6] = [
    (Setup::Plain, "no debugger"),
    (Setup::Detached, "detached"),
    (Setup::Attached, "attached"),
    (Setup::BpUncalled, "bp uncalled"),
    (Setup::BpOtherFn, "bp other fn"),
    (Setup::BpSameFn, "bp same fn"),
];

fn ask(d: &Debugger, command: &str, arguments: Value) {
    let (tx, rx) = crossbeam_channel::bounded(1);
    d.handle(
        json!({"seq": 1, "command": command, "arguments": arguments}),
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    let r = rx.recv_timeout(Duration::from_secs(10)).expect("no response");
    assert_eq!(r["success"], true, "{r}");
}

fn engine(setup: Setup, code: &str) -> Engine {
    let mut e = Engine::new(Box::new(Quiet)).expect("engine");
    if let Setup::Plain = setup {
        return e;
    }
    // A stop would wait for a client forever: make it a crash instead.
    let d = Debugger::new(
        "/nonexistent/",
        Arc::new(|e| assert_ne!(e["event"], "stopped", "the benchmark stopped: {e}")),
    );
    e.attach_debugger(d.clone()).expect("debugger");
    d.note_source(PATH, code);
    if let Setup::Detached = setup {
        return e;
    }
    ask(&d, "attach", json!({}));
    let line = match setup {
        Setup::BpUncalled => 2,
        // `step`'s `return 0`, which never runs.
        Setup::BpOtherFn => 6,
        // The never-run line of the script's working function (see LOOP and CALLS).
        Setup::BpSameFn if code.contains("fib") => 12,
        Setup::BpSameFn => 15,
        _ => return e,
    };
    ask(&d, "setBreakpoints", json!({"source": {"path": PATH}, "breakpoints": [{"line": line}]}));
    e
}

/// Run time ratio of `code` in a bare Lua state with a no-op call hook to one without a hook.
fn call_hook_floor(code: &str, runs: usize) -> f64 {
    let bare = mlua::Lua::new();
    let hooked = mlua::Lua::new();
    hooked
        .set_global_hook(mlua::HookTriggers::new().on_calls(), |_, _| Ok(mlua::VmState::Continue))
        .expect("hook");
    let mut times = [Vec::new(), Vec::new()];
    for round in 0..=runs {
        for (i, lua) in [&bare, &hooked].into_iter().enumerate() {
            let t = Instant::now();
            lua.load(code).exec().expect("script");
            if round > 0 {
                times[i].push(t.elapsed().as_secs_f64());
            }
        }
    }
    median(times[1].clone()) / median(times[0].clone())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut runs = 7;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            "--bench" => {}
            other => eprintln!("debug_overhead: ignoring {other}"),
        }
    }
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!("debugger overhead ({profile} build, median of {runs} runs)");
    for (script, body) in [("loop", LOOP), ("calls", CALLS)] {
        let code = format!("{HEAD}{body}");
        println!("\nscript `{script}`");
        println!("{:<14} {:>10} {:>7}  target", "setup", "ms", "ratio");
        let mut engines: Vec<Engine> = SETUPS.iter().map(|&(s, _)| engine(s, &code)).collect();
        let mut times = vec![Vec::new(); SETUPS.len()];
        // Round robin, so a slow moment of this shared machine hits every setup alike.
        for round in 0..=runs {
            for (i, e) in engines.iter_mut().enumerate() {
                let t = Instant::now();
                let out = e.execute(&code, PATH);
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                assert!(out.result.is_ok(), "{}: {:?}", SETUPS[i].1, out.result);
                if round > 0 {
                    times[i].push(ms); // round 0 warms up
                }
            }
        }
        let floor = call_hook_floor(&code, runs);
        let base = median(times[0].clone());
        for (i, (setup, label)) in SETUPS.into_iter().enumerate() {
            let ms = median(times[i].clone());
            let ratio = ms / base;
            let target = match setup {
                Setup::Detached | Setup::Attached => Some(1.1),
                Setup::BpUncalled => Some(1.5),
                _ => None,
            };
            let verdict = match target {
                Some(t) if ratio <= t => format!("≤ {t}× PASS"),
                Some(t) => format!("≤ {t}× MISS"),
                None => String::new(),
            };
            println!("{label:<14} {ms:>10.1} {ratio:>6.2}×  {verdict}");
        }
        println!(
            "{:<14} {:>10} {floor:>6.2}×  (bare mlua: no-op call hook / no hook)",
            "floor", ""
        );
    }
}

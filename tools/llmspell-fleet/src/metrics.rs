//! `metrics`: the fleet in Prometheus text exposition format 0.0.4, for a scrape or, with
//! `--textfile`, for node_exporter's textfile collector (written temp + fsync + rename, so the
//! collector never reads half a file). Families:
//!
//! | name | type | labels |
//! |---|---|---|
//! | `llmspell_fleet_kernels` | gauge | `state` (running, unreachable, dead, missing) |
//! | `llmspell_kernel_up` | gauge | `id` |
//! | `llmspell_kernel_rss_bytes` | gauge | `id` |
//! | `llmspell_kernel_uptime_seconds` | gauge | `id` |
//! | `llmspell_kernel_executions_total` | counter | `id` |
//! | `llmspell_kernel_restarts_total` | counter | `id` |
//! | `llmspell_kernel_health_latency_seconds` | gauge | `id` (kernel_info round trip) |
//! | `llmspell_kernel_busy` | gauge | `id` |
//! | `llmspell_kernel_idle_seconds` | gauge | `id` |

use std::fmt::Write as _;

use llmspell_common::Home;

use crate::cli::MetricsArgs;
use crate::fsutil::write_atomic;
use crate::kerneld::{self, Status};
use crate::output::write_stdout;
use crate::{Failure, registry};

const STATES: [&str; 4] = ["running", "unreachable", "dead", "missing"];

pub fn run(args: &MetricsArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let registry = registry::lock(&home)?.registry;
    let ids: Vec<String> = registry.kernels.iter().map(|e| e.id.clone()).collect();
    let statuses = kerneld::status(&ids)?;
    let restarts: Vec<(String, u32)> =
        registry.kernels.iter().map(|e| (e.id.clone(), e.restarts)).collect();
    let text = render(&statuses, &restarts);
    match &args.textfile {
        None => write_stdout(&text),
        Some(path) => write_atomic(path, text.as_bytes()).map_err(|e| {
            let code = llmspell_common::exit::for_io_error(&e, false);
            Failure::new(code, format!("cannot write {}: {e}", path.display()))
        }),
    }
}

/// The exposition text for these kernels.
pub fn render(statuses: &[Status], restarts: &[(String, u32)]) -> String {
    let mut out = String::new();
    family(&mut out, "llmspell_fleet_kernels", "gauge", "Registered kernels by state.");
    for state in STATES {
        let n = statuses.iter().filter(|s| s.state == state).count();
        let _ = writeln!(out, "llmspell_fleet_kernels{{state=\"{state}\"}} {n}");
    }
    type Get = fn(&Status) -> Option<f64>;
    let per_kernel: [(&str, &str, &str, Get); 7] = [
        (
            "llmspell_kernel_up",
            "gauge",
            "1 if the kernel answers heartbeat and kernel_info.",
            |s| Some(if s.state == "running" { 1.0 } else { 0.0 }),
        ),
        ("llmspell_kernel_rss_bytes", "gauge", "Resident memory of the kernel process.", |s| {
            s.rss_bytes.map(|b| b as f64)
        }),
        ("llmspell_kernel_uptime_seconds", "gauge", "Seconds since the kernel started.", |s| {
            s.uptime_s
        }),
        ("llmspell_kernel_executions_total", "counter", "execute_requests served.", |s| {
            s.executions.map(|n| n as f64)
        }),
        (
            "llmspell_kernel_health_latency_seconds",
            "gauge",
            "kernel_info round trip on the control channel.",
            |s| s.kernel_info_ms.map(|ms| ms / 1000.0),
        ),
        ("llmspell_kernel_busy", "gauge", "1 while a shell or tool request is served.", |s| {
            s.busy.map(|b| if b { 1.0 } else { 0.0 })
        }),
        (
            "llmspell_kernel_idle_seconds",
            "gauge",
            "Seconds since the last shell or tool request started or ended.",
            |s| s.idle_s,
        ),
    ];
    for (name, kind, help, get) in per_kernel {
        family(&mut out, name, kind, help);
        for s in statuses {
            if let Some(v) = get(s) {
                let _ = writeln!(out, "{name}{{id=\"{}\"}} {}", escape(&s.id), number(v));
            }
        }
    }
    let name = "llmspell_kernel_restarts_total";
    family(&mut out, name, "counter", "Restarts by llmspell-fleet restart.");
    for (id, n) in restarts {
        let _ = writeln!(out, "{name}{{id=\"{}\"}} {n}", escape(id));
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value: backslash, double quote and newline escaped (exposition format).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{}", v as i64) } else { format!("{v}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_has_help_and_type_and_states_are_all_present() {
        let status = Status {
            id: "a".into(),
            state: "running".into(),
            pid: Some(7),
            uptime_s: Some(2.5),
            rss_bytes: Some(4096),
            heartbeat_ok: true,
            kernel_info_ms: Some(1.5),
            executions: Some(3),
            busy: Some(false),
            idle_s: Some(2.0),
            error: None,
        };
        let text = render(&[status], &[("a".into(), 2)]);
        assert!(text.contains("llmspell_fleet_kernels{state=\"running\"} 1\n"));
        assert!(text.contains("llmspell_fleet_kernels{state=\"dead\"} 0\n"));
        assert!(text.contains("llmspell_kernel_rss_bytes{id=\"a\"} 4096\n"));
        assert!(text.contains("llmspell_kernel_health_latency_seconds{id=\"a\"} 0.0015\n"));
        assert!(text.contains("llmspell_kernel_restarts_total{id=\"a\"} 2\n"));
        let helps = text.lines().filter(|l| l.starts_with("# HELP")).count();
        let types = text.lines().filter(|l| l.starts_with("# TYPE")).count();
        assert_eq!((helps, types), (9, 9));
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\n");
    }
}

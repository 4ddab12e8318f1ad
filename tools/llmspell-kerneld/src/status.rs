//! `llmspell-kerneld status`: what each kernel under `$LLMSPELL_HOME/kernels` is doing.
//!
//! Liveness comes from the PID file's lock ([`pidfile::probe`]), never from `kill -0`. A kernel
//! whose lock is held must also answer a heartbeat (1 s) and a kernel_info_request on control
//! (2 s) to count as `running`; otherwise it is `unreachable`. Files whose lock nobody holds are
//! `dead` (stale files of a kernel that did not exit cleanly); an asked id with no files at all
//! is `missing`. Kernels are asked in parallel, so a hung kernel costs at most 3 s in total.
//!
//! Output: a table on a terminal; when piped, one tab-separated line per kernel with the columns
//! of [`TSV_COLUMNS`] (no header, `-` for an unknown value); a JSON array with `--json`.
//! Exit 0 when every kernel asked about answers, 1 otherwise.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use comfy_table::{Table, presets};
use llmspell_common::pidfile::{self, Liveness};
use llmspell_common::{ExitCode, Home, KernelId};
use llmspell_wire::{Channel, Client, ConnectionInfo, Ports};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Failure;

const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(1);
const KERNEL_INFO_TIMEOUT: Duration = Duration::from_secs(2);

/// The columns of a piped (tab-separated) line, in order; documented in llmspell-kerneld(8).
pub const TSV_COLUMNS: [&str; 13] = [
    "id",
    "state",
    "pid",
    "uptime_s",
    "rss_bytes",
    "shell_port",
    "iopub_port",
    "stdin_port",
    "control_port",
    "hb_port",
    "heartbeat",
    "kernel_info_ms",
    "executions",
];

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Kernel ids to report on (default: every kernel with files in $LLMSPELL_HOME/kernels).
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,
    /// Print a JSON array with one object per kernel.
    #[arg(long)]
    pub json: bool,
}

/// What a kernel is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Its PID file is locked and it answers heartbeat and kernel_info.
    Running,
    /// Its PID file is locked but it does not answer (or has no connection file).
    Unreachable,
    /// Only stale files are left: nobody holds the PID file's lock.
    Dead,
    /// No file of that id exists.
    Missing,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Unreachable => "unreachable",
            State::Dead => "dead",
            State::Missing => "missing",
        }
    }
}

/// One kernel's line of the report (also the `--json` object).
#[derive(Debug, Serialize)]
pub struct Report {
    pub id: String,
    pub state: State,
    pub pid: Option<u32>,
    pub uptime_s: Option<f64>,
    pub rss_bytes: Option<u64>,
    pub ports: Option<Ports>,
    pub heartbeat_ok: bool,
    pub heartbeat_ms: Option<f64>,
    pub kernel_info_ms: Option<f64>,
    pub executions: Option<u64>,
    /// Serving a shell or tool request right now (from the kernel's `llmspell.busy`).
    pub busy: Option<bool>,
    /// Seconds since the last shell or tool request started or ended.
    pub idle_s: Option<f64>,
    pub connection_file: Option<PathBuf>,
    /// Why the kernel is not `running`, in one line.
    pub error: Option<String>,
}

pub fn run(args: &StatusArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let ids = if args.ids.is_empty() { known_ids(&home)? } else { parse_ids(&args.ids)? };
    let reports: Vec<Report> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids.iter().map(|id| scope.spawn(|| inspect(&home, id))).collect();
        handles.into_iter().map(|h| h.join().expect("status thread panicked")).collect()
    });
    let text = if args.json {
        let mut text = serde_json::to_string_pretty(&reports).expect("reports serialize");
        text.push('\n');
        text
    } else if std::io::stdout().is_terminal() {
        if reports.is_empty() { String::new() } else { format!("{}\n", table(&reports)) }
    } else {
        reports.iter().map(tsv_line).collect()
    };
    print_all(&text)?;
    let bad: Vec<String> = reports
        .iter()
        .filter(|r| r.state != State::Running)
        .map(|r| format!("{} ({})", r.id, r.state.name()))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Failure::new(ExitCode::No, format!("not running: {}", bad.join(", "))))
}

/// Writes to stdout; a closed pipe (`status | head -1`) is not an error.
pub(crate) fn print_all(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Failure::new(ExitCode::IoErr, format!("cannot write to standard output: {e}")))
        }
        _ => Ok(()),
    }
}

/// Checks ids given on the command line (a bad one is a usage error, before anything runs).
pub(crate) fn parse_ids(ids: &[String]) -> Result<Vec<KernelId>, Failure> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for id in ids {
        let id = KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Every id with a connection or PID file in `kernels/`, sorted.
pub(crate) fn known_ids(home: &Home) -> Result<Vec<KernelId>, Failure> {
    home.kernel_ids().map_err(|e| {
        let code = llmspell_common::exit::for_io_error(&e, true);
        Failure::new(code, format!("cannot read {}: {e}", home.kernels_dir().display()))
    })
}

/// What the PID file says, with the pid read from a stale file too (for people, not liveness).
fn lock_state(home: &Home, id: &KernelId) -> (Liveness, Option<u32>, Option<String>) {
    let path = home.pid_file(id);
    match pidfile::probe(&path) {
        Ok(Liveness::Running(pid)) => (Liveness::Running(pid), pid, None),
        Ok(Liveness::Stale) => {
            let pid = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse().ok());
            (Liveness::Stale, pid, None)
        }
        Ok(Liveness::Missing) => (Liveness::Missing, None, None),
        Err(e) => (Liveness::Missing, None, Some(format!("cannot probe {}: {e}", path.display()))),
    }
}

/// Looks at one kernel's files, then asks it over the wire.
pub fn inspect(home: &Home, id: &KernelId) -> Report {
    let (liveness, pid, probe_error) = lock_state(home, id);
    let conn = home.connection_file(id);
    let mut report = Report {
        id: id.to_string(),
        state: State::Missing,
        pid,
        uptime_s: None,
        rss_bytes: None,
        ports: None,
        heartbeat_ok: false,
        heartbeat_ms: None,
        kernel_info_ms: None,
        executions: None,
        busy: None,
        idle_s: None,
        connection_file: conn.exists().then(|| conn.clone()),
        error: probe_error,
    };
    let locked = matches!(liveness, Liveness::Running(_));
    let info = match report.connection_file.as_ref().map(|p| ConnectionInfo::read(p)) {
        Some(Ok(info)) => Some(info),
        Some(Err(e)) => {
            report.error.get_or_insert(e.to_string());
            None
        }
        None => None,
    };
    if let Some(info) = &info {
        report.ports = Some(Ports::from(info));
        // A kernel whose lock is free is dead unless it answers at once; only then ask more.
        ask(&mut report, info, locked);
    }
    let answered = report.heartbeat_ok && report.kernel_info_ms.is_some();
    report.state = match liveness {
        _ if answered => State::Running,
        Liveness::Running(_) => State::Unreachable,
        _ if report.connection_file.is_some() || liveness == Liveness::Stale => State::Dead,
        _ => State::Missing,
    };
    // Only a locked pid is known to be the kernel's: a stale file's pid may be reused by now.
    if let Some(rss) = report.pid.filter(|_| locked).and_then(proc_rss) {
        report.rss_bytes = Some(rss);
    }
    if report.state != State::Running && report.error.is_none() {
        report.error = Some(match report.state {
            State::Missing => format!("no kernel {id} in {}", home.kernels_dir().display()),
            State::Dead => "stale files: the kernel is gone".to_owned(),
            _ if info.is_none() => format!("no connection file {}", conn.display()),
            _ => "does not answer".to_owned(),
        });
    }
    report
}

/// Heartbeat, then kernel_info on control; fills in what the kernel says about itself.
fn ask(report: &mut Report, info: &ConnectionInfo, locked: bool) {
    let mut client = match Client::connect(info) {
        Ok(client) => client,
        Err(e) => {
            report.error = Some(format!("cannot connect: {e}"));
            return;
        }
    };
    match client.heartbeat(info, HEARTBEAT_TIMEOUT) {
        Ok(rtt) => {
            report.heartbeat_ok = true;
            report.heartbeat_ms = Some(millis(rtt));
        }
        Err(e) if locked => report.error = Some(format!("heartbeat: {e}")),
        Err(_) => return,
    }
    let start = Instant::now();
    match client.call(Channel::Control, "kernel_info_request", json!({}), KERNEL_INFO_TIMEOUT) {
        Ok(reply) => {
            report.kernel_info_ms = Some(millis(start.elapsed()));
            apply_kernel_info(report, &reply.content["llmspell"]);
        }
        Err(e) => {
            report.error.get_or_insert(format!("kernel_info on control: {e}"));
        }
    }
}

fn apply_kernel_info(report: &mut Report, live: &Value) {
    let pid = live["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    report.pid = pid.or(report.pid);
    report.uptime_s = live["uptime_s"].as_f64();
    report.rss_bytes = live["rss_bytes"].as_u64();
    report.executions = live["executions"].as_u64();
    report.busy = live["busy"].as_bool();
    report.idle_s = live["idle_s"].as_f64();
}

/// VmRSS of a live process, from /proc/<pid>/status.
fn proc_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// One line of [`TSV_COLUMNS`].
fn tsv_line(r: &Report) -> String {
    let port = |f: fn(&Ports) -> u16| dash(r.ports.as_ref().map(f));
    let fields = [
        r.id.clone(),
        r.state.name().to_owned(),
        dash(r.pid),
        dash(r.uptime_s.map(|s| s.floor() as u64)),
        dash(r.rss_bytes),
        port(|p| p.shell),
        port(|p| p.iopub),
        port(|p| p.stdin),
        port(|p| p.control),
        port(|p| p.hb),
        if r.heartbeat_ok { "ok" } else { "fail" }.to_owned(),
        dash(r.kernel_info_ms.map(|ms| format!("{ms:.1}"))),
        dash(r.executions),
    ];
    format!("{}\n", fields.join("\t"))
}

fn table(reports: &[Report]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    // No wrapping: a port list broken over five lines is worse than a long line.
    table.set_header(["ID", "STATE", "PID", "UPTIME", "RSS", "PORTS", "HB", "INFO", "EXECS"]);
    for r in reports {
        let ports =
            r.ports.map(|p| format!("{}/{}/{}/{}/{}", p.shell, p.iopub, p.stdin, p.control, p.hb));
        table.add_row([
            r.id.clone(),
            r.state.name().to_owned(),
            dash(r.pid),
            dash(r.uptime_s.map(human_duration)),
            dash(r.rss_bytes.map(human_bytes)),
            dash(ports),
            if r.heartbeat_ok { "ok" } else { "fail" }.to_owned(),
            dash(r.kernel_info_ms.map(|ms| format!("{ms:.1} ms"))),
            dash(r.executions),
        ]);
    }
    table
}

/// `42s`, `7m 05s`, `3h 02m`, `2d 04h`.
fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `812 KiB`, `23.4 MiB`, `1.2 GiB`.
fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b < KIB * KIB {
        format!("{:.0} KiB", b / KIB)
    } else if b < KIB * KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_connection_and_pid_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        assert!(known_ids(&home).unwrap().is_empty());
        let kernels = home.kernels_dir();
        std::fs::create_dir_all(&kernels).unwrap();
        for name in
            ["kernel-b.json", "kernel-b.pid", "kernel-a.pid", "kernel-c.dump.json", "x.json"]
        {
            std::fs::write(kernels.join(name), "").unwrap();
        }
        let ids: Vec<String> = known_ids(&home).unwrap().iter().map(|i| i.to_string()).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn a_kernel_without_files_is_missing_and_with_a_stale_pid_file_dead() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let id = KernelId::new("gone").unwrap();
        let report = inspect(&home, &id);
        assert_eq!(report.state, State::Missing);
        std::fs::create_dir_all(home.kernels_dir()).unwrap();
        std::fs::write(home.pid_file(&id), "4242\n").unwrap();
        let report = inspect(&home, &id);
        assert_eq!((report.state, report.pid), (State::Dead, Some(4242)));
        assert_eq!(tsv_line(&report).split('\t').count(), TSV_COLUMNS.len());
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(human_duration(42.9), "42s");
        assert_eq!(human_duration(425.0), "7m 05s");
        assert_eq!(human_duration(3.0 * 3600.0 + 120.0), "3h 02m");
        assert_eq!(human_bytes(24_536_678), "23.4 MiB");
    }

    #[test]
    fn repeated_ids_are_asked_once_and_bad_ids_are_usage_errors() {
        let ids = parse_ids(&["a".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(parse_ids(&["A".into()]).unwrap_err().code, ExitCode::Usage);
    }
}

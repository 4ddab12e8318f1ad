//! System tools: environment variables (secrets masked), running an allowed executable without
//! a shell, and CPU / memory / disk / process figures.
//!
//! Platforms: environment_reader and process_executor work on every Unix; process_executor
//! starts the child in its own process group and kills the whole group on timeout (Unix only).
//! system_monitor uses `sysinfo`: Linux, macOS, FreeBSD and Windows all report CPU, memory,
//! disks, processes and uptime; the load average is all zeros on Windows, and `cgroup_limit`
//! (a container's memory limit) exists only on Linux.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use sysinfo::{
    CpuRefreshKind, Disks, MemoryRefreshKind, ProcessRefreshKind, ProcessesToUpdate, RefreshKind,
    System,
};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// The tools of this module.
pub(crate) fn tools() -> Vec<ToolDef> {
    vec![environment_reader(), process_executor(), system_monitor()]
}

/// Sleeps in short slices so a cancelled invoke stops waiting at once.
fn sleep_checked(total: Duration, cx: &Context) -> Result<(), ToolError> {
    let until = Instant::now() + total;
    loop {
        cx.check()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

// ------------------------------------------------------------------------------------------
// environment_reader

/// Name parts that mark a variable's value as secret.
const SECRET_MARKERS: &[&str] =
    &["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "PRIVATE"];
const MASK: &str = "********";

fn environment_reader() -> ToolDef {
    ToolDef {
        name: "environment_reader",
        category: "system",
        description: "Reads the environment: get one variable, list variables (filtered by \
                      prefix or glob pattern), with secret-looking values (names containing \
                      KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL) masked unless reveal is true; \
                      info gives the working directory, OS, architecture, hostname and user.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["get", "list", "info"],
                    "description": "get (one variable), list (default) or info."
                },
                "name": {"type": "string", "minLength": 1, "description": "get: the variable."},
                "prefix": {
                    "type": "string",
                    "description": "list: only names starting with this (case-sensitive)."
                },
                "pattern": {
                    "type": "string",
                    "description": "list: only names matching this glob (* and ?)."
                },
                "include_values": {
                    "type": "boolean",
                    "description": "list: return values too (default true); false lists names."
                },
                "reveal": {
                    "type": "boolean",
                    "description": "Show secret-looking values and URL passwords as they are \
                                    (default false: masked)."
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::satisfies(
                "facts about the machine and process",
                json!({"operation": "info"}),
                "os, arch and cwd are non-empty strings",
                |v| {
                    ["os", "arch", "cwd"]
                        .iter()
                        .all(|k| v[*k].as_str().is_some_and(|s| !s.is_empty()))
                },
            ),
            Example::satisfies(
                "list the variables whose names match a glob",
                json!({"operation": "list", "pattern": "PAT?"}),
                "an object of variables and their count",
                |v| v["variables"].is_object() && v["count"].is_u64(),
            ),
            Example::fails(
                "a variable that is not set",
                json!({"operation": "get", "name": "LLMSPELL_SURELY_UNSET_VARIABLE_42"}),
                ErrorType::NotFound,
            ),
        ],
        run: run_environment,
    }
}

fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

/// A value as shown: masked when the name looks secret; else with any URL password masked.
fn shown(name: &str, value: &str, reveal: bool) -> (String, bool) {
    if reveal {
        return (value.to_owned(), false);
    }
    if is_secret_name(name) {
        return (MASK.to_owned(), true);
    }
    if value.contains("://")
        && let Ok(mut url) = url::Url::parse(value)
        && url.password().is_some()
        && url.set_password(Some(MASK)).is_ok()
    {
        return (url.to_string(), true);
    }
    (value.to_owned(), false)
}

fn run_environment(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let reveal = p.bool_or("reveal", false)?;
    match p.str_or("operation", "list")? {
        "get" => {
            let name = p.opt_str("name")?.ok_or_else(|| {
                ToolError::validation("operation \"get\" needs parameter \"name\"")
            })?;
            if name.contains(['=', '\0']) {
                return Err(ToolError::validation(format!(
                    "parameter \"name\": {name:?} cannot contain '=' or NUL"
                )));
            }
            let Some(raw) = std::env::var_os(name) else {
                return Err(ToolError::not_found(format!(
                    "environment variable {name:?} is not set"
                )));
            };
            let (value, masked) = shown(name, &raw.to_string_lossy(), reveal);
            Ok(json!({"name": name, "value": value, "masked": masked}))
        }
        "list" => {
            let prefix = p.opt_str("prefix")?;
            let pattern = p.opt_str("pattern")?.map(wildmatch::WildMatch::new);
            let with_values = p.bool_or("include_values", true)?;
            let all: BTreeMap<String, String> = std::env::vars_os()
                .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
                .filter(|(k, _)| prefix.is_none_or(|pre| k.starts_with(pre)))
                .filter(|(k, _)| pattern.as_ref().is_none_or(|pat| pat.matches(k)))
                .collect();
            let mut masked = Vec::new();
            let count = all.len();
            let variables: Value = if with_values {
                let mut map = Map::new();
                for (k, v) in all {
                    let (value, was_masked) = shown(&k, &v, reveal);
                    if was_masked {
                        masked.push(k.clone());
                    }
                    map.insert(k, Value::String(value));
                }
                Value::Object(map)
            } else {
                Value::Array(all.into_keys().map(Value::String).collect())
            };
            let key = if with_values { "variables" } else { "names" };
            Ok(json!({key: variables, "count": count, "masked": masked}))
        }
        "info" => {
            let cwd = std::env::current_dir().map(|d| d.display().to_string()).ok();
            let user = ["USER", "LOGNAME", "USERNAME"]
                .iter()
                .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
            let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"));
            Ok(json!({
                "cwd": cwd,
                "base_dir": cx.policy().base_dir().display().to_string(),
                "os": std::env::consts::OS,
                "family": std::env::consts::FAMILY,
                "arch": std::env::consts::ARCH,
                "os_version": System::long_os_version(),
                "kernel_version": System::kernel_version(),
                "hostname": System::host_name(),
                "user": user,
                "home": home.map(|h| h.to_string_lossy().into_owned()),
                "temp_dir": std::env::temp_dir().display().to_string(),
                "pid": std::process::id(),
            }))
        }
        other => Err(ToolError::validation(format!(
            "parameter \"operation\": {other:?} is not get, list or info"
        ))),
    }
}

// ------------------------------------------------------------------------------------------
// process_executor

const DEFAULT_MAX_OUTPUT: u64 = 1024 * 1024;
const MAX_OUTPUT_CAP: u64 = 64 * 1024 * 1024;

fn process_executor() -> ToolDef {
    ToolDef {
        name: "process_executor",
        category: "system",
        description: "Runs an allowed executable (no shell) with arguments, optional stdin \
                      text, working directory and extra environment variables, and returns its \
                      exit code, stdout, stderr (capped) and duration; a timeout kills it. Only \
                      executables listed in [tools] allowed_executables may run (none by \
                      default).",
        schema: json!({
            "type": "object",
            "properties": {
                "command": {
                    "type": "string",
                    "minLength": 1,
                    "description": "The executable: a name looked up in PATH, or an absolute \
                                    path; it must be in [tools] allowed_executables."
                },
                "args": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Arguments, passed as they are (no shell, no globbing)."
                },
                "stdin": {"type": "string", "description": "Text written to standard input."},
                "cwd": {
                    "type": "string",
                    "description": "Working directory (an allowed path; default: the base \
                                    directory)."
                },
                "env": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "Environment variables added for the child."
                },
                "clear_env": {
                    "type": "boolean",
                    "description": "Start from an empty environment (default false)."
                },
                "max_output_bytes": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": MAX_OUTPUT_CAP,
                    "description": "Bytes kept of stdout and of stderr each (default 1048576); \
                                    the rest is read and dropped, and *_truncated is true."
                }
            },
            "required": ["command"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::fails(
                "process_executor is off unless executables are allowed in the config",
                json!({"command": "echo", "args": ["hello"]}),
                ErrorType::Permission,
            ),
            Example::fails(
                "the command is required",
                json!({"args": ["hello"]}),
                ErrorType::Validation,
            ),
        ],
        run: run_process,
    }
}

/// Reads a pipe to its end, keeping the first `cap` bytes: (kept, total bytes read).
fn reader(mut pipe: impl Read + Send + 'static, cap: usize) -> JoinHandle<(Vec<u8>, u64)> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut total = 0u64;
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    total += n as u64;
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        (kept, total)
    })
}

/// Kills the child's whole process group (it leads one: see `process_group(0)`).
fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn run_process(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    let command = p.str("command")?;
    cx.policy().allows_executable(command)?;
    let args = p.opt_strings("args")?.unwrap_or_default();
    let cwd = match p.opt_str("cwd")? {
        Some(dir) => {
            let path = cx.path(dir)?;
            if !path.is_dir() {
                return Err(ToolError::not_found(format!(
                    "parameter \"cwd\": {dir} is not a directory"
                )));
            }
            Some(path)
        }
        None => Some(cx.policy().base_dir().to_path_buf()).filter(|d| d.is_dir()),
    };
    let cap =
        usize::try_from(p.u64_or("max_output_bytes", DEFAULT_MAX_OUTPUT)?.min(MAX_OUTPUT_CAP))
            .unwrap_or(usize::MAX);
    let stdin_text = p.opt_str("stdin")?.map(|s| s.as_bytes().to_vec());

    let mut cmd = Command::new(command);
    cmd.args(&args)
        .stdin(if stdin_text.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &cwd {
        cmd.current_dir(dir);
    }
    if p.bool_or("clear_env", false)? {
        cmd.env_clear();
    }
    if let Some(env) = p.opt_object("env")? {
        for (name, value) in env {
            let Some(value) = value.as_str() else {
                return Err(ToolError::validation(format!(
                    "parameter \"env\": the value of {name:?} must be a string"
                )));
            };
            if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
                return Err(ToolError::validation(format!(
                    "parameter \"env\": {name:?} is not a usable variable (empty, or with '=' \
                     or NUL)"
                )));
            }
            cmd.env(name, value);
        }
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            ToolError::not_found(format!("command {command:?} was not found: {e}"))
        }
        std::io::ErrorKind::PermissionDenied => {
            ToolError::permission(format!("command {command:?} cannot be run: {e}"))
        }
        _ => ToolError::execution(format!("cannot start {command:?}: {e}")),
    })?;
    let pid = child.id();
    if let (Some(text), Some(mut pipe)) = (stdin_text, child.stdin.take()) {
        // A child that does not read its input gets EPIPE when it exits; that is fine.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&text);
        });
    }
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        kill_group(pid);
        let _ = child.kill();
        let _ = child.wait();
        return Err(ToolError::execution("the child's output pipes are missing"));
    };
    let (out, err) = (reader(out, cap), reader(err, cap));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                kill_group(pid);
                let _ = child.kill();
                let _ = child.wait();
                return Err(ToolError::execution(format!("waiting for {command:?} failed: {e}")));
            }
        }
        if cx.is_cancelled() {
            kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            return Err(cx.timed_out());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let duration = started.elapsed();
    // Processes the child started may still hold its pipes open.
    while !(out.is_finished() && err.is_finished()) {
        if cx.is_cancelled() {
            kill_group(pid);
            return Err(cx.timed_out());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let join = |h: JoinHandle<(Vec<u8>, u64)>| h.join().unwrap_or_default();
    let ((stdout, out_total), (stderr, err_total)) = (join(out), join(err));
    Ok(json!({
        "command": command,
        "args": args,
        "exit_code": status.code(),
        "signal": status.signal(),
        "success": status.success(),
        "stdout": String::from_utf8_lossy(&stdout),
        "stderr": String::from_utf8_lossy(&stderr),
        "stdout_bytes": out_total,
        "stderr_bytes": err_total,
        "stdout_truncated": out_total > stdout.len() as u64,
        "stderr_truncated": err_total > stderr.len() as u64,
        "duration_ms": ms(duration),
    }))
}

// ------------------------------------------------------------------------------------------
// system_monitor

fn system_monitor() -> ToolDef {
    ToolDef {
        name: "system_monitor",
        category: "system",
        description: "Monitors the machine: cpu (usage percent overall and per core, load \
                      average, core counts), memory (total, used, available, swap), disk \
                      (mounts with total and available space), processes (count and top by \
                      memory or cpu) and uptime; all of them by default.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["all", "cpu", "memory", "disk", "processes", "uptime"],
                    "description": "Which figures (default all)."
                },
                "limit": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 100,
                    "description": "processes: how many top processes (default 10)."
                },
                "sort_by": {
                    "type": "string",
                    "enum": ["memory", "cpu"],
                    "description": "processes: order of the top list (default memory; cpu \
                                    samples for 200 ms)."
                }
            },
            "additionalProperties": false
        }),
        examples: vec![
            Example::satisfies(
                "memory figures",
                json!({"operation": "memory"}),
                "total_bytes > 0 and available_bytes <= total_bytes",
                |v| {
                    let m = &v["memory"];
                    m["total_bytes"].as_u64().is_some_and(|t| {
                        t > 0 && m["available_bytes"].as_u64().is_some_and(|a| a <= t)
                    })
                },
            ),
            Example::satisfies(
                "uptime",
                json!({"operation": "uptime"}),
                "uptime_seconds and boot_time are numbers",
                |v| v["uptime"]["uptime_seconds"].is_u64() && v["uptime"]["boot_time"].is_u64(),
            ),
            Example::fails(
                "an unknown operation",
                json!({"operation": "gpu"}),
                ErrorType::Validation,
            ),
        ],
        run: run_monitor,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { round1(part as f64 * 100.0 / whole as f64) }
}

fn cpu(cx: &Context) -> Result<Value, ToolError> {
    let mut sys =
        System::new_with_specifics(RefreshKind::nothing().with_cpu(CpuRefreshKind::everything()));
    sleep_checked(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL, cx)?;
    sys.refresh_cpu_all();
    let per_core: Vec<Value> = sys
        .cpus()
        .iter()
        .map(|c| {
            json!({
                "name": c.name(),
                "usage_percent": round1(f64::from(c.cpu_usage())),
                "frequency_mhz": c.frequency(),
            })
        })
        .collect();
    let load = System::load_average();
    Ok(json!({
        "count": sys.cpus().len(),
        "physical_cores": System::physical_core_count(),
        "usage_percent": round1(f64::from(sys.global_cpu_usage())),
        "per_core": per_core,
        "load_average": {"one": load.one, "five": load.five, "fifteen": load.fifteen},
        "brand": sys.cpus().first().map(|c| c.brand().trim().to_owned()),
        "arch": System::cpu_arch(),
    }))
}

fn memory() -> Value {
    let mut sys = System::new_with_specifics(
        RefreshKind::nothing().with_memory(MemoryRefreshKind::everything()),
    );
    sys.refresh_memory();
    let (total, used) = (sys.total_memory(), sys.used_memory());
    let mut out = json!({
        "total_bytes": total,
        "used_bytes": used,
        "available_bytes": sys.available_memory(),
        "free_bytes": sys.free_memory(),
        "used_percent": percent(used, total),
        "swap": {
            "total_bytes": sys.total_swap(),
            "used_bytes": sys.used_swap(),
            "free_bytes": sys.free_swap(),
        },
    });
    if let Some(limits) = sys.cgroup_limits() {
        out["cgroup_limit"] = json!({
            "total_bytes": limits.total_memory,
            "free_bytes": limits.free_memory,
            "rss_bytes": limits.rss,
        });
    }
    out
}

fn disk(cx: &Context) -> Result<Value, ToolError> {
    let disks = Disks::new_with_refreshed_list();
    let mut out = Vec::new();
    for d in disks.list() {
        cx.check()?;
        let (total, available) = (d.total_space(), d.available_space());
        out.push(json!({
            "mount_point": d.mount_point().display().to_string(),
            "device": d.name().to_string_lossy(),
            "file_system": d.file_system().to_string_lossy(),
            "kind": d.kind().to_string(),
            "total_bytes": total,
            "available_bytes": available,
            "used_bytes": total.saturating_sub(available),
            "used_percent": percent(total.saturating_sub(available), total),
            "removable": d.is_removable(),
            "read_only": d.is_read_only(),
        }));
    }
    Ok(json!({"count": out.len(), "disks": out}))
}

fn processes(limit: usize, by_cpu: bool, cx: &Context) -> Result<Value, ToolError> {
    let mut sys = System::new();
    let kind = if by_cpu {
        ProcessRefreshKind::nothing().with_memory().with_cpu()
    } else {
        ProcessRefreshKind::nothing().with_memory()
    };
    sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    if by_cpu {
        sleep_checked(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL, cx)?;
        sys.refresh_processes_specifics(ProcessesToUpdate::All, true, kind);
    }
    cx.check()?;
    // Threads are listed as processes on Linux; count and rank processes only.
    let mut list: Vec<&sysinfo::Process> =
        sys.processes().values().filter(|p| p.thread_kind().is_none()).collect();
    let count = list.len();
    if by_cpu {
        list.sort_by(|a, b| b.cpu_usage().total_cmp(&a.cpu_usage()).then(a.pid().cmp(&b.pid())));
    } else {
        list.sort_by(|a, b| b.memory().cmp(&a.memory()).then(a.pid().cmp(&b.pid())));
    }
    let top: Vec<Value> = list
        .iter()
        .take(limit)
        .map(|p| {
            let mut entry = json!({
                "pid": p.pid().as_u32(),
                "name": p.name().to_string_lossy(),
                "memory_bytes": p.memory(),
                "status": p.status().to_string(),
            });
            if by_cpu {
                entry["cpu_percent"] = json!(round1(f64::from(p.cpu_usage())));
            }
            entry
        })
        .collect();
    Ok(json!({"count": count, "sort_by": if by_cpu { "cpu" } else { "memory" }, "top": top}))
}

fn uptime() -> Value {
    json!({"uptime_seconds": System::uptime(), "boot_time": System::boot_time()})
}

fn run_monitor(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let operation = p.str_or("operation", "all")?;
    let limit = usize::try_from(p.u64_or("limit", 10)?.min(100)).unwrap_or(10);
    let by_cpu = match p.str_or("sort_by", "memory")? {
        "memory" => false,
        "cpu" => true,
        other => {
            return Err(ToolError::validation(format!(
                "parameter \"sort_by\": {other:?} is not memory or cpu"
            )));
        }
    };
    let mut out = Map::new();
    let all = operation == "all";
    if !matches!(operation, "all" | "cpu" | "memory" | "disk" | "processes" | "uptime") {
        return Err(ToolError::validation(format!(
            "parameter \"operation\": {operation:?} is not all, cpu, memory, disk, processes or \
             uptime"
        )));
    }
    if all || operation == "cpu" {
        out.insert("cpu".into(), cpu(cx)?);
    }
    if all || operation == "memory" {
        out.insert("memory".into(), memory());
    }
    if all || operation == "disk" {
        out.insert("disk".into(), disk(cx)?);
    }
    if all || operation == "processes" {
        out.insert("processes".into(), processes(limit, by_cpu, cx)?);
    }
    if all || operation == "uptime" {
        out.insert("uptime".into(), uptime());
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::*;
    use crate::{Policy, Registry};

    fn policy(dir: &std::path::Path, executables: &[&str]) -> Policy {
        Policy::with(
            dir.to_path_buf(),
            vec![dir.to_path_buf()],
            executables.iter().map(|s| s.to_string()).collect(),
            Duration::from_secs(30),
        )
    }

    fn registry(dir: &std::path::Path) -> Registry {
        Registry::with_tools(tools(), policy(dir, &["echo", "sleep", "cat"]))
    }

    #[test]
    fn every_example_passes_with_the_default_policy() {
        let r = Registry::with_tools(tools(), Policy::new(std::env::temp_dir()));
        let outcomes = r.test(&[]).unwrap();
        assert!(outcomes.len() >= 8);
        let failed: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        for def in tools() {
            assert_eq!(def.category, "system");
            assert!(def.examples.len() >= 2, "{}", def.name);
            assert!(
                def.examples.iter().any(|e| matches!(e.expect, crate::Expect::Error(_))),
                "{}",
                def.name
            );
        }
    }

    // ---- environment_reader

    #[test]
    fn environment_get_list_and_masking() {
        // PATH is set wherever tests run; variables of our own are tested in a child process
        // (below), as setting them here would need `unsafe` (std::env::set_var).
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let out = r
            .invoke("environment_reader", json!({"operation": "get", "name": "PATH"}), None)
            .unwrap();
        assert_eq!(out["value"], std::env::var("PATH").unwrap());
        assert_eq!(out["masked"], false);

        let out = r.invoke("environment_reader", json!({"prefix": "PAT"}), None).unwrap();
        assert!(out["variables"]["PATH"].is_string(), "{out}");
        assert!(out["variables"].as_object().unwrap().keys().all(|k| k.starts_with("PAT")));
        let out = r
            .invoke(
                "environment_reader",
                json!({"operation": "list", "pattern": "?AT*", "include_values": false}),
                None,
            )
            .unwrap();
        let names: Vec<&str> =
            out["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        assert!(names.contains(&"PATH"), "{out}");
        assert!(names.iter().all(|n| n.len() >= 3 && &n[1..3] == "AT"), "{out}");
        assert_eq!(out["count"], names.len());
        let e = r
            .invoke(
                "environment_reader",
                json!({"operation": "get", "name": "NOPE_NOT_SET_1"}),
                None,
            )
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::NotFound);
        assert!(e.message.contains("NOPE_NOT_SET_1"));
    }

    #[test]
    fn secret_names_and_url_passwords_are_masked_unless_revealed() {
        for name in
            ["API_KEY", "GITHUB_TOKEN", "aws_secret_access_key", "DB_PASSWORD", "X_CREDENTIALS"]
        {
            assert!(is_secret_name(name), "{name}");
            assert_eq!(shown(name, "hunter2", false), (MASK.to_owned(), true));
            assert_eq!(shown(name, "hunter2", true), ("hunter2".to_owned(), false));
        }
        assert!(!is_secret_name("PATH") && !is_secret_name("HOME"));
        let (v, masked) = shown("DATABASE_URL", "postgres://app:pw@db:5432/x", false);
        assert_eq!(v, format!("postgres://app:{MASK}@db:5432/x"));
        assert!(masked);
        assert!(!shown("URL", "https://example.com/", false).1);
        // Through the registry: every masked variable of the real environment is listed, and
        // reveal shows the real values.
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let masked = r.invoke("environment_reader", json!({}), None).unwrap();
        let revealed = r.invoke("environment_reader", json!({"reveal": true}), None).unwrap();
        assert_eq!(revealed["masked"], json!([]));
        for (name, value) in std::env::vars() {
            let shown_value = &masked["variables"][&name];
            if is_secret_name(&name) {
                assert_eq!(shown_value, MASK, "{name}");
                assert!(masked["masked"].as_array().unwrap().contains(&json!(name)));
            }
            assert_eq!(revealed["variables"][&name], value, "{name}");
        }
    }

    /// Runs the named test of this module in a child test process with `vars` set.
    fn run_in_child(test: &str, vars: &[(&str, &str)]) {
        let module = module_path!().split_once("::").map_or("", |(_, rest)| rest);
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", &format!("{module}::{test}"), "--test-threads=1"]);
        cmd.env("LLMSPELL_ENV_TEST_CHILD", "1");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "{stdout}");
    }

    #[test]
    fn masking_through_the_registry() {
        if std::env::var_os("LLMSPELL_ENV_TEST_CHILD").is_none() {
            return run_in_child(
                "masking_through_the_registry",
                &[
                    ("LLMSPELL_T_API_KEY", "hunter2"),
                    ("LLMSPELL_T_Auth_Token", "tok"),
                    ("LLMSPELL_T_DB_URL", "postgres://app:pw@db:5432/x"),
                    ("LLMSPELL_T_PLAIN", "visible"),
                ],
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let get = |name: &str, reveal: bool| {
            r.invoke(
                "environment_reader",
                json!({"operation": "get", "name": name, "reveal": reveal}),
                None,
            )
            .unwrap()
        };
        assert_eq!(
            get("LLMSPELL_T_API_KEY", false),
            json!({
                "name": "LLMSPELL_T_API_KEY", "value": MASK, "masked": true
            })
        );
        assert_eq!(get("LLMSPELL_T_API_KEY", true)["value"], "hunter2");
        assert_eq!(get("LLMSPELL_T_PLAIN", false)["value"], "visible");
        let out = r.invoke("environment_reader", json!({"prefix": "LLMSPELL_T_"}), None).unwrap();
        assert_eq!(out["count"], 4);
        assert_eq!(
            out["variables"],
            json!({
                "LLMSPELL_T_API_KEY": MASK,
                "LLMSPELL_T_Auth_Token": MASK,
                "LLMSPELL_T_DB_URL": format!("postgres://app:{MASK}@db:5432/x"),
                "LLMSPELL_T_PLAIN": "visible"
            })
        );
        assert_eq!(
            out["masked"],
            json!(["LLMSPELL_T_API_KEY", "LLMSPELL_T_Auth_Token", "LLMSPELL_T_DB_URL"])
        );
        let out = r
            .invoke(
                "environment_reader",
                json!({"pattern": "LLMSPELL_T_*_*", "reveal": true}),
                None,
            )
            .unwrap();
        assert_eq!(
            out["variables"],
            json!({
                "LLMSPELL_T_API_KEY": "hunter2",
                "LLMSPELL_T_Auth_Token": "tok",
                "LLMSPELL_T_DB_URL": "postgres://app:pw@db:5432/x"
            })
        );
        assert_eq!(out["masked"], json!([]));
    }

    #[test]
    fn environment_info_and_validation() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let out = r.invoke("environment_reader", json!({"operation": "info"}), None).unwrap();
        assert_eq!(out["os"], std::env::consts::OS);
        assert_eq!(out["arch"], std::env::consts::ARCH);
        assert_eq!(out["cwd"], std::env::current_dir().unwrap().display().to_string());
        assert_eq!(out["base_dir"], dir.path().display().to_string());
        assert_eq!(out["pid"], std::process::id());
        if cfg!(target_os = "linux") {
            let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
            assert_eq!(out["hostname"], expected.trim());
        }
        for (params, needle) in [
            (json!({"operation": "get"}), "name"),
            (json!({"operation": "get", "name": "A=B"}), "'='"),
            (json!({"operation": "set"}), "/operation"),
            (json!({"name": ""}), "/name"),
        ] {
            let e = r.invoke("environment_reader", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }

    // ---- process_executor

    #[test]
    fn runs_allowed_commands_with_args_stdin_cwd_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir(real.join("sub")).unwrap();
        std::fs::write(real.join("sub/data.txt"), "file contents\n").unwrap();
        let r =
            Registry::with_tools(tools(), policy(&real, &["echo", "sleep", "cat", "env", "pwd"]));
        let out = r
            .invoke(
                "process_executor",
                json!({"command": "echo", "args": ["a b", "*", "$HOME"]}),
                None,
            )
            .unwrap();
        assert_eq!(out["stdout"], "a b * $HOME\n", "no shell expands anything");
        assert_eq!(out["exit_code"], 0);
        assert_eq!(out["success"], true);
        assert!(out["duration_ms"].as_f64().unwrap() >= 0.0);

        let out = r
            .invoke(
                "process_executor",
                json!({"command": "cat", "stdin": "piped in\nline 2"}),
                None,
            )
            .unwrap();
        assert_eq!(out["stdout"], "piped in\nline 2");

        let out = r
            .invoke(
                "process_executor",
                json!({"command": "cat", "args": ["data.txt"], "cwd": "sub"}),
                None,
            )
            .unwrap();
        assert_eq!(out["stdout"], "file contents\n");
        let out = r.invoke("process_executor", json!({"command": "pwd"}), None).unwrap();
        assert_eq!(out["stdout"], format!("{}\n", real.display()), "default cwd: the base dir");

        let out = r
            .invoke(
                "process_executor",
                json!({"command": "env", "env": {"LLMSPELL_T": "v1"}, "clear_env": true}),
                None,
            )
            .unwrap();
        assert_eq!(out["stdout"], "LLMSPELL_T=v1\n");

        let out = r
            .invoke("process_executor", json!({"command": "cat", "args": ["no-such-file"]}), None)
            .unwrap();
        assert_eq!(out["success"], false, "a failing command is an answer");
        assert_eq!(out["exit_code"], 1);
        assert!(out["stderr"].as_str().unwrap().contains("no-such-file"));
    }

    #[test]
    fn output_is_capped_and_the_rest_drained() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let input = "x".repeat(200_000);
        let out = r
            .invoke(
                "process_executor",
                json!({"command": "cat", "stdin": input, "max_output_bytes": 1000}),
                None,
            )
            .unwrap();
        assert_eq!(out["stdout"].as_str().unwrap().len(), 1000);
        assert_eq!(out["stdout_bytes"], 200_000);
        assert_eq!(out["stdout_truncated"], true);
        assert_eq!(out["stderr_truncated"], false);
        assert_eq!(out["success"], true);
    }

    #[test]
    fn permission_and_path_rules() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let off = Registry::with_tools(tools(), policy(dir.path(), &[]));
        let e = off.invoke("process_executor", json!({"command": "echo"}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Permission);
        assert!(e.message.contains("off"), "{e}");
        for command in ["sh", "/bin/echo", "bash"] {
            let e = r.invoke("process_executor", json!({"command": command}), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Permission, "{command}: {e}");
        }
        let e = r
            .invoke("process_executor", json!({"command": "echo", "cwd": "/etc"}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Permission, "{e}");
        let e = r
            .invoke("process_executor", json!({"command": "echo", "cwd": "../"}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Permission, "{e}");
        let e = r
            .invoke("process_executor", json!({"command": "echo", "cwd": "missing"}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::NotFound, "{e}");
        let e = r
            .invoke("process_executor", json!({"command": "echo", "env": {"A=B": "x"}}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Validation, "{e}");
        let e = r
            .invoke("process_executor", json!({"command": "echo", "args": [1]}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Validation, "{e}");
        // Allowed but not installed.
        let none = Registry::with_tools(tools(), policy(dir.path(), &["llmspell-no-such-binary"]));
        let e = none
            .invoke("process_executor", json!({"command": "llmspell-no-such-binary"}), None)
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::NotFound, "{e}");
    }

    /// Pids of live (not zombie) processes whose command line is exactly `argv`.
    fn find_processes(argv: &[&str]) -> Vec<u32> {
        let want: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if std::fs::read(entry.path().join("cmdline")).is_ok_and(|c| c == want) {
                pids.push(pid);
            }
        }
        pids
    }

    /// Whether /proc still has `pid` (a zombie that nobody reaped counts as present).
    fn exists(pid: u32) -> bool {
        PathBuf::from(format!("/proc/{pid}")).exists()
    }

    fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_timeout_kills_and_reaps_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        // A duration no other test uses, to find this very process in /proc.
        let argv = ["sleep", "30.0417"];
        let invoke = std::thread::spawn(move || {
            r.invoke(
                "process_executor",
                json!({"command": "sleep", "args": ["30.0417"]}),
                Some(Duration::from_millis(1500)),
            )
        });
        let mut pids = Vec::new();
        assert!(
            wait_until(Duration::from_secs(10), || {
                pids = find_processes(&argv);
                !pids.is_empty()
            }),
            "the sleep never started"
        );
        let started = Instant::now();
        let e = invoke.join().unwrap().unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        assert!(started.elapsed() < Duration::from_secs(10));
        // Killed and reaped: not even a zombie is left.
        assert!(
            wait_until(Duration::from_secs(10), || pids.iter().all(|p| !exists(*p))),
            "sleep {pids:?} is still there after the timeout"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_timeout_kills_the_childs_own_children_too() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::with_tools(tools(), policy(dir.path(), &["sh"]));
        let script = "sleep 30.0533 & sleep 30.0534; wait";
        let invoke = std::thread::spawn(move || {
            r.invoke(
                "process_executor",
                json!({"command": "sh", "args": ["-c", script]}),
                Some(Duration::from_millis(1500)),
            )
        });
        let mut pids = Vec::new();
        assert!(wait_until(Duration::from_secs(10), || {
            pids = find_processes(&["sleep", "30.0533"]);
            pids.extend(find_processes(&["sleep", "30.0534"]));
            pids.len() == 2
        }));
        let e = invoke.join().unwrap().unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
        // Grandchildren are reaped by init (or linger as zombies if it does not reap): either
        // way their command line is gone once they are dead.
        assert!(
            wait_until(Duration::from_secs(10), || {
                find_processes(&["sleep", "30.0533"]).is_empty()
                    && find_processes(&["sleep", "30.0534"]).is_empty()
            }),
            "grandchildren {pids:?} survived the timeout"
        );
    }

    // ---- system_monitor

    #[test]
    fn monitor_reports_every_section() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let out = r.invoke("system_monitor", json!({}), None).unwrap();
        for key in ["cpu", "memory", "disk", "processes", "uptime"] {
            assert!(out[key].is_object(), "{key} missing: {out}");
        }
        let cpu = &out["cpu"];
        let count = cpu["count"].as_u64().unwrap();
        assert!(count >= 1);
        assert_eq!(cpu["per_core"].as_array().unwrap().len() as u64, count);
        let usage = cpu["usage_percent"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&usage), "{usage}");
        assert!(cpu["load_average"]["one"].as_f64().unwrap() >= 0.0);
        let mem = &out["memory"];
        let total = mem["total_bytes"].as_u64().unwrap();
        assert!(total > 0);
        assert!(mem["available_bytes"].as_u64().unwrap() <= total);
        assert!(mem["swap"]["total_bytes"].is_u64());
        if cfg!(target_os = "linux") {
            let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
            let kb: u64 = meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap();
            assert_eq!(total, kb * 1024);
        }
        let procs = &out["processes"];
        assert!(procs["count"].as_u64().unwrap() >= 1);
        let top = procs["top"].as_array().unwrap();
        assert!(!top.is_empty() && top.len() <= 10);
        let mems: Vec<u64> = top.iter().map(|p| p["memory_bytes"].as_u64().unwrap()).collect();
        assert!(mems.windows(2).all(|w| w[0] >= w[1]), "not sorted by memory: {mems:?}");
        assert!(out["uptime"]["uptime_seconds"].as_u64().unwrap() > 0);
        let disks = out["disk"]["disks"].as_array().unwrap();
        for d in disks {
            assert!(d["available_bytes"].as_u64().unwrap() <= d["total_bytes"].as_u64().unwrap());
        }
    }

    #[test]
    fn monitor_single_sections_and_options() {
        let dir = tempfile::tempdir().unwrap();
        let r = registry(dir.path());
        let out = r
            .invoke(
                "system_monitor",
                json!({"operation": "processes", "limit": 3, "sort_by": "cpu"}),
                None,
            )
            .unwrap();
        assert_eq!(out.as_object().unwrap().len(), 1, "{out}");
        assert_eq!(out["processes"]["sort_by"], "cpu");
        let top = out["processes"]["top"].as_array().unwrap();
        assert!(top.len() <= 3);
        assert!(top.iter().all(|p| p["cpu_percent"].is_number()));
        let out = r.invoke("system_monitor", json!({"operation": "disk"}), None).unwrap();
        assert!(out["disk"]["count"].is_u64());
        let e = r.invoke("system_monitor", json!({"limit": 1000}), None).unwrap_err();
        assert_eq!(e.error_type, ErrorType::Validation);
        assert!(e.message.contains("/limit"), "{e}");
        // CPU sampling stops at the deadline.
        let e = r
            .invoke("system_monitor", json!({"operation": "cpu"}), Some(Duration::from_millis(20)))
            .unwrap_err();
        assert_eq!(e.error_type, ErrorType::Timeout);
    }
}

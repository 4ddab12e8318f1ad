//! Live numbers about the kernel, shared by its threads: served in kernel_info_reply under
//! `llmspell` (for `llmspell-kerneld status` and the fleet) and in the SIGUSR2 dump.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use serde_json::{Value, json};

use super::Interrupter;

#[derive(Debug)]
pub struct Stats {
    pub id: String,
    started: Instant,
    started_at: String,
    executions: AtomicU64,
    queued: AtomicU64,
    tool_requests: AtomicU64,
    tool_errors: AtomicU64,
    tools_queued: AtomicU64,
    tools_running: AtomicU64,
    /// What the tool registry offers, set once at start ([`Stats::set_tools`]).
    tools: OnceLock<Value>,
    clients: Mutex<HashSet<String>>,
    last_error: Mutex<Option<String>>,
    /// Knows whether the executor is serving a shell request (it marks each one, as busy/idle
    /// on iopub); read, never set, here.
    interrupter: Interrupter,
    /// When a shell or tool request last started or ended: what `idle_s` counts from, so a
    /// culler (llmspell-fleet cull) can tell an idle kernel from a working one. Requests on
    /// control (kernel_info for health checks) do not count.
    last_activity: Mutex<Instant>,
}

impl Stats {
    pub fn new(id: &str, interrupter: &Interrupter) -> Stats {
        Stats {
            id: id.to_owned(),
            started: Instant::now(),
            started_at: llmspell_wire::message::now_iso8601(),
            executions: AtomicU64::new(0),
            queued: AtomicU64::new(0),
            tool_requests: AtomicU64::new(0),
            tool_errors: AtomicU64::new(0),
            tools_queued: AtomicU64::new(0),
            tools_running: AtomicU64::new(0),
            tools: OnceLock::new(),
            clients: Mutex::new(HashSet::new()),
            last_error: Mutex::new(None),
            interrupter: interrupter.clone(),
            last_activity: Mutex::new(Instant::now()),
        }
    }

    /// A request from `session` arrived (on any channel).
    pub fn saw_client(&self, session: &str) {
        // Bounded, so a client inventing a session per request cannot grow it without end.
        if let Ok(mut clients) = self.clients.lock()
            && clients.len() < 10_000
        {
            clients.insert(session.to_owned());
        }
    }

    pub fn enqueued(&self) {
        self.queued.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dequeued(&self) {
        let _ =
            self.queued.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Records the registry's tool count and policy (served under `tools`).
    pub fn set_tools(&self, registry: &llmspell_tools::Registry) {
        let policy = registry.policy();
        let _ = self.tools.set(json!({
            "count": registry.len(),
            "allowed_paths": policy.roots(),
            "allowed_executables": policy.executables(),
            "timeout_secs": policy.default_timeout().as_secs_f64(),
        }));
    }

    /// A shell request started or ended: the kernel was active now.
    pub fn touch(&self) {
        if let Ok(mut last) = self.last_activity.lock() {
            *last = Instant::now();
        }
    }

    /// Busy: a shell request or a tool_request is being served.
    pub fn is_busy(&self) -> bool {
        self.interrupter.is_busy() || self.tools_running.load(Ordering::Relaxed) > 0
    }

    /// Seconds since the last shell or tool request started or ended. While busy this is how
    /// long the running request has run, which is what `cull --busy` (jupyter_server's
    /// `cull_busy`) compares.
    pub fn idle_s(&self) -> f64 {
        self.last_activity.lock().map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0)
    }

    /// A tool_request was queued for the tool threads.
    pub fn tool_enqueued(&self) {
        self.tools_queued.fetch_add(1, Ordering::Relaxed);
    }

    /// A tool thread took a tool_request from the queue.
    pub fn tool_started(&self) {
        let _ = self
            .tools_queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.tools_running.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    /// A tool_request was answered (`ok`: its reply's status was ok).
    pub fn tool_finished(&self, ok: bool) {
        let _ = self
            .tools_running
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        self.tool_requests.fetch_add(1, Ordering::Relaxed);
        self.touch();
        if !ok {
            self.tool_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn executed(&self) {
        self.executions.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failed(&self, error: String) {
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    pub fn executions(&self) -> u64 {
        self.executions.load(Ordering::Relaxed)
    }

    /// The numbers as JSON (`rss_bytes` read from /proc, absent elsewhere).
    pub fn to_json(&self) -> Value {
        let clients = self.clients.lock().map(|c| c.len()).unwrap_or(0);
        let last_error = self.last_error.lock().ok().and_then(|e| e.clone());
        json!({
            "id": self.id,
            "pid": std::process::id(),
            "started_at": self.started_at,
            "uptime_s": self.started.elapsed().as_secs_f64(),
            "executions": self.executions(),
            "queue_depth": self.queued.load(Ordering::Relaxed),
            "tool_requests": self.tool_requests.load(Ordering::Relaxed),
            "tool_errors": self.tool_errors.load(Ordering::Relaxed),
            "tools_running": self.tools_running.load(Ordering::Relaxed),
            "tool_queue_depth": self.tools_queued.load(Ordering::Relaxed),
            "tools": self.tools.get(),
            "clients": clients,
            "busy": self.is_busy(),
            "idle_s": self.idle_s(),
            "rss_bytes": rss_bytes(),
            "last_error": last_error,
        })
    }
}

/// Resident set size of this process, from /proc/self/status.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_while_serving_and_idle_time_restarts_after() {
        let interrupter = Interrupter::default();
        let stats = Stats::new("t", &interrupter);
        assert_eq!(stats.to_json()["busy"], false);
        // What the executor does around each shell request.
        interrupter.set_busy(true);
        stats.touch();
        assert_eq!(stats.to_json()["busy"], true);
        interrupter.set_busy(false);
        stats.touch();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(stats.idle_s() > 0.0);
        stats.tool_enqueued();
        stats.tool_started();
        assert!(stats.is_busy(), "a running tool_request makes the kernel busy");
        stats.tool_finished(true);
        assert!(!stats.is_busy());
    }
}

//! `llmspell-kerneld start`: read flags, config and connection file; bind; write the connection
//! file; run the threads until shutdown; clean up.
//!
//! Order matters. Everything before [`transport::bind`] is single-threaded with no ZeroMQ
//! context, so daemon mode can fork there. The connection file is written only after every
//! socket is bound (a reader never finds ports nobody listens on) and removed on the way out
//! if this process wrote it; a file Jupyter wrote is never rewritten or removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use llmspell_common::{ExitCode, Home, KernelId};
use llmspell_debug::Debugger;
use llmspell_wire::ConnectionInfo;

use crate::cli::LogFormat;
use crate::cli::StartArgs;
use crate::config::KernelConfig;
use crate::core::executor::{Command, Executor};
use crate::core::frontend::Context;
use crate::core::stats::Stats;
use crate::core::tools::{TOOL_THREADS, ToolThread};
use crate::core::{Interrupter, Lifecycle};
use crate::daemon::{self, Readiness, Side};
use crate::history::History;
use crate::logger::{self, LogTarget};
use crate::signals::{self, SignalContext};
use crate::transport::control::ControlThread;
use crate::transport::mailbox::Outbox;
use crate::transport::mailbox::mailbox;
use crate::transport::publisher::{self, Publish};
use crate::transport::shell::ShellThread;
use crate::transport::{self, heartbeat};
use crate::{Failure, config};
use llmspell_common::{Liveness, PidFile, PidFileError};
use llmspell_tools::{Policy, Registry};
use llmspell_wire::Message;
use serde_json::json;
use tracing_subscriber::filter::LevelFilter;

/// Where the connection info comes from and whether this process owns the file.
struct Plan {
    info: ConnectionInfo,
    path: PathBuf,
    owned: bool,
}

pub fn run(mut args: StartArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    // Absolute now: the daemon runs in `/`, and SIGUSR1 reads the file again.
    args.config = args.config.as_deref().map(absolute).transpose()?;
    let config = config::load(args.config.as_deref(), &home)?;
    // Tools resolve relative paths against the directory the kernel was started in, which a
    // daemon leaves for `/` at the fork: capture it first.
    let base_dir = std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir());
    let tools = config::tools_policy(args.config.as_deref(), &home, base_dir.clone())?;
    let providers = config::providers(args.config.as_deref(), &home, &base_dir)?;
    let id = match &args.id {
        Some(id) => KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?,
        None => KernelId::generate(),
    };
    let level_override = level_override(&args)?;
    let plan = plan(&args, &home, &id)?;
    let log_target = log_target(&args, &home, &id)?;
    let mut readiness = Readiness::default();
    if args.daemon {
        let (LogTarget::File(path) | LogTarget::Rotating { path, .. }) = &log_target else {
            unreachable!("daemons always log to a file")
        };
        // Refuse a running duplicate before forking, so its error never lands in the running
        // kernel's log. (The lock taken after the fork is what really decides.)
        if let Some(pid_path) = pid_path(&args, &home, &id, &plan)
            && let Ok(Liveness::Running(pid)) = llmspell_common::pidfile::probe(&pid_path)
        {
            let held = PidFileError::Held { path: pid_path, pid };
            return Err(Failure::from_error(held));
        }
        // --- the fork: no thread or ZeroMQ context exists before this line. ---
        match daemon::detach(logger::open_log_file(path)?)? {
            Side::Parent(Ok(connection_file)) => {
                println!("{connection_file}");
                return Ok(());
            }
            Side::Parent(Err(failure)) => return Err(failure),
            Side::Daemon(daemon_side) => readiness = daemon_side,
        }
    }
    let setup =
        Setup { args, home, config, tools, providers, id, level_override, plan, log_target };
    setup.serve(&mut readiness).inspect_err(|failure| {
        tracing::error!("{failure}");
        readiness.failed(failure);
    })
}

/// Everything decided before the fork.
struct Setup {
    args: StartArgs,
    home: Home,
    config: KernelConfig,
    /// The `[tools]` policy, read before the fork.
    tools: Policy,
    /// The `[providers.NAME]` tables, read before the fork.
    providers: llmspell_llm::Providers,
    id: KernelId,
    level_override: Option<LevelFilter>,
    plan: Plan,
    log_target: LogTarget,
}

impl Setup {
    fn serve(self, readiness: &mut Readiness) -> Result<(), Failure> {
        let level = self.level_override.or(self.config.log_level).unwrap_or(LevelFilter::WARN);
        let format = self.args.log_format.unwrap_or(LogFormat::Text);
        let log = logger::init(&self.log_target, format, level, self.args.daemon)?;
        let pid_file = pid_path(&self.args, &self.home, &self.id, &self.plan)
            .map(|p| PidFile::acquire(&p).map_err(Failure::from_error))
            .transpose()?;
        let history = History::open(self.home.kernel_history_file());
        let bound = transport::bind(
            self.plan.info.clone(),
            self.config.max_message_bytes,
            self.args.port_range,
        )?;
        let info = bound.info.clone();
        let guard = FileGuard(self.plan.owned.then(|| self.plan.path.clone()));
        let (lifecycle_tx, lifecycle_rx) = unbounded();
        let interrupter = Interrupter::default();
        let stats = Arc::new(Stats::new(self.id.as_str(), &interrupter));
        signals::install(SignalContext {
            interrupter: interrupter.clone(),
            lifecycle: lifecycle_tx.clone(),
            log,
            stats: stats.clone(),
            home: self.home.clone(),
            config_path: self.args.config.clone(),
            level_override: self.level_override,
            dump_file: self.home.dump_file(&self.id),
            connection_file: self.plan.path.clone(),
            ports: info.ports(),
        })?;
        signals::watch_parent(lifecycle_tx.clone(), self.args.daemon);
        let registry = Arc::new(Registry::builtin(self.tools));
        stats.set_tools(&registry);
        tracing::info!(
            "{} tools; allowed paths {:?}; executables {:?}",
            registry.len(),
            registry.policy().roots(),
            registry.policy().executables()
        );
        // Names and URLs only: keys are read per request and never logged.
        tracing::info!(
            "LLM providers: {:?}",
            self.providers.list.iter().map(|p| (&p.name, p.kind.as_str())).collect::<Vec<_>>()
        );
        let providers = Arc::new(self.providers);
        let threads = spawn_threads(
            bound,
            interrupter.clone(),
            lifecycle_tx,
            self.plan.owned,
            history,
            stats,
            self.home.state_db(&self.id),
            registry,
            providers,
            debug_prefix(&self.home, &self.id),
        )?;
        if self.plan.owned {
            info.write(&self.plan.path).map_err(Failure::from_error)?;
        }
        if self.args.daemon {
            readiness.ready(&self.plan.path);
        } else {
            announce(&self.plan.path)?;
        }
        let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
        tracing::info!(
            "kernel {} listening (ports {:?}) with connection file {}",
            self.id.as_str(),
            info.ports(),
            self.plan.path.display()
        );
        let grace = Duration::from_secs(self.config.shutdown_grace_secs);
        shut_down_when_asked(&lifecycle_rx, &interrupter, &threads, grace);
        drop(guard);
        drop(pid_file);
        tracing::info!("kernel {} stopped", self.id.as_str());
        Ok(())
    }
}

/// The PID file: `--pid-file`, else `kernels/kernel-<id>.pid` for kernels that own their
/// connection file or were given an id. A kernel Jupyter launched with its own file has none.
fn pid_path(args: &StartArgs, home: &Home, id: &KernelId, plan: &Plan) -> Option<PathBuf> {
    match &args.pid_file {
        Some(path) => std::path::absolute(path).ok(),
        None => (plan.owned || args.id.is_some()).then(|| home.pid_file(id)),
    }
}

/// `--log-level` (a usage error if bad), else `LLMSPELL_LOG` (ignored with a warning if bad).
fn level_override(args: &StartArgs) -> Result<Option<LevelFilter>, Failure> {
    if let Some(level) = &args.log_level {
        return logger::parse_level(level).map(Some).ok_or_else(|| {
            Failure::new(
                ExitCode::Usage,
                format!("--log-level {level:?}: use off, error, warn, info, debug or trace"),
            )
        });
    }
    Ok(std::env::var("LLMSPELL_LOG").ok().and_then(|v| logger::parse_level(&v)))
}

fn log_target(args: &StartArgs, home: &Home, id: &KernelId) -> Result<LogTarget, Failure> {
    let path = match (&args.log_file, args.daemon) {
        (Some(path), _) => absolute(path)?,
        (None, true) => home.log_file(id),
        (None, false) => return Ok(LogTarget::Stderr),
    };
    match &args.log_rotate_size {
        None => Ok(LogTarget::File(path)),
        Some(size) => {
            let max_bytes = logger::parse_size(size).ok_or_else(|| {
                Failure::new(
                    ExitCode::Usage,
                    format!("--log-rotate-size {size:?}: use a size such as 512K, 10M or 1G"),
                )
            })?;
            Ok(LogTarget::Rotating { path, max_bytes, keep: args.log_rotate_keep })
        }
    }
}

/// Paths given on the command line are resolved now: the daemon runs in `/`.
fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    std::path::absolute(path)
        .map_err(|e| Failure::new(ExitCode::Usage, format!("{}: {e}", path.display())))
}

fn plan(args: &StartArgs, home: &Home, id: &KernelId) -> Result<Plan, Failure> {
    if let Some(path) = args.connection_file.as_ref().filter(|p| p.exists()) {
        let info = ConnectionInfo::read(path).map_err(Failure::from_error)?;
        return Ok(Plan { info, path: absolute(path)?, owned: false });
    }
    let path = match &args.connection_file {
        Some(path) => absolute(path)?,
        None => home.connection_file(id),
    };
    Ok(Plan { info: ConnectionInfo::new(&args.ip, random_key()?), path, owned: true })
}

/// 256 random bits as 64 hex characters; the key is the UTF-8 bytes of that string.
fn random_key() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        Failure::new(ExitCode::Software, format!("no OS randomness for the key: {e}"))
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Blocks until shutdown is asked for, then shuts down in order. After SIGTERM: stop taking
/// requests, let the running cell finish for up to `grace` (a second SIGTERM cuts that short),
/// interrupt it if it is still running, publish `shutdown_reply` on iopub so every client knows.
/// In all cases the `State` store is checkpointed and closed, and the publisher is flushed so the
/// last output and idle reach the clients.
fn shut_down_when_asked(
    lifecycle: &Receiver<Lifecycle>,
    interrupter: &Interrupter,
    threads: &Threads,
    grace: Duration,
) {
    let Threads { publisher, session, commands } = threads;
    let first = lifecycle.recv().unwrap_or(Lifecycle::Shutdown);
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    if first == Lifecycle::Terminate {
        interrupter.drain();
        let hurried = wait_idle(lifecycle, interrupter, grace);
        if interrupter.is_busy() {
            tracing::warn!("the running cell did not finish in time; interrupting it");
            interrupter.interrupt();
            if !hurried {
                wait_idle(lifecycle, interrupter, Duration::from_secs(2));
            }
        }
        let notice =
            Message::new("shutdown_reply", session, json!({"status": "ok", "restart": false}));
        publisher.send(Publish::Message(Box::new(notice)));
    }
    close_state(commands);
    let (ack_tx, ack_rx) = bounded(1);
    if publisher.send(Publish::Flush(ack_tx)) {
        let _ = ack_rx.recv_timeout(Duration::from_secs(1));
    }
    // ZeroMQ sends asynchronously; give the I/O thread a moment to put the last frames out.
    std::thread::sleep(Duration::from_millis(50));
}

/// Asks the executor to checkpoint and close the `State` store. Every save is already committed,
/// so a cell that still holds the executor (it ignored the interrupt) costs nothing but the
/// checkpoint.
fn close_state(commands: &Sender<Command>) {
    let (done_tx, done_rx) = bounded(1);
    if commands.send(Command::CloseState(done_tx)).is_err() {
        return;
    }
    match done_rx.recv_timeout(Duration::from_secs(2)) {
        Ok(Ok(())) => tracing::info!("state store closed"),
        Ok(Err(e)) => tracing::error!("cannot close the state store: {e}"),
        Err(_) => tracing::warn!("the executor is still busy; state store left to SQLite's log"),
    }
}

/// Waits until no request runs, for at most `limit`; true if a second SIGTERM cut it short.
fn wait_idle(lifecycle: &Receiver<Lifecycle>, interrupter: &Interrupter, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while interrupter.is_busy() && std::time::Instant::now() < deadline {
        if let Ok(Lifecycle::Terminate) = lifecycle.recv_timeout(Duration::from_millis(10)) {
            tracing::warn!("second SIGTERM: not waiting for the running cell");
            return true;
        }
    }
    false
}

/// What the main thread keeps of the kernel's threads for the way out.
struct Threads {
    /// To publish the shutdown notice and flush.
    publisher: Outbox<Publish>,
    session: String,
    /// To close the `State` store.
    commands: Sender<Command>,
}

/// Starts heartbeat, publisher, control, shell, the tool threads and the executor; returns once
/// the engine is up.
#[allow(clippy::too_many_arguments)]
fn spawn_threads(
    bound: transport::Bound,
    interrupter: Interrupter,
    lifecycle: Sender<Lifecycle>,
    restart_in_place: bool,
    history: History,
    stats: Arc<Stats>,
    state: PathBuf,
    registry: Arc<Registry>,
    providers: Arc<llmspell_llm::Providers>,
    debug_prefix: String,
) -> Result<Threads, Failure> {
    let transport::Bound { ctx, shell, control, stdin, iopub, hb, info } = bound;
    let signer = llmspell_wire::Signer::new(&info.key);
    let session = uuid::Uuid::new_v4().to_string();
    let session_copy = session.clone();
    let zmq_failure = |e: zmq::Error| Failure::new(ExitCode::Software, format!("zmq: {e}"));
    let (pub_box, pub_addr) = mailbox::<Publish>(&ctx, "iopub").map_err(zmq_failure)?;
    let (shell_box, shell_addr) = mailbox(&ctx, "shell").map_err(zmq_failure)?;
    let (request_tx, request_rx) = unbounded();
    let (tool_tx, tool_rx) = unbounded();
    let (input_tx, input_rx) = unbounded();
    let (command_tx, command_rx) = unbounded::<Command>();

    let (control_box, control_addr) = mailbox(&ctx, "control").map_err(zmq_failure)?;
    let debug_parent: Arc<Mutex<Option<Message>>> = Arc::default();
    let debugger = {
        let iopub = Mutex::new(pub_addr.outbox().map_err(zmq_failure)?);
        let parent = debug_parent.clone();
        let session = session.clone();
        // debug_event on iopub (messaging spec, "Debug event"); parent: the latest debug_request.
        Debugger::new(
            debug_prefix,
            Arc::new(move |event| {
                let parent = parent.lock().unwrap_or_else(|e| e.into_inner()).clone();
                if let Some(parent) = parent {
                    let msg = parent.broadcast("debug_event", &session, event);
                    iopub
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .send(Publish::Message(Box::new(msg)));
                }
            }),
        )
    };

    heartbeat::spawn(hb).map_err(thread_failure)?;
    publisher::spawn(iopub, pub_box, signer.clone(), session.clone()).map_err(thread_failure)?;
    ControlThread {
        control,
        iopub: pub_addr.outbox().map_err(zmq_failure)?,
        signer: signer.clone(),
        session: session.clone(),
        interrupter: interrupter.clone(),
        commands: command_tx.clone(),
        lifecycle: lifecycle.clone(),
        restart_in_place,
        stats: stats.clone(),
        debugger: debugger.clone(),
        mailbox: control_box,
        replies: Arc::new(Mutex::new(control_addr.outbox().map_err(zmq_failure)?)),
        debug_parent,
    }
    .spawn()
    .map_err(thread_failure)?;
    ShellThread {
        shell,
        stdin,
        mailbox: shell_box,
        requests: request_tx,
        tool_requests: tool_tx,
        input_replies: input_tx,
        signer,
        stats: stats.clone(),
    }
    .spawn()
    .map_err(thread_failure)?;

    for number in 0..TOOL_THREADS {
        ToolThread {
            number,
            requests: tool_rx.clone(),
            registry: registry.clone(),
            iopub: pub_addr.outbox().map_err(zmq_failure)?,
            shell: shell_addr.outbox().map_err(zmq_failure)?,
            session: session.clone(),
            stats: stats.clone(),
        }
        .spawn()
        .map_err(thread_failure)?;
    }

    let ctx_for_engine = Context {
        session,
        iopub: pub_addr.outbox().map_err(zmq_failure)?,
        shell: shell_addr.outbox().map_err(zmq_failure)?,
        input_replies: input_rx,
        interrupter,
        parent: None,
        allow_stdin: false,
        stats,
    };
    let (ready_tx, ready_rx) = bounded(1);
    std::thread::Builder::new()
        .name("executor".into())
        .spawn(move || {
            match Executor::new(
                ctx_for_engine,
                history,
                lifecycle,
                state,
                registry,
                providers,
                debugger,
            ) {
                Ok(executor) => {
                    let _ = ready_tx.send(Ok(()));
                    executor.run(request_rx, command_rx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        })
        .map_err(thread_failure)?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(Failure::new(ExitCode::Software, format!("cannot start Lua: {e}")));
        }
        Err(_) => {
            return Err(Failure::new(
                ExitCode::Software,
                "the executor thread died while starting",
            ));
        }
    }
    // The context lives as long as the process; its sockets end with it.
    std::mem::forget(ctx);
    Ok(Threads {
        publisher: pub_addr.outbox().map_err(zmq_failure)?,
        session: session_copy,
        commands: command_tx,
    })
}

/// `tmpFilePrefix` for the debugger: the kernel's `debug/<id>/` directory, absolute, with a
/// trailing slash (JupyterLab appends the hash and suffix to it).
fn debug_prefix(home: &Home, id: &KernelId) -> String {
    let dir = home.debug_dir(id);
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    format!("{}/", dir.display())
}

fn thread_failure(e: std::io::Error) -> Failure {
    Failure::new(ExitCode::Software, format!("cannot start a thread: {e}"))
}

/// Prints the connection file path as the first line on stdout.
fn announce(path: &Path) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", path.display())
        .and_then(|()| out.flush())
        .or_else(|e| {
            // Nobody reading our stdout (closed pipe) is not a reason to stop serving.
            if e.kind() == std::io::ErrorKind::BrokenPipe { Ok(()) } else { Err(e) }
        })
        .map_err(|e| {
            Failure::new(llmspell_common::exit::for_io_error(&e, false), format!("stdout: {e}"))
        })
}

/// Removes the connection file this process wrote, however `run` ends.
struct FileGuard(Option<PathBuf>);

impl Drop for FileGuard {
    fn drop(&mut self) {
        let Some(path) = &self.0 else { return };
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
            _ => {}
        }
    }
}

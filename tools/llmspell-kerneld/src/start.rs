//! `llmspell-kerneld start`: read flags, config and connection file; bind; write the connection
//! file; run the threads until shutdown; clean up.
//!
//! Order matters. Everything before [`transport::bind`] is single-threaded with no ZeroMQ
//! context, so daemon mode can fork there. The connection file is written only after every
//! socket is bound (a reader never finds ports nobody listens on) and removed on the way out
//! if this process wrote it; a file Jupyter wrote is never rewritten or removed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded, unbounded};
use llmspell_common::{ExitCode, HasExitCode, Home, KernelId};
use llmspell_wire::ConnectionInfo;

use crate::cli::StartArgs;
use crate::core::executor::{Command, Executor};
use crate::core::frontend::Context;
use crate::core::stats::Stats;
use crate::core::{Interrupter, Lifecycle};
use crate::history::History;
use crate::transport::control::ControlThread;
use crate::transport::mailbox::mailbox;
use crate::transport::publisher::{self, Publish};
use crate::transport::shell::ShellThread;
use crate::transport::{self, heartbeat};
use crate::{Failure, config, logger};

/// Where the connection info comes from and whether this process owns the file.
struct Plan {
    info: ConnectionInfo,
    path: PathBuf,
    owned: bool,
}

pub fn run(args: StartArgs) -> Result<(), Failure> {
    let home = Home::from_env();
    let config = config::load(args.config.as_deref(), &home)?;
    logger::init(config.log_level);
    let id = match &args.id {
        Some(id) => KernelId::new(id).map_err(|e| Failure::new(ExitCode::Usage, e.to_string()))?,
        None => KernelId::generate(),
    };
    let plan = plan(&args, &home, &id)?;
    let history = History::open(home.kernel_history_file());
    // --- daemon mode forks here: no thread or ZeroMQ context exists before this line. ---
    let bound = transport::bind(plan.info, config.max_message_bytes)?;
    let info = bound.info.clone();
    let guard = FileGuard(plan.owned.then(|| plan.path.clone()));
    let (lifecycle_tx, lifecycle_rx) = unbounded();
    let interrupter = Interrupter::default();
    install_signals(interrupter.clone(), lifecycle_tx.clone())?;
    let stats = Arc::new(Stats::new(id.as_str()));
    let publisher = spawn_threads(bound, interrupter, lifecycle_tx, plan.owned, history, stats)?;
    if plan.owned {
        info.write(&plan.path).map_err(Failure::from_error)?;
    }
    announce(&plan.path)?;
    log::info!(
        "kernel {} listening (ports {:?}) with connection file {}",
        id.as_str(),
        info.ports(),
        plan.path.display()
    );
    wait_for_shutdown(&lifecycle_rx, &publisher);
    drop(guard);
    log::info!("kernel {} stopped", id.as_str());
    Ok(())
}

fn plan(args: &StartArgs, home: &Home, id: &KernelId) -> Result<Plan, Failure> {
    if let Some(path) = args.connection_file.as_ref().filter(|p| p.exists()) {
        let info = ConnectionInfo::read(path).map_err(Failure::from_error)?;
        return Ok(Plan { info, path: path.clone(), owned: false });
    }
    let path = args.connection_file.clone().unwrap_or_else(|| home.connection_file(id));
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

fn install_signals(
    interrupter: Interrupter,
    lifecycle: crossbeam_channel::Sender<Lifecycle>,
) -> Result<(), Failure> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| {
        Failure::new(ExitCode::Software, format!("cannot install signal handlers: {e}"))
    })?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                match signal {
                    SIGINT => {
                        log::info!("SIGINT: interrupting the running cell, if any");
                        interrupter.interrupt();
                    }
                    _ => {
                        log::info!("SIGTERM: shutting down");
                        interrupter.interrupt();
                        let _ = lifecycle.send(Lifecycle::Shutdown);
                    }
                }
            }
        })
        .map_err(thread_failure)?;
    Ok(())
}

/// Starts heartbeat, publisher, control, shell and executor; returns the publisher's address
/// (to flush on the way out) once the engine is up.
fn spawn_threads(
    bound: transport::Bound,
    interrupter: Interrupter,
    lifecycle: crossbeam_channel::Sender<Lifecycle>,
    restart_in_place: bool,
    history: History,
    stats: Arc<Stats>,
) -> Result<crate::transport::mailbox::Outbox<Publish>, Failure> {
    let transport::Bound { ctx, shell, control, stdin, iopub, hb, info } = bound;
    let signer = llmspell_wire::Signer::new(&info.key);
    let session = uuid::Uuid::new_v4().to_string();
    let zmq_failure = |e: zmq::Error| Failure::new(ExitCode::Software, format!("zmq: {e}"));
    let (pub_box, pub_addr) = mailbox::<Publish>(&ctx, "iopub").map_err(zmq_failure)?;
    let (shell_box, shell_addr) = mailbox(&ctx, "shell").map_err(zmq_failure)?;
    let (request_tx, request_rx) = unbounded();
    let (input_tx, input_rx) = unbounded();
    let (command_tx, command_rx) = unbounded::<Command>();

    heartbeat::spawn(hb).map_err(thread_failure)?;
    publisher::spawn(iopub, pub_box, signer.clone(), session.clone()).map_err(thread_failure)?;
    ControlThread {
        control,
        iopub: pub_addr.outbox().map_err(zmq_failure)?,
        signer: signer.clone(),
        session: session.clone(),
        interrupter: interrupter.clone(),
        commands: command_tx,
        lifecycle: lifecycle.clone(),
        restart_in_place,
        stats: stats.clone(),
    }
    .spawn()
    .map_err(thread_failure)?;
    ShellThread {
        shell,
        stdin,
        mailbox: shell_box,
        requests: request_tx,
        input_replies: input_tx,
        signer,
        stats: stats.clone(),
    }
    .spawn()
    .map_err(thread_failure)?;

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
        .spawn(move || match Executor::new(ctx_for_engine, history, lifecycle) {
            Ok(executor) => {
                let _ = ready_tx.send(Ok(()));
                executor.run(request_rx, command_rx);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
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
    pub_addr.outbox().map_err(zmq_failure)
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

/// Blocks until shutdown is asked for, then lets the publisher send what it holds
/// (shutdown_reply's idle, the last output) for up to a second.
fn wait_for_shutdown(
    lifecycle: &Receiver<Lifecycle>,
    publisher: &crate::transport::mailbox::Outbox<Publish>,
) {
    let _ = lifecycle.recv();
    let (ack_tx, ack_rx) = bounded(1);
    if publisher.send(Publish::Flush(ack_tx)) {
        let _ = ack_rx.recv_timeout(Duration::from_secs(1));
    }
    // ZeroMQ sends asynchronously; give the I/O thread a moment to put the last frames on the wire.
    std::thread::sleep(Duration::from_millis(50));
}

/// Removes the connection file this process wrote, however `run` ends.
struct FileGuard(Option<PathBuf>);

impl Drop for FileGuard {
    fn drop(&mut self) {
        let Some(path) = &self.0 else { return };
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                log::warn!("cannot remove {}: {e}", path.display());
            }
            _ => {}
        }
    }
}

impl HasExitCode for Failure {
    fn exit_code(&self) -> ExitCode {
        self.code
    }
}

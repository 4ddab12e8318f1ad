//! One debug session: the DAP client on one side, a kernel's debugger on the other
//! (ARCHITECTURE §3; the kernel side of the contract is `debug_request` on control,
//! `debug_reply` back, `debug_event` on iopub, each carrying a DAP message).
//!
//! - `initialize` is answered here with a fixed set of capabilities (the kernel debugger's
//!   contract), then `initialized` is sent. Requests that need a kernel and arrive before
//!   `launch`/`attach` (setBreakpoints, configurationDone...) wait in a queue and are handled,
//!   in order, once the kernel is there.
//! - `launch {program, args?, stopOnEntry?, cwd?, kernel?, noDebug?}` uses the kernel named by
//!   `kernel` or `--kernel`, else starts one of its own ([`crate::kernel`]); it forwards
//!   `initialize` and `attach` to the kernel's debugger. On `configurationDone` the program runs:
//!   a silent execute sets the global `arg` (as `lua FILE ARGS` does), then the file's text is
//!   sent as an execute_request whose metadata `{"llmspell": {"source_path", "stop_on_entry"}}`
//!   makes the kernel run it under its absolute path. Its `stream` output becomes `output`
//!   events, an `error` an `output` on stderr, and its execute_reply (with the `idle` after it,
//!   so no output is lost) `exited {exitCode: 0|1}` and `terminated`.
//! - `attach {kernel?}` joins a running kernel: code run there from elsewhere stops at
//!   breakpoints, and its output is shown too.
//! - Every other request is forwarded as a debug_request; the debug_reply is passed back with
//!   the client's `request_seq` and our own `seq`. Kernel `debug_event`s are passed on, except
//!   `initialized`, `exited` and `terminated`, which this adapter owns.
//! - `disconnect` detaches the kernel's debugger (breakpoints cleared, execution resumed); a
//!   launched program is interrupted (unless `terminateDebuggee: false`) and a kernel the
//!   adapter started is stopped; an attached kernel keeps running. The adapter then ends. A
//!   client that just closes the stream gets the same clean-up.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llmspell_common::{ExitCode, Failure, Home};
use llmspell_wire::{Channel, Message, WireError};
use serde_json::{Value, json};

use crate::kernel::Kernel;
use crate::transport::{Inbox, Incoming, Outbox};

/// How long the kernel's debugger may take to answer a request.
const DEBUG_WAIT: Duration = Duration::from_secs(30);
/// How often pending requests and the kernel's life are checked.
const TICK: Duration = Duration::from_secs(1);
/// How often a kernel we did not start is asked for a heartbeat, and how long it may take.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
const HEARTBEAT_WAIT: Duration = Duration::from_secs(2);
/// How long the debugger's `disconnect` may take when the client is already gone.
const CLEANUP_WAIT: Duration = Duration::from_secs(2);

/// What the command line gave the session.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--kernel ID|PATH`.
    pub kernel: Option<String>,
    pub home: Home,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Before launch or attach.
    Idle,
    Launch,
    Attach,
}

/// What to do when a forwarded request is answered.
#[derive(Debug, Clone, Copy)]
enum After {
    Reply,
    /// configurationDone: start the launched program.
    RunProgram,
    /// disconnect: clean up and end.
    Disconnect {
        terminate: bool,
    },
}

#[derive(Debug)]
struct Pending {
    seq: i64,
    command: String,
    after: After,
    sent: Instant,
}

#[derive(Debug)]
struct Program {
    path: PathBuf,
    code: String,
    args: Vec<String>,
    stop_on_entry: bool,
}

/// The launched program while it runs.
#[derive(Debug)]
struct Running {
    msg_id: String,
    status: Option<String>,
    idle: bool,
}

/// The capabilities of the kernel debugger as the contract fixes them.
pub fn capabilities() -> Value {
    json!({
        "supportsConfigurationDoneRequest": true,
        "supportsFunctionBreakpoints": true,
        "supportsConditionalBreakpoints": true,
        "supportsHitConditionalBreakpoints": true,
        "supportsLogPoints": true,
        "supportsEvaluateForHovers": true,
        "supportsSetVariable": true,
        "supportTerminateDebuggee": true,
        "exceptionBreakpointFilters": [
            {"filter": "all", "label": "All errors", "default": false},
            {"filter": "uncaught", "label": "Uncaught errors", "default": false},
        ],
    })
}

pub struct Session {
    out: Outbox,
    opts: Options,
    init_args: Value,
    kernel: Option<Kernel>,
    mode: Mode,
    debugging: bool,
    queued: VecDeque<Value>,
    pending: HashMap<String, Pending>,
    /// Kernel events that arrived while a request that resumes the program (continue, next,
    /// stepIn, stepOut, pause) still awaited its reply: DAP wants the response first, then the
    /// `stopped`, and the kernel's reply (control) and event (iopub) race on two sockets.
    held: Vec<Value>,
    program: Option<Program>,
    running: Option<Running>,
    internal_seq: i64,
    last_tick: Instant,
    last_heartbeat: Instant,
    done: bool,
}

/// Serves one client until it disconnects or closes the stream.
pub fn serve(mut inbox: Inbox, out: Outbox, opts: Options) -> Result<(), Failure> {
    let mut session = Session {
        out,
        opts,
        init_args: json!({}),
        kernel: None,
        mode: Mode::Idle,
        debugging: false,
        queued: VecDeque::new(),
        pending: HashMap::new(),
        held: Vec::new(),
        program: None,
        running: None,
        internal_seq: 0,
        last_tick: Instant::now(),
        last_heartbeat: Instant::now(),
        done: false,
    };
    let result = session.run(&mut inbox);
    session.cleanup();
    result
}

/// Requests whose response must precede the events they cause (DAP: "first the response, then
/// a stopped event").
const RESUMING: [&str; 5] = ["continue", "next", "stepIn", "stepOut", "pause"];

const KERNEL_CHANNELS: [Channel; 3] = [Channel::Control, Channel::Shell, Channel::Iopub];

impl Session {
    fn run(&mut self, inbox: &mut Inbox) -> Result<(), Failure> {
        while !self.done && !self.out.broken {
            let ready = self.wait(inbox.fd())?;
            if self.last_tick.elapsed() >= TICK {
                self.last_tick = Instant::now();
                self.tick();
            }
            if ready.is_empty() {
                continue;
            }
            if ready[0] {
                match inbox.take() {
                    Incoming::Message(msg) => self.handle(msg),
                    Incoming::BadJson(e) => {
                        self.out.fail(0, "", &format!("the message is not JSON: {e}"))
                    }
                    Incoming::Broken(e) => return Err(Failure::from_error(e)),
                    Incoming::Closed => return Ok(()),
                }
            }
            for (i, channel) in KERNEL_CHANNELS.into_iter().enumerate() {
                if ready.get(i + 1) == Some(&true) {
                    self.kernel_message(channel);
                }
            }
        }
        Ok(())
    }

    /// Waits up to a second for the client or the kernel; which of the doorbell, control,
    /// shell and iopub are readable (empty: nothing happened).
    fn wait(&self, bell: std::os::fd::RawFd) -> Result<Vec<bool>, Failure> {
        let mut items = vec![zmq::PollItem::from_fd(bell, zmq::POLLIN)];
        if let Some(kernel) = &self.kernel {
            items.extend(KERNEL_CHANNELS.map(|c| kernel.client.poll_item(c)));
        }
        match zmq::poll(&mut items, 1000) {
            Ok(0) | Err(zmq::Error::EINTR) => Ok(Vec::new()),
            Ok(_) => Ok(items.iter().map(zmq::PollItem::is_readable).collect()),
            Err(e) => Err(Failure::new(ExitCode::Software, format!("poll: {e}"))),
        }
    }

    /// Once a second: error responses for requests nobody answers, and the end of the session
    /// when the kernel is gone (ours exited, or another one stopped answering heartbeats).
    fn tick(&mut self) {
        let now = Instant::now();
        let late: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.sent) > DEBUG_WAIT)
            .map(|(id, _)| id.clone())
            .collect();
        for id in late {
            let p = self.pending.remove(&id).expect("listed above");
            let label = self.kernel.as_ref().map_or("the kernel", |k| k.label.as_str());
            let secs = DEBUG_WAIT.as_secs();
            let text = format!("{label} did not answer {} within {secs} s", p.command);
            self.out.fail(p.seq, &p.command, &text);
            if let After::Disconnect { .. } = p.after {
                self.done = true;
            }
        }
        self.release_held();
        let Some(kernel) = self.kernel.as_mut() else { return };
        let gone = if kernel.own.is_some() {
            kernel.exited().then(|| "the kernel exited".to_owned())
        } else if self.last_heartbeat.elapsed() >= HEARTBEAT_EVERY {
            self.last_heartbeat = Instant::now();
            kernel
                .heartbeat(HEARTBEAT_WAIT)
                .err()
                .map(|e| format!("{} does not answer: {e}", kernel.label))
        } else {
            None
        };
        if let Some(why) = gone {
            self.kernel_gone(&why);
        }
    }

    /// The kernel died: fail what waits for it and end the session for the client.
    fn kernel_gone(&mut self, why: &str) {
        self.kernel = None;
        self.debugging = false;
        for (_, p) in std::mem::take(&mut self.pending) {
            self.out.fail(p.seq, &p.command, why);
        }
        self.release_held();
        self.out.output("console", &format!("llmspell-dap: {why}\n"));
        if self.running.take().is_some() {
            self.finish_program(1);
        } else {
            self.out.event("terminated", json!({}));
        }
    }

    // ---- requests from the client ----------------------------------------------------------

    fn handle(&mut self, msg: Value) {
        let seq = msg["seq"].as_i64().unwrap_or(0);
        match msg["type"].as_str() {
            Some("request") => {}
            Some("response") => return, // to a reverse request we never send
            _ => return self.out.fail(seq, "", "expected a DAP request ({\"type\": \"request\"})"),
        }
        let Some(command) = msg["command"].as_str().map(str::to_owned) else {
            return self.out.fail(seq, "", "the request has no command");
        };
        let args = match msg.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(args) if args.is_object() => args.clone(),
            Some(_) => return self.out.fail(seq, &command, "arguments must be an object"),
        };
        match command.as_str() {
            "initialize" => {
                self.init_args = args;
                self.out.respond(seq, "initialize", capabilities());
                self.out.event("initialized", json!({}));
            }
            "launch" => self.launch(seq, &args),
            "attach" => self.attach(seq, &args),
            "disconnect" => self.disconnect(seq, &args),
            _ if self.mode == Mode::Idle => self.queued.push_back(msg),
            _ if self.kernel.is_none() => self.out.fail(seq, &command, "the kernel is gone"),
            "configurationDone" if !self.debugging => {
                self.out.respond(seq, &command, json!({}));
                self.run_program();
            }
            "threads" if !self.debugging => {
                self.out.respond(seq, &command, json!({"threads": [{"id": 1, "name": "main"}]}));
            }
            _ if !self.debugging => {
                self.out.fail(seq, &command, "the debugger is off in this session (noDebug)")
            }
            "configurationDone" => self.forward(seq, &command, msg, After::RunProgram),
            _ => self.forward(seq, &command, msg, After::Reply),
        }
    }

    fn launch(&mut self, seq: i64, args: &Value) {
        if self.mode != Mode::Idle {
            return self.out.fail(seq, "launch", "this session already has a kernel");
        }
        match self.open_launch(args) {
            Ok(()) => {
                self.out.respond(seq, "launch", json!({}));
                self.replay();
            }
            Err(f) => self.out.fail(seq, "launch", &f.message),
        }
    }

    fn open_launch(&mut self, args: &Value) -> Result<(), Failure> {
        let cwd = match args["cwd"].as_str() {
            Some(dir) => PathBuf::from(dir),
            None => std::env::current_dir()
                .map_err(|e| Failure::new(ExitCode::IoErr, format!("no working directory: {e}")))?,
        };
        let Some(program) = args["program"].as_str() else {
            return Err(Failure::new(ExitCode::Usage, "launch needs \"program\": a Lua file"));
        };
        let path = read_program(&cwd.join(program), args)?;
        let no_debug = args["noDebug"].as_bool().unwrap_or(false);
        let spec = args["kernel"].as_str().map(str::to_owned).or_else(|| self.opts.kernel.clone());
        let kernel = match spec {
            Some(spec) => Kernel::attach(&spec, &self.opts.home)?,
            None => {
                if !cwd.is_dir() {
                    let cwd = cwd.display();
                    return Err(Failure::new(
                        ExitCode::NoInput,
                        format!("cwd {cwd} is no directory"),
                    ));
                }
                Kernel::start(&cwd)?
            }
        };
        if !no_debug {
            self.start_debugger(&kernel)?;
        }
        self.kernel = Some(kernel);
        self.debugging = !no_debug;
        self.mode = Mode::Launch;
        self.program = Some(path);
        Ok(())
    }

    fn attach(&mut self, seq: i64, args: &Value) {
        if self.mode != Mode::Idle {
            return self.out.fail(seq, "attach", "this session already has a kernel");
        }
        let spec = args["kernel"].as_str().map(str::to_owned).or_else(|| self.opts.kernel.clone());
        let Some(spec) = spec else {
            let text = "attach needs a kernel: \"kernel\": \"ID|PATH\" or llmspell-dap --kernel";
            return self.out.fail(seq, "attach", text);
        };
        let opened = Kernel::attach(&spec, &self.opts.home)
            .and_then(|kernel| self.start_debugger(&kernel).map(|()| kernel));
        match opened {
            Ok(kernel) => {
                self.kernel = Some(kernel);
                self.debugging = true;
                self.mode = Mode::Attach;
                self.out.respond(seq, "attach", json!({}));
                self.replay();
            }
            Err(f) => self.out.fail(seq, "attach", &f.message),
        }
    }

    /// `initialize` and `attach` on the kernel's debugger, answered before anything else.
    fn start_debugger(&mut self, kernel: &Kernel) -> Result<(), Failure> {
        let mut init = self.init_args.clone();
        if init.as_object().is_none_or(serde_json::Map::is_empty) {
            init = json!({"clientID": "llmspell-dap", "adapterID": "llmspell",
                          "linesStartAt1": true, "columnsStartAt1": true, "pathFormat": "path"});
        }
        for (command, arguments) in [("initialize", init), ("attach", json!({}))] {
            let reply = kernel.debug_call(&self.internal(command, arguments), DEBUG_WAIT)?;
            if reply["success"].as_bool() != Some(true) {
                let why = reply_message(&reply);
                let label = &kernel.label;
                return Err(Failure::new(
                    ExitCode::Unavailable,
                    format!("{label}: the debugger refused {command}: {why}"),
                ));
            }
        }
        Ok(())
    }

    /// A request of the adapter's own to the kernel's debugger.
    fn internal(&mut self, command: &str, arguments: Value) -> Value {
        self.internal_seq += 1;
        json!({"seq": self.internal_seq, "type": "request", "command": command,
               "arguments": arguments})
    }

    /// Handles the requests that arrived before launch/attach.
    fn replay(&mut self) {
        while let Some(msg) = self.queued.pop_front() {
            self.handle(msg);
        }
    }

    fn forward(&mut self, seq: i64, command: &str, request: Value, after: After) {
        let kernel = self.kernel.as_ref().expect("forward only with a kernel");
        let msg = kernel.client.message("debug_request", request);
        match kernel.client.send(Channel::Control, &msg) {
            Ok(()) => {
                let pending =
                    Pending { seq, command: command.to_owned(), after, sent: Instant::now() };
                self.pending.insert(msg.header.msg_id, pending);
            }
            Err(e) => self.out.fail(seq, command, &format!("{}: {e}", kernel.label)),
        }
    }

    fn disconnect(&mut self, seq: i64, args: &Value) {
        let terminate = args["terminateDebuggee"].as_bool().unwrap_or(self.mode == Mode::Launch);
        if self.debugging && self.kernel.is_some() {
            let request = json!({"seq": seq, "type": "request", "command": "disconnect",
                                 "arguments": {}});
            self.forward(seq, "disconnect", request, After::Disconnect { terminate });
        } else {
            self.finish_disconnect(seq, terminate, None);
        }
    }

    fn finish_disconnect(&mut self, seq: i64, terminate: bool, response: Option<Value>) {
        self.debugging = false;
        if terminate
            && self.running.is_some()
            && let Some(kernel) = &self.kernel
        {
            kernel.interrupt();
        }
        // A kernel we started is stopped before we answer: the client may kill us right after.
        self.kernel = None;
        match response {
            Some(response) => self.out.send(response),
            None => self.out.respond(seq, "disconnect", json!({})),
        }
        self.done = true;
    }

    /// Runs the launched program, once.
    fn run_program(&mut self) {
        let (Some(program), Some(kernel)) = (self.program.take(), &self.kernel) else { return };
        let path = program.path.to_string_lossy().into_owned();
        let execute = |code: String, silent: bool| {
            json!({"code": code, "silent": silent, "store_history": false,
                   "user_expressions": {}, "allow_stdin": false, "stop_on_error": true})
        };
        let arg = execute(crate::lua::arg_table(&path, &program.args), true);
        let mut msg = kernel.client.message("execute_request", execute(program.code, false));
        msg.metadata.insert(
            "llmspell".into(),
            json!({"source_path": path, "stop_on_entry": program.stop_on_entry && self.debugging}),
        );
        let sent = kernel
            .client
            .request(Channel::Shell, "execute_request", arg)
            .and_then(|_| kernel.client.send(Channel::Shell, &msg));
        match sent {
            Ok(()) => {
                self.running =
                    Some(Running { msg_id: msg.header.msg_id, status: None, idle: false })
            }
            Err(e) => {
                let text = format!("llmspell-dap: {}: {e}\n", kernel.label);
                self.out.output("stderr", &text);
                self.finish_program(1);
            }
        }
    }

    fn finish_program(&mut self, code: i32) {
        self.out.event("exited", json!({"exitCode": code}));
        self.out.event("terminated", json!({}));
    }

    // ---- messages from the kernel ----------------------------------------------------------

    fn kernel_message(&mut self, channel: Channel) {
        let Some(kernel) = &self.kernel else { return };
        let msg = match kernel.client.recv(channel, Duration::ZERO) {
            Ok(msg) => msg,
            Err(WireError::Timeout(_)) => return,
            Err(e) => {
                let text = format!("llmspell-dap: dropped a bad {} message: {e}\n", channel.name());
                return self.out.output("console", &text);
            }
        };
        match channel {
            Channel::Control => self.control_message(msg),
            Channel::Shell => self.shell_message(&msg),
            _ => self.iopub_message(msg),
        }
        self.check_finished();
    }

    fn control_message(&mut self, msg: Message) {
        if msg.msg_type() != "debug_reply" {
            return;
        }
        let Some(p) = msg.parent_id().and_then(|id| self.pending.remove(id)) else { return };
        let mut response = if msg.content.get("success").is_some_and(Value::is_boolean) {
            msg.content
        } else {
            let why = reply_message(&msg.content);
            json!({"success": false, "message": why, "body": {}})
        };
        response["type"] = json!("response");
        response["request_seq"] = json!(p.seq);
        response["command"] = json!(p.command);
        match p.after {
            After::Reply => self.out.send(response),
            After::RunProgram => {
                self.out.send(response);
                self.run_program();
            }
            After::Disconnect { terminate } => {
                self.finish_disconnect(p.seq, terminate, Some(response))
            }
        }
        self.release_held();
    }

    fn shell_message(&mut self, msg: &Message) {
        if let Some(running) = &mut self.running
            && msg.parent_id() == Some(running.msg_id.as_str())
            && msg.msg_type() == "execute_reply"
        {
            running.status = Some(msg.str_field("status").unwrap_or("error").to_owned());
        }
    }

    fn iopub_message(&mut self, msg: Message) {
        let ours = self.running.as_ref().is_some_and(|r| msg.parent_id() == Some(&r.msg_id));
        let shown = ours || self.mode == Mode::Attach;
        match msg.msg_type() {
            "status" if ours && msg.content["execution_state"] == "idle" => {
                if let Some(running) = &mut self.running {
                    running.idle = true;
                }
            }
            "stream" if shown => {
                let category =
                    if msg.str_field("name") == Some("stderr") { "stderr" } else { "stdout" };
                self.out.output(category, msg.str_field("text").unwrap_or(""));
            }
            "error" if shown => self.out.output("stderr", &error_text(&msg.content)),
            "debug_event" => self.kernel_event(msg.content),
            _ => {}
        }
    }

    fn kernel_event(&mut self, mut event: Value) {
        match event["event"].as_str() {
            None | Some("initialized" | "exited" | "terminated") => {}
            Some(_) => {
                event["type"] = json!("event");
                if self.pending.values().any(|p| RESUMING.contains(&p.command.as_str())) {
                    self.held.push(event);
                } else {
                    self.out.send(event);
                }
            }
        }
    }

    /// Sends the held kernel events once no resuming request awaits its reply.
    fn release_held(&mut self) {
        if self.pending.values().any(|p| RESUMING.contains(&p.command.as_str())) {
            return;
        }
        for event in std::mem::take(&mut self.held) {
            self.out.send(event);
        }
    }

    fn check_finished(&mut self) {
        let Some(running) = &self.running else { return };
        if let (Some(status), true) = (&running.status, running.idle) {
            let code = if status == "ok" { 0 } else { 1 };
            self.running = None;
            self.finish_program(code);
        }
    }

    /// The client is gone (or the session failed): detach the debugger so the kernel is not
    /// left paused with our breakpoints; stop a launched program and a kernel of ours.
    fn cleanup(&mut self) {
        if self.debugging && self.kernel.is_some() {
            let request = self.internal("disconnect", json!({}));
            if let Some(kernel) = &self.kernel {
                let _ = kernel.debug_call(&request, CLEANUP_WAIT);
            }
        }
        if self.mode == Mode::Launch
            && self.running.is_some()
            && let Some(kernel) = &self.kernel
        {
            kernel.interrupt();
        }
        self.debugging = false;
        self.kernel = None;
    }
}

/// Checks and reads the program to launch.
fn read_program(path: &Path, launch: &Value) -> Result<Program, Failure> {
    let shown = path.display();
    let unreadable = |e: std::io::Error| {
        Failure::new(ExitCode::NoInput, format!("cannot read program {shown}: {e}"))
    };
    let absolute = path.canonicalize().map_err(unreadable)?;
    let code = std::fs::read_to_string(&absolute).map_err(unreadable)?;
    let args = match &launch["args"] {
        Value::Null => Vec::new(),
        Value::Array(items) => {
            items.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect()
        }
        _ => return Err(Failure::new(ExitCode::Usage, "\"args\" must be an array of strings")),
    };
    let stop_on_entry = launch["stopOnEntry"].as_bool().unwrap_or(false);
    Ok(Program { path: absolute, code, args, stop_on_entry })
}

/// What a failed debug_reply (a DAP error response, or a Jupyter error reply) says.
fn reply_message(reply: &Value) -> String {
    let text =
        ["message", "evalue"].iter().find_map(|k| reply[*k].as_str().filter(|s| !s.is_empty()));
    match text {
        Some(text) => text.to_owned(),
        None => format!("malformed debug_reply {reply}"),
    }
}

/// An iopub `error` as the text a terminal would show: its traceback, else `ename: evalue`.
fn error_text(content: &Value) -> String {
    let lines: Vec<&str> = content["traceback"]
        .as_array()
        .map(|lines| lines.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut text = if lines.is_empty() {
        let ename = content["ename"].as_str().unwrap_or("Error");
        format!("{ename}: {}", content["evalue"].as_str().unwrap_or(""))
    } else {
        lines.join("\n")
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_text() {
        let content = json!({"ename": "RuntimeError", "evalue": "boom", "traceback": []});
        assert_eq!(error_text(&content), "RuntimeError: boom\n");
        let content = json!({"traceback": ["a", "b"]});
        assert_eq!(error_text(&content), "a\nb\n");
        assert_eq!(reply_message(&json!({"success": false, "message": "no"})), "no");
        assert_eq!(reply_message(&json!({"status": "error", "evalue": "unknown"})), "unknown");
        assert!(reply_message(&json!({})).starts_with("malformed"));
    }
}

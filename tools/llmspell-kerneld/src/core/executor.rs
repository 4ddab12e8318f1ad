//! The executor thread owns the Lua engine and serves shell requests one at a time, in order:
//! busy on iopub, the handler, the reply (through the shell thread), idle on iopub.
//!
//! stop_on_error: when an execute fails with `stop_on_error` (the default), every execute already
//! queued behind it is answered with status `error`, ename `ExecutionAborted`, without running.
//! (Spec 5.1 deprecates the `aborted` status; clients accept only ok / error / abort.)
//!
//! Chunk names (what errors, tracebacks and the debugger show as a cell's source):
//! - an execute_request whose message metadata has `{"llmspell": {"source_path": P}}` runs
//!   under `P` (a script file run by llmspell-dap); with `"stop_on_entry": true` beside it the
//!   debugger stops on its first line (reason `entry`);
//! - otherwise, while a debugger is started (DAP `attach`), under the path JupyterLab computes
//!   for the cell: `tmpFilePrefix + murmur2(code) + ".lua"`, so its breakpoints hit;
//! - otherwise `cell-N` (N = the execution count), as error messages have always shown.
//!
//! The debugger's requests that need the Lua state are served here between requests (and,
//! while a cell runs or is stopped, from inside the engine's hook).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, select};
use llmspell_debug::{Debugger, Work};
use llmspell_runtime::{Completeness, Engine, ScriptError};
use llmspell_tools::Registry;
use llmspell_wire::Message;
use serde_json::{Map, Value, json};

use super::frontend::{Context, KernelFrontend};
use super::{Lifecycle, kernel_info, publish_status, reply_type, unknown_request};
use crate::history::History;
use crate::transport::shell::{Request, ShellOut};

/// Out-of-band orders from the control thread and the shutdown sequence.
#[derive(Debug)]
pub enum Command {
    /// Restart in place: a fresh Lua state, same ports and history session.
    Reset,
    /// Shutting down: checkpoint and close the `State` store, then answer.
    CloseState(Sender<Result<(), String>>),
}

pub struct Executor {
    engine: Engine,
    debugger: Debugger,
    ctx: Rc<RefCell<Context>>,
    history: History,
    execution_count: u64,
    lifecycle: Sender<Lifecycle>,
    backlog: VecDeque<Request>,
    /// Set when an execute failed with stop_on_error: the moment its reply was made.
    abort_before: Option<Instant>,
}

impl Executor {
    /// Creates the engine on the calling thread (it must stay there).
    /// `state` is the file behind the `State` global (opened on first use); `tools` the registry
    /// behind the `Tool` global (the one `tool_request` serves); `providers` the LLM providers
    /// behind `Provider` and `Agent`.
    pub fn new(
        ctx: Context,
        history: History,
        lifecycle: Sender<Lifecycle>,
        state: PathBuf,
        tools: Arc<Registry>,
        providers: Arc<llmspell_llm::Providers>,
        debugger: Debugger,
    ) -> Result<Executor, String> {
        let interrupter = ctx.interrupter.clone();
        let ctx = Rc::new(RefCell::new(ctx));
        let mut engine =
            Engine::new(Box::new(KernelFrontend(ctx.clone()))).map_err(|e| e.to_string())?;
        engine.attach_state(state);
        engine.attach_tools(tools);
        engine.attach_providers(providers);
        engine.attach_debugger(debugger.clone()).map_err(|e| e.to_string())?;
        interrupter.attach(engine.interrupt_handle());
        Ok(Executor {
            engine,
            debugger,
            ctx,
            history,
            execution_count: 0,
            lifecycle,
            backlog: VecDeque::new(),
            abort_before: None,
        })
    }

    /// Serves requests until the request channel closes.
    pub fn run(mut self, requests: Receiver<Request>, commands: Receiver<Command>) {
        let work: Receiver<Work> = self.debugger.work();
        loop {
            if self.ctx.borrow().interrupter.is_draining() {
                // Shutting down: serve only commands; queued requests are never started.
                match commands.recv() {
                    Ok(Command::Reset) => continue,
                    Ok(command) => self.obey(command),
                    Err(_) => return,
                }
                continue;
            }
            if let Ok(command) = commands.try_recv() {
                self.obey(command);
                continue;
            }
            if let Some(request) = self.backlog.pop_front() {
                self.dispatch(request.msg, &requests);
                continue;
            }
            select! {
                recv(commands) -> cmd => if let Ok(command) = cmd { self.obey(command) },
                recv(work) -> w => if let Ok(w) = w { self.serve_debug(w) },
                recv(requests) -> msg => match msg {
                    Ok(request) => self.dispatch(request.msg, &requests),
                    Err(_) => return,
                },
            }
        }
    }

    /// A debugger request that needs Lua (evaluate, inspectVariables, ...) while idle: busy for
    /// the interrupter, so `evaluate("while true do end")` can be interrupted.
    fn serve_debug(&mut self, work: Work) {
        let interrupter = self.ctx.borrow().interrupter.clone();
        interrupter.set_busy(true);
        self.engine.serve_debug(work);
        interrupter.set_busy(false);
    }

    fn obey(&mut self, command: Command) {
        match command {
            Command::Reset => self.reset(),
            Command::CloseState(done) => {
                let _ = done.send(self.engine.close_state());
            }
        }
    }

    fn reset(&mut self) {
        match self.engine.reset() {
            Ok(()) => tracing::info!("executor: Lua state reset (restart)"),
            Err(e) => tracing::error!("executor: cannot reset the Lua state: {e}"),
        }
        self.execution_count = 0;
    }

    fn session(&self) -> String {
        self.ctx.borrow().session.clone()
    }

    fn dispatch(&mut self, msg: Message, requests: &Receiver<Request>) {
        self.ctx.borrow().stats.dequeued();
        let session = self.session();
        let started = Instant::now();
        let interrupter = self.ctx.borrow().interrupter.clone();
        interrupter.set_busy(true);
        self.ctx.borrow().stats.touch();
        publish_status(&self.ctx.borrow().iopub, &msg, &session, "busy");
        let content = match msg.msg_type() {
            "execute_request" => Some(self.execute(&msg)),
            "complete_request" => Some(self.complete(&msg)),
            "inspect_request" => Some(self.inspect(&msg)),
            "is_complete_request" => Some(self.is_complete(&msg)),
            "history_request" => {
                Some(json!({"status": "ok", "history": self.history.query(&msg.content)}))
            }
            "kernel_info_request" => Some(kernel_info(&self.ctx.borrow().stats)),
            "comm_info_request" => Some(json!({"status": "ok", "comms": {}})),
            "comm_open" => {
                // No comm targets exist yet: close it so the frontend does not wait (spec, "Comms").
                self.publish_as(
                    &msg,
                    "comm_close",
                    json!({"comm_id": msg.content["comm_id"], "data": {}}),
                );
                None
            }
            "comm_msg" | "comm_close" => None,
            "shutdown_request" => {
                // Deprecated on shell but still sent by old clients: treat like control's.
                let _ = self.lifecycle.send(Lifecycle::Shutdown);
                Some(json!({"status": "ok", "restart": msg.bool_field("restart", false)}))
            }
            other if reply_type(other).is_some() => {
                tracing::warn!("shell: unknown request type {other}");
                Some(unknown_request(other))
            }
            other => {
                tracing::warn!("shell: ignoring {other} (not a request)");
                None
            }
        };
        if let (Some(content), Some(reply_type)) = (content, reply_type(msg.msg_type())) {
            let reply = msg.reply(&reply_type, &session, content);
            self.ctx.borrow().shell.send(ShellOut::Reply(reply));
        }
        publish_status(&self.ctx.borrow().iopub, &msg, &session, "idle");
        interrupter.set_busy(false);
        self.ctx.borrow().stats.touch();
        tracing::info!(
            channel = "shell",
            msg_type = msg.msg_type(),
            msg_id = %msg.header.msg_id,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "served"
        );
        // After the failed cell's reply, so clients see the replies in request order.
        if let Some(cutoff) = self.abort_before.take() {
            self.abort_queued(requests, cutoff);
        }
    }

    fn publish_as(&self, parent: &Message, msg_type: &str, content: Value) {
        let ctx = self.ctx.borrow();
        let msg = parent.broadcast(msg_type, &ctx.session, content);
        ctx.iopub.send(crate::transport::publisher::Publish::Message(Box::new(msg)));
    }

    fn execute(&mut self, msg: &Message) -> Value {
        let code = msg.str_field("code").unwrap_or("").to_owned();
        let silent = msg.bool_field("silent", false);
        let store_history = !silent && msg.bool_field("store_history", true);
        if store_history {
            self.execution_count += 1;
        }
        let count = self.execution_count;
        if !silent {
            self.publish_as(msg, "execute_input", json!({"code": code, "execution_count": count}));
        }
        {
            let mut ctx = self.ctx.borrow_mut();
            ctx.parent = Some(msg.clone());
            ctx.allow_stdin = msg.bool_field("allow_stdin", false);
        }
        let chunk = self.chunk_name(msg, &code, count);
        let outcome = self.engine.execute(&code, &chunk);
        self.ctx.borrow().stats.executed();
        let (result, pager) = (outcome.result, outcome.pager);
        let reply = match result {
            Ok(text) => {
                if let (Some(text), false) = (&text, silent) {
                    let data = json!({"text/plain": text});
                    self.publish_as(
                        msg,
                        "execute_result",
                        json!({"execution_count": count, "data": data, "metadata": {}}),
                    );
                }
                let user_expressions = self.user_expressions(msg);
                let payload: Vec<Value> = pager
                    .map(|text| json!({"source": "page", "data": {"text/plain": text}, "start": 0}))
                    .into_iter()
                    .collect();
                if store_history {
                    self.history.record(count, &code, text);
                }
                json!({"status": "ok", "execution_count": count, "payload": payload, "user_expressions": user_expressions})
            }
            Err(err) => {
                self.ctx.borrow().stats.failed(format!("{}: {}", err.ename, err.evalue));
                self.publish_as(msg, "error", error_content(&err));
                if store_history {
                    self.history.record(count, &code, None);
                }
                if msg.bool_field("stop_on_error", true) {
                    self.abort_before = Some(Instant::now());
                }
                let mut content = error_content(&err);
                content["status"] = json!("error");
                content["execution_count"] = json!(count);
                content["user_expressions"] = json!({});
                content["payload"] = json!([]);
                content
            }
        };
        self.ctx.borrow_mut().parent = None;
        reply
    }

    /// The name the cell runs under (see the module doc).
    fn chunk_name(&mut self, msg: &Message, code: &str, count: u64) -> String {
        let ours = msg.metadata.get("llmspell");
        let path = ours.and_then(|m| m.get("source_path")).and_then(Value::as_str);
        if let Some(path) = path.filter(|p| !p.is_empty()) {
            self.debugger.note_source(path, code);
            if ours.and_then(|m| m.get("stop_on_entry")).and_then(Value::as_bool) == Some(true) {
                self.engine.debug_stop_on_entry();
            }
            return path.to_owned();
        }
        self.debugger.cell_path(code).unwrap_or_else(|| format!("cell-{count}"))
    }

    /// Answers with ExecutionAborted every execute that arrived before `cutoff` (its sender could
    /// not yet know the cell failed); other requests, and later ones, keep their place in line.
    fn abort_queued(&mut self, requests: &Receiver<Request>, cutoff: Instant) {
        let session = self.session();
        let queued: Vec<Request> = self.backlog.drain(..).chain(requests.try_iter()).collect();
        for request in queued {
            if request.msg.msg_type() != "execute_request" || request.received >= cutoff {
                self.backlog.push_back(request);
                continue;
            }
            let msg = request.msg;
            self.ctx.borrow().stats.dequeued();
            let ctx = self.ctx.borrow();
            publish_status(&ctx.iopub, &msg, &session, "busy");
            let content = json!({
                "status": "error", "ename": "ExecutionAborted",
                "evalue": "not run: an earlier cell failed and stop_on_error was set",
                "traceback": [], "execution_count": self.execution_count,
                "user_expressions": {}, "payload": [],
            });
            ctx.shell.send(ShellOut::Reply(msg.reply("execute_reply", &session, content)));
            publish_status(&ctx.iopub, &msg, &session, "idle");
        }
    }

    fn user_expressions(&mut self, msg: &Message) -> Map<String, Value> {
        let Some(Value::Object(exprs)) = msg.content.get("user_expressions") else {
            return Map::new();
        };
        let mut out = Map::new();
        for (name, expr) in exprs {
            let value = match self.engine.eval_expression(expr.as_str().unwrap_or("")) {
                Ok(text) => json!({"status": "ok", "data": {"text/plain": text}, "metadata": {}}),
                Err(err) => {
                    let mut content = error_content(&err);
                    content["status"] = json!("error");
                    content
                }
            };
            out.insert(name.clone(), value);
        }
        out
    }

    fn complete(&mut self, msg: &Message) -> Value {
        let code = msg.str_field("code").unwrap_or("");
        let cursor = cursor(msg, code);
        let c = self.engine.complete(code, cursor);
        json!({"status": "ok", "matches": c.matches, "cursor_start": c.cursor_start, "cursor_end": c.cursor_end, "metadata": {}})
    }

    fn inspect(&mut self, msg: &Message) -> Value {
        let code = msg.str_field("code").unwrap_or("");
        let cursor = cursor(msg, code);
        let level =
            msg.content.get("detail_level").and_then(Value::as_u64).unwrap_or(0).min(1) as u8;
        match self.engine.inspect(code, cursor, level) {
            Some(found) => json!({
                "status": "ok", "found": true, "metadata": {},
                "data": {"text/plain": found.text_plain, "text/markdown": found.text_markdown},
            }),
            None => json!({"status": "ok", "found": false, "data": {}, "metadata": {}}),
        }
    }

    fn is_complete(&mut self, msg: &Message) -> Value {
        match self.engine.is_complete(msg.str_field("code").unwrap_or("")) {
            Completeness::Complete => json!({"status": "complete"}),
            Completeness::Incomplete { indent } => {
                json!({"status": "incomplete", "indent": indent})
            }
            Completeness::Invalid => json!({"status": "invalid"}),
        }
    }
}

/// The cursor in code points, clamped to the code; absent means the end.
fn cursor(msg: &Message, code: &str) -> usize {
    let len = code.chars().count();
    msg.content.get("cursor_pos").and_then(Value::as_u64).map_or(len, |c| (c as usize).min(len))
}

fn error_content(err: &ScriptError) -> Value {
    json!({"ename": err.ename, "evalue": err.evalue, "traceback": err.traceback})
}

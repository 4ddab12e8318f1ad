//! The kernel's side of `llmspell_runtime::Frontend`: what a script prints, displays or asks for
//! becomes iopub messages (parent = the running request) or an `input_request` on stdin.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use llmspell_runtime::{Frontend, InputError, StreamName};
use llmspell_wire::Message;
use serde_json::{Map, Value, json};

use super::Interrupter;
use crate::transport::mailbox::Outbox;
use crate::transport::publisher::Publish;
use crate::transport::shell::ShellOut;

/// What the executor and the frontend share on the executor thread.
pub struct Context {
    pub session: String,
    pub iopub: Outbox<Publish>,
    pub shell: Outbox<ShellOut>,
    pub input_replies: Receiver<Message>,
    pub interrupter: Interrupter,
    /// The request being served, if any.
    pub parent: Option<Message>,
    pub allow_stdin: bool,
    pub stats: std::sync::Arc<super::stats::Stats>,
}

impl Context {
    /// Publishes an iopub message caused by the current request (dropped when there is none).
    pub fn publish(&self, msg_type: &str, content: Value) {
        if let Some(parent) = &self.parent {
            self.iopub.send(Publish::Message(Box::new(parent.broadcast(
                msg_type,
                &self.session,
                content,
            ))));
        }
    }
}

/// The `Frontend` handed to the engine.
pub struct KernelFrontend(pub Rc<RefCell<Context>>);

impl Frontend for KernelFrontend {
    fn stream(&mut self, name: StreamName, text: &str) {
        self.0.borrow().publish("stream", json!({"name": name.as_str(), "text": text}));
    }

    fn display(&mut self, data: Map<String, Value>, metadata: Map<String, Value>) {
        self.0
            .borrow()
            .publish("display_data", json!({"data": data, "metadata": metadata, "transient": {}}));
    }

    fn clear_output(&mut self, wait: bool) {
        self.0.borrow().publish("clear_output", json!({ "wait": wait }));
    }

    fn input(&mut self, prompt: &str, password: bool) -> Result<String, InputError> {
        let ctx = self.0.borrow();
        let Some(parent) = ctx.parent.as_ref().filter(|_| ctx.allow_stdin) else {
            return Err(InputError::NotAllowed);
        };
        // Answers to an earlier, abandoned request must not satisfy this one.
        while ctx.input_replies.try_recv().is_ok() {}
        // Sent on stdin with the shell request's identities (parent keeps them).
        let request = parent.reply(
            "input_request",
            &ctx.session,
            json!({"prompt": prompt, "password": password}),
        );
        ctx.shell.send(ShellOut::InputRequest(request));
        loop {
            if ctx.interrupter.input_cancelled() {
                return Err(InputError::Interrupted);
            }
            match ctx.input_replies.recv_timeout(Duration::from_millis(20)) {
                Ok(reply) => return Ok(reply.str_field("value").unwrap_or("").to_owned()),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Err(InputError::NotAllowed),
            }
        }
    }
}

//! The `Provider`, `Agent` and `Workflow` globals: scripts that call LLMs and tools.
//!
//! The API scripts see is written in Lua ([`PRELUDE`], `agents.lua`): builders, conversation
//! memory, the tool-calling loop and the workflow kinds. It stands on a few Rust primitives
//! handed to it (never globals):
//!
//! - `list()` → the configured providers (name, kind, model, base_url, key_set; never a key)
//! - `resolve(name|nil)` → `{name=, kind=, model=}` or `nil, message`
//! - `chat(spec, messages, on_chunk|nil)` → response table or `nil, message`: one request
//!   through `llmspell_llm` on its own thread; the Lua thread waits in 10 ms slices watching
//!   the interrupt flag, so an interrupt ends the cell with `Interrupted` at once, and
//!   streamed pieces are handed to `on_chunk` on the Lua thread as they arrive
//! - `parallel({{name=, params=}, ...})` → `{{ok=, result=|error=}, ...}`: the tools run at
//!   the same time, each on a registry worker thread
//!
//! Agents, Lua-function steps and the prompts of agent steps run on the Lua thread; only tool
//! steps of a parallel workflow run concurrently. The providers come from
//! [`Engine::attach_providers`](crate::Engine::attach_providers) and survive `Engine::reset`;
//! without them every agent fails with "no LLM provider configured".

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use llmspell_llm::{Call, ChatRequest, LlmError, Message, Providers, ToolSpec};
use mlua::{Function, Lua, Table, Value};
use serde_json::{Value as Json, json};

use crate::errors::Interrupted;
use crate::host::Host;
use crate::{InterruptHandle, json};

/// The Lua half of the API.
const PRELUDE: &str = include_str!("agents.lua");

/// The providers behind `Provider` and `Agent`. Clones share them.
#[derive(Clone, Default)]
pub(crate) struct ProviderSlot(Rc<RefCell<Option<Arc<Providers>>>>);

impl ProviderSlot {
    pub(crate) fn attach(&self, providers: Arc<Providers>) {
        *self.0.borrow_mut() = Some(providers);
    }

    fn get(&self) -> Arc<Providers> {
        self.0.borrow().clone().unwrap_or_default()
    }
}

/// `(value)` or `(nil, message)`.
type Answer = mlua::Result<(Value, Option<String>)>;

/// Install `Provider`, `Agent` and `Workflow`.
pub(crate) fn install(lua: &Lua, host: &Host, interrupt: &InterruptHandle) -> mlua::Result<()> {
    let prims = lua.create_table()?;

    let slot = host.providers().clone();
    prims.raw_set(
        "list",
        lua.create_function(move |lua, ()| {
            let list: Vec<Json> = slot.get().list.iter().map(|p| p.summary()).collect();
            json::from_json(lua, &Json::Array(list))
        })?,
    )?;

    let slot = host.providers().clone();
    prims.raw_set(
        "resolve",
        lua.create_function(move |lua, name: Option<String>| -> Answer {
            let providers = slot.get();
            match providers.resolve(name.as_deref()) {
                Ok(p) => {
                    let v = json!({"name": p.name, "kind": p.kind.as_str(), "model": p.model});
                    Ok((json::from_json(lua, &v)?, None))
                }
                Err(e) => Ok((Value::Nil, Some(e.to_string()))),
            }
        })?,
    )?;

    let (slot, tools, flag) = (host.providers().clone(), host.tools().clone(), interrupt.clone());
    prims.raw_set(
        "chat",
        lua.create_function(
            move |lua, (spec, messages, on_chunk): (Table, Value, Option<Function>)| -> Answer {
                let providers = slot.get();
                let request = match build_request(&providers, &tools, &spec, &messages) {
                    Ok(r) => r,
                    Err(msg) => return Ok((Value::Nil, Some(msg))),
                };
                let (cfg, mut req) = request;
                req.stream = on_chunk.is_some();
                let call = Call::start(cfg, req);
                let outcome = call.run(flag.flag(), |text| match &on_chunk {
                    Some(f) => f.call::<()>(text),
                    None => Ok(()),
                })?;
                match outcome {
                    Ok(r) => {
                        let v = json!({
                            "text": r.text,
                            "tool_calls": r.tool_calls,
                            "usage": {
                                "prompt_tokens": r.usage.prompt_tokens,
                                "completion_tokens": r.usage.completion_tokens,
                                "total_tokens": r.usage.prompt_tokens + r.usage.completion_tokens,
                            },
                        });
                        let t = json::from_json(lua, &v)?;
                        if let Value::Table(t) = &t {
                            t.raw_set("finish_reason", r.finish_reason)?;
                            t.raw_set("model", r.model)?;
                        }
                        Ok((t, None))
                    }
                    Err(LlmError::Cancelled) => Err(mlua::Error::external(Interrupted)),
                    Err(e) => Ok((Value::Nil, Some(e.to_string()))),
                }
            },
        )?,
    )?;

    let (tools, flag) = (host.tools().clone(), interrupt.clone());
    prims.raw_set(
        "parallel",
        lua.create_function(move |lua, jobs: Table| -> Answer {
            let Some(registry) = tools.get() else {
                return Ok((Value::Nil, Some(crate::tools::NOT_AVAILABLE.to_string())));
            };
            let mut work = Vec::new();
            for job in jobs.sequence_values::<Table>() {
                let job = job?;
                let name: String = job.raw_get("name")?;
                let params = match json::to_json(&job.raw_get::<Value>("params")?) {
                    Ok(p) => p,
                    Err(e) => return Ok((Value::Nil, Some(format!("{name}: params: {e}")))),
                };
                work.push((name, params));
            }
            let stop = flag.flag();
            let outcomes: Vec<_> = std::thread::scope(|s| {
                let handles: Vec<_> = work
                    .iter()
                    .map(|(name, params)| {
                        let registry = registry.clone();
                        s.spawn(move || registry.invoke_with(name, params.clone(), None, stop))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join()).collect()
            });
            if flag.is_set() {
                return Err(mlua::Error::external(Interrupted));
            }
            let out = lua.create_table()?;
            for ((name, _), outcome) in work.iter().zip(outcomes) {
                let t = lua.create_table()?;
                match outcome {
                    Ok(Ok(result)) => {
                        t.raw_set("ok", true)?;
                        t.raw_set("result", json::from_json(lua, &result)?)?;
                    }
                    Ok(Err(e)) => {
                        t.raw_set("ok", false)?;
                        let message =
                            e.message.strip_prefix(&format!("{name}: ")).unwrap_or(&e.message);
                        t.raw_set(
                            "error",
                            format!("{name}: {}: {message}", e.error_type.as_str()),
                        )?;
                    }
                    Err(_) => {
                        t.raw_set("ok", false)?;
                        t.raw_set("error", format!("{name}: the tool thread crashed"))?;
                    }
                }
                out.raw_push(t)?;
            }
            Ok((Value::Table(out), None))
        })?,
    )?;

    let globals = lua.globals();
    let tool: Value = globals.raw_get("Tool")?;
    let encode: Value = globals.raw_get::<Table>("JSON")?.raw_get("encode")?;
    let write: Value = globals.raw_get::<Table>("io")?.raw_get("write")?;
    let (provider, agent, workflow): (Table, Table, Table) =
        lua.load(PRELUDE).set_name("=agents").call((prims, tool, encode, write))?;
    globals.raw_set("Provider", provider)?;
    globals.raw_set("Agent", agent)?;
    globals.raw_set("Workflow", workflow)
}

/// The provider and request an agent spec and message list describe, or what is wrong.
fn build_request(
    providers: &Providers,
    tools: &crate::tools::ToolSlot,
    spec: &Table,
    messages: &Value,
) -> Result<(llmspell_llm::ProviderConfig, ChatRequest), String> {
    let get = |k: &str| -> Result<Value, String> { spec.raw_get(k).map_err(|e| e.to_string()) };
    let string = |k: &str| -> Result<Option<String>, String> {
        match get(k)? {
            Value::Nil => Ok(None),
            Value::String(s) => Ok(Some(s.to_string_lossy())),
            other => Err(format!("{k} must be a string, got {}", other.type_name())),
        }
    };
    let cfg = providers.resolve(string("provider")?.as_deref()).map_err(|e| e.to_string())?;
    let model = string("model")?.or_else(|| cfg.model.clone()).ok_or_else(|| {
        format!(
            "provider {0} has no model: set providers.{0}.model in config.toml or call :model(NAME)",
            cfg.name
        )
    })?;
    let messages: Vec<Message> = serde_json::from_value(json::to_json(messages)?)
        .map_err(|e| format!("bad message list: {e}"))?;
    let temperature = match get("temperature")? {
        Value::Nil => None,
        Value::Integer(i) => Some(i as f64),
        Value::Number(n) => Some(n),
        other => return Err(format!("temperature must be a number, got {}", other.type_name())),
    };
    let max_tokens = match get("max_tokens")? {
        Value::Nil => None,
        Value::Integer(i) if i > 0 && i <= u32::MAX as i64 => Some(i as u32),
        other => return Err(format!("max_tokens must be a positive integer, got {other:?}")),
    };
    let mut specs = Vec::new();
    if let Value::Table(names) = get("tools")? {
        let registry = tools.get().ok_or(crate::tools::NOT_AVAILABLE)?;
        for name in names.sequence_values::<String>() {
            let name = name.map_err(|e| e.to_string())?;
            let def = registry.info(&name).map_err(|e| e.message)?;
            specs.push(ToolSpec {
                name: def.name.to_string(),
                description: def.description.to_string(),
                parameters: def.schema.clone(),
            });
        }
    }
    let req = ChatRequest {
        model,
        system: string("system_prompt")?,
        messages,
        temperature,
        max_tokens,
        tools: specs,
        stream: false,
    };
    Ok((cfg.clone(), req))
}

#[cfg(test)]
mod tests;

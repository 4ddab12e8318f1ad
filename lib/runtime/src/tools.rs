//! The `Tool` global: the built-in tools of an [`llmspell_tools::Registry`] the embedder attaches.
//!
//! - `Tool.list([category])` → `{{name=, category=, description=}, ...}` in name order
//! - `Tool.info(name)` → `{name=, category=, description=, parameters=<JSON Schema>, examples=}`
//! - `Tool.invoke(name [, params [, {timeout_ms = N}]])` → the tool's result as Lua values
//! - `Tool.exists(name)` → boolean
//! - `Tool.categories()` → sorted category names
//! - `Tool.search(query)` → `{{name=, category=, description=, score=}, ...}`, best first
//!
//! Values cross with the `JSON` global's conversion ([`json`](crate::json)): `params` is encoded
//! (`nil` and `{}` are the empty object), results are decoded (`null` is `JSON.null`).
//!
//! A failure raises a *tool error*: a table `{error_type=, message=, tool=}` (`error_type` one of
//! not_found, validation, execution, timeout, permission, as in `tool_reply`) whose metatable has
//! `__name = "ToolError"` and a `__tostring` giving `tool: error_type: message`. `pcall` callers
//! read `err.error_type`; an uncaught one becomes a Jupyter error with ename `ToolError` (see
//! [`errors`](crate::errors)). Such tables are raised by a small Lua wrapper around each Rust
//! function, since a Rust callback can only raise a Rust error.
//!
//! `Tool.invoke` blocks the Lua thread while the tool runs on a registry worker; it watches the
//! engine's interrupt flag (through [`Registry::invoke_with`]), so a Jupyter interrupt cancels
//! the tool and ends the cell with `Interrupted` within about 10 ms.
//!
//! Without an attached registry every call raises "Tool is not available". The [`ToolSlot`]
//! lives in the [`Host`](crate::host::Host), so the registry survives `Engine::reset`.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use llmspell_tools::{Registry, ToolError};
use mlua::{Function, Lua, Table, Value};
use serde_json::{Value as Json, json};

use crate::errors::{Interrupted, located_at};
use crate::{InterruptHandle, json};

/// What a `Tool` call says when the engine has no registry.
pub(crate) const NOT_AVAILABLE: &str = "Tool is not available: this engine has no tool registry";

/// The `__name` of a tool error's metatable; [`errors`](crate::errors) turns it into the ename.
pub(crate) const TOOL_ERROR: &str = "ToolError";

/// The registry behind `Tool`. Clones share it.
#[derive(Clone, Default)]
pub(crate) struct ToolSlot(Rc<RefCell<Option<Arc<Registry>>>>);

impl ToolSlot {
    pub(crate) fn attach(&self, registry: Arc<Registry>) {
        *self.0.borrow_mut() = Some(registry);
    }

    pub(crate) fn get(&self) -> Option<Arc<Registry>> {
        self.0.borrow().clone()
    }
}

/// Raises a tool error table through the wrapper: `(true, value)` on success, `(false, err)`.
type Raw = mlua::Result<(bool, Value)>;

/// Wraps a raw function so that `(false, err)` raises `err` (a table) with the real `error`.
const WRAPPER: &str = "local raw, error = ...\n\
                       return function(...)\n\
                       local ok, v = raw(...)\n\
                       if ok then return v end\n\
                       error(v, 0)\n\
                       end";

/// Install the `Tool` global.
pub(crate) fn install(lua: &Lua, slot: &ToolSlot, interrupt: &InterruptHandle) -> mlua::Result<()> {
    let meta = error_metatable(lua)?;
    let tool = lua.create_table()?;
    let error: Function = lua.globals().raw_get("error")?;
    let wrap = |name: &str, raw: Function| -> mlua::Result<()> {
        let f: Function =
            lua.load(WRAPPER).set_name(format!("=Tool.{name}")).call((raw, error.clone()))?;
        tool.raw_set(name, f)
    };

    let (s, m) = (slot.clone(), meta.clone());
    wrap(
        "list",
        lua.create_function(move |lua, category: Value| -> Raw {
            let registry = registry(lua, &s)?;
            let category = match &category {
                Value::Nil => None,
                other => match string_arg(other) {
                    Some(c) => Some(c),
                    None => return bad_arg(lua, &m, None, "Tool.list", "category", other),
                },
            };
            let tools: Vec<Json> =
                registry.list(category.as_deref()).iter().map(|d| d.summary()).collect();
            Ok((true, json::from_json(lua, &Json::Array(tools))?))
        })?,
    )?;

    let (s, m) = (slot.clone(), meta.clone());
    wrap(
        "info",
        lua.create_function(move |lua, name: Value| -> Raw {
            let registry = registry(lua, &s)?;
            let Some(name) = string_arg(&name) else {
                return bad_arg(lua, &m, None, "Tool.info", "name", &name);
            };
            match registry.info(&name) {
                Ok(def) => Ok((true, json::from_json(lua, &def.to_json())?)),
                Err(e) => fail(lua, &m, Some(&name), e),
            }
        })?,
    )?;

    let (s, m) = (slot.clone(), meta.clone());
    wrap(
        "exists",
        lua.create_function(move |lua, name: Value| -> Raw {
            let registry = registry(lua, &s)?;
            let Some(name) = string_arg(&name) else {
                return bad_arg(lua, &m, None, "Tool.exists", "name", &name);
            };
            Ok((true, Value::Boolean(registry.exists(&name))))
        })?,
    )?;

    let s = slot.clone();
    wrap(
        "categories",
        lua.create_function(move |lua, ()| -> Raw {
            let registry = registry(lua, &s)?;
            Ok((true, json::from_json(lua, &json!(registry.categories()))?))
        })?,
    )?;

    let (s, m) = (slot.clone(), meta.clone());
    wrap(
        "search",
        lua.create_function(move |lua, query: Value| -> Raw {
            let registry = registry(lua, &s)?;
            let Some(query) = string_arg(&query) else {
                return bad_arg(lua, &m, None, "Tool.search", "query", &query);
            };
            let hits: Vec<Json> = registry
                .search(&query)
                .into_iter()
                .map(|(d, score)| {
                    let mut v = d.summary();
                    v["score"] = json!(score);
                    v
                })
                .collect();
            Ok((true, json::from_json(lua, &Json::Array(hits))?))
        })?,
    )?;

    let (s, m, flag) = (slot.clone(), meta, interrupt.clone());
    wrap(
        "invoke",
        lua.create_function(move |lua, (name, params, opts): (Value, Value, Value)| -> Raw {
            let registry = registry(lua, &s)?;
            let Some(name) = string_arg(&name) else {
                return bad_arg(lua, &m, None, "Tool.invoke", "name", &name);
            };
            let params = match &params {
                Value::Nil => Json::Null,
                Value::Table(_) => match json::to_json(&params) {
                    Ok(j) => j,
                    Err(e) => {
                        let e = ToolError::validation(format!("{name}: params: {e}"));
                        return fail(lua, &m, Some(&name), e);
                    }
                },
                other => return bad_arg(lua, &m, Some(&name), "Tool.invoke", "params", other),
            };
            let timeout = match timeout_option(&opts) {
                Ok(t) => t,
                Err(e) => return fail(lua, &m, Some(&name), ToolError::validation(e)),
            };
            let outcome = registry.invoke_with(&name, params, timeout, flag.flag());
            if flag.is_set() {
                return Err(mlua::Error::external(Interrupted));
            }
            match outcome {
                Ok(result) => Ok((true, json::from_json(lua, &result)?)),
                Err(e) => fail(lua, &m, Some(&name), e),
            }
        })?,
    )?;

    lua.globals().raw_set("Tool", tool)
}

/// The attached registry, or the located "not available" error.
fn registry(lua: &Lua, slot: &ToolSlot) -> mlua::Result<Arc<Registry>> {
    // Level 2: level 1 is the Lua wrapper, level 2 the script that called Tool.x.
    slot.get().ok_or_else(|| located_at(lua, 2, NOT_AVAILABLE))
}

fn string_arg(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => s.to_str().ok().map(|s| s.to_string()),
        _ => None,
    }
}

/// `{timeout_ms = N}` (a positive integer) or nothing.
fn timeout_option(opts: &Value) -> Result<Option<Duration>, String> {
    let t = match opts {
        Value::Nil => return Ok(None),
        Value::Table(t) => t,
        other => {
            return Err(format!(
                "Tool.invoke: options must be a table such as {{timeout_ms = 5000}}, got {}",
                other.type_name()
            ));
        }
    };
    match t.raw_get::<Value>("timeout_ms").unwrap_or(Value::Nil) {
        Value::Nil => Ok(None),
        Value::Integer(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms as u64))),
        Value::Number(ms) if ms >= 1.0 && ms.fract() == 0.0 && ms < 1e15 => {
            Ok(Some(Duration::from_millis(ms as u64)))
        }
        Value::Integer(ms) => Err(format!(
            "Tool.invoke: timeout_ms must be a positive integer (milliseconds), got {ms}"
        )),
        Value::Number(ms) => Err(format!(
            "Tool.invoke: timeout_ms must be a positive integer (milliseconds), got {ms}"
        )),
        other => Err(format!(
            "Tool.invoke: timeout_ms must be a positive integer (milliseconds), got a {}",
            other.type_name()
        )),
    }
}

/// A validation error for an argument of the wrong type (`want`: "a string", "a table").
fn bad_arg(
    lua: &Lua,
    meta: &Table,
    tool: Option<&str>,
    func: &str,
    what: &str,
    got: &Value,
) -> Raw {
    let want = if what == "params" { "a table" } else { "a string" };
    let got = match got {
        Value::String(_) if what != "params" => "a string that is not valid UTF-8",
        other => other.type_name(),
    };
    fail(
        lua,
        meta,
        tool,
        ToolError::validation(format!("{func}: the {what} must be {want}, got {got}")),
    )
}

/// `(false, err)` with `err` the tool error table.
fn fail(lua: &Lua, meta: &Table, tool: Option<&str>, e: ToolError) -> Raw {
    let t = lua.create_table()?;
    t.raw_set("error_type", e.error_type.as_str())?;
    t.raw_set("message", e.message)?;
    if let Some(tool) = tool {
        t.raw_set("tool", tool)?;
    }
    t.set_metatable(Some(meta.clone()))?;
    Ok((false, Value::Table(t)))
}

/// The metatable every tool error shares: `__name` and `__tostring`.
fn error_metatable(lua: &Lua) -> mlua::Result<Table> {
    let meta = lua.create_table()?;
    meta.raw_set("__name", TOOL_ERROR)?;
    let tostring = lua.create_function(|_, t: Table| {
        let field = |k: &str| -> String {
            match t.raw_get::<Value>(k) {
                Ok(Value::String(s)) => s.to_string_lossy(),
                _ => String::new(),
            }
        };
        let (tool, kind, message) = (field("tool"), field("error_type"), field("message"));
        if tool.is_empty() {
            return Ok(format!("{kind}: {message}"));
        }
        // Registry messages usually start with the tool's name already.
        let message = message.strip_prefix(&format!("{tool}: ")).unwrap_or(&message).to_string();
        Ok(format!("{tool}: {kind}: {message}"))
    })?;
    meta.raw_set("__tostring", tostring)?;
    Ok(meta)
}

/// Whether `v` is a tool error table (its metatable's `__name` is `ToolError`).
pub(crate) fn is_tool_error(v: &Value) -> bool {
    let Value::Table(t) = v else { return false };
    t.metatable().is_some_and(
        |mt| matches!(mt.raw_get::<Value>("__name"), Ok(Value::String(s)) if s == TOOL_ERROR),
    )
}

#[cfg(test)]
mod tests;

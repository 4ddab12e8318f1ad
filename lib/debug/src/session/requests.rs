//! The requests a [`Session`] serves on the executor thread: stack, scopes, variables,
//! evaluate, setVariable, the Jupyter extras (inspectVariables, richInspectVariables,
//! copyToGlobals, modules), and the resuming ones (continue, next, stepIn, stepOut).

use mlua::{Lua, Value};
use serde_json::{Value as Json, json};

use super::{Place, Resume, Session, VarRef, WRAPPER_CHUNK, depth};
use crate::debugger::Reply;
use crate::inspect::{self, DebugLib};
use crate::step::Step;

impl Session {
    /// Answers `request`; returns how to resume when it is a resuming request while stopped.
    pub(super) fn serve_request(
        &self,
        lua: &Lua,
        request: Json,
        reply: Reply,
        place: Place,
    ) -> Option<Resume> {
        let command = request["command"].as_str().unwrap_or("").to_owned();
        let args = request.get("arguments").cloned().unwrap_or(json!({}));
        let stopped = place == Place::Stopped;
        let not_stopped = || Err("the program is not stopped".to_owned());
        let mut resume = None;
        let result = match command.as_str() {
            "continue" | "next" | "stepIn" | "stepOut" if !stopped => not_stopped(),
            "continue" => {
                resume = Some(Resume::Continue);
                Ok(json!({"allThreadsContinued": true}))
            }
            "next" | "stepIn" | "stepOut" => {
                let d = depth(lua);
                resume = Some(Resume::Step(match command.as_str() {
                    "next" => Step::Over { depth: d },
                    "stepIn" => Step::In,
                    _ => Step::Out { depth: d },
                }));
                Ok(json!({}))
            }
            "stackTrace" | "scopes" if !stopped => not_stopped(),
            "stackTrace" => Ok(self.stack_trace(lua, &args)),
            "scopes" => self.scopes(&args),
            "variables" => self.variables(lua, &args),
            "setVariable" => self.set_variable(lua, &args, stopped),
            "evaluate" => self.evaluate(lua, &args, stopped),
            "inspectVariables" => Ok(self.inspect_variables(lua)),
            "richInspectVariables" => self.rich_inspect(lua, &args, stopped),
            "copyToGlobals" => self.copy_to_globals(lua, &args, stopped),
            "modules" => Ok(modules(lua)),
            other => Err(format!("llmspell's debugger does not handle `{other}`")),
        };
        reply(self.debugger.response(&request, result));
        resume
    }

    fn stack_trace(&self, lua: &Lua, args: &Json) -> Json {
        let mut frames = Vec::new();
        let mut level = 0;
        while let Some(frame) = lua.inspect_stack(level, |d| {
            let src = d.source();
            if src.what == "C" || src.source.as_deref() == Some(WRAPPER_CHUNK) {
                return None;
            }
            let name = d.names().name.map(|n| n.into_owned());
            let name = name.unwrap_or_else(|| {
                if src.what == "main" { "main chunk".into() } else { "?".into() }
            });
            let line = d.current_line().unwrap_or(0);
            let mut frame = json!({"id": level + 1, "name": name, "line": line, "column": 1});
            match src.source.as_deref() {
                Some(s) if s.starts_with('@') => {
                    let path = &s[1..];
                    let name = path.rsplit('/').next().unwrap_or(path);
                    frame["source"] = json!({"path": path, "name": name});
                }
                _ => frame["presentationHint"] = json!("subtle"),
            }
            Some(frame)
        }) {
            frames.extend(frame);
            level += 1;
        }
        // The engine's own frames below the cell (none are Lua) are already skipped.
        let total = frames.len();
        let start = args.get("startFrame").and_then(Json::as_u64).unwrap_or(0) as usize;
        let levels = args.get("levels").and_then(Json::as_u64).filter(|&n| n > 0);
        let page: Vec<Json> = frames
            .into_iter()
            .skip(start)
            .take(levels.map_or(usize::MAX, |n| n as usize))
            .collect();
        json!({"stackFrames": page, "totalFrames": total})
    }

    fn new_ref(&self, r: VarRef) -> usize {
        let mut st = self.state.borrow_mut();
        st.refs.push(r);
        st.refs.len()
    }

    fn frame_level(args: &Json) -> Result<usize, String> {
        args.get("frameId")
            .and_then(Json::as_u64)
            .filter(|&id| id > 0)
            .map(|id| id as usize - 1)
            .ok_or_else(|| "a valid `frameId` is needed".to_owned())
    }

    fn scopes(&self, args: &Json) -> Result<Json, String> {
        let level = Self::frame_level(args)?;
        let scope = |name: &str, r: usize, hint: &str, expensive: bool| {
            json!({"name": name, "variablesReference": r, "presentationHint": hint,
                   "expensive": expensive})
        };
        Ok(json!({"scopes": [
            scope("Locals", self.new_ref(VarRef::Locals(level)), "locals", false),
            scope("Upvalues", self.new_ref(VarRef::Upvalues(level)), "upvalues", false),
            scope("Globals", self.new_ref(VarRef::Globals), "globals", true),
        ]}))
    }

    fn lookup(&self, args: &Json) -> Result<VarRef, String> {
        let r = args.get("variablesReference").and_then(Json::as_u64).unwrap_or(0) as usize;
        let st = self.state.borrow();
        r.checked_sub(1)
            .and_then(|i| st.refs.get(i).cloned())
            .ok_or_else(|| format!("variablesReference {r} is not valid (any more)"))
    }

    /// A DAP `Variable` for `value` named `name`.
    fn variable(&self, name: String, value: &Value) -> Json {
        let reference = match value {
            Value::Table(_) => self.new_ref(VarRef::Value(value.clone())),
            _ => 0,
        };
        json!({"name": name, "value": inspect::preview(value, false),
               "type": value.type_name(), "variablesReference": reference})
    }

    fn entries(&self, lua: &Lua, r: &VarRef) -> Vec<(String, Value)> {
        match r {
            VarRef::Locals(level) => {
                self.lib.locals(*level).into_iter().map(|(_, n, v)| (n, v)).collect()
            }
            VarRef::Upvalues(level) => inspect::function_at(lua, *level)
                .map(|f| self.lib.upvalues(&f).into_iter().map(|(_, n, v)| (n, v)).collect())
                .unwrap_or_default(),
            VarRef::Globals => inspect::children(&lua.globals())
                .into_iter()
                .map(|(k, v)| (inspect::key_name(&k), v))
                .collect(),
            VarRef::Value(Value::Table(t)) => {
                let mut out: Vec<(String, Value)> = inspect::children(t)
                    .into_iter()
                    .map(|(k, v)| (inspect::key_name(&k), v))
                    .collect();
                if let Some(meta) = t.metatable() {
                    out.push(("[metatable]".into(), Value::Table(meta)));
                }
                out
            }
            VarRef::Value(_) => Vec::new(),
        }
    }

    fn variables(&self, lua: &Lua, args: &Json) -> Result<Json, String> {
        let r = self.lookup(args)?;
        let start = args.get("start").and_then(Json::as_u64).unwrap_or(0) as usize;
        let count = args.get("count").and_then(Json::as_u64).filter(|&c| c > 0);
        let entries = self.entries(lua, &r);
        let vars: Vec<Json> = entries
            .into_iter()
            .skip(start)
            .take(count.map_or(usize::MAX, |c| c as usize))
            .map(|(name, value)| self.variable(name, &value))
            .collect();
        Ok(json!({"variables": vars}))
    }

    fn set_variable(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let r = self.lookup(args)?;
        let name = args.get("name").and_then(Json::as_str).ok_or("setVariable needs `name`")?;
        let text = args.get("value").and_then(Json::as_str).ok_or("setVariable needs `value`")?;
        let frame = match r {
            VarRef::Locals(l) | VarRef::Upvalues(l) if stopped => Some(l),
            VarRef::Locals(_) | VarRef::Upvalues(_) => return Err("not stopped".into()),
            _ if stopped => Some(0),
            _ => None,
        };
        let value = inspect::evaluate(lua, &self.lib, frame, text, false)?
            .into_iter()
            .next()
            .unwrap_or(Value::Nil);
        let failed = |e: mlua::Error| inspect::clean(&e);
        match &r {
            VarRef::Locals(level) => {
                let (index, ..) = self
                    .lib
                    .locals(*level)
                    .into_iter()
                    .rev()
                    .find(|(_, n, _)| n == name)
                    .ok_or_else(|| format!("no local `{name}`"))?;
                self.lib.set_local(*level, index, value.clone()).map_err(failed)?;
            }
            VarRef::Upvalues(level) => {
                let f = inspect::function_at(lua, *level).ok_or("no such frame")?;
                let (index, ..) = self
                    .lib
                    .upvalues(&f)
                    .into_iter()
                    .find(|(_, n, _)| n == name)
                    .ok_or_else(|| format!("no upvalue `{name}`"))?;
                self.lib.set_upvalue(&f, index, value.clone()).map_err(failed)?;
            }
            VarRef::Globals => lua.globals().set(name, value.clone()).map_err(failed)?,
            VarRef::Value(Value::Table(t)) => {
                let key = table_key(lua, &self.lib, name)?;
                t.set(key, value.clone()).map_err(failed)?;
            }
            VarRef::Value(_) => return Err("this variable has no children".into()),
        }
        let v = self.variable(name.to_owned(), &value);
        Ok(json!({"value": v["value"], "type": v["type"],
                  "variablesReference": v["variablesReference"]}))
    }

    fn evaluate(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let expr =
            args.get("expression").and_then(Json::as_str).ok_or("evaluate needs `expression`")?;
        let frame = match args.get("frameId") {
            Some(_) if !stopped => return Err("the program is not stopped".into()),
            Some(_) => Some(Self::frame_level(args)?),
            None => None,
        };
        let repl = args.get("context").and_then(Json::as_str) == Some("repl");
        let values = inspect::evaluate(lua, &self.lib, frame, expr, repl)?;
        let first = values.iter().next().cloned().unwrap_or(Value::Nil);
        let shown: Vec<String> = values.iter().map(|v| inspect::preview(v, false)).collect();
        let v = self.variable(String::new(), &first);
        Ok(json!({"result": if shown.is_empty() { String::new() } else { shown.join("\t") },
                  "type": v["type"], "variablesReference": v["variablesReference"]}))
    }

    /// The globals a user defined (not the standard library's or llmspell's).
    fn inspect_variables(&self, lua: &Lua) -> Json {
        let builtin = builtin_names(lua);
        let vars: Vec<Json> = inspect::children(&lua.globals())
            .into_iter()
            .filter(
                |(k, _)| !matches!(k, Value::String(s) if builtin.contains(&s.to_string_lossy())),
            )
            .map(|(k, v)| self.variable(inspect::key_name(&k), &v))
            .collect();
        json!({"variables": vars})
    }

    fn rich_inspect(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let name = args
            .get("variableName")
            .and_then(Json::as_str)
            .ok_or("richInspectVariables needs `variableName`")?;
        let frame = match args.get("frameId") {
            Some(_) if stopped => Some(Self::frame_level(args)?),
            _ => None,
        };
        let values = inspect::evaluate(lua, &self.lib, frame, name, false)?;
        let v = values.iter().next().cloned().unwrap_or(Value::Nil);
        Ok(json!({"data": {"text/plain": inspect::preview(&v, false)}, "metadata": {}}))
    }

    fn copy_to_globals(&self, lua: &Lua, args: &Json, stopped: bool) -> Result<Json, String> {
        let src = args
            .get("srcVariableName")
            .and_then(Json::as_str)
            .ok_or("copyToGlobals needs `srcVariableName`")?;
        let dst = args
            .get("dstVariableName")
            .and_then(Json::as_str)
            .ok_or("copyToGlobals needs `dstVariableName`")?;
        if !stopped {
            return Err("copyToGlobals copies from a frame: the program is not stopped".into());
        }
        let level = args
            .get("srcFrameId")
            .and_then(Json::as_u64)
            .filter(|&id| id > 0)
            .map(|id| id as usize - 1)
            .ok_or("copyToGlobals needs `srcFrameId`")?;
        let (_, _, value) = self
            .lib
            .locals(level)
            .into_iter()
            .rev()
            .find(|(_, n, _)| n == src)
            .ok_or_else(|| format!("no local `{src}` in that frame"))?;
        lua.globals().set(dst, value).map_err(|e| inspect::clean(&e))?;
        Ok(json!({}))
    }
}

/// The key a variable name stands for in table `t`: `name`, or `[expr]`.
fn table_key(lua: &Lua, lib: &DebugLib, name: &str) -> Result<Value, String> {
    match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(expr) => inspect::evaluate(lua, lib, None, expr, false)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("`{expr}` is not a key")),
        None => lua.create_string(name).map(Value::String).map_err(|e| e.to_string()),
    }
}

/// Names the user did not define: the standard library and llmspell's globals, recorded in
/// the registry by the engine at start (see [`record_builtins`]).
fn builtin_names(lua: &Lua) -> Vec<String> {
    lua.named_registry_value::<Vec<String>>(BUILTINS).unwrap_or_default()
}

const BUILTINS: &str = "llmspell.debug.builtins";

/// Records the current globals as built in (not shown by `inspectVariables`).
pub fn record_builtins(lua: &Lua) -> mlua::Result<()> {
    let names: Vec<String> = lua
        .globals()
        .pairs::<Value, Value>()
        .filter_map(Result::ok)
        .filter_map(|(k, _)| match k {
            Value::String(s) => Some(s.to_string_lossy()),
            _ => None,
        })
        .collect();
    lua.set_named_registry_value(BUILTINS, names)
}

/// `modules`: what `require` has loaded.
fn modules(lua: &Lua) -> Json {
    let loaded: Option<mlua::Table> =
        lua.globals().get::<mlua::Table>("package").and_then(|p| p.get("loaded")).ok();
    let mut list = Vec::new();
    if let Some(loaded) = loaded {
        for (k, _) in inspect::children(&loaded) {
            if let Value::String(s) = k {
                let name = s.to_string_lossy();
                list.push(json!({"id": name, "name": name}));
            }
        }
    }
    json!({"modules": list, "totalModules": list.len()})
}

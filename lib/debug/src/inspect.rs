//! Looking at a paused program: frames, locals, upvalues, tables as DAP variables, and
//! evaluation of expressions in a frame. Uses the `debug` library the engine keeps out of the
//! scripts' reach (see [`DebugLib`]).
//!
//! Levels: `level` is an [`mlua::Lua::inspect_stack`] level of the running (paused) thread, where
//! 0 is the function the hook fired in. `debug.getlocal` called from Rust sees one more frame
//! (its own), hence the `+ 1`.

use mlua::{Function, Lua, MultiValue, Table, Value};

/// The `debug` library functions the debugger uses.
#[derive(Clone)]
pub struct DebugLib {
    getlocal: Function,
    setlocal: Function,
    getupvalue: Function,
    setupvalue: Function,
    getinfo: Function,
}

impl DebugLib {
    /// Takes the functions from a `debug` table.
    pub fn from_table(debug: &Table) -> mlua::Result<DebugLib> {
        Ok(DebugLib {
            getlocal: debug.get("getlocal")?,
            setlocal: debug.get("setlocal")?,
            getupvalue: debug.get("getupvalue")?,
            setupvalue: debug.get("setupvalue")?,
            getinfo: debug.get("getinfo")?,
        })
    }

    /// `(index, name, value)` of the visible locals at `level`, skipping `(temporary)` slots.
    pub fn locals(&self, level: usize) -> Vec<(i64, String, Value)> {
        let mut out = Vec::new();
        for i in 1..=250_i64 {
            let got: mlua::Result<(Option<String>, Value)> = self.getlocal.call((level + 1, i));
            match got {
                Ok((Some(name), value)) => {
                    if !name.starts_with('(') {
                        out.push((i, name, value));
                    }
                }
                _ => break,
            }
        }
        out
    }

    /// The lines of the function at `level` that hold code of its own (`activelines`).
    pub fn active_lines(&self, level: usize) -> Option<Vec<usize>> {
        let info: Table = self.getinfo.call((level + 1, "L")).ok()?;
        let lines: Table = info.get("activelines").ok()?;
        Some(lines.pairs::<usize, Value>().filter_map(|p| p.ok().map(|(l, _)| l)).collect())
    }

    pub fn set_local(&self, level: usize, index: i64, value: Value) -> mlua::Result<()> {
        self.setlocal.call::<Value>((level + 1, index, value)).map(drop)
    }

    /// `(index, name, value)` of the upvalues of `f` (without `_ENV`).
    pub fn upvalues(&self, f: &Function) -> Vec<(i64, String, Value)> {
        let mut out = Vec::new();
        for i in 1..=255_i64 {
            match self.getupvalue.call::<(Option<String>, Value)>((f.clone(), i)) {
                Ok((Some(name), value)) => {
                    if name != "_ENV" {
                        out.push((i, name, value));
                    }
                }
                _ => break,
            }
        }
        out
    }

    pub fn set_upvalue(&self, f: &Function, index: i64, value: Value) -> mlua::Result<()> {
        self.setupvalue.call::<Value>((f.clone(), index, value)).map(drop)
    }
}

/// The function running at `level`.
pub fn function_at(lua: &Lua, level: usize) -> Option<Function> {
    lua.inspect_stack(level, |d| d.function())
}

/// Evaluates `expr` (an expression, or statements when `statements` and it is not one) with
/// the locals and upvalues of `level` visible (None: globals only). Returns its values.
pub fn evaluate(
    lua: &Lua,
    lib: &DebugLib,
    level: Option<usize>,
    expr: &str,
    statements: bool,
) -> Result<MultiValue, String> {
    let env = frame_env(lua, lib, level).map_err(|e| e.to_string())?;
    let load = |src: String| {
        lua.load(src)
            .set_name("=evaluate")
            .set_mode(mlua::chunk::ChunkMode::Text)
            .set_environment(env.clone())
            .into_function()
    };
    let f = match load(format!("return {expr}")) {
        Ok(f) => f,
        Err(e) if !statements => return Err(clean(&e)),
        Err(_) => load(expr.to_owned()).map_err(|e| clean(&e))?,
    };
    f.call::<MultiValue>(()).map_err(|e| clean(&e))
}

/// A table whose fields are the frame's upvalues and locals (later locals shadowing earlier
/// ones) and which falls back to the globals for everything else, reads and writes.
fn frame_env(lua: &Lua, lib: &DebugLib, level: Option<usize>) -> mlua::Result<Table> {
    let globals = lua.globals();
    let Some(level) = level else { return Ok(globals) };
    let env = lua.create_table()?;
    if let Some(f) = function_at(lua, level) {
        for (_, name, value) in lib.upvalues(&f) {
            env.raw_set(name, value)?;
        }
    }
    for (_, name, value) in lib.locals(level) {
        env.raw_set(name, value)?;
    }
    let meta = lua.create_table()?;
    meta.raw_set("__index", globals.clone())?;
    meta.raw_set("__newindex", globals)?;
    env.set_metatable(Some(meta))?;
    Ok(env)
}

/// An error message without mlua's traceback decoration.
pub fn clean(e: &mlua::Error) -> String {
    let text = match e {
        mlua::Error::CallbackError { cause, .. } => return clean(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => m.clone(),
        other => other.to_string(),
    };
    text.split("\nstack traceback:").next().unwrap_or("").to_owned()
}

/// A one-line rendering of a value: strings quoted (unless `raw`), tables previewed.
pub fn preview(v: &Value, raw: bool) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.is_finite() {
                format!("{n:.1}")
            } else {
                n.to_string()
            }
        }
        Value::String(s) if raw => s.to_string_lossy(),
        Value::String(s) => format!("{:?}", s.to_string_lossy()),
        Value::Table(t) => table_preview(t),
        Value::Function(_) => format!("function: {:p}", v.to_pointer()),
        other => format!("{}: {:p}", other.type_name(), other.to_pointer()),
    }
}

fn table_preview(t: &Table) -> String {
    let mut parts = Vec::new();
    let mut more = false;
    for (i, (k, v)) in children(t).into_iter().enumerate() {
        if i == 5 {
            more = true;
            break;
        }
        let v = match &v {
            Value::Table(_) => "{…}".to_owned(),
            other => preview(other, false),
        };
        parts.push(format!("{} = {v}", key_name(&k)));
    }
    if more {
        parts.push("…".into());
    }
    format!("{{{}}}", parts.join(", "))
}

/// A table's entries in display order: integer keys ascending, then the rest by name.
pub fn children(t: &Table) -> Vec<(Value, Value)> {
    let mut entries: Vec<(Value, Value)> =
        t.clone().pairs::<Value, Value>().filter_map(Result::ok).collect();
    entries.sort_by(|(a, _), (b, _)| match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::Integer(_), _) => std::cmp::Ordering::Less,
        (_, Value::Integer(_)) => std::cmp::Ordering::Greater,
        _ => key_name(a).cmp(&key_name(b)),
    });
    entries
}

/// How a key shows as a variable name: `name` for identifiers, `[1]`, `["a b"]` otherwise.
pub fn key_name(k: &Value) -> String {
    match k {
        Value::String(s) => {
            let s = s.to_string_lossy();
            let ident = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if ident { s } else { format!("[{s:?}]") }
        }
        other => format!("[{}]", preview(other, false)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_and_order() {
        let lua = Lua::new();
        let t: Table = lua.load("return {3, 2, b = true, a = 'x', ['a b'] = 1.5}").eval().unwrap();
        let names: Vec<String> = children(&t).iter().map(|(k, _)| key_name(k)).collect();
        assert_eq!(names, vec!["[1]", "[2]", "[\"a b\"]", "a", "b"]);
        assert_eq!(
            preview(&Value::Table(t), false),
            "{[1] = 3, [2] = 2, [\"a b\"] = 1.5, a = \"x\", b = true}"
        );
        let big: Table = lua.load("return {1, 2, 3, 4, 5, 6, {}}").eval().unwrap();
        assert!(preview(&Value::Table(big), false).ends_with("[5] = 5, …}"));
        assert_eq!(preview(&Value::Number(2.0), false), "2.0");
    }
}

//! The llmspell globals that are not about streams: `display`, `clear_output`, `page`, and the
//! disabled `os.exit`. Installs everything else by delegating to [`io`](crate::io),
//! [`json`](crate::json) and [`state`](crate::state).
//!
//! `display(v [, metadata])` sends a MIME bundle when `v` is a non-empty table whose keys are all
//! strings containing `/`; the `application/json` and `*+json` entries are converted with the
//! JSON rules, the others must be strings. A bundle without `text/plain` gets
//! `<display: type, ...>` (its MIME types, sorted) so every bundle has one. Any other value is
//! sent as `{"text/plain": render(v)}`.

use mlua::{Lua, Table, Value};
use serde_json::{Map, Value as Json};

use crate::errors::located;
use crate::host::Host;
use crate::{io, json, render, state};

/// Install every llmspell global and override into a fresh state.
pub(crate) fn install(lua: &Lua, host: &Host) -> mlua::Result<()> {
    io::install(lua, host)?;
    json::install(lua)?;
    state::install(lua, host.state())?;
    let globals = lua.globals();

    let h = host.clone();
    let display = lua.create_function(move |lua, (v, meta): (Value, Value)| {
        let data = bundle(lua, &v).map_err(|e| located(lua, format!("display: {e}")))?;
        let metadata = match meta {
            Value::Nil => Map::new(),
            Value::Table(_) => match json::to_json(&meta) {
                Ok(Json::Object(m)) => m,
                Ok(_) => {
                    return Err(located(lua, "display: metadata must be a table with string keys"));
                }
                Err(e) => return Err(located(lua, format!("display: metadata: {e}"))),
            },
            other => {
                let msg = format!("display: metadata must be a table, got {}", other.type_name());
                return Err(located(lua, msg));
            }
        };
        h.display(data, metadata)
    })?;
    globals.raw_set("display", display)?;

    let h = host.clone();
    let clear = lua.create_function(move |_, wait: Value| {
        h.clear_output(!matches!(wait, Value::Nil | Value::Boolean(false)))
    })?;
    globals.raw_set("clear_output", clear)?;

    let h = host.clone();
    let page = lua.create_function(move |lua, v: Value| {
        let text = match &v {
            Value::String(s) => s.to_string_lossy(),
            other => render::render(lua, other),
        };
        h.page(&text);
        Ok(())
    })?;
    globals.raw_set("page", page)?;

    let os: Table = globals.raw_get("os")?;
    let exit = lua.create_function(|lua, _: Value| -> mlua::Result<()> {
        Err(located(
            lua,
            "os.exit is disabled in the kernel (restart or shut down the kernel from the client)",
        ))
    })?;
    os.raw_set("exit", exit)
}

/// The MIME bundle for `display(v)`.
fn bundle(lua: &Lua, v: &Value) -> Result<Map<String, Json>, String> {
    let mut data = Map::new();
    let Some(mimes) = mime_entries(v) else {
        data.insert("text/plain".into(), Json::String(render::render(lua, v)));
        return Ok(data);
    };
    let mut rest = Map::new();
    for (mime, value) in &mimes {
        let j = if mime == "application/json" || mime.ends_with("+json") {
            json::to_json(value)?
        } else {
            match value {
                Value::String(s) => Json::String(s.to_string_lossy()),
                other => {
                    return Err(format!(
                        "the {mime} value must be a string, got {}",
                        other.type_name()
                    ));
                }
            }
        };
        if mime == "text/plain" {
            data.insert(mime.clone(), j);
        } else {
            rest.insert(mime.clone(), j);
        }
    }
    if data.is_empty() {
        let names: Vec<&str> = mimes.iter().map(|(m, _)| m.as_str()).collect();
        data.insert("text/plain".into(), Json::String(format!("<display: {}>", names.join(", "))));
    }
    data.extend(rest);
    Ok(data)
}

/// `Some(sorted (mime, value))` when `v` is a non-empty table keyed only by MIME types.
fn mime_entries(v: &Value) -> Option<Vec<(String, Value)>> {
    let Value::Table(t) = v else { return None };
    let mut out = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.ok()?;
        match k {
            Value::String(s) if s.to_string_lossy().contains('/') => {
                out.push((s.to_string_lossy(), v))
            }
            _ => return None,
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testutil::{Event, engine, error, run};

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn display_plain_values() {
        let (mut e, rec) = engine();
        run(&mut e, "display({1, 2}); display('hi')");
        assert_eq!(
            rec.take(),
            vec![
                Event::Display(map(json!({"text/plain": "{1, 2}"})), map(json!({}))),
                Event::Display(map(json!({"text/plain": "\"hi\""})), map(json!({}))),
            ]
        );
    }

    #[test]
    fn display_bundles() {
        let (mut e, rec) = engine();
        run(
            &mut e,
            "display({['text/html'] = '<b>x</b>', ['text/plain'] = 'x'}, {isolated = true})",
        );
        run(
            &mut e,
            "display({['application/json'] = {a = {1, JSON.null}}, ['text/html'] = '<i/>'})",
        );
        let events = rec.take();
        assert_eq!(
            events[0],
            Event::Display(
                map(json!({"text/plain": "x", "text/html": "<b>x</b>"})),
                map(json!({"isolated": true}))
            )
        );
        let Event::Display(data, _) = &events[1] else { panic!("{events:?}") };
        assert_eq!(data["text/plain"], "<display: application/json, text/html>");
        assert_eq!(data["application/json"], json!({"a": [1, null]}));
        assert_eq!(data.keys().next().unwrap(), "text/plain");
        let err = error(&mut e, "display({['text/html'] = 1})");
        assert_eq!(
            err.evalue,
            "cell-1:1: display: the text/html value must be a string, got integer"
        );
    }

    #[test]
    fn clear_output_and_page() {
        let (mut e, rec) = engine();
        let out = run(&mut e, "clear_output(); clear_output(true); page('a\\n'); page({1})");
        assert_eq!(rec.take(), vec![Event::Clear(false), Event::Clear(true)]);
        assert_eq!(out.pager.as_deref(), Some("a\n{1}"));
        assert_eq!(run(&mut e, "1").pager, None, "the pager does not carry over");
    }

    #[test]
    fn os_exit_is_disabled() {
        let (mut e, _) = engine();
        let err = error(&mut e, "\nos.exit(1)");
        assert_eq!(err.ename, "RuntimeError");
        assert!(err.evalue.starts_with("cell-1:2: os.exit is disabled"), "{err:?}");
    }
}

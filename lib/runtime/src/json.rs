//! The `JSON` global and the Lua <-> JSON conversion used by `display` bundles and metadata.
//!
//! Encoding rules: `nil` and `JSON.null` -> `null`; booleans; integers; finite floats (NaN and
//! infinities are an error); UTF-8 strings; a non-empty table whose keys are exactly `1..n` ->
//! array; any other table -> object, whose keys must be strings or integers (integers become
//! their decimal text) and are written sorted (numbers first, then strings), so output is
//! stable; the empty table -> `{}`. Cycles, nesting deeper than [`MAX_NESTING`], functions and
//! other values are errors that name the offending key path.
//!
//! Decoding: `null` -> `JSON.null` (so array positions and object keys survive), integers that
//! fit `i64` -> integers, other numbers -> floats. Errors carry serde_json's line and column.

use std::ffi::c_void;

use mlua::{Lua, Table, Value};
use serde_json::{Map, Number, Value as Json};

use crate::render;

/// Deepest table nesting `JSON.encode` accepts.
pub const MAX_NESTING: usize = 128;

/// Install the `JSON` global.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    let json = lua.create_table()?;
    let encode = lua.create_function(|lua, (v, opts): (Value, Option<Table>)| {
        let pretty = match opts {
            Some(t) => t.raw_get::<Option<bool>>("pretty")?.unwrap_or(false),
            None => false,
        };
        let j = to_json(&v).map_err(|e| mlua::Error::runtime(format!("JSON.encode: {e}")))?;
        let text =
            if pretty { serde_json::to_string_pretty(&j) } else { serde_json::to_string(&j) };
        lua.create_string(text.map_err(mlua::Error::external)?)
    })?;
    let decode = lua.create_function(|lua, s: mlua::LuaString| {
        let j: Json = serde_json::from_slice(&s.as_bytes())
            .map_err(|e| mlua::Error::runtime(format!("JSON.decode: {e}")))?;
        from_json(lua, &j)
    })?;
    json.raw_set("encode", encode.clone())?;
    json.raw_set("stringify", encode)?;
    json.raw_set("decode", decode.clone())?;
    json.raw_set("parse", decode)?;
    json.raw_set("null", Value::NULL)?;
    lua.globals().raw_set("JSON", json)
}

/// Convert a Lua value to JSON (see the module doc for the rules).
pub(crate) fn to_json(v: &Value) -> Result<Json, String> {
    Encoder { path: Vec::new(), tables: Vec::new() }.value(v)
}

struct Encoder {
    /// Key path to the value being encoded, for error messages.
    path: Vec<String>,
    /// Tables being encoded, for cycle detection.
    tables: Vec<*const c_void>,
}

impl Encoder {
    fn at(&self) -> String {
        if self.path.is_empty() { String::new() } else { format!(" at {}", self.path.concat()) }
    }

    fn value(&mut self, v: &Value) -> Result<Json, String> {
        Ok(match v {
            Value::Nil => Json::Null,
            Value::LightUserData(p) if p.0.is_null() => Json::Null,
            Value::Boolean(b) => Json::Bool(*b),
            Value::Integer(i) => Json::from(*i),
            Value::Number(f) => match Number::from_f64(*f) {
                Some(n) => Json::Number(n),
                None => return Err(format!("cannot encode the number {f}{}", self.at())),
            },
            Value::String(s) => match s.to_str() {
                Ok(s) => Json::String(s.to_string()),
                Err(_) => return Err(format!("string is not valid UTF-8{}", self.at())),
            },
            Value::Table(t) => self.table(t)?,
            other => return Err(format!("cannot encode a {}{}", other.type_name(), self.at())),
        })
    }

    fn table(&mut self, t: &Table) -> Result<Json, String> {
        let ptr = t.to_pointer();
        if self.tables.contains(&ptr) {
            return Err(format!("cycle in table{}", self.at()));
        }
        if self.tables.len() >= MAX_NESTING {
            return Err(format!("tables nested too deep{}", self.at()));
        }
        self.tables.push(ptr);
        let (seq, rest) = render::entries(t);
        let out = if rest.is_empty() && !seq.is_empty() {
            let mut arr = Vec::with_capacity(seq.len());
            for (i, v) in seq.iter().enumerate() {
                self.path.push(format!("[{}]", i + 1));
                arr.push(self.value(v)?);
                self.path.pop();
            }
            Json::Array(arr)
        } else {
            let all = seq.into_iter().enumerate().map(|(i, v)| (Value::Integer(i as i64 + 1), v));
            let mut obj = Map::new();
            for (k, v) in all.chain(rest) {
                let key = match &k {
                    Value::Integer(i) => i.to_string(),
                    Value::String(s) => match s.to_str() {
                        Ok(s) => s.to_string(),
                        Err(_) => return Err(format!("key is not valid UTF-8{}", self.at())),
                    },
                    other => {
                        return Err(format!(
                            "cannot encode the key {} ({}){}: object keys must be strings or \
                             integers",
                            render::key_text(other),
                            other.type_name(),
                            self.at()
                        ));
                    }
                };
                self.path.push(format!("[{}]", render::key_text(&k)));
                let j = self.value(&v)?;
                self.path.pop();
                obj.insert(key, j);
            }
            Json::Object(obj)
        };
        self.tables.pop();
        Ok(out)
    }
}

/// Convert JSON to a Lua value.
pub(crate) fn from_json(lua: &Lua, j: &Json) -> mlua::Result<Value> {
    Ok(match j {
        Json::Null => Value::NULL,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(a) => {
            let t = lua.create_table_with_capacity(a.len(), 0)?;
            for (i, v) in a.iter().enumerate() {
                t.raw_set(i + 1, from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
        Json::Object(o) => {
            let t = lua.create_table_with_capacity(0, o.len())?;
            for (k, v) in o {
                t.raw_set(k.as_str(), from_json(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::testutil::{engine, error, value};

    fn show(code: &str) -> String {
        let (mut e, _) = engine();
        value(&mut e, code).unwrap_or_default()
    }

    #[test]
    fn encode() {
        assert_eq!(show("JSON.encode({1, 2, 'x'})"), r#""[1,2,\"x\"]""#);
        assert_eq!(
            show("JSON.encode({b = 1, a = {}, [3] = true})"),
            r#""{\"3\":true,\"a\":{},\"b\":1}""#
        );
        assert_eq!(show("JSON.stringify({x = JSON.null, y = 0.5})"), r#""{\"x\":null,\"y\":0.5}""#);
        assert_eq!(
            show("JSON.encode({a = {1}}, {pretty = true})"),
            r#""{\n  \"a\": [\n    1\n  ]\n}""#
        );
        assert_eq!(show("JSON.encode(nil)"), r#""null""#);
    }

    #[test]
    fn encode_errors_name_the_key() {
        let (mut e, _) = engine();
        let err = error(&mut e, "JSON.encode({a = {[true] = 1}})");
        assert!(err.evalue.contains("cannot encode the key true (boolean) at [\"a\"]"), "{err:?}");
        let err = error(&mut e, "JSON.encode({f = print})");
        assert!(err.evalue.contains("cannot encode a function at [\"f\"]"), "{err:?}");
        let err = error(&mut e, "local t = {} t.t = t return JSON.encode(t)");
        assert!(err.evalue.contains("cycle"), "{err:?}");
        let err = error(&mut e, "JSON.encode(0/0)");
        assert!(err.evalue.contains("cannot encode the number"), "{err:?}");
    }

    #[test]
    fn decode_and_round_trip() {
        assert_eq!(
            show("JSON.decode('[1, 2.5, \"x\", null, {\"k\": false}]')"),
            "{1, 2.5, \"x\", JSON.null, {k = false}}"
        );
        assert_eq!(show("JSON.parse('{\"a\": null}').a == JSON.null"), "true");
        let rt = "JSON.encode(JSON.decode('{\"a\":[1,{\"b\":null}],\"c\":\"é\"}'))";
        assert_eq!(show(rt), r#""{\"a\":[1,{\"b\":null}],\"c\":\"é\"}""#);
    }

    #[test]
    fn decode_errors_have_positions() {
        let (mut e, _) = engine();
        let err = error(&mut e, "JSON.decode('{\"a\": }')");
        assert!(err.evalue.contains("JSON.decode: expected value at line 1 column 7"), "{err:?}");
    }
}

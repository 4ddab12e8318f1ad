//! Typed access to a tool's parameters after schema validation. The schema already checked the
//! types it declares; the getters still check, so a tool whose schema is loose fails with a
//! validation error naming the parameter instead of panicking.

use serde_json::{Map, Value};

use crate::error::ToolError;

/// The validated parameter object.
#[derive(Debug, Clone, Default)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn new(map: Map<String, Value>) -> Params {
        Params(map)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A required value of any type.
    pub fn value(&self, key: &str) -> Result<&Value, ToolError> {
        self.get(key).ok_or_else(|| missing(key))
    }

    pub fn str(&self, key: &str) -> Result<&str, ToolError> {
        self.opt_str(key)?.ok_or_else(|| missing(key))
    }

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong(key, "a string", other)),
        }
    }

    pub fn str_or<'a>(&'a self, key: &str, default: &'a str) -> Result<&'a str, ToolError> {
        Ok(self.opt_str(key)?.unwrap_or(default))
    }

    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong(key, "a boolean", other)),
        }
    }

    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool, ToolError> {
        Ok(self.opt_bool(key)?.unwrap_or(default))
    }

    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| wrong(key, "an integer", v)),
        }
    }

    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| wrong(key, "a non-negative integer", v)),
        }
    }

    pub fn u64_or(&self, key: &str, default: u64) -> Result<u64, ToolError> {
        Ok(self.opt_u64(key)?.unwrap_or(default))
    }

    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| wrong(key, "a number", v)),
        }
    }

    pub fn opt_array(&self, key: &str) -> Result<Option<&Vec<Value>>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(wrong(key, "an array", other)),
        }
    }

    /// An optional array whose items must all be strings.
    pub fn opt_strings(&self, key: &str) -> Result<Option<Vec<&str>>, ToolError> {
        let Some(items) = self.opt_array(key)? else { return Ok(None) };
        items
            .iter()
            .enumerate()
            .map(|(i, v)| v.as_str().ok_or_else(|| wrong(&format!("{key}[{i}]"), "a string", v)))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn opt_object(&self, key: &str) -> Result<Option<&Map<String, Value>>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(wrong(key, "an object", other)),
        }
    }
}

fn missing(key: &str) -> ToolError {
    ToolError::validation(format!("parameter {key:?} is required"))
}

fn wrong(key: &str, want: &str, got: &Value) -> ToolError {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ToolError::validation(format!("parameter {key:?} must be {want}, not {kind}"))
}

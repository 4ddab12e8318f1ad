//! `tool_request` → `tool_reply` content (ARCHITECTURE §5), shared by the kernel and by
//! `llmspell-tool` in-process, so both answer alike:
//!
//! - request `{command: "list"|"info"|"invoke"|"search"|"test", name?, names?, params?,
//!   category?, query?, timeout_ms?}`
//! - `list` → `{status: "ok", tools: [{name, category, description}]}`
//! - `info` → `{status: "ok", tool: {name, category, description, parameters, examples}}`
//! - `invoke` → `{status: "ok", tool, result, duration_ms}`
//! - `search` → `{status: "ok", tools: [{name, category, description, score}]}`
//! - `test` → `{status: "ok", results: [{tool, example, passed, message, duration_ms}],
//!   passed, failed}`
//! - `categories` → `{status: "ok", categories: [...]}`
//! - any failure → `{status: "error", error_type, message, ename, evalue, traceback: []}`
//!   (ename/evalue/traceback because Jupyter clients expect them on an error reply), plus
//!   `unknown_tool: NAME` when a tool named by `name` or `names` does not exist.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::error::ToolError;
use crate::registry::Registry;

/// Answers one request's content. An error about a tool that does not exist also carries
/// `unknown_tool: NAME`, so a client can tell it from a tool's own `not_found` (a missing file).
pub fn handle(registry: &Registry, request: &Value) -> Value {
    match answer(registry, request) {
        Ok(reply) => reply,
        Err(e) => {
            let mut reply = error_reply(&e);
            let names = request["name"]
                .as_str()
                .into_iter()
                .chain(request["names"].as_array().into_iter().flatten().filter_map(Value::as_str));
            if let Some(name) = names.into_iter().find(|n| !registry.exists(n)) {
                reply["unknown_tool"] = json!(name);
            }
            reply
        }
    }
}

pub fn error_reply(e: &ToolError) -> Value {
    json!({
        "status": "error",
        "error_type": e.error_type,
        "message": e.message,
        "ename": e.error_type,
        "evalue": e.message,
        "traceback": [],
    })
}

/// The error a reply carries, if it is an error reply.
pub fn reply_error(reply: &Value) -> Option<ToolError> {
    if reply["status"] == "ok" {
        return None;
    }
    let kind = reply["error_type"].as_str().and_then(crate::ErrorType::parse);
    let message = reply["message"].as_str().unwrap_or("the kernel gave no message").to_owned();
    Some(match kind {
        Some(kind) => ToolError::new(kind, message),
        None => ToolError::execution(format!("malformed tool_reply: {reply}")),
    })
}

fn string<'a>(request: &'a Value, key: &str) -> Result<Option<&'a str>, ToolError> {
    match &request[key] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => {
            Err(ToolError::validation(format!("tool_request: {key} must be a string, not {other}")))
        }
    }
}

fn required<'a>(request: &'a Value, key: &str) -> Result<&'a str, ToolError> {
    string(request, key)?
        .ok_or_else(|| ToolError::validation(format!("tool_request: {key} is required")))
}

fn answer(registry: &Registry, request: &Value) -> Result<Value, ToolError> {
    if !request.is_object() {
        return Err(ToolError::validation("tool_request: the content must be a JSON object"));
    }
    match required(request, "command")? {
        "list" => {
            let tools: Vec<Value> =
                registry.list(string(request, "category")?).iter().map(|d| d.summary()).collect();
            Ok(json!({"status": "ok", "tools": tools}))
        }
        "categories" => Ok(json!({"status": "ok", "categories": registry.categories()})),
        "info" => {
            let def = registry.info(required(request, "name")?)?;
            Ok(json!({"status": "ok", "tool": def.to_json()}))
        }
        "search" => {
            let tools: Vec<Value> = registry
                .search(required(request, "query")?)
                .into_iter()
                .map(|(d, score)| {
                    let mut v = d.summary();
                    v["score"] = json!(score);
                    v
                })
                .collect();
            Ok(json!({"status": "ok", "tools": tools}))
        }
        "invoke" => {
            let name = required(request, "name")?;
            let timeout = match &request["timeout_ms"] {
                Value::Null => None,
                v => Some(Duration::from_millis(v.as_u64().filter(|ms| *ms > 0).ok_or_else(
                    || {
                        ToolError::validation(format!(
                            "tool_request: timeout_ms must be a positive integer, not {v}"
                        ))
                    },
                )?)),
            };
            let started = Instant::now();
            let result = registry.invoke(name, request["params"].clone(), timeout)?;
            Ok(json!({
                "status": "ok",
                "tool": name,
                "result": result,
                "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
            }))
        }
        "test" => {
            let mut names: Vec<&str> = Vec::new();
            if let Some(name) = string(request, "name")? {
                names.push(name);
            }
            if let Some(list) = request["names"].as_array() {
                for v in list {
                    names.push(v.as_str().ok_or_else(|| {
                        ToolError::validation("tool_request: names must be strings")
                    })?);
                }
            }
            let outcomes = registry.test(&names)?;
            let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
            Ok(json!({
                "status": "ok",
                "results": outcomes.iter().map(|o| o.to_json()).collect::<Vec<_>>(),
                "passed": outcomes.len() - failed,
                "failed": failed,
            }))
        }
        other => Err(ToolError::validation(format!(
            "tool_request: unknown command {other:?}; use list, info, invoke, search, test or categories"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn unknown_names_are_marked_in_test_requests_too() {
        let registry = Registry::with_tools(Vec::new(), Policy::new(std::env::temp_dir()));
        let reply = handle(&registry, &json!({"command": "test", "names": ["nope"]}));
        assert_eq!(
            (reply["error_type"].as_str(), reply["unknown_tool"].as_str()),
            (Some("not_found"), Some("nope"))
        );
        let reply = handle(&registry, &json!({"command": "info", "name": "gone"}));
        assert_eq!(reply["unknown_tool"], "gone");
        let reply = handle(&registry, &json!({"command": "frobnicate"}));
        assert_eq!(reply["error_type"], "validation");
        assert!(reply.get("unknown_tool").is_none());
    }
}

//! The provider-neutral conversation: what the runtime builds and both wire formats translate.
//!
//! A conversation is a list of [`Message`]s with role `user`, `assistant` (text and/or tool
//! calls) or `tool` (one tool result, answering `tool_call_id`). The system prompt travels
//! apart, as [`ChatRequest::system`], because the two APIs place it differently.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `user`, `assistant` or `tool`.
    pub role: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub content: String,
    /// The calls an assistant turn asked for.
    #[serde(default, deserialize_with = "list_or_empty", skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `tool` turns: the call answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `tool` turns: the tool's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Message {
        Message {
            role: "user".into(),
            content: text.into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }
    }
}

/// A tool call the model asked for; `arguments` is a JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub arguments: Json,
}

/// A tool the model may call: its name, description and JSON Schema parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Json,
}

/// One chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<Message>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub tools: Vec<ToolSpec>,
    /// Ask for server-sent events and deliver text as it arrives.
    pub stream: bool,
}

/// Token counts as the provider reported them (0 when it did not).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The model's answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    /// `stop`, `end_turn`, `tool_calls`, `tool_use`, `length`, ... as the provider said it.
    pub finish_reason: Option<String>,
    pub model: Option<String>,
}

fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A list, or an empty object (how an empty Lua table encodes).
fn list_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ToolCall>, D::Error> {
    match Json::deserialize(d)? {
        Json::Null => Ok(Vec::new()),
        Json::Object(m) if m.is_empty() => Ok(Vec::new()),
        other => serde_json::from_value(other).map_err(serde::de::Error::custom),
    }
}

/// A JSON object parsed from streamed argument text (`""` is `{}`).
pub(crate) fn parse_arguments(name: &str, text: &str) -> Result<Json, String> {
    if text.trim().is_empty() {
        return Ok(Json::Object(Default::default()));
    }
    serde_json::from_str(text)
        .map_err(|e| format!("the arguments of tool call {name:?} are not JSON ({e}): {text}"))
}

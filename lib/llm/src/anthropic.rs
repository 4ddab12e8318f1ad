//! The Anthropic Messages API: `POST {base_url}/v1/messages` with `x-api-key` and
//! `anthropic-version: 2023-06-01`.
//!
//! Content is a list of blocks: `text`, `tool_use {id, name, input}` (assistant) and
//! `tool_result {tool_use_id, content}` (sent in a user turn; consecutive results share one
//! turn). Streaming events: `message_start` (input usage), `content_block_start` (a text or
//! tool_use block), `content_block_delta` (`text_delta` / `input_json_delta` pieces),
//! `content_block_stop`, `message_delta` (stop_reason, output usage), `message_stop`; `ping`
//! is ignored and `error` ends the stream with the provider's message.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::call::StreamError;
use crate::types::{ChatRequest, ChatResponse, ToolCall, Usage, parse_arguments};

/// `max_tokens` is required by this API; used when the agent sets none.
pub(crate) const DEFAULT_MAX_TOKENS: u32 = 1024;

/// The request body.
pub(crate) fn body(req: &ChatRequest) -> Json {
    let mut messages: Vec<Json> = Vec::new();
    for m in &req.messages {
        match m.role.as_str() {
            "tool" => {
                let block = json!({"type": "tool_result",
                    "tool_use_id": m.tool_call_id.clone().unwrap_or_default(),
                    "content": m.content});
                // Results answering one assistant turn go together in one user turn.
                if let Some(last) = messages.last_mut()
                    && last["role"] == "user"
                    && let Some(blocks) = last["content"].as_array_mut()
                    && blocks.iter().all(|b| b["type"] == "tool_result")
                {
                    blocks.push(block);
                    continue;
                }
                messages.push(json!({"role": "user", "content": [block]}));
            }
            "assistant" if !m.tool_calls.is_empty() => {
                let mut blocks = Vec::new();
                if !m.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": m.content}));
                }
                for c in &m.tool_calls {
                    let input =
                        if c.arguments.is_object() { c.arguments.clone() } else { json!({}) };
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                messages.push(json!({"role": "assistant", "content": blocks}));
            }
            role => messages.push(json!({"role": role, "content": m.content})),
        }
    }
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
    });
    if let Some(system) = &req.system {
        body["system"] = json!(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Json> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body["tools"] = json!(tools);
    }
    if req.stream {
        body["stream"] = json!(true);
    }
    body
}

/// A non-streamed reply.
pub(crate) fn parse(v: &Json) -> Result<ChatResponse, String> {
    let blocks = v["content"].as_array().ok_or("no content list in the reply")?;
    let mut out = ChatResponse {
        usage: Usage {
            prompt_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
            completion_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
        },
        finish_reason: v["stop_reason"].as_str().map(str::to_owned),
        model: v["model"].as_str().map(str::to_owned),
        ..ChatResponse::default()
    };
    for b in blocks {
        match b["type"].as_str() {
            Some("text") => out.text.push_str(b["text"].as_str().unwrap_or_default()),
            Some("tool_use") => out.tool_calls.push(ToolCall {
                id: b["id"].as_str().unwrap_or_default().into(),
                name: b["name"].as_str().ok_or("a tool_use block without a name")?.into(),
                arguments: if b["input"].is_object() { b["input"].clone() } else { json!({}) },
            }),
            _ => {} // thinking and other blocks carry nothing for the caller
        }
    }
    Ok(out)
}

/// A block being streamed.
#[derive(Debug)]
enum Block {
    Text,
    Tool { id: String, name: String, json: String },
    Other,
}

/// Assembles a streamed reply.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    out: ChatResponse,
    blocks: BTreeMap<u64, Block>,
    pub(crate) done: bool,
}

impl Stream {
    /// One event (`event:` type and `data:` payload); returns the text it adds.
    pub(crate) fn event(&mut self, event: &str, data: &str) -> Result<Option<String>, StreamError> {
        let v: Json =
            serde_json::from_str(data).map_err(|e| format!("a stream event is not JSON ({e})"))?;
        let kind = v["type"].as_str().unwrap_or(event);
        let index = v["index"].as_u64().unwrap_or(0);
        match kind {
            "message_start" => {
                let m = &v["message"];
                self.out.model = m["model"].as_str().map(str::to_owned);
                self.out.usage.prompt_tokens = m["usage"]["input_tokens"].as_u64().unwrap_or(0);
                self.out.usage.completion_tokens =
                    m["usage"]["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let b = &v["content_block"];
                let block = match b["type"].as_str() {
                    Some("text") => {
                        let t = b["text"].as_str().unwrap_or_default();
                        self.blocks.insert(index, Block::Text);
                        if !t.is_empty() {
                            self.out.text.push_str(t);
                            return Ok(Some(t.to_string()));
                        }
                        return Ok(None);
                    }
                    Some("tool_use") => Block::Tool {
                        id: b["id"].as_str().unwrap_or_default().into(),
                        name: b["name"].as_str().ok_or("a tool_use block without a name")?.into(),
                        json: String::new(),
                    },
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match (d["type"].as_str(), self.blocks.get_mut(&index)) {
                    (Some("text_delta"), _) => {
                        let t = d["text"].as_str().unwrap_or_default();
                        if !t.is_empty() {
                            self.out.text.push_str(t);
                            return Ok(Some(t.to_string()));
                        }
                    }
                    (Some("input_json_delta"), Some(Block::Tool { json, .. })) => {
                        json.push_str(d["partial_json"].as_str().unwrap_or_default());
                    }
                    (Some("input_json_delta"), _) => {
                        return Err(
                            format!("input_json_delta for block {index}, not a tool_use").into()
                        );
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(r) = v["delta"]["stop_reason"].as_str() {
                    self.out.finish_reason = Some(r.to_string());
                }
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    self.out.usage.completion_tokens = n;
                }
                if let Some(n) = v["usage"]["input_tokens"].as_u64() {
                    self.out.usage.prompt_tokens = n;
                }
            }
            "message_stop" => self.done = true,
            "error" => return Err(StreamError::Remote(crate::http::error_message(&v["error"]))),
            _ => {} // ping, content_block_stop, future events
        }
        Ok(None)
    }

    pub(crate) fn finish(mut self) -> Result<ChatResponse, String> {
        for (_, b) in std::mem::take(&mut self.blocks) {
            if let Block::Tool { id, name, json } = b {
                let arguments = parse_arguments(&name, &json)?;
                self.out.tool_calls.push(ToolCall { id, name, arguments });
            }
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Message;

    #[test]
    fn tool_results_share_a_user_turn() {
        let mut asked = Message::user("thinking");
        asked.role = "assistant".into();
        asked.tool_calls = vec![
            ToolCall { id: "t1".into(), name: "a".into(), arguments: json!({}) },
            ToolCall { id: "t2".into(), name: "b".into(), arguments: json!({"x": 1}) },
        ];
        let result = |id: &str| {
            let mut m = Message::user("ok");
            m.role = "tool".into();
            m.tool_call_id = Some(id.into());
            m
        };
        let req = ChatRequest {
            model: "m".into(),
            system: Some("sys".into()),
            messages: vec![Message::user("hi"), asked, result("t1"), result("t2")],
            temperature: None,
            max_tokens: None,
            tools: vec![],
            stream: false,
        };
        let b = body(&req);
        assert_eq!(b["system"], "sys");
        assert_eq!(b["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(b["messages"].as_array().unwrap().len(), 3);
        assert_eq!(b["messages"][1]["content"][2]["input"], json!({"x": 1}));
        assert_eq!(b["messages"][2]["content"][1]["tool_use_id"], "t2");
    }

    #[test]
    fn streamed_events_assemble_text_tools_and_usage() {
        let mut s = Stream::default();
        let events = [
            (
                "message_start",
                r#"{"type":"message_start","message":{"model":"claude","usage":{"input_tokens":25,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            ("ping", r#"{"type":"ping"}"#),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}"#,
            ),
            ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"calculator","input":{}}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"expression\":"}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"2+2\"}"}}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":15}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ];
        let text: Vec<String> = events.iter().filter_map(|(e, d)| s.event(e, d).unwrap()).collect();
        assert_eq!(text, vec!["Hi", " there"]);
        assert!(s.done);
        let r = s.finish().unwrap();
        assert_eq!(r.tool_calls[0].arguments, json!({"expression": "2+2"}));
        assert_eq!(r.usage, Usage { prompt_tokens: 25, completion_tokens: 15 });
        assert_eq!(r.finish_reason.as_deref(), Some("tool_use"));
    }

    #[test]
    fn error_events_and_bad_replies() {
        let mut s = Stream::default();
        let e = s
            .event(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            )
            .unwrap_err();
        assert_eq!(e, StreamError::Remote("overloaded_error: Overloaded".into()));
        assert!(parse(&json!({"content": "x"})).is_err());
    }
}

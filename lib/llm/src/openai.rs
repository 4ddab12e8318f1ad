//! The OpenAI-compatible chat-completions format (OpenAI, Ollama, llama.cpp server, vLLM,
//! LM Studio): `POST {base_url}/chat/completions`.
//!
//! Streaming: `data: {chunk}` events whose `choices[0].delta` carries `content` pieces and
//! `tool_calls` pieces keyed by `index` (the first piece of a call has its `id` and
//! `function.name`, later ones append to `function.arguments`); the stream ends with
//! `data: [DONE]`. `stream_options.include_usage` asks for a last chunk with `usage`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use crate::call::StreamError;
use crate::types::{ChatRequest, ChatResponse, ToolCall, Usage, parse_arguments};

/// The request body.
pub(crate) fn body(req: &ChatRequest) -> Json {
    let mut messages = Vec::new();
    if let Some(system) = &req.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        match m.role.as_str() {
            "tool" => messages.push(json!({
                "role": "tool",
                "tool_call_id": m.tool_call_id.clone().unwrap_or_default(),
                "content": m.content,
            })),
            "assistant" if !m.tool_calls.is_empty() => {
                let calls: Vec<Json> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name, "arguments": c.arguments.to_string()}})
                    })
                    .collect();
                let content = if m.content.is_empty() { Json::Null } else { json!(m.content) };
                messages
                    .push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
            role => messages.push(json!({"role": role, "content": m.content})),
        }
    }
    let mut body = json!({"model": req.model, "messages": messages});
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = req.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Json> = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        body["tools"] = json!(tools);
    }
    if req.stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn usage(v: &Json) -> Usage {
    Usage {
        prompt_tokens: v["prompt_tokens"].as_u64().unwrap_or(0),
        completion_tokens: v["completion_tokens"].as_u64().unwrap_or(0),
    }
}

/// A non-streamed reply.
pub(crate) fn parse(v: &Json) -> Result<ChatResponse, String> {
    let choice = v["choices"].get(0).ok_or("no choices[0] in the reply")?;
    let message = choice.get("message").ok_or("no choices[0].message in the reply")?;
    let mut tool_calls = Vec::new();
    for c in message["tool_calls"].as_array().into_iter().flatten() {
        let name = c["function"]["name"].as_str().ok_or("a tool call without function.name")?;
        let arguments = match &c["function"]["arguments"] {
            Json::String(s) => parse_arguments(name, s)?,
            Json::Null => json!({}),
            other => other.clone(), // some servers send an object
        };
        let id = c["id"].as_str().unwrap_or_default().to_string();
        tool_calls.push(ToolCall { id, name: name.into(), arguments });
    }
    Ok(ChatResponse {
        text: message["content"].as_str().unwrap_or_default().to_string(),
        tool_calls,
        usage: usage(&v["usage"]),
        finish_reason: choice["finish_reason"].as_str().map(str::to_owned),
        model: v["model"].as_str().map(str::to_owned),
    })
}

/// Assembles a streamed reply.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    out: ChatResponse,
    /// index → (id, name, argument text)
    calls: BTreeMap<u64, (String, String, String)>,
    pub(crate) done: bool,
}

impl Stream {
    /// One `data:` payload; returns the text it adds.
    pub(crate) fn data(&mut self, data: &str) -> Result<Option<String>, StreamError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let v: Json =
            serde_json::from_str(data).map_err(|e| format!("a stream chunk is not JSON ({e})"))?;
        if let Some(err) = v.get("error") {
            return Err(StreamError::Remote(crate::http::error_message(err)));
        }
        if let Some(m) = v["model"].as_str() {
            self.out.model = Some(m.to_string());
        }
        if v["usage"].is_object() {
            self.out.usage = usage(&v["usage"]);
        }
        let Some(choice) = v["choices"].get(0) else { return Ok(None) };
        if let Some(r) = choice["finish_reason"].as_str() {
            self.out.finish_reason = Some(r.to_string());
        }
        let delta = &choice["delta"];
        for piece in delta["tool_calls"].as_array().into_iter().flatten() {
            let index = piece["index"].as_u64().unwrap_or(self.calls.len() as u64);
            let slot = self.calls.entry(index).or_default();
            if let Some(id) = piece["id"].as_str() {
                slot.0 = id.to_string();
            }
            if let Some(name) = piece["function"]["name"].as_str()
                && slot.1.is_empty()
            {
                slot.1 = name.to_string();
            }
            if let Some(args) = piece["function"]["arguments"].as_str() {
                slot.2.push_str(args);
            }
        }
        match delta["content"].as_str() {
            Some(t) if !t.is_empty() => {
                self.out.text.push_str(t);
                Ok(Some(t.to_string()))
            }
            _ => Ok(None),
        }
    }

    pub(crate) fn finish(mut self) -> Result<ChatResponse, String> {
        for (_, (id, name, args)) in std::mem::take(&mut self.calls) {
            if name.is_empty() {
                return Err(format!("a streamed tool call ({id}) has no function name"));
            }
            let arguments = parse_arguments(&name, &args)?;
            self.out.tool_calls.push(ToolCall { id, name, arguments });
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Message, ToolSpec};

    #[test]
    fn body_carries_system_tools_and_tool_turns() {
        let mut asked = Message::user("");
        asked.role = "assistant".into();
        asked.tool_calls =
            vec![ToolCall { id: "c1".into(), name: "calc".into(), arguments: json!({"x": 1}) }];
        let mut answer = Message::user("3");
        answer.role = "tool".into();
        answer.tool_call_id = Some("c1".into());
        let req = ChatRequest {
            model: "m".into(),
            system: Some("be brief".into()),
            messages: vec![Message::user("hi"), asked, answer],
            temperature: Some(0.5),
            max_tokens: Some(10),
            tools: vec![ToolSpec {
                name: "calc".into(),
                description: "d".into(),
                parameters: json!({"type": "object"}),
            }],
            stream: true,
        };
        let b = body(&req);
        assert_eq!(b["messages"][0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(b["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"x\":1}");
        assert_eq!(b["messages"][3], json!({"role": "tool", "tool_call_id": "c1", "content": "3"}));
        assert_eq!(b["tools"][0]["function"]["name"], "calc");
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    #[test]
    fn streamed_tool_call_deltas_are_assembled() {
        let mut s = Stream::default();
        let chunks = [
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":"Let"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":" me"}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"calculator","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","function":{"name":"uuid","arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"expre"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ssion\": \"6*7\"}"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":7}}"#,
            "[DONE]",
        ];
        let text: Vec<String> = chunks.iter().filter_map(|c| s.data(c).unwrap()).collect();
        assert_eq!(text, vec!["Let", " me"]);
        assert!(s.done);
        let r = s.finish().unwrap();
        assert_eq!(r.text, "Let me");
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[0].id, "call_a");
        assert_eq!(r.tool_calls[0].arguments, json!({"expression": "6*7"}));
        assert_eq!(r.tool_calls[1].name, "uuid");
        assert_eq!(r.usage, Usage { prompt_tokens: 12, completion_tokens: 7 });
        assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(parse(&json!({"nope": 1})).is_err());
        assert!(Stream::default().data("{not json").is_err());
        let mut s = Stream::default();
        s.data(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{oops"}}]}}]}"#).unwrap();
        assert!(s.finish().unwrap_err().contains("not JSON"));
    }
}

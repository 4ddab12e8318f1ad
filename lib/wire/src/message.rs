//! Jupyter messages (messaging spec 5.5, "General Message Format") and the builders that keep a
//! reply tied to its request: same routing identities, `parent_header` = the request's header.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The protocol version written in every header.
pub const PROTOCOL_VERSION: &str = "5.5";

/// A message header. Only `msg_id` and `msg_type` are required when reading; clients are lenient
/// about the rest, so are we.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub msg_id: String,
    pub msg_type: String,
    #[serde(default)]
    pub session: String,
    #[serde(default)]
    pub username: String,
    /// ISO-8601 with a timezone (`2026-11-23T10:00:00.123456Z`).
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub version: String,
}

impl Header {
    /// A new header with a fresh id and the current time.
    pub fn new(msg_type: &str, session: &str) -> Header {
        Header {
            msg_id: uuid::Uuid::new_v4().to_string(),
            msg_type: msg_type.to_owned(),
            session: session.to_owned(),
            username: "llmspell".to_owned(),
            date: now_iso8601(),
            version: PROTOCOL_VERSION.to_owned(),
        }
    }

    /// The header as a JSON object.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("headers serialize")
    }
}

/// The current UTC time, ISO-8601 with microseconds and a `Z`.
pub fn now_iso8601() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// One message, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// ROUTER routing identities (everything before `<IDS|MSG>`); for iopub, the topic.
    pub identities: Vec<Vec<u8>>,
    pub header: Header,
    /// The request's header, or `{}`.
    pub parent_header: Value,
    pub metadata: Map<String, Value>,
    pub content: Value,
    /// Extra binary buffers, carried through untouched and never signed.
    pub buffers: Vec<Vec<u8>>,
}

impl Message {
    /// A message with no parent (a request, or an unsolicited iopub message).
    pub fn new(msg_type: &str, session: &str, content: Value) -> Message {
        Message {
            identities: Vec::new(),
            header: Header::new(msg_type, session),
            parent_header: json!({}),
            metadata: Map::new(),
            content,
            buffers: Vec::new(),
        }
    }

    /// A reply (or any message caused by `self`) addressed back to the sender of `self`.
    pub fn reply(&self, msg_type: &str, session: &str, content: Value) -> Message {
        Message {
            identities: self.identities.clone(),
            header: Header::new(msg_type, session),
            parent_header: self.header.to_value(),
            metadata: Map::new(),
            content,
            buffers: Vec::new(),
        }
    }

    /// An iopub message caused by `self`: parent is `self`, topic is the message type.
    pub fn broadcast(&self, msg_type: &str, session: &str, content: Value) -> Message {
        let mut msg = self.reply(msg_type, session, content);
        msg.identities = vec![format!("kernel.{session}.{msg_type}").into_bytes()];
        msg
    }

    pub fn msg_type(&self) -> &str {
        &self.header.msg_type
    }

    /// The `msg_id` of the parent header, if any.
    pub fn parent_id(&self) -> Option<&str> {
        self.parent_header.get("msg_id").and_then(Value::as_str)
    }

    /// The `msg_type` of the parent header, if any.
    pub fn parent_type(&self) -> Option<&str> {
        self.parent_header.get("msg_type").and_then(Value::as_str)
    }

    /// A string field of the content.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.content.get(name).and_then(Value::as_str)
    }

    /// A boolean field of the content, or `default` when absent or not a boolean.
    pub fn bool_field(&self, name: &str, default: bool) -> bool {
        self.content.get(name).and_then(Value::as_bool).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_keeps_identities_and_parent() {
        let mut req = Message::new("execute_request", "client", json!({"code": "1"}));
        req.identities = vec![b"id-1".to_vec()];
        let reply = req.reply("execute_reply", "kernel", json!({"status": "ok"}));
        assert_eq!(reply.identities, req.identities);
        assert_eq!(reply.parent_id(), Some(req.header.msg_id.as_str()));
        assert_eq!(reply.parent_type(), Some("execute_request"));
        assert_eq!(reply.header.session, "kernel");
        assert_eq!(reply.header.version, PROTOCOL_VERSION);
    }

    #[test]
    fn dates_carry_a_timezone() {
        let date = Header::new("status", "s").date;
        assert!(date.ends_with('Z') && date.contains('T'), "{date}");
        assert!(chrono::DateTime::parse_from_rfc3339(&date).is_ok(), "{date}");
    }

    #[test]
    fn lenient_header_parsing() {
        let h: Header = serde_json::from_value(json!({"msg_id": "1", "msg_type": "x"})).unwrap();
        assert_eq!(h.session, "");
    }
}

//! Multipart ZeroMQ messages (messaging spec, "The Wire Protocol"):
//!
//! ```text
//! [identities...] <IDS|MSG> signature header parent_header metadata content [buffers...]
//! ```
//!
//! [`RawMessage::split`] only counts frames; [`RawMessage::verify`] checks the HMAC over exactly
//! the four JSON frames in constant time; only then does [`RawMessage::parse`] touch JSON. Every
//! failure is a [`WireError`]; nothing here indexes past what it checked.

use serde_json::{Map, Value};

use crate::error::WireError;
use crate::message::{Header, Message};
use crate::signer::Signer;

/// The frame separating routing identities from the message.
pub const DELIMITER: &[u8] = b"<IDS|MSG>";

/// A message split into its frames but not yet trusted or parsed.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub identities: Vec<Vec<u8>>,
    pub signature: Vec<u8>,
    /// header, parent_header, metadata, content.
    pub parts: [Vec<u8>; 4],
    pub buffers: Vec<Vec<u8>>,
}

impl RawMessage {
    /// Splits frames at the delimiter, keeping identities and extra buffers.
    pub fn split(mut frames: Vec<Vec<u8>>) -> Result<RawMessage, WireError> {
        let total = frames.len();
        let at = frames
            .iter()
            .position(|f| f == DELIMITER)
            .ok_or(WireError::NoDelimiter { frames: total })?;
        let after = total - at - 1;
        if after < 5 {
            return Err(WireError::Truncated { found: after });
        }
        let mut rest = frames.split_off(at + 1);
        frames.pop(); // the delimiter
        let buffers = rest.split_off(5);
        let mut it = rest.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let signature = next();
        let parts = [next(), next(), next(), next()];
        Ok(RawMessage { identities: frames, signature, parts, buffers })
    }

    /// Checks the signature (always true for an unsigned session).
    pub fn verify(&self, signer: &Signer) -> Result<(), WireError> {
        let [h, p, m, c] = &self.parts;
        if signer.verify(&self.signature, [h, p, m, c]) {
            Ok(())
        } else {
            Err(WireError::BadSignature)
        }
    }

    /// Parses the JSON frames. Call only after [`RawMessage::verify`].
    pub fn parse(self) -> Result<Message, WireError> {
        let [h, p, m, c] = self.parts;
        let header_value = json_part("header", &h)?;
        let header = parse_header(header_value)?;
        let parent_header = json_part("parent_header", &p)?;
        let metadata = match json_part("metadata", &m)? {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let content = json_part("content", &c)?;
        Ok(Message {
            identities: self.identities,
            header,
            parent_header,
            metadata,
            content,
            buffers: self.buffers,
        })
    }
}

fn json_part(part: &'static str, bytes: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(bytes).map_err(|source| WireError::BadJson { part, source })
}

fn parse_header(value: Value) -> Result<Header, WireError> {
    for field in ["msg_id", "msg_type"] {
        if !value.get(field).is_some_and(Value::is_string) {
            return Err(WireError::BadHeader { field });
        }
    }
    serde_json::from_value(value).map_err(|_| WireError::BadHeader { field: "header" })
}

/// Splits, verifies and parses in one go.
pub fn decode(frames: Vec<Vec<u8>>, signer: &Signer) -> Result<Message, WireError> {
    let raw = RawMessage::split(frames)?;
    raw.verify(signer)?;
    raw.parse()
}

/// The frames of `msg`, signed.
pub fn encode(msg: &Message, signer: &Signer) -> Vec<Vec<u8>> {
    let header = serde_json::to_vec(&msg.header).expect("headers serialize");
    let parent = serde_json::to_vec(&msg.parent_header).expect("JSON values serialize");
    let metadata = serde_json::to_vec(&msg.metadata).expect("JSON values serialize");
    let content = serde_json::to_vec(&msg.content).expect("JSON values serialize");
    let signature = signer.sign([&header, &parent, &metadata, &content]);
    let mut frames = Vec::with_capacity(msg.identities.len() + 6 + msg.buffers.len());
    frames.extend(msg.identities.iter().cloned());
    frames.push(DELIMITER.to_vec());
    frames.push(signature.into_bytes());
    frames.extend([header, parent, metadata, content]);
    frames.extend(msg.buffers.iter().cloned());
    frames
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample(signer: &Signer) -> Vec<Vec<u8>> {
        let mut msg = Message::new("execute_request", "s", json!({"code": "print(1)"}));
        msg.identities = vec![b"peer-a".to_vec(), b"peer-b".to_vec()];
        msg.buffers = vec![vec![0, 1, 2], b"buf".to_vec()];
        encode(&msg, signer)
    }

    #[test]
    fn round_trip_keeps_identities_and_buffers() {
        let signer = Signer::new("key");
        let msg = decode(sample(&signer), &signer).unwrap();
        assert_eq!(msg.identities, vec![b"peer-a".to_vec(), b"peer-b".to_vec()]);
        assert_eq!(msg.buffers, vec![vec![0, 1, 2], b"buf".to_vec()]);
        assert_eq!(msg.content["code"], "print(1)");
    }

    #[test]
    fn wrong_key_is_rejected_before_parsing() {
        let mut frames = sample(&Signer::new("other"));
        // Garbage JSON would fail parsing; the signature check must come first.
        let last = frames.len() - 3;
        frames[last] = b"{not json".to_vec();
        assert!(matches!(decode(frames, &Signer::new("key")), Err(WireError::BadSignature)));
    }

    #[test]
    fn missing_signature_is_rejected_when_signed() {
        let mut frames = sample(&Signer::new(""));
        let delim = frames.iter().position(|f| f == DELIMITER).unwrap();
        assert!(frames[delim + 1].is_empty());
        frames[delim + 1] = Vec::new();
        assert!(matches!(decode(frames, &Signer::new("key")), Err(WireError::BadSignature)));
    }

    #[test]
    fn independently_computed_signature_verifies() {
        // Computed with Python: hmac.new(b"secret-key", b'{"msg_id":"1"}{}{}{"code":"print(1)"}',
        // hashlib.sha256).hexdigest()
        let frames = vec![
            b"<IDS|MSG>".to_vec(),
            b"a703be0163285e48b28c2354ca14c03272eefa4e5813dae4062dbacfe3f2e030".to_vec(),
            br#"{"msg_id":"1"}"#.to_vec(),
            b"{}".to_vec(),
            b"{}".to_vec(),
            br#"{"code":"print(1)"}"#.to_vec(),
        ];
        let raw = RawMessage::split(frames).unwrap();
        raw.verify(&Signer::new("secret-key")).unwrap();
        // The header lacks msg_type, so parsing names it.
        assert!(matches!(raw.parse(), Err(WireError::BadHeader { field: "msg_type" })));
    }

    #[test]
    fn truncated_and_undelimited_frames_are_errors() {
        let signer = Signer::new("key");
        let frames = sample(&signer);
        let delim = frames.iter().position(|f| f == DELIMITER).unwrap();
        for keep in 0..delim + 6 {
            let cut: Vec<_> = frames[..keep].to_vec();
            assert!(decode(cut, &signer).is_err(), "kept {keep} frames");
        }
        assert!(matches!(decode(vec![], &signer), Err(WireError::NoDelimiter { frames: 0 })));
    }

    #[test]
    fn bad_json_is_an_error_not_a_panic() {
        let signer = Signer::new("");
        let frames = vec![
            DELIMITER.to_vec(),
            vec![],
            vec![0xff, 0xfe],
            b"{}".to_vec(),
            b"{}".to_vec(),
            b"{}".to_vec(),
        ];
        assert!(matches!(decode(frames, &signer), Err(WireError::BadJson { part: "header", .. })));
    }
}

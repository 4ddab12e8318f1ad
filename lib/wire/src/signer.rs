//! Message signing (messaging spec, "The Wire Protocol"): lowercase hex HMAC-SHA256 over the
//! header, parent_header, metadata and content frames, in that order — never the buffers.
//!
//! The key is the UTF-8 bytes of the connection file's `key` string, not hex-decoded. An empty key
//! means the session is unsigned: the signature is the empty string and nothing is checked.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies messages for one session key.
#[derive(Clone)]
pub struct Signer {
    mac: Option<HmacSha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Signer").field("signed", &self.mac.is_some()).finish()
    }
}

impl Signer {
    /// A signer for `key` (the connection file's string); empty means unsigned.
    pub fn new(key: &str) -> Signer {
        let mac = (!key.is_empty()).then(|| {
            HmacSha256::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length")
        });
        Signer { mac }
    }

    /// Whether messages carry signatures.
    pub fn is_signed(&self) -> bool {
        self.mac.is_some()
    }

    /// The hex signature of the four signed parts ("" when unsigned).
    pub fn sign(&self, parts: [&[u8]; 4]) -> String {
        match &self.mac {
            None => String::new(),
            Some(mac) => {
                let mut mac = mac.clone();
                for part in parts {
                    mac.update(part);
                }
                hex::encode(mac.finalize().into_bytes())
            }
        }
    }

    /// Whether `signature` (hex, any case) is right for the four parts, compared in constant time.
    pub fn verify(&self, signature: &[u8], parts: [&[u8]; 4]) -> bool {
        let Some(mac) = &self.mac else { return true };
        let Ok(expected) = hex::decode(signature) else { return false };
        let mut mac = mac.clone();
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with Python:
    //   hmac.new(b"secret-key", b"".join(parts), hashlib.sha256).hexdigest()
    const PARTS: [&[u8]; 4] = [br#"{"msg_id":"1"}"#, b"{}", b"{}", br#"{"code":"print(1)"}"#];
    const SIG: &str = "a703be0163285e48b28c2354ca14c03272eefa4e5813dae4062dbacfe3f2e030";

    #[test]
    fn unsigned_sessions_sign_nothing_and_accept_anything() {
        let s = Signer::new("");
        assert_eq!(s.sign(PARTS), "");
        assert!(s.verify(b"whatever", PARTS));
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        let s = Signer::new("secret-key");
        assert_eq!(s.sign(PARTS), SIG);
        assert!(s.verify(SIG.as_bytes(), PARTS));
        assert!(s.verify(SIG.to_uppercase().as_bytes(), PARTS));
    }

    #[test]
    fn wrong_signatures_are_rejected() {
        let s = Signer::new("secret-key");
        assert!(!s.verify(b"", PARTS));
        assert!(!s.verify(b"not hex", PARTS));
        assert!(!s.verify(Signer::new("other").sign(PARTS).as_bytes(), PARTS));
        let tampered: [&[u8]; 4] = [PARTS[0], PARTS[1], PARTS[2], br#"{"code":"print(2)"}"#];
        assert!(!s.verify(SIG.as_bytes(), tampered));
    }

    #[test]
    fn key_is_used_as_utf8_not_hex() {
        // "00" as a hex-decoded key would be one zero byte; as UTF-8 it is two '0' bytes.
        assert_ne!(Signer::new("00").sign(PARTS), {
            let mut mac = HmacSha256::new_from_slice(&[0u8]).unwrap();
            PARTS.iter().for_each(|p| mac.update(p));
            hex::encode(mac.finalize().into_bytes())
        });
    }
}

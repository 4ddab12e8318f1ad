//! API keys: held in [`ApiKey`] (never printed) and scrubbed from any text that might echo them.

/// An API key. `Debug` and `Display` show `[REDACTED]`; only [`ApiKey::expose`] gives the key,
/// and only the request builders call it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key from its text; surrounding whitespace (a key file's newline) is dropped.
    pub fn new(text: &str) -> Option<ApiKey> {
        let t = text.trim();
        (!t.is_empty()).then(|| ApiKey(t.to_string()))
    }
    /// The key itself, for the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

impl std::fmt::Display for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// `text` with every occurrence of the key replaced by `[REDACTED]`.
pub fn redact(text: &str, key: Option<&ApiKey>) -> String {
    match key {
        Some(k) if !k.0.is_empty() => text.replace(&k.0, "[REDACTED]"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_and_scrubbed() {
        let k = ApiKey::new("  sk-secret-123\n").unwrap();
        assert_eq!(k.expose(), "sk-secret-123");
        assert_eq!(format!("{k:?} {k}"), "ApiKey([REDACTED]) [REDACTED]");
        assert_eq!(
            redact("Incorrect API key provided: sk-secret-123.", Some(&k)),
            "Incorrect API key provided: [REDACTED]."
        );
        assert_eq!(redact("no key here", None), "no key here");
        assert!(ApiKey::new(" \n").is_none());
    }
}

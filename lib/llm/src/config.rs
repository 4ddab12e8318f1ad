//! `[providers.NAME]` tables of config.toml:
//!
//! ```toml
//! [providers]
//! default = "local"                 # optional; with one provider, that one is the default
//!
//! [providers.local]
//! kind = "openai"                   # "openai" (chat completions) or "anthropic" (Messages API)
//! base_url = "http://127.0.0.1:11434/v1"
//! model = "llama3.2"
//!
//! [providers.claude]
//! kind = "anthropic"
//! base_url = "https://api.anthropic.com"   # the default for kind = "anthropic"
//! api_key_env = "ANTHROPIC_API_KEY" # or api_key_file = "~/.config/anthropic.key"
//! model = "claude-sonnet-4-5"
//! timeout = 120                     # seconds for one request, streaming included (default 120)
//! max_retries = 2                   # retries on 429 / 5xx / connection failures (default 2)
//! ```
//!
//! Keys are read when a request is made (never stored in this struct), from `api_key_env` or
//! `api_key_file`; a provider with neither sends no key (Ollama, llama.cpp).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::error::LlmError;
use crate::secret::ApiKey;

/// The default request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 2;
/// The most retries a config may ask for.
pub const MAX_RETRIES_CAP: u32 = 10;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// POST {base_url}/chat/completions, `Authorization: Bearer KEY`.
    OpenAi,
    /// POST {base_url}/v1/messages, `x-api-key: KEY`, `anthropic-version: 2023-06-01`.
    Anthropic,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::Anthropic => "anthropic",
        }
    }
    fn default_base_url(self) -> &'static str {
        match self {
            Kind::OpenAi => "https://api.openai.com/v1",
            Kind::Anthropic => "https://api.anthropic.com",
        }
    }
}

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: Kind,
    /// Without a trailing slash.
    pub base_url: String,
    pub api_key_env: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub model: Option<String>,
    pub timeout: Duration,
    pub max_retries: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    kind: String,
    base_url: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<String>,
    model: Option<String>,
    timeout: Option<f64>,
    max_retries: Option<u32>,
}

impl ProviderConfig {
    /// The key to send: `Ok(None)` when the provider is configured without one.
    pub fn api_key(&self) -> Result<Option<ApiKey>, LlmError> {
        let name = &self.name;
        if let Some(var) = &self.api_key_env {
            if let Some(k) = std::env::var(var).ok().as_deref().and_then(ApiKey::new) {
                return Ok(Some(k));
            }
            if self.api_key_file.is_none() {
                return Err(LlmError::NoKey(format!(
                    "provider {name}: no API key: set the environment variable {var} \
                     (named by providers.{name}.api_key_env in config.toml)"
                )));
            }
        }
        let Some(path) = &self.api_key_file else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|e| {
            LlmError::NoKey(format!(
                "provider {name}: no API key: cannot read providers.{name}.api_key_file {}: {e}",
                path.display()
            ))
        })?;
        ApiKey::new(&text).map(Some).ok_or_else(|| {
            LlmError::NoKey(format!(
                "provider {name}: no API key: providers.{name}.api_key_file {} is empty",
                path.display()
            ))
        })
    }

    /// Name, kind, model, base_url and whether a key is available (never the key).
    pub fn summary(&self) -> Json {
        let key_set = matches!(self.api_key(), Ok(Some(_)));
        let needs_key = self.api_key_env.is_some() || self.api_key_file.is_some();
        json!({
            "name": self.name,
            "kind": self.kind.as_str(),
            "model": self.model,
            "base_url": self.base_url,
            "key_set": key_set,
            "key_required": needs_key,
        })
    }
}

/// Every configured provider, in name order, and the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Providers {
    pub list: Vec<ProviderConfig>,
    /// `providers.default`, if set (checked to name a provider).
    pub default: Option<String>,
}

impl Providers {
    /// The `[providers]` table of a config.toml's text (other tables are ignored). `~/` in
    /// `api_key_file` is the home directory; relative paths are relative to `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Providers, String> {
        let table: toml::Table =
            toml::from_str(text).map_err(|e| e.to_string().replace('\n', " "))?;
        let Some(section) = table.get("providers") else { return Ok(Providers::default()) };
        let toml::Value::Table(section) = section else {
            return Err("providers must be a table ([providers.NAME])".into());
        };
        let mut out = Providers::default();
        for (name, value) in section {
            match (name.as_str(), value) {
                ("default", toml::Value::String(d)) => out.default = Some(d.clone()),
                (_, toml::Value::Table(t)) => {
                    let s: Section = t
                        .clone()
                        .try_into()
                        .map_err(|e| format!("providers.{name}: {}", one_line(e)))?;
                    out.list.push(provider(name, s, base_dir)?);
                }
                _ => return Err(format!("providers.{name} must be a table")),
            }
        }
        out.list.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(d) = &out.default
            && out.get(d).is_none()
        {
            return Err(format!("providers.default = {d:?} names no [providers.{d}] table"));
        }
        Ok(out)
    }

    /// The named provider.
    pub fn get(&self, name: &str) -> Option<&ProviderConfig> {
        self.list.iter().find(|p| p.name == name)
    }

    /// `name`, or the default when `None`; the error says what to configure.
    pub fn resolve(&self, name: Option<&str>) -> Result<&ProviderConfig, LlmError> {
        if let Some(name) = name {
            return self.get(name).ok_or_else(|| {
                let known: Vec<&str> = self.list.iter().map(|p| p.name.as_str()).collect();
                let known = if known.is_empty() { "none".into() } else { known.join(", ") };
                LlmError::NotConfigured(format!(
                    "no provider {name:?}: add a [providers.{name}] table (kind, base_url, model, \
                     api_key_env) to config.toml in $LLMSPELL_HOME (configured: {known})"
                ))
            });
        }
        if let Some(d) = &self.default {
            return self.resolve(Some(d));
        }
        match self.list.as_slice() {
            [one] => Ok(one),
            [] => Err(LlmError::NotConfigured(
                "no LLM provider configured: add a [providers.NAME] table (kind, base_url, \
                 model, api_key_env) to config.toml in $LLMSPELL_HOME"
                    .into(),
            )),
            many => Err(LlmError::NotConfigured(format!(
                "several providers are configured ({}): pick one with :provider(NAME) or set \
                 providers.default in config.toml",
                many.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }
}

fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().trim().replace('\n', " ")
}

fn provider(name: &str, s: Section, base_dir: &Path) -> Result<ProviderConfig, String> {
    let kind = match s.kind.as_str() {
        "openai" => Kind::OpenAi,
        "anthropic" => Kind::Anthropic,
        other => {
            return Err(format!(
                "providers.{name}.kind = {other:?} is not one of \"openai\", \"anthropic\""
            ));
        }
    };
    let base_url = s.base_url.unwrap_or_else(|| kind.default_base_url().into());
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(format!("providers.{name}.base_url = {base_url:?} is not an http(s) URL"));
    }
    let timeout = match s.timeout {
        None => DEFAULT_TIMEOUT,
        Some(t) if t > 0.0 && t <= 86_400.0 => Duration::from_secs_f64(t),
        Some(t) => {
            return Err(format!("providers.{name}.timeout = {t} is not 0 < seconds <= 86400"));
        }
    };
    let max_retries = s.max_retries.unwrap_or(DEFAULT_MAX_RETRIES);
    if max_retries > MAX_RETRIES_CAP {
        return Err(format!(
            "providers.{name}.max_retries = {max_retries} is above {MAX_RETRIES_CAP}"
        ));
    }
    let api_key_file = s.api_key_file.map(|f| match f.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest),
        None => base_dir.join(f),
    });
    Ok(ProviderConfig {
        name: name.to_string(),
        kind,
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key_env: s.api_key_env.filter(|v| !v.is_empty()),
        api_key_file,
        model: s.model.filter(|m| !m.is_empty()),
        timeout,
        max_retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_providers_and_the_default() {
        let text = "[kernel]\nlog_level = \"info\"\n[providers]\ndefault = \"b\"\n\
                    [providers.b]\nkind = \"anthropic\"\nmodel = \"m\"\napi_key_env = \"X\"\n\
                    [providers.a]\nkind = \"openai\"\nbase_url = \"http://h:1/v1/\"\ntimeout = 5\n";
        let p = Providers::parse(text, Path::new("/")).unwrap();
        assert_eq!(p.list.len(), 2);
        assert_eq!(p.list[0].name, "a");
        assert_eq!(p.list[0].base_url, "http://h:1/v1");
        assert_eq!(p.list[0].timeout, Duration::from_secs(5));
        assert_eq!(p.list[1].base_url, "https://api.anthropic.com");
        assert_eq!(p.resolve(None).unwrap().name, "b");
        assert_eq!(p.resolve(Some("a")).unwrap().kind, Kind::OpenAi);
    }

    #[test]
    fn errors_name_the_key() {
        let bad = |t: &str| Providers::parse(t, Path::new("/")).unwrap_err();
        assert!(bad("[providers.x]\nkind = \"gpt\"\n").contains("providers.x.kind"));
        assert!(bad("[providers.x]\nkind = \"openai\"\nmodle = \"m\"\n").contains("modle"));
        assert!(bad("[providers]\ndefault = \"y\"\n").contains("providers.default"));
        let none = Providers::default().resolve(None).unwrap_err().to_string();
        assert!(none.contains("[providers.NAME]") && none.contains("config.toml"), "{none}");
        let p = Providers::parse("[providers.x]\nkind = \"openai\"\n", Path::new("/")).unwrap();
        assert!(p.resolve(Some("y")).unwrap_err().to_string().contains("[providers.y]"));
    }

    #[test]
    fn keys_from_env_or_file_and_never_in_summary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), "sk-file-key\n").unwrap();
        let text = "[providers.f]\nkind = \"openai\"\napi_key_file = \"k\"\n\
                    [providers.e]\nkind = \"openai\"\napi_key_env = \"LLMSPELL_TEST_UNSET_KEY\"\n\
                    [providers.n]\nkind = \"openai\"\n";
        let p = Providers::parse(text, dir.path()).unwrap();
        let f = p.get("f").unwrap();
        assert_eq!(f.api_key().unwrap().unwrap().expose(), "sk-file-key");
        let s = f.summary().to_string();
        assert!(s.contains("\"key_set\":true") && !s.contains("sk-file-key"), "{s}");
        let e = p.get("e").unwrap().api_key().unwrap_err().to_string();
        assert!(e.contains("LLMSPELL_TEST_UNSET_KEY") && e.contains("providers.e.api_key_env"));
        assert_eq!(p.get("n").unwrap().api_key().unwrap(), None);
    }
}

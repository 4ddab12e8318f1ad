//! url_analyzer: parse, join and normalize URLs (WHATWG rules, via the `url` crate). Pure: no
//! network.

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value, json};
use url::{Host, Url};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "url_analyzer",
        category: "network",
        description: "Analyzes URLs without network access: parse (scheme, host, port and \
                      default port, path segments, query parameters, fragment, IP or domain, \
                      registrable domain guess), join a relative reference to a base URL, and \
                      normalize (sorted query, no fragment, decoded unreserved characters).",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["parse", "join", "normalize"],
                    "description": "parse (default), join (base + url) or normalize."
                },
                "url": {
                    "type": "string",
                    "description": "The URL (for join: the reference, relative or absolute)."
                },
                "base": {"type": "string", "description": "join: the absolute base URL."},
                "sort_query": {
                    "type": "boolean",
                    "description": "normalize: sort query parameters by name (default true)."
                },
                "remove_fragment": {
                    "type": "boolean",
                    "description": "normalize: drop the #fragment (default true)."
                },
                "remove_trailing_slash": {
                    "type": "boolean",
                    "description": "normalize: drop a trailing / from a non-root path \
                                    (default false)."
                }
            },
            "required": ["url"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "parse a URL",
                json!({"url": "https://user@www.example.co.uk:8443/a/b%20c?x=1&y=2&x=3#top"}),
                json!({
                    "scheme": "https", "host": "www.example.co.uk", "host_type": "domain",
                    "port": 8443, "default_port": 443, "path": "/a/b%20c",
                    "segments": ["a", "b c"], "query_params": {"x": ["1", "3"], "y": "2"},
                    "query_list": [["x", "1"], ["y", "2"], ["x", "3"]], "fragment": "top",
                    "is_ip": false, "username": "user", "registrable_domain_guess": "example.co.uk"
                }),
            ),
            Example::new(
                "join a relative reference to a base",
                json!({"operation": "join", "base": "https://example.com/docs/guide/intro.html",
                       "url": "../api/index.html?v=2"}),
                json!({"url": "https://example.com/docs/api/index.html?v=2"}),
            ),
            Example::new(
                "normalize",
                json!({"operation": "normalize",
                       "url": "HTTP://Example.COM:80/a/./b/../%7Euser/?b=2&a=1#frag"}),
                json!({"url": "http://example.com/a/~user/?a=1&b=2", "changed": true}),
            ),
            Example::fails(
                "a relative URL needs a base",
                json!({"url": "/just/a/path"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn parse(param: &str, text: &str) -> Result<Url, ToolError> {
    Url::parse(text).map_err(|e| {
        let hint = if e == url::ParseError::RelativeUrlWithoutBase {
            " (use operation \"join\" with a \"base\")"
        } else {
            ""
        };
        ToolError::validation(format!(
            "parameter {param:?}: {text:?} is not a valid URL: {e}{hint}"
        ))
    })
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    let text = p.str("url")?;
    match p.str_or("operation", "parse")? {
        "parse" => Ok(describe(&parse("url", text)?)),
        "join" => {
            let base_text = p.opt_str("base")?.ok_or_else(|| {
                ToolError::validation("operation \"join\" needs parameter \"base\"")
            })?;
            let base = parse("base", base_text)?;
            if base.cannot_be_a_base() {
                return Err(ToolError::validation(format!(
                    "parameter \"base\": {base_text:?} cannot be a base (it has no path \
                     hierarchy, like mailto: or data:)"
                )));
            }
            let joined = base.join(text).map_err(|e| {
                ToolError::validation(format!("parameter \"url\": cannot join {text:?}: {e}"))
            })?;
            Ok(describe(&joined))
        }
        "normalize" => {
            let url = parse("url", text)?;
            let normal = normalize(
                url,
                p.bool_or("sort_query", true)?,
                p.bool_or("remove_fragment", true)?,
                p.bool_or("remove_trailing_slash", false)?,
            )?;
            let mut out = describe(&normal);
            out["changed"] = json!(normal.as_str() != text);
            out["original"] = json!(text);
            Ok(out)
        }
        other => Err(ToolError::validation(format!(
            "parameter \"operation\": {other:?} is not parse, join or normalize"
        ))),
    }
}

fn describe(url: &Url) -> Value {
    let (host_type, is_ip) = match url.host() {
        None => (Value::Null, false),
        Some(Host::Domain(_)) => (json!("domain"), false),
        Some(Host::Ipv4(_)) => (json!("ipv4"), true),
        Some(Host::Ipv6(_)) => (json!("ipv6"), true),
    };
    let segments: Vec<String> = url
        .path_segments()
        .map(|s| s.map(|seg| percent_decode_str(seg).decode_utf8_lossy().into_owned()).collect())
        .unwrap_or_default();
    let mut params = Map::new();
    let mut list = Vec::new();
    for (k, v) in url.query_pairs() {
        list.push(json!([k, v]));
        match params.get_mut(k.as_ref()) {
            None => {
                params.insert(k.into_owned(), json!(v));
            }
            Some(Value::Array(items)) => items.push(json!(v)),
            Some(first) => *first = json!([first.clone(), v]),
        }
    }
    let domain = url.domain().map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let registrable = domain.as_deref().and_then(registrable_domain);
    let subdomain = match (&domain, &registrable) {
        (Some(d), Some(r)) if d.len() > r.len() => Some(d[..d.len() - r.len() - 1].to_owned()),
        _ => None,
    };
    let tld =
        domain.as_deref().and_then(|d| d.rsplit('.').next()).filter(|_| registrable.is_some());
    json!({
        "url": url.as_str(),
        "scheme": url.scheme(),
        "username": url.username(),
        "has_password": url.password().is_some(),
        "host": url.host_str(),
        "host_type": host_type,
        "is_ip": is_ip,
        "port": url.port(),
        "default_port": default_port(url.scheme()),
        "effective_port": url.port_or_known_default(),
        "path": url.path(),
        "segments": segments,
        "query": url.query(),
        "query_params": params,
        "query_list": list,
        "fragment": url.fragment(),
        "origin": url.origin().ascii_serialization(),
        "cannot_be_a_base": url.cannot_be_a_base(),
        "registrable_domain_guess": registrable,
        "subdomain": subdomain,
        "tld": tld,
    })
}

/// The default port of a special scheme.
fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        "ftp" => Some(21),
        _ => None,
    }
}

/// Second-level labels that, under a two-letter country TLD, are part of the public suffix
/// (example.co.uk, example.com.au). A heuristic: without the Public Suffix List it cannot know
/// every registry's rules.
const SECOND_LEVEL: &[&str] =
    &["co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go", "mil", "gob", "nic", "ltd"];

/// The registrable domain ("example.co.uk" for "a.b.example.co.uk") guessed from the labels.
fn registrable_domain(domain: &str) -> Option<String> {
    let labels: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    if labels.len() < 2 {
        return None;
    }
    let tld = labels[labels.len() - 1];
    let second = labels[labels.len() - 2];
    let suffix_labels = if tld.len() == 2 && SECOND_LEVEL.contains(&second) { 2 } else { 1 };
    if labels.len() <= suffix_labels {
        return None;
    }
    Some(labels[labels.len() - suffix_labels - 1..].join("."))
}

fn normalize(
    mut url: Url,
    sort_query: bool,
    remove_fragment: bool,
    remove_trailing_slash: bool,
) -> Result<Url, ToolError> {
    if !url.cannot_be_a_base() {
        let path = decode_unreserved(url.path());
        let path = if remove_trailing_slash && path.len() > 1 && path.ends_with('/') {
            path.trim_end_matches('/').to_owned()
        } else {
            path
        };
        let path = if path.is_empty() { "/".to_owned() } else { path };
        url.set_path(&path);
    }
    if let Some(query) = url.query().map(str::to_owned) {
        if query.is_empty() {
            url.set_query(None);
        } else if sort_query {
            let mut pairs: Vec<&str> = query.split('&').filter(|s| !s.is_empty()).collect();
            // Stable: values of a repeated name keep their order.
            pairs.sort_by(|a, b| a.split('=').next().cmp(&b.split('=').next()));
            let joined = decode_unreserved(&pairs.join("&"));
            url.set_query(Some(&joined));
        } else {
            url.set_query(Some(&decode_unreserved(&query)));
        }
    }
    if remove_fragment {
        url.set_fragment(None);
    }
    // A round trip through the parser applies the WHATWG rules to what was changed.
    Url::parse(url.as_str()).map_err(|e| ToolError::execution(format!("normalizing failed: {e}")))
}

/// Decodes %XX escapes of unreserved characters (A-Z a-z 0-9 - . _ ~) and upper-cases the
/// hex digits of the others (RFC 3986, 6.2.2).
fn decode_unreserved(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::{ErrorType, Policy, Registry};

    fn registry() -> Registry {
        Registry::with_tools(vec![super::tool()], Policy::new(std::env::temp_dir()))
    }

    fn call(params: serde_json::Value) -> serde_json::Value {
        registry().invoke("url_analyzer", params, None).unwrap()
    }

    #[test]
    fn parse_reports_every_part() {
        let out = call(json!({"url": "https://user:pw@Sub.Example.com/a/b/?q=1&q=2&empty=#f"}));
        assert_eq!(out["host"], "sub.example.com");
        assert_eq!(out["has_password"], true);
        assert_eq!(out["username"], "user");
        assert_eq!(out["port"], json!(null));
        assert_eq!(out["default_port"], 443);
        assert_eq!(out["effective_port"], 443);
        assert_eq!(out["segments"], json!(["a", "b", ""]));
        assert_eq!(out["query_params"], json!({"q": ["1", "2"], "empty": ""}));
        assert_eq!(out["fragment"], "f");
        assert_eq!(out["origin"], "https://sub.example.com");
        assert_eq!(out["registrable_domain_guess"], "example.com");
        assert_eq!(out["subdomain"], "sub");
        assert_eq!(out["tld"], "com");

        let out = call(json!({"url": "http://192.168.1.10:8080/x"}));
        assert_eq!(out["is_ip"], true);
        assert_eq!(out["host_type"], "ipv4");
        assert_eq!(out["port"], 8080);
        assert_eq!(out["registrable_domain_guess"], json!(null));
        let out = call(json!({"url": "http://[::1]/"}));
        assert_eq!(out["host_type"], "ipv6");
        assert_eq!(out["host"], "[::1]");
        let out = call(json!({"url": "mailto:someone@example.com"}));
        assert_eq!(out["cannot_be_a_base"], true);
        assert_eq!(out["host"], json!(null));
        assert_eq!(out["path"], "someone@example.com");
        let out = call(json!({"url": "http://localhost:3000/"}));
        assert_eq!(out["registrable_domain_guess"], json!(null));
        assert_eq!(out["default_port"], 80);
        let out = call(json!({"url": "https://shop.example.com.au/"}));
        assert_eq!(out["registrable_domain_guess"], "example.com.au");
        // Internationalized names come back in punycode.
        let out = call(json!({"url": "https://bücher.example/"}));
        assert_eq!(out["host"], "xn--bcher-kva.example");
    }

    #[test]
    fn join_resolves_relative_references() {
        let base = "https://example.com/a/b/c?x=1#f";
        for (reference, want) in [
            ("d", "https://example.com/a/b/d"),
            ("../d", "https://example.com/a/d"),
            ("/root", "https://example.com/root"),
            ("?y=2", "https://example.com/a/b/c?y=2"),
            ("#g", "https://example.com/a/b/c?x=1#g"),
            ("//other.org/p", "https://other.org/p"),
            ("http://abs.net/", "http://abs.net/"),
        ] {
            let out = call(json!({"operation": "join", "base": base, "url": reference}));
            assert_eq!(out["url"], want, "{reference}");
        }
    }

    #[test]
    fn normalize_options() {
        let out =
            call(json!({"operation": "normalize", "url": "https://EX.com:443/p/?b=1&a=2&a=1"}));
        assert_eq!(out["url"], "https://ex.com/p/?a=2&a=1&b=1");
        let out = call(json!({
            "operation": "normalize", "url": "https://ex.com/p/?b=1&a=2#x",
            "sort_query": false, "remove_fragment": false, "remove_trailing_slash": true
        }));
        assert_eq!(out["url"], "https://ex.com/p?b=1&a=2#x");
        let out = call(json!({"operation": "normalize", "url": "https://ex.com/a%2fb%41?"}));
        assert_eq!(out["url"], "https://ex.com/a%2FbA");
        let out = call(json!({"operation": "normalize", "url": "https://ex.com/"}));
        assert_eq!(out["changed"], false);
        assert_eq!(super::decode_unreserved("%7e%zz%4%+1%2f"), "~%zz%4%+1%2F");
    }

    #[test]
    fn invalid_urls_say_why() {
        let r = registry();
        for (params, needle) in [
            (json!({"url": "http://exa mple.com/"}), "invalid international domain name"),
            (json!({"url": "http://example.com:99999/"}), "invalid port number"),
            (json!({"url": "relative/path"}), "join"),
            (json!({"url": "http://"}), "empty host"),
            (json!({"operation": "join", "url": "x"}), "base"),
            (json!({"operation": "join", "url": "x", "base": "mailto:a@b"}), "cannot be a base"),
            (json!({"operation": "join", "url": "x", "base": "nope"}), "\"base\""),
            (json!({"operation": "split", "url": "http://x/"}), "/operation"),
        ] {
            let e = r.invoke("url_analyzer", params.clone(), None).unwrap_err();
            assert_eq!(e.error_type, ErrorType::Validation, "{params}: {e}");
            assert!(e.message.contains(needle), "{params}: {e}");
        }
    }
}

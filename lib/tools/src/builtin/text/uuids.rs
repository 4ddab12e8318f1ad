//! uuid_generator: random (v4), name-based (v5) and time-ordered (v7) UUIDs, and parsing one.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const MAX_COUNT: u64 = 1000;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "uuid_generator",
        category: "text",
        description: "Generates UUIDs (version 4 random, version 5 from a namespace and name, \
                      version 7 time-ordered) in hyphenated, simple, urn, braced or uppercase \
                      format, or parses a UUID to report its version, variant and timestamp.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["generate", "parse"],
                    "description": "generate (default) or parse."
                },
                "version": {
                    "type": "integer",
                    "enum": [4, 5, 7],
                    "description": "generate: 4 random (default), 5 the SHA-1 of namespace and \
                        name (always the same for the same input), 7 Unix-time ordered."
                },
                "namespace": {
                    "type": "string",
                    "description": "version 5: dns (default), url, oid, x500, or a UUID."
                },
                "name": {
                    "type": "string",
                    "description": "version 5: the name (required), e.g. a domain or URL."
                },
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_COUNT,
                    "description": "generate: how many (default 1, at most 1000; version 5 \
                        gives one)."
                },
                "format": {
                    "type": "string",
                    "enum": ["hyphenated", "simple", "urn", "braced", "uppercase"],
                    "description": "generate: hyphenated (default, \
                        67e55044-10b1-426f-9247-bb680e5fe0c8), simple (32 hex digits), urn \
                        (urn:uuid:...), braced ({...}) or uppercase (hyphenated, A-F)."
                },
                "uuid": {
                    "type": "string",
                    "description": "parse: the UUID, in any of the formats above."
                }
            },
            "allOf": [
                {
                    "if": {"properties": {"operation": {"const": "parse"}},
                           "required": ["operation"]},
                    "then": {"required": ["uuid"]}
                },
                {
                    "if": {"properties": {"version": {"const": 5}}, "required": ["version"]},
                    "then": {"required": ["name"]}
                }
            ],
            "additionalProperties": false
        }),
        examples: vec![
            Example::satisfies("A random UUID", json!({}), "one hyphenated version 4 UUID", |v| {
                v["uuid"].as_str().and_then(|s| Uuid::try_parse(s).ok()).is_some_and(|u| {
                    u.get_version_num() == 4 && u.hyphenated().to_string() == v["uuid"]
                })
            }),
            Example::new(
                "A name-based UUID is always the same",
                json!({"version": 5, "namespace": "dns", "name": "example.com"}),
                json!({"uuid": "cfbff0d1-9375-5685-968c-48ce8b15ae17"}),
            ),
            Example::satisfies(
                "Time-ordered UUIDs, simple format",
                json!({"version": 7, "count": 3, "format": "simple"}),
                "3 increasing 32-digit version 7 UUIDs",
                |v| {
                    let Some(list) = v["uuids"].as_array() else { return false };
                    let ids: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
                    ids.len() == 3
                        && ids.windows(2).all(|w| w[0] < w[1])
                        && ids.iter().all(|s| s.len() == 32 && s.as_bytes()[12] == b'7')
                },
            ),
            Example::new(
                "Parse a UUID",
                json!({"operation": "parse",
                       "uuid": "urn:uuid:cfbff0d1-9375-5685-968c-48ce8b15ae17"}),
                json!({"valid": true, "version": 5, "variant": "RFC4122",
                       "uuid": "cfbff0d1-9375-5685-968c-48ce8b15ae17"}),
            ),
            Example::fails("Version 5 needs a name", json!({"version": 5}), ErrorType::Validation),
        ],
        run,
    }
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    if p.str_or("operation", "generate")? == "parse" {
        return Ok(parse(p.str("uuid")?));
    }
    let version = p.u64_or("version", 4)?;
    let count = p.u64_or("count", 1)?;
    if count > MAX_COUNT {
        return Err(ToolError::validation(format!("parameter \"count\" is above {MAX_COUNT}")));
    }
    let uuids: Vec<Uuid> = match version {
        4 => (0..count).map(|_| Uuid::new_v4()).collect(),
        7 => (0..count).map(|_| Uuid::now_v7()).collect(),
        5 => {
            if count != 1 {
                return Err(ToolError::validation(
                    "parameter \"count\": version 5 UUIDs are the same for the same name; \
                     ask for one",
                ));
            }
            let namespace = namespace(p.str_or("namespace", "dns")?)?;
            vec![Uuid::new_v5(&namespace, p.str("name")?.as_bytes())]
        }
        other => {
            return Err(ToolError::validation(format!(
                "parameter \"version\": {other} is not 4, 5 or 7"
            )));
        }
    };
    let format = p.str_or("format", "hyphenated")?;
    let texts: Vec<String> = uuids.iter().map(|u| render(u, format)).collect();
    Ok(json!({"uuid": texts[0], "uuids": texts, "version": version}))
}

fn namespace(text: &str) -> Result<Uuid, ToolError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "dns" => Uuid::NAMESPACE_DNS,
        "url" => Uuid::NAMESPACE_URL,
        "oid" => Uuid::NAMESPACE_OID,
        "x500" => Uuid::NAMESPACE_X500,
        _ => Uuid::try_parse(text).map_err(|e| {
            ToolError::validation(format!(
                "parameter \"namespace\": {text:?} is not dns, url, oid, x500 or a UUID ({e})"
            ))
        })?,
    })
}

fn render(u: &Uuid, format: &str) -> String {
    match format {
        "simple" => u.simple().to_string(),
        "urn" => u.urn().to_string(),
        "braced" => u.braced().to_string(),
        "uppercase" => format!("{:X}", u.hyphenated()),
        _ => u.hyphenated().to_string(),
    }
}

fn parse(text: &str) -> Value {
    let u = match Uuid::try_parse(text.trim()) {
        Ok(u) => u,
        Err(e) => return json!({"valid": false, "error": e.to_string()}),
    };
    let mut out = json!({
        "valid": true,
        "uuid": u.hyphenated().to_string(),
        "version": u.get_version_num(),
        "variant": format!("{:?}", u.get_variant()),
        "nil": u.is_nil(),
    });
    if let Some(ts) = u.get_timestamp() {
        let (secs, nanos) = ts.to_unix();
        out["unix_ms"] = json!(secs * 1000 + u64::from(nanos / 1_000_000));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use uuid::Uuid;

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn gen_(params: Value) -> Value {
        ok(&registry(), "uuid_generator", params)
    }

    #[test]
    fn version_4_is_random_and_unique() {
        let v = gen_(json!({"count": 1000}));
        let ids: Vec<&str> =
            v["uuids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 1000);
        for id in &ids {
            assert_eq!(Uuid::parse_str(id).unwrap().get_version_num(), 4);
        }
        assert_eq!(v["uuid"], ids[0]);
        assert_eq!(v["version"], 4);
    }

    #[test]
    fn version_5_is_deterministic_for_each_namespace() {
        let v = gen_(json!({"version": 5, "namespace": "url", "name": "https://example.com/"}));
        let again = gen_(json!({"version": 5, "namespace": "URL", "name": "https://example.com/"}));
        assert_eq!(v["uuid"], again["uuid"]);
        let want = Uuid::new_v5(&Uuid::NAMESPACE_URL, b"https://example.com/");
        assert_eq!(v["uuid"], want.to_string());
        let dns = gen_(json!({"version": 5, "name": "example.com"}));
        assert_eq!(dns["uuid"], "cfbff0d1-9375-5685-968c-48ce8b15ae17");
        for ns in ["oid", "x500", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"] {
            let v = gen_(json!({"version": 5, "namespace": ns, "name": "x"}));
            let u = Uuid::parse_str(v["uuid"].as_str().unwrap()).unwrap();
            assert_eq!(u.get_version_num(), 5);
        }
        // the UUID form of the DNS namespace gives the same as "dns"
        let v = gen_(json!({"version": 5, "namespace": "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
                            "name": "example.com"}));
        assert_eq!(v["uuid"], dns["uuid"]);
    }

    #[test]
    fn version_7_is_time_ordered() {
        let before =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                as u64;
        let v = gen_(json!({"version": 7, "count": 500}));
        let ids: Vec<String> =
            v["uuids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().into()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "not increasing");
        let parsed = gen_(json!({"operation": "parse", "uuid": ids[0]}));
        assert_eq!(parsed["version"], 7);
        let ms = parsed["unix_ms"].as_u64().unwrap();
        assert!(ms >= before && ms < before + 600_000, "{ms} vs {before}");
    }

    #[test]
    fn formats() {
        let f = |format: &str| {
            gen_(json!({"version": 5, "name": "example.com", "format": format}))["uuid"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(f("hyphenated"), "cfbff0d1-9375-5685-968c-48ce8b15ae17");
        assert_eq!(f("simple"), "cfbff0d193755685968c48ce8b15ae17");
        assert_eq!(f("urn"), "urn:uuid:cfbff0d1-9375-5685-968c-48ce8b15ae17");
        assert_eq!(f("braced"), "{cfbff0d1-9375-5685-968c-48ce8b15ae17}");
        assert_eq!(f("uppercase"), "CFBFF0D1-9375-5685-968C-48CE8B15AE17");
    }

    #[test]
    fn parsing() {
        let v =
            gen_(json!({"operation": "parse", "uuid": "{CFBFF0D1-9375-5685-968C-48CE8B15AE17}"}));
        assert_eq!(v["valid"], true);
        assert_eq!(v["uuid"], "cfbff0d1-9375-5685-968c-48ce8b15ae17");
        assert_eq!(v["version"], 5);
        assert!(v.get("unix_ms").is_none());
        let v = gen_(json!({"operation": "parse", "uuid": "00000000-0000-0000-0000-000000000000"}));
        assert_eq!(v["nil"], true);
        let v = gen_(json!({"operation": "parse", "uuid": "not-a-uuid"}));
        assert_eq!(v["valid"], false);
        assert!(v["error"].as_str().unwrap().contains("failed to parse"), "{v}");
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "uuid_generator", params, ErrorType::Validation, needles)
        };
        f(json!({"version": 5}), &["name", "required"]);
        f(json!({"version": 3}), &["/version", "enum"]);
        f(json!({"count": 1001}), &["/count", "maximum"]);
        f(json!({"count": 0}), &["/count", "minimum"]);
        f(json!({"format": "hex"}), &["/format", "enum"]);
        f(json!({"operation": "parse"}), &["uuid", "required"]);
        f(json!({"version": 5, "name": "a", "namespace": "nope"}), &["\"namespace\"", "nope"]);
        f(json!({"version": 5, "name": "a", "count": 2}), &["\"count\"", "version 5"]);
    }
}

//! data_validation: checks a JSON value against a JSON Schema (the jsonschema crate).

use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const DEFAULT_MAX_ERRORS: u64 = 100;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "data_validation",
        category: "data",
        description: "Validates data against a JSON Schema (drafts 4, 6, 7, 2019-09, 2020-12) and \
                      lists every violation with its path, message and rule.",
        schema: json!({
            "type": "object",
            "properties": {
                "data": {"description": "The JSON value to validate"},
                "schema": {
                    "type": ["object", "boolean"],
                    "description": "The JSON Schema; its $schema picks the draft (default \
                                    2020-12); only local $refs (#/$defs/...) resolve"
                },
                "check_formats": {
                    "type": "boolean",
                    "description": "Also check \"format\" (email, date, date-time, uri, ipv4, \
                                    uuid, ...) (default true)"
                },
                "max_errors": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "List at most this many errors (default 100)"
                }
            },
            "required": ["data", "schema"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "valid data",
                json!({
                    "data": {"name": "Ada", "age": 36},
                    "schema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                        "required": ["name"]
                    }
                }),
                json!({"valid": true, "errors": []}),
            ),
            Example::new(
                "an invalid field and a missing one",
                json!({
                    "data": {"age": -1},
                    "schema": {
                        "type": "object",
                        "properties": {"age": {"type": "integer", "minimum": 0}},
                        "required": ["name"]
                    }
                }),
                json!({"valid": false, "error_count": 2}),
            ),
            Example::fails(
                "a schema that is not a valid schema",
                json!({"data": 1, "schema": {"type": "whole number"}}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    // `data: null` is a value to validate, which Params::value treats as absent.
    let data = p.as_map().get("data").cloned().unwrap_or(Value::Null);
    let schema = p.value("schema")?;
    let max_errors = p.u64_or("max_errors", DEFAULT_MAX_ERRORS)?;
    let validator = jsonschema::options()
        .should_validate_formats(p.bool_or("check_formats", true)?)
        .build(schema)
        .map_err(|e| ToolError::validation(format!("parameter \"schema\" is not valid: {e}")))?;
    let mut errors = Vec::new();
    let mut count: u64 = 0;
    for e in validator.iter_errors(&data) {
        cx.check()?;
        count += 1;
        if count > max_errors {
            continue;
        }
        let path = e.instance_path().to_string();
        errors.push(json!({
            "path": path,
            "message": e.to_string(),
            "rule": e.kind().keyword(),
            "schema_path": e.schema_path().to_string(),
        }));
    }
    Ok(json!({
        "valid": count == 0,
        "errors": errors,
        "error_count": count,
        "truncated": count > max_errors,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_util::{assert_err, temp_registry};
    use crate::error::ErrorType;

    fn schema() -> serde_json::Value {
        json!({
            "$defs": {"tag": {"type": "string", "pattern": "^[a-z]+$"}},
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 1},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"$ref": "#/$defs/tag"}, "uniqueItems": true},
                "kind": {"enum": ["a", "b"]}
            },
            "required": ["id", "kind"],
            "additionalProperties": false
        })
    }

    #[test]
    fn valid_data_has_no_errors() {
        let (_d, r) = temp_registry();
        let data = json!({"id": 3, "email": "a@b.org", "tags": ["x", "y"], "kind": "a"});
        let out =
            r.invoke("data_validation", json!({"data": data, "schema": schema()}), None).unwrap();
        assert_eq!(out, json!({"valid": true, "errors": [], "error_count": 0, "truncated": false}));
    }

    #[test]
    fn every_violation_is_listed_with_path_message_and_rule() {
        let (_d, r) = temp_registry();
        let data = json!({"id": 0, "email": "not-an-email", "tags": ["ok", "Bad", "ok"],
                          "extra": 1});
        let out =
            r.invoke("data_validation", json!({"data": data, "schema": schema()}), None).unwrap();
        assert_eq!(out["valid"], false);
        let errors = out["errors"].as_array().unwrap();
        let by_rule = |rule: &str| {
            errors.iter().find(|e| e["rule"] == rule).unwrap_or_else(|| panic!("{rule}: {out}"))
        };
        assert_eq!(by_rule("minimum")["path"], "/id");
        assert_eq!(by_rule("format")["path"], "/email");
        assert_eq!(by_rule("pattern")["path"], "/tags/1");
        assert_eq!(by_rule("uniqueItems")["path"], "/tags");
        assert_eq!(by_rule("required")["path"], "");
        assert!(by_rule("required")["message"].as_str().unwrap().contains("kind"), "{out}");
        assert!(by_rule("additionalProperties")["message"].as_str().unwrap().contains("extra"));
        assert_eq!(out["error_count"], errors.len());
        // Formats can be left unchecked.
        let out = r
            .invoke(
                "data_validation",
                json!({"data": {"id": 1, "kind": "b", "email": "nope"}, "schema": schema(),
                       "check_formats": false}),
                None,
            )
            .unwrap();
        assert_eq!(out["valid"], true, "{out}");
    }

    #[test]
    fn errors_are_capped_and_scalars_and_null_validate() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "data_validation",
                json!({"data": [1, 2, 3, 4, 5], "schema": {"items": {"type": "string"}},
                       "max_errors": 2}),
                None,
            )
            .unwrap();
        assert_eq!(out["errors"].as_array().unwrap().len(), 2);
        assert_eq!(out["error_count"], 5);
        assert_eq!(out["truncated"], true);
        let out = r
            .invoke("data_validation", json!({"data": null, "schema": {"type": "null"}}), None)
            .unwrap();
        assert_eq!(out["valid"], true);
        let out = r.invoke("data_validation", json!({"data": 1, "schema": false}), None).unwrap();
        assert_eq!(out["valid"], false);
        let out = r
            .invoke(
                "data_validation",
                json!({"data": "x", "schema": {"$schema": "http://json-schema.org/draft-07/schema#",
                                               "type": "string", "maxLength": 0}}),
                None,
            )
            .unwrap();
        assert_eq!(out["errors"][0]["rule"], "maxLength");
    }

    #[test]
    fn bad_schemas_and_parameters_are_validation_errors() {
        let (_d, r) = temp_registry();
        let e = r.invoke("data_validation", json!({"data": 1, "schema": {"minimum": "x"}}), None);
        assert_err(e, ErrorType::Validation, &["\"schema\" is not valid"]);
        let e = r.invoke(
            "data_validation",
            json!({"data": 1, "schema": {"$ref": "https://example.com/s.json"}}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["\"schema\" is not valid"]);
        let e = r.invoke("data_validation", json!({"data": 1}), None);
        assert_err(e, ErrorType::Validation, &["schema", "required"]);
        let e = r.invoke("data_validation", json!({"data": 1, "schema": []}), None);
        assert_err(e, ErrorType::Validation, &["/schema", "type"]);
    }
}

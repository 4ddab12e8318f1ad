//! random_generator: random integers, floats, choices, shuffles, samples, strings and bytes,
//! reproducible with a seed.
//!
//! The generator is rand's StdRng (a ChaCha cipher, cryptographically strong): seeded from the
//! OS without `seed`; with `seed`, the same parameters give the same output for the same
//! version of llmspell (StdRng's stream may change when rand is upgraded).

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

const MAX_COUNT: u64 = 10_000;
const MAX_LENGTH: u64 = 100_000;
const MAX_BYTES: u64 = 65_536;

const ALPHANUMERIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHABETIC: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const NUMERIC: &str = "0123456789";
const HEX: &str = "0123456789abcdef";

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "random_generator",
        category: "math",
        description: "Generates random values: an integer in a range, a float, a choice from a \
                      list, a shuffle, a sample without replacement, a string from a charset or \
                      random bytes as hex; a seed makes the output reproducible.",
        schema: json!({
            "type": "object",
            "properties": {
                "operation": {
                    "type": "string",
                    "enum": ["integer", "float", "choice", "shuffle", "sample", "string",
                             "bytes"],
                    "description": "integer (default): from min to max inclusive; float: from \
                        min (inclusive) to max (exclusive); choice: one of items; shuffle: items \
                        in random order; sample: k distinct items; string: length characters \
                        from charset or chars; bytes: length random bytes as hex."
                },
                "min": {
                    "type": "number",
                    "description": "integer: the lowest value (an integer, default 0); float: \
                        the lower bound (default 0)."
                },
                "max": {
                    "type": "number",
                    "description": "integer: the highest value (an integer, default 100); \
                        float: the upper bound (default 1)."
                },
                "count": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_COUNT,
                    "description": "integer, float, choice, string: how many values; when \
                        given, result is an array (choice then picks with replacement)."
                },
                "items": {
                    "type": "array",
                    "maxItems": 100_000,
                    "description": "choice, shuffle, sample: the values to pick from (any \
                        JSON values)."
                },
                "k": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "sample: how many distinct items to pick (at most the \
                        number of items; required)."
                },
                "length": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LENGTH,
                    "description": "string: characters (default 16, at most 100000); bytes: \
                        bytes (default 16, at most 65536)."
                },
                "charset": {
                    "type": "string",
                    "enum": ["alphanumeric", "alphabetic", "lowercase", "uppercase", "numeric",
                             "hex"],
                    "description": "string: the characters to draw from (default \
                        alphanumeric; hex is lower case)."
                },
                "chars": {
                    "type": "string",
                    "minLength": 1,
                    "description": "string: draw from exactly these characters instead of a \
                        charset."
                },
                "seed": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Makes the output reproducible: the same seed and \
                        parameters give the same result (default: a fresh random seed)."
                }
            },
            "allOf": [
                {
                    "if": {"properties": {"operation": {"enum": ["choice", "shuffle"]}},
                           "required": ["operation"]},
                    "then": {"required": ["items"]}
                },
                {
                    "if": {"properties": {"operation": {"const": "sample"}},
                           "required": ["operation"]},
                    "then": {"required": ["items", "k"]}
                }
            ],
            "additionalProperties": false
        }),
        examples: vec![
            Example::satisfies(
                "A die roll",
                json!({"min": 1, "max": 6}),
                "an integer from 1 to 6",
                |v| v["result"].as_i64().is_some_and(|n| (1..=6).contains(&n)),
            ),
            Example::new(
                "Reproducible integers with a seed",
                json!({"min": 1, "max": 100, "count": 5, "seed": 42}),
                json!({"result": [53, 55, 64, 41, 4]}),
            ),
            Example::new(
                "A reproducible shuffle",
                json!({"operation": "shuffle", "items": ["a", "b", "c", "d"], "seed": 7}),
                json!({"result": ["b", "d", "a", "c"]}),
            ),
            Example::satisfies(
                "A 12-character hex string",
                json!({"operation": "string", "length": 12, "charset": "hex"}),
                "12 lower-case hex digits",
                |v| {
                    v["result"].as_str().is_some_and(|s| {
                        s.len() == 12
                            && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    })
                },
            ),
            Example::fails("min above max", json!({"min": 10, "max": 1}), ErrorType::Validation),
        ],
        run,
    }
}

fn invalid(message: impl Into<String>) -> ToolError {
    ToolError::validation(message.into())
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    let mut rng = match p.opt_u64("seed")? {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => rand::make_rng::<StdRng>(),
    };
    let count = p.opt_u64("count")?;
    if count.is_some_and(|c| c > MAX_COUNT) {
        return Err(invalid(format!("parameter \"count\" is above {MAX_COUNT}")));
    }
    let n = count.unwrap_or(1) as usize;
    let many = |values: Vec<Value>| -> Value {
        if count.is_some() { Value::Array(values) } else { values.into_iter().next().into() }
    };
    let operation = p.str_or("operation", "integer")?;
    if count.is_some() && matches!(operation, "shuffle" | "sample" | "bytes") {
        return Err(invalid(format!(
            "parameter \"count\" does not apply to {operation} (see k and length)"
        )));
    }
    let result = match operation {
        "integer" => {
            let bound = |key: &str, default: i64| -> Result<i64, ToolError> {
                match p.get(key) {
                    None => Ok(default),
                    Some(v) => v.as_i64().ok_or_else(|| {
                        invalid(format!(
                            "parameter {key:?} must be an integer for operation integer, not {v}"
                        ))
                    }),
                }
            };
            let (min, max) = (bound("min", 0)?, bound("max", 100)?);
            if min > max {
                return Err(invalid(format!("\"min\" ({min}) is above \"max\" ({max})")));
            }
            many((0..n).map(|_| json!(rng.random_range(min..=max))).collect())
        }
        "float" => {
            let min = p.opt_f64("min")?.unwrap_or(0.0);
            let max = p.opt_f64("max")?.unwrap_or(1.0);
            if min >= max || !(max - min).is_finite() {
                return Err(invalid(format!(
                    "\"min\" ({min}) must be below \"max\" ({max}), with a finite difference"
                )));
            }
            many((0..n).map(|_| json!(rng.random_range(min..max))).collect())
        }
        "choice" => {
            let items = items(p)?;
            if items.is_empty() {
                return Err(invalid("parameter \"items\" is empty: nothing to choose from"));
            }
            many((0..n).map(|_| items.choose(&mut rng).cloned().unwrap_or(Value::Null)).collect())
        }
        "shuffle" => {
            let mut items = items(p)?.clone();
            items.shuffle(&mut rng);
            Value::Array(items)
        }
        "sample" => {
            let items = items(p)?;
            let k =
                p.opt_u64("k")?.ok_or_else(|| invalid("parameter \"k\" is required for sample"))?;
            if k > items.len() as u64 {
                return Err(invalid(format!(
                    "parameter \"k\" ({k}) is more than the {} items",
                    items.len()
                )));
            }
            Value::Array(items.sample(&mut rng, k as usize).cloned().collect())
        }
        "string" => {
            let length = p.u64_or("length", 16)? as usize;
            let alphabet: Vec<char> = match p.opt_str("chars")? {
                Some(chars) => chars.chars().collect(),
                None => match p.str_or("charset", "alphanumeric")? {
                    "alphabetic" => ALPHABETIC,
                    "lowercase" => LOWERCASE,
                    "uppercase" => UPPERCASE,
                    "numeric" => NUMERIC,
                    "hex" => HEX,
                    _ => ALPHANUMERIC,
                }
                .chars()
                .collect(),
            };
            let one = |rng: &mut StdRng| -> String {
                (0..length).filter_map(|_| alphabet.choose(rng)).collect()
            };
            many((0..n).map(|_| json!(one(&mut rng))).collect())
        }
        "bytes" => {
            let length = p.u64_or("length", 16)?;
            if length > MAX_BYTES {
                return Err(invalid(format!(
                    "parameter \"length\" is above {MAX_BYTES} for bytes"
                )));
            }
            let mut bytes = vec![0u8; length as usize];
            rng.fill(&mut bytes[..]);
            json!(hex::encode(bytes))
        }
        other => return Err(invalid(format!("parameter \"operation\": unknown {other:?}"))),
    };
    Ok(json!({"result": result}))
}

fn items(p: &Params) -> Result<&Vec<Value>, ToolError> {
    p.opt_array("items")?.ok_or_else(|| invalid("parameter \"items\" is required"))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::{Value, json};

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn rnd(params: Value) -> Value {
        ok(&registry(), "random_generator", params)["result"].clone()
    }

    #[test]
    fn integers_stay_in_range_and_cover_it() {
        let v = rnd(json!({"min": -3, "max": 3, "count": 2000}));
        let seen: HashSet<i64> =
            v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
        assert_eq!(seen, (-3..=3).collect());
        let one = rnd(json!({}));
        assert!(one.as_i64().is_some_and(|n| (0..=100).contains(&n)), "{one}");
        assert_eq!(rnd(json!({"min": 5, "max": 5})), json!(5));
        let big = rnd(json!({"min": i64::MIN, "max": i64::MAX}));
        assert!(big.is_i64());
        let counted = rnd(json!({"count": 1}));
        assert_eq!(counted.as_array().map(Vec::len), Some(1), "count makes an array");
    }

    #[test]
    fn floats_stay_in_range() {
        let v = rnd(json!({"operation": "float", "count": 1000}));
        assert!(v.as_array().unwrap().iter().all(|x| (0.0..1.0).contains(&x.as_f64().unwrap())));
        let v = rnd(json!({"operation": "float", "min": -2.5, "max": -2.0}));
        assert!((-2.5..-2.0).contains(&v.as_f64().unwrap()), "{v}");
    }

    #[test]
    fn seeds_reproduce_every_operation() {
        let cases = [
            json!({"min": 1, "max": 1000, "count": 5}),
            json!({"operation": "float", "count": 3}),
            json!({"operation": "choice", "items": [1, "two", {"three": 3}], "count": 4}),
            json!({"operation": "shuffle", "items": [1, 2, 3, 4, 5, 6]}),
            json!({"operation": "sample", "items": [1, 2, 3, 4, 5, 6], "k": 3}),
            json!({"operation": "string", "length": 20}),
            json!({"operation": "bytes", "length": 8}),
        ];
        for case in cases {
            let mut a = case.clone();
            a["seed"] = json!(123);
            let mut b = case.clone();
            b["seed"] = json!(124);
            assert_eq!(rnd(a.clone()), rnd(a.clone()), "{case}");
            assert_ne!(rnd(a), rnd(b), "{case}: another seed, another result");
        }
        let unseeded = json!({"operation": "string", "length": 32});
        assert_ne!(rnd(unseeded.clone()), rnd(unseeded));
    }

    #[test]
    fn choice_shuffle_sample() {
        let items = json!(["a", "b", "c", "d", "e"]);
        let v = rnd(json!({"operation": "choice", "items": items}));
        assert!(items.as_array().unwrap().contains(&v));
        let v = rnd(json!({"operation": "choice", "items": items, "count": 50}));
        assert_eq!(v.as_array().unwrap().len(), 50);
        let v = rnd(json!({"operation": "shuffle", "items": items}));
        let mut sorted: Vec<String> =
            v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().into()).collect();
        sorted.sort();
        assert_eq!(json!(sorted), items);
        let v = rnd(json!({"operation": "shuffle", "items": []}));
        assert_eq!(v, json!([]));
        let v = rnd(json!({"operation": "sample", "items": items, "k": 3}));
        let picked: HashSet<&str> =
            v.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
        assert_eq!(picked.len(), 3, "distinct");
        assert_eq!(rnd(json!({"operation": "sample", "items": items, "k": 0})), json!([]));
        let all = rnd(json!({"operation": "sample", "items": items, "k": 5}));
        assert_eq!(all.as_array().unwrap().len(), 5);
    }

    #[test]
    fn strings_and_bytes() {
        let v = rnd(json!({"operation": "string"}));
        assert!(
            v.as_str().unwrap().len() == 16
                && v.as_str().unwrap().chars().all(|c| c.is_ascii_alphanumeric())
        );
        let check = |charset: &str, ok: fn(char) -> bool| {
            let v = rnd(json!({"operation": "string", "length": 200, "charset": charset}));
            let s = v.as_str().unwrap();
            assert_eq!(s.chars().count(), 200);
            assert!(s.chars().all(ok), "{charset}: {s}");
        };
        check("alphabetic", |c| c.is_ascii_alphabetic());
        check("lowercase", |c| c.is_ascii_lowercase());
        check("uppercase", |c| c.is_ascii_uppercase());
        check("numeric", |c| c.is_ascii_digit());
        check("hex", |c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        let v = rnd(json!({"operation": "string", "length": 100, "chars": "xé😀"}));
        let s = v.as_str().unwrap();
        assert_eq!(s.chars().count(), 100);
        assert!(s.chars().all(|c| "xé😀".contains(c)));
        let v = rnd(json!({"operation": "string", "length": 5, "count": 3}));
        assert_eq!(v.as_array().unwrap().len(), 3);
        let v = rnd(json!({"operation": "bytes", "length": 32}));
        let hex = v.as_str().unwrap();
        assert!(hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()));
        let v = rnd(json!({"operation": "bytes"}));
        assert_eq!(v.as_str().unwrap().len(), 32);
    }

    #[test]
    fn bad_parameters() {
        let r = registry();
        let f = |params: Value, needles: &[&str]| {
            fails(&r, "random_generator", params, ErrorType::Validation, needles)
        };
        f(json!({"min": 10, "max": 1}), &["\"min\" (10) is above \"max\" (1)"]);
        f(json!({"min": 1.5}), &["\"min\" must be an integer"]);
        f(json!({"operation": "float", "min": 1, "max": 1}), &["must be below"]);
        f(json!({"operation": "float", "min": -1e308, "max": 1e308}), &["finite"]);
        f(json!({"operation": "choice"}), &["items", "required"]);
        f(json!({"operation": "choice", "items": []}), &["\"items\" is empty"]);
        f(json!({"operation": "sample", "items": [1]}), &["k", "required"]);
        f(json!({"operation": "sample", "items": [1, 2], "k": 3}), &["\"k\" (3)", "2 items"]);
        f(json!({"operation": "shuffle"}), &["items", "required"]);
        f(json!({"operation": "string", "length": 0}), &["/length", "minimum"]);
        f(json!({"operation": "string", "charset": "emoji"}), &["/charset", "enum"]);
        f(json!({"operation": "string", "chars": ""}), &["/chars", "minLength"]);
        f(json!({"operation": "bytes", "length": 70000}), &["above 65536"]);
        f(json!({"count": 10001}), &["/count", "maximum"]);
        f(json!({"seed": -1}), &["/seed", "minimum"]);
        f(json!({"operation": "dice"}), &["/operation", "enum"]);
        f(json!({"operation": "shuffle", "items": [1], "count": 2}), &["\"count\" does not apply"]);
    }
}

//! template_engine: renders a Jinja-style template with minijinja.

use std::io::Write;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, value::Serde};
use serde_json::{Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// Default cap on template instructions (minijinja "fuel").
const DEFAULT_MAX_STEPS: u64 = 10_000_000;
/// Default cap on the rendered output.
const DEFAULT_MAX_OUTPUT: u64 = 16 * 1024 * 1024;

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "template_engine",
        category: "text",
        description: "Renders a Jinja-style template string with a context object (variables, \
                      loops, conditions, filters, macros); optional strict mode makes undefined \
                      variables an error.",
        schema: json!({
            "type": "object",
            "properties": {
                "template": {
                    "type": "string",
                    "description": "The template text, Jinja2 syntax: {{ expr }}, {% for %}, \
                                    {% if %}, {% set %}, {% macro %}, filters like |upper, \
                                    |join(', '), |default('x'), |tojson"
                },
                "context": {
                    "type": "object",
                    "description": "Variables visible to the template (default {})"
                },
                "strict": {
                    "type": "boolean",
                    "description": "Undefined variables are an error instead of rendering as \
                                    empty (default false)"
                },
                "autoescape": {
                    "type": "boolean",
                    "description": "HTML-escape every {{ }} output (default false)"
                },
                "trim_blocks": {
                    "type": "boolean",
                    "description": "Remove the first newline after a block tag, and strip \
                                    whitespace before block tags on their line (default false)"
                },
                "max_steps": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Cap on template instructions executed (default 10000000)"
                },
                "max_output_bytes": {
                    "type": "integer",
                    "minimum": 1,
                    "description": "Cap on the rendered text size (default 16 MiB)"
                }
            },
            "required": ["template"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "a variable and a loop with a filter",
                json!({
                    "template": "Hi {{ name }}!{% for t in tags %} #{{ t | upper }}{% endfor %}",
                    "context": {"name": "Ada", "tags": ["rust", "lua"]}
                }),
                json!({"result": "Hi Ada! #RUST #LUA"}),
            ),
            Example::new(
                "conditions and the default filter",
                json!({
                    "template": "{% if n > 1 %}{{ n }} items{% else %}one item{% endif %}, \
                                 owner: {{ owner | default('nobody') }}",
                    "context": {"n": 3}
                }),
                json!({"result": "3 items, owner: nobody"}),
            ),
            Example::fails(
                "strict mode refuses an undefined variable",
                json!({"template": "Hello {{ nmae }}", "context": {"name": "x"}, "strict": true}),
                ErrorType::Validation,
            ),
            Example::fails(
                "a syntax error is reported with its line",
                json!({"template": "line one\n{% for x in items %}never closed"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

/// Writes the rendered output, stopping on cancel or when the cap is passed.
struct Sink<'a> {
    out: Vec<u8>,
    cap: u64,
    cx: &'a Context,
    over_cap: bool,
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.cx.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        if (self.out.len() + buf.len()) as u64 > self.cap {
            self.over_cap = true;
            return Err(std::io::Error::other("output cap"));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn run(p: &Params, cx: &Context) -> Result<Value, ToolError> {
    let source = p.str("template")?;
    let context = p.opt_object("context")?.cloned().unwrap_or_default();
    let strict = p.bool_or("strict", false)?;
    let max_steps = p.u64_or("max_steps", DEFAULT_MAX_STEPS)?;
    let cap = p.u64_or("max_output_bytes", DEFAULT_MAX_OUTPUT)?;

    let mut env = Environment::new();
    env.set_undefined_behavior(if strict {
        UndefinedBehavior::Strict
    } else {
        UndefinedBehavior::Lenient
    });
    env.set_fuel(Some(max_steps));
    if p.bool_or("autoescape", false)? {
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    }
    if p.bool_or("trim_blocks", false)? {
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| ToolError::execution(format!("template syntax settings: {e}")))?;
        env.set_syntax(syntax);
    }
    let template = env.template_from_str(source).map_err(|e| template_error(&e, None))?;
    let mut sink = Sink { out: Vec::new(), cap, cx, over_cap: false };
    let rendered = template.render_captured_to(Serde(&context), &mut sink);
    if let Err(e) = rendered {
        cx.check()?;
        if sink.over_cap {
            return Err(ToolError::validation(format!(
                "the rendered text is larger than max_output_bytes ({cap} bytes)"
            )));
        }
        if e.kind() == ErrorKind::UndefinedError {
            let mut missing: Vec<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !context.contains_key(v))
                .collect();
            missing.sort();
            return Err(template_error(&e, Some(&missing)));
        }
        if e.kind() == ErrorKind::OutOfFuel {
            return Err(ToolError::execution(format!(
                "the template ran more than max_steps ({max_steps}) instructions{}",
                at_line(&e)
            )));
        }
        return Err(template_error(&e, None));
    }
    let text = String::from_utf8(sink.out)
        .map_err(|_| ToolError::execution("the rendered text is not valid UTF-8"))?;
    Ok(json!({"result": text}))
}

fn at_line(e: &minijinja::Error) -> String {
    e.line().map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// Template mistakes are validation errors naming the line; other failures are execution ones.
fn template_error(e: &minijinja::Error, missing: Option<&[String]>) -> ToolError {
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let mut message = format!("template {}{}{detail}", e.kind(), at_line(e));
    if let Some(missing) = missing.filter(|m| !m.is_empty()) {
        message.push_str(&format!(" (not in the context: {})", missing.join(", ")));
    }
    let mistake = matches!(
        e.kind(),
        ErrorKind::SyntaxError
            | ErrorKind::UndefinedError
            | ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownFunction
            | ErrorKind::UnknownMethod
            | ErrorKind::MissingArgument
            | ErrorKind::TooManyArguments
            | ErrorKind::BadEscape
            | ErrorKind::TemplateNotFound
            | ErrorKind::InvalidDelimiter
    );
    if mistake { ToolError::validation(message) } else { ToolError::execution(message) }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::test_util::{assert_err, stops_when_cancelled, temp_registry};
    use crate::error::ErrorType;

    #[test]
    fn renders_variables_loops_filters_and_macros() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "template_engine",
                json!({
                    "template": "{% macro item(x) %}<{{ x.name }}:{{ x.qty * 2 }}>{% endmacro %}\
                                 {% for x in items if x.qty > 0 %}{{ item(x) }}\
                                 {% if not loop.last %},{% endif %}{% endfor %} \
                                 {{ items | map(attribute='name') | join('/') }} \
                                 {{ meta | tojson }}",
                    "context": {
                        "items": [{"name": "a", "qty": 1}, {"name": "b", "qty": 0},
                                  {"name": "c", "qty": 5}],
                        "meta": {"k": [1, 2]}
                    }
                }),
                None,
            )
            .unwrap();
        assert_eq!(out["result"], "<a:2>,<c:10> a/b/c {\"k\": [1, 2]}");
    }

    #[test]
    fn lenient_mode_renders_undefined_as_empty_and_strict_names_it() {
        let (_d, r) = temp_registry();
        let t = json!({"template": "[{{ missing }}]"});
        assert_eq!(r.invoke("template_engine", t, None).unwrap()["result"], "[]");
        let e = r.invoke(
            "template_engine",
            json!({"template": "ok\n{{ user.name }} {{ nmae }}", "context": {"user": {"name": "x"}},
                   "strict": true}),
            None,
        );
        assert_err(e, ErrorType::Validation, &["undefined", "line 2", "nmae"]);
    }

    #[test]
    fn options_autoescape_and_trim_blocks() {
        let (_d, r) = temp_registry();
        let out = r
            .invoke(
                "template_engine",
                json!({"template": "{{ s }}", "context": {"s": "<b>&</b>"}, "autoescape": true}),
                None,
            )
            .unwrap();
        assert_eq!(out["result"], "&lt;b&gt;&amp;&lt;&#x2f;b&gt;");
        let t = "{% for i in [1, 2] %}\n  {% if i %}\nx{{ i }}\n  {% endif %}\n{% endfor %}\n";
        let out =
            r.invoke("template_engine", json!({"template": t, "trim_blocks": true}), None).unwrap();
        assert_eq!(out["result"], "x1\nx2\n");
    }

    #[test]
    fn syntax_errors_name_the_line_and_unknown_filters_are_validation() {
        let (_d, r) = temp_registry();
        let e = r.invoke("template_engine", json!({"template": "a\nb\n{{ x + }}"}), None);
        assert_err(e, ErrorType::Validation, &["syntax error", "line 3"]);
        let e = r.invoke("template_engine", json!({"template": "{{ 1 | nosuch }}"}), None);
        assert_err(e, ErrorType::Validation, &["unknown filter", "line 1"]);
        let e = r.invoke("template_engine", json!({"template": "{% include 'x.html' %}"}), None);
        assert_eq!(e.unwrap_err().error_type, ErrorType::Validation);
    }

    #[test]
    fn bad_parameters_are_validation_errors() {
        let (_d, r) = temp_registry();
        assert_err(
            r.invoke("template_engine", json!({}), None),
            ErrorType::Validation,
            &["template", "required"],
        );
        let e = r.invoke("template_engine", json!({"template": "x", "context": [1]}), None);
        assert_err(e, ErrorType::Validation, &["/context", "type"]);
    }

    #[test]
    fn runaway_templates_are_capped() {
        let (_d, r) = temp_registry();
        let t = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let started = Instant::now();
        let e = r.invoke("template_engine", json!({"template": t, "max_steps": 100000}), None);
        assert_err(e, ErrorType::Execution, &["max_steps", "100000"]);
        assert!(started.elapsed() < Duration::from_secs(20));
        let t = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}";
        let e = r.invoke("template_engine", json!({"template": t, "max_output_bytes": 1000}), None);
        assert_err(e, ErrorType::Validation, &["max_output_bytes"]);
    }

    #[test]
    fn a_timeout_stops_the_rendering() {
        let (_d, r) = temp_registry();
        // Each iteration writes, and the writer refuses once cancelled; without the cancel the
        // rendering would run for hours (10^10 loop steps).
        let t = "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}";
        let params =
            json!({"template": t, "max_steps": 1u64 << 60, "max_output_bytes": 1u64 << 40});
        let started = Instant::now();
        let e = r.invoke("template_engine", params.clone(), Some(Duration::from_millis(300)));
        assert_err(e, ErrorType::Timeout, &["timeout"]);
        assert!(started.elapsed() < Duration::from_secs(10));
        let e = stops_when_cancelled(&r, "template_engine", params);
        assert_eq!(e.error_type, ErrorType::Timeout, "{e}");
    }
}

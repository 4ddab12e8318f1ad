//! calculator: arithmetic, comparisons, logic and functions over numbers, with variables.
//!
//! evalexpr parses the expression into its operator tree; this module evaluates that tree with
//! calculator semantics instead of evalexpr's own (which would truncate `7 / 2` to 3, make
//! `1 / 0.0` infinity and read `2 ^ 3 ^ 2` as `(2 ^ 3) ^ 2`): integers stay integers while the
//! result is exact, `/` is true division, `^` is right-associative, and division by zero, a NaN
//! or an overflow to infinity is an execution error naming the operation. Nothing is set up per
//! call beyond parsing: functions are a `match`, variables are read from the parameter object.

use evalexpr::{EvalexprError, Node, Operator, Value as Parsed};
use serde_json::{Map, Value, json};

use crate::context::Context;
use crate::error::{ErrorType, ToolError};
use crate::params::Params;
use crate::spec::{Example, ToolDef};

/// Longest expression accepted (the schema says so too): evalexpr's parser recurses, so this
/// bounds its stack use on the tool thread.
const MAX_LEN: usize = 1000;
/// Deepest nesting evaluated (parentheses, function calls, unary operators).
const MAX_DEPTH: usize = 200;
/// Longest run of prefix operators (`- - - 1`): evalexpr parses those in quadratic time.
const MAX_PREFIX_RUN: usize = 32;
/// Largest magnitude below which a rounded float is returned as an integer (2^53).
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

const FUNCTIONS: &str = "abs, acos, asin, atan, atan2, cbrt, ceil, cos, cosh, degrees, exp, \
                         floor, hypot, if, ln, log, log10, log2, max, min, pow, radians, round, \
                         sign, sin, sinh, sqrt, tan, tanh, trunc";

pub(super) fn tool() -> ToolDef {
    ToolDef {
        name: "calculator",
        category: "math",
        description: "Evaluates an arithmetic expression with optional variables: + - * / % ^, \
                      parentheses, comparisons, && || !, functions (sqrt, abs, min, max, floor, \
                      ceil, round, ln, log, exp, sin, cos, tan, ...) and the constants pi, e, tau.",
        schema: json!({
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_LEN,
                    "description": "The expression, e.g. \"2 * (x + 3) ^ 2 / sqrt(y)\". \
                        Operators: + - * / % (remainder, sign of the left side) ^ (power, \
                        right-associative), == != < <= > >=, && || !. Integers stay integers \
                        while exact (7 / 2 is 3.5, 6 / 2 is 3). Functions: abs, sign, sqrt, \
                        cbrt, exp, ln, log(x) (natural) or log(x, base), log2, log10, pow(x, y), \
                        sin, cos, tan, asin, acos, atan, atan2(y, x), sinh, cosh, tanh, hypot, \
                        degrees, radians, floor, ceil, trunc, round(x) or round(x, digits), \
                        min(...), max(...), if(condition, then, else). Constants: pi, e, tau."
                },
                "variables": {
                    "type": "object",
                    "description": "Values of the variables the expression uses, by name \
                        (numbers or booleans); a variable named like a constant hides it.",
                    "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                    "additionalProperties": {"type": ["number", "boolean"]}
                }
            },
            "required": ["expression"],
            "additionalProperties": false
        }),
        examples: vec![
            Example::new(
                "Arithmetic with precedence and true division",
                json!({"expression": "2 + 3 * 4 - 7 / 2"}),
                json!({"result": 10.5}),
            ),
            Example::new(
                "Variables and functions",
                json!({"expression": "sqrt(x^2 + y^2) + max(a, 10)", "variables":
                    {"x": 3, "y": 4, "a": 2}}),
                json!({"result": 15.0}),
            ),
            Example::new(
                "A comparison gives a boolean",
                json!({"expression": "round(pi, 2) == 3.14"}),
                json!({"result": true}),
            ),
            Example::fails(
                "Division by zero",
                json!({"expression": "1 / (2 - 2)"}),
                ErrorType::Execution,
            ),
            Example::fails(
                "A variable without a value",
                json!({"expression": "x + 1"}),
                ErrorType::Validation,
            ),
        ],
        run,
    }
}

fn run(p: &Params, _cx: &Context) -> Result<Value, ToolError> {
    let expression = p.str("expression")?;
    let empty = Map::new();
    let variables = p.opt_object("variables")?.unwrap_or(&empty);
    let result = evaluate(expression, variables)?;
    Ok(json!({"result": result.to_json()}))
}

/// The value of `expression` with `variables`.
fn evaluate(expression: &str, variables: &Map<String, Value>) -> Result<Val, ToolError> {
    if expression.chars().count() > MAX_LEN {
        return Err(invalid(format!("the expression is longer than {MAX_LEN} characters")));
    }
    check_prefix_runs(expression)?;
    let tree = evalexpr::build_operator_tree(expression).map_err(syntax_error)?;
    Evaluator { variables }.eval(&tree, 0)
}

/// A value during evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val {
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Val {
    fn to_json(self) -> Value {
        match self {
            Val::Int(i) => json!(i),
            Val::Float(f) => json!(f),
            Val::Bool(b) => json!(b),
        }
    }

    /// The number, or a validation error saying what needed one.
    fn num(self, what: &str) -> Result<f64, ToolError> {
        match self {
            Val::Int(i) => Ok(i as f64),
            Val::Float(f) => Ok(f),
            Val::Bool(b) => Err(invalid(format!("{what} needs a number, not the boolean {b}"))),
        }
    }

    fn boolean(self, what: &str) -> Result<bool, ToolError> {
        match self {
            Val::Bool(b) => Ok(b),
            other => Err(invalid(format!("{what} needs a boolean, not the number {other}"))),
        }
    }

    fn from_json(name: &str, v: &Value) -> Result<Val, ToolError> {
        match v {
            Value::Bool(b) => Ok(Val::Bool(*b)),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(Val::Int(i)),
                None => n.as_f64().map(Val::Float).ok_or_else(|| {
                    invalid(format!("parameter \"variables\": {name} is not a usable number"))
                }),
            },
            _ => Err(invalid(format!(
                "parameter \"variables\": {name} must be a number or a boolean"
            ))),
        }
    }
}

impl std::fmt::Display for Val {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Val::Int(i) => write!(f, "{i}"),
            Val::Float(x) => write!(f, "{x:?}"),
            Val::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn invalid(message: String) -> ToolError {
    ToolError::validation(format!("calculator: {message}"))
}

fn math_error(message: String) -> ToolError {
    ToolError::execution(format!("calculator: {message}"))
}

/// A float result, or an error when the operation left the real numbers.
fn real(x: f64, what: impl FnOnce() -> String) -> Result<Val, ToolError> {
    if x.is_nan() {
        Err(math_error(format!("{} is not a real number", what())))
    } else if x.is_infinite() {
        Err(math_error(format!("{} overflows (the result is infinite)", what())))
    } else {
        Ok(Val::Float(x))
    }
}

/// Refuses long runs of prefix operators before evalexpr sees them.
fn check_prefix_runs(expression: &str) -> Result<(), ToolError> {
    let mut run = 0;
    for (i, c) in expression.char_indices() {
        match c {
            '-' | '+' | '!' => {
                run += 1;
                if run > MAX_PREFIX_RUN {
                    return Err(invalid(format!(
                        "more than {MAX_PREFIX_RUN} operators in a row at position {i}"
                    )));
                }
            }
            c if c.is_whitespace() => {}
            _ => run = 0,
        }
    }
    Ok(())
}

/// evalexpr's parse error as a one-line validation error.
fn syntax_error(e: EvalexprError) -> ToolError {
    let what = match &e {
        EvalexprError::UnmatchedLBrace => "an opening parenthesis '(' is never closed".into(),
        EvalexprError::UnmatchedRBrace => "a closing parenthesis ')' has no opening one".into(),
        EvalexprError::AppendedToLeafNode | EvalexprError::PrecedenceViolation => {
            "two values follow each other without an operator between them".into()
        }
        EvalexprError::MissingOperatorOutsideOfBrace => {
            "a parenthesis is not preceded or followed by an operator or function name".into()
        }
        EvalexprError::UnmatchedPartialToken { first, second: Some(second) } => {
            format!("unknown operator {first}{second}")
        }
        EvalexprError::UnmatchedPartialToken { first, second: None } => {
            format!("unknown or incomplete operator {first}")
        }
        other => super::one_line(&other.to_string()),
    };
    invalid(format!("syntax error: {what}"))
}

fn symbol(op: &Operator) -> &'static str {
    match op {
        Operator::Add => "+",
        Operator::Sub => "-",
        Operator::Mul => "*",
        Operator::Div => "/",
        Operator::Mod => "%",
        Operator::Exp => "^",
        Operator::Eq => "==",
        Operator::Neq => "!=",
        Operator::Gt => ">",
        Operator::Lt => "<",
        Operator::Geq => ">=",
        Operator::Leq => "<=",
        Operator::And => "&&",
        Operator::Or => "||",
        Operator::Neg => "-",
        Operator::Not => "!",
        _ => "?",
    }
}

/// Binary operators that evalexpr chains to the left, so `a + b + c` is `(a + b) + c`.
fn left_chained(op: &Operator) -> bool {
    use Operator::*;
    matches!(op, Add | Sub | Mul | Div | Mod | Eq | Neq | Gt | Lt | Geq | Leq | And | Or)
}

struct Evaluator<'a> {
    variables: &'a Map<String, Value>,
}

impl Evaluator<'_> {
    fn eval(&self, node: &Node, depth: usize) -> Result<Val, ToolError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!("the expression nests more than {MAX_DEPTH} levels deep")));
        }
        let op = node.operator();
        match op {
            Operator::RootNode => match node.children() {
                [] => Err(invalid("an empty expression or empty parentheses".into())),
                [only] => self.eval(only, depth + 1),
                _ => Err(invalid("syntax error: values without an operator between them".into())),
            },
            op if left_chained(op) => self.chain(node, depth),
            Operator::Exp => self.power_chain(node, depth),
            Operator::Neg => {
                let x = self.eval(self.operand(node, 0, 1)?, depth + 1)?;
                match x {
                    Val::Int(i) => {
                        Ok(i.checked_neg().map_or_else(|| Val::Float(-(i as f64)), Val::Int))
                    }
                    Val::Float(f) => Ok(Val::Float(-f)),
                    Val::Bool(_) => Err(invalid(format!("unary - needs a number, not {x}"))),
                }
            }
            Operator::Not => {
                let x = self.eval(self.operand(node, 0, 1)?, depth + 1)?;
                Ok(Val::Bool(!x.boolean("!")?))
            }
            Operator::Const { value } => match value {
                Parsed::Int(i) => Ok(Val::Int(*i)),
                Parsed::Float(f) => real(*f, || format!("the literal {f}")),
                Parsed::Boolean(b) => Ok(Val::Bool(*b)),
                Parsed::String(s) => Err(invalid(format!("strings such as {s:?} are not numbers"))),
                Parsed::Empty => Err(invalid("empty parentheses".into())),
                Parsed::Tuple(_) => Err(invalid("a list is not a number".into())),
            },
            Operator::VariableIdentifierRead { identifier } => self.variable(identifier),
            Operator::FunctionIdentifier { identifier } => self.function(identifier, node, depth),
            Operator::Tuple => Err(invalid(
                "a comma-separated list is only allowed as the arguments of a function".into(),
            )),
            Operator::Chain => Err(invalid("';' is not supported: give one expression".into())),
            _ => Err(invalid(
                "assignment is not supported: give values in the \"variables\" parameter".into(),
            )),
        }
    }

    /// Child `i` of a node that must have `n` children.
    fn operand<'n>(&self, node: &'n Node, i: usize, n: usize) -> Result<&'n Node, ToolError> {
        let children = node.children();
        if children.len() == n {
            Ok(&children[i])
        } else {
            Err(invalid(format!("syntax error: {} is missing an operand", symbol(node.operator()))))
        }
    }

    /// A left-leaning chain of binary operators, walked without recursing down its spine so
    /// that a long sum does not nest deeply.
    fn chain(&self, node: &Node, depth: usize) -> Result<Val, ToolError> {
        let mut spine = Vec::new();
        let mut current = node;
        while left_chained(current.operator()) {
            spine.push((current.operator(), self.operand(current, 1, 2)?));
            current = self.operand(current, 0, 2)?;
        }
        let mut acc = self.eval(current, depth + 1)?;
        for (op, right) in spine.into_iter().rev() {
            acc = match op {
                Operator::And => {
                    if acc.boolean("&&")? {
                        Val::Bool(self.eval(right, depth + 1)?.boolean("&&")?)
                    } else {
                        Val::Bool(false)
                    }
                }
                Operator::Or => {
                    if acc.boolean("||")? {
                        Val::Bool(true)
                    } else {
                        Val::Bool(self.eval(right, depth + 1)?.boolean("||")?)
                    }
                }
                op => binary(op, acc, self.eval(right, depth + 1)?)?,
            };
        }
        Ok(acc)
    }

    /// `a ^ b ^ c` as `a ^ (b ^ c)`: evalexpr leans it left, so the bare (unparenthesized)
    /// powers down the left side are collected and applied from the right.
    fn power_chain(&self, node: &Node, depth: usize) -> Result<Val, ToolError> {
        let mut exponents = Vec::new();
        let mut current = node;
        while matches!(current.operator(), Operator::Exp) {
            exponents.push(self.operand(current, 1, 2)?);
            current = self.operand(current, 0, 2)?;
        }
        let mut operands = exponents;
        operands.push(current);
        let mut acc = self.eval(operands[0], depth + 1)?;
        for base in &operands[1..] {
            acc = binary(&Operator::Exp, self.eval(base, depth + 1)?, acc)?;
        }
        Ok(acc)
    }

    fn variable(&self, name: &str) -> Result<Val, ToolError> {
        if let Some(v) = self.variables.get(name) {
            return Val::from_json(name, v);
        }
        match name {
            "pi" | "PI" => Ok(Val::Float(std::f64::consts::PI)),
            "e" | "E" => Ok(Val::Float(std::f64::consts::E)),
            "tau" | "TAU" => Ok(Val::Float(std::f64::consts::TAU)),
            _ => Err(invalid(format!(
                "unknown variable {name:?}: give its value in \"variables\" \
                 (constants: pi, e, tau)"
            ))),
        }
    }

    /// The argument nodes of a function call.
    fn arguments<'n>(&self, node: &'n Node) -> Result<&'n [Node], ToolError> {
        let [argument] = node.children() else {
            return Err(invalid("syntax error: a function name without arguments".into()));
        };
        Ok(match (argument.operator(), argument.children()) {
            (Operator::RootNode, []) => &[],
            (Operator::RootNode, [inner]) if matches!(inner.operator(), Operator::Tuple) => {
                inner.children()
            }
            (Operator::Tuple, items) => items,
            _ => std::slice::from_ref(argument),
        })
    }

    fn function(&self, name: &str, node: &Node, depth: usize) -> Result<Val, ToolError> {
        let args = self.arguments(node)?;
        if name == "if" {
            let [condition, then, otherwise] = args else {
                return Err(arity(name, "3 arguments", args.len()));
            };
            let chosen =
                if self.eval(condition, depth + 1)?.boolean("if")? { then } else { otherwise };
            return self.eval(chosen, depth + 1);
        }
        let values = args.iter().map(|a| self.eval(a, depth + 1)).collect::<Result<Vec<_>, _>>()?;
        call(name, &values)
    }
}

fn arity(name: &str, want: &str, got: usize) -> ToolError {
    invalid(format!("{name}() takes {want}, got {got}"))
}

/// `a op b` for the arithmetic and comparison operators.
fn binary(op: &Operator, a: Val, b: Val) -> Result<Val, ToolError> {
    let sym = symbol(op);
    let what = || format!("{a} {sym} {b}");
    match op {
        Operator::Eq | Operator::Neq => {
            let equal = match (a, b) {
                (Val::Bool(x), Val::Bool(y)) => x == y,
                (Val::Int(x), Val::Int(y)) => x == y,
                (Val::Bool(_), _) | (_, Val::Bool(_)) => {
                    return Err(invalid(format!(
                        "cannot compare a number and a boolean in {}",
                        what()
                    )));
                }
                _ => a.num(sym)? == b.num(sym)?,
            };
            return Ok(Val::Bool(equal == matches!(op, Operator::Eq)));
        }
        Operator::Gt | Operator::Lt | Operator::Geq | Operator::Leq => {
            let ordering = match (a, b) {
                (Val::Int(x), Val::Int(y)) => x.partial_cmp(&y),
                _ => a.num(sym)?.partial_cmp(&b.num(sym)?),
            };
            let Some(ordering) = ordering else {
                return Err(math_error(format!("{} cannot be compared", what())));
            };
            return Ok(Val::Bool(match op {
                Operator::Gt => ordering.is_gt(),
                Operator::Lt => ordering.is_lt(),
                Operator::Geq => ordering.is_ge(),
                _ => ordering.is_le(),
            }));
        }
        _ => {}
    }
    let divides = matches!(op, Operator::Div | Operator::Mod);
    if let (Val::Int(x), Val::Int(y)) = (a, b) {
        if divides && y == 0 {
            return Err(math_error(format!("division by zero in {}", what())));
        }
        let exact = match op {
            Operator::Add => x.checked_add(y),
            Operator::Sub => x.checked_sub(y),
            Operator::Mul => x.checked_mul(y),
            Operator::Div => match x.checked_rem(y) {
                Some(0) => x.checked_div(y),
                _ => None,
            },
            Operator::Mod => x.checked_rem(y),
            Operator::Exp => u32::try_from(y).ok().and_then(|y| x.checked_pow(y)),
            _ => None,
        };
        if let Some(v) = exact {
            return Ok(Val::Int(v));
        }
    }
    let (x, y) = (a.num(sym)?, b.num(sym)?);
    if divides && y == 0.0 {
        return Err(math_error(format!("division by zero in {}", what())));
    }
    let r = match op {
        Operator::Add => x + y,
        Operator::Sub => x - y,
        Operator::Mul => x * y,
        Operator::Div => x / y,
        Operator::Mod => x % y,
        Operator::Exp => x.powf(y),
        _ => return Err(invalid(format!("unsupported operator {sym}"))),
    };
    real(r, what)
}

/// A rounded float as an integer when it is exactly one.
fn integral(x: f64) -> Val {
    if x.abs() < EXACT_INT { Val::Int(x as i64) } else { Val::Float(x) }
}

/// Calls a built-in function on evaluated arguments.
fn call(name: &str, args: &[Val]) -> Result<Val, ToolError> {
    let shown = || {
        let list: Vec<String> = args.iter().map(Val::to_string).collect();
        format!("{name}({})", list.join(", "))
    };
    let one = |f: fn(f64) -> f64| -> Result<Val, ToolError> {
        let [x] = args else { return Err(arity(name, "1 argument", args.len())) };
        real(f(x.num(name)?), shown)
    };
    let two = |f: fn(f64, f64) -> f64| -> Result<Val, ToolError> {
        let [x, y] = args else { return Err(arity(name, "2 arguments", args.len())) };
        real(f(x.num(name)?, y.num(name)?), shown)
    };
    let rounding = |f: fn(f64) -> f64| -> Result<Val, ToolError> {
        match args {
            [Val::Int(i)] => Ok(Val::Int(*i)),
            [x] => Ok(integral(f(x.num(name)?))),
            _ => Err(arity(name, "1 argument", args.len())),
        }
    };
    match name {
        "sqrt" => one(f64::sqrt),
        "cbrt" => one(f64::cbrt),
        "exp" => one(f64::exp),
        "ln" => one(f64::ln),
        "log2" => one(f64::log2),
        "log10" => one(f64::log10),
        "sin" => one(f64::sin),
        "cos" => one(f64::cos),
        "tan" => one(f64::tan),
        "asin" => one(f64::asin),
        "acos" => one(f64::acos),
        "atan" => one(f64::atan),
        "sinh" => one(f64::sinh),
        "cosh" => one(f64::cosh),
        "tanh" => one(f64::tanh),
        "degrees" => one(f64::to_degrees),
        "radians" => one(f64::to_radians),
        "atan2" => two(f64::atan2),
        "hypot" => two(f64::hypot),
        "pow" => {
            let [x, y] = args else { return Err(arity(name, "2 arguments", args.len())) };
            binary(&Operator::Exp, *x, *y)
        }
        "log" => match args {
            [x] => real(x.num(name)?.ln(), shown),
            [x, base] => real(x.num(name)?.log(base.num(name)?), shown),
            _ => Err(arity(name, "1 or 2 arguments", args.len())),
        },
        "floor" => rounding(f64::floor),
        "ceil" => rounding(f64::ceil),
        "trunc" => rounding(f64::trunc),
        "round" => match args {
            [_] => rounding(f64::round),
            [x, digits] => {
                let Val::Int(d @ 0..=15) = digits else {
                    return Err(invalid(format!(
                        "round(x, digits): digits must be an integer from 0 to 15, not {digits}"
                    )));
                };
                if let Val::Int(_) = x {
                    return Ok(*x);
                }
                let scale = 10f64.powi(*d as i32);
                real((x.num(name)? * scale).round() / scale, shown)
            }
            _ => Err(arity(name, "1 or 2 arguments", args.len())),
        },
        "abs" => match args {
            [Val::Int(i)] => {
                Ok(i.checked_abs().map_or_else(|| Val::Float((*i as f64).abs()), Val::Int))
            }
            [x] => real(x.num(name)?.abs(), shown),
            _ => Err(arity(name, "1 argument", args.len())),
        },
        "sign" => match args {
            [Val::Int(i)] => Ok(Val::Int(i.signum())),
            [x] => {
                let v = x.num(name)?;
                Ok(Val::Int(if v > 0.0 {
                    1
                } else if v < 0.0 {
                    -1
                } else {
                    0
                }))
            }
            _ => Err(arity(name, "1 argument", args.len())),
        },
        "min" | "max" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(arity(name, "at least 1 argument", 0));
            };
            let mut best = *first;
            best.num(name)?;
            for v in rest {
                let (b, x) = (best.num(name)?, v.num(name)?);
                if (name == "min" && x < b) || (name == "max" && x > b) {
                    best = *v;
                }
            }
            Ok(best)
        }
        _ => Err(invalid(format!("unknown function {name:?}; functions: {FUNCTIONS}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::testing::{fails, ok, registry};
    use crate::ErrorType;

    fn calc(expression: &str) -> serde_json::Value {
        ok(&registry(), "calculator", json!({"expression": expression}))["result"].clone()
    }

    #[test]
    fn arithmetic_keeps_integers_and_divides_truly() {
        assert_eq!(calc("1 + 2 * 3"), json!(7));
        assert_eq!(calc("(1 + 2) * 3"), json!(9));
        assert_eq!(calc("7 / 2"), json!(3.5));
        assert_eq!(calc("6 / 2"), json!(3));
        assert_eq!(calc("7 % 3"), json!(1));
        assert_eq!(calc("-7 % 3"), json!(-1));
        assert_eq!(calc("7.5 % 2"), json!(1.5));
        assert_eq!(calc("2 ^ 10"), json!(1024));
        assert_eq!(calc("2 ^ 3 ^ 2"), json!(512));
        assert_eq!(calc("(2 ^ 3) ^ 2"), json!(64));
        assert_eq!(calc("2 ^ -1"), json!(0.5));
        assert_eq!(calc("-2 ^ 2"), json!(-4));
        assert_eq!(calc("3 - -2"), json!(5));
        assert_eq!(calc("1.5e3 + .5"), json!(1500.5));
        assert_eq!(calc("0.1 + 0.2"), json!(0.1 + 0.2));
        // i64 overflow falls back to floating point rather than failing
        assert_eq!(calc("9223372036854775807 + 1"), json!(9223372036854775808.0));
        assert_eq!(calc("2 ^ 64"), json!(18446744073709551616.0));
    }

    #[test]
    fn long_left_chains_are_not_deep() {
        let sum = vec!["1"; 400].join("+");
        assert_eq!(calc(&sum), json!(400));
        let ops = "10 - 2 - 3 * 2 / 4 % 5";
        assert_eq!(calc(ops), json!(6.5));
    }

    #[test]
    fn comparisons_and_logic() {
        assert_eq!(calc("1 < 2"), json!(true));
        assert_eq!(calc("2 <= 2 && 3 >= 4"), json!(false));
        assert_eq!(calc("1 == 1.0"), json!(true));
        assert_eq!(calc("1 != 2 || false"), json!(true));
        assert_eq!(calc("!(1 > 2)"), json!(true));
        assert_eq!(calc("true == false"), json!(false));
        // && and || short-circuit, so the division is never evaluated
        let r = registry();
        let v = ok(
            &r,
            "calculator",
            json!({"expression": "x != 0 && 1 / x > 2",
            "variables": {"x": 0}}),
        );
        assert_eq!(v, json!({"result": false}));
        assert_eq!(calc("1 == 1 || 1 / 0 > 1"), json!(true));
        assert_eq!(calc("if(2 > 1, 10, 1 / 0)"), json!(10));
        assert_eq!(calc("if(2 < 1, 1 / 0, 20)"), json!(20));
    }

    #[test]
    fn functions_and_constants() {
        let near = |e: &str, want: f64| {
            let got = calc(e).as_f64().unwrap();
            assert!((got - want).abs() < 1e-12, "{e}: {got} != {want}");
        };
        assert_eq!(calc("sqrt(16)"), json!(4.0));
        assert_eq!(calc("abs(-3)"), json!(3));
        assert_eq!(calc("abs(-2.5)"), json!(2.5));
        assert_eq!(calc("min(3, 1.5, 2)"), json!(1.5));
        assert_eq!(calc("max(3, 1.5, 2)"), json!(3));
        assert_eq!(calc("max(4)"), json!(4));
        assert_eq!(calc("floor(2.7)"), json!(2));
        assert_eq!(calc("ceil(2.1)"), json!(3));
        assert_eq!(calc("round(2.5)"), json!(3));
        assert_eq!(calc("trunc(-2.7)"), json!(-2));
        assert_eq!(calc("floor(7)"), json!(7));
        assert_eq!(calc("round(2.71828, 2)"), json!(2.72));
        assert_eq!(calc("sign(-4.2)"), json!(-1));
        assert_eq!(calc("pow(2, 8)"), json!(256));
        assert_eq!(calc("hypot(3, 4)"), json!(5.0));
        assert_eq!(calc("log(100, 10)"), json!(2.0));
        near("ln(e)", 1.0);
        near("log(e ^ 2)", 2.0);
        near("log10(1000)", 3.0);
        near("log2(8)", 3.0);
        near("exp(1)", std::f64::consts::E);
        near("cbrt(27)", 3.0);
        near("sin(pi / 2)", 1.0);
        near("cos(0)", 1.0);
        near("tan(pi / 4)", 1.0);
        near("asin(1)", std::f64::consts::FRAC_PI_2);
        near("acos(1)", 0.0);
        near("atan(1)", std::f64::consts::FRAC_PI_4);
        near("atan2(1, 1)", std::f64::consts::FRAC_PI_4);
        near("sinh(0) + cosh(0) + tanh(0)", 1.0);
        near("degrees(pi)", 180.0);
        near("radians(180)", std::f64::consts::PI);
        near("tau / 2", std::f64::consts::PI);
        assert_eq!(calc("sqrt 16"), json!(4.0));
    }

    #[test]
    fn variables_hide_constants_and_keep_their_type() {
        let r = registry();
        let v = ok(
            &r,
            "calculator",
            json!({"expression": "a * b + e",
            "variables": {"a": 2, "b": 2.5, "e": 1}}),
        );
        assert_eq!(v, json!({"result": 6.0}));
        let v = ok(
            &r,
            "calculator",
            json!({"expression": "n * 3",
            "variables": {"n": 4}}),
        );
        assert_eq!(v, json!({"result": 12}));
        let v = ok(
            &r,
            "calculator",
            json!({"expression": "flag && x > 1",
            "variables": {"flag": true, "x": 2}}),
        );
        assert_eq!(v, json!({"result": true}));
    }

    #[test]
    fn math_errors_are_execution_errors_naming_the_operation() {
        let r = registry();
        let e = |expr: &str, needles: &[&str]| {
            fails(&r, "calculator", json!({"expression": expr}), ErrorType::Execution, needles)
        };
        e("1 / 0", &["division by zero in 1 / 0"]);
        e("1.5 / 0.0", &["division by zero"]);
        e("5 % 0", &["division by zero in 5 % 0"]);
        e("sqrt(-1)", &["sqrt(-1) is not a real number"]);
        e("ln(0)", &["ln(0) overflows"]);
        e("10.0 ^ 400", &["overflows"]);
        e("exp(1000)", &["exp(1000) overflows"]);
        // a tower of 500 powers is evaluated without nesting, then overflows
        e(&("2^".repeat(499) + "1"), &["overflows"]);
    }

    #[test]
    fn bad_expressions_are_validation_errors() {
        let r = registry();
        let v = |params: serde_json::Value, needles: &[&str]| {
            fails(&r, "calculator", params, ErrorType::Validation, needles)
        };
        let x = |expr: &str, needles: &[&str]| v(json!({"expression": expr}), needles);
        x("x + 1", &["unknown variable \"x\"", "variables"]);
        x("foo(1)", &["unknown function \"foo\"", "sqrt"]);
        x("1 2", &["syntax error", "without an operator"]);
        x("(1 + 2", &["syntax error", "'('"]);
        x("1 + 2)", &["syntax error", "')'"]);
        x("1 +", &["+ is missing an operand"]);
        x("2 ** 3", &["missing an operand"]);
        x("1 & 2", &["unknown", "operator &"]);
        x("\"abc\"", &["strings"]);
        x("a = 1", &["assignment is not supported"]);
        x("1; 2", &["';'"]);
        x("1, 2", &["comma-separated"]);
        x("()", &["empty"]);
        x("sqrt(1, 2)", &["sqrt() takes 1 argument, got 2"]);
        x("min()", &["min() takes at least 1 argument"]);
        x("if(true, 1)", &["if() takes 3 arguments"]);
        x("round(1.5, 99)", &["digits must be an integer from 0 to 15"]);
        x("true + 1", &["+ needs a number"]);
        x("1 && true", &["&& needs a boolean"]);
        x("1 == true", &["cannot compare"]);
        x("!3", &["! needs a boolean"]);
        x("-true", &["unary - needs a number"]);
        v(json!({"expression": ""}), &["expression", "minLength"]);
        v(json!({}), &["expression", "required"]);
        v(json!({"expression": "1", "variables": {"x": "3"}}), &["/variables/x"]);
        v(json!({"expression": "1", "variables": {"not valid": 3}}), &["/variables", "pattern"]);
        v(json!({"expression": "1", "extra": 3}), &["additionalProperties"]);
    }

    #[test]
    fn hostile_nesting_is_refused_without_crashing() {
        let r = registry();
        let x = |expr: String, needles: &[&str]| {
            fails(&r, "calculator", json!({"expression": expr}), ErrorType::Validation, needles)
        };
        x("-".repeat(900) + "1", &["operators in a row"]);
        x("- ! ".repeat(100) + "1", &["operators in a row"]);
        x("(".repeat(400) + "1" + &")".repeat(400), &["nests more than 200"]);
        x("abs(".repeat(199) + "1" + &")".repeat(199), &["nests more than 200"]);
        x("1".repeat(1001), &["maxLength"]);
        // the longest allowed shapes parse and evaluate (or fail cleanly) on a tool thread
        assert_eq!(calc(&("(".repeat(99) + "1" + &")".repeat(99))), json!(1));
        assert_eq!(calc(&("1+-".repeat(333) + "1")), json!(-332));
        assert_eq!(calc(&("-(".repeat(99) + "1" + &")".repeat(99))), json!(-1));
    }

    #[test]
    fn odd_inputs_fail_cleanly_or_evaluate() {
        let r = registry();
        assert_eq!(calc("99999999999999999999"), json!(1e20));
        assert_eq!(calc(" 1 "), json!(1));
        for expr in [
            "1e400",
            "0x10",
            "1_000",
            "math::sqrt(4)",
            "a.b",
            "sqrt(",
            ")(",
            "((()))",
            "1 +* 2",
            "max(,)",
            "min(1,)",
            "if(1, 2, 3)",
            "-",
            "!",
            "^2",
            "2^",
            "pi()",
            "sqrt()()",
            "#",
            "1 ? 2 : 3",
            "1 < 2 < 3",
            "\"a\" + 1",
            "x = 2; x",
            "true && ",
            "9223372036854775808",
            "-9223372036854775808 / -1",
            "-9223372036854775807 - 1 % -1",
            "(-9223372036854775807 - 1) % -1",
        ] {
            match r.invoke("calculator", json!({"expression": expr}), None) {
                Ok(v) => assert!(v["result"].is_number() || v["result"].is_boolean(), "{expr}"),
                Err(e) => {
                    assert!(
                        matches!(e.error_type, ErrorType::Validation | ErrorType::Execution),
                        "{expr}: {e}"
                    );
                    assert!(!e.message.contains("crashed"), "{expr}: {e}");
                }
            }
        }
        assert_eq!(calc("-9223372036854775807 - 1"), json!(i64::MIN));
        assert_eq!(calc("(-9223372036854775807 - 1) / -1"), json!(9223372036854775808.0));
        assert_eq!(calc("abs(-9223372036854775807 - 1)"), json!(9223372036854775808.0));
    }

    #[test]
    fn ten_thousand_invokes_through_the_registry() {
        let r = registry();
        for i in 0..10_000i64 {
            let v = r
                .invoke(
                    "calculator",
                    json!({"expression": "x * 2 + 1", "variables": {"x": i}}),
                    None,
                )
                .unwrap();
            assert_eq!(v["result"], json!(i * 2 + 1));
        }
    }
}

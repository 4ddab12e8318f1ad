//! Output and input plumbing: `print`, `io.write`, `io.stdout`/`io.stderr`/`io.stdin`,
//! `io.read`, `io.lines()`, `io.output()`/`io.input()` and `input`.
//!
//! Guarantees: nothing a script writes reaches the kernel process's own stdout/stderr, and no
//! read blocks on the process's stdin; all of it goes through the [`Frontend`](crate::Frontend).
//! The three standard files are replaced by small tables with the usual methods (`write`
//! returns the file so calls chain). `io.output(f)`/`io.input(f)` with an argument, `io.open`
//! and `io.lines(path)` still use real files.

use mlua::{Function, Lua, MultiValue, Table, Value};

use crate::errors::located;
use crate::host::Host;
use crate::{InputError, StreamName};

pub(crate) fn install(lua: &Lua, host: &Host) -> mlua::Result<()> {
    let globals = lua.globals();
    let io: Table = globals.raw_get("io")?;
    let h = host.clone();
    let print = lua.create_function(move |lua, args: MultiValue| {
        let parts: Vec<String> =
            args.iter().map(|v| tostring(lua, v)).collect::<mlua::Result<_>>()?;
        h.stream(StreamName::Stdout, &(parts.join("\t") + "\n"))
    })?;
    globals.raw_set("print", print)?;

    let stdout = out_file(lua, host, StreamName::Stdout)?;
    let stderr = out_file(lua, host, StreamName::Stderr)?;
    let stdin = in_file(lua, host)?;
    let (h, out) = (host.clone(), stdout.clone());
    let write = lua.create_function(move |lua, args: MultiValue| {
        h.stream(StreamName::Stdout, &write_text(lua, &args, 1)?)?;
        Ok(out.clone())
    })?;
    io.raw_set("write", write)?;
    let h = host.clone();
    let read = lua.create_function(move |lua, formats: MultiValue| read(lua, &h, formats))?;
    io.raw_set("read", read)?;

    let orig_lines: Function = io.raw_get("lines")?;
    let h = host.clone();
    let lines = lua.create_function(move |lua, args: MultiValue| {
        if args.front().is_none_or(Value::is_nil) {
            let it = lines_iterator(lua, &h, args.into_iter().skip(1).collect())?;
            return Ok(MultiValue::from_iter([Value::Function(it)]));
        }
        orig_lines.call::<MultiValue>(args)
    })?;
    io.raw_set("lines", lines)?;
    for (name, file) in [("output", &stdout), ("input", &stdin)] {
        let orig: Function = io.raw_get(name)?;
        let file = file.clone();
        let f = lua.create_function(move |_, args: MultiValue| {
            if args.is_empty() {
                Ok(MultiValue::from_iter([Value::Table(file.clone())]))
            } else {
                orig.call(args)
            }
        })?;
        io.raw_set(name, f)?;
    }
    io.raw_set("stdout", stdout)?;
    io.raw_set("stderr", stderr)?;
    io.raw_set("stdin", stdin)?;

    let h = host.clone();
    let input =
        lua.create_function(move |lua, (prompt, opts): (Option<Value>, Option<Table>)| {
            let prompt = match prompt {
                None | Some(Value::Nil) => String::new(),
                Some(v) => tostring(lua, &v)?,
            };
            let password = match opts {
                Some(t) => t.raw_get::<Option<bool>>("password")?.unwrap_or(false),
                None => false,
            };
            read_line(lua, &h, &prompt, password)
        })?;
    globals.raw_set("input", input)
}

/// `tostring(v)` as Lua's `print` does it (`__tostring` and `__name` honoured).
pub(crate) fn tostring(lua: &Lua, v: &Value) -> mlua::Result<String> {
    match v {
        Value::Integer(_) | Value::Number(_) => Ok(crate::render::number(lua, v)),
        Value::String(s) => Ok(s.to_string_lossy()),
        other => other.to_string(),
    }
}

/// The text of `io.write`-style arguments: strings and numbers only. `first` is the argument
/// number of `args[0]` in error messages (2 for `file:write`, counting `self`).
fn write_text(lua: &Lua, args: &MultiValue, first: usize) -> mlua::Result<String> {
    let mut text = String::new();
    for (i, v) in args.iter().enumerate() {
        match v {
            Value::String(s) => text.push_str(&s.to_string_lossy()),
            Value::Integer(_) | Value::Number(_) => text.push_str(&crate::render::number(lua, v)),
            other => {
                let msg = format!(
                    "bad argument #{} to 'write' (string expected, got {})",
                    i + first,
                    other.type_name()
                );
                return Err(located(lua, msg));
            }
        }
    }
    Ok(text)
}

/// A table standing in for `io.stdout` / `io.stderr`.
fn out_file(lua: &Lua, host: &Host, name: StreamName) -> mlua::Result<Table> {
    let file = std_file(lua, name.as_str())?;
    let h = host.clone();
    let write = lua.create_function(move |lua, mut args: MultiValue| {
        let this = args.pop_front().unwrap_or(Value::Nil);
        h.stream(name, &write_text(lua, &args, 1)?)?;
        Ok(this)
    })?;
    file.raw_set("write", write)?;
    Ok(file)
}

/// A table standing in for `io.stdin`: `read` and `lines` ask the frontend.
fn in_file(lua: &Lua, host: &Host) -> mlua::Result<Table> {
    let file = std_file(lua, "stdin")?;
    let h = host.clone();
    let read = lua.create_function(move |lua, mut args: MultiValue| {
        args.pop_front();
        read(lua, &h, args)
    })?;
    file.raw_set("read", read)?;
    let h = host.clone();
    let lines = lua.create_function(move |lua, mut args: MultiValue| {
        args.pop_front();
        lines_iterator(lua, &h, args)
    })?;
    file.raw_set("lines", lines)?;
    Ok(file)
}

/// Methods shared by the three standard files; `tostring(io.stdout)` is `file (stdout)`.
fn std_file(lua: &Lua, label: &'static str) -> mlua::Result<Table> {
    let file = lua.create_table()?;
    let this = lua.create_function(|_, this: Value| Ok(this))?;
    file.raw_set("flush", this.clone())?;
    file.raw_set("setvbuf", lua.create_function(|_, _: MultiValue| Ok(true))?)?;
    file.raw_set(
        "close",
        lua.create_function(|_, _: MultiValue| Ok((Value::Nil, "cannot close standard file")))?,
    )?;
    file.raw_set(
        "seek",
        lua.create_function(|_, _: MultiValue| Ok((Value::Nil, "Illegal seek", 29)))?,
    )?;
    let meta = lua.create_table()?;
    meta.raw_set("__name", "FILE*")?;
    meta.raw_set(
        "__tostring",
        lua.create_function(move |_, _: Value| Ok(format!("file ({label})")))?,
    )?;
    file.set_metatable(Some(meta))?;
    Ok(file)
}

/// One line from the frontend; input failures become Lua errors (interrupts stay
/// recognisable as such).
pub(crate) fn read_line(
    lua: &Lua,
    host: &Host,
    prompt: &str,
    password: bool,
) -> mlua::Result<String> {
    match host.input(prompt, password)? {
        Ok(line) => Ok(line),
        Err(InputError::Interrupted) => Err(mlua::Error::external(InputError::Interrupted)),
        Err(e) => Err(located(lua, e)),
    }
}

/// `io.read(...)`: each format reads one line from the frontend. `"l"` the line, `"L"` with its
/// newline, `"n"` a number (or `nil`), `"a"` the line, `k` the first `k` bytes of the line.
fn read(lua: &Lua, host: &Host, formats: MultiValue) -> mlua::Result<MultiValue> {
    let formats: Vec<Value> =
        if formats.is_empty() { vec![Value::Nil] } else { formats.into_iter().collect() };
    let mut out = MultiValue::new();
    for (i, fmt) in formats.iter().enumerate() {
        let line = read_line(lua, host, "", false)?;
        let v = match fmt {
            Value::Nil => Value::String(lua.create_string(&line)?),
            Value::Integer(k) => {
                let k = usize::try_from(*k).unwrap_or(0).min(line.len());
                Value::String(lua.create_string(&line.as_bytes()[..k])?)
            }
            Value::String(s) => match s.to_string_lossy().trim_start_matches('*').chars().next() {
                Some('l') | Some('a') => Value::String(lua.create_string(&line)?),
                Some('L') => Value::String(lua.create_string(format!("{line}\n"))?),
                Some('n') => parse_number(line.trim()),
                _ => {
                    return Err(located(
                        lua,
                        format!("bad argument #{} to 'read' (invalid format)", i + 1),
                    ));
                }
            },
            other => {
                let msg = format!(
                    "bad argument #{} to 'read' (invalid format, got {})",
                    i + 1,
                    other.type_name()
                );
                return Err(located(lua, msg));
            }
        };
        out.push_back(v);
    }
    Ok(out)
}

/// A Lua number literal (`12`, `-3.5`, `0x10`), or `nil`.
fn parse_number(s: &str) -> Value {
    let (neg, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let sign = if neg { -1 } else { 1 };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).map_or(Value::Nil, |i| Value::Integer(sign * i));
    }
    if let Ok(i) = body.parse::<i64>() {
        return Value::Integer(sign * i);
    }
    match body.parse::<f64>() {
        Ok(f) if !body.starts_with(|c: char| c.is_alphabetic()) => Value::Number(sign as f64 * f),
        _ => Value::Nil,
    }
}

/// An iterator function that reads a line from the frontend on each call.
fn lines_iterator(lua: &Lua, host: &Host, formats: MultiValue) -> mlua::Result<Function> {
    let h = host.clone();
    let formats: Vec<Value> = formats.into_iter().collect();
    lua.create_function(move |lua, _: MultiValue| read(lua, &h, formats.iter().cloned().collect()))
}

#[cfg(test)]
mod tests {
    use crate::testutil::{Event, engine, error, run, value};
    use crate::{InputError, StreamName};

    #[test]
    fn print_and_writes_go_to_streams() {
        let (mut e, rec) = engine();
        run(&mut e, "print(1, 'a', nil, 2.0, {})");
        let out = rec.text(StreamName::Stdout);
        assert!(out.starts_with("1\ta\tnil\t2.0\ttable: "), "{out}");
        assert!(out.ends_with('\n'));
        rec.take();
        run(&mut e, "io.write('x', 1, '\\n'):write('y'); io.stdout:write('z'):write('!')");
        assert_eq!(rec.text(StreamName::Stdout), "x1\nyz!");
        run(&mut e, "io.stderr:write('bad', 2):write('\\n')");
        assert_eq!(rec.text(StreamName::Stderr), "bad2\n");
        assert_eq!(value(&mut e, "tostring(io.stdout)"), Some("\"file (stdout)\"".into()));
        assert_eq!(value(&mut e, "io.output() == io.stdout"), Some("true".into()));
    }

    #[test]
    fn print_uses_tostring_metamethods() {
        let (mut e, rec) = engine();
        run(&mut e, "print(setmetatable({}, {__tostring = function() return 'obj' end}))");
        assert_eq!(rec.text(StreamName::Stdout), "obj\n");
    }

    #[test]
    fn write_rejects_tables() {
        let (mut e, _) = engine();
        let err = error(&mut e, "io.write({})");
        assert_eq!(err.evalue, "cell-1:1: bad argument #1 to 'write' (string expected, got table)");
    }

    #[test]
    fn input_and_read_ask_the_frontend() {
        let (mut e, rec) = engine();
        rec.answer(Ok("alice"));
        rec.answer(Ok("42"));
        rec.answer(Ok("line"));
        rec.answer(Ok("secret"));
        assert_eq!(value(&mut e, "input('name? ')"), Some("\"alice\"".into()));
        assert_eq!(value(&mut e, "io.read('n') + 1"), Some("43".into()));
        assert_eq!(value(&mut e, "io.stdin:read('L')"), Some("\"line\\n\"".into()));
        assert_eq!(value(&mut e, "input('pw: ', {password = true})"), Some("\"secret\"".into()));
        let prompts: Vec<Event> = rec.take();
        assert_eq!(prompts[0], Event::Input("name? ".into(), false));
        assert_eq!(prompts[3], Event::Input("pw: ".into(), true));
    }

    #[test]
    fn input_errors() {
        let (mut e, rec) = engine();
        let err = error(&mut e, "io.read()");
        assert_eq!(err.ename, "RuntimeError");
        assert_eq!(
            err.evalue,
            "cell-1:1: stdin is not available: the client did not allow input requests"
        );
        rec.answer(Err(InputError::Interrupted));
        let err = error(&mut e, "input()");
        assert_eq!(err.ename, "Interrupted");
        assert_eq!(err.evalue, "interrupted while waiting for input");
    }

    #[test]
    fn read_formats() {
        let (mut e, rec) = engine();
        for a in ["abc", "x", "not a number", "0x10"] {
            rec.answer(Ok(a));
        }
        assert_eq!(value(&mut e, "io.read(2, 'l')"), Some("\"ab\"\t\"x\"".into()));
        assert_eq!(value(&mut e, "io.read('*n')"), None);
        assert_eq!(value(&mut e, "io.read('n')"), Some("16".into()));
        assert_eq!(error(&mut e, "io.read('q')").ename, "RuntimeError");
    }
}

//! One-line signatures and short descriptions for the standard library and the llmspell
//! globals, shown by `inspect`. Written for llmspell; not taken from the Lua manual.

/// `(dotted name, signature, description)`.
pub(crate) type Doc = (&'static str, &'static str, &'static str);

pub(crate) fn find(name: &str) -> Option<&'static Doc> {
    DOCS.iter().find(|d| d.0 == name)
}

pub(crate) const DOCS: &[Doc] = &[
    // llmspell
    (
        "display",
        "display(value [, metadata])",
        "Shows a value in the notebook. A table keyed by MIME types (\"text/html\", ...) is sent as that bundle; anything else is shown as its rendered text.",
    ),
    (
        "clear_output",
        "clear_output([wait])",
        "Clears the cell's output area; with wait = true the client clears just before the next output arrives.",
    ),
    (
        "page",
        "page(text)",
        "Adds text to the pager shown by the client after the cell finishes; several calls are joined.",
    ),
    (
        "input",
        "input([prompt] [, {password = bool}]) -> string",
        "Asks the client for one line of input and returns it without its newline. Fails when the client does not allow stdin.",
    ),
    ("JSON", "JSON", "JSON support: encode/stringify, decode/parse and the null sentinel."),
    (
        "JSON.encode",
        "JSON.encode(value [, {pretty = true}]) -> string",
        "Turns a Lua value into JSON text. Tables with keys 1..n become arrays, other tables objects with sorted keys; {} becomes {}.",
    ),
    (
        "JSON.stringify",
        "JSON.stringify(value [, {pretty = true}]) -> string",
        "Same as JSON.encode.",
    ),
    (
        "JSON.decode",
        "JSON.decode(text) -> value",
        "Parses JSON text into Lua values; null becomes JSON.null. Errors report line and column.",
    ),
    ("JSON.parse", "JSON.parse(text) -> value", "Same as JSON.decode."),
    (
        "JSON.null",
        "JSON.null",
        "The value that stands for JSON null, so nulls survive in arrays and objects.",
    ),
    (
        "State",
        "State",
        "Persistent state: JSON-able values under (scope, key), kept across cells, resets and kernel restarts.",
    ),
    (
        "State.save",
        "State.save(scope, key, value)",
        "Stores a JSON-able value (nil, booleans, numbers, strings, JSON.null, array or string-keyed tables) under scope and key, replacing any earlier one.",
    ),
    (
        "State.load",
        "State.load(scope, key) -> value|nil",
        "The value stored under scope and key, or nil when there is none. Integers load as integers, floats as floats.",
    ),
    (
        "State.delete",
        "State.delete(scope, key) -> boolean",
        "Removes the value under scope and key; returns whether there was one.",
    ),
    (
        "State.list_keys",
        "State.list_keys(scope) -> {string, ...}",
        "The keys stored in scope, sorted.",
    ),
    (
        "Tool",
        "Tool",
        "The built-in tools: list, info, invoke, exists, categories, search. A failed call raises a table {error_type, message, tool}.",
    ),
    (
        "Tool.list",
        "Tool.list([category]) -> {{name, category, description}, ...}",
        "The tools in name order, of one category when given.",
    ),
    (
        "Tool.info",
        "Tool.info(name) -> {name, category, description, parameters, examples}",
        "Everything about a tool: its JSON Schema parameters and examples. Raises a not_found tool error for an unknown name.",
    ),
    (
        "Tool.invoke",
        "Tool.invoke(name [, params [, {timeout_ms = n}]]) -> result",
        "Runs a tool with a table of parameters and returns its result as Lua values. On failure raises a table {error_type, message, tool}; error_type is not_found, validation, execution, timeout or permission. An interrupt cancels the tool.",
    ),
    ("Tool.exists", "Tool.exists(name) -> boolean", "Whether a tool of that name exists."),
    ("Tool.categories", "Tool.categories() -> {string, ...}", "The tool categories, sorted."),
    (
        "Tool.search",
        "Tool.search(query) -> {{name, category, description, score}, ...}",
        "Tools matching every word of query in their name, category or description, best first.",
    ),
    (
        "Provider",
        "Provider",
        "The LLM providers of config.toml ([providers.NAME]): list, get. Keys are never shown.",
    ),
    (
        "Provider.list",
        "Provider.list() -> {{name, kind, model, base_url, key_set, key_required}, ...}",
        "The configured providers in name order; key_set says whether the API key could be read.",
    ),
    (
        "Provider.get",
        "Provider.get([name]) -> {name, kind, model}",
        "The named provider, or the default one; raises an error naming what to configure when there is none.",
    ),
    (
        "Agent",
        "Agent",
        "LLM agents: Agent.builder():provider(p):model(m):system_prompt(s):allow_tool(t):build(), then agent:execute{text = ...}, agent:stream(input [, fn]), agent:history(), agent:reset(), agent:usage().",
    ),
    (
        "Agent.builder",
        "Agent.builder() -> builder",
        "A builder with :name, :provider, :model, :system_prompt, :temperature, :max_tokens, :allow_tool, :max_rounds and :build(). execute returns {text, tool_calls, usage}; an interrupt cancels the request at once.",
    ),
    (
        "Workflow",
        "Workflow",
        "Workflows of tool, agent, function and nested-workflow steps: Workflow.builder():sequential()|:parallel()|:conditional()|:loop():step{...}:build(), then workflow:execute(input).",
    ),
    (
        "Workflow.builder",
        "Workflow.builder() -> builder",
        "A builder with :name, the kind (:sequential, :parallel, :conditional, :loop), :step{name=, tool=|agent=|fn=|workflow=}, :condition, :else_step, :max_iterations, :stop_when and :build(). execute returns {output, outputs, steps}; parallel tool steps run at the same time.",
    ),
    // base
    (
        "assert",
        "assert(v [, message, ...]) -> v, ...",
        "Raises an error (message, or \"assertion failed!\") when v is false or nil; otherwise returns all its arguments.",
    ),
    (
        "collectgarbage",
        "collectgarbage([opt [, arg]])",
        "Controls the garbage collector: \"collect\" (default), \"count\" (KiB in use), \"step\", \"incremental\", \"generational\", ...",
    ),
    ("dofile", "dofile([filename]) -> ...", "Runs a Lua file and returns what it returns."),
    (
        "error",
        "error(message [, level])",
        "Raises an error with any value. For strings, level picks whose position is prefixed (1 = the caller of error, 0 = none).",
    ),
    (
        "getmetatable",
        "getmetatable(object) -> table|nil",
        "The metatable of object, or its __metatable field when that is set.",
    ),
    ("ipairs", "ipairs(t) -> iterator", "Iterates i, t[i] for i = 1, 2, ... until the first nil."),
    (
        "load",
        "load(chunk [, chunkname [, mode [, env]]]) -> function|nil, err",
        "Compiles a string (or the pieces a function returns) into a function without running it.",
    ),
    (
        "loadfile",
        "loadfile([filename [, mode [, env]]]) -> function|nil, err",
        "Like load, reading the code from a file.",
    ),
    (
        "next",
        "next(t [, key]) -> key, value",
        "The entry after key in t (the first one for nil); nil when there are no more. Order is unspecified.",
    ),
    (
        "pairs",
        "pairs(t) -> iterator",
        "Iterates over every key/value of t (through __pairs when present), in no particular order.",
    ),
    (
        "pcall",
        "pcall(f, ...) -> ok, ...",
        "Calls f in protected mode: true plus its results, or false plus the error value.",
    ),
    (
        "print",
        "print(...)",
        "Writes its arguments, converted with tostring and separated by tabs, followed by a newline, to the cell's stdout.",
    ),
    ("rawequal", "rawequal(a, b) -> boolean", "Compares two values without calling __eq."),
    ("rawget", "rawget(t, k) -> value", "Reads t[k] without calling __index."),
    ("rawlen", "rawlen(v) -> integer", "The length of a table or string without calling __len."),
    ("rawset", "rawset(t, k, v) -> t", "Sets t[k] = v without calling __newindex."),
    (
        "require",
        "require(modname) -> module",
        "Loads a module once via package.searchers and caches it in package.loaded.",
    ),
    (
        "select",
        "select(n, ...) -> ...",
        "The arguments after position n (negative counts from the end); select('#', ...) gives their count.",
    ),
    (
        "setmetatable",
        "setmetatable(t, mt) -> t",
        "Sets (or with nil removes) the metatable of a table.",
    ),
    (
        "tonumber",
        "tonumber(v [, base]) -> number|nil",
        "Converts a string (in the given base, 10 by default) or number to a number; nil when it cannot.",
    ),
    (
        "tostring",
        "tostring(v) -> string",
        "A readable string for any value, using __tostring or __name when present.",
    ),
    (
        "type",
        "type(v) -> string",
        "The type name: \"nil\", \"number\", \"string\", \"boolean\", \"table\", \"function\", \"thread\" or \"userdata\".",
    ),
    (
        "warn",
        "warn(msg, ...)",
        "Emits a warning built from its string arguments; \"@on\" and \"@off\" switch warnings on and off.",
    ),
    (
        "xpcall",
        "xpcall(f, handler, ...) -> ok, ...",
        "Like pcall, but an error is passed through handler first (e.g. to add a traceback).",
    ),
    ("_G", "_G", "The table of global variables."),
    ("_VERSION", "_VERSION", "The interpreter version string, \"Lua 5.4\"."),
    // string
    (
        "string.byte",
        "string.byte(s [, i [, j]]) -> integer, ...",
        "The byte values of s[i..j] (default just the first byte).",
    ),
    ("string.char", "string.char(...) -> string", "A string made of the given byte values."),
    (
        "string.dump",
        "string.dump(f [, strip]) -> string",
        "The binary form of a Lua function, loadable with load.",
    ),
    (
        "string.find",
        "string.find(s, pattern [, init [, plain]]) -> start, end, captures...",
        "Finds the first match of a pattern (or plain text) and returns where it is, plus captures.",
    ),
    (
        "string.format",
        "string.format(fmt, ...) -> string",
        "Builds a string from a printf-like template: %d %s %q %f %x %g %c %a %%.",
    ),
    (
        "string.gmatch",
        "string.gmatch(s, pattern [, init]) -> iterator",
        "Iterates over all matches of a pattern, yielding the captures (or the whole match).",
    ),
    (
        "string.gsub",
        "string.gsub(s, pattern, repl [, n]) -> string, count",
        "Replaces matches with a string (%1.. refer to captures), a table lookup or a function result.",
    ),
    ("string.len", "string.len(s) -> integer", "The length of s in bytes."),
    (
        "string.lower",
        "string.lower(s) -> string",
        "A copy of s with upper-case letters made lower case.",
    ),
    (
        "string.match",
        "string.match(s, pattern [, init]) -> captures...",
        "The captures of the first match (or the whole match), or nil.",
    ),
    (
        "string.pack",
        "string.pack(fmt, v1, ...) -> string",
        "Serialises values into a binary string following a format.",
    ),
    (
        "string.packsize",
        "string.packsize(fmt) -> integer",
        "The size of a string.pack result for a fixed-size format.",
    ),
    (
        "string.rep",
        "string.rep(s, n [, sep]) -> string",
        "s repeated n times, with sep between copies.",
    ),
    ("string.reverse", "string.reverse(s) -> string", "s with its bytes in reverse order."),
    (
        "string.sub",
        "string.sub(s, i [, j]) -> string",
        "The substring from byte i to j; negative positions count from the end.",
    ),
    (
        "string.unpack",
        "string.unpack(fmt, s [, pos]) -> values..., next",
        "Reads values packed with string.pack, plus the position after them.",
    ),
    (
        "string.upper",
        "string.upper(s) -> string",
        "A copy of s with lower-case letters made upper case.",
    ),
    // table
    (
        "table.concat",
        "table.concat(list [, sep [, i [, j]]]) -> string",
        "Joins the strings or numbers list[i..j] with sep between them.",
    ),
    (
        "table.insert",
        "table.insert(list, [pos,] value)",
        "Inserts value at pos (default: the end), shifting later elements up.",
    ),
    (
        "table.move",
        "table.move(a1, f, e, t [, a2]) -> a2",
        "Copies a1[f..e] into a2 (default a1) starting at index t.",
    ),
    (
        "table.pack",
        "table.pack(...) -> table",
        "A table of the arguments with the count in field n.",
    ),
    (
        "table.remove",
        "table.remove(list [, pos]) -> value",
        "Removes and returns list[pos] (default: the last element), shifting later ones down.",
    ),
    (
        "table.sort",
        "table.sort(list [, comp])",
        "Sorts list in place, with < or comp(a, b) returning true when a goes first. Not stable.",
    ),
    (
        "table.unpack",
        "table.unpack(list [, i [, j]]) -> ...",
        "Returns list[i..j] as separate values.",
    ),
    // math
    ("math.abs", "math.abs(x) -> number", "The absolute value of x."),
    ("math.acos", "math.acos(x) -> number", "Arc cosine of x, in radians."),
    ("math.asin", "math.asin(x) -> number", "Arc sine of x, in radians."),
    (
        "math.atan",
        "math.atan(y [, x]) -> number",
        "Arc tangent of y/x in radians, using both signs to pick the quadrant.",
    ),
    ("math.ceil", "math.ceil(x) -> integer", "The smallest integer not below x."),
    ("math.cos", "math.cos(x) -> number", "Cosine of an angle in radians."),
    ("math.deg", "math.deg(x) -> number", "Radians converted to degrees."),
    ("math.exp", "math.exp(x) -> number", "e raised to the power x."),
    ("math.floor", "math.floor(x) -> integer", "The largest integer not above x."),
    (
        "math.fmod",
        "math.fmod(x, y) -> number",
        "Remainder of x / y, rounding the quotient towards zero.",
    ),
    ("math.huge", "math.huge", "Positive infinity (a float larger than any other number)."),
    (
        "math.log",
        "math.log(x [, base]) -> number",
        "Logarithm of x in the given base (natural log by default).",
    ),
    ("math.max", "math.max(x, ...) -> number", "The largest argument."),
    ("math.maxinteger", "math.maxinteger", "The largest integer value."),
    ("math.min", "math.min(x, ...) -> number", "The smallest argument."),
    ("math.mininteger", "math.mininteger", "The smallest integer value."),
    (
        "math.modf",
        "math.modf(x) -> integer part, fraction",
        "Splits x into its integral and fractional parts.",
    ),
    ("math.pi", "math.pi", "The ratio of a circle's circumference to its diameter."),
    ("math.rad", "math.rad(x) -> number", "Degrees converted to radians."),
    (
        "math.random",
        "math.random([m [, n]]) -> number",
        "A pseudo-random float in [0, 1), or an integer in [1, m] or [m, n].",
    ),
    (
        "math.randomseed",
        "math.randomseed([x [, y]])",
        "Seeds the pseudo-random generator (randomly when called without arguments).",
    ),
    ("math.sin", "math.sin(x) -> number", "Sine of an angle in radians."),
    ("math.sqrt", "math.sqrt(x) -> number", "Square root of x."),
    ("math.tan", "math.tan(x) -> number", "Tangent of an angle in radians."),
    (
        "math.tointeger",
        "math.tointeger(x) -> integer|nil",
        "x as an integer when it has an exact integer value, else nil.",
    ),
    (
        "math.type",
        "math.type(x) -> \"integer\"|\"float\"|nil",
        "Which kind of number x is; nil for non-numbers.",
    ),
    (
        "math.ult",
        "math.ult(m, n) -> boolean",
        "Whether m < n when both are read as unsigned integers.",
    ),
    // math, kept for Lua 5.3 compatibility by this build
    ("math.atan2", "math.atan2(y, x) -> number", "Older spelling of math.atan(y, x)."),
    ("math.cosh", "math.cosh(x) -> number", "Hyperbolic cosine (compatibility function)."),
    ("math.sinh", "math.sinh(x) -> number", "Hyperbolic sine (compatibility function)."),
    ("math.tanh", "math.tanh(x) -> number", "Hyperbolic tangent (compatibility function)."),
    (
        "math.pow",
        "math.pow(x, y) -> number",
        "x raised to y; the same as x ^ y (compatibility function).",
    ),
    (
        "math.log10",
        "math.log10(x) -> number",
        "Base-10 logarithm; the same as math.log(x, 10) (compatibility function).",
    ),
    (
        "math.frexp",
        "math.frexp(x) -> m, e",
        "Splits x into a mantissa m in [0.5, 1) and exponent e with x = m * 2^e (compatibility function).",
    ),
    (
        "math.ldexp",
        "math.ldexp(m, e) -> number",
        "m * 2^e; the inverse of math.frexp (compatibility function).",
    ),
    // io
    ("io.close", "io.close([file])", "Closes a file (the default output file when omitted)."),
    ("io.flush", "io.flush()", "Flushes the default output file."),
    (
        "io.input",
        "io.input([file]) -> file",
        "Gets (the kernel's stdin stand-in) or sets the default input file.",
    ),
    (
        "io.lines",
        "io.lines([filename, ...]) -> iterator",
        "Iterates over lines of a file; without a file name each step asks the client for a line.",
    ),
    (
        "io.open",
        "io.open(filename [, mode]) -> file|nil, err",
        "Opens a file in mode \"r\", \"w\", \"a\", \"r+\", \"w+\" or \"a+\" (add \"b\" for binary).",
    ),
    (
        "io.output",
        "io.output([file]) -> file",
        "Gets (the kernel's stdout stand-in) or sets the default output file.",
    ),
    (
        "io.popen",
        "io.popen(cmd [, mode]) -> file",
        "Runs a shell command and returns a file to read its output from or write its input to.",
    ),
    (
        "io.read",
        "io.read(...) -> ...",
        "Reads from the client, one line per format: \"l\" line, \"L\" line with newline, \"n\" number, \"a\" a line, k the first k bytes.",
    ),
    ("io.tmpfile", "io.tmpfile() -> file", "A new temporary file, removed when the program ends."),
    (
        "io.type",
        "io.type(obj) -> \"file\"|\"closed file\"|nil",
        "Whether obj is an open or closed file handle.",
    ),
    (
        "io.write",
        "io.write(...) -> file",
        "Writes strings and numbers to the cell's stdout without adding anything; returns io.stdout.",
    ),
    ("io.stdin", "io.stdin", "Standard input; its read and lines methods ask the client."),
    (
        "io.stdout",
        "io.stdout",
        "Standard output; io.stdout:write(...) goes to the cell's stdout stream.",
    ),
    (
        "io.stderr",
        "io.stderr",
        "Standard error; io.stderr:write(...) goes to the cell's stderr stream.",
    ),
    // os
    ("os.clock", "os.clock() -> number", "CPU time used by the kernel process, in seconds."),
    (
        "os.date",
        "os.date([format [, time]]) -> string|table",
        "Formats a time with strftime codes; \"*t\" gives a table; a leading \"!\" means UTC.",
    ),
    ("os.difftime", "os.difftime(t2, t1) -> number", "Seconds from t1 to t2."),
    (
        "os.execute",
        "os.execute([command]) -> ok, how, code",
        "Runs a shell command and reports how it ended.",
    ),
    (
        "os.exit",
        "os.exit([code [, close]])",
        "Disabled in the kernel: raises an error. Restart or shut down the kernel from the client instead.",
    ),
    ("os.getenv", "os.getenv(name) -> string|nil", "The value of an environment variable."),
    ("os.remove", "os.remove(filename) -> true|nil, err", "Deletes a file or empty directory."),
    ("os.rename", "os.rename(old, new) -> true|nil, err", "Renames a file or directory."),
    (
        "os.setlocale",
        "os.setlocale([locale [, category]]) -> string|nil",
        "Sets or queries the C locale.",
    ),
    (
        "os.time",
        "os.time([t]) -> integer",
        "The current time, or the time described by a date table, as a timestamp.",
    ),
    ("os.tmpname", "os.tmpname() -> string", "A name usable for a temporary file."),
    // coroutine
    (
        "coroutine.close",
        "coroutine.close(co) -> ok [, err]",
        "Closes a suspended or dead coroutine, closing its pending to-be-closed variables.",
    ),
    (
        "coroutine.create",
        "coroutine.create(f) -> thread",
        "A new coroutine that will run f when resumed.",
    ),
    (
        "coroutine.isyieldable",
        "coroutine.isyieldable([co]) -> boolean",
        "Whether the coroutine (default: the running one) can yield.",
    ),
    (
        "coroutine.resume",
        "coroutine.resume(co, ...) -> ok, ...",
        "Starts or continues a coroutine: true plus what it yields or returns, or false plus the error.",
    ),
    (
        "coroutine.running",
        "coroutine.running() -> thread, ismain",
        "The running coroutine and whether it is the main one.",
    ),
    (
        "coroutine.status",
        "coroutine.status(co) -> string",
        "\"running\", \"suspended\", \"normal\" or \"dead\".",
    ),
    (
        "coroutine.wrap",
        "coroutine.wrap(f) -> function",
        "A function that resumes a new coroutine running f on each call, re-raising its errors.",
    ),
    (
        "coroutine.yield",
        "coroutine.yield(...) -> ...",
        "Suspends the running coroutine; the values go to resume, and the next resume's arguments come back.",
    ),
    // utf8
    ("utf8.char", "utf8.char(...) -> string", "The UTF-8 encoding of the given code points."),
    ("utf8.charpattern", "utf8.charpattern", "A pattern matching exactly one UTF-8 character."),
    (
        "utf8.codes",
        "utf8.codes(s [, lax]) -> iterator",
        "Iterates over byte position and code point of each character.",
    ),
    (
        "utf8.codepoint",
        "utf8.codepoint(s [, i [, j [, lax]]]) -> integer, ...",
        "The code points of the characters starting between bytes i and j.",
    ),
    (
        "utf8.len",
        "utf8.len(s [, i [, j [, lax]]]) -> integer|nil, pos",
        "The number of characters in s, or nil and the position of the first invalid byte.",
    ),
    (
        "utf8.offset",
        "utf8.offset(s, n [, i]) -> integer",
        "The byte position where the n-th character (counted from i) starts.",
    ),
    // libraries themselves
    ("string", "string", "String functions; also the methods of every string value (s:upper())."),
    ("table", "table", "Functions for lists: insert, remove, sort, concat, move, pack, unpack."),
    ("math", "math", "Mathematical functions and constants."),
    (
        "io",
        "io",
        "Files and the standard streams; in the kernel the standard streams go to the client.",
    ),
    ("os", "os", "Time, environment and file-system helpers; os.exit is disabled."),
    ("coroutine", "coroutine", "Create and run coroutines."),
    ("utf8", "utf8", "Basic UTF-8 support."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_function_is_documented() {
        let lua = mlua::Lua::new();
        let g = lua.globals();
        let mut missing = Vec::new();
        for lib in ["string", "table", "math", "io", "os", "coroutine", "utf8", ""] {
            let t: mlua::Table = if lib.is_empty() { g.clone() } else { g.get(lib).unwrap() };
            for (k, v) in t.pairs::<String, mlua::Value>().map(Result::unwrap) {
                let name = if lib.is_empty() { k.clone() } else { format!("{lib}.{k}") };
                if lib.is_empty() && !matches!(v, mlua::Value::Function(_)) {
                    continue;
                }
                if find(&name).is_none() {
                    missing.push(name);
                }
            }
        }
        assert!(missing.is_empty(), "no doc for {missing:?}");
    }
}

-- llmspell demo: each "-- %%" line starts a new cell, run in order by one kernel.

-- %% Output goes to the client as stream messages.
print("Hello from Lua " .. _VERSION .. " inside llmspell")
io.write("io.write works too\n")

-- %% A bare expression is the cell's result, rendered like the Lua REPL.
local words = {}
for w in ("the quick brown fox jumps over the lazy dog"):gmatch("%a+") do
  words[#words + 1] = w
end
table.sort(words)
return words

-- %% State lives on between cells.
counts = {}
for _, w in ipairs({"a", "b", "a", "c", "a"}) do
  counts[w] = (counts[w] or 0) + 1
end
counts

-- %% JSON is built in.
local doc = JSON.encode({name = "llmspell", tools = 6, tags = {"lua", "jupyter"}})
print(doc)
JSON.decode(doc).tags[2]

-- %% Rich output: an HTML table with a plain-text fallback.
display({
  ["text/html"] = "<table><tr><th>word</th><th>count</th></tr><tr><td>a</td><td>3</td></tr></table>",
  ["text/plain"] = "a = 3",
})

-- %% Coroutines and closures behave as in any Lua 5.4.
local gen = coroutine.wrap(function()
  for i = 1, 3 do coroutine.yield(i * i) end
end)
gen() + gen() + gen()

-- %% Built-in tools: the same ones llmspell-tool and tool_request reach.
print(#Tool.list() .. " tools in " .. #Tool.categories() .. " categories")
print("sha256(hello) = " .. Tool.invoke("hash_calculator", {input = "hello"}).hash)
Tool.invoke("calculator", {expression = "sqrt(x) * 2", variables = {x = 16}}).result

-- %% A tool error is a table that says what went wrong and where.
local ok, err = pcall(Tool.invoke, "calculator", {expression = 12})
print(err.error_type .. ": " .. err.message)

-- %% State is saved in SQLite and outlives the kernel (same --id, same store).
State.save("demo", "runs", (State.load("demo", "runs") or 0) + 1)
State.save("demo", "last", {tools = #Tool.list(), at = os.date("!%Y-%m-%dT%H:%M:%SZ")})
State.list_keys("demo")

-- %% Errors come back with a traceback and the kernel carries on.
local ok, err = pcall(error, "handled inside the cell")
print("pcall caught:", err)
string.format("%d cells ran", 10)

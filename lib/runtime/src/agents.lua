-- The Lua half of the Provider, Agent and Workflow globals (see llm.rs for the primitives).
-- Loaded once per Lua state; returns the three global tables. Errors name the caller's line
-- (`error(msg, level)`), so a script sees `cell-1:3: agent a: provider x: HTTP 401: ...`.
local P, Tool, encode, write = ...
local error, type, ipairs, pairs, tostring, setmetatable, getmetatable, pcall, math_type =
    error, type, ipairs, pairs, tostring, setmetatable, getmetatable, pcall, math.type
local tool_invoke, tool_exists = Tool.invoke, Tool.exists
local fmt = string.format

local function check(cond, level, msg, ...)
  if not cond then error(fmt(msg, ...), level + 1) end
end

-- Provider -----------------------------------------------------------------------------------

local Provider = {}

-- Every configured provider: {name=, kind=, model=, base_url=, key_set=, key_required=}.
function Provider.list() return P.list() end

-- The provider an agent gets for `name` (nil: the default): {name=, kind=, model=}.
function Provider.get(name)
  local p, err = P.resolve(name)
  check(p, 2, "Provider.get: %s", err)
  return p
end

-- Agent --------------------------------------------------------------------------------------

local AgentBuilder = {}
AgentBuilder.__index = AgentBuilder
AgentBuilder.__name = "AgentBuilder"

local Agent = {}
local AgentObject = {}
AgentObject.__index = AgentObject
AgentObject.__name = "Agent"
AgentObject.__tostring = function(a) return "Agent(" .. a._name .. ")" end

local DEFAULT_MAX_ROUNDS = 5

function Agent.builder()
  return setmetatable({ _spec = {}, _tools = {}, _max_rounds = DEFAULT_MAX_ROUNDS }, AgentBuilder)
end

local function string_setter(field, method)
  return function(self, v)
    check(type(v) == "string" and v ~= "", 2, "Agent.builder():%s: expects a non-empty string, got %s",
      method, type(v))
    self._spec[field] = v
    return self
  end
end

AgentBuilder.provider = string_setter("provider", "provider")
AgentBuilder.model = string_setter("model", "model")
AgentBuilder.system_prompt = string_setter("system_prompt", "system_prompt")

function AgentBuilder:name(v)
  check(type(v) == "string" and v ~= "", 2, "Agent.builder():name: expects a non-empty string, got %s", type(v))
  self._name = v
  return self
end

-- Only "llm" agents exist; accepted for scripts written against the seed's API.
function AgentBuilder:type(v)
  check(v == "llm", 2, "Agent.builder():type: only \"llm\" agents exist, got %s", tostring(v))
  return self
end

function AgentBuilder:temperature(v)
  check(type(v) == "number" and v >= 0 and v <= 2, 2,
    "Agent.builder():temperature: expects a number from 0 to 2, got %s", tostring(v))
  self._spec.temperature = v
  return self
end

function AgentBuilder:max_tokens(v)
  check(math_type(v) == "integer" and v > 0, 2,
    "Agent.builder():max_tokens: expects a positive integer, got %s", tostring(v))
  self._spec.max_tokens = v
  return self
end

function AgentBuilder:allow_tool(name)
  check(type(name) == "string", 2, "Agent.builder():allow_tool: expects a tool name, got %s", type(name))
  check(tool_exists(name), 2, "Agent.builder():allow_tool: no tool %q (Tool.list() lists them)", name)
  self._tools[#self._tools + 1] = name
  return self
end

function AgentBuilder:max_rounds(n)
  check(math_type(n) == "integer" and n >= 1 and n <= 50, 2,
    "Agent.builder():max_rounds: expects an integer from 1 to 50, got %s", tostring(n))
  self._max_rounds = n
  return self
end

function AgentBuilder:build()
  local p, err = P.resolve(self._spec.provider)
  check(p, 2, "Agent.builder():build: %s", err)
  local spec, allowed = {}, {}
  for k, v in pairs(self._spec) do spec[k] = v end
  spec.provider = p.name
  if #self._tools > 0 then
    spec.tools = {}
    for i, t in ipairs(self._tools) do spec.tools[i] = t; allowed[t] = true end
  end
  return setmetatable({
    _name = self._name or "agent",
    _spec = spec,
    _allowed = allowed,
    _max_rounds = self._max_rounds,
    _history = {},
    _usage = { prompt_tokens = 0, completion_tokens = 0, total_tokens = 0, requests = 0 },
  }, AgentObject)
end

local function input_text(input, what, level)
  if type(input) == "string" then return input end
  if type(input) == "table" and type(input.text) == "string" then return input.text end
  error(fmt("%s: the input must be {text = \"...\"} or a string, got %s", what, type(input)), level + 1)
end

-- One turn: the user's text, then rounds of tool calls until the model answers in text.
local function run(self, input, on_chunk, what, level)
  local text = input_text(input, what, level + 1)
  local msgs = {}
  for i, m in ipairs(self._history) do msgs[i] = m end
  msgs[#msgs + 1] = { role = "user", content = text }
  local calls = {}
  local usage = { prompt_tokens = 0, completion_tokens = 0, total_tokens = 0 }
  local rounds, r = 0, nil
  while true do
    local err
    r, err = P.chat(self._spec, msgs, on_chunk)
    check(r, level + 1, "agent %s: %s", self._name, err)
    for k in pairs(usage) do usage[k] = usage[k] + (r.usage[k] or 0) end
    self._usage.requests = self._usage.requests + 1
    msgs[#msgs + 1] = { role = "assistant", content = r.text, tool_calls = r.tool_calls }
    if #r.tool_calls == 0 then break end
    rounds = rounds + 1
    check(rounds <= self._max_rounds, level + 1,
      "agent %s: the model still asks for tools after %d rounds (raise it with :max_rounds(n))",
      self._name, self._max_rounds)
    for _, c in ipairs(r.tool_calls) do
      local record = { id = c.id, name = c.name, arguments = c.arguments }
      local content
      if not self._allowed[c.name] then
        record.error = fmt("tool %s is not allowed for this agent", c.name)
      else
        local ok, res = pcall(tool_invoke, c.name, c.arguments)
        if ok then
          record.result = res
          content = encode(res)
        else
          record.error = tostring(res)
        end
      end
      calls[#calls + 1] = record
      msgs[#msgs + 1] = { role = "tool", tool_call_id = c.id, name = c.name,
                          content = content or ("error: " .. record.error) }
    end
  end
  self._history = msgs
  for k in pairs(usage) do self._usage[k] = self._usage[k] + usage[k] end
  return { text = r.text, tool_calls = calls, usage = usage, model = r.model,
           finish_reason = r.finish_reason }
end

-- (Not tail calls: the error levels count this frame.)
function AgentObject:execute(input)
  local r = run(self, input, nil, "agent:execute", 2)
  return r
end
AgentObject.invoke = AgentObject.execute

function AgentObject:stream(input, fn)
  check(fn == nil or type(fn) == "function", 2, "agent:stream: the callback must be a function, got %s", type(fn))
  local r = run(self, input, fn or function(chunk) write(chunk) end, "agent:stream", 2)
  return r
end

-- The conversation so far: {role=, content=, tool_calls=?, tool_call_id=?}, oldest first.
function AgentObject:history()
  local out = {}
  for i, m in ipairs(self._history) do out[i] = m end
  return out
end

function AgentObject:reset()
  self._history = {}
end

-- Tokens used by every request this agent made: prompt, completion, total, requests.
function AgentObject:usage()
  local out = {}
  for k, v in pairs(self._usage) do out[k] = v end
  return out
end

-- Workflow -----------------------------------------------------------------------------------

local Workflow = {}
local WorkflowBuilder = {}
WorkflowBuilder.__index = WorkflowBuilder
WorkflowBuilder.__name = "WorkflowBuilder"
local WorkflowObject = {}
WorkflowObject.__index = WorkflowObject
WorkflowObject.__name = "Workflow"
WorkflowObject.__tostring = function(w) return "Workflow(" .. w._name .. ")" end

local MAX_ITERATIONS_CAP = 10000

function Workflow.builder()
  return setmetatable({ _kind = "sequential", _steps = {}, _else = {}, _max_iterations = 10 },
    WorkflowBuilder)
end

function WorkflowBuilder:name(v)
  check(type(v) == "string" and v ~= "", 2, "Workflow.builder():name: expects a non-empty string")
  self._name = v
  return self
end

for _, kind in ipairs({ "sequential", "parallel", "conditional", "loop" }) do
  WorkflowBuilder[kind] = function(self) self._kind = kind; return self end
end

local function is_agent(v) return getmetatable(v) == AgentObject end
local function is_workflow(v) return getmetatable(v) == WorkflowObject end

-- A step: {name=, tool=, params=} | {name=, agent=, prompt=?} | {name=, fn=} | {name=, workflow=}
local function checked_step(spec, n, level)
  check(type(spec) == "table", level + 1, "Workflow step %d: expects a table, got %s", n, type(spec))
  local kinds = 0
  for _, k in ipairs({ "tool", "agent", "fn", "workflow" }) do
    if spec[k] ~= nil then kinds = kinds + 1 end
  end
  check(kinds == 1, level + 1, "Workflow step %d: give exactly one of tool=, agent=, fn=, workflow=", n)
  check(spec.tool == nil or tool_exists(spec.tool), level + 1,
    "Workflow step %d: no tool %q (Tool.list() lists them)", n, tostring(spec.tool))
  check(spec.agent == nil or is_agent(spec.agent), level + 1,
    "Workflow step %d: agent= expects an agent from Agent.builder():build()", n)
  check(spec.workflow == nil or is_workflow(spec.workflow), level + 1,
    "Workflow step %d: workflow= expects a workflow from Workflow.builder():build()", n)
  check(spec.fn == nil or type(spec.fn) == "function", level + 1, "Workflow step %d: fn= expects a function", n)
  check(spec.params == nil or type(spec.params) == "table" or type(spec.params) == "function", level + 1,
    "Workflow step %d: params= expects a table or a function(input, outputs)", n)
  local step = {}
  for k, v in pairs(spec) do step[k] = v end
  step.name = spec.name or ("step" .. n)
  return step
end

function WorkflowBuilder:step(spec)
  self._steps[#self._steps + 1] = checked_step(spec, #self._steps + 1, 2)
  return self
end
WorkflowBuilder.then_step = WorkflowBuilder.step

function WorkflowBuilder:else_step(spec)
  local step = checked_step(spec, #self._steps + #self._else + 1, 2)
  self._else[#self._else + 1] = step
  return self
end

function WorkflowBuilder:condition(fn)
  check(type(fn) == "function", 2, "Workflow.builder():condition: expects a function(input)")
  self._condition = fn
  return self
end

function WorkflowBuilder:max_iterations(n)
  check(math_type(n) == "integer" and n >= 1 and n <= MAX_ITERATIONS_CAP, 2,
    "Workflow.builder():max_iterations: expects an integer from 1 to %d", MAX_ITERATIONS_CAP)
  self._max_iterations = n
  return self
end

function WorkflowBuilder:stop_when(fn)
  check(type(fn) == "function", 2, "Workflow.builder():stop_when: expects a function(output, iteration)")
  self._stop_when = fn
  return self
end

function WorkflowBuilder:build()
  local name = self._name or (self._kind .. " workflow")
  check(#self._steps > 0, 2, "workflow %s: add at least one step with :step{...}", name)
  check(self._kind ~= "conditional" or self._condition, 2,
    "workflow %s: a conditional workflow needs :condition(function(input) ... end)", name)
  check(self._kind == "conditional" or #self._else == 0, 2,
    "workflow %s: :else_step belongs to conditional workflows", name)
  return setmetatable({ _name = name, _kind = self._kind, _steps = self._steps, _else = self._else,
    _condition = self._condition, _max_iterations = self._max_iterations,
    _stop_when = self._stop_when }, WorkflowObject)
end

local function agent_input(input)
  if type(input) == "string" or (type(input) == "table" and type(input.text) == "string") then
    return input
  end
  if type(input) == "table" then return encode(input) end
  return tostring(input)
end

local function tool_params(step, input, outputs)
  if type(step.params) == "function" then return step.params(input, outputs) end
  if step.params ~= nil then return step.params end
  if type(input) == "table" then return input end
  return {}
end

local function fail(wf, step, err)
  if type(err) == "string" or (type(err) == "table" and getmetatable(err)) then
    error(fmt("workflow %s: step %s: %s", wf._name, step.name, tostring(err)), 0)
  end
  error(err, 0) -- interrupts and other error objects pass unchanged
end

local function run_step(wf, step, input, outputs)
  local ok, out = pcall(function()
    if step.fn then return step.fn(input, outputs) end
    if step.workflow then return step.workflow:execute(input).output end
    if step.agent then
      local prompt = step.prompt and step.prompt(input, outputs) or agent_input(input)
      return step.agent:execute(prompt).text
    end
    return tool_invoke(step.tool, tool_params(step, input, outputs))
  end)
  if not ok then fail(wf, step, out) end
  return out
end

local function record(result, step, out, extra)
  result.outputs[step.name] = out
  local entry = { name = step.name, output = out }
  for k, v in pairs(extra or {}) do entry[k] = v end
  result.steps[#result.steps + 1] = entry
end

local function run_sequence(wf, steps, input, result, extra)
  local value = input
  for _, step in ipairs(steps) do
    value = run_step(wf, step, value, result.outputs)
    record(result, step, value, extra)
  end
  return value
end

local runners = {}

function runners.sequential(wf, input, result)
  result.output = run_sequence(wf, wf._steps, input, result)
end

-- Tool steps run at the same time on tool threads; the other steps then run in order on the
-- Lua thread. Every step gets the workflow's input; the output is a table of outputs by name.
function runners.parallel(wf, input, result)
  local jobs, tool_steps = {}, {}
  for _, step in ipairs(wf._steps) do
    if step.tool then
      local ok, params = pcall(tool_params, step, input, result.outputs)
      if not ok then fail(wf, step, params) end
      jobs[#jobs + 1] = { name = step.tool, params = params }
      tool_steps[#tool_steps + 1] = step
    end
  end
  if #jobs > 0 then
    local outs, err = P.parallel(jobs)
    if not outs then error(fmt("workflow %s: %s", wf._name, err), 0) end
    for i, step in ipairs(tool_steps) do
      if not outs[i].ok then fail(wf, step, outs[i].error) end
      record(result, step, outs[i].result)
    end
  end
  for _, step in ipairs(wf._steps) do
    if not step.tool then record(result, step, run_step(wf, step, input, result.outputs)) end
  end
  local by_name = {}
  for k, v in pairs(result.outputs) do by_name[k] = v end
  result.output = by_name
end

function runners.conditional(wf, input, result)
  local ok, yes = pcall(wf._condition, input)
  if not ok then fail(wf, { name = "condition" }, yes) end
  result.branch = yes and "then" or "else"
  result.output = run_sequence(wf, yes and wf._steps or wf._else, input, result)
end

-- The steps run in order, again and again, each iteration's output the next one's input,
-- until stop_when(output, iteration) is true or max_iterations is reached.
function runners.loop(wf, input, result)
  local value = input
  for i = 1, wf._max_iterations do
    value = run_sequence(wf, wf._steps, value, result, { iteration = i })
    result.iterations = i
    if wf._stop_when then
      local ok, stop = pcall(wf._stop_when, value, i)
      if not ok then fail(wf, { name = "stop_when" }, stop) end
      if stop then break end
    end
  end
  result.output = value
end

-- {output = the last value, outputs = {[step] = output}, steps = {{name=, output=}, ...},
--  branch = "then"|"else" (conditional), iterations = n (loop)}
function WorkflowObject:execute(input)
  local result = { outputs = {}, steps = {} }
  runners[self._kind](self, input, result)
  return result
end
WorkflowObject.run = WorkflowObject.execute

return Provider, Agent, Workflow

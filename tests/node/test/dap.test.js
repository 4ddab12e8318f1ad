// llmspell-dap driven by @vscode/debugadapter-testsupport's DebugClient, as VS Code drives it:
// the real adapter binary on stdio, the real kernel it starts (or a daemon kernel), real Lua.
// Each test gets its own $LLMSPELL_HOME. Timeouts are generous (the machine is slow and shared):
// they only turn hangs into failures.
'use strict';

const assert = require('assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

const BIN = process.env.LLMSPELL_BIN_DIR || path.resolve(__dirname, '../../../target/debug');
const DAP = path.join(BIN, 'llmspell-dap');
const KERNELD = path.join(BIN, 'llmspell-kerneld');
const FIXTURES = path.resolve(__dirname, '../fixtures');
const WAIT = 20000;

const fixture = (name) => path.join(FIXTURES, name);

for (const exe of [DAP, KERNELD]) {
  if (!fs.existsSync(exe)) {
    throw new Error(`${exe} is missing: build it first (cargo build -p llmspell-dap -p llmspell-kerneld)`);
  }
}

/** A DebugClient on a fresh llmspell-dap in a temp $LLMSPELL_HOME. */
async function client(home, extraArgs) {
  const dc = new DebugClient(DAP, '--stdio', 'llmspell', {
    env: Object.assign({}, process.env, { LLMSPELL_HOME: home, LLMSPELL_KERNEL: '' }),
  }, !!process.env.DAP_STDERR);
  dc.defaultTimeout = WAIT;
  await dc.start();
  return dc;
}

/** Disconnects (unless the test already did: the adapter has then exited), then ends it. */
async function finish(dc) {
  if (dc.disconnected) {
    dc.stopAdapter();
    return;
  }
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, 10000); });
  await Promise.race([dc.stop(), late]);
  clearTimeout(timer);
  dc.stopAdapter();
}

/** initialize, launch, breakpoints from `configure`, configurationDone: what VS Code does. */
async function launch(dc, args, configure) {
  const initialized = dc.waitForEvent('initialized');
  await dc.initializeRequest({ adapterID: 'llmspell', linesStartAt1: true, columnsStartAt1: true, pathFormat: 'path' });
  await dc.launchRequest(args);
  await initialized;
  if (configure) await configure();
  await dc.configurationDoneRequest();
}

/** The top frame of thread 1 with a source, and its variables by scope name. */
async function topFrame(dc) {
  const st = await dc.stackTraceRequest({ threadId: 1 });
  const frame = st.body.stackFrames.find((f) => f.source && f.source.path);
  assert.ok(frame, `no frame with a source: ${JSON.stringify(st.body)}`);
  return frame;
}

async function scopes(dc, frameId) {
  const res = await dc.scopesRequest({ frameId });
  const byName = {};
  for (const s of res.body.scopes) {
    const vars = await dc.variablesRequest({ variablesReference: s.variablesReference });
    byName[s.name] = { scope: s, vars: vars.body.variables };
  }
  return byName;
}

const variable = (vars, name) => {
  const v = vars.find((x) => x.name === name);
  assert.ok(v, `no variable ${name} in ${JSON.stringify(vars.map((x) => x.name))}`);
  return v;
};

async function evaluate(dc, expression, frameId, context = 'watch') {
  const res = await dc.evaluateRequest({ expression, frameId, context });
  return res.body.result;
}

describe('llmspell-dap', function () {
  let home;
  let dc;
  const daemons = [];

  beforeEach(async function () {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'llmspell-dap-test-'));
    dc = await client(home);
  });

  afterEach(async function () {
    try {
      await finish(dc);
    } finally {
      for (const id of daemons.splice(0)) {
        try {
          execFileSync(KERNELD, ['stop', id, '--timeout', '3'], { env: Object.assign({}, process.env, { LLMSPELL_HOME: home }), stdio: 'ignore' });
        } catch (e) { /* already gone */ }
      }
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  function daemon(id) {
    execFileSync(KERNELD, ['start', '--daemon', '--id', id], { env: Object.assign({}, process.env, { LLMSPELL_HOME: home }), stdio: 'ignore' });
    daemons.push(id);
  }

  it('runs a program to the end: output, exited 0, terminated', async function () {
    const stopped = [];
    dc.on('stopped', (e) => stopped.push(e));
    const exited = dc.waitForEvent('exited');
    const terminated = dc.waitForEvent('terminated');
    const output = dc.assertOutput('stdout', 'total\t15\n');
    await launch(dc, { program: fixture('sum.lua') });
    await output;
    assert.strictEqual((await exited).body.exitCode, 0);
    await terminated;
    assert.deepStrictEqual(stopped, []);
  });

  it('shows program output and a runtime error on stderr with exit code 1', async function () {
    let stderr = '';
    dc.on('output', (e) => { if (e.body.category === 'stderr') stderr += e.body.output; });
    const exited = dc.waitForEvent('exited');
    const stdout = dc.assertOutput('stdout', 'caught\ttrue\n');
    await launch(dc, { program: fixture('errors.lua') });
    await stdout;
    assert.strictEqual((await exited).body.exitCode, 1);
    assert.match(stderr, /bad 2/);
  });

  it('stops at a line breakpoint under the program\'s absolute path', async function () {
    await dc.hitBreakpoint({ program: fixture('sum.lua') }, { path: fixture('sum.lua'), line: 2 });
    const frame = await topFrame(dc);
    assert.strictEqual(await evaluate(dc, 'a + b', frame.id), '1');
  });

  it('stops on entry with stopOnEntry', async function () {
    const stoppedThere = dc.assertStoppedLocation('entry', { path: fixture('vars.lua'), line: 1 });
    await launch(dc, { program: fixture('vars.lua'), stopOnEntry: true });
    await stoppedThere;
    const output = dc.assertOutput('stdout', 'counter\t15\n');
    await dc.continueRequest({ threadId: 1 });
    await output;
  });

  it('moves a breakpoint on a comment or blank line to the next executable line, and leaves one past the end unverified', async function () {
    const file = fixture('comments.lua');
    const stoppedThere = dc.assertStoppedLocation('breakpoint', { path: file, line: 5 });
    await launch(dc, { program: file }, async () => {
      const res = await dc.setBreakpointsRequest({ source: { path: file }, breakpoints: [{ line: 3 }, { line: 40 }] });
      const [moved, past] = res.body.breakpoints;
      assert.strictEqual(moved.verified, true);
      assert.strictEqual(moved.line, 5, JSON.stringify(moved));
      assert.strictEqual(past.verified, false, JSON.stringify(past));
      assert.ok(past.message, 'an unverified breakpoint says why');
    });
    await stoppedThere;
    assert.strictEqual(await evaluate(dc, 'x', (await topFrame(dc)).id), '1');
  });

  it('stops at a conditional breakpoint only when the condition holds', async function () {
    const stoppedThere = dc.assertStoppedLocation('breakpoint', { path: fixture('sum.lua'), line: 2 });
    await launch(dc, { program: fixture('sum.lua') }, () =>
      dc.setBreakpointsRequest({ source: { path: fixture('sum.lua') }, breakpoints: [{ line: 2, condition: 'b == 3' }] }));
    await stoppedThere;
    const frame = await topFrame(dc);
    assert.strictEqual(await evaluate(dc, 'b', frame.id), '3');
    assert.strictEqual(await evaluate(dc, 'a', frame.id), '3');
  });

  it('stops at a hit-count breakpoint on the counted hit', async function () {
    const stoppedThere = dc.assertStoppedLocation('breakpoint', { line: 7 });
    await launch(dc, { program: fixture('sum.lua') }, () =>
      dc.setBreakpointsRequest({ source: { path: fixture('sum.lua') }, breakpoints: [{ line: 7, hitCondition: '== 4' }] }));
    await stoppedThere;
    const frame = await topFrame(dc);
    assert.strictEqual(await evaluate(dc, 'i', frame.id), '4');
    const terminated = dc.waitForEvent('terminated');
    await dc.continueRequest({ threadId: 1 });
    await terminated;
  });

  it('logs at a logpoint without stopping', async function () {
    const stopped = [];
    dc.on('stopped', (e) => stopped.push(e));
    const logged = dc.assertOutput('console', 'adding 0 and 1\nadding 1 and 2\n');
    const terminated = dc.waitForEvent('terminated');
    await launch(dc, { program: fixture('sum.lua') }, () =>
      dc.setBreakpointsRequest({ source: { path: fixture('sum.lua') }, breakpoints: [{ line: 2, logMessage: 'adding {a} and {b}' }] }));
    await logged;
    await terminated;
    assert.deepStrictEqual(stopped, []);
  });

  it('stops at a function breakpoint', async function () {
    const stoppedThere = dc.assertStoppedLocation('function breakpoint', { path: fixture('steps.lua'), line: 2 });
    await launch(dc, { program: fixture('steps.lua') }, async () => {
      const res = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'inner' }] });
      assert.strictEqual(res.body.breakpoints[0].verified, true);
    });
    await stoppedThere;
    const frame = await topFrame(dc);
    assert.strictEqual(await evaluate(dc, 'n', frame.id), '10');
  });

  it('stops on every error with the "all" exception filter', async function () {
    const stopping = dc.waitForEvent('stopped');
    await launch(dc, { program: fixture('errors.lua') }, () =>
      dc.setExceptionBreakpointsRequest({ filters: ['all'] }));
    let ev = await stopping;
    assert.strictEqual(ev.body.reason, 'exception');
    assert.strictEqual(await evaluate(dc, 'x', (await topFrame(dc)).id), '1', 'the pcall-ed error first');
    const again = dc.waitForEvent('stopped');
    await dc.continueRequest({ threadId: 1 });
    ev = await again;
    assert.strictEqual(ev.body.reason, 'exception');
    assert.strictEqual(await evaluate(dc, 'x', (await topFrame(dc)).id), '2');
  });

  it('stops only on an uncaught error with the "uncaught" exception filter', async function () {
    const stopping = dc.waitForEvent('stopped');
    await launch(dc, { program: fixture('errors.lua') }, () =>
      dc.setExceptionBreakpointsRequest({ filters: ['uncaught'] }));
    const ev = await stopping;
    assert.strictEqual(ev.body.reason, 'exception');
    assert.strictEqual(await evaluate(dc, 'x', (await topFrame(dc)).id), '2', 'the pcall-ed error is caught');
    const exited = dc.waitForEvent('exited');
    await dc.continueRequest({ threadId: 1 });
    assert.strictEqual((await exited).body.exitCode, 1);
  });

  it('steps in, over and out', async function () {
    const steps = fixture('steps.lua');
    await dc.hitBreakpoint({ program: steps }, { path: steps, line: 6 });
    await Promise.all([dc.stepInRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { path: steps, line: 2 })]);
    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { path: steps, line: 3 })]);
    await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { path: steps, line: 7 })]);
    assert.strictEqual(await evaluate(dc, 'r', (await topFrame(dc)).id), '20');
    await Promise.all([dc.nextRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { path: steps, line: 8 })]);
    // Over a call: from line 10 to 11 without stopping inside outer/inner.
    const [, st] = await Promise.all([dc.stepOutRequest({ threadId: 1 }), dc.assertStoppedLocation('step', { path: steps })]);
    const line = st.body.stackFrames[0].line;
    assert.ok(line === 10 || line === 11, `stepOut of outer lands in the main chunk, got ${line}`);
    const output = dc.assertOutput('stdout', 'result\t21\n');
    await dc.continueRequest({ threadId: 1 });
    await output;
  });

  it('shows locals and upvalues, expands nested tables, evaluates in the frame', async function () {
    const vars = fixture('vars.lua');
    await dc.hitBreakpoint({ program: vars }, { path: vars, line: 5 });
    const frame = await topFrame(dc);
    const s = await scopes(dc, frame.id);
    assert.deepStrictEqual(Object.keys(s).slice(0, 2), ['Locals', 'Upvalues']);
    assert.strictEqual(variable(s.Locals.vars, 'step').value, '5');
    assert.strictEqual(variable(s.Locals.vars, 'before').value, '10');
    assert.strictEqual(variable(s.Upvalues.vars, 'counter').value, '10');
    const config = variable(s.Upvalues.vars, 'config');
    assert.ok(config.variablesReference > 0, 'a table is expandable');
    const configVars = (await dc.variablesRequest({ variablesReference: config.variablesReference })).body.variables;
    assert.match(variable(configVars, 'name').value, /demo/);
    const nested = variable(configVars, 'nested');
    const nestedVars = (await dc.variablesRequest({ variablesReference: nested.variablesReference })).body.variables;
    assert.strictEqual(variable(nestedVars, 'depth').value, '2');
    const list = variable(nestedVars, 'list');
    const listVars = (await dc.variablesRequest({ variablesReference: list.variablesReference })).body.variables;
    assert.deepStrictEqual(listVars.map((v) => v.value).slice(0, 3), ['1', '2', '3']);
    assert.strictEqual(await evaluate(dc, 'before + step', frame.id), '15');
    assert.strictEqual(await evaluate(dc, 'config.nested.depth * 10', frame.id, 'repl'), '20');
    assert.strictEqual(await evaluate(dc, 'counter', frame.id, 'hover'), '10');
  });

  it('setVariable changes the running program', async function () {
    const vars = fixture('vars.lua');
    await dc.hitBreakpoint({ program: vars }, { path: vars, line: 5 });
    const frame = await topFrame(dc);
    const s = await scopes(dc, frame.id);
    const res = await dc.setVariableRequest({ variablesReference: s.Locals.scope.variablesReference, name: 'step', value: '7' });
    assert.strictEqual(res.body.value, '7');
    const output = dc.assertOutput('stdout', 'counter\t17\n');
    await dc.continueRequest({ threadId: 1 });
    await output;
  });

  it('pauses an infinite loop', async function () {
    await launch(dc, { program: fixture('loop.lua') });
    await new Promise((r) => setTimeout(r, 200));
    const stopped = dc.waitForEvent('stopped');
    await dc.pauseRequest({ threadId: 1 });
    assert.strictEqual((await stopped).body.reason, 'pause');
    const frame = await topFrame(dc);
    assert.ok(frame.line >= 2 && frame.line <= 4, `paused inside the loop, got line ${frame.line}`);
    assert.strictEqual(await evaluate(dc, 'n > 0', frame.id), 'true');
  });

  it('attaches to a running kernel, stops code run from elsewhere, and disconnect leaves the kernel usable', async function () {
    daemon('dbg');
    const shared = fixture('shared.lua');
    // This client attaches; a second one runs the file on the same kernel without debugging,
    // as a notebook would run a cell.
    const initialized = dc.waitForEvent('initialized');
    await dc.initializeRequest({ adapterID: 'llmspell' });
    await dc.attachRequest({ kernel: 'dbg' });
    await initialized;
    await dc.setBreakpointsRequest({ source: { path: shared }, breakpoints: [{ line: 3 }] });
    await dc.configurationDoneRequest();

    // The attached session sees the breakpoint hit, and the output, of code run elsewhere.
    const runner = await client(home);
    try {
      const runnerDone = runner.waitForEvent('terminated');
      const stopped = dc.assertStoppedLocation('breakpoint', { path: shared, line: 3 });
      const seenByAttached = dc.assertOutput('stdout', 'hi\t1\n');
      await launch(runner, { program: shared, kernel: 'dbg', noDebug: true });
      await stopped;
      assert.strictEqual(await evaluate(dc, 'greeting', (await topFrame(dc)).id), '"hi"');
      await dc.continueRequest({ threadId: 1 });
      await seenByAttached;
      await runnerDone;
      await runner.disconnectRequest({});
    } finally {
      runner.stopAdapter();
    }
    // Stopped again, the attached session disconnects: the program resumes and finishes.
    const second = await client(home);
    try {
      const secondOut = second.assertOutput('stdout', 'hi\t2\n');
      const secondDone = second.waitForEvent('terminated');
      const stopped = dc.assertStoppedLocation('breakpoint', { path: shared, line: 3 });
      await launch(second, { program: shared, kernel: 'dbg', noDebug: true });
      await stopped;
      await dc.disconnectRequest({});
      dc.disconnected = true;
      await secondOut;
      await secondDone;
      await second.disconnectRequest({});
    } finally {
      second.stopAdapter();
    }
    // The kernel lives on, keeps its globals, and no breakpoint is left behind.
    const again = await client(home);
    try {
      const stopped = [];
      again.on('stopped', (e) => stopped.push(e));
      const out = again.assertOutput('stdout', 'hi\t3\n');
      const done = again.waitForEvent('terminated');
      await launch(again, { program: shared, kernel: 'dbg' });
      await out;
      await done;
      assert.deepStrictEqual(stopped, []);
    } finally {
      await finish(again);
    }
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, isSluiceError } from '../errors.ts';
import { onShutdownSignal } from './shutdown.ts';

/** A fake `process` for signals, and a recorder in place of process.exit. */
function harness() {
  const source = new EventEmitter();
  const exits: number[] = [];
  const exited = Promise.withResolvers<number>();
  const exit = (code: number) => {
    exits.push(code);
    exited.resolve(code);
  };
  return { source, exits, exited: exited.promise, exit };
}

describe('onShutdownSignal', () => {
  it('runs the handler once on SIGTERM and exits 0 when it resolves', async () => {
    const { source, exits, exited, exit } = harness();
    let calls = 0;
    const handlerDone = Promise.withResolvers<void>();
    onShutdownSignal(
      async () => {
        calls++;
        await handlerDone.promise;
      },
      { source, exit, timeoutMs: 5000 },
    );
    source.emit('SIGTERM', 'SIGTERM');
    await sleep(10);
    assert.equal(calls, 1);
    assert.deepEqual(exits, [], 'no exit while the handler is still running');
    handlerDone.resolve();
    assert.equal(await exited, 0);
    assert.deepEqual(exits, [0]);
    assert.equal(source.listenerCount('SIGTERM'), 0, 'listeners are removed once done');
  });

  it('reacts to SIGINT as well', async () => {
    const { source, exited, exit } = harness();
    let called = false;
    onShutdownSignal(
      () => {
        called = true;
        return Promise.resolve();
      },
      { source, exit },
    );
    source.emit('SIGINT', 'SIGINT');
    assert.equal(await exited, 0);
    assert.equal(called, true);
  });

  it('exits 1 when the handler fails, even synchronously', async () => {
    const rejecting = harness();
    onShutdownSignal(() => Promise.reject(new Error('informer stop failed')), { source: rejecting.source, exit: rejecting.exit });
    rejecting.source.emit('SIGTERM', 'SIGTERM');
    assert.equal(await rejecting.exited, 1);

    const throwing = harness();
    onShutdownSignal(
      () => {
        throw new Error('sync bug');
      },
      { source: throwing.source, exit: throwing.exit },
    );
    throwing.source.emit('SIGTERM', 'SIGTERM');
    assert.equal(await throwing.exited, 1);
  });

  it('exits 1 at once on a second signal, and not again when the handler later finishes', async () => {
    const { source, exits, exit } = harness();
    const handlerDone = Promise.withResolvers<void>();
    onShutdownSignal(() => handlerDone.promise, { source, exit, timeoutMs: 5000 });
    source.emit('SIGTERM', 'SIGTERM');
    await sleep(5);
    source.emit('SIGINT', 'SIGINT');
    assert.deepEqual(exits, [1]);
    handlerDone.resolve();
    await sleep(5);
    assert.deepEqual(exits, [1]);
  });

  it('exits 1 when the handler outlives the hard timeout', async () => {
    const { source, exits, exited, exit } = harness();
    onShutdownSignal(() => new Promise<void>(() => {}), { source, exit, timeoutMs: 40 });
    const signalledAt = performance.now();
    source.emit('SIGTERM', 'SIGTERM');
    await sleep(10);
    assert.deepEqual(exits, [], 'not before the timeout');
    assert.equal(await exited, 1);
    assert.ok(performance.now() - signalledAt >= 30);
  });

  it('allows one registration per source until disposed', () => {
    const { source, exit } = harness();
    const dispose = onShutdownSignal(() => Promise.resolve(), { source, exit });
    assert.equal(source.listenerCount('SIGTERM'), 1);
    assert.throws(() => onShutdownSignal(() => Promise.resolve(), { source, exit }), (e: unknown) => isSluiceError(e, ErrorCodes.Internal));
    dispose();
    assert.equal(source.listenerCount('SIGTERM'), 0);
    assert.equal(source.listenerCount('SIGINT'), 0);
    onShutdownSignal(() => Promise.resolve(), { source, exit })();
  });
});

// The real thing: a child `node` process with a work queue whose reconcile is
// in flight when SIGTERM arrives.
const childScript = `
import { WorkQueue } from ${JSON.stringify(new URL('./queue.ts', import.meta.url).href)};
import { onShutdownSignal } from ${JSON.stringify(new URL('./shutdown.ts', import.meta.url).href)};

const mode = process.argv[2];
const print = (event) => console.log(JSON.stringify(event));
// Stands in for the informers' watch connections, which keep a controller alive.
setInterval(() => {}, 60_000);

const shutdownStarted = Promise.withResolvers();
const queue = new WorkQueue({ name: 'child' });
onShutdownSignal(async () => {
  print({ event: 'shutdown', inFlight: queue.inFlight() });
  shutdownStarted.resolve();
  const report = await queue.shutdown({ timeoutMs: 10_000 });
  queue.add('default/late');
  print({ event: 'drained', report, depth: queue.depth() });
}, { timeoutMs: 20_000 });

queue.start(async (key, signal) => {
  print({ event: 'started', key });
  if (mode === 'hang') await new Promise(() => {});
  // Still working when the signal comes, and for a while after it.
  await shutdownStarted.promise;
  await new Promise((resolve) => setTimeout(resolve, 200));
  print({ event: 'finished', key, aborted: signal.aborted });
});
queue.add('default/podinfo');
`;

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  events: Record<string, unknown>[];
  stderr: string;
}

/** Runs the child script; `onEvent` may send it signals as its output arrives. */
function runChild(scriptPath: string, mode: string, onEvent: (event: Record<string, unknown>, kill: (signal: NodeJS.Signals) => void) => void): Promise<ChildRun> {
  const child = spawn(process.execPath, [scriptPath, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as Record<string, unknown>;
    events.push(event);
    onEvent(event, (signal) => child.kill(signal));
  });
  // A broken shutdown must fail the test, not hang it.
  const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, events, stderr });
    });
  });
}

describe('onShutdownSignal in a real process', () => {
  let dir = '';
  let scriptPath = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-shutdown-'));
    scriptPath = join(dir, 'child.mts');
    await writeFile(scriptPath, childScript);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('on SIGTERM finishes the in-flight reconcile, refuses new work, and exits 0', async () => {
    const run = await runChild(scriptPath, 'finish', (event, kill) => {
      if (event.event === 'started') kill('SIGTERM');
    });
    assert.equal(run.code, 0, `child stderr: ${run.stderr}`);
    assert.equal(run.signal, null);
    assert.deepEqual(run.events, [
      { event: 'started', key: 'default/podinfo' },
      { event: 'shutdown', inFlight: 1 },
      { event: 'finished', key: 'default/podinfo', aborted: false },
      { event: 'drained', report: { timedOut: false, dropped: 0 }, depth: 0 },
    ]);
  });

  it('exits 1 on a second SIGTERM while the reconcile is stuck', async () => {
    const run = await runChild(scriptPath, 'hang', (event, kill) => {
      if (event.event === 'started') kill('SIGTERM');
      if (event.event === 'shutdown') kill('SIGTERM');
    });
    assert.equal(run.code, 1, `child stderr: ${run.stderr}`);
    assert.deepEqual(
      run.events.map((event) => event.event),
      ['started', 'shutdown'],
    );
  });
});

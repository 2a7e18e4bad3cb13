import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { startGitServer, type GitRepo, type GitServer } from '../../../test/env/git-server.ts';
import { CACHE_ENTRY_NAME, diskUsage, GitCache, KeyedMutex, planEviction, type CacheEntryState } from './cache.ts';
import { GitFetcher } from './fetch.ts';

const entry = (name: string, bytes: number, lastUsedMs: number, busy = false): CacheEntryState => ({ name, bytes, lastUsedMs, busy });
const names = (entries: readonly CacheEntryState[]): string[] => entries.map((e) => e.name);
const hex = (n: number): string => n.toString(16).padStart(32, '0');

function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deferred promise, to hold a lock as long as a test wants. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('planEviction (the LRU choice)', () => {
  test('under the bound, or unbounded (0): nothing is evicted', () => {
    const entries = [entry('a', 100, 1), entry('b', 100, 2)];
    assert.deepEqual(planEviction(entries, 200), { evict: [], totalBytes: 200, remainingBytes: 200 });
    assert.deepEqual(planEviction(entries, 0), { evict: [], totalBytes: 200, remainingBytes: 200 });
  });

  test('evicts least recently used first, only as many as needed', () => {
    const entries = [entry('new', 100, 30), entry('old', 100, 10), entry('mid', 100, 20), entry('newest', 100, 40)];
    const plan = planEviction(entries, 250);
    assert.deepEqual(names(plan.evict), ['old', 'mid']);
    assert.equal(plan.totalBytes, 400);
    assert.equal(plan.remainingBytes, 200);
    // One big old entry can be enough.
    assert.deepEqual(names(planEviction([entry('big', 1000, 1), entry('small', 10, 2), entry('x', 10, 3)], 500).evict), ['big']);
  });

  test('never evicts busy entries or the kept one; the remainder may stay over the bound', () => {
    const entries = [entry('locked', 500, 1, true), entry('kept', 500, 2), entry('free', 100, 3)];
    const plan = planEviction(entries, 200, 'kept');
    assert.deepEqual(names(plan.evict), ['free']);
    assert.equal(plan.remainingBytes, 1000);
  });

  test('ties in last use are broken by name, so the choice is stable', () => {
    assert.deepEqual(names(planEviction([entry('b', 10, 5), entry('a', 10, 5), entry('c', 10, 9)], 10).evict), ['a', 'b']);
  });
});

describe('diskUsage (size accounting)', () => {
  test('counts every file below the directory, at least its bytes; a missing directory is 0', async () => {
    const dir = tempDir('sluice-du-');
    try {
      const empty = await diskUsage(dir);
      fs.mkdirSync(path.join(dir, 'objects', 'pack'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'objects', 'pack', 'p.pack'), Buffer.alloc(200_000, 7));
      fs.writeFileSync(path.join(dir, 'config'), 'x');
      const full = await diskUsage(dir);
      assert.ok(full >= empty + 200_001, `${full} bytes for 200001 bytes of files`);
      // Allocated blocks, as du and the kubelet count them: a sparse file counts what it occupies.
      assert.ok(full < empty + 200_001 + 64 * 1024, `${full} bytes is far more than the files`);
      assert.equal(await diskUsage(path.join(dir, 'missing')), 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('KeyedMutex: busy while a task holds or waits for the key', async () => {
  const locks = new KeyedMutex();
  const gate = deferred();
  const order: string[] = [];
  const first = locks.run('k', async () => {
    order.push('first');
    await gate.promise;
  });
  const second = locks.run('k', () => {
    order.push('second');
    return Promise.resolve();
  });
  assert.equal(locks.busy('k'), true);
  assert.equal(locks.busy('other'), false);
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['first']);
  gate.resolve();
  await Promise.all([first, second]);
  assert.deepEqual(order, ['first', 'second']);
  assert.equal(locks.busy('k'), false);
});

describe('GitCache', () => {
  let dir: string;
  let clock = 0;
  const sizes = new Map<string, number>();
  const gitdir = (n: number): string => path.join(dir, `${hex(n)}-shallow`);
  /** Stands in for a fetch: creates the directory, and the size it will measure as. */
  const fill = (n: number, bytes: number) => () => {
    fs.mkdirSync(gitdir(n), { recursive: true });
    fs.writeFileSync(path.join(gitdir(n), 'config'), `[remote "origin"]\n\turl = https://git.example/${n}.git\n`);
    sizes.set(gitdir(n), bytes);
    return Promise.resolve(n);
  };
  const cache = (maxBytes: number): GitCache => new GitCache({
    dir, maxBytes, logger: pino({ level: 'silent' }),
    measure: (d) => Promise.resolve(fs.existsSync(d) ? sizes.get(d) ?? 1 : 0),
    now: () => clock,
  });

  before(() => {
    dir = tempDir('sluice-cache-test-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('after a fetch over the bound, least recently used entries go; never the one just fetched', async () => {
    const c = cache(250);
    clock = 1;
    await c.use(gitdir(1), 'u1', fill(1, 100));
    clock = 2;
    await c.use(gitdir(2), 'u2', fill(2, 100));
    clock = 3;
    // A poll of entry 1 keeps it recently used.
    c.touch(gitdir(1));
    clock = 4;
    await c.use(gitdir(3), 'u3', fill(3, 100));
    assert.ok(!fs.existsSync(gitdir(2)), 'the least recently used entry is removed');
    assert.ok(fs.existsSync(gitdir(1)) && fs.existsSync(gitdir(3)));
    assert.deepEqual((await c.entries()).map((e) => e.name), [`${hex(1)}-shallow`, `${hex(3)}-shallow`]);
    assert.deepEqual(await c.stats(), { entries: 2, totalBytes: 200, maxBytes: 250, evictions: 1 });

    // One entry bigger than the bound stays (it was just fetched); everything else goes.
    clock = 5;
    await c.use(gitdir(4), 'u4', fill(4, 1000));
    assert.deepEqual((await c.entries()).map((e) => e.name), [`${hex(4)}-shallow`]);
    // An evicted entry is simply fetched again.
    clock = 6;
    assert.equal(await c.use(gitdir(1), 'u1', fill(1, 100)), 1);
    assert.ok(fs.existsSync(gitdir(1)));
    assert.ok(!fs.existsSync(gitdir(4)));
  });

  test('an entry a fetch holds is never evicted; release waits until the fetch lets go', async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    const c = cache(150);
    clock = 10;
    const gate = deferred();
    await fill(1, 100)();
    const holding = c.use(gitdir(1), 'u1', () => gate.promise);
    await new Promise((resolve) => setImmediate(resolve));
    clock = 11;
    await c.use(gitdir(2), 'u2', fill(2, 100));
    assert.ok(fs.existsSync(gitdir(1)), 'entry 1 is locked: not evicted although it is older');

    assert.equal(await c.release(gitdir(1), 'test: deleted'), false, 'locked: removal deferred');
    assert.ok(fs.existsSync(gitdir(1)));
    gate.resolve();
    await holding;
    assert.ok(!fs.existsSync(gitdir(1)), 'removed once the fetch let go');
    assert.equal(await c.release(gitdir(2), 'test: deleted'), true);
    assert.ok(!fs.existsSync(gitdir(2)));
    assert.equal(await c.release(gitdir(3), 'never existed'), false);
    assert.deepEqual(await c.entries(), []);
  });

  test('a deferred removal is cancelled when another fetch asks for the entry', async () => {
    const c = cache(0);
    const gate = deferred();
    await fill(5, 10)();
    const holding = c.use(gitdir(5), 'u5', () => gate.promise);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(await c.release(gitdir(5), 'test'), false);
    const again = c.use(gitdir(5), 'u5', fill(5, 10));
    gate.resolve();
    await Promise.all([holding, again]);
    assert.ok(fs.existsSync(gitdir(5)));
  });

  test('entries already on disk are accounted for at start, oldest first by mtime; other files are left alone', async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    for (const n of [7, 8]) await fill(n, 100)();
    const old = new Date(Date.now() - 3_600_000);
    fs.utimesSync(gitdir(8), old, old);
    fs.mkdirSync(path.join(dir, 'not-a-cache-entry'));
    assert.ok(CACHE_ENTRY_NAME.test(`${hex(7)}-full`) && !CACHE_ENTRY_NAME.test('not-a-cache-entry'));
    const c = cache(250);
    assert.deepEqual((await c.entries()).map((e) => e.name), [`${hex(8)}-shallow`, `${hex(7)}-shallow`]);
    clock = Date.now();
    await c.use(gitdir(9), 'u9', fill(9, 100));
    assert.ok(!fs.existsSync(gitdir(8)), 'the oldest pre-existing entry is evicted');
    assert.ok(fs.existsSync(gitdir(7)) && fs.existsSync(path.join(dir, 'not-a-cache-entry')));
  });
});

describe('GitFetcher with a bounded cache (real git http-backend)', () => {
  let server: GitServer;
  let one: GitRepo;
  let two: GitRepo;
  let cacheDir: string;

  before(async () => {
    server = await startGitServer();
    one = await server.createRepo('one');
    two = await server.createRepo('two');
    await one.commitFiles({ 'a.yaml': 'kind: ConfigMap\n' }, 'one');
    await one.push();
    await two.commitFiles({ 'b.yaml': 'kind: Secret\n' }, 'two');
    await two.push();
    cacheDir = tempDir('sluice-bounded-cache-');
  });
  after(async () => {
    await server.close();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('fetching a second repository evicts the first; the first fetches again in full', async () => {
    const fetcher = new GitFetcher({ cacheDir, maxCacheBytes: 1 });
    const request = (url: string) => ({ url, maxSizeBytes: 1024 * 1024, timeoutMs: 20_000 });
    const first = await fetcher.fetch(request(one.url));
    assert.ok(fs.existsSync(fetcher.gitdirFor(one.url, 'shallow')));
    const measured = (await fetcher.cache.stats()).totalBytes;
    assert.equal(measured, await diskUsage(fetcher.gitdirFor(one.url, 'shallow')));

    await fetcher.fetch(request(two.url));
    assert.ok(!fs.existsSync(fetcher.gitdirFor(one.url, 'shallow')), 'the first repository was evicted');
    assert.ok(fs.existsSync(fetcher.gitdirFor(two.url, 'shallow')), 'the one just fetched stays, though over the bound');

    const again = await fetcher.fetch(request(one.url));
    assert.equal(again.downloaded, true);
    assert.equal(again.artifact.digest, first.artifact.digest);
    assert.ok(!fs.existsSync(fetcher.gitdirFor(two.url, 'shallow')));
    assert.equal((await fetcher.cache.stats()).evictions, 2);
  });

  test('unbounded (0): nothing is evicted', async () => {
    const dir = tempDir('sluice-unbounded-cache-');
    try {
      const fetcher = new GitFetcher({ cacheDir: dir, maxCacheBytes: 0 });
      for (const url of [one.url, two.url]) await fetcher.fetch({ url, maxSizeBytes: 1024 * 1024, timeoutMs: 20_000 });
      assert.ok(fs.existsSync(fetcher.gitdirFor(one.url, 'shallow')) && fs.existsSync(fetcher.gitdirFor(two.url, 'shallow')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createListingFs } from './listing-fs.ts';

const enoent = (error: unknown): boolean => (error as NodeJS.ErrnoException).code === 'ENOENT';

test('remembers listings, answers ENOENT from them, and forgets what its own writes change', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-listing-fs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'a'), 'A');
  const { promises: lfs } = createListingFs();

  assert.equal(String(await lfs.readFile(path.join(dir, 'a'), 'utf8')), 'A');
  await assert.rejects(lfs.readFile(path.join(dir, 'missing')), enoent);
  await assert.rejects(lfs.stat(path.join(dir, 'no', 'such', 'file')), enoent);
  assert.deepEqual((await lfs.readdir(dir)).sort(), ['a']);

  // A file created behind its back stays invisible for the lifetime of the object: that is the contract.
  fs.writeFileSync(path.join(dir, 'outside'), 'x');
  await assert.rejects(lfs.readFile(path.join(dir, 'outside')), enoent);

  // Its own writes are seen at once, including directories made on the way.
  await lfs.mkdir(path.join(dir, 'objects', 'pack'), { recursive: true });
  await lfs.writeFile(path.join(dir, 'objects', 'pack', 'p.pack'), 'pack');
  assert.equal(String(await lfs.readFile(path.join(dir, 'objects', 'pack', 'p.pack'), 'utf8')), 'pack');
  assert.deepEqual(await lfs.readdir(path.join(dir, 'objects', 'pack')), ['p.pack']);
  assert.ok((await lfs.stat(path.join(dir, 'objects'))).isDirectory());
  await lfs.unlink(path.join(dir, 'objects', 'pack', 'p.pack'));
  await assert.rejects(lfs.readFile(path.join(dir, 'objects', 'pack', 'p.pack')), enoent);
  await lfs.rm(path.join(dir, 'objects'), { recursive: true });
  await assert.rejects(lfs.readdir(path.join(dir, 'objects', 'pack')), enoent);
  await assert.rejects(lfs.stat(path.join(dir, 'objects')), enoent);
  // isomorphic-git's promise-API probe: readFile() without a path rejects.
  await assert.rejects((lfs.readFile as () => Promise<unknown>)(), TypeError);
});

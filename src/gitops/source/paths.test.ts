import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { assertSafeEntryName, isSafeRelativePath, refuseSymlink, unsafeNameReason } from './paths.ts';

test('tree entry names that could escape the root or alias .git are refused', () => {
  for (const name of ['', '.', '..', 'a/b', '..\\x', 'nul\0byte', '.git', '.GIT', '.git.', '.Git ']) {
    assert.notEqual(unsafeNameReason(name), undefined, JSON.stringify(name));
    assert.throws(() => assertSafeEntryName('apps', name), (error: unknown) =>
      error instanceof SluiceError && error.code === ErrorCodes.GitUnsafePath && error.message.includes('apps/'));
  }
  for (const name of ['deploy.yaml', '.gitkeep', '..hidden', 'git', '.github', 'a b', 'ü.yaml']) {
    assert.equal(unsafeNameReason(name), undefined, JSON.stringify(name));
    assertSafeEntryName('', name);
  }
});

test('symlinks are refused with a hint to ignore them', () => {
  assert.throws(() => refuseSymlink('apps/link'), (error: unknown) =>
    error instanceof SluiceError && error.code === ErrorCodes.GitUnsafePath
    && /"apps\/link".*symbolic link/.test(error.message) && /spec\.ignore/.test(error.hint ?? ''));
});

test('isSafeRelativePath accepts clean relative paths only', () => {
  for (const good of ['a.yaml', 'apps/prod/a.yaml', '.sourceignore']) assert.ok(isSafeRelativePath(good), good);
  for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a//b', 'a/./b', 'a\\b', 'a/.git/config', 'a/']) {
    assert.ok(!isSafeRelativePath(bad), bad);
  }
});

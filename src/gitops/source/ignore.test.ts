import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IgnoreRules } from './ignore.ts';

function rules(spec: string): IgnoreRules {
  return new IgnoreRules({ spec });
}

function check(r: IgnoreRules, cases: [path: string, isDir: boolean, ignored: boolean][]): void {
  for (const [path, isDir, ignored] of cases) {
    assert.equal(r.ignores(path, isDir), ignored, `${path}${isDir ? '/' : ''} should ${ignored ? '' : 'not '}be ignored`);
  }
}

test('a name without a slash matches at any depth; a slash anchors it', () => {
  check(rules('secret.yaml\n/root-only.yaml\ndocs/*.md\n'), [
    ['secret.yaml', false, true],
    ['apps/a/secret.yaml', false, true],
    ['root-only.yaml', false, true],
    ['apps/root-only.yaml', false, false],
    ['docs/readme.md', false, true],
    ['docs/deep/readme.md', false, false],
    ['apps/docs/readme.md', false, false],
  ]);
});

test('* and ? never cross a slash; ** spans directories', () => {
  check(rules('a/*.yaml\nb/**/c.yaml\n**/tmp\nlogs/**\nx?z\n'), [
    ['a/one.yaml', false, true],
    ['a/sub/one.yaml', false, false],
    ['b/c.yaml', false, true],
    ['b/1/2/c.yaml', false, true],
    ['tmp', false, true],
    ['deep/er/tmp', true, true],
    ['logs/1/2.txt', false, true],
    ['logs', true, false],
    ['xyz', false, true],
    ['x/z', false, false],
  ]);
});

test('a trailing slash matches directories only, and everything inside them', () => {
  check(rules('build/\n'), [
    ['build', true, true],
    ['build', false, false],
    ['build/app.yaml', false, true],
    ['src/build/app.yaml', false, true],
  ]);
});

test('negation re-includes, last match wins, but not inside an excluded directory', () => {
  check(rules('*.yaml\n!keep.yaml\nvendor/\n!vendor/keep.yaml\n'), [
    ['app.yaml', false, true],
    ['keep.yaml', false, false],
    ['dir/keep.yaml', false, false],
    ['vendor/keep.yaml', false, true],
  ]);
  check(rules('!keep.yaml\n*.yaml\n'), [['keep.yaml', false, true]]);
  // Excluding the contents (not the directory) lets a file be re-included.
  check(rules('/vendor/*\n!/vendor/keep.yaml\n'), [
    ['vendor/keep.yaml', false, false],
    ['vendor/drop.yaml', false, true],
  ]);
});

test('comments, blank lines, escapes and trailing spaces', () => {
  check(rules('# a comment\n\n\\#hash.yaml\n\\!bang.yaml\ntrailing.yaml   \nspace\\ \n'), [
    ['# a comment', false, false],
    ['#hash.yaml', false, true],
    ['!bang.yaml', false, true],
    ['trailing.yaml', false, true],
    ['space ', false, true],
    ['space', false, false],
  ]);
});

test('bracket expressions: sets, ranges, negation and POSIX classes', () => {
  check(rules('file[0-9].yaml\nv[!0-9]\n[[:upper:]]*.txt\nlit[].yaml\n'), [
    ['file1.yaml', false, true],
    ['filea.yaml', false, false],
    ['va', false, true],
    ['v1', false, false],
    ['README.txt', false, true],
    ['readme.txt', false, false],
    ['lit[].yaml', false, true],
  ]);
});

test('regex metacharacters in names are literal', () => {
  check(rules('a+b.(yaml)\n{x}\n'), [
    ['a+b.(yaml)', false, true],
    ['aab.(yaml)', false, false],
    ['{x}', false, true],
  ]);
});

test('default exclusions apply without spec.ignore; spec.ignore replaces them, VCS files always go', () => {
  const defaults = new IgnoreRules();
  check(defaults, [
    ['.git', true, true],
    ['.gitignore', false, true],
    ['logo.png', false, true],
    ['.github/workflows/ci.yaml', false, true],
    ['apps/.sops.yaml', false, true],
    ['apps/deploy.yaml', false, false],
  ]);
  const custom = rules('*.tmp\n');
  check(custom, [
    ['.gitmodules', false, true],
    ['logo.png', false, false],
    ['x.tmp', false, true],
  ]);
});

test('.sourceignore files are scoped to their directory; deeper files and spec.ignore override', () => {
  const r = new IgnoreRules({ spec: '!apps/prod/forced.yaml\n' });
  r.addSourceIgnore('*.md\n/local.yaml\n', '');
  r.addSourceIgnore('!README.md\n/local.yaml\nforced.yaml\n', 'apps/prod');
  check(r, [
    ['notes.md', false, true],
    ['apps/prod/README.md', false, false],
    ['apps/dev/README.md', false, true],
    ['local.yaml', false, true],
    ['apps/local.yaml', false, false],
    ['apps/prod/local.yaml', false, true],
    ['apps/prod/deep/local.yaml', false, false],
    ['apps/prod/forced.yaml', false, false],
    ['apps/prodx/local.yaml', false, false],
  ]);
});

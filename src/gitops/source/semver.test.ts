import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { SemverRange, compareVersions, formatVersion, highestMatchingTag, parseVersion, type SemVer } from './semver.ts';

function v(text: string): SemVer {
  const parsed = parseVersion(text);
  assert.ok(parsed, `${text} should parse`);
  return parsed;
}

test('parses tags as versions, leniently like Flux', () => {
  assert.equal(formatVersion(v('v1.2.3')), '1.2.3');
  assert.equal(formatVersion(v('1.2')), '1.2.0');
  assert.equal(formatVersion(v('3')), '3.0.0');
  assert.deepEqual(v('1.0.0-rc.1+build.5').prerelease, ['rc', 1]);
  assert.deepEqual(v('1.0.0-rc.1+build.5').build, ['build', '5']);
  for (const bad of ['', 'latest', 'v', '01.2.3', '1.2.3.4', '1.2.3-01', 'release-1.2.3', '1.2.3-', 'vv1.0.0']) {
    assert.equal(parseVersion(bad), undefined, bad);
  }
});

test('orders versions by semver 2.0.0 precedence', () => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0', '10.0.0'];
  for (let i = 0; i + 1 < ordered.length; i++) {
    const a = ordered[i] ?? '';
    const b = ordered[i + 1] ?? '';
    assert.ok(compareVersions(v(a), v(b)) < 0, `${a} < ${b}`);
    assert.ok(compareVersions(v(b), v(a)) > 0, `${b} > ${a}`);
  }
  assert.equal(compareVersions(v('1.0.0+a'), v('v1.0.0+b')), 0, 'build metadata does not count');
});

function matches(range: string, yes: string[], no: string[]): void {
  const r = SemverRange.parse(range);
  for (const text of yes) assert.ok(r.test(v(text)), `${text} should match "${range}"`);
  for (const text of no) assert.ok(!r.test(v(text)), `${text} should not match "${range}"`);
}

test('comparators, AND by space or comma, OR by ||', () => {
  matches('>=1.0.0 <2.0.0', ['1.0.0', '1.9.9'], ['0.9.9', '2.0.0']);
  matches('>= 1.2, < 3.0.0', ['1.2.0', '2.9.0'], ['1.1.9', '3.0.0']);
  matches('>1.2.3', ['1.2.4'], ['1.2.3']);
  matches('<=1.2.3', ['1.2.3', '0.1.0'], ['1.2.4']);
  matches('=1.2.3', ['1.2.3'], ['1.2.4']);
  matches('1.2.3', ['v1.2.3'], ['1.2.2']);
  matches('!=1.2.3', ['1.2.4'], ['1.2.3']);
  matches('<1.0.0 || >=3.0.0', ['0.5.0', '3.1.0'], ['1.0.0', '2.9.9']);
});

test('x-ranges and partial versions', () => {
  matches('*', ['0.0.1', '99.0.0'], []);
  matches('1.x', ['1.0.0', '1.99.3'], ['2.0.0', '0.9.0']);
  matches('1.2.*', ['1.2.0', '1.2.9'], ['1.3.0']);
  matches('1', ['1.5.0'], ['2.0.0']);
  matches('>1.2', ['1.3.0'], ['1.2.9']);
  matches('<=1.2', ['1.2.9'], ['1.3.0']);
  matches('>=1.2', ['1.2.0'], ['1.1.9']);
  matches('!=1.2', ['1.3.0', '1.1.0'], ['1.2.5']);
});

test('tilde and caret', () => {
  matches('~1.2.3', ['1.2.3', '1.2.9'], ['1.3.0', '1.2.2']);
  matches('~>1.2', ['1.2.0', '1.2.7'], ['1.3.0']);
  matches('~1', ['1.9.0'], ['2.0.0']);
  matches('^1.2.3', ['1.2.3', '1.9.0'], ['2.0.0', '1.2.2']);
  matches('^0.2.3', ['0.2.3', '0.2.9'], ['0.3.0']);
  matches('^0.0.3', ['0.0.3'], ['0.0.4']);
  matches('^1.2', ['1.2.0', '1.99.0'], ['2.0.0']);
  matches('^0', ['0.9.9'], ['1.0.0']);
});

test('hyphen ranges', () => {
  matches('1.2.3 - 2.3.4', ['1.2.3', '2.3.4'], ['1.2.2', '2.3.5']);
  matches('1.2 - 2.3', ['1.2.0', '2.3.9'], ['2.4.0']);
});

test('pre-releases match only ranges that mention one', () => {
  matches('>=1.0.0', ['1.0.0'], ['1.1.0-rc.1']);
  matches('>=1.0.0-0', ['1.1.0-rc.1', '1.0.0-alpha'], ['0.9.0-rc.1']);
  matches('^1.0.0-0', ['1.5.0-beta'], ['2.0.0-rc.1']);
  matches('>=1.0.0-rc.1 <1.0.0 || >=2.0.0', ['1.0.0-rc.2'], ['2.1.0-rc.1']);
});

test('invalid ranges are SpecInvalid errors naming the range', () => {
  for (const bad of ['', '>=banana', '>>1.0.0', '1.2.3.4']) {
    assert.throws(() => SemverRange.parse(bad), (error: unknown) =>
      error instanceof SluiceError && error.code === ErrorCodes.SpecInvalid && error.message.includes(`"${bad}"`), bad);
  }
});

test('highestMatchingTag picks the highest version in range, deterministically', () => {
  const tags = ['v1.0.0', 'v1.2.0', 'v1.10.0', 'v2.0.0', 'v1.11.0-rc.1', 'latest', 'release-3', '1.10.0'];
  assert.equal(highestMatchingTag(tags, SemverRange.parse('^1.0'))?.tag, 'v1.10.0');
  assert.equal(highestMatchingTag([...tags].reverse(), SemverRange.parse('^1.0'))?.tag, 'v1.10.0');
  assert.equal(highestMatchingTag(tags, SemverRange.parse('>=1.0.0-0 <2.0.0'))?.tag, 'v1.11.0-rc.1');
  assert.equal(highestMatchingTag(tags, SemverRange.parse('*'))?.tag, 'v2.0.0');
  assert.equal(highestMatchingTag(tags, SemverRange.parse('>=3')), undefined);
});

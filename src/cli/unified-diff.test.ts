import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { unifiedDiff } from './unified-diff.ts';

describe('unifiedDiff', () => {
  const labels = { fromLabel: 'live', toLabel: 'merged' };

  test('equal texts give no diff', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', labels), '');
  });

  test('one changed line with context', () => {
    const before = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].join('\n');
    const after = ['a', 'b', 'c', 'd', 'E', 'f', 'g', 'h'].join('\n');
    assert.equal(unifiedDiff(before, after, labels), [
      '--- live', '+++ merged', '@@ -2,7 +2,7 @@', ' b', ' c', ' d', '-e', '+E', ' f', ' g', ' h', '',
    ].join('\n'));
  });

  test('creation from nothing', () => {
    assert.equal(unifiedDiff('', 'x\ny\n', labels), ['--- live', '+++ merged', '@@ -0,0 +1,2 @@', '+x', '+y', ''].join('\n'));
  });

  test('distant changes make separate hunks', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `l${i}`);
    const changed = [...lines];
    changed[1] = 'X';
    changed[18] = 'Y';
    const diff = unifiedDiff(lines.join('\n'), changed.join('\n'), labels);
    assert.equal(diff.match(/^@@/gm)?.length, 2);
  });
});

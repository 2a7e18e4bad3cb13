import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findCondition, isConditionTrue, removeCondition, setCondition } from './conditions.ts';

const t0 = new Date('2026-01-01T00:00:00.000Z');
const t1 = new Date('2026-01-01T00:05:00.000Z');

test('setCondition adds, replaces, and keeps lastTransitionTime while the status holds', () => {
  let conditions = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Progressing', message: 'fetching' }, t0);
  assert.equal(conditions.length, 1);
  assert.equal(conditions[0]?.lastTransitionTime, '2026-01-01T00:00:00Z');

  conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'FetchFailed', message: 'refused', observedGeneration: 3 }, t1);
  assert.equal(conditions.length, 1);
  assert.equal(conditions[0]?.reason, 'FetchFailed');
  assert.equal(conditions[0]?.observedGeneration, 3);
  assert.equal(conditions[0]?.lastTransitionTime, '2026-01-01T00:00:00Z', 'same status: transition time kept');

  conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'Succeeded', message: 'ok' }, t1);
  assert.equal(conditions[0]?.lastTransitionTime, '2026-01-01T00:05:00Z');
  assert.equal(isConditionTrue(conditions, 'Ready'), true);

  conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason: 'SpecInvalid', message: 'bad' }, t1);
  assert.deepEqual(conditions.map((c) => c.type), ['Ready', 'Stalled']);
  assert.equal(findCondition(removeCondition(conditions, 'Stalled'), 'Stalled'), undefined);
});

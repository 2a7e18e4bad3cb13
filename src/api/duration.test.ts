import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { parseDuration } from './duration.ts';

test('parses Go durations into milliseconds', () => {
  assert.equal(parseDuration('1m', 'spec.interval'), 60_000);
  assert.equal(parseDuration('1h30m', 'spec.interval'), 5_400_000);
  assert.equal(parseDuration('1.5s', 'spec.interval'), 1_500);
  assert.equal(parseDuration('250ms', 'spec.interval'), 250);
  assert.throws(() => parseDuration('5 minutes', 'spec.timeout'), (error: unknown) =>
    error instanceof SluiceError && error.code === ErrorCodes.SpecInvalid && error.message === 'spec.timeout "5 minutes" is not a duration');
});

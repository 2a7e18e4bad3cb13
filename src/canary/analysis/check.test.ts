import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { describeRange, formatValue, inRange, measure } from './check.ts';
import type { Sample } from './providers/provider.ts';

function resultInvalid(pattern: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof SluiceError);
    assert.equal(error.code, ErrorCodes.MetricResultInvalid);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('measure', () => {
  it('takes the value of exactly one series, or of a scalar', () => {
    assert.deepEqual(measure({ resultType: 'vector', series: [{ labels: {}, value: 99.5 }] }), { kind: 'value', value: 99.5, answer: '99.5' });
    assert.deepEqual(measure({ resultType: 'scalar', value: 3 }), { kind: 'value', value: 3, answer: '3' });
  });

  it('treats an empty vector and NaN as no data', () => {
    assert.equal(measure({ resultType: 'vector', series: [] }).kind, 'noData');
    const nan = measure({ resultType: 'vector', series: [{ labels: {}, value: NaN }] });
    assert.equal(nan.kind, 'noData');
    assert.match(nan.answer, /NaN/);
    assert.equal(measure({ resultType: 'scalar', value: NaN }).kind, 'noData');
  });

  it('keeps +Inf as a value (a latency beyond the largest bucket is not "no data")', () => {
    assert.deepEqual(measure({ resultType: 'vector', series: [{ labels: {}, value: Infinity }] }), { kind: 'value', value: Infinity, answer: '+Inf' });
  });

  it('rejects several series, naming them, instead of picking one', () => {
    const series: Sample[] = [
      { labels: { __name__: 'up', instance: 'a' }, value: 1 },
      { labels: { __name__: 'up', instance: 'b' }, value: 0 },
      { labels: { instance: 'c' }, value: 0 },
      { labels: { instance: 'd' }, value: 0 },
    ];
    assert.throws(
      () => measure({ resultType: 'vector', series }),
      resultInvalid(/returned 4 series \(up\{instance="a"\}, up\{instance="b"\}, \{instance="c"\}, and 1 more\), not one value/),
    );
  });

  it('rejects a range vector and a string', () => {
    assert.throws(
      () => measure({ resultType: 'matrix', series: [{ labels: { job: 'x' }, samples: 60 }] }),
      resultInvalid(/range vector \(1 series: \{job="x"\}\)/),
    );
    assert.throws(() => measure({ resultType: 'string', value: 'hello' }), resultInvalid(/the string "hello"/));
  });
});

describe('threshold range', () => {
  it('is inclusive at both ends', () => {
    assert.equal(inRange(99, { min: 99 }), true);
    assert.equal(inRange(98.999, { min: 99 }), false);
    assert.equal(inRange(500, { max: 500 }), true);
    assert.equal(inRange(500.1, { max: 500 }), false);
    assert.equal(inRange(5, { min: 1, max: 10 }), true);
    assert.equal(inRange(11, { min: 1, max: 10 }), false);
    assert.equal(inRange(Infinity, { max: 500 }), false);
    assert.equal(inRange(NaN, {}), false);
    assert.equal(inRange(-3, {}), true);
  });

  it('describes ranges and values', () => {
    assert.equal(describeRange({ min: 99 }), '>= 99');
    assert.equal(describeRange({ max: 500 }), '<= 500');
    assert.equal(describeRange({ min: 1, max: 2 }), '1..2');
    assert.equal(formatValue(80.00000001), '80');
    assert.equal(formatValue(123.456789), '123.457');
    assert.equal(formatValue(-Infinity), '-Inf');
  });
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary } from '../api/types.ts';
import { ManualAnnotations } from '../canary/controller.ts';
import { CanaryPauseAnnotations, CanaryRequestAnnotations, describeCanary, isCurrent, parseWaitFor, requestId } from './canary.ts';
import { parseDurationFlag } from './common.ts';
import { formatAge, formatTable } from './output.ts';

const canary = (status: Canary['status'], analysis: Partial<Canary['spec']['analysis']> = {}): Canary => ({
  apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'web', namespace: 'prod' },
  spec: { targetRef: { kind: 'Deployment', name: 'web' }, service: { port: 80 }, analysis: { threshold: 3, maxWeight: 50, stepWeight: 10, ...analysis } },
  status,
});

describe('canary status text', () => {
  test('the request annotations are the ones the Canary controller reads', () => {
    assert.deepEqual({ ...CanaryRequestAnnotations, ...CanaryPauseAnnotations }, ManualAnnotations);
  });

  test('request ids start with the time, so the later of a pause and a resume can be told', () => {
    const early = requestId(new Date('2026-01-01T00:00:00Z'));
    const late = requestId(new Date('2026-01-01T00:00:01Z'));
    assert.match(early, /^2026-01-01T00:00:00\.000Z-[0-9a-f]{6}$/);
    assert.ok(late > early);
  });

  test('a paused rollout shows who paused it', () => {
    const paused = canary({ phase: 'Progressing', canaryWeight: 20, paused: { id: 'req-1', since: '2026-01-01T00:00:00.000Z', by: 'sluice' } });
    const lines = describeCanary(paused, { now: Date.parse('2026-01-01T00:00:30Z') }).join('\n');
    assert.match(lines, /Paused:\s+by sluice for 30s \(request req-1\); resume with `sluice resume canary web`/);
    assert.match(describeCanary(paused, { compact: true })[0] ?? '', /^Progressing weight 20\/50 \(step 2\/5\) failed checks 0\/3 paused by sluice/);
  });

  test('progress by weight with the step of the schedule, checks, gate, metrics and images', () => {
    const lines = describeCanary(canary({
      phase: 'Progressing', canaryWeight: 30, failedChecks: 2,
      gate: { webhook: 'approval', type: 'confirm-traffic-increase', message: 'closed', since: '2026-01-01T00:00:00Z' },
      metrics: [{ name: 'request-success-rate', value: 98.5, min: 99, result: 'Fail', message: 'below 99' }],
    }), { images: { primary: ['web:1'], canary: ['web:2'] } }).join('\n');
    assert.match(lines, /Progress:\s+\[############\.{8}\] weight 30\/50 \(step 3\/5\)/);
    assert.match(lines, /failed checks 2\/3/);
    assert.match(lines, /Waiting:\s+confirm-traffic-increase webhook "approval": closed/);
    assert.match(lines, /Metric:\s+request-success-rate = 98\.5 \(range 99\.\.∞\) Fail: below 99/);
    assert.match(lines, /Primary:\s+web:1/);
    assert.match(lines, /Canary:\s+web:2/);
  });

  test('iterations and stepWeights; compact line', () => {
    assert.match(describeCanary(canary({ phase: 'Progressing', iterations: 2 }, { iterations: 10 }), { compact: true })[0] ?? '', /^Progressing iteration 2\/10 failed checks 0\/3$/);
    assert.match(describeCanary(canary({ phase: 'Progressing', canaryWeight: 25 }, { stepWeights: [5, 25, 50] }), { compact: true })[0] ?? '', /weight 25\/50 \(step 2\/3\)/);
  });

  test('a finished status only counts for the images the target declares now', () => {
    const done = canary({ phase: 'Succeeded', canaryImages: ['web:1'] });
    assert.equal(isCurrent(done, ['web:1']), true);
    assert.equal(isCurrent(done, ['web:2']), false);
    assert.equal(isCurrent(done, undefined), true);
    assert.equal(isCurrent(canary({ phase: 'Succeeded' }), ['web:2']), true);
  });

  test('wait targets and durations', () => {
    assert.deepEqual(parseWaitFor('promoted').phases, ['Succeeded']);
    assert.deepEqual(parseWaitFor('failed').failPhases, ['Succeeded']);
    assert.deepEqual(parseWaitFor('phase=WaitingPromotion').phases, ['WaitingPromotion']);
    assert.throws(() => parseWaitFor('phase='), /--for "phase=" is not understood/);
    assert.equal(parseDurationFlag('1m30s', '--timeout'), 90_000);
    assert.equal(parseDurationFlag('250ms', '--timeout'), 250);
    assert.throws(() => parseDurationFlag('soon', '--timeout'), /--timeout "soon" is not a duration/);
  });

  test('tables and ages', () => {
    assert.equal(formatTable(['NAME', 'READY'], [['a', 'True'], ['longer', 'False']]), 'NAME     READY\na        True\nlonger   False');
    const now = Date.parse('2026-01-02T00:00:00Z');
    assert.equal(formatAge('2026-01-01T23:59:30Z', now), '30s');
    assert.equal(formatAge('2026-01-01T23:00:00Z', now), '60m');
    assert.equal(formatAge('2025-12-30T00:00:00Z', now), '3d');
  });
});

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Canary, CanaryAnalysis, CanarySpec, CanaryStatus } from '../api/types.ts';
import { PREVIOUS_PRIMARY_ANNOTATION, previousPrimaryOf, restorability, restoredPrimary } from './previous-primary.ts';
import type { ConfigObject, Deployment } from './workloads.ts';
import {
  nextWeight,
  pauseRequest,
  requiredInputs,
  step,
  strategyOf,
  weightPlan,
  type Observed,
  type StepInputs,
  type StepResult,
} from './state.ts';

const spec = (analysis: CanaryAnalysis, extra: Partial<CanarySpec> = {}): CanarySpec => ({
  targetRef: { kind: 'Deployment', name: 'app' },
  service: { port: 80 },
  analysis: { interval: '10s', threshold: 2, ...analysis },
  ...extra,
});

const t0 = Date.parse('2026-01-01T00:00:00Z');

/** Drives the state machine tick by tick with a fake cluster. */
class Sim {
  status: CanaryStatus = {};
  now = t0;
  observed: Omit<Observed, 'now'> = { revision: 'r1', images: ['app:1'], canaryReady: false, primaryReady: true, primaryRevision: 'r1' };
  readonly results: StepResult[] = [];
  readonly spec: CanarySpec;

  constructor(s: CanarySpec) {
    this.spec = s;
  }

  tick(inputs: StepInputs = {}, advanceMs = 10_000): StepResult {
    this.now += advanceMs;
    const result = step(this.spec, this.status, { ...this.observed, now: new Date(this.now) }, inputs);
    this.status = result.status;
    this.results.push(result);
    // The fake cluster follows the actions.
    for (const action of result.actions) {
      if (action.type === 'scaleCanary') this.observed.canaryReady = action.to === 'up';
      if (action.type === 'promotePrimary') this.observed.primaryRevision = this.observed.revision;
    }
    return result;
  }

  required(pending: { pause?: string; resume?: string } = {}) {
    return requiredInputs(this.spec, this.status, { ...this.observed, now: new Date(this.now + 10_000) }, pending);
  }

  initialize(): void {
    this.tick();
    assert.equal(this.status.phase, 'Initialized');
    this.observed = { ...this.observed, revision: 'r2', images: ['app:2'] };
  }

  weights(): number[] {
    return (this.status.history ?? []).map((h) => h.weight ?? 0);
  }
}

/** Read through a function: assert.equal narrows sim.status.gate, which later ticks change. */
const gateType = (sim: Sim): string | undefined => sim.status.gate?.type;
const pausedId = (sim: Sim): string | undefined => sim.status.paused?.id;

const pass = { outcome: 'pass' as const, message: 'ok' };
const open = { open: true, message: 'ok' };

describe('weights', () => {
  test('stepWeight with maxWeight, and stepWeights', () => {
    assert.deepEqual(weightPlan({ stepWeight: 20, maxWeight: 50 }), [0, 20, 40, 50]);
    assert.deepEqual(weightPlan({ stepWeight: 25 }), [0, 25, 50, 75, 100]);
    assert.deepEqual(weightPlan({ stepWeights: [1, 10, 40] }), [0, 1, 10, 40]);
    assert.equal(nextWeight({ stepWeight: 20, maxWeight: 50 }, 50), 50);
  });

  test('strategy from the analysis', () => {
    assert.equal(strategyOf({ stepWeight: 10 }), 'canary');
    assert.equal(strategyOf({ iterations: 3, match: [{ headers: { x: { exact: 'y' } } }] }), 'ab');
    assert.equal(strategyOf({ iterations: 3 }), 'bluegreen');
  });
});

describe('step', () => {
  test('initialization waits for the primary, then scales the canary to zero', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.observed.primaryReady = false;
    sim.tick();
    assert.equal(sim.status.phase, 'Initializing');
    sim.observed.primaryReady = true;
    const result = sim.tick();
    assert.equal(sim.status.phase, 'Initialized');
    assert.equal(sim.status.lastPromotedSpec, 'r1');
    assert.ok(result.actions.some((a) => a.type === 'scaleCanary' && a.to === 'zero'));
    assert.deepEqual(result.stages.map((s) => s.kind), ['Initialized']);
    // Same revision again: nothing to do.
    const again = sim.tick();
    assert.equal(again.actions.length, 0);
    assert.equal(sim.status.phase, 'Initialized');
  });

  test('a canary rollout walks the weight plan, promotes and finalises', () => {
    const sim = new Sim(spec({ stepWeight: 20, maxWeight: 60 }));
    sim.initialize();
    sim.tick({ gate: open });
    assert.equal(sim.status.phase, 'Progressing');
    assert.equal(sim.status.canaryWeight, 0);
    const seen: number[] = [];
    for (let i = 0; i < 10 && sim.status.phase === 'Progressing'; i++) {
      const needs = sim.required();
      const inputs: StepInputs = { gate: needs.gate ? open : undefined, analysis: needs.analysis ? pass : undefined, preRollout: needs.preRollout ? pass : undefined };
      sim.tick(inputs);
      seen.push(sim.status.canaryWeight ?? 0);
    }
    assert.deepEqual(seen, [20, 40, 60, 60]);
    assert.equal(sim.status.phase, 'Promoting');
    sim.tick();
    assert.equal(sim.status.phase, 'Finalising');
    assert.equal(sim.status.canaryWeight, 0);
    const done = sim.tick();
    assert.equal(sim.status.phase, 'Succeeded');
    assert.equal(sim.status.lastPromotedSpec, 'r2');
    assert.ok(done.actions.some((a) => a.type === 'scaleCanary' && a.to === 'zero'));
    assert.ok(done.stages.some((s) => s.kind === 'Promoted'));
    // The promoted revision is not a new rollout.
    sim.tick();
    assert.equal(sim.status.phase, 'Succeeded');
  });

  test('stepWeightPromotion gives traffic back to the primary in steps', () => {
    const sim = new Sim(spec({ stepWeight: 50, stepWeightPromotion: 20 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.canaryWeight, 100);
    sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.phase, 'Promoting');
    const weights: number[] = [];
    while (sim.status.phase === 'Promoting') {
      sim.tick();
      weights.push(sim.status.canaryWeight ?? -1);
    }
    assert.deepEqual(weights, [80, 60, 40, 20, 0]);
    assert.equal(sim.status.phase, 'Finalising');
  });

  test('failed checks reaching the threshold roll back and keep the failed revision', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    const fail = { outcome: 'fail' as const, message: 'error-rate is 7, above the maximum 1' };
    const first = sim.tick({ analysis: fail, gate: open });
    assert.equal(sim.status.failedChecks, 1);
    assert.equal(sim.status.canaryWeight, 10, 'a failed check keeps the weight');
    assert.equal(first.stages[0]?.kind, 'AnalysisFailed');
    const second = sim.tick({ analysis: fail, gate: open });
    assert.equal(sim.status.phase, 'Failed');
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(sim.status.failedRevision?.revision, 'r2');
    assert.deepEqual(sim.status.failedRevision?.images, ['app:2']);
    assert.match(sim.status.failedRevision?.reason ?? '', /error-rate is 7, above the maximum 1/);
    assert.ok(second.actions.some((a) => a.type === 'route' && a.routes.canaryWeight === 0));
    assert.ok(second.actions.some((a) => a.type === 'scaleCanary' && a.to === 'zero'));
    assert.ok(second.stages.some((s) => s.kind === 'RolledBack' && s.warning));
    // Git still declares r2: no new rollout.
    sim.tick({ gate: open });
    assert.equal(sim.status.phase, 'Failed');
    // A retry request starts it again without a Deployment change.
    const retried = sim.tick({ gate: open, manual: { retry: 'req-1' } });
    assert.equal(sim.status.phase, 'Progressing');
    assert.deepEqual(retried.stages.map((s) => s.kind), ['ManualRetry']);
    assert.equal(sim.status.failedRevision, undefined);
    assert.equal(sim.status.failedChecks, 0);
  });

  test('hold keeps the weight and counts nothing', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: { outcome: 'hold', message: 'no data' }, gate: open });
    assert.equal(sim.status.canaryWeight, 10);
    assert.equal(sim.status.failedChecks, 0);
  });

  test('ticks are paced by the interval from status.lastStepTime, so a restart repeats no step', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    assert.equal(sim.status.canaryWeight, 10);
    // A reconcile 1 s later (an event, or a freshly restarted controller) must not advance.
    const early = sim.tick({ analysis: pass, gate: open }, 1_000);
    assert.equal(sim.status.canaryWeight, 10);
    assert.ok(early.requeueAfterMs !== undefined && early.requeueAfterMs <= 9_000 && early.requeueAfterMs > 8_000);
    assert.equal(sim.required().analysis, true);
    sim.tick({ analysis: pass, gate: open }, 9_000);
    assert.equal(sim.status.canaryWeight, 20);
    // Resuming from a copy of the persisted status gives the same next step.
    const copy = structuredClone(sim.status);
    const resumed = step(sim.spec, copy, { ...sim.observed, now: new Date(sim.now + 10_000) }, { analysis: pass, gate: open });
    assert.equal(resumed.status.canaryWeight, 30);
  });

  test('closed gates hold and are shown in status', () => {
    const sim = new Sim(spec({ stepWeight: 50 }));
    sim.initialize();
    sim.tick({ gate: { open: false, webhook: 'approve', message: 'approve answered 403' } });
    assert.equal(sim.status.phase, 'Waiting');
    assert.equal(sim.status.gate?.type, 'confirm-rollout');
    assert.equal(sim.status.gate?.webhook, 'approve');
    sim.tick({ gate: open });
    assert.equal(sim.status.phase, 'Progressing');
    assert.equal(sim.status.gate, undefined);
    sim.tick({ preRollout: pass, gate: { open: false, webhook: 'more', message: 'no' } });
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(gateType(sim), 'confirm-traffic-increase');
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.canaryWeight, 100);
    sim.tick({ analysis: pass, gate: { open: false, webhook: 'ship', message: 'no' } });
    assert.equal(sim.status.phase, 'WaitingPromotion');
    assert.equal(gateType(sim), 'confirm-promotion');
    sim.tick({ gate: open });
    assert.equal(sim.status.phase, 'Promoting');
  });

  test('A/B testing runs iterations with match routing', () => {
    const sim = new Sim(spec({ iterations: 3, match: [{ headers: { 'x-canary': { exact: 'insider' } } }] }));
    sim.initialize();
    const start = sim.tick({ gate: open });
    assert.ok(start.actions.some((a) => a.type === 'route' && a.routes.match && a.routes.canaryWeight === 0));
    for (let i = 1; i <= 2; i++) {
      sim.tick({ analysis: pass, preRollout: i === 1 ? pass : undefined });
      assert.equal(sim.status.iterations, i);
      assert.equal(sim.status.phase, 'Progressing');
    }
    assert.equal(sim.required().gate, 'confirm-promotion');
    sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.phase, 'Promoting');
  });

  test('Blue/Green mirrors during analysis and switches to the canary during promotion', () => {
    const sim = new Sim(spec({ iterations: 2, mirror: true, mirrorWeight: 50 }));
    sim.initialize();
    const start = sim.tick({ gate: open });
    assert.ok(start.actions.some((a) => a.type === 'route' && a.routes.mirror && a.routes.canaryWeight === 0));
    sim.tick({ analysis: pass, preRollout: pass });
    const promote = sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.phase, 'Promoting');
    assert.equal(sim.status.canaryWeight, 100);
    assert.ok(promote.actions.some((a) => a.type === 'route' && a.routes.canaryWeight === 100));
    assert.ok(promote.actions.some((a) => a.type === 'promotePrimary'));
    sim.tick();
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(sim.status.phase, 'Finalising');
  });

  test('a canary that never becomes ready rolls back after the progress deadline', () => {
    const sim = new Sim(spec({ stepWeight: 10 }, { progressDeadlineSeconds: 30 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.observed.canaryReady = false;
    sim.tick({}, 20_000);
    assert.equal(sim.status.phase, 'Progressing');
    const result = sim.tick({}, 15_000);
    assert.equal(sim.status.phase, 'Failed');
    assert.deepEqual(result.stages.map((s) => s.kind), ['ProgressDeadlineExceeded', 'RolledBack']);
  });

  test('a new revision during analysis restarts from weight 0', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: { outcome: 'fail', message: 'x' }, gate: open });
    assert.equal(sim.status.canaryWeight, 10);
    sim.observed = { ...sim.observed, revision: 'r3', images: ['app:3'] };
    const result = sim.tick();
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(sim.status.failedChecks, 0);
    assert.equal(sim.status.lastAppliedSpec, 'r3');
    assert.equal(result.stages[0]?.kind, 'AnalysisRestarted');
  });

  test('manual promote and abort', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ manual: { promote: 'p1' } }, 100);
    assert.equal(sim.status.phase, 'Promoting');

    const other = new Sim(spec({ stepWeight: 10 }));
    other.initialize();
    other.tick({ gate: open });
    const aborted = other.tick({ manual: { abort: 'a1' } }, 100);
    assert.equal(other.status.phase, 'Failed');
    assert.match(other.status.failedRevision?.reason ?? '', /aborted by request a1/);
    assert.ok(aborted.stages.some((s) => s.kind === 'ManualAbort'));
  });

  test('skipAnalysis promotes at once; suspend starts nothing', () => {
    const skip = new Sim(spec({ stepWeight: 10 }, { skipAnalysis: true }));
    skip.initialize();
    skip.tick();
    assert.equal(skip.status.phase, 'Promoting');

    const suspended = new Sim(spec({ stepWeight: 10 }, { suspend: true }));
    suspended.initialize();
    suspended.tick({ gate: open });
    assert.equal(suspended.status.phase, 'Initialized');
  });

  test('changing the target away from a failed revision clears it', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ manual: { abort: 'a' } }, 100);
    assert.equal(sim.status.failedRevision?.revision, 'r2');
    sim.observed = { ...sim.observed, revision: 'r1', images: ['app:1'] };
    const result = sim.tick();
    assert.equal(sim.status.failedRevision, undefined);
    assert.equal(sim.status.phase, 'Failed');
    assert.ok(result.stages.some((s) => s.kind === 'FailedRevisionCleared'));
  });
});

const fail = { outcome: 'fail' as const, message: 'error-rate is 7, above the maximum 1' };

/** A canary rollout (stepWeight 10, interval 10s, threshold 2) at weight 10. */
function atFirstStep(extra: Partial<CanarySpec> = {}): Sim {
  const sim = new Sim(spec({ stepWeight: 10 }, extra));
  sim.initialize();
  sim.tick({ gate: open });
  sim.tick({ preRollout: pass, gate: open });
  assert.equal(sim.status.canaryWeight, 10);
  return sim;
}

describe('pause and resume', () => {
  test('pause holds the weight through failing checks and deadlines; resume continues from the same step', () => {
    const sim = atFirstStep();
    const paused = sim.tick({ manual: { pause: 'p1' } }, 4_000);
    assert.equal(sim.status.paused?.id, 'p1');
    assert.equal(sim.status.paused?.since, new Date(sim.now).toISOString());
    assert.match(paused.requests.pause ?? '', /^pause done: holding phase Progressing at canary weight 10/);
    assert.equal(paused.requeueAfterMs, undefined, 'a held rollout is not ticked by time');
    assert.deepEqual(paused.actions, []);
    const required = sim.required();
    assert.deepEqual(required, { preRollout: false, analysis: false, rollbackHooks: false }, 'no gate, webhook or metric check while paused');
    // Whatever comes in while paused, nothing moves: no step, no failed check, no rollback.
    for (let i = 0; i < 5; i++) {
      const held = sim.tick({ analysis: fail, gate: open, rollbackRequested: 'rollback-hook' }, 60_000);
      assert.deepEqual(held.actions, []);
      assert.deepEqual(held.stages, []);
    }
    assert.equal(sim.status.phase, 'Progressing');
    assert.equal(sim.status.canaryWeight, 10);
    assert.equal(sim.status.failedChecks, 0);
    const lastStep = Date.parse(sim.status.lastStepTime ?? '');
    const resumed = sim.tick({ manual: { resume: 'r1' } }, 1_000);
    assert.equal(sim.status.paused, undefined);
    assert.match(resumed.requests.resume ?? '', /^resume done: phase Progressing continues at canary weight 10/);
    // The interval clock stood still while paused: 4 s had passed before the pause, so 6 s remain.
    assert.equal(Date.parse(sim.status.lastStepTime ?? '') - lastStep, 301_000);
    assert.equal(sim.status.canaryWeight, 10);
    assert.ok(resumed.requeueAfterMs !== undefined && resumed.requeueAfterMs <= 6_000 && resumed.requeueAfterMs > 5_000, String(resumed.requeueAfterMs));
    sim.tick({ analysis: pass, gate: open }, 5_000);
    assert.equal(sim.status.canaryWeight, 10, 'not yet due');
    sim.tick({ analysis: pass, gate: open }, 1_000);
    assert.equal(sim.status.canaryWeight, 20, 'the next step of the plan');
    const messages = (sim.status.history ?? []).map((h) => h.message ?? '');
    assert.ok(messages.includes('paused on request p1'));
    assert.ok(messages.some((m) => /^resumed on request r1 after 301s paused/.test(m)), messages.join('\n'));
  });

  test('the progress deadline does not run while paused', () => {
    const sim = new Sim(spec({ stepWeight: 10 }, { progressDeadlineSeconds: 30 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.observed.canaryReady = false;
    sim.tick({}, 20_000);
    sim.tick({ manual: { pause: 'p' } }, 1_000);
    sim.tick({}, 120_000);
    assert.equal(sim.status.phase, 'Progressing', 'no rollback while paused');
    sim.tick({ manual: { resume: 'r' } }, 1_000);
    sim.tick({}, 5_000);
    assert.equal(sim.status.phase, 'Progressing', '26 s of the 30 s deadline used');
    const result = sim.tick({}, 5_000);
    assert.equal(sim.status.phase, 'Failed');
    assert.deepEqual(result.stages.map((s) => s.kind), ['ProgressDeadlineExceeded', 'RolledBack']);
  });

  test('a pause holds Waiting, WaitingPromotion and Promoting too', () => {
    const gated = new Sim(spec({ stepWeight: 50 }));
    gated.initialize();
    gated.tick({ gate: { open: false, webhook: 'approve', message: 'no' } });
    assert.equal(gated.status.phase, 'Waiting');
    gated.tick({ manual: { pause: 'p' } }, 100);
    assert.deepEqual(gated.required(), { preRollout: false, analysis: false, rollbackHooks: false });
    gated.tick({ gate: open });
    assert.equal(gated.status.phase, 'Waiting');
    gated.tick({ gate: open, manual: { resume: 'r' } });
    gated.tick({ gate: open });
    assert.equal(gated.status.phase, 'Progressing');

    const promoting = new Sim(spec({ stepWeight: 50, stepWeightPromotion: 50 }));
    promoting.initialize();
    promoting.tick({ gate: open });
    promoting.tick({ preRollout: pass, gate: open });
    promoting.tick({ analysis: pass, gate: open });
    promoting.tick({ analysis: pass, gate: open });
    assert.equal(promoting.status.phase, 'Promoting');
    assert.equal(promoting.status.canaryWeight, 100);
    promoting.tick({ manual: { pause: 'p' } }, 100);
    promoting.tick({}, 60_000);
    assert.equal(promoting.status.phase, 'Promoting');
    assert.equal(promoting.status.canaryWeight, 100);
    promoting.tick({ manual: { resume: 'r' } }, 100);
    promoting.tick();
    assert.equal(promoting.status.canaryWeight, 50);
  });

  test('pause outside a rollout, resume when not paused and a second pause are ignored with the reason', () => {
    const sim = new Sim(spec({ stepWeight: 10 }));
    sim.initialize();
    const idle = sim.tick({ manual: { pause: 'p0' } });
    assert.match(idle.requests.pause ?? '', /^ignored: no rollout in progress to pause in phase Initialized; set spec.suspend/);
    assert.equal(sim.status.paused, undefined);
    sim.tick({ gate: open });
    const notPaused = sim.tick({ manual: { resume: 'r0' } }, 100);
    assert.match(notPaused.requests.resume ?? '', /^ignored: not paused/);
    sim.tick({ manual: { pause: 'p1' } }, 100);
    const again = sim.tick({ manual: { pause: 'p2' } }, 100);
    assert.match(again.requests.pause ?? '', /^ignored: already paused by request p1 since /);
    assert.equal(pausedId(sim), 'p1');
  });

  test('the later of a pause and a resume wins; without timestamps the pause wins', () => {
    assert.deepEqual(pauseRequest({ pause: 'p' }), { winner: { kind: 'pause', id: 'p' } });
    assert.deepEqual(pauseRequest({ resume: 'r' }), { winner: { kind: 'resume', id: 'r' } });
    assert.equal(pauseRequest({ promote: 'x' }), undefined);
    const early = '2026-01-01T00:00:00.000Z-aaaaaa';
    const late = '2026-01-01T00:00:01.000Z-bbbbbb';
    assert.deepEqual(pauseRequest({ pause: early, resume: late }), { winner: { kind: 'resume', id: late }, loser: { kind: 'pause', id: early } });
    assert.deepEqual(pauseRequest({ pause: late, resume: early }), { winner: { kind: 'pause', id: late }, loser: { kind: 'resume', id: early } });
    assert.deepEqual(pauseRequest({ pause: 'mine', resume: 'yours' }), { winner: { kind: 'pause', id: 'mine' }, loser: { kind: 'resume', id: 'yours' } });

    const sim = atFirstStep();
    assert.deepEqual(sim.required({ pause: late, resume: early }), { preRollout: false, analysis: false, rollbackHooks: false });
    const both = sim.tick({ manual: { pause: late, resume: early } }, 100);
    assert.equal(sim.status.paused?.id, late);
    assert.match(both.requests.resume ?? '', /^ignored: superseded by the later pause request/);
    assert.equal(sim.required({ pause: early, resume: late }).analysis, true, 'a later resume gathers the inputs again');
    const resumed = sim.tick({ manual: { pause: '2026-01-01T00:00:02.000Z-c', resume: '2026-01-01T00:00:03.000Z-d' } }, 100);
    assert.equal(sim.status.paused, undefined);
    assert.match(resumed.requests.pause ?? '', /^ignored: superseded by the later resume request/);
  });

  test('a new revision while paused restarts at weight 0 and stays paused', () => {
    const sim = atFirstStep();
    sim.tick({ manual: { pause: 'p' } }, 100);
    sim.observed = { ...sim.observed, revision: 'r3', images: ['app:3'] };
    const restarted = sim.tick();
    assert.equal(restarted.stages[0]?.kind, 'AnalysisRestarted');
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(sim.status.lastAppliedSpec, 'r3');
    assert.equal(sim.status.paused?.id, 'p');
    sim.tick({ preRollout: pass, gate: open }, 60_000);
    assert.equal(sim.status.canaryWeight, 0, 'still held');
  });

  test('promote ends a pause and promotes; abort rolls a paused rollout back', () => {
    const promoted = atFirstStep();
    promoted.tick({ manual: { pause: 'p' } }, 100);
    promoted.tick({ manual: { promote: 'go' } }, 100);
    assert.equal(promoted.status.phase, 'Promoting');
    assert.equal(promoted.status.paused, undefined);

    const aborted = atFirstStep();
    aborted.tick({ manual: { pause: 'p' } }, 100);
    const result = aborted.tick({ manual: { abort: 'stop', resume: 'r' } }, 100);
    assert.equal(aborted.status.phase, 'Failed');
    assert.equal(aborted.status.paused, undefined);
    assert.match(result.requests.resume ?? '', /^ignored: the rollout was aborted by request stop/);
  });
});

describe('WaitingPromotion keeps analysing', () => {
  /** At the maximum weight, held by a closed confirm-promotion gate. */
  function waitingPromotion(): Sim {
    const sim = new Sim(spec({ stepWeight: 50 }));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: pass, gate: open });
    sim.tick({ analysis: pass, gate: { open: false, webhook: 'ship', message: 'no' } });
    assert.equal(sim.status.phase, 'WaitingPromotion');
    return sim;
  }
  const closed = { open: false, webhook: 'ship', message: 'no' };

  test('checks run each interval and failures reaching the threshold roll back', () => {
    const sim = waitingPromotion();
    assert.deepEqual(sim.required(), { gate: 'confirm-promotion', preRollout: false, analysis: true, rollbackHooks: true });
    const first = sim.tick({ analysis: fail, gate: closed });
    assert.equal(sim.status.phase, 'WaitingPromotion');
    assert.equal(sim.status.failedChecks, 1);
    assert.equal(first.stages[0]?.kind, 'AnalysisFailed');
    assert.equal(first.requeueAfterMs, 10_000);
    // Between intervals only the gate is asked.
    sim.tick({ gate: closed }, 2_000);
    assert.equal(sim.status.failedChecks, 1);
    assert.deepEqual(requiredInputs(sim.spec, sim.status, { ...sim.observed, now: new Date(sim.now + 1_000) }), { gate: 'confirm-promotion', preRollout: false, analysis: false, rollbackHooks: false });
    const second = sim.tick({ analysis: fail, gate: closed }, 8_000);
    assert.equal(sim.status.phase, 'Failed');
    assert.match(sim.status.failedRevision?.reason ?? '', /2 failed checks reached threshold 2/);
    assert.ok(second.stages.some((s) => s.kind === 'RolledBack'));
  });

  test('a rollback webhook rolls back; a failing check holds an opened gate for the interval', () => {
    const hooked = waitingPromotion();
    hooked.tick({ rollbackRequested: 'stop', gate: closed });
    assert.equal(hooked.status.phase, 'Failed');

    const sim = waitingPromotion();
    sim.tick({ analysis: fail, gate: open });
    assert.equal(sim.status.phase, 'WaitingPromotion', 'no promotion on a failing check');
    sim.tick({ gate: open }, 1_000);
    assert.equal(sim.status.phase, 'Promoting', 'the gate opens between checks');
    assert.equal(sim.status.failedChecks, 1);

    const passing = waitingPromotion();
    passing.tick({ analysis: pass, gate: open });
    assert.equal(passing.status.phase, 'Promoting');
  });
});

describe('abort during a promotion', () => {
  function promoting(extra: Partial<CanarySpec> = {}): Sim {
    const sim = new Sim(spec({ stepWeight: 50, stepWeightPromotion: 25 }, extra));
    sim.initialize();
    sim.tick({ gate: open });
    sim.tick({ preRollout: pass, gate: open });
    sim.tick({ analysis: pass, gate: open });
    sim.tick({ analysis: pass, gate: open });
    assert.equal(sim.status.phase, 'Promoting');
    sim.tick();
    assert.equal(sim.status.canaryWeight, 75);
    return sim;
  }

  test('with the previous primary kept, the primary is restored and serves all traffic', () => {
    const sim = promoting();
    sim.observed.previousPrimary = { restorable: true };
    const result = sim.tick({ manual: { abort: 'a1' } }, 100);
    assert.equal(sim.status.phase, 'Failed');
    assert.equal(sim.status.canaryWeight, 0);
    assert.equal(sim.status.lastPromotedSpec, 'r1', 'the promoted revision stays the previous one');
    assert.equal(sim.status.failedRevision?.revision, 'r2');
    assert.deepEqual(result.actions.map((a) => a.type), ['restorePrimary', 'route', 'scaleCanary']);
    assert.ok(result.actions.some((a) => a.type === 'route' && a.routes.canaryWeight === 0 && !a.routes.mirror && !a.routes.match));
    assert.match(result.requests.abort ?? '', /^abort done: phase Promoting → Failed; the primary is rolled back to revision r1/);
    assert.deepEqual(result.stages.map((s) => s.kind), ['ManualAbort', 'RolledBack']);
  });

  test('in Finalising too', () => {
    const sim = promoting();
    while (sim.status.phase === 'Promoting') sim.tick();
    assert.equal(sim.status.phase, 'Finalising');
    sim.observed.previousPrimary = { restorable: true };
    const result = sim.tick({ manual: { abort: 'a1' } }, 100);
    assert.equal(sim.status.phase, 'Failed');
    assert.equal(result.actions[0]?.type, 'restorePrimary');
  });

  test('without it, the abort is ignored with the reason and the promotion goes on', () => {
    const sim = promoting();
    sim.observed.previousPrimary = { restorable: false, reason: 'the promotion already changed ConfigMap/app-config-primary, and sluice keeps no copy of its previous data' };
    const result = sim.tick({ manual: { abort: 'a1' } });
    assert.match(result.requests.abort ?? '', /^ignored: abort during Promoting needs the primary's spec from before the promotion, and the promotion already changed ConfigMap\/app-config-primary/);
    assert.equal(sim.status.phase, 'Promoting');
    assert.equal(sim.status.canaryWeight, 50, 'the promotion went on');
    assert.ok(!result.actions.some((a) => a.type === 'restorePrimary'));
  });

  test('a primary that does not come up after promotion is restored at the progress deadline', () => {
    const sim = promoting({ progressDeadlineSeconds: 30 });
    sim.observed.primaryReady = false;
    sim.observed.previousPrimary = { restorable: true };
    sim.tick({}, 1_000);
    sim.tick({}, 20_000);
    assert.equal(sim.status.phase, 'Promoting');
    const result = sim.tick({}, 11_000);
    assert.equal(sim.status.phase, 'Failed');
    assert.equal(result.actions[0]?.type, 'restorePrimary');
    assert.match(sim.status.failedRevision?.reason ?? '', /after promotion; the primary goes back to r1/);
  });
});

describe('the previous primary kept for an abort during a promotion (controller helpers)', () => {
  const canary: Canary = { apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', metadata: { name: 'app', namespace: 'ns', uid: 'c-uid' }, spec: spec({ stepWeight: 10 }) };
  const template = (image: string, config: string) => ({
    metadata: { labels: { app: 'app' } },
    spec: { containers: [{ name: 'app', image, envFrom: [{ configMapRef: { name: config } }] }] },
  });
  const deploymentOf = (name: string, image: string, config: string, revision?: string, previous?: string): Deployment => ({
    apiVersion: 'apps/v1', kind: 'Deployment',
    metadata: { name, namespace: 'ns', annotations: { ...(revision ? { 'sluice.dev/revision': revision } : {}), ...(previous ? { [PREVIOUS_PRIMARY_ANNOTATION]: previous } : {}) } },
    spec: { replicas: 3, selector: { matchLabels: { app: name === 'app' ? 'app' : 'app-primary' } }, template: template(image, config), minReadySeconds: 5 },
  });
  const target = deploymentOf('app', 'app:2', 'cfg');
  const copy = (data: string): ConfigObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg-primary', namespace: 'ns', ownerReferences: [{ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', name: 'app', uid: 'c-uid' }] }, data: { MODE: data } });

  test('kept at promotion, restorable while the config copies are unchanged, restored as it was', () => {
    let configs: Record<string, ConfigObject> = { 'ConfigMap/cfg-primary': copy('one') };
    const lookup = (kind: 'ConfigMap' | 'Secret', name: string) => configs[`${kind}/${name}`];
    const primary = deploymentOf('app-primary', 'app:1', 'cfg-primary', 'r1');
    const kept = previousPrimaryOf(primary, { revision: 'r2', lastPromoted: 'r1', canaryUid: 'c-uid', lookup });
    assert.ok(kept);
    const parsed = JSON.parse(kept) as { revision: string; configs: Record<string, string>; minReadySeconds: number };
    assert.equal(parsed.revision, 'r1');
    assert.deepEqual(Object.keys(parsed.configs), ['ConfigMap/cfg-primary']);
    assert.equal(parsed.minReadySeconds, 5);
    // A primary not at the promoted revision is no point to go back to; one already promoted keeps its annotation.
    assert.equal(previousPrimaryOf(primary, { revision: 'r2', lastPromoted: 'r0', canaryUid: 'c-uid', lookup }), undefined);
    const promoted = deploymentOf('app-primary', 'app:2', 'cfg-primary', 'r2', kept);
    assert.equal(previousPrimaryOf(promoted, { revision: 'r2', lastPromoted: 'r1', canaryUid: 'c-uid', lookup }), kept);

    assert.deepEqual(restorability(promoted, { lastPromoted: 'r1', lookup }), { restorable: true });
    const restored = restoredPrimary(canary, target, promoted);
    assert.equal(restored?.spec.template.spec.containers?.[0]?.image, 'app:1');
    assert.equal(restored?.spec.replicas, 3);
    assert.equal(restored?.spec.minReadySeconds, 5);
    assert.deepEqual(restored?.metadata.annotations, { 'sluice.dev/revision': 'r1' });

    configs = { 'ConfigMap/cfg-primary': copy('two') };
    const changed = restorability(promoted, { lastPromoted: 'r1', lookup });
    assert.equal(changed.restorable, false);
    assert.match(changed.reason ?? '', /the promotion already changed ConfigMap\/cfg-primary, and sluice keeps no copy of its previous data/);
  });

  test('nothing kept, or kept for another revision: not restorable, with the reason', () => {
    const lookup = () => undefined;
    const bare = deploymentOf('app-primary', 'app:2', 'cfg-primary', 'r2');
    assert.match(restorability(bare, { lastPromoted: 'r1', lookup }).reason ?? '', /has no readable sluice.dev\/previous-primary annotation/);
    assert.equal(restoredPrimary(canary, target, bare), undefined);
    const garbled = deploymentOf('app-primary', 'app:2', 'cfg-primary', 'r2', '{not json');
    assert.equal(restorability(garbled, { lastPromoted: 'r1', lookup }).restorable, false);
    const other = deploymentOf('app-primary', 'app:2', 'cfg-primary', 'r2', JSON.stringify({ revision: 'r0', template: template('app:0', 'cfg'), configs: {} }));
    assert.match(restorability(other, { lastPromoted: 'r1', lookup }).reason ?? '', /of revision r0, not of the promoted revision r1/);
  });
});

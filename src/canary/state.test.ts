import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CanaryAnalysis, CanarySpec, CanaryStatus } from '../api/types.ts';
import {
  nextWeight,
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

  required() {
    return requiredInputs(this.spec, this.status, { ...this.observed, now: new Date(this.now + 10_000) });
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

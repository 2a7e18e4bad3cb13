// The Canary state machine as one pure step function. Each tick the controller
// observes the cluster (from informer caches), gathers the inputs the step
// asks for (analysis, webhooks, gates) and calls `step`, which returns the
// next status, the actions to carry out, and the stages to announce. All state
// lives in the status, so a restarted controller continues where the last one
// stopped: time-paced steps wait from status.lastStepTime, and every action is
// idempotent (apply the weight in status, scale to a number).
import type { CanaryAnalysis, CanaryHistoryEntry, CanaryPhase, CanarySpec, CanaryStatus, WebhookType } from '../api/types.ts';
import { CANARY_HISTORY_LIMIT } from '../api/types.ts';
import { parseDuration } from '../api/duration.ts';

export type Strategy = 'canary' | 'ab' | 'bluegreen';

/** How traffic is routed; the router turns this into objects. */
export interface Routes {
  /** Percentage of traffic on the canary; 100 - canaryWeight goes to the primary. */
  canaryWeight: number;
  /** A/B testing: requests matching analysis.match go to the canary. */
  match: boolean;
  /** Blue/Green mirroring: a copy of primary traffic goes to the canary. */
  mirror: boolean;
}

/** What the controller saw in the cluster this tick. */
export interface Observed {
  now: Date;
  /** Revision of the target (pod template + referenced configs). */
  revision: string;
  images: string[];
  /** The target (canary) Deployment is rolled out and available. */
  canaryReady: boolean;
  /** The primary Deployment is rolled out and available. */
  primaryReady: boolean;
  /** Revision the primary was last given (annotation), undefined before init. */
  primaryRevision: string | undefined;
  /**
   * Whether the primary's spec from before the current promotion is kept (an
   * annotation on the primary), so an abort during Promoting or Finalising can
   * give it back; `reason` says why not. Undefined outside a promotion.
   */
  previousPrimary?: { restorable: boolean; reason?: string | undefined } | undefined;
}

export interface GateResult {
  open: boolean;
  /** The webhook that closed the gate. */
  webhook?: string | undefined;
  message: string;
}

export interface CheckResult {
  outcome: 'pass' | 'fail' | 'hold';
  /** Which check failed, with its value and threshold; or why it holds. */
  message: string;
  /** The first failing check, for notifications. */
  failing?: FailingCheck | undefined;
}

/** Inputs the controller gathered because `requiredInputs` asked for them. */
export interface StepInputs {
  gate?: GateResult | undefined;
  /** pre-rollout webhooks (first step of a rollout). */
  preRollout?: CheckResult | undefined;
  /** rollout webhooks and metric checks. */
  analysis?: CheckResult | undefined;
  /** A rollback webhook answered 2xx: roll back now. */
  rollbackRequested?: string | undefined;
  /** Manual requests not yet acknowledged in status (annotation values). */
  manual?: ManualRequests | undefined;
}

/** Manual requests not yet acknowledged in status: annotation values (request ids). */
export interface ManualRequests {
  promote?: string | undefined;
  abort?: string | undefined;
  retry?: string | undefined;
  pause?: string | undefined;
  resume?: string | undefined;
}

/** Requests whose outcome `step` decides itself (the controller judges the others by the phase change). */
export type DecidedRequests = Partial<Record<'abort' | 'pause' | 'resume', string>>;

export type Action =
  | { type: 'route'; routes: Routes }
  | { type: 'scaleCanary'; to: 'up' | 'zero' }
  | { type: 'promotePrimary' }
  /** Give the primary back the spec it had before the current promotion (abort during Promoting). */
  | { type: 'restorePrimary' }
  | { type: 'webhooks'; hook: 'post-rollout' };

export type StageKind =
  | 'Initialized'
  | 'NewRevision'
  | 'Waiting'
  | 'WeightAdvanced'
  | 'AnalysisFailed'
  | 'WaitingForApproval'
  | 'PromotionStarted'
  | 'Promoted'
  | 'RolledBack'
  | 'ProgressDeadlineExceeded'
  | 'AnalysisRestarted'
  | 'ManualPromote'
  | 'ManualAbort'
  | 'ManualRetry'
  | 'FailedRevisionCleared';

/** Facts about a stage for notifications; volatile ones (durations) stay out of the message. */
export interface StageDetails {
  weight?: number | undefined;
  imagesFrom?: string[] | undefined;
  imagesTo?: string[] | undefined;
  durationSeconds?: number | undefined;
  gate?: 'confirm-rollout' | 'confirm-traffic-increase' | 'confirm-promotion' | undefined;
  /** Manual request id. */
  request?: string | undefined;
  /** Who asked for a manual action (the annotation's field manager); filled in by the controller. */
  actor?: string | undefined;
  failing?: FailingCheck | undefined;
}

export interface FailingCheck {
  name: string;
  value?: number | undefined;
  min?: number | undefined;
  max?: number | undefined;
  message: string;
}

export interface Stage {
  kind: StageKind;
  warning: boolean;
  message: string;
  details?: StageDetails | undefined;
}

export interface StepResult {
  status: CanaryStatus;
  actions: Action[];
  stages: Stage[];
  /** When the controller should tick again, in ms; undefined means only on a change. */
  requeueAfterMs: number | undefined;
  /** What became of manual requests whose outcome is not a phase change ("… done: …" or "ignored: …"). */
  requests: DecidedRequests;
}

export interface RequiredInputs {
  gate?: WebhookType | undefined;
  preRollout: boolean;
  analysis: boolean;
  rollbackHooks: boolean;
}

const DEFAULT_INTERVAL_MS = 60_000;
const DEFAULT_THRESHOLD = 5;
const DEFAULT_PROGRESS_DEADLINE_S = 600;

export function intervalMs(analysis: CanaryAnalysis): number {
  return analysis.interval ? parseDuration(analysis.interval) : DEFAULT_INTERVAL_MS;
}

export function strategyOf(analysis: CanaryAnalysis): Strategy {
  if (analysis.stepWeight !== undefined || analysis.stepWeights !== undefined) return 'canary';
  return analysis.match && analysis.match.length > 0 ? 'ab' : 'bluegreen';
}

export function maxWeightOf(analysis: CanaryAnalysis): number {
  if (analysis.stepWeights && analysis.stepWeights.length > 0) return analysis.stepWeights[analysis.stepWeights.length - 1] ?? 100;
  return analysis.maxWeight ?? 100;
}

/** The weight after `current` in a canary rollout; equal to current at the maximum. */
export function nextWeight(analysis: CanaryAnalysis, current: number): number {
  const max = maxWeightOf(analysis);
  if (analysis.stepWeights && analysis.stepWeights.length > 0) {
    return Math.min(max, analysis.stepWeights.find((w) => w > current) ?? max);
  }
  return Math.min(max, current + (analysis.stepWeight ?? max));
}

/** Every weight a canary rollout goes through, starting at 0, e.g. [0, 10, 20, 30]. */
export function weightPlan(analysis: CanaryAnalysis): number[] {
  const plan = [0];
  for (;;) {
    const last = plan[plan.length - 1] ?? 0;
    const next = nextWeight(analysis, last);
    if (next <= last) return plan;
    plan.push(next);
  }
}

function iso(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** With milliseconds: the pacing of steps must not drift by the second-truncation. */
function preciseTime(date: Date): string {
  return date.toISOString();
}

function isDue(status: CanaryStatus, spec: CanarySpec, now: Date): { due: boolean; waitMs: number } {
  const interval = intervalMs(spec.analysis);
  if (!status.lastStepTime) return { due: true, waitMs: interval };
  const elapsed = now.getTime() - Date.parse(status.lastStepTime);
  // 50 ms slack: a timer that fires a hair early still counts as on time.
  return elapsed + 50 >= interval ? { due: true, waitMs: interval } : { due: false, waitMs: interval - elapsed };
}

/** Phases in which a rollout is under way (traffic may be on the canary). */
export function isActive(phase: CanaryPhase | undefined): boolean {
  return phase === 'Progressing' || phase === 'WaitingPromotion' || phase === 'Promoting' || phase === 'Finalising' || phase === 'Waiting';
}

/** Routes during analysis for the current status. */
export function analysisRoutes(spec: CanarySpec, status: CanaryStatus): Routes {
  const strategy = strategyOf(spec.analysis);
  if (strategy === 'canary') return { canaryWeight: status.canaryWeight ?? 0, match: false, mirror: false };
  if (strategy === 'ab') return { canaryWeight: 0, match: true, mirror: false };
  return { canaryWeight: 0, match: false, mirror: spec.analysis.mirror === true };
}

export const PRIMARY_ROUTES: Routes = { canaryWeight: 0, match: false, mirror: false };

/** Phases in which a pause request holds the rollout. */
function isPausable(phase: CanaryPhase | undefined): boolean {
  return isActive(phase);
}

const TIMESTAMPED_ID = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

/**
 * The pause or resume request that takes effect this tick, and the one it
 * beats when both annotations changed since the last tick. The later request
 * wins: a request pending alone is later than the acknowledged other one.
 * When both are pending, ids that start with a timestamp (the CLI's, e.g.
 * 2026-01-01T00:00:00.000Z-ab12cd) are compared; otherwise the order is
 * unknown and the pause wins, because a held rollout can always be resumed
 * while traffic moved by a resume cannot be taken back.
 */
export function pauseRequest(manual: ManualRequests): { winner: { kind: 'pause' | 'resume'; id: string }; loser?: { kind: 'pause' | 'resume'; id: string } | undefined } | undefined {
  const { pause, resume } = manual;
  if (pause === undefined && resume === undefined) return undefined;
  if (resume === undefined) return { winner: { kind: 'pause', id: pause ?? '' } };
  if (pause === undefined) return { winner: { kind: 'resume', id: resume } };
  const resumeLater = TIMESTAMPED_ID.test(pause) && TIMESTAMPED_ID.test(resume) && resume > pause;
  return resumeLater
    ? { winner: { kind: 'resume', id: resume }, loser: { kind: 'pause', id: pause } }
    : { winner: { kind: 'pause', id: pause }, loser: { kind: 'resume', id: resume } };
}

/** Whether the rollout is held by a pause after this tick's pause/resume requests. */
function pausedAfter(status: CanaryStatus, manual: ManualRequests): boolean {
  if (!isPausable(status.phase)) return false;
  const request = pauseRequest(manual)?.winner;
  if (request) return request.kind === 'pause';
  return status.paused !== undefined;
}

/**
 * What the controller must gather before calling `step` this tick. Pure; the
 * same decisions `step` takes, so inputs are only gathered when they matter.
 */
export function requiredInputs(spec: CanarySpec, status: CanaryStatus, observed: Observed, pending: { retry?: boolean; pause?: string | undefined; resume?: string | undefined } = {}): RequiredInputs {
  const none: RequiredInputs = { preRollout: false, analysis: false, rollbackHooks: false };
  const phase = status.phase;
  // A paused rollout calls no gate, webhook or metric check (a new revision restarts it at weight 0, which needs none either).
  if (pausedAfter(status, { pause: pending.pause, resume: pending.resume })) return none;
  const retrying = phase === 'Failed' && pending.retry === true;
  const newRevision = isNewRevision(status, observed) || retrying;
  if (phase === 'Waiting' || (newRevision && (phase === 'Initialized' || phase === 'Succeeded' || phase === 'Failed'))) {
    return spec.skipAnalysis ? none : { ...none, gate: 'confirm-rollout' };
  }
  if (phase === 'WaitingPromotion') {
    // As Flagger: while waiting for confirm-promotion, the checks go on every interval and failures still roll back.
    const checks = status.lastAppliedSpec === observed.revision && observed.canaryReady && isDue(status, spec, observed.now).due && !spec.skipAnalysis;
    return { ...none, gate: 'confirm-promotion', analysis: checks, rollbackHooks: checks };
  }
  if (phase !== 'Progressing' || status.lastAppliedSpec !== observed.revision || !observed.canaryReady) return none;
  if (!isDue(status, spec, observed.now).due || spec.skipAnalysis) return none;
  const strategy = strategyOf(spec.analysis);
  const weight = status.canaryWeight ?? 0;
  const iterations = status.iterations ?? 0;
  const firstStep = weight === 0 && iterations === 0;
  const analysis = strategy !== 'canary' || weight > 0;
  let gate: WebhookType | undefined;
  if (strategy === 'canary') gate = weight >= maxWeightOf(spec.analysis) ? 'confirm-promotion' : 'confirm-traffic-increase';
  else if (iterations + 1 >= (spec.analysis.iterations ?? 0)) gate = 'confirm-promotion';
  return { gate, preRollout: firstStep, analysis, rollbackHooks: true };
}

function isNewRevision(status: CanaryStatus, observed: Observed): boolean {
  if (observed.revision === status.lastPromotedSpec) return false;
  if (observed.revision === status.lastAppliedSpec && status.phase !== 'Succeeded') return false;
  return true;
}

interface Draft {
  status: CanaryStatus;
  actions: Action[];
  stages: Stage[];
  requeueAfterMs: number | undefined;
  requests: DecidedRequests;
}

function transition(draft: Draft, phase: CanaryPhase, now: Date, message: string): void {
  if (draft.status.phase !== phase) draft.status.lastTransitionTime = iso(now);
  draft.status.phase = phase;
  record(draft, now, message);
}

function record(draft: Draft, now: Date, message: string): void {
  const entry: CanaryHistoryEntry = { time: iso(now), phase: draft.status.phase ?? 'Initializing', weight: draft.status.canaryWeight ?? 0, message };
  draft.status.history = [...(draft.status.history ?? []), entry].slice(-CANARY_HISTORY_LIMIT);
}

function stage(draft: Draft, kind: StageKind, message: string, warning = false, details?: StageDetails): void {
  draft.stages.push({ kind, warning, message, ...(details ? { details } : {}) });
}

function startRollout(draft: Draft, spec: CanarySpec, observed: Observed, message: string): void {
  const s = draft.status;
  s.lastAppliedSpec = observed.revision;
  s.canaryImages = observed.images;
  s.canaryWeight = 0;
  s.iterations = 0;
  s.failedChecks = 0;
  s.rolloutStartTime = iso(observed.now);
  s.waitingSince = preciseTime(observed.now);
  delete s.lastStepTime;
  delete s.gate;
  draft.actions.push({ type: 'scaleCanary', to: 'up' }, { type: 'route', routes: analysisRoutes(spec, s) });
  transition(draft, 'Progressing', observed.now, message);
  draft.requeueAfterMs = intervalMs(spec.analysis);
}

function rollback(draft: Draft, observed: Observed, reason: string, kind: StageKind = 'RolledBack', details: StageDetails = {}, options: { restorePrimary?: boolean } = {}): void {
  const s = draft.status;
  s.canaryWeight = 0;
  delete s.gate;
  delete s.waitingSince;
  delete s.paused;
  s.failedRevision = { revision: s.lastAppliedSpec ?? observed.revision, images: s.canaryImages ?? observed.images, reason, time: iso(observed.now) };
  // The primary starts rolling back first; all traffic then goes to it.
  if (options.restorePrimary === true) draft.actions.push({ type: 'restorePrimary' });
  draft.actions.push({ type: 'route', routes: PRIMARY_ROUTES }, { type: 'scaleCanary', to: 'zero' });
  transition(draft, 'Failed', observed.now, `rolled back: ${reason}`);
  const images = s.failedRevision.images ?? [];
  const all: StageDetails = { weight: 0, imagesTo: images, ...details };
  if (kind !== 'RolledBack') stage(draft, kind, reason, true, all);
  stage(draft, 'RolledBack', `rolled back ${images.length > 0 ? images.join(', ') : s.failedRevision.revision}: ${reason}`, true, all);
  draft.requeueAfterMs = undefined;
}

function startPromotion(draft: Draft, spec: CanarySpec, observed: Observed, message: string): void {
  const s = draft.status;
  delete s.gate;
  delete s.paused;
  s.waitingSince = preciseTime(observed.now);
  // Blue/Green switches all traffic to the canary while the primary is updated.
  if (strategyOf(spec.analysis) === 'bluegreen') {
    s.canaryWeight = 100;
    draft.actions.push({ type: 'route', routes: { canaryWeight: 100, match: false, mirror: false } });
  }
  draft.actions.push({ type: 'promotePrimary' });
  transition(draft, 'Promoting', observed.now, message);
  stage(draft, 'PromotionStarted', `copying ${(s.canaryImages ?? observed.images).join(', ')} to the primary`, false, { imagesTo: s.canaryImages ?? observed.images, weight: s.canaryWeight ?? 0 });
  s.lastStepTime = preciseTime(observed.now);
  draft.requeueAfterMs = intervalMs(spec.analysis);
}

function holdAtGate(draft: Draft, type: WebhookType, gate: GateResult, now: Date): void {
  const s = draft.status;
  const changed = s.gate?.webhook !== (gate.webhook ?? '') || s.gate.type !== type;
  if (changed) {
    s.gate = { webhook: gate.webhook ?? '', type, message: gate.message, since: iso(now) };
  } else if (s.gate) {
    s.gate.message = gate.message;
  }
  if (changed) {
    const gateType = type === 'confirm-rollout' || type === 'confirm-traffic-increase' || type === 'confirm-promotion' ? type : undefined;
    stage(draft, 'WaitingForApproval', `waiting for approval: ${type} webhook ${gate.webhook ?? ''}`.trim(), false, { gate: gateType, weight: s.canaryWeight ?? 0 });
  }
}

function deadlineExceeded(spec: CanarySpec, status: CanaryStatus, now: Date): boolean {
  if (!status.waitingSince) return false;
  const deadline = (spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S) * 1000;
  return now.getTime() - Date.parse(status.waitingSince) > deadline;
}

/** Acknowledges pending pause/resume requests that this tick made moot. */
function settlePauseRequests(draft: Draft, manual: ManualRequests, result: string): void {
  if (manual.pause !== undefined) draft.requests.pause ??= result;
  if (manual.resume !== undefined) draft.requests.resume ??= result;
}

/** Moves a time in status by `ms`, keeping its precision. */
function shiftTime(time: string | undefined, ms: number): string | undefined {
  return time === undefined ? undefined : preciseTime(new Date(Date.parse(time) + ms));
}

function applyPauseRequest(draft: Draft, request: NonNullable<ReturnType<typeof pauseRequest>>, observed: Observed): void {
  const s = draft.status;
  const now = observed.now;
  const { winner, loser } = request;
  if (loser) draft.requests[loser.kind] = `ignored: superseded by the later ${winner.kind} request ${winner.id}`;
  const weight = s.canaryWeight ?? 0;
  if (winner.kind === 'pause') {
    if (!isPausable(s.phase)) {
      draft.requests.pause = `ignored: no rollout in progress to pause in phase ${s.phase ?? 'none'}; set spec.suspend to keep new rollouts from starting`;
      return;
    }
    if (s.paused) {
      draft.requests.pause = `ignored: already paused by request ${s.paused.id}${s.paused.by ? ` (${s.paused.by})` : ''} since ${s.paused.since}`;
      return;
    }
    s.paused = { id: winner.id, since: preciseTime(now) };
    record(draft, now, `paused on request ${winner.id}`);
    draft.requests.pause = `pause done: holding phase ${s.phase ?? 'none'} at canary weight ${weight} until resumed`;
    return;
  }
  if (!s.paused) {
    draft.requests.resume = `ignored: not paused (phase ${s.phase ?? 'none'})`;
    return;
  }
  // The clocks of the step interval and the progress deadline stood still while paused.
  const pausedMs = Math.max(0, now.getTime() - Date.parse(s.paused.since));
  const lastStepTime = shiftTime(s.lastStepTime, pausedMs);
  if (lastStepTime !== undefined) s.lastStepTime = lastStepTime;
  const waitingSince = shiftTime(s.waitingSince, pausedMs);
  if (waitingSince !== undefined) s.waitingSince = waitingSince;
  const id = s.paused.id;
  delete s.paused;
  record(draft, now, `resumed on request ${winner.id} after ${Math.round(pausedMs / 1000)}s paused (request ${id})`);
  draft.requests.resume = `resume done: phase ${s.phase ?? 'none'} continues at canary weight ${weight}`;
}

/**
 * One tick of the state machine. Pure: the same inputs give the same output.
 * `status` must be a status of an initialized Canary (phase Initialized or later).
 */
export function step(spec: CanarySpec, current: CanaryStatus, observed: Observed, inputs: StepInputs = {}): StepResult {
  const draft: Draft = { status: structuredClone(current), actions: [], stages: [], requeueAfterMs: undefined, requests: {} };
  const s = draft.status;
  const now = observed.now;
  const interval = intervalMs(spec.analysis);
  const threshold = spec.analysis.threshold ?? DEFAULT_THRESHOLD;
  const manual = inputs.manual ?? {};
  const phase = s.phase;

  // Git changed away from a rolled-back revision: stop saying Git declares it.
  if (s.failedRevision && s.failedRevision.revision !== observed.revision) {
    stage(draft, 'FailedRevisionCleared', `the target no longer declares the failed revision ${s.failedRevision.revision}`);
    delete s.failedRevision;
  }

  // A pause left over from a rollout that ended another way holds nothing.
  if (s.paused && !isPausable(phase)) delete s.paused;

  if (manual.abort !== undefined && (phase === 'Progressing' || phase === 'Waiting' || phase === 'WaitingPromotion')) {
    rollback(draft, observed, `aborted by request ${manual.abort}`, 'ManualAbort', { request: manual.abort });
    settlePauseRequests(draft, manual, `ignored: the rollout was aborted by request ${manual.abort}`);
    return draft;
  }
  if (manual.abort !== undefined && (phase === 'Promoting' || phase === 'Finalising')) {
    // The primary already runs (part of) the new version: a safe abort gives it back its previous spec.
    const previous = observed.previousPrimary;
    if (previous?.restorable === true) {
      const revision = s.lastPromotedSpec ?? 'the previous revision';
      rollback(draft, observed, `aborted by request ${manual.abort} during ${phase}; the primary goes back to ${revision}`, 'ManualAbort', { request: manual.abort }, { restorePrimary: true });
      draft.requests.abort = `abort done: phase ${phase} → Failed; the primary is rolled back to revision ${revision} and serves all traffic`;
      settlePauseRequests(draft, manual, `ignored: the rollout was aborted by request ${manual.abort}`);
      return draft;
    }
    draft.requests.abort = `ignored: abort during ${phase} needs the primary's spec from before the promotion, and ${previous?.reason ?? 'sluice did not keep it'}; `
      + 'the promotion goes on — to go back, revert the target in Git once it is promoted';
  }

  const pauseResume = pauseRequest(manual);
  if (pauseResume) applyPauseRequest(draft, pauseResume, observed);

  if (s.paused) {
    const restart = (phase === 'Progressing' || phase === 'WaitingPromotion') && observed.revision !== s.lastAppliedSpec;
    const promote = manual.promote !== undefined && (phase === 'Waiting' || phase === 'Progressing' || phase === 'WaitingPromotion');
    if (promote) {
      // An explicit promote is the later word: it ends the pause.
      record(draft, now, `pause (request ${s.paused.id}) ended by promote request ${manual.promote ?? ''}`);
      delete s.paused;
    } else if (!restart) {
      // Held: no step, no weight change, no gate, no check, and no deadline; the clocks restart on resume.
      draft.requeueAfterMs = undefined;
      return draft;
    }
    // A new revision while paused restarts at weight 0 and stays paused: no traffic stays on an unanalysed version.
  }

  switch (phase) {
    case undefined:
    case 'Initializing': {
      if (observed.primaryReady && observed.primaryRevision === observed.revision) {
        s.lastAppliedSpec = observed.revision;
        s.lastPromotedSpec = observed.revision;
        s.canaryImages = observed.images;
        s.canaryWeight = 0;
        s.failedChecks = 0;
        s.iterations = 0;
        delete s.waitingSince;
        draft.actions.push({ type: 'scaleCanary', to: 'zero' }, { type: 'route', routes: PRIMARY_ROUTES });
        transition(draft, 'Initialized', now, `primary ready with ${observed.images.join(', ')}`);
        stage(draft, 'Initialized', `initialized with ${observed.images.join(', ')}; primary serves all traffic`, false, { imagesTo: observed.images, weight: 0 });
        return draft;
      }
      if (phase === undefined) transition(draft, 'Initializing', now, 'creating the primary');
      s.waitingSince ??= preciseTime(now);
      draft.requeueAfterMs = Math.min(interval, 2_000);
      return draft;
    }

    case 'Initialized':
    case 'Succeeded':
    case 'Failed':
    case 'Waiting': {
      const retrying = phase === 'Failed' && s.failedRevision?.revision === observed.revision;
      if (retrying) {
        if (manual.retry === undefined) return draft;
        stage(draft, 'ManualRetry', `retrying revision ${observed.revision} on request ${manual.retry}`, false, { request: manual.retry, imagesTo: observed.images });
        delete s.failedRevision;
      } else if (!isNewRevision(s, observed) && phase !== 'Waiting') {
        return draft;
      }
      if (spec.suspend) return draft;
      if (phase === 'Waiting' && observed.revision === s.lastPromotedSpec) {
        // Git went back to the promoted version before the rollout started.
        delete s.gate;
        transition(draft, 'Succeeded', now, 'target reverted to the promoted revision');
        return draft;
      }
      const gate = inputs.gate;
      if (!spec.skipAnalysis && manual.promote === undefined && (!gate || !gate.open)) {
        if (phase !== 'Waiting') {
          s.lastAppliedSpec = observed.revision;
          s.canaryImages = observed.images;
          transition(draft, 'Waiting', now, `new revision ${observed.revision} waits for confirm-rollout`);
          stage(draft, 'NewRevision', `new revision detected: ${describeImages(current.canaryImages)} → ${observed.images.join(', ')}`, false, { imagesFrom: current.canaryImages, imagesTo: observed.images });
        }
        holdAtGate(draft, 'confirm-rollout', gate ?? { open: false, message: 'not yet called' }, now);
        draft.requeueAfterMs = interval;
        return draft;
      }
      if (phase !== 'Waiting' && !retrying) stage(draft, 'NewRevision', `new revision detected: ${describeImages(current.canaryImages)} → ${observed.images.join(', ')}`, false, { imagesFrom: current.canaryImages, imagesTo: observed.images });
      startRollout(draft, spec, observed, `rollout of ${observed.revision} started`);
      if (manual.promote !== undefined) {
        stage(draft, 'ManualPromote', `promoting on request ${manual.promote}`, false, { request: manual.promote });
        startPromotion(draft, spec, observed, `promoted on request ${manual.promote}`);
      } else if (spec.skipAnalysis) {
        startPromotion(draft, spec, observed, 'skipAnalysis is set');
      }
      return draft;
    }

    case 'Progressing':
    case 'WaitingPromotion': {
      if (observed.revision !== s.lastAppliedSpec) {
        stage(draft, 'AnalysisRestarted', `new revision ${observed.revision} during analysis; restarting from weight 0`);
        startRollout(draft, spec, observed, `new revision ${observed.revision} during analysis; analysis restarted`);
        return draft;
      }
      if (manual.promote !== undefined) {
        stage(draft, 'ManualPromote', `promoting on request ${manual.promote}`, false, { request: manual.promote });
        startPromotion(draft, spec, observed, `promoted on request ${manual.promote}`);
        return draft;
      }
      if (!observed.canaryReady) {
        s.waitingSince ??= preciseTime(now);
        if (deadlineExceeded(spec, s, now)) {
          rollback(draft, observed, `canary not ready within progressDeadlineSeconds ${spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S}`, 'ProgressDeadlineExceeded');
          return draft;
        }
        draft.requeueAfterMs = Math.min(interval, 5_000);
        return draft;
      }
      delete s.waitingSince;
      const due = isDue(s, spec, now);
      if (phase === 'WaitingPromotion') {
        // As Flagger: the checks go on every interval while the gate is closed; failures count toward the threshold.
        if (due.due && !spec.skipAnalysis) {
          s.lastStepTime = preciseTime(now);
          draft.requeueAfterMs = interval;
          if (failAnalysis(draft, spec, observed, inputs, threshold)) return draft;
        }
        const gate = inputs.gate;
        if (gate?.open) {
          startPromotion(draft, spec, observed, 'confirm-promotion gate opened');
        } else {
          holdAtGate(draft, 'confirm-promotion', gate ?? { open: false, message: 'not yet called' }, now);
          draft.requeueAfterMs = isDue(s, spec, now).waitMs;
        }
        return draft;
      }
      if (!due.due) {
        draft.requeueAfterMs = due.waitMs;
        return draft;
      }
      s.lastStepTime = preciseTime(now);
      draft.requeueAfterMs = interval;
      if (spec.skipAnalysis && inputs.rollbackRequested === undefined && (s.failedChecks ?? 0) < threshold) {
        startPromotion(draft, spec, observed, 'skipAnalysis is set');
        return draft;
      }
      if (failAnalysis(draft, spec, observed, inputs, threshold)) return draft;
      advance(draft, spec, observed, inputs);
      return draft;
    }

    case 'Promoting': {
      const ready = observed.primaryReady && observed.primaryRevision === s.lastAppliedSpec;
      if (!ready) {
        s.waitingSince ??= preciseTime(now);
        if (deadlineExceeded(spec, s, now)) {
          // The new primary does not come up: give it back its previous spec where sluice kept it.
          const restorePrimary = observed.previousPrimary?.restorable === true;
          rollback(draft, observed, `primary not ready within progressDeadlineSeconds ${spec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE_S} after promotion${restorePrimary ? `; the primary goes back to ${s.lastPromotedSpec ?? 'the previous revision'}` : ''}`, 'ProgressDeadlineExceeded', {}, { restorePrimary });
          return draft;
        }
        draft.requeueAfterMs = Math.min(interval, 5_000);
        return draft;
      }
      delete s.waitingSince;
      const due = isDue(s, spec, now);
      if (!due.due) {
        draft.requeueAfterMs = due.waitMs;
        return draft;
      }
      s.lastStepTime = preciseTime(now);
      const stepBack = spec.analysis.stepWeightPromotion;
      const weight = s.canaryWeight ?? 0;
      // With stepWeightPromotion the (already updated) primary takes traffic back in steps.
      const next = stepBack !== undefined && strategyOf(spec.analysis) === 'canary' ? Math.max(0, weight - stepBack) : 0;
      s.canaryWeight = next;
      draft.actions.push({ type: 'route', routes: { canaryWeight: next, match: false, mirror: false } });
      if (next > 0) {
        record(draft, now, `promotion: primary weight ${100 - next}`);
        stage(draft, 'WeightAdvanced', `promotion: canary weight ${next}, primary weight ${100 - next}`, false, { weight: next });
        draft.requeueAfterMs = interval;
        return draft;
      }
      transition(draft, 'Finalising', now, 'all traffic routed to the primary');
      draft.requeueAfterMs = interval;
      return draft;
    }

    case 'Finalising': {
      const due = isDue(s, spec, now);
      if (!due.due) {
        draft.requeueAfterMs = due.waitMs;
        return draft;
      }
      s.lastStepTime = preciseTime(now);
      s.lastPromotedSpec = s.lastAppliedSpec ?? observed.revision;
      s.canaryWeight = 0;
      s.failedChecks = 0;
      draft.actions.push({ type: 'scaleCanary', to: 'zero' }, { type: 'webhooks', hook: 'post-rollout' });
      transition(draft, 'Succeeded', now, `promoted ${s.lastPromotedSpec}`);
      const started = s.rolloutStartTime ? Date.parse(s.rolloutStartTime) : now.getTime();
      stage(draft, 'Promoted', `promoted ${(s.canaryImages ?? observed.images).join(', ')}`, false, {
        imagesTo: s.canaryImages ?? observed.images, durationSeconds: Math.round((now.getTime() - started) / 1000), weight: 0,
      });
      return draft;
    }

    default:
      return draft;
  }
}

/**
 * Rollback webhooks, the failed-check threshold and this tick's checks
 * (pre-rollout, rollout webhooks and metrics). True when the tick ends here:
 * rolled back, a failed check counted, or a check holds.
 */
function failAnalysis(draft: Draft, spec: CanarySpec, observed: Observed, inputs: StepInputs, threshold: number): boolean {
  const s = draft.status;
  const now = observed.now;
  if (inputs.rollbackRequested !== undefined) {
    rollback(draft, observed, `rollback webhook ${inputs.rollbackRequested} asked for a rollback`);
    return true;
  }
  if ((s.failedChecks ?? 0) >= threshold) {
    rollback(draft, observed, `${s.failedChecks ?? 0} failed checks reached threshold ${threshold}`);
    return true;
  }
  for (const check of [inputs.preRollout, inputs.analysis]) {
    if (!check || check.outcome === 'pass') continue;
    if (check.outcome === 'hold') {
      record(draft, now, `holding: ${check.message}`);
      return true;
    }
    s.failedChecks = (s.failedChecks ?? 0) + 1;
    record(draft, now, `failed check ${s.failedChecks}/${threshold}: ${check.message}`);
    if (s.failedChecks >= threshold) {
      rollback(draft, observed, `${check.message} (${s.failedChecks} failed checks reached threshold ${threshold})`, 'RolledBack', { failing: check.failing });
    } else {
      stage(draft, 'AnalysisFailed', `failed check ${s.failedChecks} of ${threshold}: ${check.message}`, true, { failing: check.failing, weight: s.canaryWeight ?? 0 });
    }
    return true;
  }
  return false;
}

function advance(draft: Draft, spec: CanarySpec, observed: Observed, inputs: StepInputs): void {
  const s = draft.status;
  const now = observed.now;
  const strategy = strategyOf(spec.analysis);
  const gate = inputs.gate;
  if (strategy === 'canary') {
    const weight = s.canaryWeight ?? 0;
    const next = nextWeight(spec.analysis, weight);
    if (next > weight) {
      if (gate && !gate.open) {
        holdAtGate(draft, 'confirm-traffic-increase', gate, now);
        return;
      }
      delete s.gate;
      s.canaryWeight = next;
      draft.actions.push({ type: 'route', routes: analysisRoutes(spec, s) });
      record(draft, now, `canary weight ${next}`);
      stage(draft, 'WeightAdvanced', `canary weight ${weight} → ${next}`, false, { weight: next });
      return;
    }
  } else {
    s.iterations = (s.iterations ?? 0) + 1;
    if (s.iterations < (spec.analysis.iterations ?? 0)) {
      record(draft, now, `iteration ${s.iterations} of ${spec.analysis.iterations ?? 0} passed`);
      return;
    }
  }
  if (gate && !gate.open) {
    if (s.phase !== 'WaitingPromotion') transition(draft, 'WaitingPromotion', now, 'analysis passed; waiting for confirm-promotion');
    holdAtGate(draft, 'confirm-promotion', gate, now);
    return;
  }
  startPromotion(draft, spec, observed, 'analysis passed');
}

function describeImages(images: readonly string[] | undefined): string {
  return images && images.length > 0 ? images.join(', ') : '(unknown)';
}

// Decides, per route (one Alert or one Canary alert target), which events
// become chat messages. Users complained about one message per weight step and
// about duplicates (flagger#1515, notification-controller#158), so:
//  - an info event equal to one sent within the dedup window is dropped;
//  - consecutive "weight advanced" events of one rollout are folded: the first
//    step is sent, the following ones are listed in the next message of that
//    object (or re-sent after a heartbeat interval, so a slow rollout still
//    shows progress); mode "every" sends each step;
//  - a warning/error that repeats is sent once, then again at most once per
//    repeat interval with its count;
//  - the first info event after errors is sent as the recovery, with the
//    error count, even to routes that only want errors (they saw the error);
//    it also closes the incident, so the next failure alerts at once.

import { EventReasons, isAtLeast, type EventSeverity, type SluiceEvent } from './event.ts';

export type WeightUpdates = 'coalesce' | 'every';

export interface ThrottleOptions {
  /** Identical info events within this window are sent once. Default 10 min. */
  dedupWindowMs?: number | undefined;
  /** A repeating warning/error is re-sent at most this often. Default 1 h. */
  repeatIntervalMs?: number | undefined;
  /** With coalescing, a rollout's weight is re-sent when the last message about it is this old. Default 30 min. */
  weightHeartbeatMs?: number | undefined;
  /** State older than this (problems, rollouts) is forgotten. Default 24 h. */
  stateTtlMs?: number | undefined;
  /** Most entries of each kind kept; the least recently used go first. Default 10,000. */
  maxEntries?: number | undefined;
  /** Milliseconds clock. Default Date.now. */
  now?: (() => number) | undefined;
}

/** What a route wants; the throttle keeps its state per route key. */
export interface ThrottleRoute {
  key: string;
  minSeverity: EventSeverity;
  weightUpdates: WeightUpdates;
}

/** Facts the throttle adds to a message it lets through. */
export interface MessageAnnotations {
  /** The event repeated: total occurrences since first seen. */
  repeated?: { count: number; sinceMs: number } | undefined;
  /** The object recovered from an error that occurred `failures` times since `sinceMs`. */
  recovered?: { reason: string; failures: number; sinceMs: number } | undefined;
  /** Weights of the rollout folded into this message, in order. */
  weightSteps?: number[] | undefined;
}

export type SuppressedWhy = 'duplicate' | 'repeat' | 'coalesced' | 'below-severity';

export type ThrottleVerdict =
  | { send: true; annotations: MessageAnnotations }
  | { send: false; why: SuppressedWhy };

interface Problem {
  reason: string;
  severity: EventSeverity;
  count: number;
  firstAt: number;
  lastSentAt: number;
  lastSeenAt: number;
}

interface RolloutSteps {
  revision: string | undefined;
  weights: number[];
  /** Steps folded since the last message that showed the weights. */
  folded: number;
  lastSentAt: number;
  lastSeenAt: number;
}

/** Map with least-recently-used eviction at a size limit. */
class BoundedMap<V> {
  readonly #map = new Map<string, V>();
  readonly #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get(key: string): V | undefined {
    return this.#map.get(key);
  }

  set(key: string, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (!oldest.done) this.#map.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  get size(): number {
    return this.#map.size;
  }

  sweep(isStale: (value: V) => boolean): void {
    for (const [key, value] of this.#map) if (isStale(value)) this.#map.delete(key);
  }
}

/** JSON with sorted keys, so equal metadata gives equal fingerprints. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function objectKeyOf(event: SluiceEvent): string {
  return `${event.object.kind}/${event.object.namespace}/${event.object.name}`;
}

export class NotificationThrottle {
  readonly #dedupWindowMs: number;
  readonly #repeatIntervalMs: number;
  readonly #heartbeatMs: number;
  readonly #stateTtlMs: number;
  readonly #now: () => number;
  readonly #sent: BoundedMap<number>;
  /** Per route+object: open problems by fingerprint. */
  readonly #problems: BoundedMap<Map<string, Problem>>;
  readonly #rollouts: BoundedMap<RolloutSteps>;
  #lastSweep = 0;

  constructor(options: ThrottleOptions = {}) {
    this.#dedupWindowMs = options.dedupWindowMs ?? 600_000;
    this.#repeatIntervalMs = options.repeatIntervalMs ?? 3_600_000;
    this.#heartbeatMs = options.weightHeartbeatMs ?? 1_800_000;
    this.#stateTtlMs = options.stateTtlMs ?? 86_400_000;
    this.#now = options.now ?? Date.now;
    const max = options.maxEntries ?? 10_000;
    this.#sent = new BoundedMap(max);
    this.#problems = new BoundedMap(max);
    this.#rollouts = new BoundedMap(max);
  }

  /** Entries held, for tests and a memory gauge. */
  get size(): number {
    return this.#sent.size + this.#problems.size + this.#rollouts.size;
  }

  decide(route: ThrottleRoute, event: SluiceEvent): ThrottleVerdict {
    const now = this.#now();
    this.#sweep(now);
    const objectKey = `${route.key}|${objectKeyOf(event)}`;
    if (event.severity === 'info') return this.#decideInfo(route, event, objectKey, now);
    if (!isAtLeast(event.severity, route.minSeverity)) return { send: false, why: 'below-severity' };
    return this.#decideProblem(event, objectKey, now);
  }

  #decideProblem(event: SluiceEvent, objectKey: string, now: number): ThrottleVerdict {
    // The revision is part of the identity: the same failure on a new revision is news.
    const fingerprint = `${event.reason}|${event.message}|${event.metadata?.revision ?? ''}`;
    const problems = this.#problems.get(objectKey) ?? new Map<string, Problem>();
    const known = problems.get(fingerprint);
    this.#problems.set(objectKey, problems);
    if (known) {
      known.count++;
      known.lastSeenAt = now;
      if (now - known.lastSentAt < this.#repeatIntervalMs) return { send: false, why: 'repeat' };
      known.lastSentAt = now;
      return { send: true, annotations: { repeated: { count: known.count, sinceMs: known.firstAt }, ...this.#takeSteps(objectKey) } };
    }
    problems.set(fingerprint, { reason: event.reason, severity: event.severity, count: 1, firstAt: now, lastSentAt: now, lastSeenAt: now });
    return { send: true, annotations: this.#takeSteps(objectKey) };
  }

  #decideInfo(route: ThrottleRoute, event: SluiceEvent, objectKey: string, now: number): ThrottleVerdict {
    const problems = this.#problems.get(objectKey);
    // Any info event closes the object's incidents, so a new failure alerts again.
    if (problems) this.#problems.delete(objectKey);
    const errors = problems ? [...problems.values()].filter((problem) => problem.severity === 'error') : [];
    if (errors.length > 0) {
      // Recovery from an error: always sent.
      let first: Problem | undefined;
      let failures = 0;
      for (const problem of errors) {
        failures += problem.count;
        if (!first || problem.firstAt < first.firstAt) first = problem;
      }
      this.#rememberSent(objectKey, event, now);
      const annotations: MessageAnnotations = { ...this.#takeSteps(objectKey) };
      if (first) annotations.recovered = { reason: first.reason, failures, sinceMs: first.firstAt };
      if (event.reason === EventReasons.CanaryWeightAdvanced) this.#startRollout(objectKey, event, now);
      return { send: true, annotations };
    }
    if (!isAtLeast(event.severity, route.minSeverity)) return { send: false, why: 'below-severity' };

    if (event.reason === EventReasons.CanaryWeightAdvanced && route.weightUpdates === 'coalesce') {
      return this.#decideWeight(event, objectKey, now);
    }
    const fingerprint = `${objectKey}|${event.reason}|${event.message}|${stableJson(event.metadata ?? {})}`;
    const lastSent = this.#sent.get(fingerprint);
    if (lastSent !== undefined && now - lastSent < this.#dedupWindowMs) return { send: false, why: 'duplicate' };
    this.#sent.set(fingerprint, now);
    if (event.reason === EventReasons.CanaryWeightAdvanced) return { send: true, annotations: {} };
    return { send: true, annotations: this.#takeSteps(objectKey) };
  }

  #decideWeight(event: SluiceEvent, objectKey: string, now: number): ThrottleVerdict {
    const weight = event.metadata?.weight;
    const rollout = this.#rollouts.get(objectKey);
    if (!rollout || rollout.revision !== event.metadata?.revision) {
      this.#startRollout(objectKey, event, now);
      return { send: true, annotations: {} };
    }
    if (weight !== undefined) rollout.weights.push(weight);
    rollout.lastSeenAt = now;
    if (now - rollout.lastSentAt >= this.#heartbeatMs) {
      rollout.lastSentAt = now;
      rollout.folded = 0;
      return { send: true, annotations: { weightSteps: [...rollout.weights] } };
    }
    rollout.folded++;
    return { send: false, why: 'coalesced' };
  }

  #startRollout(objectKey: string, event: SluiceEvent, now: number): void {
    const weight = event.metadata?.weight;
    this.#rollouts.set(objectKey, {
      revision: event.metadata?.revision, weights: weight === undefined ? [] : [weight], folded: 0, lastSentAt: now, lastSeenAt: now,
    });
  }

  /** Ends the rollout's group of weight steps; returns them when some were folded. */
  #takeSteps(objectKey: string): MessageAnnotations {
    const rollout = this.#rollouts.get(objectKey);
    if (!rollout) return {};
    this.#rollouts.delete(objectKey);
    return rollout.folded > 0 && rollout.weights.length > 0 ? { weightSteps: rollout.weights } : {};
  }

  #rememberSent(objectKey: string, event: SluiceEvent, now: number): void {
    this.#sent.set(`${objectKey}|${event.reason}|${event.message}|${stableJson(event.metadata ?? {})}`, now);
  }

  #sweep(now: number): void {
    // Sweeping is O(entries); once a minute keeps decide() cheap.
    if (now - this.#lastSweep < 60_000) return;
    this.#lastSweep = now;
    this.#sent.sweep((sentAt) => now - sentAt >= this.#dedupWindowMs);
    this.#problems.sweep((problems) => {
      for (const [key, problem] of problems) if (now - problem.lastSeenAt >= this.#stateTtlMs) problems.delete(key);
      return problems.size === 0;
    });
    this.#rollouts.sweep((rollout) => now - rollout.lastSeenAt >= this.#stateTtlMs);
  }
}

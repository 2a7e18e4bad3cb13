// Kubernetes Events (events.k8s.io/v1). Repeats of the same event within a
// window update the first one's series instead of creating new objects.
import os from 'node:os';
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { mapKubeError } from './errors.ts';
import type { ObjectRef } from './types.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventSpec {
  regarding: ObjectRef & { uid?: string | undefined };
  type: EventType;
  /** CamelCase machine-readable reason, e.g. "CanaryPromoted". */
  reason: string;
  /** What sluice did, e.g. "Promote". */
  action: string;
  /** Human-readable message; truncated to the API limit. */
  note: string;
  related?: (ObjectRef & { uid?: string | undefined }) | undefined;
}

export interface EventRecorderOptions {
  logger: Logger;
  controller?: string;
  instance?: string;
  /** Repeats within this window become a series on one Event. Default 10 min. */
  seriesWindowMs?: number;
  now?: () => Date;
}

const noteLimitBytes = 1024;

/** The API server's MicroTime format: RFC 3339 with exactly six fractional digits. */
export function formatMicroTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function truncateNote(note: string): string {
  if (Buffer.byteLength(note) <= noteLimitBytes) return note;
  let cut = note.slice(0, noteLimitBytes - 3);
  while (Buffer.byteLength(cut) > noteLimitBytes - 3) cut = cut.slice(0, -1);
  return `${cut}...`;
}

interface SeriesState {
  namespace: string;
  name: string;
  count: number;
  firstAt: number;
}

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #log: Logger;
  readonly #controller: string;
  readonly #instance: string;
  readonly #windowMs: number;
  readonly #now: () => Date;
  readonly #series = new Map<string, SeriesState>();

  constructor(client: KubeClient, options: EventRecorderOptions) {
    this.#client = client;
    this.#log = options.logger;
    this.#controller = options.controller ?? 'sluice.dev/controller';
    this.#instance = options.instance ?? `sluice-${os.hostname()}`;
    this.#windowMs = options.seriesWindowMs ?? 600_000;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Records an event. Failures are logged, never thrown: a missing Event must
   * not fail the reconcile that produced it.
   */
  async record(spec: EventSpec): Promise<boolean> {
    const now = this.#now();
    const note = truncateNote(spec.note);
    const namespace = spec.regarding.namespace ?? 'default';
    const key = [spec.regarding.kind, namespace, spec.regarding.name, spec.type, spec.reason, note].join('\u0000');
    this.#prune(now.getTime());
    try {
      const existing = this.#series.get(key);
      if (existing) {
        existing.count++;
        await this.#client.patchMerge(
          { apiVersion: 'events.k8s.io/v1', kind: 'Event', namespace: existing.namespace, name: existing.name },
          { series: { count: existing.count, lastObservedTime: formatMicroTime(now) } },
        );
        return true;
      }
      const name = `${spec.regarding.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
      await this.#client.create({
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: formatMicroTime(now),
        reportingController: this.#controller,
        reportingInstance: this.#instance.slice(0, 128),
        action: spec.action,
        reason: spec.reason,
        note,
        type: spec.type,
        regarding: { apiVersion: spec.regarding.apiVersion, kind: spec.regarding.kind, name: spec.regarding.name, namespace, uid: spec.regarding.uid },
        related: spec.related ? { ...spec.related } : undefined,
      });
      this.#series.set(key, { namespace, name, count: 1, firstAt: now.getTime() });
      return true;
    } catch (error) {
      // The series target may have been garbage-collected; start a new one next time.
      this.#series.delete(key);
      const mapped = mapKubeError(error, 'record event');
      this.#log.warn({ code: mapped.code, err: mapped.message, reason: spec.reason }, 'could not record Kubernetes Event');
      return false;
    }
  }

  #prune(nowMs: number): void {
    for (const [key, state] of this.#series) {
      if (nowMs - state.firstAt > this.#windowMs) this.#series.delete(key);
    }
  }
}

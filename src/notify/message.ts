// One provider-neutral rendering of an event: title, text, ordered fields.
// Each provider file only maps this onto its service's payload format, so all
// services show the same facts in the same order.

import { reasonTitle, type EventSeverity, type InvolvedObject, type SluiceEvent } from './event.ts';
import type { MessageAnnotations } from './throttle.ts';

export interface ChatField {
  name: string;
  value: string;
}

export interface ChatMessage {
  /** e.g. "Canary prod/podinfo: Rolled back". */
  title: string;
  /** The event's message. */
  text: string;
  severity: EventSeverity;
  fields: ChatField[];
  /** The Alert's summary, e.g. the cluster name. */
  summary?: string | undefined;
  object: InvolvedObject;
  reason: string;
  timestamp: Date;
  /** Every fact as a flat string map, for the generic JSON payload. */
  metadata: Record<string, string>;
}

export interface RenderOptions {
  summary?: string | undefined;
  /** Alert.spec.eventMetadata: shown as fields and sent in metadata. */
  eventMetadata?: Readonly<Record<string, string>> | undefined;
  now?: Date | undefined;
}

/** Colours by severity, as hex (Slack, Rocket.Chat, Google Chat) and as a number (Discord). */
export const severityColors: Readonly<Record<EventSeverity, { hex: string; rgb: number }>> = {
  info: { hex: '#2eb886', rgb: 0x2eb886 },
  warning: { hex: '#daa038', rgb: 0xdaa038 },
  error: { hex: '#a30200', rgb: 0xa30200 },
};

/** Cuts `text` to at most `max` UTF-16 units, ending in an ellipsis, never splitting a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max <= 1) return text.slice(0, Math.max(0, max));
  let cut = text.slice(0, max - 1);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return `${cut}…`;
}

function formatUtc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(m / 60)}h${m % 60 ? `${m % 60}m` : ''}`;
}

function formatList(items: readonly string[], limit: number): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown} and ${items.length - limit} more` : shown;
}

function formatThreshold(min: number | undefined, max: number | undefined): string | undefined {
  if (min !== undefined && max !== undefined) return `${min}–${max}`;
  if (min !== undefined) return `≥ ${min}`;
  if (max !== undefined) return `≤ ${max}`;
  return undefined;
}

export function describeObject(object: InvolvedObject): string {
  return `${object.kind} ${object.namespace}/${object.name}`;
}

function times(count: number): string {
  return count === 1 ? '1 time' : `${count} times`;
}

export function renderMessage(event: SluiceEvent, annotations: MessageAnnotations, options: RenderOptions = {}): ChatMessage {
  const fields: ChatField[] = [];
  const metadata: Record<string, string> = {};
  const add = (key: string, name: string, value: string | undefined) => {
    if (value === undefined || value === '') return;
    fields.push({ name, value });
    metadata[key] = value;
  };
  const m = event.metadata ?? {};

  if (annotations.recovered) {
    const r = annotations.recovered;
    add('recovered', 'Recovered', `${reasonTitle(r.reason)} occurred ${times(r.failures)} since ${formatUtc(r.sinceMs)}`);
  }
  if (annotations.repeated) {
    add('repeated', 'Repeated', `${times(annotations.repeated.count)} since ${formatUtc(annotations.repeated.sinceMs)}`);
  }
  add('revision', 'Revision', m.previousRevision && m.revision ? `${m.previousRevision} → ${m.revision}` : m.revision);
  if (m.images) {
    const to = m.images.to.join(', ');
    add('images', 'Images', m.images.from && m.images.from.length > 0 ? `${m.images.from.join(', ')} → ${to}` : to);
  }
  add('weight', 'Traffic', m.weight === undefined ? undefined : `${m.weight}%`);
  if (annotations.weightSteps && annotations.weightSteps.length > 0) {
    add('weightSteps', 'Traffic steps', annotations.weightSteps.map((w) => `${w}%`).join(' → '));
  }
  if (m.failingCheck) {
    const c = m.failingCheck;
    const threshold = formatThreshold(c.min, c.max);
    const value = c.value === undefined ? 'no value' : String(c.value);
    add('failingCheck', 'Failing check', `${c.name}: ${value}${threshold ? ` (threshold ${threshold})` : ''}${c.message ? ` — ${c.message}` : ''}`);
  }
  add('gate', 'Waiting for', m.gate);
  add('duration', 'Duration', m.durationSeconds === undefined ? undefined : formatDuration(m.durationSeconds));
  if (m.changeSet) {
    const c = m.changeSet;
    const parts: string[] = [];
    if (c.created?.length) parts.push(`created ${formatList(c.created, 5)}`);
    if (c.configured?.length) parts.push(`configured ${formatList(c.configured, 5)}`);
    if (c.pruned?.length) parts.push(`pruned ${formatList(c.pruned, 5)}`);
    if (c.unchanged) parts.push(`${c.unchanged} unchanged`);
    add('changes', 'Changes', parts.join('; '));
  }
  if (m.errors && m.errors.length > 0) {
    const shown = m.errors.slice(0, 3).map((e) => truncate(e, 300));
    add('errors', 'Errors', m.errors.length > 3 ? `${shown.join('\n')}\n(and ${m.errors.length - 3} more)` : shown.join('\n'));
  }
  add('actor', 'By', m.actor);
  for (const [key, value] of Object.entries(m.extra ?? {})) add(key, key, value);
  for (const [key, value] of Object.entries(options.eventMetadata ?? {})) add(key, key, value);
  if (options.summary) metadata.summary = options.summary;

  return {
    title: `${describeObject(event.object)}: ${reasonTitle(event.reason)}`,
    text: event.message,
    severity: event.severity,
    fields,
    summary: options.summary,
    object: event.object,
    reason: event.reason,
    timestamp: event.timestamp ?? options.now ?? new Date(),
    metadata,
  };
}

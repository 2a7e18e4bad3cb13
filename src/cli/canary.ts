// Canary commands: promote|abort|retry|pause|resume through the sluice.dev/*
// request annotations (acknowledged by the controller in status.requests),
// spec.suspend for Flagger's suspend, `status` and `wait` reading the status.
import { randomBytes } from 'node:crypto';
import { API_GROUP_VERSION, type Canary, type CanaryStatus } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import type { KubeObject, ObjectRef } from '../kube/types.ts';
import { conditionOf, ExitCode, parseDurationFlag, pollUntil, quietLogger, retryRead, sleep, warn, withSession, write, type GlobalOptions } from './common.ts';
import { listEventsFor } from './events.ts';
import { formatAge, toJson } from './output.ts';

/** With CanaryPauseAnnotations, must match ManualAnnotations in src/canary/controller.ts. */
export const CanaryRequestAnnotations = {
  promote: 'sluice.dev/promote',
  abort: 'sluice.dev/abort',
  retry: 'sluice.dev/retry',
} as const;

/** Pause holds an active rollout where it is; resume continues it from the same step. */
export const CanaryPauseAnnotations = {
  pause: 'sluice.dev/pause',
  resume: 'sluice.dev/resume',
} as const;

export type CanaryRequest = keyof typeof CanaryRequestAnnotations;
export type CanaryPauseRequest = keyof typeof CanaryPauseAnnotations;
type AnyCanaryRequest = CanaryRequest | CanaryPauseRequest;

const allRequestAnnotations: Readonly<Record<AnyCanaryRequest, string>> = { ...CanaryRequestAnnotations, ...CanaryPauseAnnotations };

function canaryRef(namespace: string, name: string): ObjectRef {
  return { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name };
}

/**
 * A new request id: a timestamp first, so the controller can tell which of a
 * pause and a resume set at about the same time came later.
 */
export function requestId(now: Date = new Date()): string {
  return `${now.toISOString()}-${randomBytes(3).toString('hex')}`;
}

export async function runCanaryRequest(request: AnyCanaryRequest, name: string, options: GlobalOptions & { wait: boolean; timeout: string }): Promise<void> {
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = canaryRef(namespace, name);
    await client.get(ref);
    await requestAndWait(client, ref, request, { wait: options.wait, timeoutMs });
  });
}

async function requestAndWait(client: KubeClient, ref: ObjectRef, request: AnyCanaryRequest, options: { wait: boolean; timeoutMs: number }): Promise<void> {
  const { timeoutMs } = options;
  const id = requestId();
  await client.patchMerge(ref, { metadata: { annotations: { [allRequestAnnotations[request]]: id } } });
  write(`► ${request} requested for Canary ${ref.namespace ?? ''}/${ref.name} (request ${id})`);
  if (!options.wait) return;
  const acknowledged = await pollUntil(async () => {
    const canary = await client.get<Canary>(ref);
    const entry = canary.status?.requests?.[request];
    return entry?.id === id ? { entry, canary } : undefined;
  }, { timeoutMs, intervalMs: 500 });
  if (!acknowledged) {
    throw new SluiceError(ErrorCodes.ReconcileTimeout, `the controller did not acknowledge the ${request} request within ${timeoutMs / 1000}s`, {
      hint: 'check that the sluice controller is running and watches this namespace; the annotation stays set and is handled when it is',
    });
  }
  const result = acknowledged.entry.result;
  if (result.startsWith('ignored')) {
    warn(`✗ ${result}`);
    throw new ExitCode(1);
  }
  write(`✔ ${result}`);
}

/**
 * `sluice pause|resume canary`: the sluice.dev/pause or sluice.dev/resume
 * request, waiting for the controller's acknowledgement like promote/abort/retry.
 * Resume also clears spec.suspend, which older sluice versions set for pause;
 * with only that set, clearing it is the whole resume.
 */
export async function runCanaryPause(name: string, pause: boolean, options: GlobalOptions & { wait?: boolean | undefined; timeout?: string | undefined }): Promise<void> {
  const timeoutMs = parseDurationFlag(options.timeout ?? '2m', '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = canaryRef(namespace, name);
    const canary = await client.get<Canary>(ref);
    if (!pause && canary.spec.suspend === true) {
      await client.patchMerge(ref, { spec: { suspend: false } });
      write(`✔ Canary ${namespace}/${name}: spec.suspend cleared; new rollouts start again`);
      if (!canary.status?.paused) return;
    }
    await requestAndWait(client, ref, pause ? 'pause' : 'resume', { wait: options.wait ?? true, timeoutMs });
  });
}

/** Flagger's spec.suspend: no new rollouts start while it is true (a rollout under way is held with pause). */
export async function runCanarySetSuspend(name: string, suspend: boolean, options: GlobalOptions): Promise<void> {
  await withSession(options, async ({ client, namespace }) => {
    const ref = canaryRef(namespace, name);
    await client.get(ref);
    await client.patchMerge(ref, { spec: { suspend } });
    write(`✔ Canary ${namespace}/${name} ${suspend ? 'suspended (spec.suspend=true): no new rollout starts until resumed' : 'unsuspended (spec.suspend=false)'}`);
  });
}

function bar(value: number, max: number, width = 20): string {
  const filled = max > 0 ? Math.round((Math.min(value, max) / max) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/** Steps of the weight schedule: stepWeights, or stepWeight up to maxWeight. */
function schedule(canary: Canary): number[] {
  const a = canary.spec.analysis;
  if (a.stepWeights && a.stepWeights.length > 0) return a.stepWeights;
  if (a.stepWeight && a.maxWeight) {
    const steps: number[] = [];
    for (let w = a.stepWeight; w < a.maxWeight; w += a.stepWeight) steps.push(w);
    steps.push(a.maxWeight);
    return steps;
  }
  return [];
}

export interface WorkloadImages {
  primary?: string[] | undefined;
  canary?: string[] | undefined;
}

function imagesOfDeployment(deployment: KubeObject | undefined): string[] | undefined {
  const spec = deployment?.spec as { template?: { spec?: { containers?: { image?: string }[] } } } | undefined;
  return spec?.template?.spec?.containers?.map((c) => c.image ?? '?');
}

/** The Canary and the images its primary and canary Deployments run now. */
async function snapshot(client: KubeClient, ref: ObjectRef): Promise<{ canary: Canary; images: WorkloadImages } | undefined> {
  const canary = await retryRead(() => client.find<Canary>(ref));
  if (!canary) return undefined;
  const target = canary.spec.targetRef.name;
  const deployment = (name: string) => retryRead(() => client.find({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: ref.namespace, name }));
  const [canaryDeployment, primaryDeployment] = await Promise.all([deployment(target), deployment(`${target}-primary`)]);
  return { canary, images: { canary: imagesOfDeployment(canaryDeployment), primary: imagesOfDeployment(primaryDeployment) } };
}

/** The status as text lines; one summary line when compact. */
export function describeCanary(canary: Canary, options: { compact?: boolean; now?: number; images?: WorkloadImages } = {}): string[] {
  const status: CanaryStatus = canary.status ?? {};
  const a = canary.spec.analysis;
  const phase = status.phase ?? 'Unknown';
  const weight = status.canaryWeight ?? 0;
  const steps = schedule(canary);
  const maxWeight = a.maxWeight ?? steps[steps.length - 1] ?? 100;
  const stepIndex = steps.findIndex((w) => w >= weight && weight > 0);
  const progress = a.iterations
    ? `iteration ${status.iterations ?? 0}/${a.iterations}`
    : `weight ${weight}/${maxWeight}${steps.length > 0 ? ` (step ${stepIndex < 0 ? 0 : stepIndex + 1}/${steps.length})` : ''}`;
  const failed = `failed checks ${status.failedChecks ?? 0}/${a.threshold ?? 5}`;
  if (options.compact) {
    const gate = (status.paused ? ` paused${status.paused.by ? ` by ${status.paused.by}` : ''}` : '') + (status.gate ? ` gate=${status.gate.webhook}` : '');
    const message = conditionOf(canary, 'Ready')?.message ?? '';
    return [`${phase} ${progress} ${failed}${gate}${message ? ` — ${message}` : ''}`];
  }
  const lines = [
    `Canary ${canary.metadata.namespace ?? ''}/${canary.metadata.name} → Deployment ${canary.spec.targetRef.name}`,
    `Phase:     ${phase}${status.lastTransitionTime ? ` (since ${formatAge(status.lastTransitionTime, options.now)})` : ''}`,
    `Progress:  ${bar(a.iterations ? status.iterations ?? 0 : weight, a.iterations ?? maxWeight)} ${progress}`,
    `Checks:    ${failed}`,
  ];
  const primaryImages = options.images?.primary;
  const canaryImages = options.images?.canary ?? status.canaryImages;
  if (primaryImages) lines.push(`Primary:   ${primaryImages.join(', ')}`);
  if (canaryImages && canaryImages.length > 0) lines.push(`Canary:    ${canaryImages.join(', ')}`);
  if (status.paused) {
    lines.push(`Paused:    by ${status.paused.by ?? 'unknown'} for ${formatAge(status.paused.since, options.now)} (request ${status.paused.id}); resume with \`sluice resume canary ${canary.metadata.name}\``);
  }
  if (status.gate) lines.push(`Waiting:   ${status.gate.type} webhook "${status.gate.webhook}": ${status.gate.message}`);
  if (status.failedRevision) lines.push(`Rolled back: revision ${status.failedRevision.revision}${status.failedRevision.reason ? ` (${status.failedRevision.reason})` : ''}`);
  for (const m of status.metrics ?? []) {
    const range = `${m.min ?? '-∞'}..${m.max ?? '∞'}`;
    lines.push(`Metric:    ${m.name} = ${m.value ?? 'n/a'} (range ${range}) ${m.result}${m.message ? `: ${m.message}` : ''}`);
  }
  const ready = conditionOf(canary, 'Ready');
  if (ready) lines.push(`Ready:     ${ready.status} ${ready.reason}: ${ready.message}`);
  for (const h of (status.history ?? []).slice(-10)) {
    lines.push(`  ${h.time}  ${h.phase}${h.weight !== undefined ? ` weight ${h.weight}` : ''}${h.message ? `  ${h.message}` : ''}`);
  }
  return lines;
}

export async function runCanaryStatus(name: string, options: GlobalOptions & { watch?: boolean; output?: string; events?: boolean }): Promise<void> {
  await withSession(options, async ({ client, namespace }) => {
    const ref = canaryRef(namespace, name);
    const current = await snapshot(client, ref);
    if (!current) await client.get(ref);
    if (!current) return;
    if (options.output === 'json') {
      write(toJson(current.canary.status ?? {}));
      return;
    }
    if (!options.watch) {
      write(describeCanary(current.canary, { images: current.images }).join('\n'));
      await printEvents(client, ref);
      return;
    }
    await watchCanary(client, ref);
  });
}

async function printEvents(client: KubeClient, ref: ObjectRef): Promise<void> {
  const events = await listEventsFor(client, [ref]);
  if (events.length === 0) return;
  write('Events:');
  for (const e of events.slice(-15)) write(`  ${new Date(e.time).toISOString()}  ${e.type.padEnd(7)}  ${e.reason}: ${e.note.replace(/\n/g, '; ')}`);
}

async function watchCanary(client: KubeClient, ref: ObjectRef): Promise<void> {
  const tty = process.stdout.isTTY;
  // A watch, not polling: every status write arrives, so no step is missed between two reads.
  const informer = new Informer<Canary>(client, { apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace: ref.namespace, logger: quietLogger() });
  const done = new AbortController();
  process.once('SIGINT', () => done.abort());
  process.once('SIGTERM', () => done.abort());
  let last = '';
  let images: WorkloadImages = {};
  let rendering = Promise.resolve();
  const render = (canary: Canary | undefined): void => {
    rendering = rendering.then(async () => {
      if (!canary) {
        write(`Canary ${ref.namespace ?? ''}/${ref.name} was deleted`);
        done.abort();
        return;
      }
      if (tty) {
        images = (await snapshot(client, ref).catch(() => undefined))?.images ?? images;
        const events = await listEventsFor(client, [ref]).catch(() => []);
        const timeline = events.slice(-8).map((e) => `  ${new Date(e.time).toISOString()}  ${e.reason}: ${e.note.replace(/\n/g, '; ')}`);
        const text = [...describeCanary(canary, { images }), ...(timeline.length > 0 ? ['Events:', ...timeline] : [])].join('\n');
        // Redraw in place: home, each line cleared to its end, the rest of the screen cleared.
        // Never a full clear, which many terminals copy into the scrollback on every update.
        if (text !== last) process.stdout.write(`\x1b[H${colour(text).split('\n').map((line) => `${line}\x1b[K`).join('\n')}\n\x1b[J`);
        last = text;
      } else {
        const line = describeCanary(canary, { compact: true })[0] ?? '';
        if (line !== last) write(`${new Date().toISOString()} ${line}`);
        last = line;
      }
    });
  };
  informer.on((event) => {
    if (event.object.metadata.name !== ref.name) return;
    render(event.type === 'deleted' ? undefined : event.object);
  });
  // The live view uses the terminal's alternate screen; the last view is printed to the normal one on exit.
  if (tty) process.stdout.write(ALTERNATE_SCREEN_ON);
  informer.start();
  try {
    await new Promise<void>((resolve) => done.signal.addEventListener('abort', () => resolve(), { once: true }));
    await informer.stop();
    await rendering;
  } finally {
    if (tty) process.stdout.write(`${ALTERNATE_SCREEN_OFF}${last ? `${colour(last)}\n` : ''}`);
  }
}

const ALTERNATE_SCREEN_ON = '\x1b[?1049h\x1b[H';
const ALTERNATE_SCREEN_OFF = '\x1b[?1049l';

function colour(text: string): string {
  return text
    .replace(/\b(Succeeded|Pass)\b/g, '\x1b[32m$1\x1b[0m')
    .replace(/\b(Failed|Fail|Error)\b/g, '\x1b[31m$1\x1b[0m')
    .replace(/\b(Progressing|WaitingPromotion|Promoting|Finalising)\b/g, '\x1b[33m$1\x1b[0m');
}

type WaitTarget = { phases: string[]; failPhases: string[]; label: string };

export function parseWaitFor(value: string): WaitTarget {
  if (value === 'promoted' || value === 'succeeded') return { phases: ['Succeeded'], failPhases: ['Failed'], label: 'promoted' };
  if (value === 'failed' || value === 'rolled-back') return { phases: ['Failed'], failPhases: ['Succeeded'], label: 'failed' };
  if (value.startsWith('phase=') && value.length > 6) return { phases: [value.slice(6)], failPhases: [], label: value };
  throw new SluiceError(ErrorCodes.ConfigInvalid, `--for "${value}" is not understood`, { hint: 'use --for promoted, --for failed or --for phase=PHASE' });
}

/**
 * Whether the status is about what the target declares now. Right after a new
 * image is applied, an old Succeeded must not count: status.canaryImages (the
 * images of the revision the controller last saw) must equal the target's.
 */
export function isCurrent(canary: Canary, targetImages: string[] | undefined): boolean {
  const seen = canary.status?.canaryImages;
  if (!seen || seen.length === 0 || !targetImages) return true;
  return seen.length === targetImages.length && seen.every((image, i) => image === targetImages[i]);
}

export async function runCanaryWait(name: string, options: GlobalOptions & { for: string; timeout: string }): Promise<void> {
  const target = parseWaitFor(options.for);
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  await withSession(options, async ({ client, namespace }) => {
    const ref = canaryRef(namespace, name);
    await client.get(ref);
    let lastLine = '';
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const current = await snapshot(client, ref);
      if (!current) throw new SluiceError(ErrorCodes.KubeNotFound, `Canary ${namespace}/${name} was deleted while waiting`);
      const { canary, images } = current;
      const phase = canary.status?.phase ?? 'Unknown';
      const upToDate = isCurrent(canary, images.canary);
      const line = upToDate ? describeCanary(canary, { compact: true })[0] ?? '' : `${phase}; waiting for the controller to pick up ${(images.canary ?? []).join(', ')}`;
      if (line !== lastLine) write(`${new Date().toISOString()} ${line}`);
      lastLine = line;
      if (upToDate && target.phases.includes(phase)) {
        write(`✔ Canary ${namespace}/${name} ${target.label}`);
        return;
      }
      if (upToDate && target.failPhases.includes(phase)) {
        const reason = conditionOf(canary, 'Ready')?.message ?? canary.status?.history?.at(-1)?.message ?? phase;
        warn(`✗ Canary ${namespace}/${name} reached ${phase} instead: ${reason}`);
        throw new ExitCode(1);
      }
      if (Date.now() >= deadline) {
        warn(`✗ timed out after ${timeoutMs / 1000}s waiting for Canary ${namespace}/${name} to be ${target.label}; it is ${phase}`);
        throw new ExitCode(1);
      }
      await sleep(Math.min(1000, deadline - Date.now()));
    }
  });
}

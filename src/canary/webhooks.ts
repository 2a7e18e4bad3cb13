// Canary webhooks, called as Flagger calls them: POST with a JSON payload
// {name, namespace, phase, checksum, metadata} plus the current weight and the
// canary and primary images. Gates (confirm-*) are open when every hook of the
// type answers 2xx; rollout and pre-rollout hooks that fail count as failed
// checks; a 2xx from a rollback hook means "roll back now".
import http from 'node:http';
import https from 'node:https';
import type { Canary, CanaryPhase, CanaryWebhook, WebhookType } from '../api/types.ts';
import { parseDuration } from '../api/duration.ts';
import type { CheckResult, GateResult } from './state.ts';

export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: CanaryPhase;
  checksum: string;
  type: WebhookType;
  canaryWeight: number;
  canaryImages: string[];
  primaryImages: string[];
  metadata: Record<string, string>;
}

export interface WebhookCall {
  webhook: string;
  ok: boolean;
  status?: number | undefined;
  message: string;
}

export interface WebhookContext {
  phase: CanaryPhase;
  checksum: string;
  canaryWeight: number;
  canaryImages: string[];
  primaryImages: string[];
  signal?: AbortSignal | undefined;
  /** Extra metadata, e.g. eventMessage/eventType for event hooks. */
  metadata?: Record<string, string> | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Most of a webhook's answer kept (it is only quoted in messages). */
const BODY_READ_LIMIT = 64 * 1024;

/** One JSON POST; node:https rather than fetch, so disableTLS can skip certificate checks per hook. */
function post(url: string, body: string, options: { signal: AbortSignal; insecure: boolean }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    const req = transport.request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      signal: options.signal,
      ...(target.protocol === 'https:' ? { rejectUnauthorized: !options.insecure } : {}),
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (text.length < BODY_READ_LIMIT) text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', (error) => reject(options.signal.aborted && options.signal.reason instanceof Error ? options.signal.reason : error));
    req.end(body);
  });
}
const BODY_QUOTE_LIMIT = 200;

export function webhooksOf(canary: Canary, type: WebhookType): CanaryWebhook[] {
  return (canary.spec.analysis.webhooks ?? []).filter((hook) => (hook.type ?? 'rollout') === type);
}

export function buildPayload(canary: Canary, hook: CanaryWebhook, context: WebhookContext): WebhookPayload {
  return {
    name: canary.metadata.name,
    namespace: canary.metadata.namespace ?? '',
    phase: context.phase,
    checksum: context.checksum,
    type: hook.type ?? 'rollout',
    canaryWeight: context.canaryWeight,
    canaryImages: context.canaryImages,
    primaryImages: context.primaryImages,
    metadata: { ...hook.metadata, ...context.metadata },
  };
}

/** Calls one webhook with its timeout and retries; never throws. */
export async function callWebhook(canary: Canary, hook: CanaryWebhook, context: WebhookContext): Promise<WebhookCall> {
  const timeoutMs = hook.timeout ? parseDuration(hook.timeout, `webhook ${hook.name} timeout`) : DEFAULT_TIMEOUT_MS;
  const body = JSON.stringify(buildPayload(canary, hook, context));
  let last: WebhookCall = { webhook: hook.name, ok: false, message: 'not called' };
  for (let attempt = 0; attempt <= (hook.retries ?? 0); attempt++) {
    const signals = [AbortSignal.timeout(timeoutMs), ...(context.signal ? [context.signal] : [])];
    try {
      const response = await post(hook.url, body, { signal: AbortSignal.any(signals), insecure: hook.disableTLS === true });
      const text = response.body.slice(0, BODY_QUOTE_LIMIT).trim();
      const ok = response.status >= 200 && response.status < 300;
      last = ok
        ? { webhook: hook.name, ok: true, status: response.status, message: `${hook.name} answered ${response.status}` }
        : { webhook: hook.name, ok: false, status: response.status, message: `${hook.name} answered ${response.status}${text ? `: ${text}` : ''}` };
    } catch (error) {
      const reason = error instanceof Error && (error.name === 'TimeoutError' || (error.name === 'AbortError' && !context.signal?.aborted)) ? `timed out after ${timeoutMs} ms` : error instanceof Error ? error.message : String(error);
      last = { webhook: hook.name, ok: false, message: `${hook.name} could not be called: ${reason}` };
    }
    if (last.ok || context.signal?.aborted) return last;
  }
  return last;
}

async function callAll(canary: Canary, type: WebhookType, context: WebhookContext): Promise<WebhookCall[]> {
  return Promise.all(webhooksOf(canary, type).map((hook) => callWebhook(canary, hook, context)));
}

/** A gate is open when every webhook of its type answers 2xx (or there is none). */
export async function evaluateGate(canary: Canary, type: WebhookType, context: WebhookContext): Promise<GateResult> {
  const calls = await callAll(canary, type, context);
  const closed = calls.find((call) => !call.ok);
  if (!closed) return { open: true, message: calls.length === 0 ? `no ${type} webhooks` : `${type} approved` };
  return { open: false, webhook: closed.webhook, message: closed.message };
}

/** rollout / pre-rollout hooks as a check: the first failing one fails it. */
export async function webhookCheck(canary: Canary, type: 'rollout' | 'pre-rollout', context: WebhookContext): Promise<CheckResult> {
  const calls = await callAll(canary, type, context);
  const failed = calls.find((call) => !call.ok);
  return failed ? { outcome: 'fail', message: `${type} webhook ${failed.message}`, failing: { name: failed.webhook, message: failed.message } } : { outcome: 'pass', message: `${calls.length} ${type} webhooks passed` };
}

/** The first rollback hook that answers 2xx, if any. */
export async function rollbackRequested(canary: Canary, context: WebhookContext): Promise<string | undefined> {
  const calls = await callAll(canary, 'rollback', context);
  return calls.find((call) => call.ok)?.webhook;
}

/** Calls hooks whose answer does not change the rollout (post-rollout, event). */
export async function notifyWebhooks(canary: Canary, type: 'post-rollout' | 'event', context: WebhookContext): Promise<WebhookCall[]> {
  return callAll(canary, type, context);
}

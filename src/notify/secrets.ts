// Resolves an AlertProvider into where and how to post: its spec plus the
// keys of its Secret (address, token, headers, proxy). Secrets are read with a
// GET on first use and cached (watching every Secret in the cluster would
// cost memory proportional to all Secrets, not to the few that providers use);
// the cache entry is dropped when the provider changes, when a chat service
// rejects the address (401/403/404/410), and after a TTL, so a rotated webhook
// URL is picked up.

import { parseDuration } from '../api/duration.ts';
import { load } from 'js-yaml';
import type { AlertProvider, AlertProviderType } from '../api/types.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import type { ProviderTarget } from './providers/types.ts';

export interface SecretCacheOptions {
  /** How long a read Secret is trusted. Default 5 min. */
  ttlMs?: number | undefined;
  /** How long "not found" is trusted, so a missing Secret is not read per message. Default 30 s. */
  missingTtlMs?: number | undefined;
  now?: (() => number) | undefined;
}

/** Decoded string data of a Secret, or undefined when it does not exist. */
export type SecretData = Readonly<Record<string, string>>;

interface CacheEntry {
  value: Promise<SecretData | undefined>;
  expiresAt: number;
}

interface SecretObject extends KubeObject {
  data?: Record<string, string>;
}

export class SecretCache implements SecretSource {
  readonly #client: KubeClient;
  readonly #ttlMs: number;
  readonly #missingTtlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, CacheEntry>();
  /** GETs issued, for tests and metrics: the cache must keep this far below the message count. */
  reads = 0;

  constructor(client: KubeClient, options: SecretCacheOptions = {}) {
    this.#client = client;
    this.#ttlMs = options.ttlMs ?? 300_000;
    this.#missingTtlMs = options.missingTtlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /** The Secret's decoded data; concurrent calls share one GET. API errors are thrown, not cached. */
  async get(namespace: string, name: string): Promise<SecretData | undefined> {
    const key = `${namespace}/${name}`;
    const now = this.#now();
    const cached = this.#entries.get(key);
    if (cached && cached.expiresAt > now) return cached.value;
    const entry: CacheEntry = { value: this.#read(namespace, name), expiresAt: now + this.#ttlMs };
    this.#entries.set(key, entry);
    try {
      const data = await entry.value;
      if (data === undefined) entry.expiresAt = now + this.#missingTtlMs;
      return data;
    } catch (error) {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
      throw error;
    }
  }

  invalidate(namespace: string, name: string): void {
    this.#entries.delete(`${namespace}/${name}`);
  }

  async #read(namespace: string, name: string): Promise<SecretData | undefined> {
    this.reads++;
    const secret = await this.#client.find<SecretObject>({ apiVersion: 'v1', kind: 'Secret', namespace, name });
    if (!secret) return undefined;
    const data: Record<string, string> = {};
    for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64').toString('utf8');
    return data;
  }
}

/** Why a provider cannot be used; also the Ready=False reason in its status. */
export type ProviderProblemReason = 'SecretNotFound' | 'SecretReadFailed' | 'InvalidSecret' | 'InvalidAddress' | 'InvalidProxy' | 'InvalidTimeout';

export interface ResolvedProvider {
  type: AlertProviderType;
  target: ProviderTarget;
  proxy?: string | undefined;
  timeoutMs: number;
  /** Every secret value of this provider, for redaction of errors and logs. */
  secrets: string[];
}

export type ProviderResolution =
  | { ok: true; provider: ResolvedProvider }
  | { ok: false; reason: ProviderProblemReason; message: string; retryable: boolean };

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Parses the `headers` key: a YAML (or JSON) map of header names to values.
 * Errors name the offending header, never a value.
 */
export function parseHeaders(text: string): Record<string, string> {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = load(text);
  } catch {
    throw new SluiceError(ErrorCodes.SpecInvalid, 'the headers key is not valid YAML', { hint: 'write one "Name: value" pair per line' });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SluiceError(ErrorCodes.SpecInvalid, 'the headers key must be a map of header names to values');
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!headerName.test(name)) throw new SluiceError(ErrorCodes.SpecInvalid, `header name "${name}" is not a valid HTTP header name`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new SluiceError(ErrorCodes.SpecInvalid, `header ${name} must have a string value`);
    }
    const text = String(value);
    if (/[\r\n\0]/.test(text)) throw new SluiceError(ErrorCodes.SpecInvalid, `header ${name} has a line break in its value`);
    // Lower case, so the provider's own content-type cannot be sent twice.
    headers[name.toLowerCase()] = text;
  }
  return headers;
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function problem(reason: ProviderProblemReason, message: string, retryable = false): ProviderResolution {
  return { ok: false, reason, message, retryable };
}

/** Where resolveProvider reads Secrets; SecretCache in the controller. */
export interface SecretSource {
  get(namespace: string, name: string): Promise<SecretData | undefined>;
}

/**
 * Resolves a provider's spec and Secret. Never throws; problem messages name
 * keys and objects, never secret values.
 */
export async function resolveProvider(provider: AlertProvider, secrets: SecretSource): Promise<ProviderResolution> {
  const { spec } = provider;
  const namespace = provider.metadata.namespace ?? 'default';
  let data: SecretData = {};
  const secretName = spec.secretRef?.name;
  if (secretName) {
    try {
      const found = await secrets.get(namespace, secretName);
      if (!found) return problem('SecretNotFound', `Secret ${namespace}/${secretName} not found`);
      data = found;
    } catch (error) {
      const mapped = toSluiceError(error);
      return problem('SecretReadFailed', `could not read Secret ${namespace}/${secretName}: ${mapped.code}`, mapped.retryable);
    }
  }
  const address = (data.address ?? spec.address ?? '').trim();
  if (!address) {
    return problem(secretName ? 'InvalidSecret' : 'InvalidAddress',
      secretName ? `Secret ${namespace}/${secretName} has no address key and spec.address is not set` : 'spec.address is not set');
  }
  if (!isHttpUrl(address)) {
    return problem('InvalidAddress', `the address ${data.address ? `in Secret ${namespace}/${secretName}` : 'in spec.address'} is not an http(s) URL`);
  }
  const token = data.token?.trim() || undefined;
  if (spec.type === 'generic-hmac' && !token) {
    return problem('InvalidSecret', `type generic-hmac needs a token key (the HMAC key) in Secret ${namespace}/${secretName ?? '(none)'}`);
  }
  let headers: Record<string, string> = {};
  if (data.headers) {
    try {
      headers = parseHeaders(data.headers);
    } catch (error) {
      return problem('InvalidSecret', `Secret ${namespace}/${secretName}: ${toSluiceError(error).describe()}`);
    }
  }
  const proxy = (data.proxy ?? spec.proxy)?.trim() || undefined;
  if (proxy && !isHttpUrl(proxy)) return problem('InvalidProxy', 'the proxy is not an http(s) URL');
  let timeoutMs = 15_000;
  if (spec.timeout) {
    try {
      timeoutMs = parseDuration(spec.timeout, 'spec.timeout');
      if (timeoutMs <= 0) return problem('InvalidTimeout', 'spec.timeout must be longer than zero');
    } catch (error) {
      return problem('InvalidTimeout', `spec.timeout: ${toSluiceError(error).describe()}`);
    }
  }
  return {
    ok: true,
    provider: {
      type: spec.type,
      target: { address, token, headers, channel: spec.channel, username: spec.username },
      proxy,
      timeoutMs,
      secrets: [address, token, proxy, ...Object.values(headers)].filter((s): s is string => Boolean(s)),
    },
  };
}

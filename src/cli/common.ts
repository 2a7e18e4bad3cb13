// What every sluice command shares: the connection (kubectl-like kubeconfig
// and context handling), the namespace, and how results and errors reach the user.
import { pino, type Logger } from 'pino';
import { ErrorCodes, SluiceError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import type { Condition } from '../api/types.ts';
import type { KubeObject } from '../kube/types.ts';
import { explainError } from './connection.ts';

export interface GlobalOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  namespace?: string | undefined;
}

/** A command's exit status without an error message (diff's "changes found", wait's "not reached"). */
export class ExitCode extends Error {
  readonly exitCode: number;

  constructor(exitCode: number, message = '') {
    super(message);
    this.name = 'ExitCode';
    this.exitCode = exitCode;
  }
}

export interface Session {
  client: KubeClient;
  /** -n, else the context's namespace. */
  namespace: string;
  /** The kubeconfig context in use; undefined in a Pod without a kubeconfig. */
  context: string | undefined;
}

export async function openSession(options: GlobalOptions): Promise<Session> {
  // Loaded on demand: the Kubernetes client is most of the start-up time, and --help or migrate need none of it.
  const { KubeClient: Client } = await import('../kube/client.ts');
  const client = Client.connect({ kubeconfig: options.kubeconfig, context: options.context });
  return { client, namespace: options.namespace ?? client.defaultNamespace, context: client.rest.connection.context };
}

/**
 * Runs fn with a session and always closes the connection. Errors leave it
 * in the CLI's wording: an unreachable server names itself and the context.
 */
export async function withSession<T>(options: GlobalOptions, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(options);
  try {
    return await fn(session);
  } catch (error) {
    throw explainError(error, { server: session.client.rest.connection.server, context: session.context, namespace: session.namespace });
  } finally {
    session.client.close();
  }
}

/** A logger that writes nothing, for the kube layer's informers. */
export function quietLogger(): Logger {
  return pino({ level: process.env.SLUICE_CLI_LOG ?? 'silent' });
}

export function write(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function warn(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function conditionOf(object: KubeObject, type: string): Condition | undefined {
  const status = object.status as { conditions?: Condition[] } | undefined;
  return status?.conditions?.find((c) => c.type === type);
}

/** "5m", "30s", "1h30m", "250ms" → milliseconds. */
export function parseDurationFlag(value: string, flag: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(value)) !== null) {
    const n = Number(m[1]);
    const unit = m[2];
    total += n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
    matched = re.lastIndex;
  }
  if (value === '' || matched !== value.length) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `${flag} "${value}" is not a duration`, { hint: 'use a Go-style duration such as 30s, 5m or 1h' });
  }
  return total;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** Polls fn until it returns a value; undefined after timeoutMs. */
export async function pollUntil<T>(fn: () => Promise<T | undefined>, options: { timeoutMs: number; intervalMs?: number }): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let value: T | undefined;
    try {
      value = await fn();
    } catch (error) {
      // A passing API hiccup (throttling, a restarting server) is not the answer we wait for.
      if (!(error instanceof SluiceError) || !error.retryable) throw error;
    }
    if (value !== undefined) return value;
    if (Date.now() >= deadline) return undefined;
    await sleep(Math.min(options.intervalMs ?? 500, Math.max(0, deadline - Date.now())));
  }
}

/**
 * Runs a read again when the API server says it may succeed later (throttling,
 * a CRD's storage still initialising), up to `attempts` times.
 */
export async function retryRead<T>(fn: () => Promise<T>, attempts = 6): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof SluiceError) || !error.retryable || attempt >= attempts) throw error;
      await sleep(Math.min(5000, (error.retryAfterSeconds ?? 0.5 * attempt) * 1000));
    }
  }
}

// Reads Secrets named by spec.secretRef. The parsed form (credentials, a TLS
// agent) is cached by the Secret's uid and resourceVersion, so an unchanged
// Secret costs one GET and no re-parsing; a rotated one is picked up on the
// next reconcile. Secret values never appear in errors or logs.
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/types.ts';

export interface SecretObject extends KubeObject<'Secret'> {
  data?: Record<string, string>;
  type?: string;
}

/** A Secret's data keys decoded from base64. */
export function secretData(secret: SecretObject): Map<string, Buffer> {
  const data = new Map<string, Buffer>();
  for (const [key, value] of Object.entries(secret.data ?? {})) data.set(key, Buffer.from(value, 'base64'));
  return data;
}

/** Turns a Secret into T; throws SluiceError(SecretInvalid) saying which key is wrong, never its value. */
export type SecretParser<T> = (data: Map<string, Buffer>, describe: string) => T;

export class SecretReader<T> {
  readonly #client: KubeClient;
  readonly #parse: SecretParser<T>;
  readonly #cache = new Map<string, { version: string; value: T }>();

  constructor(client: KubeClient, parse: SecretParser<T>) {
    this.#client = client;
    this.#parse = parse;
  }

  /**
   * The parsed Secret. Throws SecretNotFound when it does not exist and
   * SecretInvalid when its contents are wrong; API errors pass through.
   */
  async read(namespace: string, name: string, signal?: AbortSignal): Promise<T> {
    const key = `${namespace}/${name}`;
    const secret = await this.#client.find<SecretObject>({ apiVersion: 'v1', kind: 'Secret', namespace, name }, signal);
    if (!secret) {
      this.#cache.delete(key);
      throw new SluiceError(ErrorCodes.SecretNotFound, `Secret ${key} not found`, { hint: 'create it, or fix the name in spec.secretRef' });
    }
    const version = `${secret.metadata.uid ?? ''}/${secret.metadata.resourceVersion ?? ''}`;
    const cached = this.#cache.get(key);
    if (cached?.version === version) return cached.value;
    this.#cache.delete(key);
    const value = this.#parse(secretData(secret), `Secret ${key}`);
    this.#cache.set(key, { version, value });
    return value;
  }

  forget(namespace: string, name: string): void {
    this.#cache.delete(`${namespace}/${name}`);
  }
}

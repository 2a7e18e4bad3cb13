// The Kubernetes client every other module uses: discovery, reads, the one
// server-side-apply helper, status patches, deletes. Objects are plain JSON.
import { ErrorCodes, SluiceError } from '../errors.ts';
import { connect, type ConnectionOptions } from './config.ts';
import { RestClient, type Query } from './rest.ts';
import { prepareForApply } from './ssa.ts';
import { describeRef, type KubeList, type KubeObject, type ObjectRef } from './types.ts';

/** The single field manager all of sluice's writes use. */
export const FIELD_MANAGER = 'sluice';

export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
}

interface APIResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}

export interface ApplyOptions {
  /** Take ownership of fields other managers set. True where sluice owns the object. */
  force?: boolean;
  dryRun?: boolean;
  signal?: AbortSignal;
}

export interface ListOptions {
  namespace?: string | undefined;
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
  resourceVersion?: string | undefined;
  limit?: number | undefined;
  signal?: AbortSignal | undefined;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export class KubeClient {
  readonly rest: RestClient;
  // Discovery answers per groupVersion; refreshed on a miss so kinds from
  // CRDs installed after start-up are found.
  readonly #discovery = new Map<string, Promise<APIResourceList | undefined>>();

  constructor(rest: RestClient) {
    this.rest = rest;
  }

  static connect(options: ConnectionOptions = {}): KubeClient {
    return new KubeClient(new RestClient(connect(options)));
  }

  get defaultNamespace(): string {
    return this.rest.connection.namespace;
  }

  close(): void {
    this.rest.close();
  }

  async resourceFor(apiVersion: string, kind: string): Promise<ResourceInfo> {
    const found = await this.#lookup(apiVersion, kind, false) ?? await this.#lookup(apiVersion, kind, true);
    if (!found) {
      throw new SluiceError(ErrorCodes.KubeUnknownKind, `the API server does not serve kind ${kind} in ${apiVersion}`, {
        hint: 'install the CRD that defines it, or fix apiVersion/kind',
      });
    }
    return found;
  }

  /** URL path of a collection (name undefined) or of one object. */
  async pathFor(ref: Omit<ObjectRef, 'name'> & { name?: string | undefined }, subresource?: string): Promise<string> {
    const info = await this.resourceFor(ref.apiVersion, ref.kind);
    const base = info.group === '' ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
    let path = base;
    if (info.namespaced && ref.namespace) path += `/namespaces/${encodeURIComponent(ref.namespace)}`;
    else if (info.namespaced && ref.name !== undefined) {
      throw new SluiceError(ErrorCodes.KubeBadRequest, `${ref.kind} ${ref.name} is namespaced but no namespace was given`);
    }
    path += `/${info.plural}`;
    if (ref.name !== undefined) path += `/${encodeURIComponent(ref.name)}`;
    if (subresource) path += `/${subresource}`;
    return path;
  }

  async get<T extends KubeObject = KubeObject>(ref: ObjectRef, signal?: AbortSignal): Promise<T> {
    return this.rest.request<T>({ method: 'GET', path: await this.pathFor(ref), signal, what: `get ${describeRef(ref)}` });
  }

  /** Like get, but undefined when the object does not exist. */
  async find<T extends KubeObject = KubeObject>(ref: ObjectRef, signal?: AbortSignal): Promise<T | undefined> {
    try {
      return await this.get<T>(ref, signal);
    } catch (error) {
      if (error instanceof SluiceError && error.code === ErrorCodes.KubeNotFound) return undefined;
      throw error;
    }
  }

  async list<T extends KubeObject = KubeObject>(apiVersion: string, kind: string, options: ListOptions = {}): Promise<KubeList<T>> {
    const query: Query = {
      labelSelector: options.labelSelector, fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion, limit: options.limit,
    };
    const path = await this.pathFor({ apiVersion, kind, namespace: options.namespace });
    const list = await this.rest.request<KubeList<T>>({ method: 'GET', path, query, signal: options.signal, what: `list ${kind}` });
    // List items carry no apiVersion/kind; fill them so items are self-describing.
    for (const item of list.items) {
      item.apiVersion = apiVersion;
      item.kind = kind;
    }
    return list;
  }

  async create<T extends KubeObject>(object: T, signal?: AbortSignal): Promise<T> {
    const path = await this.pathFor({ ...object.metadata, apiVersion: object.apiVersion, kind: object.kind, name: undefined });
    return this.rest.request<T>({
      method: 'POST', path, body: object, query: { fieldManager: FIELD_MANAGER }, signal,
      what: `create ${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`,
    });
  }

  /**
   * Server-side apply with the one field manager. The object is sent without
   * managedFields, resourceVersion and other server-owned metadata.
   */
  async apply<T extends KubeObject>(object: T, options: ApplyOptions = {}): Promise<T> {
    const ref: ObjectRef = { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace };
    return this.rest.request<T>({
      method: 'PATCH',
      path: await this.pathFor(ref),
      query: { fieldManager: FIELD_MANAGER, force: options.force ? true : undefined, dryRun: options.dryRun ? 'All' : undefined },
      body: prepareForApply(object),
      contentType: 'application/apply-patch+yaml',
      signal: options.signal,
      what: `${options.dryRun ? 'dry-run apply' : 'apply'} ${describeRef(ref)}`,
    });
  }

  /** JSON merge patch of the status subresource. */
  async patchStatus<T extends KubeObject>(ref: ObjectRef, status: unknown, signal?: AbortSignal): Promise<T> {
    return this.rest.request<T>({
      method: 'PATCH', path: await this.pathFor(ref, 'status'), body: { status },
      contentType: 'application/merge-patch+json', query: { fieldManager: FIELD_MANAGER }, signal,
      what: `patch status of ${describeRef(ref)}`,
    });
  }

  /** JSON merge patch of the object itself (annotations, labels, small edits). */
  async patchMerge<T extends KubeObject>(ref: ObjectRef, patch: unknown, signal?: AbortSignal): Promise<T> {
    return this.rest.request<T>({
      method: 'PATCH', path: await this.pathFor(ref), body: patch,
      contentType: 'application/merge-patch+json', query: { fieldManager: FIELD_MANAGER }, signal,
      what: `patch ${describeRef(ref)}`,
    });
  }

  /** Deletes an object; true when it was deleted, false when it was already gone. */
  async delete(ref: ObjectRef, options: { propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'; signal?: AbortSignal } = {}): Promise<boolean> {
    try {
      await this.rest.request({
        method: 'DELETE', path: await this.pathFor(ref),
        body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagationPolicy ?? 'Background' },
        signal: options.signal, what: `delete ${describeRef(ref)}`,
      });
      return true;
    } catch (error) {
      if (error instanceof SluiceError && error.code === ErrorCodes.KubeNotFound) return false;
      throw error;
    }
  }

  async #lookup(apiVersion: string, kind: string, refresh: boolean): Promise<ResourceInfo | undefined> {
    if (refresh) this.#discovery.delete(apiVersion);
    let pending = this.#discovery.get(apiVersion);
    if (!pending) {
      pending = this.#discover(apiVersion);
      this.#discovery.set(apiVersion, pending);
      // A failed discovery is not cached, so the next call retries.
      pending.catch(() => this.#discovery.delete(apiVersion));
    }
    const list = await pending;
    const resource = list?.resources.find((r) => r.kind === kind && !r.name.includes('/'));
    if (!resource) return undefined;
    const { group, version } = splitApiVersion(apiVersion);
    return { group, version, kind, plural: resource.name, namespaced: resource.namespaced, verbs: resource.verbs };
  }

  async #discover(apiVersion: string): Promise<APIResourceList | undefined> {
    const { group, version } = splitApiVersion(apiVersion);
    const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
    try {
      return await this.rest.request<APIResourceList>({ method: 'GET', path, what: `discover ${apiVersion}` });
    } catch (error) {
      if (error instanceof SluiceError && error.code === ErrorCodes.KubeNotFound) return undefined;
      throw error;
    }
  }
}

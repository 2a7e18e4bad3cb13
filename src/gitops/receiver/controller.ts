// The Receiver controller: for each Receiver, reads its token Secret,
// publishes the webhook path in status, and registers the Receiver with the
// webhook server. A valid call sets sluice.dev/requestedAt on the listed
// GitRepositories and Syncs, so they reconcile now instead of at their next
// interval.
//
// With leader election it runs on every replica, not only the leader: a
// webhook call only sets that annotation (and records an Event), which is
// safe from any replica, and the chart's Service sends webhooks to every
// ready pod, standbys included. So a standby reconciles Receivers too (reads
// the token Secret, registers the path) but writes no status; the leader does.
import type { Logger } from 'pino';
import { setCondition } from '../../api/conditions.ts';
import { API_GROUP_VERSION, Kinds, type Receiver, type ReceiverResource, type ReceiverStatus } from '../../api/types.ts';
import type { ControllerDeps, RunningController } from '../../controllers.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../../errors.ts';
import { objectKey, type ObjectRef } from '../../kube/types.ts';
import { Controller, REQUESTED_AT_ANNOTATION, type ReconcileContext } from '../../runtime/controller.ts';
import type { ReconcileResult } from '../../runtime/queue.ts';
import { reasonForCode } from '../source/controller.ts';
import { SecretReader } from '../source/secrets.ts';
import { startReceiverServer, type ReceiverServer } from './server.ts';
import { webhookPath } from './signature.ts';
import type { TriggerResult, WebhookEndpoint } from './webhook.ts';

export const ReceiverReasons = {
  Succeeded: 'Succeeded',
  ReconcileRequested: 'ReconcileRequested',
  ResourceNotFound: 'ResourceNotFound',
} as const;

export interface ReceiverControllerOptions {
  /** How often to re-read the token Secret (Secrets are not watched). Default 10 min. */
  resyncMs?: number | undefined;
  /** How soon to look again for a missing or invalid Secret. Default 30 s. */
  secretRetryMs?: number | undefined;
}

/** The Secret's `token` key, byte for byte (Flux computes the path from the raw value too). */
export function parseReceiverToken(data: Map<string, Buffer>, describe: string): string {
  const token = data.get('token')?.toString('utf8');
  if (token === undefined || token === '') {
    throw new SluiceError(ErrorCodes.SecretInvalid, `${describe} has no token key, or it is empty`, {
      hint: 'put the webhook secret under the key "token", e.g. kubectl create secret generic NAME --from-literal=token=$(openssl rand -hex 32)',
    });
  }
  return token;
}

function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${objectKey(ref)}`;
}

export class ReceiverController implements RunningController {
  readonly name = 'receiver';
  /** Webhooks are served by every replica; see the header. */
  readonly reconcilesOnStandby = true;
  readonly controller: Controller<Receiver>;
  readonly #deps: ControllerDeps;
  readonly #secrets: SecretReader<string>;
  readonly #resyncMs: number;
  readonly #secretRetryMs: number;
  /** Webhook path → endpoint, read by the server on every call. */
  readonly #endpoints = new Map<string, WebhookEndpoint>();
  /** Receiver key → its registered path. */
  readonly #pathOf = new Map<string, string>();
  readonly #written = new Map<string, { uid: string | undefined; status: ReceiverStatus }>();
  #server: ReceiverServer | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(deps: ControllerDeps, options: ReceiverControllerOptions = {}) {
    this.#deps = deps;
    this.#secrets = new SecretReader(deps.client, parseReceiverToken);
    this.#resyncMs = options.resyncMs ?? 600_000;
    this.#secretRetryMs = options.secretRetryMs ?? 30_000;
    this.controller = new Controller<Receiver>({
      client: deps.client,
      apiVersion: API_GROUP_VERSION,
      kind: Kinds.Receiver,
      namespaces: deps.config.namespaces,
      concurrency: deps.config.concurrency,
      logger: deps.logger,
      leadership: deps.leadership,
      reconcile: (receiver, context) => this.reconcile(receiver, context),
      onDeleted: (key) => {
        this.#unregister(key);
        this.#written.delete(key);
        return Promise.resolve();
      },
    });
  }

  /** The webhook server's port, once started. */
  get port(): number | undefined {
    return this.#server?.port;
  }

  hasSynced(): boolean {
    return this.controller.hasSynced;
  }

  async start(): Promise<void> {
    this.#server = await startReceiverServer({
      port: this.#deps.config.receiverPort,
      address: this.#deps.config.healthAddress,
      logger: this.#deps.logger,
      lookup: (path) => this.#endpoints.get(path),
    });
    // A standby wrote no status; the new leader writes every Receiver's.
    this.#unsubscribe = this.#deps.leadership?.onStartedLeading(() => {
      for (const receiver of this.controller.list()) this.controller.enqueue(objectKey(receiver.metadata));
    });
    this.controller.start();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#server?.close();
    await this.controller.stop();
  }

  async reconcile(receiver: Receiver, { log, signal }: ReconcileContext): Promise<ReconcileResult | void> {
    const key = objectKey(receiver.metadata);
    const namespace = receiver.metadata.namespace ?? 'default';
    const generation = receiver.metadata.generation;
    let token: string;
    try {
      token = await this.#secrets.read(namespace, receiver.spec.secretRef.name, signal);
    } catch (error) {
      const mapped = toSluiceError(error);
      if (mapped.code !== ErrorCodes.SecretNotFound && mapped.code !== ErrorCodes.SecretInvalid) throw mapped;
      // Without its token the Receiver must not accept anything.
      this.#unregister(key);
      const reason = reasonForCode(mapped.code);
      let conditions = setCondition(this.#base(receiver).conditions, { type: 'Ready', status: 'False', reason, message: mapped.describe(), observedGeneration: generation });
      conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason, message: mapped.describe(), observedGeneration: generation });
      await this.#writeStatus(receiver, { conditions, observedGeneration: generation });
      log.warn({ code: mapped.code, err: mapped.message }, 'receiver disabled until its Secret is fixed');
      return { requeueAfterMs: this.#secretRetryMs };
    }

    const path = webhookPath(token, receiver.metadata.name, namespace);
    this.#unregister(key);
    this.#endpoints.set(path, {
      namespace,
      name: receiver.metadata.name,
      type: receiver.spec.type,
      token,
      events: receiver.spec.events ?? [],
      trigger: (event) => this.#trigger(key, event, log),
    });
    this.#pathOf.set(key, path);
    const conditions = setCondition(this.#base(receiver).conditions, {
      type: 'Ready', status: 'True', reason: ReceiverReasons.Succeeded,
      message: `Receiver initialized for path ${path}`, observedGeneration: generation,
    }).filter((c) => c.type === 'Ready');
    await this.#writeStatus(receiver, { conditions, observedGeneration: generation, webhookPath: path });
    return { requeueAfterMs: this.#resyncMs };
  }

  /** Annotates every resource of the Receiver (read fresh from the cache at call time). */
  async #trigger(key: string, event: string | undefined, log: Logger): Promise<TriggerResult> {
    const slash = key.indexOf('/');
    const receiver = this.controller.get(key.slice(0, slash), key.slice(slash + 1));
    const result: TriggerResult = { triggered: [], missing: [], failed: [] };
    if (!receiver) return result;
    const namespace = receiver.metadata.namespace ?? 'default';
    const requestedAt = new Date().toISOString();
    const targets: ObjectRef[] = [];
    for (const resource of receiver.spec.resources) {
      try {
        targets.push(...await this.#resolve(resource, namespace));
      } catch (error) {
        const mapped = toSluiceError(error);
        log.warn({ code: mapped.code, err: mapped.message, kind: resource.kind }, 'could not list webhook targets');
        result.failed.push(`${resource.kind} ${resource.namespace ?? namespace}/${resource.name}`);
      }
    }
    await Promise.all(targets.map(async (ref) => {
      try {
        await this.#deps.client.patchMerge(ref, { metadata: { annotations: { [REQUESTED_AT_ANNOTATION]: requestedAt } } });
        result.triggered.push(describeRef(ref));
      } catch (error) {
        const mapped = toSluiceError(error);
        if (mapped.code === ErrorCodes.KubeNotFound) {
          result.missing.push(describeRef(ref));
        } else {
          log.warn({ code: mapped.code, err: mapped.message, target: describeRef(ref) }, 'could not request a reconcile');
          result.failed.push(describeRef(ref));
        }
      }
    }));
    result.triggered.sort();
    const regarding = { apiVersion: API_GROUP_VERSION, kind: Kinds.Receiver, namespace, name: receiver.metadata.name, uid: receiver.metadata.uid };
    const from = event === undefined ? '' : ` (event "${event}")`;
    if (result.triggered.length > 0) {
      await this.#deps.events.record({ regarding, type: 'Normal', reason: ReceiverReasons.ReconcileRequested, action: 'Receive', note: `webhook${from}: reconcile requested for ${result.triggered.join(', ')}` });
    }
    if (result.missing.length > 0) {
      await this.#deps.events.record({ regarding, type: 'Warning', reason: ReceiverReasons.ResourceNotFound, action: 'Receive', note: `webhook${from}: spec.resources names objects that do not exist: ${result.missing.join(', ')}` });
    }
    return result;
  }

  async #resolve(resource: ReceiverResource, receiverNamespace: string): Promise<ObjectRef[]> {
    const namespace = resource.namespace ?? receiverNamespace;
    if (resource.name !== '*') return [{ apiVersion: API_GROUP_VERSION, kind: resource.kind, namespace, name: resource.name }];
    // A webhook is rare and event-driven; one list per call is cheaper than watching every kind here.
    const labelSelector = Object.entries(resource.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || undefined;
    const list = await this.#deps.client.list(API_GROUP_VERSION, resource.kind, { namespace, labelSelector });
    return list.items.map((item) => ({ apiVersion: API_GROUP_VERSION, kind: resource.kind, namespace: item.metadata.namespace ?? namespace, name: item.metadata.name }));
  }

  #unregister(key: string): void {
    const path = this.#pathOf.get(key);
    if (path !== undefined) this.#endpoints.delete(path);
    this.#pathOf.delete(key);
  }

  #base(receiver: Receiver): ReceiverStatus {
    const written = this.#written.get(objectKey(receiver.metadata));
    return written && written.uid === receiver.metadata.uid ? written.status : receiver.status ?? {};
  }

  async #writeStatus(receiver: Receiver, status: ReceiverStatus): Promise<void> {
    if (this.#deps.leadership && !this.#deps.leadership.isLeader) return;
    const key = objectKey(receiver.metadata);
    const base = this.#base(receiver);
    if (JSON.stringify(base) === JSON.stringify(status)) return;
    try {
      await this.#deps.client.patchStatus(
        { apiVersion: API_GROUP_VERSION, kind: Kinds.Receiver, namespace: receiver.metadata.namespace, name: receiver.metadata.name },
        // A disabled Receiver accepts nothing: null removes its path from status.
        { ...status, webhookPath: status.webhookPath ?? null },
      );
    } catch (error) {
      const mapped = toSluiceError(error);
      if (mapped.code === ErrorCodes.KubeNotFound) return;
      throw mapped;
    }
    this.#written.set(key, { uid: receiver.metadata.uid, status });
  }
}

export function createReceiverController(deps: ControllerDeps): ReceiverController {
  return new ReceiverController(deps);
}

// Whether applied objects are healthy, in the spirit of kstatus: workloads
// have rolled out, Jobs completed, custom resources report Ready (Canaries
// included), and every controller has observed the latest generation.
import { setTimeout as sleep } from 'node:timers/promises';
import { toSluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject, ObjectRef } from '../../kube/types.ts';
import { objectId } from './inventory.ts';
import { describeObject } from './plan.ts';
import { mapLimit } from './pool.ts';

export type HealthState = 'healthy' | 'progressing' | 'failed';

export interface Health {
  state: HealthState;
  message: string;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
  desiredNumberScheduled?: number;
  updatedNumberScheduled?: number;
  numberAvailable?: number;
  phase?: string;
  conditions?: Condition[];
}

const healthy: Health = { state: 'healthy', message: 'healthy' };
const progressing = (message: string): Health => ({ state: 'progressing', message });

function condition(status: WorkloadStatus, type: string): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

function desiredReplicas(object: KubeObject): number {
  const replicas = (object.spec as { replicas?: number } | undefined)?.replicas;
  return typeof replicas === 'number' ? replicas : 1;
}

/** The health of one object as last read. */
export function healthOf(object: KubeObject): Health {
  const status = (object.status ?? {}) as WorkloadStatus;
  const generation = object.metadata.generation;
  if (object.metadata.deletionTimestamp) return progressing('is being deleted');
  if (generation !== undefined && status.observedGeneration !== undefined && status.observedGeneration < generation) {
    return progressing(`generation ${generation} not yet observed by its controller`);
  }
  switch (object.kind) {
    case 'Deployment': {
      if (status.observedGeneration === undefined) return progressing('not yet observed by the deployment controller');
      const progress = condition(status, 'Progressing');
      if (progress?.status === 'False' && progress.reason === 'ProgressDeadlineExceeded') {
        return { state: 'failed', message: `rollout failed: ${progress.message ?? 'progress deadline exceeded'}` };
      }
      const want = desiredReplicas(object);
      if ((status.updatedReplicas ?? 0) < want) return progressing(`${status.updatedReplicas ?? 0} of ${want} replicas updated`);
      if ((status.replicas ?? 0) > (status.updatedReplicas ?? 0)) return progressing(`${(status.replicas ?? 0) - (status.updatedReplicas ?? 0)} old replicas pending termination`);
      if ((status.availableReplicas ?? 0) < want) return progressing(`${status.availableReplicas ?? 0} of ${want} replicas available`);
      if (condition(status, 'Available')?.status === 'False') return progressing('not Available');
      return healthy;
    }
    case 'StatefulSet': {
      if (status.observedGeneration === undefined) return progressing('not yet observed by the statefulset controller');
      const want = desiredReplicas(object);
      if ((status.readyReplicas ?? 0) < want) return progressing(`${status.readyReplicas ?? 0} of ${want} replicas ready`);
      if ((status.updatedReplicas ?? 0) < want) return progressing(`${status.updatedReplicas ?? 0} of ${want} replicas updated`);
      if (status.updateRevision && status.currentRevision !== status.updateRevision) return progressing('rolling update in progress');
      return healthy;
    }
    case 'DaemonSet': {
      if (status.observedGeneration === undefined) return progressing('not yet observed by the daemonset controller');
      const want = status.desiredNumberScheduled ?? 0;
      if ((status.updatedNumberScheduled ?? 0) < want) return progressing(`${status.updatedNumberScheduled ?? 0} of ${want} pods updated`);
      if ((status.numberAvailable ?? 0) < want) return progressing(`${status.numberAvailable ?? 0} of ${want} pods available`);
      return healthy;
    }
    case 'Job': {
      if (condition(status, 'Complete')?.status === 'True') return healthy;
      const failed = condition(status, 'Failed');
      if (failed?.status === 'True') return { state: 'failed', message: `job failed: ${failed.message ?? failed.reason ?? ''}`.trim() };
      return progressing('job not complete');
    }
    case 'Pod': {
      if (status.phase === 'Succeeded') return healthy;
      if (status.phase === 'Failed') return { state: 'failed', message: 'pod failed' };
      return condition(status, 'Ready')?.status === 'True' ? healthy : progressing('pod not Ready');
    }
    case 'PersistentVolumeClaim':
      return status.phase === 'Bound' ? healthy : progressing(`claim is ${status.phase ?? 'Pending'}`);
    case 'Namespace':
      return status.phase === 'Terminating' ? progressing('namespace is terminating') : healthy;
    case 'CustomResourceDefinition':
      return condition(status, 'Established')?.status === 'True' ? healthy : progressing('not Established');
    default: {
      // Custom resources (Canaries, GitRepositories, ...) that report Ready.
      const ready = condition(status, 'Ready');
      if (!ready || ready.status === 'True') return healthy;
      if (condition(status, 'Stalled')?.status === 'True') return { state: 'failed', message: `stalled: ${ready.message ?? ready.reason ?? ''}`.trim() };
      return progressing(`not Ready: ${ready.message ?? ready.reason ?? ready.status}`);
    }
  }
}

export interface UnhealthyObject {
  ref: ObjectRef;
  health: Health;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Poll period. Default 1 s. */
  intervalMs?: number | undefined;
  /** States already known (e.g. from the apply answer), to skip a first read. */
  known?: ReadonlyMap<string, KubeObject> | undefined;
}

/**
 * Waits until every object is healthy. Resolves with the objects still not
 * healthy when the timeout passes or one fails; an empty list means healthy.
 * Objects found healthy are not read again.
 */
export async function waitForHealthy(client: KubeClient, refs: readonly ObjectRef[], options: WaitOptions): Promise<UnhealthyObject[]> {
  const deadline = Date.now() + options.timeoutMs;
  let pending: { ref: ObjectRef; id: string; health: Health }[] = refs.map((ref) => ({ ref, id: objectId(ref), health: progressing('not checked yet') }));
  let first = true;
  for (;;) {
    const checked = await mapLimit(pending, 16, async (item): Promise<{ ref: ObjectRef; id: string; health: Health }> => {
      const cached = first ? options.known?.get(item.id) : undefined;
      // An apply answer's status may predate the change; healthOf's generation check catches that, so a healthy one can be trusted.
      let object = cached && healthOf(cached).state === 'healthy' ? cached : undefined;
      if (!object) {
        try {
          object = await client.find(item.ref, options.signal);
        } catch (error) {
          if (options.signal?.aborted) throw error;
          return { ...item, health: { state: 'progressing', message: `could not be read: ${toSluiceError(error).message}` } };
        }
      }
      return { ...item, health: object ? healthOf(object) : { state: 'failed', message: 'not found' } };
    });
    first = false;
    pending = checked.filter((item) => item.health.state !== 'healthy');
    if (pending.length === 0) return [];
    if (pending.some((item) => item.health.state === 'failed') || Date.now() >= deadline) {
      return pending.map(({ ref, health }) => ({ ref, health }));
    }
    await sleep(Math.min(options.intervalMs ?? 1_000, Math.max(0, deadline - Date.now())), undefined, { signal: options.signal });
  }
}

export function describeUnhealthy(items: readonly UnhealthyObject[]): string {
  return items.map(({ ref, health }) => `${describeObject(ref)} ${health.state === 'failed' ? 'failed' : 'not healthy'}: ${health.message}`).join('; ');
}

// Ready conditions of Alerts and AlertProviders, so `kubectl get alerts`
// shows a missing provider or Secret instead of silence. Conditions are
// computed from informer caches (and the Secret cache) and written with a
// status merge patch only when they change.

import type { Alert, AlertProvider, Condition, ConditionStatus } from '../api/types.ts';
import type { CompiledAlert } from './routing.ts';
import type { ProviderResolution } from './secrets.ts';

export interface ReadyState {
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function providerReadiness(resolution: ProviderResolution): ReadyState {
  if (resolution.ok) return { status: 'True', reason: 'Succeeded', message: `ready to send to ${resolution.provider.type}` };
  return { status: 'False', reason: resolution.reason, message: resolution.message };
}

export function alertReadiness(compiled: CompiledAlert, provider: AlertProvider | undefined, providerState: ReadyState | undefined): ReadyState {
  const ref = `${compiled.route.provider.namespace}/${compiled.route.provider.name}`;
  if (compiled.problems.length > 0) return { status: 'False', reason: 'InvalidSpec', message: compiled.problems.join('; ') };
  if (!provider) return { status: 'False', reason: 'ProviderNotFound', message: `AlertProvider ${ref} not found` };
  if (providerState && providerState.status !== 'True') {
    return { status: 'False', reason: 'ProviderNotReady', message: `AlertProvider ${ref} is not ready: ${providerState.message}` };
  }
  if (compiled.suspended) return { status: 'True', reason: 'Suspended', message: 'suspended: no events are sent until spec.suspend is false' };
  return { status: 'True', reason: 'Succeeded', message: `sending events to AlertProvider ${ref}` };
}

/**
 * The status to write for `state`, or undefined when the object already
 * shows it. lastTransitionTime moves only when the status value changes;
 * other condition types are kept.
 */
export function readyStatusPatch(object: Alert | AlertProvider, state: ReadyState, now: Date): { conditions: Condition[]; observedGeneration: number } | undefined {
  const generation = object.metadata.generation ?? 0;
  const conditions = object.status?.conditions ?? [];
  const current = conditions.find((c) => c.type === 'Ready');
  if (current && current.status === state.status && current.reason === state.reason && current.message === state.message &&
      current.observedGeneration === generation && object.status?.observedGeneration === generation) {
    return undefined;
  }
  const ready: Condition = {
    type: 'Ready',
    status: state.status,
    observedGeneration: generation,
    lastTransitionTime: current && current.status === state.status ? current.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    reason: state.reason,
    message: state.message,
  };
  return { conditions: [...conditions.filter((c) => c.type !== 'Ready'), ready], observedGeneration: generation };
}

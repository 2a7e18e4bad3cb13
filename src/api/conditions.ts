// metav1.Condition bookkeeping shared by every kind's status.
import type { Condition, ConditionStatus } from './types.ts';

export interface ConditionUpdate {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number | undefined;
}

/**
 * Returns the conditions with one set. lastTransitionTime moves only when the
 * status changes, so `kubectl get` shows how long a state has lasted.
 */
export function setCondition(conditions: readonly Condition[] | undefined, update: ConditionUpdate, now: Date = new Date()): Condition[] {
  const existing = conditions?.find((c) => c.type === update.type);
  const next: Condition = {
    type: update.type,
    status: update.status,
    reason: update.reason,
    message: update.message,
    lastTransitionTime: existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    ...(update.observedGeneration === undefined ? {} : { observedGeneration: update.observedGeneration }),
  };
  return [...(conditions ?? []).filter((c) => c.type !== update.type), next];
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

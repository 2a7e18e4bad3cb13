// Flagger-compatible canary series, recorded from each status the controller
// writes, so existing dashboards and alert rules port over (flagger_ → sluice_).
import type { Canary, CanaryStatus } from '../api/types.ts';
import { canaryMetrics } from '../runtime/metrics.ts';

export function recordCanaryStatus(canary: Canary, previous: CanaryStatus, next: CanaryStatus, now: Date = new Date()): void {
  const namespace = canary.metadata.namespace ?? 'default';
  const name = canary.metadata.name;
  const target = canary.spec.targetRef.name;
  const phase = next.phase;
  canaryMetrics.setStatus(namespace, name, phase === 'Succeeded' ? 'succeeded' : phase === 'Failed' ? 'failed' : 'running');
  canaryMetrics.setWeight(namespace, target, next.canaryWeight ?? 0);
  for (const check of next.metrics ?? []) {
    if (typeof check.value === 'number' && Number.isFinite(check.value)) canaryMetrics.setMetricAnalysis(namespace, name, check.name, check.value);
  }
  // A rollout ends once, when the phase first becomes Succeeded or Failed.
  if (phase !== previous.phase && (phase === 'Succeeded' || phase === 'Failed')) {
    const strategy = canary.spec.analysis.iterations ? (canary.spec.analysis.match ? 'ab-testing' : 'blue-green') : 'canary';
    canaryMetrics.recordResult(namespace, name, phase === 'Succeeded' ? 'success' : 'failure', { strategy });
    const startedAt = next.rolloutStartTime ? Date.parse(next.rolloutStartTime) : Number.NaN;
    if (Number.isFinite(startedAt)) canaryMetrics.observeDuration(namespace, name, Math.max(0, (now.getTime() - startedAt) / 1000));
  }
}

export function forgetCanary(namespace: string, name: string, target: string | undefined): void {
  canaryMetrics.forget(namespace, name);
  if (target && target !== name) canaryMetrics.forget(namespace, target);
}

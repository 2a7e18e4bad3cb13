// The one event stream of sluice. Every reconciler reports what it did as a
// typed SluiceEvent and hands it to a Notifier, which records it as a
// Kubernetes Event on the object and routes it to chat. Reconcilers never
// talk to chat services, and a Notifier never blocks or throws into them.

import type { CanaryAlert, EventSeverity } from '../api/types.ts';
import type { KubeObject } from '../kube/types.ts';

export type { EventSeverity } from '../api/types.ts';

const severityRanks: Readonly<Record<EventSeverity, number>> = { info: 0, warning: 1, error: 2 };

/** Whether `severity` is `threshold` or more severe. */
export function isAtLeast(severity: EventSeverity, threshold: EventSeverity): boolean {
  return severityRanks[severity] >= severityRanks[threshold];
}

/** The object an event is about. */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
  /** Labels of the object, matched by an Alert's eventSources[].matchLabels. */
  labels?: Readonly<Record<string, string>> | undefined;
}

/** Approval gates a canary can wait at (Flagger's webhook types). */
export type ApprovalGate = 'confirm-rollout' | 'confirm-traffic-increase' | 'confirm-promotion';

/** A metric check that failed, as shown in a rollback message. */
export interface FailingCheck {
  name: string;
  value?: number | undefined;
  min?: number | undefined;
  max?: number | undefined;
  message?: string | undefined;
}

/** What one apply changed, as object names like "Deployment/podinfo". */
export interface ChangeSetSummary {
  created?: readonly string[] | undefined;
  configured?: readonly string[] | undefined;
  pruned?: readonly string[] | undefined;
  unchanged?: number | undefined;
}

/** Facts a reader of the message may want; every field is optional. */
export interface EventMetadata {
  /** Git revision (Sync, GitRepository) or the rollout's revision (Canary). */
  revision?: string | undefined;
  previousRevision?: string | undefined;
  /** Canary traffic weight in percent after this step. */
  weight?: number | undefined;
  /** Container images before and after a new canary revision. */
  images?: { from?: readonly string[] | undefined; to: readonly string[] } | undefined;
  failingCheck?: FailingCheck | undefined;
  /** How long the rollout (or apply) took. */
  durationSeconds?: number | undefined;
  changeSet?: ChangeSetSummary | undefined;
  /** The first errors of a failed apply or fetch. */
  errors?: readonly string[] | undefined;
  gate?: ApprovalGate | undefined;
  /** Who asked for a manual promote/abort/retry. */
  actor?: string | undefined;
  /** Further key/value pairs shown as they are. */
  extra?: Readonly<Record<string, string>> | undefined;
}

export interface SluiceEvent {
  object: InvolvedObject;
  severity: EventSeverity;
  /** CamelCase, stable: one of EventReasons for sluice's own stages. */
  reason: string;
  /**
   * Human-readable and stable for the same situation: the notifier treats
   * two events with equal object, reason and message as the same event, so
   * volatile details (durations, timestamps) belong in metadata.
   */
  message: string;
  metadata?: EventMetadata | undefined;
  /** When it happened; the notifier stamps the emit time when absent. */
  timestamp?: Date | undefined;
  /** Alert targets declared on the object itself (Canary spec.analysis.alerts). */
  alerts?: readonly CanaryAlert[] | undefined;
  /** Action of the Kubernetes Event, e.g. "Promote"; defaults per reason. */
  action?: string | undefined;
}

/** Receives the events of every reconciler. Implementations never block and never throw. */
export interface Notifier {
  emit(event: SluiceEvent): void;
}

/** The stages sluice reports, each with its default severity, Event action and chat title. */
export const EventReasons = {
  GitFetchFailed: 'GitFetchFailed',
  GitFetchRecovered: 'GitFetchRecovered',
  GitArtifactUpdated: 'GitArtifactUpdated',
  SyncApplied: 'SyncApplied',
  SyncFailed: 'SyncFailed',
  SyncPruned: 'SyncPruned',
  CanaryInitialized: 'CanaryInitialized',
  CanaryNewRevision: 'CanaryNewRevision',
  CanaryWeightAdvanced: 'CanaryWeightAdvanced',
  CanaryWaitingApproval: 'CanaryWaitingApproval',
  CanaryPromotionStarted: 'CanaryPromotionStarted',
  CanaryPromoted: 'CanaryPromoted',
  CanaryRolledBack: 'CanaryRolledBack',
  CanaryProgressDeadlineExceeded: 'CanaryProgressDeadlineExceeded',
  CanaryManualPromote: 'CanaryManualPromote',
  CanaryManualAbort: 'CanaryManualAbort',
  CanaryManualRetry: 'CanaryManualRetry',
  CanaryPaused: 'CanaryPaused',
  CanaryResumed: 'CanaryResumed',
  CanaryRollbackWrittenToGit: 'CanaryRollbackWrittenToGit',
  CanaryRollbackWriteBackFailed: 'CanaryRollbackWriteBackFailed',
  CanaryRouterLimitations: 'CanaryRouterLimitations',
  NotificationDispatchFailed: 'NotificationDispatchFailed',
} as const;

export type EventReason = (typeof EventReasons)[keyof typeof EventReasons];

interface ReasonInfo {
  severity: EventSeverity;
  action: string;
  title: string;
}

const reasonInfo: Readonly<Record<EventReason, ReasonInfo>> = {
  GitFetchFailed: { severity: 'error', action: 'Fetch', title: 'Fetch failed' },
  GitFetchRecovered: { severity: 'info', action: 'Fetch', title: 'Fetch recovered' },
  GitArtifactUpdated: { severity: 'info', action: 'Fetch', title: 'New revision fetched' },
  SyncApplied: { severity: 'info', action: 'Apply', title: 'Applied' },
  SyncFailed: { severity: 'error', action: 'Apply', title: 'Apply failed' },
  SyncPruned: { severity: 'info', action: 'Prune', title: 'Pruned' },
  CanaryInitialized: { severity: 'info', action: 'Initialize', title: 'Initialized' },
  CanaryNewRevision: { severity: 'info', action: 'Analyze', title: 'New revision detected' },
  CanaryWeightAdvanced: { severity: 'info', action: 'ShiftTraffic', title: 'Weight advanced' },
  CanaryWaitingApproval: { severity: 'info', action: 'Wait', title: 'Waiting for approval' },
  CanaryPromotionStarted: { severity: 'info', action: 'Promote', title: 'Promotion started' },
  CanaryPromoted: { severity: 'info', action: 'Promote', title: 'Promoted' },
  CanaryRolledBack: { severity: 'error', action: 'Rollback', title: 'Rolled back' },
  CanaryProgressDeadlineExceeded: { severity: 'error', action: 'Rollback', title: 'Progress deadline exceeded' },
  CanaryManualPromote: { severity: 'info', action: 'Promote', title: 'Manual promote' },
  CanaryManualAbort: { severity: 'warning', action: 'Abort', title: 'Manual abort' },
  CanaryManualRetry: { severity: 'info', action: 'Retry', title: 'Manual retry' },
  CanaryPaused: { severity: 'warning', action: 'Pause', title: 'Rollout paused' },
  CanaryResumed: { severity: 'info', action: 'Resume', title: 'Rollout resumed' },
  CanaryRollbackWrittenToGit: { severity: 'info', action: 'WriteBack', title: 'Rollback written to Git' },
  CanaryRollbackWriteBackFailed: { severity: 'warning', action: 'WriteBack', title: 'Rollback write-back failed' },
  CanaryRouterLimitations: { severity: 'warning', action: 'Route', title: 'Fields the router does not carry' },
  NotificationDispatchFailed: { severity: 'warning', action: 'Notify', title: 'Notification dispatch failed' },
};

function isKnownReason(reason: string): reason is EventReason {
  return Object.hasOwn(reasonInfo, reason);
}

/** Chat title of a reason: the catalogue's, or the CamelCase split into words. */
export function reasonTitle(reason: string): string {
  if (isKnownReason(reason)) return reasonInfo[reason].title;
  const words = reason.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Kubernetes Event action of a reason. */
export function reasonAction(reason: string): string {
  return isKnownReason(reason) ? reasonInfo[reason].action : 'Reconcile';
}

export interface EventForOptions {
  /** Defaults to the reason's severity in EventReasons, else info. */
  severity?: EventSeverity | undefined;
  metadata?: EventMetadata | undefined;
  timestamp?: Date | undefined;
}

function canaryAlertsOf(object: KubeObject): readonly CanaryAlert[] | undefined {
  if (object.kind !== 'Canary') return undefined;
  const spec = object.spec as { analysis?: { alerts?: CanaryAlert[] } } | undefined;
  return spec?.analysis?.alerts;
}

/**
 * Builds an event about `object` the way reconcilers should: the involved
 * object with uid and labels, the catalogue severity, and a Canary's own
 * analysis.alerts as extra targets.
 */
export function eventFor(object: KubeObject, reason: string, message: string, options: EventForOptions = {}): SluiceEvent {
  const alerts = canaryAlertsOf(object);
  return {
    object: {
      apiVersion: object.apiVersion,
      kind: object.kind,
      namespace: object.metadata.namespace ?? 'default',
      name: object.metadata.name,
      uid: object.metadata.uid,
      labels: object.metadata.labels,
    },
    severity: options.severity ?? (isKnownReason(reason) ? reasonInfo[reason].severity : 'info'),
    reason,
    message,
    metadata: options.metadata,
    timestamp: options.timestamp,
    ...(alerts && alerts.length > 0 ? { alerts } : {}),
  };
}

/** Keeps emitted events in memory; for reconciler tests that check what they reported. */
export class CollectingNotifier implements Notifier {
  readonly events: SluiceEvent[] = [];

  emit(event: SluiceEvent): void {
    this.events.push(event);
  }

  reasons(): string[] {
    return this.events.map((event) => event.reason);
  }
}

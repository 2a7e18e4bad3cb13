// The one place rollout stages leave the controller: each becomes a
// SluiceEvent for the notifier (a Kubernetes Event on the Canary plus chat
// where Alerts or spec.analysis.alerts ask) and a call to the Canary's
// `event` webhooks. Metric-check events go to Kubernetes Events only, so
// chat is not flooded with one message per failing query.
import type { Logger } from 'pino';
import type { Canary } from '../api/types.ts';
import type { EventRecorder, EventSpec } from '../kube/events.ts';
import { EventReasons, eventFor, type EventMetadata, type EventSeverity, type Notifier } from '../notify/event.ts';
import type { Stage, StageKind } from './state.ts';
import { notifyWebhooks, webhooksOf, type WebhookContext } from './webhooks.ts';

/** Event reason per stage; stable, for Alert filters. */
export const StageReasons: Readonly<Record<StageKind, string>> = {
  Initialized: EventReasons.CanaryInitialized,
  NewRevision: EventReasons.CanaryNewRevision,
  Waiting: EventReasons.CanaryWaitingApproval,
  WeightAdvanced: EventReasons.CanaryWeightAdvanced,
  AnalysisFailed: 'CanaryCheckFailed',
  WaitingForApproval: EventReasons.CanaryWaitingApproval,
  PromotionStarted: EventReasons.CanaryPromotionStarted,
  Promoted: EventReasons.CanaryPromoted,
  RolledBack: EventReasons.CanaryRolledBack,
  ProgressDeadlineExceeded: EventReasons.CanaryProgressDeadlineExceeded,
  AnalysisRestarted: 'CanaryAnalysisRestarted',
  ManualPromote: EventReasons.CanaryManualPromote,
  ManualAbort: EventReasons.CanaryManualAbort,
  ManualRetry: EventReasons.CanaryManualRetry,
  FailedRevisionCleared: 'CanaryFailedRevisionCleared',
};

export interface StageEmitter {
  emit(canary: Canary, stages: readonly Stage[], context: Omit<WebhookContext, 'metadata'>): Promise<void>;
  /** Events for metric checks that did not simply pass (from analysisEvents). */
  analysis(events: readonly EventSpec[]): Promise<void>;
}

function metadataOf(stage: Stage, revision: string): EventMetadata {
  const d = stage.details ?? {};
  return {
    revision,
    ...(d.weight !== undefined ? { weight: d.weight } : {}),
    ...(d.imagesTo ? { images: { from: d.imagesFrom, to: d.imagesTo } } : {}),
    ...(d.durationSeconds !== undefined ? { durationSeconds: d.durationSeconds } : {}),
    ...(d.gate ? { gate: d.gate } : {}),
    ...(d.actor ? { actor: d.actor } : {}),
    ...(d.failing ? { failingCheck: d.failing } : {}),
    ...(d.request ? { extra: { request: d.request } } : {}),
  };
}

function severityOf(stage: Stage): EventSeverity | undefined {
  // The catalogue's severity for known reasons; warnings we raise ourselves otherwise.
  if (stage.kind === 'RolledBack' || stage.kind === 'ProgressDeadlineExceeded') return undefined;
  return stage.warning ? 'warning' : undefined;
}

export interface StageEmitterOptions {
  notifier: Notifier;
  events: EventRecorder;
  logger: Logger;
}

export function stageEmitter(options: StageEmitterOptions): StageEmitter {
  const { notifier, events, logger } = options;
  return {
    async emit(canary, stages, context) {
      for (const stage of stages) {
        const reason = StageReasons[stage.kind];
        logger.info({ canary: `${canary.metadata.namespace ?? ''}/${canary.metadata.name}`, stage: stage.kind, warning: stage.warning }, stage.message);
        notifier.emit(eventFor(canary, reason, stage.message, { severity: severityOf(stage), metadata: metadataOf(stage, context.checksum) }));
        if (webhooksOf(canary, 'event').length > 0) {
          const calls = await notifyWebhooks(canary, 'event', { ...context, metadata: { eventMessage: stage.message, eventType: stage.warning ? 'Warning' : 'Normal', eventReason: reason } });
          for (const call of calls.filter((c) => !c.ok)) logger.warn({ webhook: call.webhook }, call.message);
        }
      }
    },
    async analysis(specs) {
      for (const spec of specs) await events.record(spec);
    },
  };
}

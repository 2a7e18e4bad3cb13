// Hand-written TypeScript shapes of the sluice.dev/v1alpha1 kinds. The CRD YAML
// in crds/ is the source of truth; field names here match it one to one, and
// schema.test.ts checks the enum lists below against the YAML.

export const API_GROUP = 'sluice.dev';
export const API_VERSION = 'v1alpha1';
/** The `apiVersion` field value of every sluice object. */
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}` as const;

export const Kinds = {
  GitRepository: 'GitRepository',
  Sync: 'Sync',
  Receiver: 'Receiver',
  Canary: 'Canary',
  MetricTemplate: 'MetricTemplate',
  AlertProvider: 'AlertProvider',
  Alert: 'Alert',
} as const;

export type SluiceKind = (typeof Kinds)[keyof typeof Kinds];

export const SLUICE_KINDS: readonly SluiceKind[] = Object.values(Kinds);

/** REST resource name (plural) of each kind, as in the CRD names. */
export const RESOURCE_PLURALS: Readonly<Record<SluiceKind, string>> = {
  GitRepository: 'gitrepositories',
  Sync: 'syncs',
  Receiver: 'receivers',
  Canary: 'canaries',
  MetricTemplate: 'metrictemplates',
  AlertProvider: 'alertproviders',
  Alert: 'alerts',
};

export function isSluiceKind(kind: unknown): kind is SluiceKind {
  return typeof kind === 'string' && (SLUICE_KINDS as readonly string[]).includes(kind);
}

// ---------------------------------------------------------------------------
// Kubernetes basics shared by every module live in the kube layer.

import type { KubeObject } from '../kube/types.ts';

export type { KubeObject, ObjectMeta, OwnerReference } from '../kube/types.ts';

/** A reference by name to an object in the same namespace (a Secret, an AlertProvider). */
export interface LocalObjectReference {
  name: string;
}

export const ConditionStatuses = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof ConditionStatuses)[number];

/** Condition types every sluice kind reports. */
export const ConditionTypes = {
  Ready: 'Ready',
  Reconciling: 'Reconciling',
  Stalled: 'Stalled',
} as const;

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339 date-time. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

/** Status fields every sluice kind has. */
export interface CommonStatus {
  conditions?: Condition[];
  observedGeneration?: number;
}

// ---------------------------------------------------------------------------
// GitRepository

export interface GitRepositoryRef {
  branch?: string;
  tag?: string;
  semver?: string;
  commit?: string;
}

export interface GitRepositorySpec {
  /** http(s) URL; SSH is not supported. */
  url: string;
  ref?: GitRepositoryRef;
  /** Go duration; defaulted to "1m". */
  interval?: string;
  /** Go duration; defaulted to "60s". */
  timeout?: string;
  secretRef?: LocalObjectReference;
  /** .gitignore-format paths to leave out of the artifact. */
  ignore?: string;
  suspend?: boolean;
  maxSizeBytes?: number;
}

export interface Artifact {
  revision: string;
  digest?: string;
  lastUpdateTime?: string;
  size?: number;
}

export interface GitRepositoryStatus extends CommonStatus {
  artifact?: Artifact;
  lastHandledReconcileAt?: string;
}

export interface GitRepository extends KubeObject<'GitRepository'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: GitRepositorySpec;
  status?: GitRepositoryStatus;
}

// ---------------------------------------------------------------------------
// Sync

export interface SourceReference {
  kind: 'GitRepository';
  name: string;
  namespace?: string;
}

export interface HealthCheckReference {
  apiVersion?: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface DependencyReference {
  name: string;
  namespace?: string;
}

export interface SyncSpec {
  sourceRef: SourceReference;
  /** Defaulted to "./". */
  path?: string;
  interval: string;
  retryInterval?: string;
  timeout?: string;
  prune: boolean;
  wait?: boolean;
  healthChecks?: HealthCheckReference[];
  dependsOn?: DependencyReference[];
  suspend?: boolean;
  targetNamespace?: string;
  force?: boolean;
}

export interface InventoryEntry {
  /** namespace_name_group_kind */
  id: string;
  /** API version the object was applied with. */
  v: string;
}

export type SyncChangeAction = 'created' | 'configured' | 'recreated' | 'pruned';

/** One object a reconcile wrote or deleted; id and v as in the inventory. */
export interface SyncChangeEntry extends InventoryEntry {
  action: SyncChangeAction;
}

/** What one successful reconcile changed (objects left unchanged are only counted). */
export interface SyncChangeSet {
  revision: string;
  /** The sluice.dev/requestedAt value this reconcile handled; absent when it was not requested. */
  reconcileRequest?: string;
  /** The revision and spec were already applied: the changes put back drift. */
  drift?: boolean;
  entries: SyncChangeEntry[];
  unchanged: number;
  /** More objects changed than entries can hold. */
  truncated?: boolean;
}

export interface SyncStatus extends CommonStatus {
  lastAppliedRevision?: string;
  lastAttemptedRevision?: string;
  inventory?: { entries?: InventoryEntry[] };
  lastHandledReconcileAt?: string;
  lastChangeSet?: SyncChangeSet;
}

export interface Sync extends KubeObject<'Sync'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: SyncSpec;
  status?: SyncStatus;
}

// ---------------------------------------------------------------------------
// Receiver

export const ReceiverTypes = ['github', 'gitlab', 'generic', 'generic-hmac'] as const;
export type ReceiverType = (typeof ReceiverTypes)[number];

export interface ReceiverResource {
  kind: 'GitRepository' | 'Sync';
  /** Object name, or "*" for every object of the kind. */
  name: string;
  namespace?: string;
  matchLabels?: Record<string, string>;
}

export interface ReceiverSpec {
  type: ReceiverType;
  events?: string[];
  secretRef: LocalObjectReference;
  resources: ReceiverResource[];
}

export interface ReceiverStatus extends CommonStatus {
  webhookPath?: string;
}

export interface Receiver extends KubeObject<'Receiver'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: ReceiverSpec;
  status?: ReceiverStatus;
}

// ---------------------------------------------------------------------------
// Canary (field names follow Flagger's flagger.app/v1beta1 Canary)

export const CanaryProviders = [
  'kubernetes',
  'nginx',
  'istio',
  'linkerd',
  'smi',
  'smi:v1alpha4',
  'gatewayapi',
  'gatewayapi:v1',
] as const;
export type CanaryProvider = (typeof CanaryProviders)[number];

export const CanaryPhases = [
  'Initializing',
  'Initialized',
  'Waiting',
  'Progressing',
  'WaitingPromotion',
  'Promoting',
  'Finalising',
  'Succeeded',
  'Failed',
  'Terminating',
  'Terminated',
] as const;
export type CanaryPhase = (typeof CanaryPhases)[number];

export const WebhookTypes = [
  'confirm-rollout',
  'pre-rollout',
  'rollout',
  'confirm-traffic-increase',
  'confirm-promotion',
  'post-rollout',
  'rollback',
  'event',
] as const;
export type WebhookType = (typeof WebhookTypes)[number];

export const OnNoDataPolicies = ['fail', 'pass', 'hold'] as const;
export type OnNoDataPolicy = (typeof OnNoDataPolicies)[number];

export const MetricResults = ['Pass', 'Fail', 'NoData', 'Error', 'Hold'] as const;
export type MetricResult = (typeof MetricResults)[number];

export const CanaryAlertSeverities = ['info', 'warn', 'error'] as const;
export type CanaryAlertSeverity = (typeof CanaryAlertSeverities)[number];

/** Built-in metric checks that need neither templateRef nor query. */
export const BuiltinMetrics = ['request-success-rate', 'request-duration'] as const;

export interface TargetReference {
  apiVersion?: string;
  kind: 'Deployment';
  name: string;
}

export interface AutoscalerReference {
  apiVersion?: string;
  kind: 'HorizontalPodAutoscaler';
  name: string;
  primaryScalerReplicas?: { minReplicas?: number; maxReplicas?: number };
}

export interface IngressReference {
  apiVersion?: string;
  kind: 'Ingress';
  name: string;
}

export interface RouteReference {
  apiVersion?: string;
  kind: string;
  name: string;
}

export interface HeaderOperations {
  add?: Record<string, string>;
  set?: Record<string, string>;
  remove?: string[];
}

export interface GatewayReference {
  name: string;
  namespace?: string;
  /** Defaulted to "gateway.networking.k8s.io". */
  group?: string;
  /** Defaulted to "Gateway". */
  kind?: string;
  sectionName?: string;
  port?: number;
}

export interface CustomMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface CanaryService {
  name?: string;
  port: number;
  targetPort?: number | string;
  portName?: string;
  appProtocol?: string;
  portDiscovery?: boolean;
  timeout?: string;
  retries?: { attempts?: number; perTryTimeout?: string; retryOn?: string };
  headers?: { request?: HeaderOperations; response?: HeaderOperations };
  /** Router-specific CORS policy, kept as written. */
  corsPolicy?: Record<string, unknown>;
  gateways?: string[];
  hosts?: string[];
  /** Router-specific traffic policy, kept as written. */
  trafficPolicy?: Record<string, unknown>;
  /** Router-specific match conditions, kept as written. */
  match?: Record<string, unknown>[];
  rewrite?: { uri?: string; authority?: string; type?: string };
  gatewayRefs?: GatewayReference[];
  apex?: CustomMetadata;
  primary?: CustomMetadata;
  canary?: CustomMetadata;
}

export interface ThresholdRange {
  min?: number;
  max?: number;
}

export interface CrossNamespaceReference {
  name: string;
  namespace?: string;
}

export interface CanaryMetric {
  name: string;
  interval?: string;
  thresholdRange?: ThresholdRange;
  templateRef?: CrossNamespaceReference;
  templateVariables?: Record<string, string>;
  /** Inline query; deprecated in favour of templateRef. */
  query?: string;
  /** Defaulted to "fail". */
  onNoData?: OnNoDataPolicy;
  maxHoldChecks?: number;
}

export interface CanaryWebhook {
  name: string;
  /** Defaulted to "rollout". */
  type?: WebhookType;
  url: string;
  /** Go duration; defaulted to "60s". */
  timeout?: string;
  retries?: number;
  disableTLS?: boolean;
  muteAlert?: boolean;
  metadata?: Record<string, string>;
}

export interface CanaryAlert {
  name: string;
  /** Defaulted to "info". */
  severity?: CanaryAlertSeverity;
  providerRef: CrossNamespaceReference;
}

export interface CanaryAnalysis {
  /** Go duration; defaulted to "1m". */
  interval?: string;
  iterations?: number;
  /** Defaulted to 5. */
  threshold?: number;
  maxWeight?: number;
  stepWeight?: number;
  stepWeights?: number[];
  stepWeightPromotion?: number;
  mirror?: boolean;
  mirrorWeight?: number;
  /** Defaulted to 100. */
  primaryReadyThreshold?: number;
  /** Defaulted to 100. */
  canaryReadyThreshold?: number;
  /** Router-specific A/B match conditions, kept as written. */
  match?: Record<string, unknown>[];
  metrics?: CanaryMetric[];
  webhooks?: CanaryWebhook[];
  alerts?: CanaryAlert[];
  sessionAffinity?: { cookieName: string; maxAge?: number };
}

export interface CanarySpec {
  provider?: CanaryProvider;
  metricsServer?: string;
  targetRef: TargetReference;
  autoscalerRef?: AutoscalerReference;
  ingressRef?: IngressReference;
  routeRef?: RouteReference;
  /** Defaulted to 600. */
  progressDeadlineSeconds?: number;
  skipAnalysis?: boolean;
  suspend?: boolean;
  revertOnDeletion?: boolean;
  /** sluice extension: commit the rollback back to the Git branch the target came from. */
  writeBackRollback?: boolean;
  service: CanaryService;
  analysis: CanaryAnalysis;
}

export interface RollbackWriteBack {
  outcome: 'Committed' | 'AlreadyClean' | 'Failed';
  commit?: string;
  branch?: string;
  files?: string[];
  message?: string;
  retryable?: boolean;
  time?: string;
}

export interface FailedRevision {
  revision: string;
  images?: string[];
  reason?: string;
  time?: string;
  /** Set once the rollback was written back to Git (spec.writeBackRollback). */
  writeBack?: RollbackWriteBack;
}

export interface MetricCheckStatus {
  name: string;
  value?: number;
  min?: number;
  max?: number;
  result: MetricResult;
  message?: string;
  time?: string;
  /** CamelCase reason of the result, e.g. OutOfRange, MetricNoData, PrometheusUnavailable. */
  reason?: string;
  /** The rendered query. */
  query?: string;
  /** Consecutive checks without data (onNoData: hold counts them). */
  noDataChecks?: number;
}

/** A webhook gate (confirm-rollout, confirm-traffic-increase, confirm-promotion) holding the rollout. */
export interface CanaryGateStatus {
  webhook: string;
  type: WebhookType;
  message: string;
  since: string;
}

/** The last manual request of one kind (promote, abort, retry) and what sluice did with it. */
export interface ManualRequestStatus {
  /** The annotation's value: a request id. */
  id: string;
  time: string;
  /** What happened, e.g. "promoted", "ignored: no rollout in progress". */
  result: string;
  /** Who set the annotation: the field manager of the annotation (e.g. kubectl-annotate, sluice-cli). */
  by?: string;
}

export interface CanaryHistoryEntry {
  time: string;
  phase: CanaryPhase;
  weight?: number;
  message?: string;
}

/** Longest status.history the CRD accepts; writers drop the oldest entries. */
export const CANARY_HISTORY_LIMIT = 50;

export interface CanaryStatus extends CommonStatus {
  phase?: CanaryPhase;
  canaryWeight?: number;
  failedChecks?: number;
  iterations?: number;
  lastAppliedSpec?: string;
  lastPromotedSpec?: string;
  lastTransitionTime?: string;
  trackedConfigs?: Record<string, string>;
  failedRevision?: FailedRevision;
  metrics?: MetricCheckStatus[];
  history?: CanaryHistoryEntry[];
  /** When the last time-paced step ran; a restarted controller waits from here, so no step runs twice. */
  lastStepTime?: string;
  /** When the current (or last) rollout started. */
  rolloutStartTime?: string;
  /** Since when sluice has been waiting for the canary or primary to become ready (progress deadline). */
  waitingSince?: string;
  /** Container images of the revision in lastAppliedSpec. */
  canaryImages?: string[];
  /** The webhook gate holding the rollout, if any. */
  gate?: CanaryGateStatus;
  /** Manual requests acknowledged (sluice.dev/promote, abort, retry, pause and resume annotations). */
  requests?: {
    promote?: ManualRequestStatus;
    abort?: ManualRequestStatus;
    retry?: ManualRequestStatus;
    pause?: ManualRequestStatus;
    resume?: ManualRequestStatus;
  };
  /** Set while a sluice.dev/pause request holds the rollout; removed on resume (or when the rollout ends). */
  paused?: CanaryPauseStatus;
}

/** Who paused a rollout and since when. */
export interface CanaryPauseStatus {
  /** The sluice.dev/pause request id. */
  id: string;
  /** Since when the rollout is held (with milliseconds: the step and deadline clocks are moved on by the pause on resume). */
  since: string;
  /** Field manager that set the annotation (who asked). */
  by?: string;
}

export interface Canary extends KubeObject<'Canary'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: CanarySpec;
  status?: CanaryStatus;
}

// ---------------------------------------------------------------------------
// MetricTemplate

export const MetricProviderTypes = ['prometheus'] as const;
export type MetricProviderType = (typeof MetricProviderTypes)[number];

export interface MetricTemplateProvider {
  /** Defaulted to "prometheus". */
  type?: MetricProviderType;
  address?: string;
  secretRef?: LocalObjectReference;
  insecureSkipVerify?: boolean;
  headers?: Record<string, string>;
}

export interface MetricTemplateSpec {
  provider: MetricTemplateProvider;
  query: string;
}

export interface MetricTemplate extends KubeObject<'MetricTemplate'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: MetricTemplateSpec;
  status?: CommonStatus;
}

// ---------------------------------------------------------------------------
// AlertProvider

export const AlertProviderTypes = [
  'slack',
  'msteams',
  'discord',
  'rocket',
  'googlechat',
  'generic',
  'generic-hmac',
] as const;
export type AlertProviderType = (typeof AlertProviderTypes)[number];

export interface AlertProviderSpec {
  type: AlertProviderType;
  address?: string;
  secretRef?: LocalObjectReference;
  channel?: string;
  username?: string;
  proxy?: string;
  /** Go duration; defaulted to "15s". */
  timeout?: string;
}

export interface AlertProvider extends KubeObject<'AlertProvider'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: AlertProviderSpec;
  status?: CommonStatus;
}

// ---------------------------------------------------------------------------
// Alert

export const EventSeverities = ['info', 'warning', 'error'] as const;
export type EventSeverity = (typeof EventSeverities)[number];

export interface EventSource {
  kind: 'GitRepository' | 'Sync' | 'Receiver' | 'Canary';
  /** Object name, or "*" for every object of the kind. */
  name: string;
  namespace?: string;
  matchLabels?: Record<string, string>;
}

export interface AlertSpec {
  providerRef: LocalObjectReference;
  eventSources: EventSource[];
  /** Defaulted to "info". */
  eventSeverity?: EventSeverity;
  inclusionList?: string[];
  exclusionList?: string[];
  summary?: string;
  suspend?: boolean;
  eventMetadata?: Record<string, string>;
}

export interface Alert extends KubeObject<'Alert'> {
  apiVersion: typeof API_GROUP_VERSION;
  spec: AlertSpec;
  status?: CommonStatus;
}

// ---------------------------------------------------------------------------

/** Any sluice object; narrow on `kind`. */
export type SluiceObject =
  | GitRepository
  | Sync
  | Receiver
  | Canary
  | MetricTemplate
  | AlertProvider
  | Alert;

/** The object type of one kind, e.g. `SluiceObjectOf<'Canary'>` is `Canary`. */
export type SluiceObjectOf<K extends SluiceKind> = Extract<SluiceObject, { kind: K }>;

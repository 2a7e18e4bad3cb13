// Builders for the objects a Canary owns besides router objects: the primary
// Deployment (a copy of the target), -primary copies of the ConfigMaps and
// Secrets it references, the apex/-primary/-canary Services and the primary's
// HPA; plus the revision hash and readiness checks. All pure.
import { createHash } from 'node:crypto';
import type { Canary, KubeObject, OwnerReference } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';

export const REVISION_ANNOTATION = 'sluice.dev/revision';
/** Set to "disabled" on a ConfigMap/Secret to keep it out of the revision and uncopied (Flagger's flagger.app/config-tracking). */
export const CONFIG_TRACKING_ANNOTATION = 'sluice.dev/config-tracking';

/** Labels, in order of preference, that tell the target's pods apart (Flagger's selector labels). */
export const SELECTOR_LABELS = ['app.kubernetes.io/name', 'app', 'name'] as const;

export interface PodSpecLike {
  containers?: { name: string; image?: string; ports?: { containerPort: number; name?: string }[]; env?: EnvVar[]; envFrom?: EnvFrom[] }[];
  initContainers?: { name: string; image?: string; env?: EnvVar[]; envFrom?: EnvFrom[] }[];
  volumes?: Volume[];
  [field: string]: unknown;
}

interface EnvVar {
  name: string;
  valueFrom?: { configMapKeyRef?: { name: string; optional?: boolean }; secretKeyRef?: { name: string; optional?: boolean }; [k: string]: unknown };
  [k: string]: unknown;
}
interface EnvFrom {
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
  [k: string]: unknown;
}
interface Volume {
  name: string;
  configMap?: { name: string; optional?: boolean; [k: string]: unknown };
  secret?: { secretName: string; optional?: boolean; [k: string]: unknown };
  projected?: { sources?: { configMap?: { name: string; optional?: boolean }; secret?: { name: string; optional?: boolean }; [k: string]: unknown }[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpecLike;
}

export interface Deployment extends KubeObject<'Deployment'> {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> };
    template: PodTemplate;
    strategy?: unknown;
    minReadySeconds?: number;
    progressDeadlineSeconds?: number;
    revisionHistoryLimit?: number;
    [field: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    unavailableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string }[];
  };
}

export interface ConfigObject extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  stringData?: Record<string, string>;
  type?: string;
  immutable?: boolean;
}

export interface ConfigRef {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  optional: boolean;
}

/** Reads ConfigMaps and Secrets, from informer caches in the controller. */
export type ConfigLookup = (kind: 'ConfigMap' | 'Secret', name: string) => ConfigObject | undefined;

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The ConfigMaps and Secrets a pod template references (volumes, env, envFrom, projected). */
export function configRefs(template: PodTemplate): ConfigRef[] {
  const found = new Map<string, ConfigRef>();
  const add = (kind: ConfigRef['kind'], name: string | undefined, optional: boolean | undefined): void => {
    if (name) found.set(`${kind}/${name}`, { kind, name, optional: optional === true });
  };
  const spec = template.spec;
  for (const volume of spec.volumes ?? []) {
    add('ConfigMap', volume.configMap?.name, volume.configMap?.optional);
    add('Secret', volume.secret?.secretName, volume.secret?.optional);
    for (const source of volume.projected?.sources ?? []) {
      add('ConfigMap', source.configMap?.name, source.configMap?.optional);
      add('Secret', source.secret?.name, source.secret?.optional);
    }
  }
  for (const container of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
    for (const from of container.envFrom ?? []) {
      add('ConfigMap', from.configMapRef?.name, from.configMapRef?.optional);
      add('Secret', from.secretRef?.name, from.secretRef?.optional);
    }
    for (const env of container.env ?? []) {
      add('ConfigMap', env.valueFrom?.configMapKeyRef?.name, env.valueFrom?.configMapKeyRef?.optional);
      add('Secret', env.valueFrom?.secretKeyRef?.name, env.valueFrom?.secretKeyRef?.optional);
    }
  }
  return [...found.values()].sort((a, b) => (`${a.kind}/${a.name}` < `${b.kind}/${b.name}` ? -1 : 1));
}

/** The tracked configs of a template: ref → the object (undefined when optional and missing). */
export function trackedConfigs(template: PodTemplate, lookup: ConfigLookup): { ref: ConfigRef; object: ConfigObject | undefined }[] {
  const result: { ref: ConfigRef; object: ConfigObject | undefined }[] = [];
  for (const ref of configRefs(template)) {
    const object = lookup(ref.kind, ref.name);
    if (!object) {
      if (ref.optional) continue;
      throw new SluiceError(ErrorCodes.KubeNotFound, `${ref.kind} ${ref.name}, referenced by the target's pod template, does not exist`, {
        hint: 'create it, or mark the reference optional', retryable: true,
      });
    }
    if (object.metadata.annotations?.[CONFIG_TRACKING_ANNOTATION] === 'disabled') continue;
    result.push({ ref, object });
  }
  return result;
}

/** Checksum of a ConfigMap's or Secret's data. */
export function configChecksum(object: ConfigObject): string {
  return sha(canonical({ data: object.data ?? {}, binaryData: object.binaryData ?? {} })).slice(0, 16);
}

/**
 * Revision of the target: the hash of its pod template plus the checksums of
 * the ConfigMaps and Secrets it references, so a config change is a rollout.
 */
export function revisionOf(template: PodTemplate, configs: Record<string, string>): string {
  return sha(canonical({ template, configs })).slice(0, 16);
}

export function imagesOf(template: PodTemplate): string[] {
  return (template.spec.containers ?? []).map((c) => c.image ?? '').filter(Boolean);
}

/** The pod label (key and value) that tells the target's pods apart. */
export function selectorLabel(target: Deployment): { key: string; value: string } {
  const labels = target.spec.selector.matchLabels ?? {};
  for (const key of SELECTOR_LABELS) {
    const value = labels[key];
    if (value) return { key, value };
  }
  throw new SluiceError(ErrorCodes.SpecInvalid, `Deployment ${target.metadata.name} has none of the selector labels ${SELECTOR_LABELS.join(', ')} in spec.selector.matchLabels`, {
    hint: 'label the pods with app.kubernetes.io/name (or app) and select on it',
  });
}

export function primaryName(name: string): string {
  return `${name}-primary`;
}

export function canaryServiceName(name: string): string {
  return `${name}-canary`;
}

export function serviceName(canary: Canary): string {
  return canary.spec.service.name ?? canary.spec.targetRef.name;
}

export function ownerRef(canary: Canary): OwnerReference {
  return { apiVersion: canary.apiVersion, kind: canary.kind, name: canary.metadata.name, uid: canary.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

function renameConfigRefs(spec: PodSpecLike, copied: ReadonlySet<string>): PodSpecLike {
  const next = structuredClone(spec);
  const rename = (kind: ConfigRef['kind'], name: string): string => (copied.has(`${kind}/${name}`) ? primaryName(name) : name);
  for (const volume of next.volumes ?? []) {
    if (volume.configMap) volume.configMap.name = rename('ConfigMap', volume.configMap.name);
    if (volume.secret) volume.secret.secretName = rename('Secret', volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap) source.configMap.name = rename('ConfigMap', source.configMap.name);
      if (source.secret) source.secret.name = rename('Secret', source.secret.name);
    }
  }
  for (const container of [...(next.containers ?? []), ...(next.initContainers ?? [])]) {
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef) from.configMapRef.name = rename('ConfigMap', from.configMapRef.name);
      if (from.secretRef) from.secretRef.name = rename('Secret', from.secretRef.name);
    }
    for (const env of container.env ?? []) {
      if (env.valueFrom?.configMapKeyRef) env.valueFrom.configMapKeyRef.name = rename('ConfigMap', env.valueFrom.configMapKeyRef.name);
      if (env.valueFrom?.secretKeyRef) env.valueFrom.secretKeyRef.name = rename('Secret', env.valueFrom.secretKeyRef.name);
    }
  }
  return next;
}

export interface PrimaryOptions {
  revision: string;
  replicas: number;
  /** "Kind/name" of the configs copied as -primary. */
  copiedConfigs: ReadonlySet<string>;
}

/** The primary Deployment: the target's template, selector label renamed to -primary, configs renamed. */
export function buildPrimary(canary: Canary, target: Deployment, options: PrimaryOptions): Deployment {
  const { key, value } = selectorLabel(target);
  const primaryValue = primaryName(value);
  const template = structuredClone(target.spec.template);
  const primary = canary.spec.service.primary;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: primaryName(target.metadata.name),
      namespace: canary.metadata.namespace,
      labels: { ...target.metadata.labels, [key]: primaryValue },
      annotations: { [REVISION_ANNOTATION]: options.revision },
      ownerReferences: [ownerRef(canary)],
    },
    spec: {
      replicas: options.replicas,
      ...(target.spec.strategy !== undefined ? { strategy: target.spec.strategy } : {}),
      ...(target.spec.minReadySeconds !== undefined ? { minReadySeconds: target.spec.minReadySeconds } : {}),
      ...(target.spec.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: target.spec.progressDeadlineSeconds } : {}),
      selector: { matchLabels: { ...target.spec.selector.matchLabels, [key]: primaryValue } },
      template: {
        metadata: {
          ...template.metadata,
          labels: { ...template.metadata?.labels, ...primary?.labels, [key]: primaryValue },
          ...(template.metadata?.annotations || primary?.annotations ? { annotations: { ...template.metadata?.annotations, ...primary?.annotations } } : {}),
        },
        spec: renameConfigRefs(template.spec, options.copiedConfigs),
      },
    },
  };
}

/** A -primary copy of a ConfigMap or Secret, owned by the Canary. */
export function buildConfigCopy(canary: Canary, object: ConfigObject): ConfigObject {
  const copy: ConfigObject = {
    apiVersion: 'v1',
    kind: object.kind,
    metadata: { name: primaryName(object.metadata.name), namespace: canary.metadata.namespace, labels: object.metadata.labels, ownerReferences: [ownerRef(canary)] },
  };
  if (object.data) copy.data = object.data;
  if (object.binaryData) copy.binaryData = object.binaryData;
  if (object.kind === 'Secret' && object.type) copy.type = object.type;
  return copy;
}

export interface HorizontalPodAutoscaler extends KubeObject<'HorizontalPodAutoscaler'> {
  spec: { scaleTargetRef: { apiVersion?: string; kind: string; name: string }; minReplicas?: number; maxReplicas: number; [field: string]: unknown };
}

/** `<hpa>-primary`, the target's HPA pointed at the primary. */
export function buildPrimaryHpa(canary: Canary, hpa: HorizontalPodAutoscaler, primary: string): HorizontalPodAutoscaler {
  const bounds = canary.spec.autoscalerRef?.primaryScalerReplicas;
  return {
    apiVersion: hpa.apiVersion,
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: primaryName(hpa.metadata.name), namespace: canary.metadata.namespace, labels: hpa.metadata.labels, ownerReferences: [ownerRef(canary)] },
    spec: {
      ...structuredClone(hpa.spec),
      scaleTargetRef: { ...hpa.spec.scaleTargetRef, name: primary },
      ...(bounds?.minReplicas !== undefined ? { minReplicas: bounds.minReplicas } : {}),
      ...(bounds?.maxReplicas !== undefined ? { maxReplicas: bounds.maxReplicas } : {}),
    },
  };
}

export type ServiceRole = 'apex' | 'primary' | 'canary';

/** One of the three Services; the apex selects `apexSelects` (primary except Blue/Green on kubernetes). */
export function buildService(canary: Canary, target: Deployment, role: ServiceRole, apexSelects: 'primary' | 'canary' = 'primary'): KubeObject {
  const { key, value } = selectorLabel(target);
  const svc = canary.spec.service;
  const base = serviceName(canary);
  const name = role === 'apex' ? base : role === 'primary' ? primaryName(base) : canaryServiceName(base);
  const selects = role === 'apex' ? apexSelects : role;
  const meta = role === 'apex' ? svc.apex : role === 'primary' ? svc.primary : svc.canary;
  const ports: Record<string, unknown>[] = [{
    name: svc.portName ?? 'http',
    port: svc.port,
    targetPort: svc.targetPort ?? svc.port,
    protocol: 'TCP',
    ...(svc.appProtocol ? { appProtocol: svc.appProtocol } : {}),
  }];
  if (svc.portDiscovery) {
    for (const container of target.spec.template.spec.containers ?? []) {
      for (const port of container.ports ?? []) {
        if (port.containerPort === svc.port || port.containerPort === svc.targetPort || port.name === svc.targetPort) continue;
        ports.push({ name: port.name ?? `tcp-${port.containerPort}`, port: port.containerPort, targetPort: port.containerPort, protocol: 'TCP' });
      }
    }
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: canary.metadata.namespace,
      labels: { ...meta?.labels, [key]: name },
      ...(meta?.annotations ? { annotations: meta.annotations } : {}),
      ownerReferences: [ownerRef(canary)],
    },
    spec: { type: 'ClusterIP', selector: { [key]: selects === 'primary' ? primaryName(value) : value }, ports },
  };
}

/**
 * Whether a Deployment is rolled out: the controller saw the latest spec, all
 * replicas are updated, and at least `thresholdPercent` of them are available.
 */
export function isDeploymentReady(deployment: Deployment | undefined, thresholdPercent = 100): boolean {
  if (!deployment) return false;
  const status = deployment.status ?? {};
  const want = deployment.spec.replicas ?? 1;
  if ((status.observedGeneration ?? 0) < (deployment.metadata.generation ?? 0)) return false;
  if (want === 0) return false;
  if ((status.updatedReplicas ?? 0) < want) return false;
  // Old pods still terminating do not count against readiness, but unavailable new ones do.
  return (status.availableReplicas ?? 0) >= Math.ceil((want * thresholdPercent) / 100);
}

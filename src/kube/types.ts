// Plain-JSON shapes of Kubernetes objects as the kube layer hands them out.

export interface ObjectMeta {
  name: string;
  generateName?: string | undefined;
  namespace?: string | undefined;
  uid?: string | undefined;
  generation?: number | undefined;
  resourceVersion?: string | undefined;
  creationTimestamp?: string | undefined;
  deletionTimestamp?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  ownerReferences?: OwnerReference[] | undefined;
  finalizers?: string[] | undefined;
  managedFields?: unknown[] | undefined;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean | undefined;
  blockOwnerDeletion?: boolean | undefined;
}

/** Any Kubernetes object; kind-specific modules narrow kind, spec and status. */
export interface KubeObject<Kind extends string = string> {
  apiVersion: string;
  kind: Kind;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

/** Identifies one object; namespace is absent for cluster-scoped kinds. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string | undefined;
}

export interface KubeList<T extends KubeObject = KubeObject> {
  apiVersion: string;
  kind: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export function objectKey(ref: { namespace?: string | undefined; name: string }): string {
  return ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name;
}

export function refOf(object: KubeObject): ObjectRef {
  return { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace };
}

export function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${objectKey(ref)}`;
}

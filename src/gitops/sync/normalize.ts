// Comparing a dry-run result with the live object. Only what the user
// declares or the API server defaults matters; bookkeeping fields that change
// on every write, and status, which sluice never applies, are left out.
import { createHash } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../kube/types.ts';

const ignoredMetadata = ['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid', 'selfLink'] as const;

/** A copy without managedFields, resourceVersion, generation, timestamps and status. */
export function normalizeForCompare(object: KubeObject): Record<string, unknown> {
  const metadata: Record<string, unknown> = { ...object.metadata };
  for (const field of ignoredMetadata) delete metadata[field];
  const normalized: Record<string, unknown> = { ...object, metadata };
  delete normalized.status;
  return normalized;
}

/** Whether applying `desired` (a dry-run result) would change `live`. */
export function differs(desired: KubeObject, live: KubeObject | undefined): boolean {
  if (!live) return true;
  return !isDeepStrictEqual(normalizeForCompare(desired), normalizeForCompare(live));
}

/** JSON with object keys sorted, so equal objects serialise equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** sha256 of the canonical JSON: identifies exactly what sluice sends for an object. */
export function fingerprint(object: unknown): string {
  return createHash('sha256').update(canonicalJson(object)).digest('hex');
}

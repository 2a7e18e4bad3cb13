// What server-side apply must not be sent: fields the server owns. Sending a
// resourceVersion would turn apply into a conditional update; managedFields
// would be rejected.
import type { KubeObject } from './types.ts';

const serverOwnedMetadata = ['managedFields', 'resourceVersion', 'uid', 'creationTimestamp', 'generation', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;

export function prepareForApply<T extends KubeObject>(object: T): T {
  const metadata: Record<string, unknown> = { ...object.metadata };
  for (const field of serverOwnedMetadata) delete metadata[field];
  const prepared: Record<string, unknown> = { ...object, metadata };
  // Status goes through the status subresource, never through apply.
  delete prepared.status;
  return prepared as T;
}

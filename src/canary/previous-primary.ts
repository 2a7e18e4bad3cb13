// Abort during a promotion: the primary's spec before the promotion is kept in
// an annotation on the primary, so an abort (or a promotion that misses its
// progress deadline) can give it back. ConfigMap/Secret data is not kept (it
// would put Secret data in an annotation), so a promotion that changed a
// -primary config copy cannot be undone; restorability says so.
import type { Canary } from '../api/types.ts';
import { buildPrimary, configChecksum, configRefs, REVISION_ANNOTATION, type ConfigObject, type Deployment } from './workloads.ts';

/**
 * On the primary during and after a promotion: the primary's spec before it
 * (JSON of PreviousPrimary), so an abort during Promoting can give it back.
 */
export const PREVIOUS_PRIMARY_ANNOTATION = 'sluice.dev/previous-primary';

/** What PREVIOUS_PRIMARY_ANNOTATION holds. */
export interface PreviousPrimary {
  revision: string;
  template: Deployment['spec']['template'];
  strategy?: unknown;
  minReadySeconds?: number | undefined;
  progressDeadlineSeconds?: number | undefined;
  /** Checksums of the -primary ConfigMap/Secret copies the template used; a promotion that changed one cannot be undone. */
  configs: Record<string, string>;
}

/**
 * The primary's spec before a promotion to `revision`, as the
 * PREVIOUS_PRIMARY_ANNOTATION value; undefined when there is no promoted
 * primary to go back to. A primary already at `revision` keeps what it has.
 */
export function previousPrimaryOf(
  primary: Deployment | undefined,
  options: { revision: string; lastPromoted: string | undefined; canaryUid: string | undefined; lookup: (kind: 'ConfigMap' | 'Secret', name: string) => ConfigObject | undefined },
): string | undefined {
  if (!primary) return undefined;
  const annotations = primary.metadata.annotations ?? {};
  const primaryRevision = annotations[REVISION_ANNOTATION];
  if (primaryRevision === options.revision) return annotations[PREVIOUS_PRIMARY_ANNOTATION];
  if (primaryRevision === undefined || primaryRevision !== options.lastPromoted) return undefined;
  const configs: Record<string, string> = {};
  for (const ref of configRefs(primary.spec.template)) {
    const copy = options.lookup(ref.kind, ref.name);
    // Only the -primary copies sluice owns change with a promotion.
    if (copy && options.canaryUid !== undefined && copy.metadata.ownerReferences?.some((o) => o.uid === options.canaryUid)) configs[`${ref.kind}/${ref.name}`] = configChecksum(copy);
  }
  const spec = primary.spec;
  const previous: PreviousPrimary = {
    revision: primaryRevision,
    template: spec.template,
    ...(spec.strategy !== undefined ? { strategy: spec.strategy } : {}),
    ...(spec.minReadySeconds !== undefined ? { minReadySeconds: spec.minReadySeconds } : {}),
    ...(spec.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: spec.progressDeadlineSeconds } : {}),
    configs,
  };
  return JSON.stringify(previous);
}

function parsePreviousPrimary(primary: Deployment | undefined): PreviousPrimary | undefined {
  const raw = primary?.metadata.annotations?.[PREVIOUS_PRIMARY_ANNOTATION];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as Partial<PreviousPrimary>;
    return typeof parsed.revision === 'string' && parsed.template && typeof parsed.configs === 'object' ? parsed as PreviousPrimary : undefined;
  } catch {
    return undefined;
  }
}

/** Whether an abort during a promotion can give the primary back its previous spec, and why not. */
export function restorability(
  primary: Deployment | undefined,
  options: { lastPromoted: string | undefined; lookup: (kind: 'ConfigMap' | 'Secret', name: string) => ConfigObject | undefined },
): { restorable: boolean; reason?: string } {
  const previous = parsePreviousPrimary(primary);
  if (!previous) return { restorable: false, reason: `the primary has no readable ${PREVIOUS_PRIMARY_ANNOTATION} annotation (it was promoted by an older sluice, or edited)` };
  if (previous.revision !== options.lastPromoted) return { restorable: false, reason: `the kept spec is of revision ${previous.revision}, not of the promoted revision ${options.lastPromoted ?? '(none)'}` };
  for (const [key, checksum] of Object.entries(previous.configs)) {
    const slash = key.indexOf('/');
    const copy = options.lookup(key.slice(0, slash) as 'ConfigMap' | 'Secret', key.slice(slash + 1));
    if (!copy || configChecksum(copy) !== checksum) {
      return { restorable: false, reason: `the promotion already changed ${key}, and sluice keeps no copy of its previous data` };
    }
  }
  return { restorable: true };
}

/** The primary with the spec it had before the current promotion; undefined when that is not kept. */
export function restoredPrimary(canary: Canary, target: Deployment, primary: Deployment | undefined): Deployment | undefined {
  const previous = parsePreviousPrimary(primary);
  if (!previous || !primary) return undefined;
  const restored = buildPrimary(canary, target, { revision: previous.revision, replicas: primary.spec.replicas ?? 1, copiedConfigs: new Set() });
  const spec = restored.spec;
  delete spec.strategy;
  delete spec.minReadySeconds;
  delete spec.progressDeadlineSeconds;
  restored.spec = {
    ...spec,
    template: previous.template,
    ...(previous.strategy !== undefined ? { strategy: previous.strategy } : {}),
    ...(previous.minReadySeconds !== undefined ? { minReadySeconds: previous.minReadySeconds } : {}),
    ...(previous.progressDeadlineSeconds !== undefined ? { progressDeadlineSeconds: previous.progressDeadlineSeconds } : {}),
  };
  restored.metadata.annotations = { [REVISION_ANNOTATION]: previous.revision };
  return restored;
}

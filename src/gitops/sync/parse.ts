// Parses one manifest file (YAML or JSON, multi-document) into Kubernetes
// objects. Every problem names its file and line, and all problems are
// collected, not just the first, so one status message lists everything to fix.
import { CORE_SCHEMA, EVENT_ID, YAMLException, constructFromEvents, mergeTag, parseEvents, type Event } from 'js-yaml';
import type { KubeObject } from '../../kube/types.ts';

/** Where an object came from: a repository-relative file and 1-based line. */
export interface ManifestSource {
  file: string;
  /** Line of the document's first content; absent for kustomize output. */
  line?: number | undefined;
  /** Set when the object was produced by `kustomize build` of this directory. */
  kustomization?: string | undefined;
}

export interface Manifest {
  object: KubeObject;
  source: ManifestSource;
}

/** One thing wrong with a revision; `object` names the object when one is known. */
export interface ManifestProblem {
  file: string;
  line?: number | undefined;
  object?: string | undefined;
  message: string;
}

export interface RenderResult {
  manifests: Manifest[];
  problems: ManifestProblem[];
}

// Merge keys (<<) are common in hand-written manifests and supported by kustomize's YAML.
const schema = CORE_SCHEMA.withTags(mergeTag);
// Aliases become shared references in JS; a document full of them would expand
// enormously once serialised for the API server.
const maxAliasesPerDocument = 100;

export function describeSource(source: ManifestSource): string {
  if (source.kustomization) return `${source.kustomization} (kustomize build)`;
  return source.line === undefined ? source.file : `${source.file}:${source.line}`;
}

export function describeProblem(problem: ManifestProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}`;
  return problem.object ? `${where}: ${problem.object}: ${problem.message}` : `${where}: ${problem.message}`;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Start offset of each document's root node (-1 for an empty document). */
function documentStarts(events: readonly Event[]): number[] {
  const starts: number[] = [];
  let depth = 0;
  for (const event of events) {
    if (event.type === EVENT_ID.DOCUMENT) {
      depth = 1;
      starts.push(-1);
      continue;
    }
    if (event.type === EVENT_ID.POP) {
      depth--;
      continue;
    }
    if (depth === 1 && starts.length > 0 && starts[starts.length - 1] === -1) {
      const offset = 'start' in event ? event.start : 'valueStart' in event ? event.valueStart : -1;
      starts[starts.length - 1] = offset;
    }
    if (event.type === EVENT_ID.SEQUENCE || event.type === EVENT_ID.MAPPING) depth++;
  }
  return starts;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Parses one file into manifests. YAML errors carry the file and line; a
 * `kind: List` (or any `*List` with items) is flattened as kubectl does.
 */
export function parseManifestFile(file: string, text: string, origin: Omit<ManifestSource, 'file' | 'line'> = {}): RenderResult {
  const manifests: Manifest[] = [];
  const problems: ManifestProblem[] = [];
  let documents: unknown[];
  let starts: number[];
  try {
    const events = parseEvents(text, { filename: file });
    starts = documentStarts(events);
    documents = constructFromEvents(events, { source: text, filename: file, schema, maxAliases: maxAliasesPerDocument });
  } catch (error) {
    if (error instanceof YAMLException) {
      const line = error.mark ? error.mark.line + 1 : undefined;
      problems.push({ file, line, message: `invalid YAML: ${error.reason}` });
    } else {
      problems.push({ file, message: `could not parse: ${error instanceof Error ? error.message : String(error)}` });
    }
    return { manifests, problems };
  }
  documents.forEach((document, index) => {
    const start = starts[index] ?? -1;
    const line = origin.kustomization ? undefined : start >= 0 ? lineAt(text, start) : undefined;
    if (document === null || document === undefined) return; // empty document, e.g. a trailing ---
    if (!isObject(document)) {
      problems.push({ file, line, message: 'a manifest must be a mapping with apiVersion, kind and metadata' });
      return;
    }
    const kind = document.kind;
    if (typeof kind === 'string' && kind.endsWith('List') && Array.isArray(document.items)) {
      document.items.forEach((item, i) => {
        const problem = checkObject(item);
        if (problem) problems.push({ file, line, message: `items[${i}]: ${problem}` });
        else manifests.push({ object: item as KubeObject, source: { file, line, ...origin } });
      });
      return;
    }
    const problem = checkObject(document);
    if (problem) problems.push({ file, line, object: nameHint(document), message: problem });
    else manifests.push({ object: document as unknown as KubeObject, source: { file, line, ...origin } });
  });
  return { manifests, problems };
}

function nameHint(document: Record<string, unknown>): string | undefined {
  const metadata = isObject(document.metadata) ? document.metadata : {};
  const kind = typeof document.kind === 'string' ? document.kind : undefined;
  const name = typeof metadata.name === 'string' ? metadata.name : undefined;
  return kind && name ? `${kind} ${name}` : undefined;
}

/** What is missing for a document to be a Kubernetes object, or undefined. */
function checkObject(value: unknown): string | undefined {
  if (!isObject(value)) return 'a manifest must be a mapping with apiVersion, kind and metadata';
  const missing: string[] = [];
  if (typeof value.apiVersion !== 'string' || value.apiVersion === '') missing.push('apiVersion');
  if (typeof value.kind !== 'string' || value.kind === '') missing.push('kind');
  const metadata = value.metadata;
  if (!isObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    missing.push(isObject(metadata) && typeof metadata.generateName === 'string'
      ? 'metadata.name (generateName cannot be used: sluice must know the name to keep the object in sync)'
      : 'metadata.name');
  }
  if (isObject(metadata) && metadata.namespace !== undefined && typeof metadata.namespace !== 'string') {
    return 'metadata.namespace must be a string';
  }
  return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
}


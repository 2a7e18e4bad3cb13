// `sluice migrate flagger FILE...`: Flagger Canary, MetricTemplate and
// AlertProvider manifests → sluice's. Canary keeps Flagger's field names, so
// most of the work is the apiVersion; whatever sluice's schema does not have
// is dropped and reported, and every output object is validated against the
// CRD schemas before it is printed.
import fs from 'node:fs';
import { loadAll } from 'js-yaml';
import { applyDefaults, validateObject, type ValidationIssue } from '../api/schema.ts';
import { API_GROUP_VERSION } from '../api/types.ts';
import { ErrorCodes, SluiceError } from '../errors.ts';
import { ExitCode, warn, write } from './common.ts';
import { toJson, toYaml } from './output.ts';

type Json = Record<string, unknown>;

export interface MigrateResult {
  objects: Json[];
  /** Things not carried over, or carried over with a change. */
  notes: string[];
  /** Documents that could not be converted. */
  errors: string[];
}

const convertedKinds = ['Canary', 'MetricTemplate', 'AlertProvider'];

const providerAliases: Record<string, string> = { 'gatewayapi:v1beta1': 'gatewayapi' };
const alertTypeAliases: Record<string, string> = { gchat: 'googlechat', 'google-chat': 'googlechat', teams: 'msteams' };

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deletes the field at an issue path such as `spec.analysis.metrics[0].foo`. */
function deletePath(root: Json, path: string): boolean {
  const segments = path.match(/[^.[\]]+/g) ?? [];
  let node: unknown = root;
  for (const segment of segments.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(segment)];
    else if (isRecord(node)) node = node[segment];
    else return false;
  }
  const last = segments[segments.length - 1];
  if (last === undefined || !isRecord(node) || !(last in node)) return false;
  delete node[last];
  return true;
}

function cleanMetadata(metadata: unknown, namespace: string | undefined): Json {
  const m = isRecord(metadata) ? metadata : {};
  const out: Json = { name: m.name };
  const ns = namespace ?? m.namespace;
  if (ns !== undefined) out.namespace = ns;
  if (isRecord(m.labels)) out.labels = m.labels;
  if (isRecord(m.annotations)) {
    const annotations = Object.fromEntries(Object.entries(m.annotations).filter(([k]) => k !== 'kubectl.kubernetes.io/last-applied-configuration'));
    if (Object.keys(annotations).length > 0) out.annotations = annotations;
  }
  return out;
}

function convertCanary(spec: Json, notes: string[], what: string): Json {
  const out = structuredClone(spec);
  // flagger.app/v1alpha3 called the analysis canaryAnalysis.
  if (out.canaryAnalysis !== undefined && out.analysis === undefined) {
    out.analysis = out.canaryAnalysis;
    delete out.canaryAnalysis;
    notes.push(`${what}: spec.canaryAnalysis renamed to spec.analysis`);
  }
  if (typeof out.provider === 'string' && providerAliases[out.provider]) {
    notes.push(`${what}: spec.provider ${out.provider} → ${providerAliases[out.provider]}`);
    out.provider = providerAliases[out.provider];
  }
  const analysis = isRecord(out.analysis) ? out.analysis : undefined;
  const metrics = Array.isArray(analysis?.metrics) ? analysis.metrics : [];
  for (const [i, metric] of metrics.entries()) {
    if (!isRecord(metric) || typeof metric.threshold !== 'number') continue;
    // Flagger's old single threshold: a minimum for success rates, a maximum otherwise.
    const bound = metric.name === 'request-success-rate' ? 'min' : 'max';
    metric.thresholdRange = { ...(isRecord(metric.thresholdRange) ? metric.thresholdRange : {}), [bound]: metric.threshold };
    delete metric.threshold;
    notes.push(`${what}: spec.analysis.metrics[${i}].threshold → thresholdRange.${bound}`);
  }
  return out;
}

function convertMetricTemplate(spec: Json, what: string): Json {
  const provider = isRecord(spec.provider) ? spec.provider : {};
  const type = provider.type ?? 'prometheus';
  if (type !== 'prometheus') {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${what}: metric provider type ${JSON.stringify(type)} is not supported`, { hint: 'sluice queries Prometheus only; rewrite the query for a Prometheus that holds the same metrics' });
  }
  return structuredClone(spec);
}

function convertAlertProvider(spec: Json, notes: string[], what: string): Json {
  const out = structuredClone(spec);
  if (typeof out.type === 'string' && alertTypeAliases[out.type]) {
    notes.push(`${what}: spec.type ${out.type} → ${alertTypeAliases[out.type]}`);
    out.type = alertTypeAliases[out.type];
  }
  return out;
}

function describeIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join('; ');
}

/** Converts one parsed document; undefined for documents that are not Flagger's. */
export function convertDocument(doc: unknown, options: { namespace?: string | undefined; where: string }, result: MigrateResult): void {
  if (doc === null || doc === undefined) return;
  if (!isRecord(doc) || typeof doc.kind !== 'string' || typeof doc.apiVersion !== 'string') {
    result.errors.push(`${options.where}: not a Kubernetes object (apiVersion and kind are required)`);
    return;
  }
  const name = isRecord(doc.metadata) && typeof doc.metadata.name === 'string' ? doc.metadata.name : '(unnamed)';
  const what = `${options.where}: ${doc.kind} ${name}`;
  if (!doc.apiVersion.startsWith('flagger.app/')) {
    result.objects.push(doc);
    result.notes.push(`${what}: not a Flagger object (${doc.apiVersion}); kept as is`);
    return;
  }
  if (!convertedKinds.includes(doc.kind)) {
    result.errors.push(`${what}: Flagger kind ${doc.kind} has no sluice equivalent (sluice converts ${convertedKinds.join(', ')})`);
    return;
  }
  try {
    const spec = isRecord(doc.spec) ? doc.spec : {};
    const notes: string[] = [];
    const converted = doc.kind === 'Canary' ? convertCanary(spec, notes, what)
      : doc.kind === 'MetricTemplate' ? convertMetricTemplate(spec, what)
        : convertAlertProvider(spec, notes, what);
    const object: Json = { apiVersion: API_GROUP_VERSION, kind: doc.kind, metadata: cleanMetadata(doc.metadata, options.namespace), spec: converted };
    if (doc.status !== undefined) notes.push(`${what}: status dropped (the controller rebuilds it)`);
    // Drop what sluice's schema does not define, one report line per field.
    for (let round = 0; round < 50; round++) {
      const unknown = validateObject(object).issues.filter((i) => i.message.startsWith('Unknown field'));
      if (unknown.length === 0) break;
      for (const issue of unknown) {
        if (deletePath(object, issue.path)) notes.push(`${what}: ${issue.path} is not supported by sluice; dropped`);
      }
    }
    const { issues } = validateObject(object);
    if (issues.length > 0) {
      result.errors.push(`${what}: the converted object is not valid for sluice: ${describeIssues(issues)}`);
      return;
    }
    // applyDefaults proves the object is complete; the output stays as written (defaults are the server's job).
    applyDefaults(object);
    result.objects.push(object);
    result.notes.push(...notes);
  } catch (error) {
    result.errors.push(error instanceof SluiceError ? error.describe() : `${what}: ${String(error)}`);
  }
}

export function migrateText(text: string, options: { namespace?: string | undefined; file: string }, result: MigrateResult): void {
  let docs: unknown[];
  try {
    docs = loadAll(text);
  } catch (error) {
    result.errors.push(`${options.file}: invalid YAML: ${(error as Error).message.split('\n')[0] ?? ''}`);
    return;
  }
  docs.forEach((doc, i) => {
    // A List (kubectl get -o yaml) converts item by item.
    if (isRecord(doc) && doc.kind === 'List' && Array.isArray(doc.items)) {
      doc.items.forEach((item, j) => convertDocument(item, { namespace: options.namespace, where: `${options.file}#${i + 1}.${j + 1}` }, result));
    } else {
      convertDocument(doc, { namespace: options.namespace, where: docs.length > 1 ? `${options.file}#${i + 1}` : options.file }, result);
    }
  });
}

export function runMigrateFlagger(files: string[], options: { namespace?: string | undefined; output: string }): void {
  if (options.output !== 'yaml' && options.output !== 'json') {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `unknown output format "${options.output}"`, { hint: 'use -o yaml or -o json' });
  }
  const result: MigrateResult = { objects: [], notes: [], errors: [] };
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
    } catch (error) {
      result.errors.push(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      continue;
    }
    migrateText(text, { namespace: options.namespace, file }, result);
  }
  if (result.objects.length > 0) {
    write(options.output === 'json'
      ? toJson(result.objects.length === 1 ? result.objects[0] : { apiVersion: 'v1', kind: 'List', items: result.objects })
      : result.objects.map((o) => toYaml(o)).join('---\n'));
  }
  for (const note of result.notes) warn(`note: ${note}`);
  for (const error of result.errors) warn(`error: ${error}`);
  if (result.errors.length > 0) throw new ExitCode(1);
}

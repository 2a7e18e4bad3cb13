// Edits container images in YAML text in place: only the bytes of the image
// values change, so comments, key order, quoting, indentation and the other
// documents of a file stay exactly as they were (re-dumping the YAML would
// lose all of that and make a noisy diff). Positions come from js-yaml's
// event parser; the edits are plain string splices.
import { EVENT_ID, SCALAR_STYLE, YAMLException, getScalarValue, parseEvents, type Event } from 'js-yaml';
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface YamlScalar {
  kind: 'scalar';
  value: string;
  /** Offsets of the value (inside the quotes for quoted scalars), end-exclusive. */
  start: number;
  end: number;
  style: number;
}

export interface YamlMap {
  kind: 'map';
  start: number;
  flow: boolean;
  entries: { key: YamlNode; value: YamlNode }[];
}

export interface YamlSeq {
  kind: 'seq';
  start: number;
  flow: boolean;
  items: YamlNode[];
}

export interface YamlAlias {
  kind: 'alias';
}

export type YamlNode = YamlScalar | YamlMap | YamlSeq | YamlAlias;

/** A splice of the text: [start, end) becomes `text`. */
export interface TextEdit {
  start: number;
  end: number;
  text: string;
}

/** The documents of a YAML text as position-carrying nodes; empty documents are undefined. */
export function parseYamlDocuments(text: string, file: string): (YamlNode | undefined)[] {
  let events: Event[];
  try {
    events = parseEvents(text, { filename: file });
  } catch (error) {
    if (error instanceof YAMLException) {
      throw new SluiceError(ErrorCodes.ManifestInvalid, `${file}${error.mark ? `:${error.mark.line + 1}` : ''}: invalid YAML: ${error.reason}`, {
        hint: 'fix the file in Git; sluice edits only files it can parse',
      });
    }
    throw error;
  }
  const documents: (YamlNode | undefined)[] = [];
  // Open collections; a map collects key/value pairs from alternating children.
  const stack: { node: YamlMap | YamlSeq; pendingKey?: YamlNode | undefined }[] = [];
  let inDocument = false;
  const attach = (node: YamlNode): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      if (inDocument) documents[documents.length - 1] = node;
      return;
    }
    if (top.node.kind === 'seq') {
      top.node.items.push(node);
    } else if (top.pendingKey === undefined) {
      top.pendingKey = node;
    } else {
      top.node.entries.push({ key: top.pendingKey, value: node });
      top.pendingKey = undefined;
    }
  };
  for (const event of events) {
    switch (event.type) {
      case EVENT_ID.DOCUMENT:
        documents.push(undefined);
        inDocument = true;
        break;
      case EVENT_ID.MAPPING:
      case EVENT_ID.SEQUENCE: {
        const flow = event.style === 2;
        const node: YamlMap | YamlSeq = event.type === EVENT_ID.MAPPING
          ? { kind: 'map', start: event.start, flow, entries: [] }
          : { kind: 'seq', start: event.start, flow, items: [] };
        attach(node);
        stack.push({ node });
        break;
      }
      case EVENT_ID.SCALAR:
        attach({ kind: 'scalar', value: getScalarValue(text, event), start: event.valueStart, end: event.valueEnd, style: event.style });
        break;
      case EVENT_ID.ALIAS:
        attach({ kind: 'alias' });
        break;
      case EVENT_ID.POP:
        if (stack.length > 0) stack.pop();
        else inDocument = false;
        break;
    }
  }
  return documents;
}

/** The value under `key` of a mapping node. */
export function field(node: YamlNode | undefined, key: string): YamlNode | undefined {
  if (node?.kind !== 'map') return undefined;
  return node.entries.find((e) => e.key.kind === 'scalar' && e.key.value === key)?.value;
}

/** The string at a path of mapping keys, or undefined. */
export function stringAt(node: YamlNode | undefined, ...path: string[]): string | undefined {
  let current = node;
  for (const key of path) current = field(current, key);
  return current?.kind === 'scalar' ? current.value : undefined;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

// A plain scalar that stays a string and needs no quoting: image references,
// tags, digests. Anything else is written double-quoted.
const PLAIN_SAFE = /^[A-Za-z0-9_./][A-Za-z0-9_.\-/:@+]*$/;
const NON_STRING_PLAIN = /^(?:[-+]?(?:\d[\d_]*(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+|0x[0-9a-fA-F]+|0o[0-7]+|\.inf|\.nan)|true|false|True|False|TRUE|FALSE|null|Null|NULL|~)$/;

/** The YAML text for a new string value, plain when that reads back as the same string. */
export function formatYamlString(value: string): string {
  return PLAIN_SAFE.test(value) && !NON_STRING_PLAIN.test(value) && !value.endsWith(':') ? value : JSON.stringify(value);
}

/** The splice that sets a scalar to `value`, keeping its quoting style. */
export function replaceScalar(text: string, node: YamlScalar, value: string, file: string): TextEdit {
  switch (node.style) {
    case SCALAR_STYLE.PLAIN:
      return { start: node.start, end: node.end, text: formatYamlString(value) };
    case SCALAR_STYLE.SINGLE_QUOTED:
      return { start: node.start, end: node.end, text: value.replace(/'/g, "''") };
    case SCALAR_STYLE.DOUBLE_QUOTED:
      return { start: node.start, end: node.end, text: JSON.stringify(value).slice(1, -1) };
    default:
      throw new SluiceError(ErrorCodes.ManifestInvalid, `${file}:${lineOf(text, node.start)}: the value "${node.value}" is a block scalar (| or >), which sluice does not rewrite`, {
        hint: 'write the image on one line (image: name:tag), or change it in Git by hand',
      });
  }
}

/** Applies non-overlapping splices. */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  // Last first, so earlier offsets stay valid; a deletion before an insertion at its start.
  const sorted = [...edits].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  let limit = Number.POSITIVE_INFINITY;
  for (const edit of sorted) {
    if (edit.end > limit) throw new SluiceError(ErrorCodes.Internal, 'overlapping YAML edits');
    out = out.slice(0, edit.start) + edit.text + out.slice(edit.end);
    limit = edit.start;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Image references

export interface ImageReference {
  /** Repository with registry, e.g. ghcr.io/org/app. */
  name: string;
  tag?: string | undefined;
  digest?: string | undefined;
}

/** "registry:5000/app:1.2@sha256:..." → { name: "registry:5000/app", tag: "1.2", digest: "sha256:..." }. */
export function parseImageReference(image: string): ImageReference {
  let rest = image.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { name: rest, tag, digest };
}

export function formatImageReference(ref: ImageReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

// ---------------------------------------------------------------------------
// Deployments

/** One image to change: where `from` is set (in `container`, when given), set `to`. */
export interface ImageChange {
  container?: string | undefined;
  from: string;
  to: string;
}

export interface ReplacedImage {
  file: string;
  line: number;
  /** Container name, or the kustomize images entry name. */
  container: string;
  from: string;
  to: string;
}

export interface DeploymentIdentity {
  name: string;
  /** metadata.namespace as written in the file; undefined when absent. */
  namespace: string | undefined;
}

export interface DeploymentEditResult {
  text: string;
  /** Deployments in the file that `matches` accepted. */
  declared: number;
  replaced: ReplacedImage[];
}

/**
 * Sets, in every apps/v1 Deployment of the file that `matches` accepts, each
 * container image equal to a change's `from` to its `to`. Returns the text
 * unchanged (and `replaced` empty) when no image needed changing.
 */
export function editDeploymentImages(text: string, options: {
  file: string;
  matches: (deployment: DeploymentIdentity) => boolean;
  changes: readonly ImageChange[];
}): DeploymentEditResult {
  const edits: TextEdit[] = [];
  const replaced: ReplacedImage[] = [];
  let declared = 0;
  for (const document of parseYamlDocuments(text, options.file)) {
    if (stringAt(document, 'apiVersion') !== 'apps/v1' || stringAt(document, 'kind') !== 'Deployment') continue;
    const name = stringAt(document, 'metadata', 'name');
    if (name === undefined || !options.matches({ name, namespace: stringAt(document, 'metadata', 'namespace') })) continue;
    declared++;
    const containers = field(field(field(document, 'spec'), 'template'), 'spec');
    const list = field(containers, 'containers');
    if (list?.kind !== 'seq') continue;
    for (const container of list.items) {
      const image = field(container, 'image');
      if (image?.kind !== 'scalar') continue;
      const containerName = stringAt(container, 'name') ?? '';
      const change = options.changes.find((c) => c.from === image.value && (c.container === undefined || c.container === containerName));
      if (!change || change.from === change.to) continue;
      edits.push(replaceScalar(text, image, change.to, options.file));
      replaced.push({ file: options.file, line: lineOf(text, image.start), container: containerName, from: change.from, to: change.to });
    }
  }
  return { text: edits.length > 0 ? applyEdits(text, edits) : text, declared, replaced };
}

// ---------------------------------------------------------------------------
// kustomization.yaml images

/** Indentation (column) of the line holding offset. */
function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf('\n', offset - 1) + 1);
}

/** Offset just past the end of the line holding offset (after its newline, or the text end). */
function endOfLine(text: string, offset: number): number {
  const newline = text.indexOf('\n', offset);
  return newline < 0 ? text.length : newline + 1;
}

function startOfLine(text: string, offset: number): number {
  return text.lastIndexOf('\n', offset - 1) + 1;
}

/**
 * Edits one `images:` entry (a mapping) so it produces `to`: existing values
 * are replaced in place, missing keys inserted after the entry's last key at
 * its indentation, keys `to` has no use for removed with their line.
 */
function retargetImageEntry(text: string, entry: YamlMap, current: { name: string }, to: ImageReference, file: string): TextEdit[] {
  const wanted: Record<'newName' | 'newTag' | 'digest', string | undefined> = {
    newName: to.name !== current.name || field(entry, 'newName') !== undefined ? to.name : undefined,
    newTag: to.tag,
    digest: to.digest,
  };
  // newName equal to name is noise; drop it rather than keep it.
  if (wanted.newName === stringAt(entry, 'name')) wanted.newName = undefined;
  const edits: TextEdit[] = [];
  const inserts: string[] = [];
  const removed = new Set<number>();
  const flowProblem = (): SluiceError => new SluiceError(ErrorCodes.ManifestInvalid,
    `${file}:${lineOf(text, entry.start)}: the images entry is a flow mapping ({...}), where sluice can only replace existing values`, {
      hint: 'write the entry in block style (one key per line), or change it in Git by hand',
    });
  for (const key of ['newName', 'newTag', 'digest'] as const) {
    const index = entry.entries.findIndex((e) => e.key.kind === 'scalar' && e.key.value === key);
    const present = index >= 0 ? entry.entries[index] : undefined;
    const value = wanted[key];
    if (present && value !== undefined) {
      if (present.value.kind !== 'scalar') throw flowProblem();
      if (present.value.value !== value) edits.push(replaceScalar(text, present.value, value, file));
    } else if (present && value === undefined) {
      if (entry.flow || present.key.kind !== 'scalar') throw flowProblem();
      const lineStart = startOfLine(text, present.key.start);
      if (text.slice(lineStart, present.key.start).trim() !== '') throw flowProblem();
      const valueEnd = present.value.kind === 'scalar' ? present.value.end : present.key.end;
      edits.push({ start: lineStart, end: endOfLine(text, valueEnd), text: '' });
      removed.add(index);
    } else if (!present && value !== undefined) {
      if (entry.flow) throw flowProblem();
      // kustomize reads newTag as a string; quote it when it would read as a number.
      inserts.push(`${key}: ${formatYamlString(value)}`);
    }
  }
  if (inserts.length > 0) {
    const last = entry.entries.filter((_, i) => !removed.has(i)).at(-1);
    const firstKey = entry.entries[0]?.key;
    if (!last || !firstKey || firstKey.kind !== 'scalar' || last.value.kind !== 'scalar') throw flowProblem();
    const indent = ' '.repeat(columnOf(text, firstKey.start));
    const at = endOfLine(text, last.value.end);
    const newline = at === text.length && !text.endsWith('\n') ? '\n' : '';
    edits.push({ start: at, end: at, text: `${newline}${inserts.map((line) => `${indent}${line}\n`).join('')}` });
  }
  return edits;
}

export interface KustomizationEditResult {
  text: string;
  replaced: ReplacedImage[];
}

/**
 * Rewrites `images:` entries of a kustomization whose result is a change's
 * `from` (name or newName, with newTag or digest) so they produce its `to`.
 */
export function editKustomizationImages(text: string, options: { file: string; changes: readonly ImageChange[] }): KustomizationEditResult {
  const edits: TextEdit[] = [];
  const replaced: ReplacedImage[] = [];
  const document = parseYamlDocuments(text, options.file)[0];
  const images = field(document, 'images');
  if (images?.kind !== 'seq') return { text, replaced };
  for (const entry of images.items) {
    if (entry.kind !== 'map') continue;
    const name = stringAt(entry, 'name');
    if (name === undefined) continue;
    const newName = stringAt(entry, 'newName');
    const newTag = stringAt(entry, 'newTag');
    const digest = stringAt(entry, 'digest');
    if (newTag === undefined && digest === undefined && newName === undefined) continue;
    const produced = newName ?? name;
    const change = options.changes.find((c) => {
      if (c.from === c.to) return false;
      const from = parseImageReference(c.from);
      if (from.name !== produced) return false;
      if (digest !== undefined) return from.digest === digest;
      if (newTag !== undefined) return from.tag === newTag;
      // Only newName: the tag comes from the base manifest; the name alone identifies it.
      return parseImageReference(c.to).name !== produced;
    });
    if (!change) continue;
    const to = parseImageReference(change.to);
    // Only newName set: keep the base's tag, change only the name.
    const target = newTag === undefined && digest === undefined ? { name: to.name } : to;
    edits.push(...retargetImageEntry(text, entry, { name }, target, options.file));
    replaced.push({ file: options.file, line: lineOf(text, entry.start), container: name, from: change.from, to: change.to });
  }
  return { text: edits.length > 0 ? applyEdits(text, edits) : text, replaced };
}

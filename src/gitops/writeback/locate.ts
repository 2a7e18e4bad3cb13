// Finds where a repository declares a Deployment's images, the way a Sync
// reads the repository: plain YAML files under spec.path, and kustomizations
// (the shallowest ones under spec.path, then their resources, bases and
// components wherever they are in the repository, with namePrefix/nameSuffix
// and namespace applied on the way), and edits the images there.
import path from 'node:path';
import { CORE_SCHEMA, load } from 'js-yaml';
import { normalizeSyncPath } from '../sync/manifests.ts';
import { isKustomizationFile } from '../sync/kustomize.ts';
import { editDeploymentImages, editKustomizationImages, type ImageChange, type ReplacedImage } from './yaml-edit.ts';

export interface LocateRequest {
  /** Repository-relative path → text, for the YAML and kustomization files of the revision. */
  files: ReadonlyMap<string, string>;
  /** The Sync's spec.path. */
  syncPath: string | undefined;
  deployment: { namespace: string; name: string };
  /** Namespace of the Sync: where objects without one are applied. */
  syncNamespace: string;
  /** The Sync's spec.targetNamespace. */
  targetNamespace?: string | undefined;
  changes: readonly ImageChange[];
}

export interface LocateResult {
  /** Path → new text, for the files that changed. */
  edited: Map<string, string>;
  replaced: ReplacedImage[];
  /** Files with a document that declares the Deployment. */
  declaredIn: string[];
  /** Kustomization files on the way to a declaration (their `images:` were checked). */
  kustomizations: string[];
  /** How many manifest files were read, for messages. */
  filesSearched: number;
}

interface Transform {
  prefix: string;
  suffix: string;
  /** The outermost kustomization's `namespace:` wins. */
  namespace: string | undefined;
}

const manifestExtensions = ['.yaml', '.yml'];
const kustomizationNames = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

function isUnder(file: string, dir: string): boolean {
  return dir === '' || file === dir || file.startsWith(`${dir}/`);
}

function isHidden(relative: string): boolean {
  return relative.split('/').some((segment) => segment.startsWith('.'));
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function kustomizationIn(files: ReadonlyMap<string, string>, dir: string): string | undefined {
  return kustomizationNames.map((name) => (dir === '' ? name : `${dir}/${name}`)).find((file) => files.has(file));
}

/** Searches the files for the Deployment and edits its images; pure, no I/O. */
export function locateAndEdit(request: LocateRequest): LocateResult {
  const texts = new Map(request.files);
  const result: LocateResult = { edited: new Map(), replaced: [], declaredIn: [], kustomizations: [], filesSearched: 0 };
  const searched = new Set<string>();
  const root = normalizeSyncPath(request.syncPath);
  const { deployment } = request;

  const editManifest = (file: string, transform: Transform): boolean => {
    const text = texts.get(file);
    if (text === undefined) return false;
    searched.add(file);
    const edit = editDeploymentImages(text, {
      file,
      changes: request.changes,
      matches: (d) => `${transform.prefix}${d.name}${transform.suffix}` === deployment.name
        && (request.targetNamespace ?? transform.namespace ?? d.namespace ?? request.syncNamespace) === deployment.namespace,
    });
    if (edit.declared > 0 && !result.declaredIn.includes(file)) result.declaredIn.push(file);
    if (edit.text !== text) {
      texts.set(file, edit.text);
      result.edited.set(file, edit.text);
    }
    result.replaced.push(...edit.replaced);
    return edit.declared > 0;
  };

  const visiting = new Set<string>();
  const visitKustomization = (dir: string, outer: Transform): boolean => {
    const file = kustomizationIn(texts, dir);
    if (file === undefined || visiting.has(dir)) return false;
    visiting.add(dir);
    searched.add(file);
    let spec: Record<string, unknown> = {};
    try {
      const loaded = load(texts.get(file) ?? '', { schema: CORE_SCHEMA, filename: file });
      if (typeof loaded === 'object' && loaded !== null && !Array.isArray(loaded)) spec = loaded as Record<string, unknown>;
    } catch {
      // The Sync reports broken kustomizations; here it just declares nothing.
    }
    const transform: Transform = {
      prefix: outer.prefix + (typeof spec.namePrefix === 'string' ? spec.namePrefix : ''),
      suffix: (typeof spec.nameSuffix === 'string' ? spec.nameSuffix : '') + outer.suffix,
      namespace: outer.namespace ?? (typeof spec.namespace === 'string' ? spec.namespace : undefined),
    };
    let declared = false;
    for (const entry of [...strings(spec.resources), ...strings(spec.bases), ...strings(spec.components)]) {
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || entry.startsWith('git@')) continue; // remote bases are never fetched
      const target = path.posix.normalize(path.posix.join(dir, entry)).replace(/\/$/, '');
      if (target === '..' || target.startsWith('../')) continue;
      if (texts.has(target) && manifestExtensions.some((ext) => target.toLowerCase().endsWith(ext))) {
        if (editManifest(target, transform)) declared = true;
      } else if (kustomizationIn(texts, target === '.' ? '' : target) !== undefined) {
        if (visitKustomization(target === '.' ? '' : target, transform)) declared = true;
      }
    }
    visiting.delete(dir);
    if (declared) {
      if (!result.kustomizations.includes(file)) result.kustomizations.push(file);
      const text = texts.get(file) ?? '';
      const edit = editKustomizationImages(text, { file, changes: request.changes });
      if (edit.text !== text) {
        texts.set(file, edit.text);
        result.edited.set(file, edit.text);
      }
      result.replaced.push(...edit.replaced);
    }
    return declared;
  };

  const files = [...texts.keys()].filter((file) => isUnder(file, root) && !isHidden(root === '' ? file : file.slice(root.length))).sort();
  const kustomizeDirs: string[] = [];
  for (const file of files) {
    if (!isKustomizationFile(file)) continue;
    const dir = path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file);
    if (!kustomizeDirs.some((d) => isUnder(dir, d))) kustomizeDirs.push(dir);
  }
  const none: Transform = { prefix: '', suffix: '', namespace: undefined };
  for (const dir of kustomizeDirs) visitKustomization(dir, none);
  for (const file of files) {
    if (kustomizeDirs.some((d) => isUnder(path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file), d))) continue;
    if (!manifestExtensions.some((ext) => file.toLowerCase().endsWith(ext)) || isKustomizationFile(file)) continue;
    editManifest(file, none);
  }
  result.filesSearched = searched.size;
  return result;
}

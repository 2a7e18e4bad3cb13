// Turns the files of one artifact into Kubernetes objects: plain YAML/JSON
// files (multi-document, recursive) and kustomization directories (built by
// the real kustomize binary).
import type { Artifact } from '../source/artifact.ts';
import { buildKustomization, isKustomizationFile, type KustomizeOptions } from './kustomize.ts';
import { parseManifestFile, type RenderResult } from './parse.ts';

const manifestExtensions = ['.yaml', '.yml', '.json'];

/** "./apps/" → "apps"; "./" or "" → "" (the repository root). */
export function normalizeSyncPath(path: string | undefined): string {
  const segments = (path ?? '').split('/').filter((s) => s !== '' && s !== '.');
  return segments.join('/');
}

function isHidden(path: string): boolean {
  return path.split('/').some((segment) => segment.startsWith('.'));
}

function directoryOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

function isUnder(path: string, dir: string): boolean {
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}

export interface RenderOptions {
  /** Directory in the artifact, as in spec.path. */
  path?: string | undefined;
  kustomize?: KustomizeOptions | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * All manifests of `options.path` in the artifact. A directory with a
 * kustomization file is built with kustomize; other files are read as plain
 * manifests, recursively (hidden files and directories are skipped).
 */
export async function renderManifests(artifact: Pick<Artifact, 'files'>, options: RenderOptions = {}): Promise<RenderResult> {
  const root = normalizeSyncPath(options.path);
  const files = [...artifact.files.keys()].filter((file) => isUnder(file, root) && !isHidden(file.slice(root.length))).sort();
  if (files.length === 0) {
    return { manifests: [], problems: [{ file: root === '' ? './' : root, message: 'the path has no files in this revision; check spec.path' }] };
  }
  // The shallowest kustomization directories win; everything below one is kustomize's business.
  const kustomizeDirs: string[] = [];
  for (const file of files) {
    const dir = directoryOf(file);
    if (isKustomizationFile(file) && !kustomizeDirs.some((d) => isUnder(dir, d))) kustomizeDirs.push(dir);
  }
  const result: RenderResult = { manifests: [], problems: [] };
  for (const dir of kustomizeDirs) {
    const built = await buildKustomization(artifact.files, dir, { ...options.kustomize, signal: options.signal });
    result.manifests.push(...built.manifests);
    result.problems.push(...built.problems);
  }
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const file of files) {
    if (kustomizeDirs.some((d) => isUnder(directoryOf(file), d))) continue;
    if (!manifestExtensions.some((ext) => file.toLowerCase().endsWith(ext))) continue;
    let text: string;
    try {
      text = decoder.decode(artifact.files.get(file));
    } catch {
      result.problems.push({ file, message: 'not valid UTF-8 text' });
      continue;
    }
    const parsed = parseManifestFile(file, text);
    result.manifests.push(...parsed.manifests);
    result.problems.push(...parsed.problems);
  }
  return result;
}

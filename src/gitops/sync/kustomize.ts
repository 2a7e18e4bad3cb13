// Runs the real `kustomize build` on a directory of an artifact. The
// artifact's files are written to a private temporary directory first, since
// kustomize reads from disk and may reference bases elsewhere in the
// repository. Plugins, Helm inflation and remote bases stay off (kustomize's
// defaults), so a build reads nothing but the revision's own files.
import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseManifestFile, type RenderResult } from './parse.ts';

export interface KustomizeOptions {
  /** Path of the kustomize binary; see kustomizeBinary(). */
  binary?: string | undefined;
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

const kustomizationNames = new Set(['kustomization.yaml', 'kustomization.yml', 'Kustomization']);
const maxOutputBytes = 256 * 1024 * 1024;

export function isKustomizationFile(file: string): boolean {
  return kustomizationNames.has(file.slice(file.lastIndexOf('/') + 1));
}

/**
 * The kustomize binary: $SLUICE_KUSTOMIZE, else the one scripts/setup.sh
 * builds into .tools/bin, else `kustomize` on PATH (as in the container image).
 */
export function kustomizeBinary(): string {
  const fromEnv = process.env.SLUICE_KUSTOMIZE;
  if (fromEnv) return fromEnv;
  const built = path.resolve(import.meta.dirname, '../../../.tools/bin/kustomize');
  return existsSync(built) ? built : 'kustomize';
}

/** Writes the files to dir, refusing paths that would land outside it. */
async function materialize(files: ReadonlyMap<string, Uint8Array>, dir: string): Promise<void> {
  const created = new Set<string>();
  for (const [file, content] of files) {
    const target = path.resolve(dir, file);
    if (!target.startsWith(`${dir}${path.sep}`)) continue; // the source controller refuses such paths already
    const parent = path.dirname(target);
    if (!created.has(parent)) {
      await mkdir(parent, { recursive: true });
      created.add(parent);
    }
    await writeFile(target, content);
  }
}

function run(binary: string, args: string[], cwd: string, options: KustomizeOptions): Promise<{ stdout: string; stderr: string; error: ExecFileException | null }> {
  return new Promise((resolve) => {
    execFile(binary, args, {
      cwd, maxBuffer: maxOutputBytes, timeout: options.timeoutMs ?? 60_000, signal: options.signal,
      // kustomize needs no credentials or proxies; keep the child's environment small.
      env: { PATH: process.env.PATH ?? '', HOME: cwd },
    }, (error, stdout, stderr) => resolve({ stdout, stderr, error }));
  });
}

/** `kustomize build <dir>` over the artifact's files; problems name the kustomization. */
export async function buildKustomization(files: ReadonlyMap<string, Uint8Array>, dir: string, options: KustomizeOptions = {}): Promise<RenderResult> {
  const binary = options.binary ?? kustomizeBinary();
  const label = dir === '' ? 'kustomization.yaml' : `${dir}/kustomization.yaml`;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sluice-kustomize-'));
  try {
    await materialize(files, tmp);
    const { stdout, stderr, error } = await run(binary, ['build', dir === '' ? '.' : dir], tmp, options);
    if (error) {
      if (error.code === 'ENOENT') {
        return { manifests: [], problems: [{ file: label, message: `the kustomize binary was not found (${binary}); run scripts/setup.sh or set SLUICE_KUSTOMIZE` }] };
      }
      if (options.signal?.aborted) throw options.signal.reason;
      // Paths in kustomize's messages point into our temporary copy; make them repository-relative.
      const detail = (stderr.trim() || error.message).split(`${tmp}/`).join('').split(tmp).join('.');
      return { manifests: [], problems: [{ file: label, message: `kustomize build failed: ${detail.replace(/^Error: /, '')}` }] };
    }
    return parseManifestFile(label, stdout, { kustomization: dir === '' ? './' : dir });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// What a GitRepository hands to the Syncs that use it: one revision's files.
// The source controller writes artifacts; Sync controllers only read them.
import { createHash } from 'node:crypto';

export interface Artifact {
  /** Flux-style revision, e.g. "main@sha1:<40 hex>". */
  revision: string;
  /** sha256 digest over the sorted file paths and contents, "sha256:<hex>". */
  digest: string;
  /** Repository-relative POSIX paths → contents, after ignore rules. */
  files: ReadonlyMap<string, Uint8Array>;
  /** Total bytes of files. */
  size: number;
  fetchedAt: Date;
}

export type ArtifactListener = (namespace: string, name: string, artifact: Artifact) => void;

/** In-process store of the last good artifact of every GitRepository. */
export class ArtifactStore {
  readonly #artifacts = new Map<string, Artifact>();
  readonly #listeners = new Set<ArtifactListener>();

  get(namespace: string, name: string): Artifact | undefined {
    return this.#artifacts.get(`${namespace}/${name}`);
  }

  /** Stores a new artifact; listeners hear of it only when the revision or digest changed. */
  set(namespace: string, name: string, artifact: Artifact): void {
    const key = `${namespace}/${name}`;
    const previous = this.#artifacts.get(key);
    this.#artifacts.set(key, artifact);
    if (previous?.revision === artifact.revision && previous.digest === artifact.digest) return;
    for (const listener of this.#listeners) listener(namespace, name, artifact);
  }

  delete(namespace: string, name: string): void {
    this.#artifacts.delete(`${namespace}/${name}`);
  }

  onChange(listener: ArtifactListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/**
 * The digest of a file tree, "sha256:<hex>": SHA-256 over every file in
 * byte order of its UTF-8 path, each as path, NUL, decimal length, NUL,
 * contents. The length framing makes it unambiguous: no two different trees
 * hash the same input. Independent of Map order.
 */
export function artifactDigest(files: ReadonlyMap<string, Uint8Array>): string {
  const entries = [...files].map(([path, content]) => ({ path: Buffer.from(path, 'utf8'), content }));
  entries.sort((a, b) => Buffer.compare(a.path, b.path));
  const hash = createHash('sha256');
  for (const { path, content } of entries) {
    hash.update(path);
    hash.update(`\0${content.byteLength}\0`);
    hash.update(content);
  }
  return `sha256:${hash.digest('hex')}`;
}

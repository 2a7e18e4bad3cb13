// The on-disk Git object cache: one bare repository per URL and fetch depth
// under --git-cache-dir (see fetch.ts for the layout). This module owns the
// per-directory locks, the size accounting and eviction:
//
// - every directory's size is measured (du: allocated blocks, which is what
//   the kubelet counts against an emptyDir's sizeLimit) once when first seen
//   and again after every fetch that used it, so the total is a sum of cached
//   numbers, never a walk of the whole cache;
// - after a fetch, while the total exceeds --git-cache-max-bytes, the least
//   recently used directories are removed, never one that a fetch holds or
//   waits for, and never the one just fetched; an evicted repository is
//   simply fetched again (in full) the next time it is needed;
// - a directory no GitRepository uses any more (deleted, or its URL changed)
//   is removed at once, or as soon as the fetch holding it lets go.
import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { redactUrl } from './git-errors.ts';

/** Names of cache directories: <sha256(url)[:32]>-<shallow|full>. Anything else in the cache dir is left alone. */
export const CACHE_ENTRY_NAME = /^[0-9a-f]{32}-(shallow|full)$/;

/** Serializes work per key; a task holds its key until it truly settles. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  /** Whether a task holds the key or waits for it. */
  busy(key: string): boolean {
    return this.#tails.has(key);
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    // Everything up to the first await runs synchronously: a caller that saw
    // busy() === false and calls run() in the same tick owns the key.
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release = (): void => undefined;
    const tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chained = previous.then(() => tail);
    this.#tails.set(key, chained);
    await previous;
    try {
      return await task();
    } finally {
      release();
      if (this.#tails.get(key) === chained) this.#tails.delete(key);
    }
  }
}

export interface CacheEntryState {
  /** Directory name inside the cache dir. */
  name: string;
  /** Bytes on disk at the last measurement. */
  bytes: number;
  /** When a GitRepository last used the entry (fetched into it or polled its URL), ms since the epoch. */
  lastUsedMs: number;
  /** A fetch holds or waits for the entry's lock. */
  busy: boolean;
}

export interface EvictionPlan {
  /** Entries to remove, least recently used first. */
  evict: CacheEntryState[];
  /** Total bytes before eviction. */
  totalBytes: number;
  /** Total bytes once `evict` is removed. */
  remainingBytes: number;
}

/**
 * Which entries to evict to bring the total to at most `maxBytes`: least
 * recently used first (ties by name, for a stable order), skipping busy
 * entries and `keep` (the entry just fetched). `maxBytes` 0 means unbounded.
 * The remaining total can still exceed the bound when only kept or busy
 * entries are left.
 */
export function planEviction(entries: readonly CacheEntryState[], maxBytes: number, keep?: string): EvictionPlan {
  const totalBytes = entries.reduce((sum, entry) => sum + entry.bytes, 0);
  const evict: CacheEntryState[] = [];
  let remainingBytes = totalBytes;
  if (maxBytes <= 0 || totalBytes <= maxBytes) return { evict, totalBytes, remainingBytes };
  const candidates = entries
    .filter((entry) => !entry.busy && entry.name !== keep)
    .sort((a, b) => a.lastUsedMs - b.lastUsedMs || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of candidates) {
    if (remainingBytes <= maxBytes) break;
    evict.push(entry);
    remainingBytes -= entry.bytes;
  }
  return { evict, totalBytes, remainingBytes };
}

/**
 * Bytes a directory tree occupies on disk, as du counts them: allocated
 * blocks (st_blocks × 512) of every file and directory, symlinks not
 * followed. A tree that does not exist is 0 bytes.
 */
export async function diskUsage(dir: string): Promise<number> {
  const sizeOf = async (file: string): Promise<number> => {
    try {
      const info = await lstat(file);
      // Some file systems report no blocks; fall back to the apparent size.
      return info.blocks > 0 || info.size === 0 ? info.blocks * 512 : info.size;
    } catch {
      return 0; // Gone while we looked.
    }
  };
  let names: string[];
  try {
    names = await readdir(dir, { recursive: true });
  } catch {
    return 0;
  }
  let total = await sizeOf(dir);
  for (const name of names) total += await sizeOf(path.join(dir, name));
  return total;
}

export interface GitCacheStats {
  entries: number;
  totalBytes: number;
  maxBytes: number;
  evictions: number;
}

export interface GitCacheOptions {
  /** The cache directory (--git-cache-dir). */
  dir: string;
  /** Bound on the total bytes of all entries; 0 means unbounded. */
  maxBytes?: number | undefined;
  logger?: Logger | undefined;
  /** Measures one entry; default diskUsage. For tests. */
  measure?: ((dir: string) => Promise<number>) | undefined;
  /** Clock; default Date.now. For tests. */
  now?: (() => number) | undefined;
}

interface Entry {
  bytes: number;
  lastUsedMs: number;
  /** The URL it caches, for log lines (redacted when logged). */
  url: string | undefined;
}

export class GitCache {
  readonly dir: string;
  readonly maxBytes: number;
  readonly #locks = new KeyedMutex();
  /** Entries by directory name. */
  readonly #entries = new Map<string, Entry>();
  /** Entries to remove once the fetch holding them lets go. */
  readonly #pendingRemoval = new Map<string, string>();
  readonly #log: Logger | undefined;
  readonly #measure: (dir: string) => Promise<number>;
  readonly #now: () => number;
  #loaded: Promise<void> | undefined;
  /** Serializes bound enforcement, so two fetches finishing together do not both evict for the same excess. */
  #enforcing: Promise<void> = Promise.resolve();
  #evictions = 0;

  constructor(options: GitCacheOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? 0;
    this.#log = options.logger;
    this.#measure = options.measure ?? diskUsage;
    this.#now = options.now ?? Date.now;
  }

  /** Entries as last measured, least recently used first. */
  async entries(): Promise<CacheEntryState[]> {
    await this.#load();
    return this.#states().sort((a, b) => a.lastUsedMs - b.lastUsedMs);
  }

  async stats(): Promise<GitCacheStats> {
    await this.#load();
    return { entries: this.#entries.size, totalBytes: this.#total(), maxBytes: this.maxBytes, evictions: this.#evictions };
  }

  /** Marks an entry as used without locking it (a poll that found no new commit still needs the entry). */
  touch(gitdir: string, url?: string): void {
    const name = this.#nameOf(gitdir);
    const entry = this.#entries.get(name);
    if (entry) {
      entry.lastUsedMs = this.#now();
      if (url !== undefined) entry.url = url;
    }
  }

  /**
   * Runs `task` holding the entry's lock, then measures the entry and, when
   * the total exceeds the bound, evicts least recently used others.
   */
  async use<T>(gitdir: string, url: string, task: () => Promise<T>): Promise<T> {
    const name = this.#nameOf(gitdir);
    // Someone wants it after all.
    this.#pendingRemoval.delete(name);
    await this.#load();
    try {
      return await this.#locks.run(gitdir, async () => {
        this.#upsert(name, url);
        try {
          return await task();
        } finally {
          await this.#remeasure(name, url);
        }
      });
    } finally {
      await this.#afterRelease(name, gitdir);
    }
  }

  /**
   * Removes an entry no GitRepository uses any more. A fetch holding or
   * waiting for it is never disturbed: the entry goes once it lets go (unless
   * another fetch has asked for it meanwhile). Returns whether it was removed
   * now.
   */
  async release(gitdir: string, reason: string): Promise<boolean> {
    await this.#load();
    const name = this.#nameOf(gitdir);
    if (this.#locks.busy(gitdir)) {
      this.#pendingRemoval.set(name, reason);
      this.#log?.debug({ entry: name, reason }, 'git cache entry in use; removing it once the fetch is done');
      return false;
    }
    return this.#remove(name, gitdir, reason);
  }

  /** Brings the total within the bound, keeping `keep` (a directory path). */
  async enforceBound(keep?: string): Promise<void> {
    await this.#load();
    const run = this.#enforcing.then(() => this.#enforce(keep === undefined ? undefined : this.#nameOf(keep)));
    this.#enforcing = run.catch(() => undefined);
    await run;
  }

  async #enforce(keep: string | undefined): Promise<void> {
    if (this.maxBytes <= 0) return;
    const plan = planEviction(this.#states(), this.maxBytes, keep);
    if (plan.totalBytes <= this.maxBytes) return;
    for (const victim of plan.evict) {
      const gitdir = path.join(this.dir, victim.name);
      // Busy may have changed while an earlier victim was removed.
      if (this.#locks.busy(gitdir)) continue;
      const entry = this.#entries.get(victim.name);
      const lastUsed = entry ? new Date(entry.lastUsedMs).toISOString() : undefined;
      await this.#remove(victim.name, gitdir, `the cache holds ${plan.totalBytes} bytes, more than --git-cache-max-bytes=${this.maxBytes}; least recently used (last used ${lastUsed})`);
    }
    const total = this.#total();
    if (total > this.maxBytes) {
      this.#log?.warn({ totalBytes: total, maxBytes: this.maxBytes, kept: keep, busy: this.#states().filter((s) => s.busy).map((s) => s.name) },
        'git cache still exceeds --git-cache-max-bytes: what is left is in use; raise the bound (and the emptyDir sizeLimit) if this persists');
    }
  }

  /** Housekeeping once a fetch let go of an entry; its failures are logged, never the fetch's. */
  async #afterRelease(name: string, gitdir: string): Promise<void> {
    try {
      const pending = this.#pendingRemoval.get(name);
      if (pending !== undefined && !this.#locks.busy(gitdir)) {
        this.#pendingRemoval.delete(name);
        await this.#remove(name, gitdir, pending);
        return;
      }
      await this.enforceBound(gitdir);
    } catch (error) {
      this.#log?.warn({ err: (error as Error).message, entry: name }, 'git cache housekeeping failed; trying again after the next fetch');
    }
  }

  /** Removes an entry under its lock. Call it in the same tick as a busy() check. */
  async #remove(name: string, gitdir: string, reason: string): Promise<boolean> {
    const entry = this.#entries.get(name);
    const removed = await this.#locks.run(gitdir, async () => {
      if (entry === undefined && !(await stat(gitdir).then(() => true, () => false))) return false;
      await rm(gitdir, { recursive: true, force: true });
      return true;
    });
    if (!removed) return false;
    this.#entries.delete(name);
    this.#evictions++;
    this.#log?.info({
      entry: name, url: entry?.url === undefined ? undefined : redactUrl(entry.url), bytes: entry?.bytes, reason, totalBytes: this.#total(), maxBytes: this.maxBytes,
    }, 'git cache entry removed; it is fetched again in full if it is needed again');
    return true;
  }

  #upsert(name: string, url: string): void {
    const entry = this.#entries.get(name);
    if (entry) {
      entry.lastUsedMs = this.#now();
      entry.url = url;
    } else {
      this.#entries.set(name, { bytes: 0, lastUsedMs: this.#now(), url });
    }
  }

  async #remeasure(name: string, url: string): Promise<void> {
    const bytes = await this.#measure(path.join(this.dir, name));
    if (bytes === 0) {
      this.#entries.delete(name);
      return;
    }
    this.#entries.set(name, { bytes, lastUsedMs: this.#now(), url });
  }

  #states(): CacheEntryState[] {
    return [...this.#entries].map(([name, entry]) => ({ name, bytes: entry.bytes, lastUsedMs: entry.lastUsedMs, busy: this.#locks.busy(path.join(this.dir, name)) }));
  }

  #total(): number {
    let total = 0;
    for (const entry of this.#entries.values()) total += entry.bytes;
    return total;
  }

  #nameOf(gitdir: string): string {
    return path.relative(this.dir, gitdir);
  }

  /** Learns the entries already on disk (the emptyDir outlives a container restart), once. */
  #load(): Promise<void> {
    this.#loaded ??= (async () => {
      const names = await readdir(this.dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!CACHE_ENTRY_NAME.test(name) || this.#entries.has(name)) continue;
        const gitdir = path.join(this.dir, name);
        const [bytes, info, config] = await Promise.all([
          this.#measure(gitdir),
          stat(gitdir).catch(() => undefined),
          readFile(path.join(gitdir, 'config'), 'utf8').catch(() => ''),
        ]);
        if (bytes === 0 || info === undefined || this.#entries.has(name)) continue;
        const url = /^\s*url\s*=\s*(.+?)\s*$/m.exec(config)?.[1];
        this.#entries.set(name, { bytes, lastUsedMs: info.mtimeMs, url });
      }
    })();
    return this.#loaded;
  }
}

// A file system for isomorphic-git that remembers directory listings while
// one fetch-and-read holds a cache directory's lock. isomorphic-git probes
// for a loose object file and lists objects/pack for every object it reads;
// and stats the repository directory for every object it reads; on a
// 1,000-file tree those failed opens, listings and stats were most of the
// time. With listings and stats remembered, a path whose directory does not
// list it fails with ENOENT without a system call. Every write made through
// this object drops what it may have changed, and nothing else writes the
// directory while the lock is held.
import fs from 'node:fs';
import path from 'node:path';

type PromiseFs = typeof fs.promises;

function notFound(syscall: string, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${file}'`), { code: 'ENOENT', errno: -2, syscall, path: file });
}

const pathRequired = new TypeError('a path is required');

export interface ListingFs {
  promises: Pick<PromiseFs, 'readFile' | 'writeFile' | 'mkdir' | 'rmdir' | 'unlink' | 'stat' | 'lstat' | 'readdir' | 'readlink' | 'symlink' | 'rm'>;
}

export function createListingFs(): ListingFs {
  const base = fs.promises;
  // Directory → its entries, or null when it does not exist (or is not a directory).
  const listings = new Map<string, Promise<Set<string> | null>>();
  const stats = new Map<string, Promise<fs.Stats>>();

  const listing = (dir: string): Promise<Set<string> | null> => {
    let pending = listings.get(dir);
    if (!pending) {
      pending = base.readdir(dir).then((names) => new Set(names), () => null);
      listings.set(dir, pending);
    }
    return pending;
  };
  /** Drops what a write to `file` may have changed: its ancestors' listings (recursive mkdir) and its own subtree. */
  const forget = (file: string): void => {
    const resolved = path.resolve(file);
    for (let dir = resolved; ; dir = path.dirname(dir)) {
      listings.delete(dir);
      stats.delete(dir);
      if (path.dirname(dir) === dir) break;
    }
    for (const cache of [listings, stats]) {
      for (const key of cache.keys()) {
        if (key.startsWith(`${resolved}${path.sep}`)) cache.delete(key);
      }
    }
  };
  /** Throws ENOENT when the parent's listing shows the path cannot exist. */
  const assertListed = async (file: unknown, syscall: string): Promise<void> => {
    // isomorphic-git probes `readFile()` without arguments on every call to detect a
    // promise API; one shared error spares a stack trace capture per probe.
    if (typeof file !== 'string') throw pathRequired;
    const resolved = path.resolve(file);
    const parent = path.dirname(resolved);
    if (parent === resolved) return;
    const entries = await listing(parent);
    if (entries === null || !entries.has(path.basename(resolved))) throw notFound(syscall, file);
  };

  // Each method keeps fs.promises' signature; isomorphic-git calls them with plain paths.
  const promises: ListingFs['promises'] = {
    readFile: (async (file: string, options?: Parameters<PromiseFs['readFile']>[1]) => {
      await assertListed(file, 'open');
      return base.readFile(file, options ?? null);
    }) as PromiseFs['readFile'],
    stat: (async (file: string) => {
      await assertListed(file, 'stat');
      const resolved = path.resolve(file);
      let pending = stats.get(resolved);
      if (!pending) {
        pending = base.stat(resolved);
        stats.set(resolved, pending);
        pending.catch(() => stats.delete(resolved));
      }
      return pending;
    }) as PromiseFs['stat'],
    lstat: (async (file: string, options?: Parameters<PromiseFs['lstat']>[1]) => {
      await assertListed(file, 'lstat');
      return base.lstat(file, options);
    }) as PromiseFs['lstat'],
    readdir: (async (dir: string) => {
      const entries = await listing(path.resolve(dir));
      if (entries === null) throw notFound('scandir', dir);
      return [...entries];
    }) as PromiseFs['readdir'],
    readlink: base.readlink,
    writeFile: (async (file: string, data: Parameters<PromiseFs['writeFile']>[1], options?: Parameters<PromiseFs['writeFile']>[2]) => {
      try {
        await base.writeFile(file, data, options);
      } finally {
        forget(file);
      }
    }) as PromiseFs['writeFile'],
    mkdir: (async (dir: string, options?: Parameters<PromiseFs['mkdir']>[1]) => {
      try {
        return await base.mkdir(dir, options);
      } finally {
        forget(dir);
      }
    }) as PromiseFs['mkdir'],
    rmdir: async (dir, options) => {
      try {
        await base.rmdir(dir, options);
      } finally {
        forget(String(dir));
      }
    },
    unlink: async (file) => {
      try {
        await base.unlink(file);
      } finally {
        forget(String(file));
      }
    },
    rm: async (file, options) => {
      try {
        await base.rm(file, options);
      } finally {
        forget(String(file));
      }
    },
    symlink: async (target, file, type) => {
      try {
        await base.symlink(target, file, type);
      } finally {
        forget(String(file));
      }
    },
  };
  return { promises };
}

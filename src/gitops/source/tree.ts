// Reads one commit's file tree straight from Git objects (no checkout): ignore
// rules applied while walking (excluded directories are never descended),
// unsafe names and symlinks refused, and the size limit enforced as blobs are
// read, so an oversized tree fails before it is all in memory.
import nodeFs from 'node:fs';
import git, { type FsClient } from 'isomorphic-git';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { IgnoreRules, SOURCE_IGNORE_FILE } from './ignore.ts';
import { assertSafeEntryName, refuseSymlink } from './paths.ts';

export interface ReadTreeOptions {
  gitdir: string;
  /** File system to read through; default node:fs. */
  fs?: FsClient | undefined;
  /** Commit to read. */
  commit: string;
  /** spec.ignore; undefined keeps the default exclusions. */
  ignore?: string | undefined;
  maxSizeBytes: number;
  /** isomorphic-git's object cache; share it with the fetch that wrote the pack. */
  cache?: object | undefined;
  signal?: AbortSignal | undefined;
  /** Names the revision in error messages. */
  revision: string;
}

export interface TreeFiles {
  files: Map<string, Uint8Array>;
  size: number;
  /** Submodule entries, which are left out (they are other repositories). */
  submodules: string[];
}

const MODE_TREE = '040000';
const MODE_SYMLINK = '120000';
const MODE_GITLINK = '160000';

export async function readTreeFiles(options: ReadTreeOptions): Promise<TreeFiles> {
  const { gitdir, cache } = options;
  const fs = options.fs ?? nodeFs;
  const rules = new IgnoreRules({ spec: options.ignore });
  const files = new Map<string, Uint8Array>();
  const submodules: string[] = [];
  let size = 0;
  const commit = await git.readCommit({ fs, gitdir, oid: options.commit, cache });
  const readBlob = async (oid: string): Promise<Uint8Array> => (await git.readBlob({ fs, gitdir, oid, cache })).blob;

  // Depth-first, parents before children, so a directory's .sourceignore is
  // known before anything inside it is judged.
  const pending: { oid: string; dir: string }[] = [{ oid: commit.commit.tree, dir: '' }];
  while (pending.length > 0) {
    const { oid, dir } = pending.pop() ?? { oid: '', dir: '' };
    options.signal?.throwIfAborted();
    const { tree } = await git.readTree({ fs, gitdir, oid, cache });
    const ignoreFile = tree.find((entry) => entry.path === SOURCE_IGNORE_FILE && entry.type === 'blob' && entry.mode !== MODE_SYMLINK);
    if (ignoreFile) rules.addSourceIgnore(Buffer.from(await readBlob(ignoreFile.oid)).toString('utf8'), dir);
    const subdirs: { oid: string; dir: string }[] = [];
    for (const entry of tree) {
      assertSafeEntryName(dir, entry.path);
      const path = dir === '' ? entry.path : `${dir}/${entry.path}`;
      const isDir = entry.mode === MODE_TREE;
      if (rules.excludes(path, isDir)) continue;
      if (isDir) {
        subdirs.push({ oid: entry.oid, dir: path });
      } else if (entry.mode === MODE_SYMLINK) {
        refuseSymlink(path);
      } else if (entry.mode === MODE_GITLINK) {
        submodules.push(path);
      } else {
        const content = await readBlob(entry.oid);
        size += content.byteLength;
        if (size > options.maxSizeBytes) {
          throw new SluiceError(ErrorCodes.GitTooLarge, `the files of ${options.revision} exceed the size limit of ${options.maxSizeBytes} bytes (reached at ${path})`, {
            hint: 'raise spec.maxSizeBytes, or leave large files out with spec.ignore or a .sourceignore file',
          });
        }
        files.set(path, content);
      }
    }
    // Reversed so the stack pops them in tree order.
    pending.push(...subdirs.reverse());
  }
  return { files, size, submodules };
}

// Path safety for artifact files. A Git tree is data from a remote server: a
// crafted one can hold entry names such as "..", "a/b" or ".git", or symbolic
// links pointing anywhere. None of those may reach the Syncs that read the
// artifact (or anything that ever writes it to disk).
import { ErrorCodes, SluiceError } from '../../errors.ts';

function unsafe(path: string, why: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.GitUnsafePath, `refusing ${JSON.stringify(path)} in the repository: ${why}`, { hint });
}

/** Why a single tree entry name is unsafe, or undefined when it is fine. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name === '.' || name === '..') return 'a name that points outside its directory';
  if (name.includes('/') || name.includes('\\')) return 'a name containing a path separator';
  if (name.includes('\0')) return 'a name containing a NUL byte';
  // ".git" in any letter case (and Windows' trailing-dot/space aliases) is Git's own directory.
  if (/^\.git[. ]*$/i.test(name)) return 'a nested .git entry';
  return undefined;
}

/** Throws GitUnsafePath when `name`, found in directory `dir`, is unsafe. */
export function assertSafeEntryName(dir: string, name: string): void {
  const reason = unsafeNameReason(name);
  if (reason === undefined) return;
  throw unsafe(dir === '' ? name : `${dir}/${name}`, `the tree has ${reason}`, 'the repository was crafted or is corrupt; fix it on the server');
}

/** Throws GitUnsafePath for a symbolic link: its target could be anywhere. */
export function refuseSymlink(path: string): never {
  throw unsafe(path, 'it is a symbolic link, which could point outside the repository',
    'replace it with a regular file, or leave it out with spec.ignore or a .sourceignore file');
}

/**
 * Whether `path` is a clean repository-relative POSIX path: not absolute, no
 * empty, "." or ".." segments, no backslashes or NUL bytes. Artifact file
 * paths always are; Syncs can check user-given paths with it.
 */
export function isSafeRelativePath(path: string): boolean {
  if (path === '' || path.startsWith('/')) return false;
  return path.split('/').every((segment) => unsafeNameReason(segment) === undefined);
}

// Fetches a GitRepository's revision with isomorphic-git and builds its
// artifact. One poll is one ref advertisement (GET info/refs); only a new
// commit costs a pack download, and only the objects missing from the
// on-disk cache are downloaded (shallow, single ref, no checkout: the files
// are read straight from the objects).
//
// Cache layout: <cacheDir>/<sha256(url)[:32]>-<shallow|full>/ is a bare
// repository shared by every GitRepository with that URL. Shallow (depth 1)
// and full-history fetches live apart because a shallow repository cannot
// simply be deepened by a normal fetch. Access to one directory is serialized;
// cache.ts bounds the total size and removes directories no longer used.
import { createHash } from 'node:crypto';
import nodeFs from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import git, { type FsClient } from 'isomorphic-git';
import type { Logger } from 'pino';
import type { GitRepositoryRef } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { artifactDigest, type Artifact } from './artifact.ts';
import { GitCache } from './cache.ts';
import { gitAuthHeaders, type GitCredentials } from './credentials.ts';
import { gitErrorCode, mapGitError, redactUrl } from './git-errors.ts';
import { createListingFs } from './listing-fs.ts';
import { formatRevision, resolveRef, type ResolvedRef, type ServerRef } from './refs.ts';
import { createGitHttpClient, type GitHttpClient } from './transport.ts';
import { readTreeFiles } from './tree.ts';

/** The message of the CRD's rule on spec.url, so the controller says the same thing. */
export const URL_RULE_MESSAGE = 'must be an https:// or http:// URL; SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token in spec.secretRef';

/** Local ref recording the last fetched commit, offered to the server as a "have". */
const LAST_FETCHED_REF = 'refs/sluice/last-fetched';
/**
 * More packs than this and the cache directory is rebuilt: every object lookup
 * scans every pack index. A depth-1 fetch of a new commit brings about the
 * whole compressed tree again (the server cannot use our haves across the
 * shallow boundary), so a rebuild costs little more than any new revision.
 */
const MAX_PACKS = 8;

/** Parses and checks spec.url; throws SpecInvalid with the CRD rule's wording. */
export function validateGitUrl(url: string): URL {
  const invalid = (detail: string): SluiceError => new SluiceError(ErrorCodes.SpecInvalid, `spec.url ${detail}`, {
    hint: 'isomorphic-git, which sluice fetches with, has no SSH transport',
  });
  if (/^ssh:\/\//i.test(url) || /^[\w.-]+@[\w.-]+:/.test(url)) throw invalid(URL_RULE_MESSAGE);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(`"${url}" is not a URL: ${URL_RULE_MESSAGE}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw invalid(URL_RULE_MESSAGE);
  if (parsed.username !== '' || parsed.password !== '') {
    throw new SluiceError(ErrorCodes.SpecInvalid, `spec.url ${redactUrl(url)} has credentials in it`, {
      hint: 'anyone who can read the GitRepository would see them; move them to a Secret named by spec.secretRef',
    });
  }
  return parsed;
}

export interface FetchRequest {
  url: string;
  ref?: GitRepositoryRef | undefined;
  credentials?: GitCredentials | undefined;
  /** Secret name, for error hints only. */
  secretName?: string | undefined;
  /** spec.ignore; undefined keeps the default exclusions. */
  ignore?: string | undefined;
  maxSizeBytes: number;
  timeoutMs: number;
  /** Aborts the fetch (controller shutdown). */
  signal?: AbortSignal | undefined;
  /**
   * The artifact now serving and the spec.ignore it was built with. When the
   * remote still resolves to its revision, it is returned without a download.
   */
  current?: { artifact: Artifact; ignore: string | undefined } | undefined;
}

export interface FetchOutcome {
  artifact: Artifact;
  /** False when `current` was returned as is. */
  changed: boolean;
  resolved: ResolvedRef;
  /** Response bytes of this fetch (ref advertisement plus pack). */
  bytesDownloaded: number;
  /** Whether a pack was downloaded (false when the objects were already cached). */
  downloaded: boolean;
  /** Submodule paths that were left out. */
  submodules: string[];
}

export interface GitFetcherOptions {
  /** Directory for the shared on-disk object cache. */
  cacheDir: string;
  /** Bound on the cache's total bytes; least recently used entries are evicted beyond it. 0 or absent: unbounded. */
  maxCacheBytes?: number | undefined;
  /** Logs evictions. */
  logger?: Logger | undefined;
}

/** Errors that mean the local cache is damaged or was removed underneath us; a clean directory fixes them. */
function isLocalRepoError(error: unknown): boolean {
  if (error instanceof SluiceError) return false;
  return ['NotFoundError', 'ObjectTypeError', 'InternalError', 'ENOENT', 'ReadObjectFail'].includes(gitErrorCode(error) ?? '');
}

export class GitFetcher {
  readonly cacheDir: string;
  /** Locks, size accounting and eviction of the cache directories. */
  readonly cache: GitCache;

  constructor(options: GitFetcherOptions) {
    this.cacheDir = options.cacheDir;
    this.cache = new GitCache({ dir: options.cacheDir, maxBytes: options.maxCacheBytes, logger: options.logger });
  }

  /** Both cache directories a URL may use; a GitRepository's depth follows its ref. */
  gitdirsFor(url: string): string[] {
    return [this.gitdirFor(url, 'shallow'), this.gitdirFor(url, 'full')];
  }

  /** The cache directory for a URL and fetch depth. */
  gitdirFor(url: string, depth: 'shallow' | 'full'): string {
    const key = createHash('sha256').update(url).digest('hex').slice(0, 32);
    return path.join(this.cacheDir, `${key}-${depth}`);
  }

  /**
   * Resolves the ref and returns the artifact for it, downloading only when
   * the revision is new. Throws SluiceError with a Git* code on failure.
   */
  async fetch(request: FetchRequest): Promise<FetchOutcome> {
    validateGitUrl(request.url);
    const timeout = new AbortController();
    const timer = setTimeout(() => {
      timeout.abort(new SluiceError(ErrorCodes.GitTimeout, `fetching ${redactUrl(request.url)} took longer than the timeout of ${request.timeoutMs / 1000}s`, {
        hint: 'raise spec.timeout, or check the network path to the Git server; sluice retries with backoff',
        retryable: true,
      }));
    }, request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([timeout.signal, request.signal]) : timeout.signal;
    const work = this.#fetch(request, signal);
    // isomorphic-git cannot be interrupted mid-computation; the race returns at
    // the deadline while the directory lock stays held until the work settles.
    work.catch(() => undefined);
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      return await Promise.race([work, aborted]);
    } catch (error) {
      throw mapGitError(error, { url: request.url, secretName: request.secretName });
    } finally {
      clearTimeout(timer);
    }
  }

  async #fetch(request: FetchRequest, signal: AbortSignal): Promise<FetchOutcome> {
    const http = createGitHttpClient({
      signal,
      maxResponseBytes: request.maxSizeBytes,
      headers: gitAuthHeaders(request.credentials),
      httpsAgent: request.credentials?.httpsAgent,
    });
    // Protocol v1: the whole advertisement, peeled tags and HEAD's symref in one GET.
    const refs: ServerRef[] = await git.listServerRefs({ http, url: request.url, protocolVersion: 1, symrefs: true, peelTags: true });
    const resolved = resolveRef(request.ref, refs);
    const revision = formatRevision(resolved.label, resolved.commit);
    const current = request.current;
    const gitdir = this.gitdirFor(request.url, resolved.depth);
    if (current && current.artifact.revision === revision && current.ignore === request.ignore && current.artifact.size <= request.maxSizeBytes) {
      // Still needed: a quiet poll keeps the entry recently used.
      this.cache.touch(gitdir, request.url);
      return { artifact: current.artifact, changed: false, resolved, bytesDownloaded: http.bytesReceived, downloaded: false, submodules: [] };
    }
    return this.cache.use(gitdir, request.url, async () => {
      try {
        return await this.#build(request, resolved, gitdir, http, signal);
      } catch (error) {
        if (signal.aborted || !isLocalRepoError(error)) throw error;
        await rm(gitdir, { recursive: true, force: true });
        return await this.#build(request, resolved, gitdir, http, signal);
      }
    });
  }

  async #build(request: FetchRequest, resolved: ResolvedRef, gitdir: string, http: GitHttpClient, signal: AbortSignal): Promise<FetchOutcome> {
    await this.#prepare(gitdir, request.url);
    const cache = {};
    const fs = createListingFs();
    const pinned = request.ref?.commit !== undefined;
    // A pinned commit on a branch must be proven to be in the branch's history, which needs the branch's tip.
    const mustFetch = pinned && request.ref?.branch !== undefined && resolved.depth === 'full';
    let commit = resolved.commit;
    let downloaded = false;
    if (mustFetch || !(await hasCommit(fs, gitdir, commit, cache))) {
      signal.throwIfAborted();
      const result = await git.fetch({
        fs, http, gitdir, cache, url: request.url,
        ref: LAST_FETCHED_REF, remoteRef: resolved.remoteRef,
        singleBranch: true, tags: false,
        depth: resolved.depth === 'shallow' ? 1 : undefined,
      });
      // isomorphic-git reports the written pack at runtime, though its types omit it.
      downloaded = typeof Reflect.get(result, 'packfile') === 'string';
      const fetchHead = result.fetchHead;
      if (fetchHead === null) throw new SluiceError(ErrorCodes.GitRefNotFound, 'the remote repository is empty (it has no commits)', { hint: 'push a commit', retryable: true });
      await git.writeRef({ fs, gitdir, ref: LAST_FETCHED_REF, value: fetchHead, force: true });
      const tip = await peelToCommit(fs, gitdir, fetchHead, cache);
      if (!pinned) {
        // The ref may have moved since the advertisement; what was fetched is newest.
        commit = tip;
      } else {
        if (!(await hasCommit(fs, gitdir, commit, cache))) {
          throw new SluiceError(ErrorCodes.GitRefNotFound, `commit ${commit} is not in the history of ${resolved.remoteRef}`, {
            hint: request.ref?.branch === undefined ? 'set spec.ref.branch to a branch that contains the commit' : 'check spec.ref.commit and spec.ref.branch',
            retryable: true,
          });
        }
        if (request.ref?.branch !== undefined && tip !== commit
          && !(await git.isDescendent({ fs, gitdir, cache, oid: tip, ancestor: commit, depth: -1 }))) {
          throw new SluiceError(ErrorCodes.GitRefNotFound, `commit ${commit} is not on branch "${request.ref.branch}"`, {
            hint: 'check spec.ref.commit and spec.ref.branch', retryable: true,
          });
        }
      }
    }
    const revision = formatRevision(resolved.label, commit);
    const tree = await readTreeFiles({ fs, gitdir, commit, cache, ignore: request.ignore, maxSizeBytes: request.maxSizeBytes, signal, revision });
    const artifact: Artifact = { revision, digest: artifactDigest(tree.files), files: tree.files, size: tree.size, fetchedAt: new Date() };
    return { artifact, changed: true, resolved: { ...resolved, commit }, bytesDownloaded: http.bytesReceived, downloaded, submodules: tree.submodules };
  }

  /** Creates the bare cache repository, or rebuilds it once too many packs piled up. */
  async #prepare(gitdir: string, url: string): Promise<void> {
    const packDir = path.join(gitdir, 'objects', 'pack');
    const packs = await readdir(packDir).then((names) => names.filter((n) => n.endsWith('.pack')).length, () => -1);
    if (packs > MAX_PACKS) await rm(gitdir, { recursive: true, force: true });
    const exists = await stat(path.join(gitdir, 'config')).then(() => true, () => false);
    if (packs > MAX_PACKS || !exists) {
      await mkdir(gitdir, { recursive: true });
      await git.init({ fs: nodeFs, gitdir, bare: true });
      await git.setConfig({ fs: nodeFs, gitdir, path: 'remote.origin.url', value: url });
      // Any fetched ref lands under refs/remotes/origin/; sluice reads objects, not refs.
      await git.setConfig({ fs: nodeFs, gitdir, path: 'remote.origin.fetch', value: '+refs/*:refs/remotes/origin/*' });
    }
  }
}

async function hasCommit(fs: FsClient, gitdir: string, oid: string, cache: object): Promise<boolean> {
  try {
    await git.readCommit({ fs, gitdir, oid, cache });
    return true;
  } catch (error) {
    if (gitErrorCode(error) === 'NotFoundError') return false;
    throw error;
  }
}

/** Follows annotated tags to the commit they point at. */
async function peelToCommit(fs: FsClient, gitdir: string, oid: string, cache: object): Promise<string> {
  let current = oid;
  for (let depth = 0; depth < 10; depth++) {
    const object = await git.readObject({ fs, gitdir, oid: current, cache });
    if (object.type === 'commit') return current;
    if (object.type !== 'tag') break;
    current = (await git.readTag({ fs, gitdir, oid: current, cache })).tag.object;
  }
  throw new SluiceError(ErrorCodes.GitRefNotFound, `ref resolves to object ${oid}, which is not a commit`, { hint: 'point spec.ref at a branch, a tag of a commit, or a commit' });
}

// Writes a canary rollback back to Git, so Git stops declaring the version
// that failed (flagger#682: after a rollback the cluster and Git disagree).
//
// Deployment → its Sync (labels sluice.dev/name, sluice.dev/namespace) → the
// Sync's GitRepository (url, branch, credentials read as the source controller
// reads them). The branch is cloned shallowly into a temporary directory, the
// files declaring the Deployment are edited in place (only the image values
// change), and one commit is pushed over sluice's own HTTP transport. When the
// push is rejected because the branch moved, the whole thing is redone on the
// new head; when the new head no longer declares the failed image (someone
// fixed Git meanwhile), nothing is written.
import nodeFs from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import type { Logger } from 'pino';
import { parseDuration } from '../../api/duration.ts';
import { API_GROUP_VERSION, Kinds, type GitRepository, type Sync } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { KubeObject } from '../../kube/types.ts';
import { gitAuthHeaders, parseGitCredentials, type GitCredentials } from '../source/credentials.ts';
import { validateGitUrl } from '../source/fetch.ts';
import { gitErrorCode, mapGitError, redactUrl } from '../source/git-errors.ts';
import { SecretReader } from '../source/secrets.ts';
import { createGitHttpClient } from '../source/transport.ts';
import { isKustomizationFile } from '../sync/kustomize.ts';
import { normalizeSyncPath } from '../sync/manifests.ts';
import { OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL } from '../sync/ownership.ts';
import { locateAndEdit, type LocateResult } from './locate.ts';
import type { ImageChange, ReplacedImage } from './yaml-edit.ts';

export const DEFAULT_WRITEBACK_AUTHOR = { name: 'sluice', email: 'sluice@users.noreply.local' } as const;

export interface WriteBackRequest {
  client: KubeClient;
  /** The canary's target Deployment, as it runs in the cluster. */
  deployment: { namespace: string; name: string };
  /** Container images of the rolled-back version, in container order. */
  failedImages: readonly string[];
  /**
   * The images to declare instead: the primary's, in the same container
   * order as failedImages, or by container name.
   */
  restoreImages: readonly string[] | Readonly<Record<string, string>>;
  /** Why the canary rolled back; goes into the commit message. */
  reason: string;
  canary: { namespace: string; name: string };
  /** Commit author and committer; default sluice <sluice@users.noreply.local>. */
  author?: { name: string; email: string } | undefined;
  signal?: AbortSignal | undefined;
  /** Pushes tried in all (the first and retries after the branch moved). Default 3. */
  maxAttempts?: number | undefined;
  /** Largest download per clone; default the GitRepository's spec.maxSizeBytes, else 64 MiB. */
  maxSizeBytes?: number | undefined;
  logger?: Logger | undefined;
  /** Called after the edit is committed locally and before it is pushed. For tests (e.g. to move the branch). */
  beforePush?: ((attempt: number) => Promise<void>) | undefined;
}

export interface WriteBackResult {
  /** 'committed': a commit was pushed; 'already-clean': the branch no longer declares the failed images. */
  outcome: 'committed' | 'already-clean';
  /** The pushed commit, or for already-clean the branch head that was checked. */
  commit: string;
  branch: string;
  /** Repository-relative paths of the files changed (empty when already clean). */
  files: string[];
  /** Every image value changed, with file and line. */
  replaced: ReplacedImage[];
  /** Repository URL without credentials. */
  repository: string;
  /** Push attempts made (0 when already clean at the first look). */
  attempts: number;
}

interface Target {
  url: string;
  branch: string;
  credentials: GitCredentials | undefined;
  secretName: string | undefined;
  sync: Sync;
  syncNamespace: string;
  maxSizeBytes: number;
  timeoutMs: number;
}

const DEFAULT_MAX_SIZE_BYTES = 64 * 1024 * 1024;

/** The image changes the request means: failed → restore, by container position or name. */
export function imageChanges(failedImages: readonly string[], restoreImages: WriteBackRequest['restoreImages']): ImageChange[] {
  if (failedImages.length === 0) {
    throw new SluiceError(ErrorCodes.SpecInvalid, 'write-back needs the failed images, and none were given');
  }
  if (Array.isArray(restoreImages)) {
    const restore = restoreImages as readonly string[];
    if (restore.length !== failedImages.length) {
      throw new SluiceError(ErrorCodes.SpecInvalid,
        `write-back got ${failedImages.length} failed images but ${restore.length} images to restore; they must be in the same container order`);
    }
    return failedImages.flatMap((from, i) => {
      const to = restore[i] ?? from;
      return from === to ? [] : [{ from, to }];
    });
  }
  const byName = restoreImages as Readonly<Record<string, string>>;
  return Object.entries(byName).flatMap(([container, to]) =>
    failedImages.filter((from) => from !== to).map((from) => ({ container, from, to })));
}

/** Whether the push failed because the branch moved (not fast-forward, or rejected by the server). */
function isPushRejected(error: unknown): boolean {
  const code = gitErrorCode(error);
  return code === 'PushRejectedError' || code === 'GitPushError';
}

/** Follows the Deployment's Sync labels to the GitRepository, its branch and credentials. */
async function resolveTarget(request: WriteBackRequest): Promise<Target> {
  const { client, deployment, signal } = request;
  const described = `Deployment ${deployment.namespace}/${deployment.name}`;
  const live = await client.find<KubeObject>({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: deployment.namespace, name: deployment.name }, signal);
  if (!live) {
    throw new SluiceError(ErrorCodes.KubeNotFound, `${described} not found, so there is nothing to write back`, { hint: 'check the Canary\'s spec.targetRef' });
  }
  const labels = live.metadata.labels ?? {};
  const syncName = labels[OWNER_NAME_LABEL];
  const syncNamespace = labels[OWNER_NAMESPACE_LABEL];
  if (syncName === undefined || syncNamespace === undefined) {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${described} was not applied by a sluice Sync (it has no ${OWNER_NAME_LABEL}/${OWNER_NAMESPACE_LABEL} labels), so sluice does not know which Git repository declares it`, {
      hint: 'apply the Deployment through a Sync, or turn off Git write-back for this Canary and change Git by hand',
    });
  }
  const sync = await client.find<Sync>({ apiVersion: API_GROUP_VERSION, kind: Kinds.Sync, namespace: syncNamespace, name: syncName }, signal);
  if (!sync) {
    throw new SluiceError(ErrorCodes.KubeNotFound, `${described} was applied by Sync ${syncNamespace}/${syncName}, which no longer exists`, {
      hint: 'write-back needs the Sync to find the Git repository; change Git by hand',
    });
  }
  const sourceNamespace = sync.spec.sourceRef.namespace ?? syncNamespace;
  const sourceName = sync.spec.sourceRef.name;
  const repo = await client.find<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: Kinds.GitRepository, namespace: sourceNamespace, name: sourceName }, signal);
  if (!repo) {
    throw new SluiceError(ErrorCodes.KubeNotFound, `GitRepository ${sourceNamespace}/${sourceName} (the source of Sync ${syncNamespace}/${syncName}) not found`, {
      hint: 'fix the Sync\'s spec.sourceRef',
    });
  }
  const ref = repo.spec.ref ?? {};
  const describedRepo = `GitRepository ${sourceNamespace}/${sourceName}`;
  if (ref.tag !== undefined || ref.semver !== undefined || ref.commit !== undefined) {
    const what = ref.commit !== undefined ? `commit ${ref.commit}` : ref.tag !== undefined ? `tag "${ref.tag}"` : `semver range "${ref.semver ?? ''}"`;
    throw new SluiceError(ErrorCodes.SpecInvalid, `${describedRepo} follows ${what}; sluice cannot push to a tag or a pinned commit: write-back needs a branch in spec.ref.branch`, {
      hint: 'follow a branch (spec.ref.branch) to use write-back, or change Git by hand and release a new tag',
    });
  }
  if (ref.branch === undefined) {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${describedRepo} has no spec.ref.branch; write-back pushes only to a branch named explicitly`, {
      hint: 'set spec.ref.branch (e.g. main)',
    });
  }
  validateGitUrl(repo.spec.url);
  let credentials: GitCredentials | undefined;
  if (repo.spec.secretRef) {
    credentials = await new SecretReader(client, parseGitCredentials).read(sourceNamespace, repo.spec.secretRef.name, signal);
  }
  return {
    url: repo.spec.url,
    branch: ref.branch,
    credentials,
    secretName: repo.spec.secretRef?.name,
    sync,
    syncNamespace,
    maxSizeBytes: request.maxSizeBytes ?? repo.spec.maxSizeBytes ?? DEFAULT_MAX_SIZE_BYTES,
    timeoutMs: parseDuration(repo.spec.timeout ?? '60s', 'spec.timeout'),
  };
}

/** The YAML and kustomization files of a working tree, skipping .git. */
async function readManifestFiles(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(path.join(dir, relative), { withFileTypes: true });
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (child !== '.git') await walk(child);
      } else if (entry.isFile() && (/\.ya?ml$/i.test(entry.name) || isKustomizationFile(child))) {
        try {
          files.set(child, decoder.decode(await readFile(path.join(dir, child))));
        } catch {
          // Not UTF-8: not a manifest sluice would apply either.
        }
      }
    }
  };
  await walk('');
  return files;
}

function commitMessage(request: WriteBackRequest, changes: readonly ReplacedImage[]): string {
  const { deployment, canary } = request;
  const restored = [...new Set(changes.map((c) => c.to))];
  const failed = [...new Set(changes.map((c) => c.from))];
  const reason = request.reason.trim() || 'no reason given';
  return [
    `Roll back ${deployment.namespace}/${deployment.name} to ${restored.join(', ')}`,
    '',
    `Canary ${canary.namespace}/${canary.name} rolled back ${failed.join(', ')}: ${reason}`,
    '',
    'Written by sluice so that Git no longer declares the version that failed.',
    ...changes.map((c) => `- ${c.file}:${c.line} (${c.container}): ${c.from} -> ${c.to}`),
    '',
  ].join('\n');
}

function notDeclared(request: WriteBackRequest, target: Target, located: LocateResult): SluiceError {
  const { deployment } = request;
  const root = normalizeSyncPath(target.sync.spec.path);
  return new SluiceError(ErrorCodes.ManifestInvalid,
    `no file on branch "${target.branch}" of ${redactUrl(target.url)} declares Deployment ${deployment.namespace}/${deployment.name}: searched ${located.filesSearched} YAML files under "${root === '' ? './' : root}" (the path of Sync ${target.syncNamespace}/${target.sync.metadata.name}) and the kustomizations they use, for apps/v1 Deployment "${deployment.name}" in namespace "${deployment.namespace}"`, {
      hint: 'the Deployment may come from a generator, a Helm chart or a remote base sluice cannot edit; change the image in Git by hand',
    });
}

/**
 * Changes the failed images back to the restore images in the Git branch the
 * Deployment is synced from, and pushes one commit. Throws SluiceError: Git*
 * codes from the transport, SpecInvalid for a GitRepository on a tag or
 * commit, ManifestInvalid when no file declares the Deployment.
 */
export async function writeBackRollback(request: WriteBackRequest): Promise<WriteBackResult> {
  const changes = imageChanges(request.failedImages, request.restoreImages);
  const target = await resolveTarget(request);
  const repository = redactUrl(target.url);
  const timeout = AbortSignal.timeout(target.timeoutMs * Math.max(1, request.maxAttempts ?? 3));
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  const log = request.logger?.child({ repository, branch: target.branch, deployment: `${request.deployment.namespace}/${request.deployment.name}` });
  const author = request.author ?? DEFAULT_WRITEBACK_AUTHOR;
  const maxAttempts = Math.max(1, request.maxAttempts ?? 3);
  const ref = `refs/heads/${target.branch}`;

  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-writeback-'));
    try {
      const http = createGitHttpClient({
        signal, maxResponseBytes: target.maxSizeBytes, headers: gitAuthHeaders(target.credentials), httpsAgent: target.credentials?.httpsAgent,
      });
      const gitCall = async <T>(work: () => Promise<T>): Promise<T> => {
        try {
          signal.throwIfAborted();
          return await work();
        } catch (error) {
          if (signal.aborted && timeout.aborted && !(request.signal?.aborted ?? false)) {
            throw new SluiceError(ErrorCodes.GitTimeout, `writing back to ${repository} took longer than ${Math.round(target.timeoutMs * maxAttempts / 1000)}s`, {
              hint: 'check the network path to the Git server, or raise the GitRepository\'s spec.timeout', retryable: true,
            });
          }
          if (isPushRejected(error)) throw error;
          throw mapGitError(error, { url: target.url, secretName: target.secretName });
        }
      };
      await gitCall(() => git.clone({
        fs: nodeFs, http, dir, url: target.url, ref: target.branch, singleBranch: true, depth: 1, noTags: true,
      }));
      const head = await git.resolveRef({ fs: nodeFs, dir, ref: 'HEAD' });
      const located = locateAndEdit({
        files: await readManifestFiles(dir),
        syncPath: target.sync.spec.path,
        deployment: request.deployment,
        syncNamespace: target.syncNamespace,
        targetNamespace: target.sync.spec.targetNamespace,
        changes,
      });
      if (located.declaredIn.length === 0) throw notDeclared(request, target, located);
      if (located.edited.size === 0) {
        log?.info({ commit: head, declaredIn: located.declaredIn }, 'write-back: the branch no longer declares the failed images; nothing to do');
        return { outcome: 'already-clean', commit: head, branch: target.branch, files: [], replaced: [], repository, attempts: attempt - 1 };
      }
      const files = [...located.edited.keys()].sort();
      for (const file of files) {
        await writeFile(path.join(dir, file), located.edited.get(file) ?? '');
        await git.add({ fs: nodeFs, dir, filepath: file });
      }
      const now = Math.floor(Date.now() / 1000);
      const identity = { name: author.name, email: author.email, timestamp: now, timezoneOffset: 0 };
      const commit = await git.commit({ fs: nodeFs, dir, message: commitMessage(request, located.replaced), author: identity, committer: identity });
      await request.beforePush?.(attempt);
      try {
        await gitCall(() => git.push({ fs: nodeFs, http, dir, remote: 'origin', ref, remoteRef: ref }).then((result) => {
          if (!result.ok) throw Object.assign(new Error(`push rejected: ${result.error ?? 'unknown reason'}`), { code: 'GitPushError' });
          const status = result.refs[ref];
          if (status && !status.ok) throw Object.assign(new Error(`push rejected: ${status.error}`), { code: 'GitPushError' });
          return result;
        }));
      } catch (error) {
        if (!isPushRejected(error)) throw error;
        if (attempt >= maxAttempts) {
          throw new SluiceError(ErrorCodes.GitProtocolError, `pushing the rollback of ${request.deployment.namespace}/${request.deployment.name} to branch "${target.branch}" of ${repository} was rejected ${attempt} times: the branch kept moving (or a server hook refuses sluice's commits)`, {
            hint: 'change the image in Git by hand, or allow the credentials to push to the branch', retryable: true, cause: error,
          });
        }
        log?.info({ attempt }, 'write-back: push rejected (the branch moved); redoing the edit on the new head');
        continue;
      }
      log?.info({ commit, files, attempts: attempt }, 'write-back: rollback committed to Git');
      return { outcome: 'committed', commit, branch: target.branch, files, replaced: located.replaced, repository, attempts: attempt };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

// `sluice diff sync NAME [--path DIR]`: builds the Sync's manifests (from a
// local directory, or from the commit of its GitRepository's last fetched
// artifact, which is what the controller applies), dry-runs them server-side and
// prints a unified diff against the cluster, Secret values masked.
// Exit status: 0 no changes, 1 changes, 2 error — usable as a PR gate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { API_GROUP_VERSION, type GitRepository, type GitRepositoryRef, type Sync } from '../api/types.ts';
import { ErrorCodes, SluiceError, toSluiceError } from '../errors.ts';
import { parseGitCredentials, type GitCredentials } from '../gitops/source/credentials.ts';
import { GitFetcher } from '../gitops/source/fetch.ts';
import { commitOfRevision } from '../gitops/source/refs.ts';
import { secretData, type SecretObject } from '../gitops/source/secrets.ts';
import { objectId, refOfEntry } from '../gitops/sync/inventory.ts';
import { renderManifests } from '../gitops/sync/manifests.ts';
import { describeProblem } from '../gitops/sync/parse.ts';
import { annotatedIgnorePaths, autoscaledIds, isPruneDisabled, removeField } from '../gitops/sync/ownership.ts';
import { describeObject, planObjects } from '../gitops/sync/plan.ts';
import { normalizeForCompare } from '../gitops/sync/normalize.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { ExitCode, parseDurationFlag, warn, withSession, write, type GlobalOptions } from './common.ts';
import { toYaml } from './output.ts';
import { unifiedDiff } from './unified-diff.ts';

export interface DiffOptions extends GlobalOptions {
  path?: string | undefined;
  timeout: string;
}

const defaultMaxSizeBytes = 256 * 1024 * 1024;

/** Every regular file under dir, by POSIX path relative to it. */
export function readDirectory(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `--path ${dir} does not exist`, { hint: 'pass the local directory that corresponds to the Sync\'s spec.path' });
  }
  if (!stat.isDirectory()) throw new SluiceError(ErrorCodes.ConfigInvalid, `--path ${dir} is not a directory`);
  const walk = (relative: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) walk(rel);
      else if (entry.isFile()) files.set(rel, fs.readFileSync(path.join(dir, rel)));
    }
  };
  walk('');
  return files;
}

/**
 * The spec.ref that fetches exactly the commit of the GitRepository's last
 * artifact (status.artifact.revision), which is what the Sync controller
 * applies. The artifact itself lives in the controller's memory and is not
 * served, so the CLI fetches the same commit from the same URL.
 */
export function artifactRef(repo: GitRepository): { ref: GitRepositoryRef; revision: string } {
  const namespace = repo.metadata.namespace ?? '';
  const revision = repo.status?.artifact?.revision;
  if (!revision) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `GitRepository ${namespace}/${repo.metadata.name} has no artifact yet, so there is nothing the Sync would apply`, {
      hint: 'wait for the controller to fetch it (sluice get sources), or diff a local checkout with --path DIR',
    });
  }
  const commit = commitOfRevision(revision);
  if (!commit) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `GitRepository ${namespace}/${repo.metadata.name} has artifact revision "${revision}", which names no SHA-1 commit`, {
      hint: 'diff a local checkout with --path DIR',
    });
  }
  const at = revision.lastIndexOf('@');
  const label = at > 0 ? revision.slice(0, at) : undefined;
  const spec = repo.spec.ref;
  // A branch revision is fetched on its branch (so the commit is found in its history even after the
  // branch moved on); a tag's or a bare commit's through the ref that points at it, or the default branch.
  const onBranch = label !== undefined && label !== 'HEAD' && spec?.tag === undefined && spec?.semver === undefined;
  return { ref: onBranch ? { branch: label, commit } : { commit }, revision };
}

async function fetchArtifact(client: KubeClient, sync: Sync, namespace: string, timeoutMs: number): Promise<{ files: ReadonlyMap<string, Uint8Array>; revision: string }> {
  const sourceNamespace = sync.spec.sourceRef.namespace ?? namespace;
  const repo = await client.get<GitRepository>({ apiVersion: API_GROUP_VERSION, kind: 'GitRepository', namespace: sourceNamespace, name: sync.spec.sourceRef.name });
  const { ref, revision } = artifactRef(repo);
  let credentials: GitCredentials | undefined;
  if (repo.spec.secretRef) {
    const secret = await client.get<SecretObject>({ apiVersion: 'v1', kind: 'Secret', namespace: sourceNamespace, name: repo.spec.secretRef.name });
    credentials = parseGitCredentials(secretData(secret), `Secret ${sourceNamespace}/${repo.spec.secretRef.name}`);
  }
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-diff-'));
  try {
    const outcome = await new GitFetcher({ cacheDir }).fetch({
      url: repo.spec.url, ref, credentials, secretName: repo.spec.secretRef?.name, ignore: repo.spec.ignore,
      maxSizeBytes: repo.spec.maxSizeBytes ?? defaultMaxSizeBytes, timeoutMs,
    });
    const digest = repo.status?.artifact?.digest;
    if (digest && outcome.artifact.digest !== digest) {
      // Same commit, other files: spec.ignore changed since the controller built its artifact.
      warn(`! the files of ${revision} differ from the controller's artifact (digest ${outcome.artifact.digest}, artifact ${digest}); spec.ignore may have changed since it was fetched`);
    }
    return { files: outcome.artifact.files, revision };
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Secret data replaced by masks that still show which keys changed. */
export function maskSecrets(before: Record<string, unknown> | undefined, after: Record<string, unknown> | undefined): void {
  const secretOf = (o: Record<string, unknown> | undefined) => (o?.kind === 'Secret' ? o : undefined);
  const b = secretOf(before);
  const a = secretOf(after);
  for (const field of ['data', 'stringData']) {
    const bData = b?.[field] as Record<string, unknown> | undefined;
    const aData = a?.[field] as Record<string, unknown> | undefined;
    const keys = new Set([...Object.keys(bData ?? {}), ...Object.keys(aData ?? {})]);
    for (const key of keys) {
      const same = bData?.[key] === aData?.[key];
      if (bData && key in bData) bData[key] = same ? '***' : '*** (before)';
      if (aData && key in aData) aData[key] = same ? '***' : '*** (after)';
    }
  }
}

function comparable(object: KubeObject | undefined): Record<string, unknown> | undefined {
  if (!object) return undefined;
  const normalized = structuredClone(normalizeForCompare(object));
  const metadata = normalized.metadata as Record<string, unknown>;
  const annotations = metadata.annotations as Record<string, string> | undefined;
  if (annotations) {
    delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
    if (Object.keys(annotations).length === 0) delete metadata.annotations;
  }
  return normalized;
}

export async function runDiffSync(name: string, options: DiffOptions): Promise<void> {
  try {
    const changes = await diffSync(name, options);
    if (changes > 0) throw new ExitCode(1);
  } catch (error) {
    if (error instanceof ExitCode) throw error;
    const mapped = toSluiceError(error);
    warn(`✗ ${mapped.describe()}`);
    throw new ExitCode(2);
  }
}

async function diffSync(name: string, options: DiffOptions): Promise<number> {
  const timeoutMs = parseDurationFlag(options.timeout, '--timeout');
  return withSession(options, async ({ client, namespace }) => {
    const sync = await client.get<Sync>({ apiVersion: API_GROUP_VERSION, kind: 'Sync', namespace, name });
    let files: ReadonlyMap<string, Uint8Array>;
    let renderPath: string | undefined;
    if (options.path !== undefined) {
      files = readDirectory(options.path);
      renderPath = '';
      write(`► building ${options.path}`);
    } else {
      const fetched = await fetchArtifact(client, sync, namespace, timeoutMs);
      files = fetched.files;
      renderPath = sync.spec.path;
      write(`► building ${sync.spec.path ?? './'} at ${fetched.revision} (the GitRepository's last fetched artifact)`);
    }
    const rendered = await renderManifests({ files }, { path: renderPath });
    if (rendered.problems.length > 0) {
      throw new SluiceError(ErrorCodes.ManifestInvalid, `the manifests do not build: ${rendered.problems.map(describeProblem).join('; ')}`);
    }
    const plan = await planObjects(rendered.manifests, {
      owner: { name, namespace }, targetNamespace: sync.spec.targetNamespace, defaultNamespace: namespace,
      resolveKind: async (apiVersion, kind) => {
        try {
          return await client.resourceFor(apiVersion, kind);
        } catch (error) {
          if (toSluiceError(error).code === ErrorCodes.KubeUnknownKind) return undefined;
          throw error;
        }
      },
    });
    if (plan.problems.length > 0) {
      throw new SluiceError(ErrorCodes.ManifestInvalid, `the manifests cannot be applied: ${plan.problems.map(describeProblem).join('; ')}`);
    }
    let changes = 0;
    const failures: string[] = [];
    // The fields the Sync controller leaves to others (HPA-managed replicas, sluice.dev/ignore-fields) are left out here too.
    const autoscaled = autoscaledIds(plan.objects.map((o) => o.object));
    for (const desired of plan.objects) {
      const what = describeObject(desired.ref);
      try {
        const live = await client.find(desired.ref);
        const send = structuredClone(desired.object);
        const ignored = [...annotatedIgnorePaths(desired.object, live), ...(autoscaled.has(desired.id) ? [['spec', 'replicas']] : [])];
        for (const fieldPath of ignored) removeField(send, fieldPath);
        const merged = await client.apply(send, { dryRun: true, force: true });
        const before = comparable(live);
        const after = comparable(merged);
        maskSecrets(before, after);
        const text = unifiedDiff(before ? toYaml(before) : '', toYaml(after), { fromLabel: live ? `live ${what}` : '/dev/null', toLabel: `merged ${what}` });
        if (text === '') continue;
        changes++;
        write(`► ${what} ${live ? 'changed' : 'created'}`);
        write(text);
      } catch (error) {
        failures.push(`${what}: ${toSluiceError(error).describe()}`);
      }
    }
    if (sync.spec.prune) {
      const desiredIds = new Set(plan.objects.map((o) => o.id));
      for (const entry of sync.status?.inventory?.entries ?? []) {
        const ref = refOfEntry(entry);
        if (!ref || desiredIds.has(objectId(ref))) continue;
        const live = await client.find(ref);
        if (!live || isPruneDisabled(live)) continue;
        changes++;
        write(`► ${describeObject(ref)} deleted`);
      }
    }
    if (failures.length > 0) {
      throw new SluiceError(ErrorCodes.KubeInvalid, `the server-side dry run failed for ${failures.length} object(s):\n  ${failures.join('\n  ')}`);
    }
    if (changes === 0) write('✔ no changes');
    return changes;
  });
}

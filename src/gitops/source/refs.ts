// Which commit a GitRepository's spec.ref means, decided from the remote's ref
// advertisement alone (one request, no download), so a poll that finds the
// same commit as last time does no further work.
import type { GitRepositoryRef } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { SemverRange, compareVersions, highestMatchingTag, parseVersion } from './semver.ts';

/** One advertised ref, as isomorphic-git's listServerRefs returns it. */
export interface ServerRef {
  ref: string;
  oid: string;
  /** For annotated tags: the commit the tag object points to. */
  peeled?: string | undefined;
  /** For symbolic refs (HEAD): the ref it points to. */
  target?: string | undefined;
}

export interface ResolvedRef {
  /** Remote ref to fetch, e.g. refs/heads/main or refs/tags/v1.2.3. */
  remoteRef: string;
  /** The commit the artifact is built from (annotated tags peeled). */
  commit: string;
  /** The revision's name part: branch or tag; undefined for a commit without a branch. */
  label: string | undefined;
  /**
   * 'shallow' when the commit is the tip of remoteRef, so a depth-1 fetch has
   * it; 'full' when it lies in the history of remoteRef.
   */
  depth: 'shallow' | 'full';
  /** For messages, e.g. `branch "main"` or `tag "v1.2.0" (highest match of semver "^1")`. */
  description: string;
}

const HEADS = 'refs/heads/';
const TAGS = 'refs/tags/';
const SHA1 = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** Flux's revision format: "main@sha1:<hex>", or "sha1:<hex>" for a bare commit. */
export function formatRevision(label: string | undefined, commit: string): string {
  return label === undefined ? `sha1:${commit}` : `${label}@sha1:${commit}`;
}

/** The commit of a revision string, or undefined when it has none. */
export function commitOfRevision(revision: string): string | undefined {
  const m = /(?:^|@)sha1:([0-9a-f]{40})$/.exec(revision);
  return m?.[1];
}

function notFound(message: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.GitRefNotFound, message, { hint, retryable: true });
}

function names(refs: readonly ServerRef[], prefix: string, limit = 10): string {
  const list = refs.filter((r) => r.ref.startsWith(prefix)).map((r) => r.ref.slice(prefix.length));
  if (list.length === 0) return 'none';
  return list.length > limit ? `${list.slice(0, limit).join(', ')}, ... (${list.length} in all)` : list.join(', ');
}

function commitOf(ref: ServerRef): string {
  return ref.peeled ?? ref.oid;
}

function branch(refs: readonly ServerRef[], name: string): ServerRef {
  const found = refs.find((r) => r.ref === `${HEADS}${name}`);
  if (!found) throw notFound(`branch "${name}" does not exist on the remote`, `check spec.ref.branch; the remote's branches: ${names(refs, HEADS)}`);
  return found;
}

/** The default branch: what HEAD points to. */
function defaultBranch(refs: readonly ServerRef[]): { remoteRef: string; label: string; commit: string } {
  const head = refs.find((r) => r.ref === 'HEAD');
  if (!head) {
    if (refs.length === 0) throw notFound('the remote repository is empty (it has no commits)', 'push a commit, or point spec.url at another repository');
    throw notFound('the remote does not advertise HEAD, so it has no default branch', 'set spec.ref.branch');
  }
  if (head.target?.startsWith(HEADS)) return { remoteRef: head.target, label: head.target.slice(HEADS.length), commit: head.oid };
  // Servers that do not report the symref (CodeCommit): the branch at HEAD's commit.
  const same = refs.find((r) => r.ref.startsWith(HEADS) && r.oid === head.oid);
  if (same) return { remoteRef: same.ref, label: same.ref.slice(HEADS.length), commit: head.oid };
  return { remoteRef: 'HEAD', label: 'HEAD', commit: head.oid };
}

/** Resolves spec.ref (absent: the default branch) against the advertised refs. */
export function resolveRef(ref: GitRepositoryRef | undefined, refs: readonly ServerRef[]): ResolvedRef {
  if (ref?.commit !== undefined) {
    const commit = ref.commit;
    if (SHA256.test(commit)) {
      throw new SluiceError(ErrorCodes.GitRefNotFound, `spec.ref.commit ${commit} is a SHA-256 object name`, {
        hint: 'sluice fetches SHA-1 repositories only; use a SHA-1 repository',
      });
    }
    if (!SHA1.test(commit)) {
      throw new SluiceError(ErrorCodes.SpecInvalid, `spec.ref.commit "${commit}" is not a full 40-character commit SHA`, { hint: 'use the full SHA, e.g. from `git rev-parse HEAD`' });
    }
    if (ref.branch !== undefined) {
      const tip = branch(refs, ref.branch);
      return {
        remoteRef: tip.ref, commit, label: ref.branch, depth: tip.oid === commit ? 'shallow' : 'full',
        description: `commit ${commit.slice(0, 12)} on branch "${ref.branch}"`,
      };
    }
    // A commit that some ref points at directly is fetched shallowly through that ref.
    const direct = refs.find((r) => r.ref !== 'HEAD' && (r.ref.startsWith(HEADS) || r.ref.startsWith(TAGS)) && commitOf(r) === commit);
    if (direct) return { remoteRef: direct.ref, commit, label: undefined, depth: 'shallow', description: `commit ${commit.slice(0, 12)}` };
    const base = defaultBranch(refs);
    return { remoteRef: base.remoteRef, commit, label: undefined, depth: 'full', description: `commit ${commit.slice(0, 12)} (searched on the default branch "${base.label}")` };
  }
  if (ref?.branch !== undefined) {
    const tip = branch(refs, ref.branch);
    return { remoteRef: tip.ref, commit: tip.oid, label: ref.branch, depth: 'shallow', description: `branch "${ref.branch}"` };
  }
  if (ref?.tag !== undefined) {
    const tag = refs.find((r) => r.ref === `${TAGS}${ref.tag}`);
    if (!tag) throw notFound(`tag "${ref.tag}" does not exist on the remote`, `check spec.ref.tag; the remote's tags: ${names(refs, TAGS)}`);
    return { remoteRef: tag.ref, commit: commitOf(tag), label: ref.tag, depth: 'shallow', description: `tag "${ref.tag}"` };
  }
  if (ref?.semver !== undefined) {
    const range = SemverRange.parse(ref.semver);
    const tags = refs.filter((r) => r.ref.startsWith(TAGS));
    const best = highestMatchingTag(tags.map((r) => r.ref.slice(TAGS.length)), range);
    if (!best) {
      const versions = tags.flatMap((r) => {
        const name = r.ref.slice(TAGS.length);
        const parsed = parseVersion(name);
        return parsed ? [{ name, parsed }] : [];
      }).sort((a, b) => compareVersions(b.parsed, a.parsed)).map((t) => t.name);
      throw notFound(`no tag matches semver range "${ref.semver}"`, `the remote's highest version tags: ${versions.slice(0, 5).join(', ') || 'none'}`);
    }
    const tag = tags.find((r) => r.ref === `${TAGS}${best.tag}`);
    if (!tag) throw new SluiceError(ErrorCodes.Internal, `semver match ${best.tag} vanished from the ref list`);
    return { remoteRef: tag.ref, commit: commitOf(tag), label: best.tag, depth: 'shallow', description: `tag "${best.tag}" (highest match of semver "${ref.semver}")` };
  }
  const base = defaultBranch(refs);
  return { remoteRef: base.remoteRef, commit: base.commit, label: base.label, depth: 'shallow', description: `default branch "${base.label}"` };
}

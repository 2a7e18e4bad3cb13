// Semantic versions of tags and version ranges for GitRepository spec.ref.semver.
// The range syntax is the one Flux users know (Masterminds/semver, which
// follows npm's): comparators (=, !=, >, >=, <, <=), x-ranges (1.2.x, 1.*, *),
// partial versions (>=1.2), tilde (~1.2.3, ~>1.2), caret (^1.2.3), hyphen
// ranges (1.2 - 2.3.4), AND by spaces or commas, OR by `||`.
//
// Pre-releases, as in Masterminds: a tag with a pre-release (1.2.0-rc.1)
// matches only when the alternative that matches it mentions a pre-release,
// e.g. ">=1.2.0-0". Tags may carry a leading "v". Build metadata (+build) is
// ignored for ordering.
import { ErrorCodes, SluiceError } from '../../errors.ts';

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: (string | number)[];
  build: string[];
}

const VERSION = /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$/;

function identifiers(text: string | undefined): (string | number)[] {
  if (!text) return [];
  return text.split('.').map((part) => (/^(0|[1-9]\d*)$/.test(part) ? Number(part) : part));
}

/**
 * Parses a tag name as a version; undefined when it is not one. Like Flux,
 * "v1.2" and "1" are read as 1.2.0 and 1.0.0.
 */
export function parseVersion(text: string): SemVer | undefined {
  const m = VERSION.exec(text.trim());
  if (!m) return undefined;
  const prerelease = identifiers(m[4]);
  // Numeric pre-release identifiers must not have leading zeros (semver 2.0.0 §9).
  if (m[4]?.split('.').some((part) => /^0\d+$/.test(part))) return undefined;
  return {
    major: Number(m[1]),
    minor: Number(m[2] ?? 0),
    patch: Number(m[3] ?? 0),
    prerelease,
    build: m[5]?.split('.') ?? [],
  };
}

function compareIdentifiers(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  // Numeric identifiers sort before alphanumeric ones.
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver 2.0.0 precedence: negative, zero or positive. */
export function compareVersions(a: SemVer, b: SemVer): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return core;
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    // A release ranks above its pre-releases.
    return (b.prerelease.length === 0 ? 0 : 1) - (a.prerelease.length === 0 ? 0 : 1);
  }
  const length = Math.max(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < length; i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const c = compareIdentifiers(x, y);
    if (c !== 0) return c;
  }
  return 0;
}

export function formatVersion(v: SemVer): string {
  return `${v.major}.${v.minor}.${v.patch}${v.prerelease.length > 0 ? `-${v.prerelease.join('.')}` : ''}`;
}

type Predicate = (v: SemVer) => boolean;

interface Alternative {
  predicates: Predicate[];
  allowsPrerelease: boolean;
}

/** A version in a range, where minor and patch may be missing or wildcards. */
interface Partial {
  major: number | undefined;
  minor: number | undefined;
  patch: number | undefined;
  prerelease: (string | number)[];
}

const PARTIAL = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-.]+)?$/;

function parsePartial(text: string, range: string): Partial {
  const m = PARTIAL.exec(text);
  if (!m) throw invalidRange(range, `"${text}" is not a version`);
  const num = (part: string | undefined): number | undefined => (part === undefined || /^[xX*]$/.test(part) ? undefined : Number(part));
  const major = num(m[1]);
  const minor = major === undefined ? undefined : num(m[2]);
  const patch = minor === undefined ? undefined : num(m[3]);
  return { major, minor, patch, prerelease: patch === undefined ? [] : identifiers(m[4]) };
}

function version(major: number, minor: number, patch: number, prerelease: (string | number)[] = []): SemVer {
  return { major, minor, patch, prerelease, build: [] };
}

/** The lowest version the partial stands for (wildcards as 0). */
function floor(p: Partial): SemVer {
  return version(p.major ?? 0, p.minor ?? 0, p.patch ?? 0, p.prerelease);
}

/** The first version above everything the partial stands for; undefined for `*`. */
function ceiling(p: Partial): SemVer | undefined {
  if (p.major === undefined) return undefined;
  if (p.minor === undefined) return version(p.major + 1, 0, 0);
  if (p.patch === undefined) return version(p.major, p.minor + 1, 0);
  return undefined;
}

const gte = (bound: SemVer): Predicate => (v) => compareVersions(v, bound) >= 0;
const gt = (bound: SemVer): Predicate => (v) => compareVersions(v, bound) > 0;
const lt = (bound: SemVer): Predicate => (v) => compareVersions(v, bound) < 0;
const lte = (bound: SemVer): Predicate => (v) => compareVersions(v, bound) <= 0;
const any: Predicate = () => true;
// Upper bounds derived from ^, ~ and x-ranges (^1.2 → <2.0.0) do not admit
// 2.0.0's pre-releases; "-0" is the lowest pre-release. An explicit `<2.0.0`
// compares plainly, as in Masterminds.
const below = (bound: SemVer): Predicate => (bound.prerelease.length > 0 ? lt(bound) : lt({ ...bound, prerelease: [0] }));

function comparator(op: string, p: Partial, range: string): Predicate[] {
  const wildcard = p.patch === undefined;
  const top = ceiling(p);
  switch (op) {
    case '':
    case '=':
      if (p.major === undefined) return [any];
      return wildcard && top ? [gte(floor(p)), below(top)] : [(v) => compareVersions(v, floor(p)) === 0];
    case '!=':
      if (p.major === undefined) return [() => false];
      if (wildcard && top) {
        const inRange = [gte(floor(p)), below(top)];
        return [(v) => !inRange.every((f) => f(v))];
      }
      return [(v) => compareVersions(v, floor(p)) !== 0];
    case '>':
      if (p.major === undefined) return [() => false];
      return wildcard && top ? [gte(top)] : [gt(floor(p))];
    case '>=':
    case '=>':
      return [gte(floor(p))];
    case '<':
      if (p.major === undefined) return [() => false];
      return [lt(floor(p))];
    case '<=':
    case '=<':
      return wildcard && top ? [below(top)] : [lte(floor(p))];
    case '~':
    case '~>': {
      if (p.major === undefined) return [any];
      const upper = p.minor === undefined ? version(p.major + 1, 0, 0) : version(p.major, p.minor + 1, 0);
      return [gte(floor(p)), below(upper)];
    }
    case '^': {
      if (p.major === undefined) return [any];
      let upper: SemVer;
      if (p.major > 0 || p.minor === undefined) upper = version(p.major + 1, 0, 0);
      else if (p.minor > 0 || p.patch === undefined) upper = version(0, p.minor + 1, 0);
      else upper = version(0, 0, p.patch + 1);
      return [gte(floor(p)), below(upper)];
    }
    default:
      throw invalidRange(range, `unknown operator "${op}"`);
  }
}

function invalidRange(range: string, detail: string): SluiceError {
  return new SluiceError(ErrorCodes.SpecInvalid, `spec.ref.semver "${range}" is not a valid version range: ${detail}`, {
    hint: 'use a range such as ">=1.0.0 <2.0.0", "^1.2", "~1.2.3" or "1.x"',
  });
}

const TOKEN = /(!=|>=|<=|=>|=<|~>|[<>=~^])?\s*([^\s,<>=~^!]+)/y;

function parseAlternative(text: string, range: string): Alternative {
  const trimmed = text.trim();
  if (trimmed === '') return { predicates: [any], allowsPrerelease: false };
  const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(trimmed);
  if (hyphen) {
    const low = parsePartial(hyphen[1] ?? '', range);
    const high = parsePartial(hyphen[2] ?? '', range);
    const top = ceiling(high);
    return {
      predicates: [gte(floor(low)), high.major === undefined ? any : top ? below(top) : lte(floor(high))],
      allowsPrerelease: low.prerelease.length > 0 || high.prerelease.length > 0,
    };
  }
  const predicates: Predicate[] = [];
  let allowsPrerelease = false;
  let position = 0;
  while (position < trimmed.length) {
    // Separators between comparators: spaces and commas.
    const sep = /[\s,]*/y;
    sep.lastIndex = position;
    sep.exec(trimmed);
    position = sep.lastIndex;
    if (position >= trimmed.length) break;
    TOKEN.lastIndex = position;
    const m = TOKEN.exec(trimmed);
    if (!m) throw invalidRange(range, `cannot read "${trimmed.slice(position)}"`);
    position = TOKEN.lastIndex;
    const partial = parsePartial(m[2] ?? '', range);
    if (partial.prerelease.length > 0) allowsPrerelease = true;
    predicates.push(...comparator(m[1] ?? '', partial, range));
  }
  return { predicates, allowsPrerelease };
}

export class SemverRange {
  readonly source: string;
  readonly #alternatives: Alternative[];

  private constructor(source: string, alternatives: Alternative[]) {
    this.source = source;
    this.#alternatives = alternatives;
  }

  /** Parses a range; throws SluiceError(SpecInvalid) naming what is wrong. */
  static parse(range: string): SemverRange {
    if (range.trim() === '') throw invalidRange(range, 'it is empty');
    return new SemverRange(range, range.split('||').map((part) => parseAlternative(part, range)));
  }

  test(v: SemVer): boolean {
    return this.#alternatives.some((alt) =>
      (v.prerelease.length === 0 || alt.allowsPrerelease) && alt.predicates.every((matches) => matches(v)));
  }
}

/**
 * The tag with the highest version in the range, or undefined. Tags that are
 * not versions are skipped. Two tags of equal precedence (v1.0.0 and 1.0.0)
 * resolve to the greater name, so the choice never depends on list order.
 */
export function highestMatchingTag(tags: readonly string[], range: SemverRange): { tag: string; version: SemVer } | undefined {
  let best: { tag: string; version: SemVer } | undefined;
  for (const tag of tags) {
    const parsed = parseVersion(tag);
    if (!parsed || !range.test(parsed)) continue;
    const c = best ? compareVersions(parsed, best.version) : 1;
    if (c > 0 || (c === 0 && best !== undefined && tag > best.tag)) best = { tag, version: parsed };
  }
  return best;
}

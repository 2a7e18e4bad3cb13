// .gitignore semantics for what a GitRepository leaves out of its artifact:
// spec.ignore, .sourceignore files (at any depth, scoped to their directory)
// and default exclusions, as Flux's source-controller applies them.
//
// Rules (gitignore(5)): blank lines and `#` comments are skipped; `!` negates;
// a trailing `/` matches directories only; a pattern with a `/` at its start
// or middle is anchored to its base directory, otherwise it matches a name at
// any depth; `*` and `?` never match `/`; `**/`, `/**` and `/**/` span
// directories; the last matching pattern wins; nothing inside an excluded
// directory can be re-included.

/** Always left out: Git's own metadata files. */
export const VCS_EXCLUDES = `.git/
.gitignore
.gitmodules
.gitattributes
`;

/** Left out unless spec.ignore is set, as in Flux (spec.ignore replaces them). */
export const DEFAULT_EXCLUDES = `# Common image and archive types
*.jpg
*.jpeg
*.gif
*.png
*.wmv
*.flv
*.tar.gz
*.zip
# CI configurations
.github/
.circleci/
.travis.yml
.gitlab-ci.yml
appveyor.yml
.drone.yml
cloudbuild.yaml
codeship-services.yml
codeship-steps.yml
# Tool configurations that are not manifests
**/.goreleaser.yml
**/.sops.yaml
**/.flux.yaml
`;

/** Name of the per-directory ignore file honoured in repositories. */
export const SOURCE_IGNORE_FILE = '.sourceignore';

interface Pattern {
  regex: RegExp;
  negate: boolean;
  dirOnly: boolean;
  /** Directory the pattern is relative to, '' for the repository root. */
  base: string;
}

const posixClasses: Record<string, string> = {
  alnum: 'A-Za-z0-9', alpha: 'A-Za-z', blank: ' \\t', digit: '0-9', lower: 'a-z', upper: 'A-Z',
  space: ' \\t\\n\\r\\f\\v', xdigit: '0-9A-Fa-f', punct: '!-\\/:-@\\[-`{-~',
};

function escapeRegex(char: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(char) ? `\\${char}` : char;
}

/** Translates a bracket expression starting at pattern[start] === '['; undefined when it never closes. */
function bracket(pattern: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (pattern[i] === '!' || pattern[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < pattern.length; i++) {
    const char = pattern[i] ?? '';
    if (char === ']' && !first) return { source: negate ? `[^/${body}]` : `[${body}]`, end: i };
    first = false;
    if (char === '[' && pattern[i + 1] === ':') {
      const close = pattern.indexOf(':]', i + 2);
      const cls = close < 0 ? undefined : posixClasses[pattern.slice(i + 2, close)];
      if (cls !== undefined) {
        body += cls;
        i = close + 1;
        continue;
      }
    }
    if (char === '\\' && i + 1 < pattern.length) {
      i++;
      body += escapeRegex(pattern[i] ?? '');
      continue;
    }
    // A range a-z stays a range; everything else is literal.
    body += char === '-' && body !== '' && pattern[i + 1] !== ']' ? '-' : escapeRegex(char);
  }
  return undefined;
}

/** Regex source for a glob body (no leading `/`, no trailing `/`). */
function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] ?? '';
    if (char === '\\') {
      i++;
      if (i < glob.length) out += escapeRegex(glob[i] ?? '');
      continue;
    }
    if (char === '*') {
      if (glob[i + 1] === '*') {
        const atSegmentStart = i === 0 || glob[i - 1] === '/';
        let j = i;
        while (glob[j] === '*') j++;
        const atSegmentEnd = j === glob.length || glob[j] === '/';
        if (atSegmentStart && atSegmentEnd) {
          if (j === glob.length) {
            // Trailing `/**` (or a lone `**`): everything below.
            out += '.*';
          } else {
            // `**/`: zero or more directories.
            out += '(?:.*/)?';
            j++;
          }
          i = j - 1;
          continue;
        }
        // `**` inside a name is an ordinary `*`.
        out += '[^/]*';
        i = j - 1;
        continue;
      }
      out += '[^/]*';
      continue;
    }
    if (char === '?') {
      out += '[^/]';
      continue;
    }
    if (char === '[') {
      const parsed = bracket(glob, i);
      if (parsed) {
        out += parsed.source;
        i = parsed.end;
        continue;
      }
    }
    out += escapeRegex(char);
  }
  return out;
}

/** Parses one line; undefined for blanks and comments. */
function parseLine(raw: string, base: string): Pattern | undefined {
  let line = raw.replace(/\r$/, '');
  // Trailing spaces are dropped unless escaped with a backslash.
  line = line.replace(/(?<!\\)[ \t]+$/, '');
  if (line === '' || line.startsWith('#')) return undefined;
  let negate = false;
  if (line.startsWith('!')) {
    negate = true;
    line = line.slice(1);
  } else if (line.startsWith('\\!') || line.startsWith('\\#')) {
    line = line.slice(1);
  }
  let dirOnly = false;
  if (line.endsWith('/') && !line.endsWith('\\/')) {
    dirOnly = true;
    line = line.replace(/\/+$/, '');
  }
  if (line === '') return undefined;
  const anchored = line.includes('/');
  if (line.startsWith('/')) line = line.slice(1);
  const body = globToRegex(line);
  const source = anchored ? `^${body}$` : `^(?:.*/)?${body}$`;
  return { regex: new RegExp(source, 's'), negate, dirOnly, base };
}

export function parseIgnorePatterns(text: string, base = ''): Pattern[] {
  const patterns: Pattern[] = [];
  for (const line of text.split('\n')) {
    const pattern = parseLine(line, base);
    if (pattern) patterns.push(pattern);
  }
  return patterns;
}

export interface IgnoreRulesOptions {
  /** spec.ignore: evaluated after every other rule, and replaces DEFAULT_EXCLUDES when set. */
  spec?: string | undefined;
}

/**
 * The exclusion rules of one artifact build. .sourceignore files are added as
 * the tree walk finds them (parents before children), so deeper files take
 * precedence, as in Git; spec.ignore always has the last word.
 */
export class IgnoreRules {
  readonly #base: Pattern[];
  readonly #sourceIgnore: Pattern[] = [];
  readonly #spec: Pattern[];

  constructor(options: IgnoreRulesOptions = {}) {
    this.#base = parseIgnorePatterns(VCS_EXCLUDES);
    if (options.spec === undefined) this.#base.push(...parseIgnorePatterns(DEFAULT_EXCLUDES));
    this.#spec = options.spec === undefined ? [] : parseIgnorePatterns(options.spec);
  }

  /** Adds the patterns of the .sourceignore file found in directory `base` ('' for the root). */
  addSourceIgnore(text: string, base: string): void {
    this.#sourceIgnore.push(...parseIgnorePatterns(text, base));
  }

  /**
   * The verdict for this path alone, assuming its parent directories are not
   * excluded (a tree walk that skips excluded directories guarantees that).
   */
  excludes(path: string, isDir: boolean): boolean {
    let excluded = false;
    for (const list of [this.#base, this.#sourceIgnore, this.#spec]) {
      for (const pattern of list) {
        if (pattern.dirOnly && !isDir) continue;
        let relative = path;
        if (pattern.base !== '') {
          if (!path.startsWith(`${pattern.base}/`)) continue;
          relative = path.slice(pattern.base.length + 1);
        }
        if (pattern.regex.test(relative)) excluded = !pattern.negate;
      }
    }
    return excluded;
  }

  /** Whether the path is left out, by its own rules or because a parent directory is. */
  ignores(path: string, isDir: boolean): boolean {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (this.excludes(parts.slice(0, i).join('/'), true)) return true;
    }
    return this.excludes(path, isDir);
  }
}

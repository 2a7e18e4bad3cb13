// Query templates: `{{ namespace }}`, `{{ target }}`, `{{ service }}`,
// `{{ ingress }}`, `{{ interval }}` and the Canary's templateVariables (as
// `{{ name }}` or, as in Flagger, `{{ variables.name }}`). Rendering is strict:
// a variable that is unknown or has no value is an error naming it, never an
// empty string that would turn a selector into one that silently matches
// everything (or nothing).
import { ErrorCodes, SluiceError } from '../../errors.ts';
import { parseDuration } from '../../api/duration.ts';

export const BUILTIN_VARIABLES = ['namespace', 'target', 'service', 'ingress', 'interval'] as const;
export type BuiltinVariable = (typeof BUILTIN_VARIABLES)[number];

/** The default query range of a metric check, as Flagger. */
export const DEFAULT_METRIC_INTERVAL = '1m';

/**
 * Variables for one render. A key with the value undefined is known but has
 * no value here (e.g. `ingress` for a Canary without ingressRef); its `why`
 * explains that in the error.
 */
export interface TemplateVariables {
  values: Readonly<Record<string, string | undefined>>;
  /** Why a known variable has no value, by name. */
  why?: Readonly<Record<string, string>>;
}

export interface RenderOptions {
  /** What is being rendered, for messages, e.g. "MetricTemplate shop/errors". */
  source: string;
}

// Non-greedy up to the first `}}`, so `{{ a }}{{ b }}` is two expressions.
const EXPRESSION = /\{\{(.*?)\}\}/gs;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FLAGGER_PREFIX = 'variables.';

function templateError(source: string, message: string, hint: string): SluiceError {
  return new SluiceError(ErrorCodes.SpecInvalid, `${source}: ${message}`, { hint });
}

/** The variable names a template uses, in order of first use; malformed expressions are skipped. */
export function variablesUsed(template: string): string[] {
  const names: string[] = [];
  for (const match of template.matchAll(EXPRESSION)) {
    const name = (match[1] ?? '').trim();
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

/**
 * Fills in a query template. Throws SluiceError(SpecInvalid) naming every
 * unknown variable, every variable without a value, and malformed expressions.
 */
export function renderQuery(template: string, variables: TemplateVariables, options: RenderOptions): string {
  const unknown: string[] = [];
  const empty: string[] = [];
  const malformed: string[] = [];
  const lookup = (expression: string): string | undefined => {
    const name = expression.startsWith(FLAGGER_PREFIX) ? expression.slice(FLAGGER_PREFIX.length) : expression;
    if (!NAME.test(name)) {
      malformed.push(`{{ ${expression} }}`);
      return undefined;
    }
    if (!Object.hasOwn(variables.values, name)) {
      if (!unknown.includes(name)) unknown.push(name);
      return undefined;
    }
    const value = variables.values[name];
    if (value === undefined && !empty.includes(name)) empty.push(name);
    return value;
  };
  const rendered = template.replace(EXPRESSION, (whole, inner: string) => lookup(inner.trim()) ?? whole);

  const known = Object.keys(variables.values).sort();
  const problems: string[] = [];
  if (unknown.length > 0) {
    problems.push(`unknown variable${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `{{ ${n} }}`).join(', ')}`);
  }
  for (const name of empty) {
    problems.push(`variable {{ ${name} }} has no value${variables.why?.[name] ? ` (${variables.why[name]})` : ''}`);
  }
  if (malformed.length > 0) problems.push(`malformed expression ${malformed.join(', ')}`);
  // A `{{` left over after substitution was never closed.
  const unclosed = rendered.replace(EXPRESSION, '').includes('{{');
  if (unclosed) problems.push('a "{{" is never closed with "}}"');
  if (problems.length > 0) {
    throw templateError(
      options.source,
      `query template has ${problems.join('; ')}`,
      `known variables: ${known.map((n) => `{{ ${n} }}`).join(', ')}; add missing ones to the metric's templateVariables`,
    );
  }
  return rendered;
}

/**
 * A Go duration as a PromQL range. PromQL takes neither fractions (`1.5m`)
 * everywhere nor arbitrary unit mixes, so the value is normalised to whole
 * seconds, or milliseconds when it is not a whole number of seconds.
 */
export function promqlDuration(text: string, what = 'interval'): string {
  const ms = parseDuration(text, what);
  if (ms <= 0) {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${what} "${text}" must be longer than zero`, {
      hint: 'a query range needs at least two scrapes, e.g. 1m',
    });
  }
  return ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`;
}

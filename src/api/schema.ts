// Validation and defaulting of sluice objects, compiled at module load from the
// CRD schemas in crds/*.yaml (the single source of truth). It implements the
// structural OpenAPI v3 subset the CRDs use, the way the kube-apiserver applies
// it, so the controller and CLI reject what the apiserver would reject, with
// the same paths and similar messages. CEL rules cannot be evaluated here; each
// has a hand-written twin in `crossFieldRules`, matched by path and message
// (schema.test.ts fails when the two drift apart).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { load } from 'js-yaml';
import { ErrorCodes, SluiceError } from '../errors.ts';
import {
  API_GROUP,
  API_GROUP_VERSION,
  API_VERSION,
  BuiltinMetrics,
  SLUICE_KINDS,
  isSluiceKind,
  type SluiceKind,
  type SluiceObject,
} from './types.ts';

/** Directory holding the CRD YAML files. */
export const CRD_DIR = path.resolve(import.meta.dirname, '../../crds');

export interface ValidationIssue {
  /** Field path as the apiserver prints it, e.g. `spec.analysis.metrics[0].thresholdRange`. */
  path: string;
  /** What is wrong, e.g. `Invalid value: 150: must be less than or equal to 100`. */
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  issues: ValidationIssue[];
}

export interface ValidateOptions {
  /**
   * Report fields the schema does not define, as kubectl's default strict
   * field validation does. With false they are ignored (the apiserver would
   * prune them). Default true.
   */
  rejectUnknownFields?: boolean;
}

/**
 * The TypeScript twin of one CEL rule (`x-kubernetes-validations`) in a CRD.
 * `path` is the schema path of the node carrying the rule, with `[*]` for
 * array items, e.g. `spec.analysis.metrics[*].thresholdRange`.
 */
export interface CrossFieldRule {
  path: string;
  message: string;
  /** Returns whether the value at `path` satisfies the rule. */
  check: (self: unknown) => boolean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** CEL's has(self.key): the field is present. */
function has(self: unknown, key: string): boolean {
  return isRecord(self) && self[key] !== undefined;
}

function field(self: unknown, key: string): unknown {
  return isRecord(self) ? self[key] : undefined;
}

function countPresent(self: unknown, keys: readonly string[]): number {
  return keys.filter((key) => has(self, key)).length;
}

function isAscending(list: unknown): boolean {
  if (!Array.isArray(list)) return false;
  return list.every((item, i) => i === 0 || Number(list[i - 1]) <= Number(item));
}

export const crossFieldRules: Readonly<Record<SluiceKind, readonly CrossFieldRule[]>> = {
  GitRepository: [
    {
      path: 'spec.url',
      message:
        'must be an https:// or http:// URL; SSH URLs (ssh://, git@host:path) are not supported, use HTTPS with a token in spec.secretRef',
      check: (url) => typeof url === 'string' && (url.startsWith('https://') || url.startsWith('http://')),
    },
    {
      path: 'spec.ref',
      message: 'set at most one of branch, tag and semver',
      check: (ref) => countPresent(ref, ['branch', 'tag', 'semver']) <= 1,
    },
    {
      path: 'spec.ref',
      message: 'commit can only be combined with branch, not with tag or semver',
      check: (ref) => !has(ref, 'commit') || !(has(ref, 'tag') || has(ref, 'semver')),
    },
  ],
  Sync: [
    {
      path: 'spec.path',
      message: "must not contain '..' segments; the path is relative to the root of the source",
      check: (p) => typeof p === 'string' && !`/${p}/`.includes('/../'),
    },
  ],
  Receiver: [
    {
      path: 'spec.resources[*]',
      message: "matchLabels requires name to be '*'",
      check: (resource) => !has(resource, 'matchLabels') || field(resource, 'name') === '*',
    },
  ],
  Canary: [
    {
      path: 'spec.autoscalerRef.primaryScalerReplicas',
      message: 'minReplicas must not be greater than maxReplicas',
      check: (r) =>
        !has(r, 'minReplicas') ||
        !has(r, 'maxReplicas') ||
        Number(field(r, 'minReplicas')) <= Number(field(r, 'maxReplicas')),
    },
    {
      path: 'spec.analysis',
      message: 'stepWeight and stepWeights are mutually exclusive',
      check: (a) => !(has(a, 'stepWeight') && has(a, 'stepWeights')),
    },
    {
      path: 'spec.analysis',
      message:
        'set iterations (blue/green, A/B testing) or stepWeight/stepWeights (progressive traffic shifting)',
      check: (a) => countPresent(a, ['iterations', 'stepWeight', 'stepWeights']) > 0,
    },
    {
      path: 'spec.analysis',
      message: 'iterations cannot be combined with stepWeight or stepWeights',
      check: (a) => !has(a, 'iterations') || !(has(a, 'stepWeight') || has(a, 'stepWeights')),
    },
    {
      path: 'spec.analysis.stepWeights',
      message: 'stepWeights must be in ascending order',
      check: isAscending,
    },
    {
      path: 'spec.analysis.metrics[*].thresholdRange',
      message: 'thresholdRange must set min, max or both',
      check: (range) => has(range, 'min') || has(range, 'max'),
    },
    {
      path: 'spec.analysis.metrics[*].thresholdRange',
      message: 'thresholdRange min must not be greater than max',
      check: (range) =>
        !has(range, 'min') || !has(range, 'max') || Number(field(range, 'min')) <= Number(field(range, 'max')),
    },
    {
      path: 'spec.analysis.metrics[*]',
      message: 'templateRef and query are mutually exclusive',
      check: (m) => !(has(m, 'templateRef') && has(m, 'query')),
    },
    {
      path: 'spec.analysis.metrics[*]',
      message:
        'metrics other than request-success-rate and request-duration need a templateRef (or the deprecated inline query)',
      check: (m) =>
        (BuiltinMetrics as readonly unknown[]).includes(field(m, 'name')) || has(m, 'templateRef') || has(m, 'query'),
    },
    {
      path: 'spec.analysis.metrics[*]',
      message: 'maxHoldChecks can only be set when onNoData is hold',
      check: (m) => !has(m, 'maxHoldChecks') || field(m, 'onNoData') === 'hold',
    },
  ],
  MetricTemplate: [],
  AlertProvider: [
    {
      path: 'spec',
      message: 'set address, or secretRef to a Secret with an address key',
      check: (spec) => has(spec, 'address') || has(spec, 'secretRef'),
    },
    {
      path: 'spec',
      message: 'type generic-hmac needs secretRef to a Secret with a token key (the HMAC key)',
      check: (spec) => field(spec, 'type') !== 'generic-hmac' || has(spec, 'secretRef'),
    },
  ],
  Alert: [
    {
      path: 'spec.eventSources[*]',
      message: "matchLabels requires name to be '*'",
      check: (source) => !has(source, 'matchLabels') || field(source, 'name') === '*',
    },
  ],
};

// ---------------------------------------------------------------------------
// Compiling the CRD schemas

type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
const SCHEMA_TYPES: readonly string[] = ['object', 'array', 'string', 'integer', 'number', 'boolean'];

type RuleReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired';
const RULE_REASONS: readonly string[] = ['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired'];

interface CompiledRule {
  rule: string;
  message: string;
  /** Dotted path below the node that the error is reported at (CEL fieldPath). */
  fieldPath: string | undefined;
  reason: RuleReason;
  /** The TypeScript twin; absent only when crossFieldRules lacks it (a test catches that). */
  check: ((self: unknown) => boolean) | undefined;
}

interface SchemaNode {
  schemaPath: string;
  type: SchemaType | undefined;
  properties: Map<string, SchemaNode> | undefined;
  required: readonly string[];
  additionalProperties: SchemaNode | undefined;
  items: SchemaNode | undefined;
  enum: readonly unknown[] | undefined;
  minimum: number | undefined;
  maximum: number | undefined;
  exclusiveMinimum: boolean;
  exclusiveMaximum: boolean;
  minLength: number | undefined;
  maxLength: number | undefined;
  pattern: { source: string; regex: RegExp } | undefined;
  minItems: number | undefined;
  maxItems: number | undefined;
  format: string | undefined;
  nullable: boolean;
  hasDefault: boolean;
  default: unknown;
  intOrString: boolean;
  preserveUnknown: boolean;
  /** Validated separately (ObjectMeta is the apiserver's, not the CRD's). */
  isObjectMeta: boolean;
  listType: 'atomic' | 'set' | 'map' | undefined;
  listMapKeys: readonly string[];
  rules: readonly CompiledRule[];
  /** Whether this node or one below it has CEL rules. */
  subtreeHasRules: boolean;
}

const SUPPORTED_KEYWORDS = new Set([
  'type',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'format',
  'nullable',
  'default',
  'x-kubernetes-int-or-string',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);

interface CompileContext {
  file: string;
  kind: SluiceKind;
}

function schemaError(ctx: CompileContext, schemaPath: string, what: string): SluiceError {
  const where = schemaPath === '' ? 'the root schema' : `schema path ${schemaPath}`;
  return new SluiceError(ErrorCodes.Internal, `${ctx.file}: ${where}: ${what}`, {
    hint: 'the CRD uses something src/api/schema.ts does not implement; extend the validator or simplify the CRD',
  });
}

function optionalNumber(raw: Record<string, unknown>, key: string, ctx: CompileContext, at: string): number | undefined {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw schemaError(ctx, at, `${key} must be a number`);
  return value;
}

function optionalBoolean(raw: Record<string, unknown>, key: string, ctx: CompileContext, at: string): boolean {
  const value = raw[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw schemaError(ctx, at, `${key} must be a boolean`);
  return value;
}

function stringList(value: unknown, key: string, ctx: CompileContext, at: string): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw schemaError(ctx, at, `${key} must be a list of strings`);
  }
  return value;
}

function childPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

function compileSchema(raw: unknown, schemaPath: string, ctx: CompileContext): SchemaNode {
  if (!isRecord(raw)) throw schemaError(ctx, schemaPath, 'is not an object');
  for (const key of Object.keys(raw)) {
    if (!SUPPORTED_KEYWORDS.has(key)) throw schemaError(ctx, schemaPath, `unsupported keyword ${key}`);
  }
  const type = raw.type;
  if (type !== undefined && (typeof type !== 'string' || !SCHEMA_TYPES.includes(type))) {
    throw schemaError(ctx, schemaPath, `unsupported type ${JSON.stringify(type)}`);
  }

  let properties: Map<string, SchemaNode> | undefined;
  if (raw.properties !== undefined) {
    if (!isRecord(raw.properties)) throw schemaError(ctx, schemaPath, 'properties must be a map');
    properties = new Map();
    for (const [key, child] of Object.entries(raw.properties)) {
      properties.set(key, compileSchema(child, childPath(schemaPath, key), ctx));
    }
  }
  let additionalProperties: SchemaNode | undefined;
  if (raw.additionalProperties !== undefined) {
    // Structural schemas allow only the schema form here.
    additionalProperties = compileSchema(raw.additionalProperties, `${schemaPath}[*]`, ctx);
  }
  const items = raw.items === undefined ? undefined : compileSchema(raw.items, `${schemaPath}[*]`, ctx);

  let pattern: SchemaNode['pattern'];
  if (raw.pattern !== undefined) {
    if (typeof raw.pattern !== 'string') throw schemaError(ctx, schemaPath, 'pattern must be a string');
    pattern = { source: raw.pattern, regex: new RegExp(raw.pattern, 'u') };
  }
  if (raw.enum !== undefined && !Array.isArray(raw.enum)) throw schemaError(ctx, schemaPath, 'enum must be a list');
  if (raw.format !== undefined && typeof raw.format !== 'string') {
    throw schemaError(ctx, schemaPath, 'format must be a string');
  }
  const listType = raw['x-kubernetes-list-type'];
  if (listType !== undefined && listType !== 'atomic' && listType !== 'set' && listType !== 'map') {
    throw schemaError(ctx, schemaPath, `unsupported x-kubernetes-list-type ${JSON.stringify(listType)}`);
  }

  const kindRules = crossFieldRules[ctx.kind];
  const rawRules = raw['x-kubernetes-validations'] ?? [];
  if (!Array.isArray(rawRules)) throw schemaError(ctx, schemaPath, 'x-kubernetes-validations must be a list');
  const rules = rawRules.map((rawRule): CompiledRule => {
    if (!isRecord(rawRule) || typeof rawRule.rule !== 'string' || typeof rawRule.message !== 'string') {
      throw schemaError(ctx, schemaPath, 'each x-kubernetes-validations entry needs a rule and a message');
    }
    const { message, fieldPath, reason = 'FieldValueInvalid' } = rawRule;
    if (typeof reason !== 'string' || !RULE_REASONS.includes(reason)) {
      throw schemaError(ctx, schemaPath, `unsupported rule reason ${JSON.stringify(reason)}`);
    }
    if (fieldPath !== undefined && (typeof fieldPath !== 'string' || !/^(\.[A-Za-z0-9_]+)+$/.test(fieldPath))) {
      throw schemaError(ctx, schemaPath, `unsupported rule fieldPath ${JSON.stringify(fieldPath)} (only .a.b is implemented)`);
    }
    const twin = kindRules.find((r) => r.path === schemaPath && r.message === message);
    return {
      rule: rawRule.rule,
      message,
      fieldPath: fieldPath?.slice(1),
      reason: reason as RuleReason,
      check: twin?.check,
    };
  });

  const node: SchemaNode = {
    schemaPath,
    type: type as SchemaType | undefined,
    properties,
    required: stringList(raw.required, 'required', ctx, schemaPath),
    additionalProperties,
    items,
    enum: raw.enum as readonly unknown[] | undefined,
    minimum: optionalNumber(raw, 'minimum', ctx, schemaPath),
    maximum: optionalNumber(raw, 'maximum', ctx, schemaPath),
    exclusiveMinimum: optionalBoolean(raw, 'exclusiveMinimum', ctx, schemaPath),
    exclusiveMaximum: optionalBoolean(raw, 'exclusiveMaximum', ctx, schemaPath),
    minLength: optionalNumber(raw, 'minLength', ctx, schemaPath),
    maxLength: optionalNumber(raw, 'maxLength', ctx, schemaPath),
    pattern,
    minItems: optionalNumber(raw, 'minItems', ctx, schemaPath),
    maxItems: optionalNumber(raw, 'maxItems', ctx, schemaPath),
    format: raw.format,
    nullable: optionalBoolean(raw, 'nullable', ctx, schemaPath),
    hasDefault: 'default' in raw,
    default: raw.default,
    intOrString: optionalBoolean(raw, 'x-kubernetes-int-or-string', ctx, schemaPath),
    preserveUnknown: optionalBoolean(raw, 'x-kubernetes-preserve-unknown-fields', ctx, schemaPath),
    isObjectMeta: schemaPath === 'metadata',
    listType,
    listMapKeys: stringList(raw['x-kubernetes-list-map-keys'], 'x-kubernetes-list-map-keys', ctx, schemaPath),
    rules,
    subtreeHasRules:
      rules.length > 0 ||
      [...(properties?.values() ?? []), additionalProperties, items].some((child) => child?.subtreeHasRules === true),
  };
  for (const rule of rules) {
    // Like the apiserver, a fieldPath must name a field the schema declares.
    let target: SchemaNode | undefined = node;
    for (const key of rule.fieldPath?.split('.') ?? []) target = target?.properties?.get(key);
    if (target === undefined) throw schemaError(ctx, schemaPath, `rule fieldPath .${rule.fieldPath} names no field`);
  }
  if (node.hasDefault) {
    // The apiserver refuses a CRD whose defaults do not validate; so do we.
    const issues = validateTree(node.default, node, schemaPath, true);
    if (issues.length > 0) {
      throw schemaError(ctx, schemaPath, `default ${JSON.stringify(node.default)} is invalid: ${issues[0]?.message}`);
    }
  }
  return node;
}

interface LoadedCrd {
  kind: SluiceKind;
  file: string;
  root: SchemaNode;
}

function loadCrds(dir: string): ReadonlyMap<SluiceKind, LoadedCrd> {
  const crds = new Map<SluiceKind, LoadedCrd>();
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort();
  for (const name of files) {
    const file = path.join('crds', name);
    const doc = load(readFileSync(path.join(dir, name), 'utf8'));
    const spec = field(doc, 'spec');
    const kind = field(field(spec, 'names'), 'kind');
    if (field(doc, 'kind') !== 'CustomResourceDefinition' || field(spec, 'group') !== API_GROUP || !isSluiceKind(kind)) {
      throw new SluiceError(ErrorCodes.Internal, `${file}: not a CustomResourceDefinition of a ${API_GROUP} kind`);
    }
    const versions = field(spec, 'versions');
    const version: unknown = Array.isArray(versions)
      ? (versions as unknown[]).find((v) => field(v, 'name') === API_VERSION)
      : undefined;
    const rawSchema = field(field(version, 'schema'), 'openAPIV3Schema');
    if (rawSchema === undefined) {
      throw new SluiceError(ErrorCodes.Internal, `${file}: has no ${API_VERSION} version with an openAPIV3Schema`);
    }
    crds.set(kind, { kind, file, root: compileSchema(rawSchema, '', { file, kind }) });
  }
  for (const kind of SLUICE_KINDS) {
    if (!crds.has(kind)) throw new SluiceError(ErrorCodes.Internal, `${dir} has no CRD for kind ${kind}`);
  }
  return crds;
}

// ---------------------------------------------------------------------------
// Validation

interface ValidateContext {
  issues: ValidationIssue[];
  rejectUnknownFields: boolean;
  /** Whether an issue was found that stops the apiserver from running CEL rules. */
  blocking: boolean;
  /** Nodes with CEL rules, evaluated after the structural walk. */
  pendingRules: { node: SchemaNode; value: unknown; at: string }[];
}

const RULES_SKIPPED =
  'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

/**
 * Validates a value against a schema node in the apiserver's two phases: the
 * structural checks, then the cross-field rules, which the apiserver skips
 * entirely when a type, required, enum or size check failed anywhere (the
 * object then lacks the shape the rules were written for).
 */
function validateTree(value: unknown, node: SchemaNode, at: string, rejectUnknownFields: boolean): ValidationIssue[] {
  const ctx: ValidateContext = { issues: [], rejectUnknownFields, blocking: false, pendingRules: [] };
  validateNode(value, node, at, ctx);
  if (ctx.blocking) {
    if (node.subtreeHasRules) ctx.issues.push({ path: '<root>', message: RULES_SKIPPED });
    return ctx.issues;
  }
  for (const pending of ctx.pendingRules) {
    for (const rule of pending.node.rules) {
      if (rule.check === undefined || rule.check(pending.value)) continue;
      const where = rule.fieldPath === undefined ? pending.at : childPath(pending.at, rule.fieldPath);
      ctx.issues.push({ path: where === '' ? '<root>' : where, message: ruleFailure(rule, pending.value) });
    }
  }
  return ctx.issues;
}

// Friendlier wording for patterns users meet often.
const PATTERN_DESCRIPTIONS: ReadonlyMap<string, string> = new Map([
  ['^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$', 'must be a duration such as 30s, 5m or 1h30m'],
  ['^https?://', 'must be an http:// or https:// URL'],
]);

const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A value as the apiserver prints it in "Invalid value: ..." messages. */
function formatValue(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return '"array"';
  if (typeof value === 'object') return '"object"';
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function matchesType(value: unknown, type: SchemaType): boolean {
  switch (type) {
    case 'object':
      return isRecord(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
  }
}

function plural(n: number, word: string): string {
  return n === 1 ? `${n} ${word}` : `${n} ${word}s`;
}

function validateNode(value: unknown, node: SchemaNode, at: string, ctx: ValidateContext): void {
  const issue = (message: string, blocking = false): void => {
    ctx.issues.push({ path: at === '' ? '<root>' : at, message });
    ctx.blocking ||= blocking;
  };

  if (value === null) {
    if (!node.nullable) issue(`Invalid value: null: must be of type ${node.intOrString ? 'integer or string' : (node.type ?? 'object')}`, true);
    return;
  }
  if (node.intOrString) {
    if (!(typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value)))) {
      issue(`Invalid value: ${formatValue(value)}: must be an integer or a string`, true);
    }
  } else if (node.type !== undefined && !matchesType(value, node.type)) {
    issue(`Invalid value: ${formatValue(value)}: must be of type ${node.type}, not ${typeOf(value)}`, true);
    return;
  } else if (node.isObjectMeta) {
    validateObjectMeta(value, at, ctx);
  } else if (isRecord(value)) {
    validateObjectFields(value, node, at, ctx);
  } else if (Array.isArray(value)) {
    validateArray(value, node, at, ctx);
  } else if (typeof value === 'string') {
    validateString(value, node, issue);
  } else if (typeof value === 'number') {
    validateNumber(value, node, issue);
  }

  if (node.enum !== undefined && !node.enum.includes(value)) {
    issue(`Unsupported value: ${formatValue(value)}: supported values: ${node.enum.map(formatValue).join(', ')}`, true);
  }
  if (node.rules.length > 0) ctx.pendingRules.push({ node, value, at });
}

// Worded as the apiserver words a failed CEL rule of each reason; like it, the
// value is shown only when it is a scalar.
function ruleFailure(rule: CompiledRule, value: unknown): string {
  switch (rule.reason) {
    case 'FieldValueForbidden':
      return `Forbidden: ${rule.message}`;
    case 'FieldValueRequired':
      return `Required value: ${rule.message}`;
    case 'FieldValueInvalid':
      return typeof value === 'object'
        ? `Invalid value: ${rule.message}`
        : `Invalid value: ${formatValue(value)}: ${rule.message}`;
  }
}

function validateObjectFields(
  value: Record<string, unknown>,
  node: SchemaNode,
  at: string,
  ctx: ValidateContext,
): void {
  for (const key of node.required) {
    if (value[key] === undefined) {
      ctx.issues.push({ path: childPath(at, key), message: 'Required value' });
      ctx.blocking = true;
    }
  }
  for (const [key, child] of Object.entries(value)) {
    if (child === undefined) continue;
    const property = node.properties?.get(key);
    if (property !== undefined) {
      validateNode(child, property, childPath(at, key), ctx);
    } else if (node.additionalProperties !== undefined) {
      validateNode(child, node.additionalProperties, `${at}[${key}]`, ctx);
    } else if (!node.preserveUnknown && ctx.rejectUnknownFields) {
      ctx.issues.push({ path: childPath(at, key), message: 'Unknown field: it is not in the schema' });
    }
  }
}

function validateArray(value: unknown[], node: SchemaNode, at: string, ctx: ValidateContext): void {
  if (node.minItems !== undefined && value.length < node.minItems) {
    ctx.issues.push({
      path: at,
      message: `Invalid value: ${value.length}: must have at least ${plural(node.minItems, 'item')}`,
    });
  }
  if (node.maxItems !== undefined && value.length > node.maxItems) {
    ctx.issues.push({ path: at, message: `Too many: ${value.length}: must have at most ${plural(node.maxItems, 'item')}` });
    ctx.blocking = true;
  }
  if (node.items !== undefined) {
    const items = node.items;
    value.forEach((item, i) => validateNode(item, items, `${at}[${i}]`, ctx));
  }
  if (node.listType === 'map' || node.listType === 'set') {
    // Items are identified by their map keys (map) or whole value (set).
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const identity =
        node.listType === 'map' && isRecord(item)
          ? JSON.stringify(Object.fromEntries(node.listMapKeys.map((k) => [k, item[k]])))
          : JSON.stringify(item);
      if (seen.has(identity)) ctx.issues.push({ path: `${at}[${i}]`, message: `Duplicate value: ${identity}` });
      seen.add(identity);
    });
  }
}

function validateString(value: string, node: SchemaNode, issue: (message: string, blocking?: boolean) => void): void {
  const length = [...value].length;
  if (node.minLength !== undefined && length < node.minLength) {
    issue(`Invalid value: ${formatValue(value)}: must be at least ${plural(node.minLength, 'character')} long`);
  }
  if (node.maxLength !== undefined && length > node.maxLength) {
    issue(`Too long: may not be more than ${plural(node.maxLength, 'character')}`, true);
  }
  if (node.pattern !== undefined && !node.pattern.regex.test(value)) {
    const described = PATTERN_DESCRIPTIONS.get(node.pattern.source) ?? `must match '${node.pattern.source}'`;
    issue(`Invalid value: ${formatValue(value)}: ${described}`);
  }
  if (node.format === 'date-time' && !(DATE_TIME.test(value) && !Number.isNaN(Date.parse(value.replace(' ', 'T'))))) {
    issue(`Invalid value: ${formatValue(value)}: must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z`);
  }
}

function validateNumber(value: number, node: SchemaNode, issue: (message: string) => void): void {
  if (node.minimum !== undefined) {
    if (node.exclusiveMinimum && value <= node.minimum) {
      issue(`Invalid value: ${value}: must be greater than ${node.minimum}`);
    } else if (value < node.minimum) {
      issue(`Invalid value: ${value}: must be greater than or equal to ${node.minimum}`);
    }
  }
  if (node.maximum !== undefined) {
    if (node.exclusiveMaximum && value >= node.maximum) {
      issue(`Invalid value: ${value}: must be less than ${node.maximum}`);
    } else if (value > node.maximum) {
      issue(`Invalid value: ${value}: must be less than or equal to ${node.maximum}`);
    }
  }
}

// The apiserver validates ObjectMeta itself; these are the checks that matter
// before an object is sent.
function validateObjectMeta(meta: unknown, at: string, ctx: ValidateContext): void {
  if (!isRecord(meta)) {
    ctx.issues.push({ path: at, message: `Invalid value: ${formatValue(meta)}: must be of type object` });
    return;
  }
  const { name, generateName, namespace } = meta;
  if (name === undefined && generateName === undefined) {
    ctx.issues.push({ path: `${at}.name`, message: 'Required value: name or generateName is required' });
  }
  if (name !== undefined) {
    if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
      ctx.issues.push({
        path: `${at}.name`,
        message: `Invalid value: ${formatValue(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      });
    }
  }
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace))) {
    ctx.issues.push({
      path: `${at}.namespace`,
      message: `Invalid value: ${formatValue(namespace)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character`,
    });
  }
  for (const mapKey of ['labels', 'annotations']) {
    const map = meta[mapKey];
    if (map === undefined) continue;
    if (!isRecord(map)) {
      ctx.issues.push({ path: `${at}.${mapKey}`, message: `Invalid value: ${formatValue(map)}: must be of type object` });
      continue;
    }
    for (const [key, v] of Object.entries(map)) {
      if (typeof v !== 'string') {
        ctx.issues.push({ path: `${at}.${mapKey}[${key}]`, message: `Invalid value: ${formatValue(v)}: must be of type string` });
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Defaulting

// Copies JSON-shaped data; anything else (a Date, say) is kept by reference
// rather than flattened into an empty object.
function cloneJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneJson);
  if (isRecord(value) && [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneJson(v)]));
  }
  return value;
}

// As the apiserver does: drop nulls of non-nullable fields, fill missing
// fields of present objects from their defaults, then descend.
function defaultNode(value: unknown, node: SchemaNode): void {
  if (node.isObjectMeta) return;
  if (isRecord(value)) {
    if (node.properties !== undefined) {
      for (const [key, child] of node.properties) {
        if (value[key] === null && !child.nullable) delete value[key];
        if (value[key] === undefined && child.hasDefault) value[key] = cloneJson(child.default);
        if (value[key] !== undefined) defaultNode(value[key], child);
      }
    } else if (node.additionalProperties !== undefined) {
      for (const child of Object.values(value)) defaultNode(child, node.additionalProperties);
    }
  } else if (Array.isArray(value) && node.items !== undefined) {
    for (const item of value) defaultNode(item, node.items);
  }
}

const crds = loadCrds(CRD_DIR);

function crdFor(obj: unknown): LoadedCrd | undefined {
  const kind = field(obj, 'kind');
  if (field(obj, 'apiVersion') !== API_GROUP_VERSION || !isSluiceKind(kind)) return undefined;
  return crds.get(kind);
}

/**
 * A deep copy of `obj` with the CRD defaults filled in, as the apiserver
 * would store it. Objects that are not sluice objects are copied unchanged.
 */
export function applyDefaults<T>(obj: T): T {
  const copy = cloneJson(obj);
  const crd = crdFor(copy);
  if (crd !== undefined) defaultNode(copy, crd.root);
  return copy as T;
}

function check(obj: unknown, options: ValidateOptions): { issues: ValidationIssue[]; defaulted: unknown } {
  if (!isRecord(obj)) {
    return { issues: [{ path: '<root>', message: `Invalid value: ${formatValue(obj)}: must be an object` }], defaulted: obj };
  }
  const issues: ValidationIssue[] = [];
  const { apiVersion, kind } = obj;
  if (apiVersion === undefined) {
    issues.push({ path: 'apiVersion', message: 'Required value' });
  } else if (apiVersion !== API_GROUP_VERSION) {
    issues.push({
      path: 'apiVersion',
      message: `Unsupported value: ${formatValue(apiVersion)}: supported values: "${API_GROUP_VERSION}"`,
    });
  }
  if (kind === undefined) {
    issues.push({ path: 'kind', message: 'Required value' });
  } else if (!isSluiceKind(kind)) {
    issues.push({
      path: 'kind',
      message: `Unsupported value: ${formatValue(kind)}: supported values: ${SLUICE_KINDS.map((k) => `"${k}"`).join(', ')}`,
    });
  }
  const crd = crdFor(obj);
  if (issues.length > 0 || crd === undefined) return { issues, defaulted: obj };

  const defaulted = applyDefaults(obj);
  if (defaulted.metadata === undefined) {
    issues.push({ path: 'metadata.name', message: 'Required value: name or generateName is required' });
  }
  issues.push(...validateTree(defaulted, crd.root, '', options.rejectUnknownFields ?? true));
  return { issues, defaulted };
}

/**
 * Validates a sluice object against its CRD schema (after defaulting, like
 * the apiserver) and the cross-field rules. Objects of other API groups or
 * unknown kinds are invalid.
 */
export function validateObject(obj: unknown, options: ValidateOptions = {}): ValidationResult {
  const { issues } = check(obj, options);
  return { valid: issues.length === 0, issues };
}

// "spec.analysis.metrics[0].thresholdRange.min" -> "spec.analysis.metrics.thresholdRange"
function explainPath(issuePath: string): string | undefined {
  const segments = issuePath.replace(/\[[^\]]*\]/g, '').split('.');
  const parent = segments.slice(0, -1).join('.');
  return parent.startsWith('spec') || parent.startsWith('status') ? parent : undefined;
}

function describeInvalid(obj: unknown, issues: readonly ValidationIssue[]): string {
  const kind = field(obj, 'kind');
  const meta = field(obj, 'metadata');
  const name = field(meta, 'name');
  const namespace = field(meta, 'namespace');
  const kindText = isSluiceKind(kind) ? kind : 'object';
  const nameText =
    typeof name === 'string' ? ` "${typeof namespace === 'string' ? `${namespace}/` : ''}${name}"` : '';
  const lines = [`${kindText}${nameText} is invalid (${plural(issues.length, 'problem')}):`];
  for (const i of issues) lines.push(`  - ${i.path}: ${i.message}`);

  if (!isSluiceKind(kind) || issues.some((i) => i.path === 'apiVersion' || i.path === 'kind')) {
    lines.push(`Fix: use apiVersion ${API_GROUP_VERSION} and one of the kinds ${SLUICE_KINDS.join(', ')}.`);
    return lines.join('\n');
  }
  const targets = [...new Set(issues.map((i) => explainPath(i.path)).filter((p) => p !== undefined))].slice(0, 3);
  const explain = targets
    .map((p) => `\`kubectl explain ${kind.toLowerCase()}.${p} --api-version=${API_GROUP_VERSION}\``)
    .join(', ');
  lines.push(
    explain === ''
      ? 'Fix the fields listed above and apply again.'
      : `Fix the fields listed above and apply again; for the allowed values see ${explain}.`,
  );
  return lines.join('\n');
}

/**
 * Validates `obj` and returns a defaulted copy, typed by its kind. Throws a
 * SluiceError with code SPEC_INVALID listing every issue when it is invalid.
 */
export function assertValid(obj: unknown, options: ValidateOptions = {}): SluiceObject {
  const { issues, defaulted } = check(obj, options);
  if (issues.length > 0) throw new SluiceError(ErrorCodes.SpecInvalid, describeInvalid(obj, issues));
  return defaulted as SluiceObject;
}

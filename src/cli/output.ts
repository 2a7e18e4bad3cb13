// Tables, ages and the json/yaml printers of `get`-like commands.
import { dump } from 'js-yaml';
import { ErrorCodes, SluiceError } from '../errors.ts';

export type OutputFormat = 'table' | 'json' | 'yaml';

export function parseOutputFormat(value: string): OutputFormat {
  if (value === 'table' || value === 'json' || value === 'yaml' || value === 'wide') return value === 'wide' ? 'table' : value;
  throw new SluiceError(ErrorCodes.ConfigInvalid, `unknown output format "${value}"`, { hint: 'use -o table, -o json or -o yaml' });
}

/** Rows padded into columns separated by three spaces, as kubectl prints them. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** Padded row for streaming output, using widths fixed by the header. */
export function formatRow(widths: readonly number[], cells: readonly string[]): string {
  return cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
}

/** kubectl-style age: 45s, 12m, 3h, 5d. */
export function formatAge(timestamp: string | undefined, now = Date.now()): string {
  if (!timestamp) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

export function oneLine(text: string | undefined, max = 100): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 3)}...`;
}

export function toYaml(value: unknown): string {
  return dump(value, { noRefs: true, lineWidth: -1 });
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

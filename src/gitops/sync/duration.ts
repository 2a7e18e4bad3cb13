// Go durations as the Sync CRD accepts them (`30s`, `1m30s`, `1.5m`, `500ms`).
import { ErrorCodes, SluiceError } from '../../errors.ts';

const whole = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const part = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const unitMs: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go duration; throws SpecInvalid naming the field. */
export function parseDuration(text: string, field: string): number {
  if (!whole.test(text)) {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${field} "${text}" is not a duration`, { hint: 'use a Go duration such as 30s, 5m or 1h30m' });
  }
  let total = 0;
  for (const match of text.matchAll(part)) total += Number(match[1]) * (unitMs[match[2] ?? ''] ?? 0);
  return Math.round(total);
}

// Go durations as the CRDs accept them (pattern ^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$): the one parser.
import { ErrorCodes, SluiceError } from '../errors.ts';

const DURATION = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a Go duration such as "1m30s"; throws SpecInvalid naming the field. */
export function parseDuration(text: string, field = 'duration'): number {
  if (!DURATION.test(text)) {
    throw new SluiceError(ErrorCodes.SpecInvalid, `${field} "${text}" is not a duration`, { hint: 'use a Go duration such as 30s, 5m or 1h30m' });
  }
  let total = 0;
  for (const match of text.matchAll(PART)) total += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
  return Math.round(total);
}

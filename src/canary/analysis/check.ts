// What a query's answer means for a check. Exactly one number is a value;
// an empty vector or NaN (0/0 when a service had no requests in the window)
// is "no data"; anything else — several series, a range vector, a string —
// is an error that says what came back, never a silently picked value.
import type { ThresholdRange } from '../../api/types.ts';
import { ErrorCodes, SluiceError } from '../../errors.ts';
import type { QueryAnswer } from './providers/provider.ts';

export type Measurement =
  | { kind: 'value'; value: number; answer: string }
  | { kind: 'noData'; answer: string };

/** A value for messages: at most 6 significant digits, Infinity as Prometheus writes it. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(Number(value.toPrecision(6)));
}

function formatLabels(labels: Readonly<Record<string, string>>): string {
  const name = labels.__name__ ?? '';
  const rest = Object.entries(labels).filter(([key]) => key !== '__name__').map(([key, value]) => `${key}="${value}"`);
  return `${name}{${rest.join(',')}}`;
}

function listSeries(series: readonly { labels: Readonly<Record<string, string>> }[]): string {
  const shown = series.slice(0, 3).map((s) => formatLabels(s.labels));
  return shown.join(', ') + (series.length > shown.length ? `, and ${series.length - shown.length} more` : '');
}

/** Interprets an answer. Throws SluiceError(MetricResultInvalid) for answers that are not one number. */
export function measure(answer: QueryAnswer): Measurement {
  switch (answer.resultType) {
    case 'scalar':
      return Number.isNaN(answer.value)
        ? { kind: 'noData', answer: 'NaN (no requests in the query range?)' }
        : { kind: 'value', value: answer.value, answer: formatValue(answer.value) };
    case 'vector': {
      if (answer.series.length === 0) return { kind: 'noData', answer: 'empty result (no matching series)' };
      const [only] = answer.series;
      if (answer.series.length > 1 || !only) {
        throw new SluiceError(
          ErrorCodes.MetricResultInvalid,
          `the query returned ${answer.series.length} series (${listSeries(answer.series)}), not one value`,
          { hint: 'aggregate to a single series, e.g. sum(...) or max(...), or narrow the label selector' },
        );
      }
      return Number.isNaN(only.value)
        ? { kind: 'noData', answer: 'NaN (no requests in the query range?)' }
        : { kind: 'value', value: only.value, answer: formatValue(only.value) };
    }
    case 'matrix':
      throw new SluiceError(
        ErrorCodes.MetricResultInvalid,
        `the query returned a range vector (${answer.series.length} series${answer.series.length > 0 ? `: ${listSeries(answer.series)}` : ''}), not one value`,
        { hint: 'apply a function over the range, e.g. rate(x[1m]) or avg_over_time(x[1m]), and aggregate to one series' },
      );
    case 'string':
      throw new SluiceError(ErrorCodes.MetricResultInvalid, `the query returned the string ${JSON.stringify(answer.value.slice(0, 100))}, not a number`, {
        hint: 'the query must compute a number',
      });
  }
}

/** The range for messages: ">= 99", "<= 500" or "90..100". */
export function describeRange(range: ThresholdRange): string {
  if (range.min !== undefined && range.max !== undefined) return `${formatValue(range.min)}..${formatValue(range.max)}`;
  if (range.min !== undefined) return `>= ${formatValue(range.min)}`;
  if (range.max !== undefined) return `<= ${formatValue(range.max)}`;
  return 'any value';
}

/** Whether a value is in the threshold range; bounds are inclusive, as Flagger's. */
export function inRange(value: number, range: ThresholdRange): boolean {
  if (Number.isNaN(value)) return false;
  if (range.min !== undefined && value < range.min) return false;
  if (range.max !== undefined && value > range.max) return false;
  return true;
}

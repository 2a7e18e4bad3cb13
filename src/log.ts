import { randomUUID } from 'node:crypto';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

// Paths whose values are secrets wherever they appear in a log record.
const redactPaths = [
  'token', '*.token', 'password', '*.password', 'authorization', '*.authorization',
  'headers.authorization', '*.headers.authorization', 'secret', '*.secret',
  'address', '*.address', 'webhookURL', '*.webhookURL', 'data', '*.data', 'stringData', '*.stringData',
];

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where to write; defaults to stdout. Tests pass a stream to capture lines. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const settings = { level, base: { app: 'sluice' }, redact: { paths: redactPaths, censor: '[REDACTED]' } };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

export interface ObjectRef {
  kind: string;
  namespace?: string | undefined;
  name: string;
}

/** One child logger per reconcile, carrying the object and a reconcile id. */
export function reconcileLogger(parent: Logger, ref: ObjectRef): Logger {
  return parent.child({
    kind: ref.kind,
    namespace: ref.namespace,
    name: ref.name,
    reconcileID: randomUUID().slice(0, 8),
  });
}

// Graceful shutdown on SIGTERM/SIGINT. Kubernetes sends SIGTERM, waits
// terminationGracePeriodSeconds (30 s by default), then SIGKILLs; so the first
// signal runs the handler (stop queues, stop informers, release the lease),
// a second signal or the hard timeout gives up with exit code 1, and the hard
// timeout defaults to a little under those 30 s.

import { ErrorCodes, SluiceError } from '../errors.ts';
import { createLogger, type Logger } from '../log.ts';

export type SignalListener = (signal: NodeJS.Signals) => void;

/** Where signals come from: `process` in production, an EventEmitter in unit tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: SignalListener): unknown;
  off(signal: NodeJS.Signals, listener: SignalListener): unknown;
}

export interface ShutdownSignalOptions {
  /** Signals that start a shutdown. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[];
  /** Exit 1 if the handler has not finished this long after the first signal. Default 25,000 ms. */
  timeoutMs?: number;
  /** Ends the process. Default process.exit; tests inject a recorder. */
  exit?: (code: number) => void;
  /** Default `process`. */
  source?: SignalSource;
  logger?: Logger;
}

const defaultTimeoutMs = 25_000;
// One registration per source: two handlers racing to exit would make the exit code a coin toss.
const registered = new WeakSet<SignalSource>();

/**
 * Runs `handler` once on the first shutdown signal, then exits 0; exits 1 if
 * the handler fails, a second signal arrives, or `timeoutMs` passes first.
 * Returns a function that removes the signal listeners again.
 */
export function onShutdownSignal(handler: () => Promise<void>, options: ShutdownSignalOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const source: SignalSource = options.source ?? process;
  const logger = options.logger ?? createLogger({ level: 'silent' });
  if (!(timeoutMs > 0)) {
    throw new SluiceError(ErrorCodes.ConfigInvalid, `shutdown timeoutMs must be positive, got ${timeoutMs}`);
  }
  if (registered.has(source)) {
    throw new SluiceError(ErrorCodes.Internal, 'onShutdownSignal is already registered for this process', {
      hint: 'register one handler that stops every component',
    });
  }
  registered.add(source);

  let state: 'waiting' | 'running' | 'done' = 'waiting';
  let timer: NodeJS.Timeout | undefined;

  const dispose = (): void => {
    for (const signal of signals) source.off(signal, listener);
    registered.delete(source);
  };

  const finish = (code: number): void => {
    if (state === 'done') return;
    state = 'done';
    if (timer !== undefined) clearTimeout(timer);
    dispose();
    exit(code);
  };

  function listener(signal: NodeJS.Signals): void {
    if (state === 'done') return;
    if (state === 'running') {
      logger.error({ signal }, 'second shutdown signal; exiting without waiting for the shutdown to finish');
      finish(1);
      return;
    }
    state = 'running';
    logger.info({ signal, timeoutMs }, 'shutdown signal received; stopping');
    timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown did not finish in time; exiting');
      finish(1);
    }, timeoutMs);
    // Promise.resolve().then() also catches a handler that throws synchronously.
    void Promise.resolve()
      .then(handler)
      .then(
        () => {
          logger.info('shutdown complete');
          finish(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown handler failed');
          finish(1);
        },
      );
  }

  for (const signal of signals) source.on(signal, listener);
  return dispose;
}

// Child processes of the test environment (Prometheus, and whatever else the
// harness runs as a real binary): output goes to a log file, readiness is an
// HTTP check with a deadline, and a failure shows the end of that log so the
// reason is in the test output instead of in a file nobody opens.
//
// No child may outlive the test run. Three layers make sure of that:
//   1. stop(): SIGTERM, then SIGKILL after a grace period;
//   2. a process 'exit' hook (and SIGINT/SIGTERM/SIGHUP hooks) that SIGKILLs
//      every child still running when the test process ends normally (and
//      removes the temp dirs registered with removeOnExit);
//   3. where util-linux's setpriv exists, the child is started with
//      PR_SET_PDEATHSIG=SIGKILL, so the kernel kills it even if the test
//      process itself is SIGKILLed (a runner timeout) and no hook can run.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReadinessCheck {
  /** Polled until it answers as `accept` wants. */
  url: string;
  /** Default 30 s. */
  timeoutMs?: number;
  /** Sent with every poll, e.g. an Authorization header. */
  headers?: Record<string, string>;
  /** Default: HTTP 200. */
  accept?: (status: number, body: string) => boolean;
}

export interface StartProcessOptions {
  /** Short name for messages ("prometheus"). */
  name: string;
  command: string;
  args?: readonly string[];
  /** stdout and stderr are both appended here. */
  logFile: string;
  cwd?: string;
  /** The whole environment of the child; default: this process's. */
  env?: NodeJS.ProcessEnv;
  ready?: ReadinessCheck;
  /** Time between SIGTERM and SIGKILL on stop(); default 5 s. */
  stopGraceMs?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  error?: Error;
}

export interface RunningProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Null while running. */
  exitStatus(): ExitStatus | null;
  /** Resolves when the process has exited, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  /** The last lines of the log file. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after the grace period; resolves once it is gone. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

function killAllNow(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone; nothing to do.
    }
  }
  running.clear();
  // Temp dirs of environments nobody stopped (a crashed test). The children
  // may still hold files open for a moment; rm copes with that on Linux.
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/**
 * Deletes `dir` when the test process exits, should nobody have cleaned it
 * up; returns a function that deletes it now and forgets it.
 */
export function removeOnExit(dir: string): () => void {
  installExitHooks();
  tempDirs.add(dir);
  return () => {
    tempDirs.delete(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  };
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous, so this is SIGKILL, not a graceful stop.
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      // Keep the default meaning of the signal (terminate) unless someone
      // else handles it: re-raise it now that our listener is gone.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.once(signal, onSignal);
  }
}

let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/bin'])) {
    if (dir === '') continue;
    const candidate = path.join(dir, 'setpriv');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      setprivPath = candidate;
      break;
    } catch {
      // Not in this directory.
    }
  }
  return setprivPath;
}

/** The last `lines` lines of a log file ('' if it does not exist). */
export function readLogTail(file: string, lines = 40): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return '';
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    fs.readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
  } finally {
    fs.closeSync(fd);
  }
}

export interface WaitForHttpOptions extends Omit<ReadinessCheck, 'url'> {
  /** Stop waiting at once when this resolves (e.g. the process exited). */
  abortWhen?: Promise<string>;
}

/**
 * Polls `url` every 100 ms until `accept` is satisfied or the deadline passes;
 * throws with the last status or connection error seen.
 */
export async function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const accept = options.accept ?? ((status: number) => status === 200);
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  // An object, so the compiler does not narrow the callback's write away.
  const abort: { reason: string | null } = { reason: null };
  void options.abortWhen?.then((reason) => {
    abort.reason = reason;
  });
  while (Date.now() < deadline) {
    if (abort.reason !== null) throw new Error(`gave up waiting for ${url}: ${abort.reason}`);
    try {
      const perTry = Math.max(100, Math.min(2_000, deadline - Date.now()));
      const res = await fetch(url, { headers: options.headers, signal: AbortSignal.timeout(perTry) });
      const body = await res.text();
      if (accept(res.status, body)) return;
      last = `HTTP ${res.status}: ${body.slice(0, 200).trim()}`;
    } catch (err) {
      last = describeFetchError(err);
    }
    await sleep(100);
  }
  if (abort.reason !== null) throw new Error(`gave up waiting for ${url}: ${abort.reason}`);
  throw new Error(`${url} was not ready within ${timeoutMs} ms (last: ${last})`);
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause;
    if (cause instanceof Error) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}

function formatExit(status: ExitStatus): string {
  if (status.error) return `could not start: ${status.error.message}`;
  return status.signal ? `killed by ${status.signal}` : `exited with code ${String(status.code)}`;
}

/**
 * Starts `command` with its output in `logFile`, and, when `ready` is given,
 * waits until its readiness URL answers. On any failure the process is
 * stopped and the error carries the tail of the log.
 */
export async function startProcess(options: StartProcessOptions): Promise<RunningProcess> {
  installExitHooks();
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const logFd = fs.openSync(options.logFile, 'a');
  const setpriv = findSetpriv();
  const args = options.args ?? [];
  const [command, argv] = setpriv
    ? [setpriv, ['--pdeathsig', 'KILL', '--', options.command, ...args]]
    : [options.command, [...args]];
  let child: ChildProcess;
  try {
    child = spawn(command, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    // The child has its own copy of the descriptor.
    fs.closeSync(logFd);
  }
  running.add(child);

  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => {
      status = { code, signal };
      running.delete(child);
      resolve(status);
    });
    child.once('error', (error) => {
      // 'error' without 'exit' means spawn itself failed.
      if (child.pid === undefined) {
        status = { code: null, signal: null, error };
        running.delete(child);
        resolve(status);
      }
    });
  });

  const graceMs = options.stopGraceMs ?? 5_000;
  const handle: RunningProcess = {
    name: options.name,
    pid: child.pid ?? -1,
    logFile: options.logFile,
    exited,
    exitStatus: () => status,
    logTail: (lines?: number) => readLogTail(options.logFile, lines),
    stop: async () => {
      if (status !== null) return;
      child.kill('SIGTERM');
      const graceful = await Promise.race([exited.then(() => true), sleep(graceMs, false)]);
      if (graceful) return;
      child.kill('SIGKILL');
      const killed = await Promise.race([exited.then(() => true), sleep(5_000, false)]);
      if (!killed) throw new Error(`${options.name} (pid ${String(child.pid)}) did not exit after SIGKILL`);
    },
  };

  if (options.ready) {
    try {
      await waitForHttp(options.ready.url, {
        ...options.ready,
        abortWhen: exited.then((s) => `${options.name} ${formatExit(s)}`),
      });
    } catch (err) {
      await handle.stop();
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${options.name} did not become ready: ${message}\n--- last lines of ${options.logFile} ---\n${handle.logTail()}`,
        { cause: err },
      );
    }
  }
  return handle;
}

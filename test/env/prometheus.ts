// A real Prometheus (Debian's `prometheus` package) for the tests: its own
// config, its own TSDB in a temp dir, a free loopback port, and a scrape every
// second so rate() windows of a few seconds have data within moments. The
// system Prometheus the Debian package may run on :9090 is never touched.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { removeOnExit, startProcess, type RunningProcess } from './process.ts';

export interface BasicAuth {
  username: string;
  password: string;
}

export interface StartPrometheusOptions {
  /** host:port of each /metrics endpoint to scrape (job "traffic-generator"). */
  scrapeTargets: string[];
  /** Protect every endpoint (API, UI, /-/ready) with HTTP basic auth. */
  basicAuth?: BasicAuth;
  /** Default 1 s. */
  scrapeIntervalSeconds?: number;
  /** Time allowed for start-up and the first successful scrape; default 60 s. */
  timeoutMs?: number;
  /**
   * Wait until every target was scraped once (default true). Prometheus hands
   * new targets to its scrape loop on a fixed 5 s tick, so this costs ~5 s;
   * callers that poll their queries anyway can skip it.
   */
  waitForFirstScrape?: boolean;
}

export interface PrometheusInstance {
  /** e.g. http://127.0.0.1:40123 — the base URL for the HTTP API. */
  url: string;
  /** Where Prometheus's own log goes. */
  logFile: string;
  /** How long the last (re)start took until /-/ready answered. */
  readyMs: number;
  /** How long the last (re)start took until ready and (if waited for) scraped. */
  startupMs: number;
  /** Headers that authenticate a request (empty without basic auth). */
  authHeaders: Record<string, string>;
  /** Stops the process (keeping the data) to simulate an outage; see resume(). */
  pause(): Promise<void>;
  /** Starts it again after pause(), same URL and data, and waits until it is ready. */
  resume(): Promise<void>;
  /** pause() + resume(). */
  restart(): Promise<void>;
  /** Stops the process for good and deletes its temp dir. */
  stop(): Promise<void>;
}

export const SCRAPE_JOB = 'traffic-generator';

/**
 * A bcrypt hash for Prometheus's web config. Prometheus accepts only bcrypt;
 * apache2-utils' htpasswd makes one, reading the password from stdin so it
 * never appears in a process list.
 */
function bcryptHash(username: string, password: string): string {
  const result = spawnSync('htpasswd', ['-niBC', '10', username], { input: `${password}\n`, encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `cannot hash the Prometheus password: ${result.error.message}; install apache2-utils (scripts/setup.sh does)`,
    );
  }
  if (result.status !== 0) throw new Error(`htpasswd failed: ${result.stderr.trim()}`);
  const line = result.stdout.trim();
  const hash = line.slice(line.indexOf(':') + 1);
  if (!hash.startsWith('$2')) throw new Error('htpasswd did not produce a bcrypt hash');
  return hash;
}

function basicAuthHeader(auth: BasicAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

interface QueryResponse {
  status: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

/** Waits until every scrape target has been scraped successfully (up == 1) since `sinceMs`. */
async function waitForScrapes(
  url: string,
  headers: Record<string, string>,
  targets: readonly string[],
  sinceMs: number,
  deadline: number,
  prometheus: RunningProcess,
): Promise<void> {
  // The timestamp condition matters after a restart: the TSDB still holds
  // the `up` samples of the previous run, and they count for nothing now.
  const up = `up{job="${SCRAPE_JOB}"}`;
  const query = `${up} == 1 and timestamp(${up}) > ${sinceMs / 1000}`;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (prometheus.exitStatus() !== null) throw new Error('prometheus exited while waiting for the first scrape');
    try {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`, {
        headers,
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await res.json()) as QueryResponse;
      const scraped = new Set((body.data?.result ?? []).map((r) => r.metric.instance));
      if (targets.every((t) => scraped.has(t))) return;
      last = `scraped ${JSON.stringify([...scraped])}, want ${JSON.stringify(targets)}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(200);
  }
  throw new Error(`no successful scrape of ${targets.join(', ')} in time (last: ${last})`);
}

/** Starts Prometheus and waits until it is ready and has scraped every target once. */
export async function startPrometheus(options: StartPrometheusOptions): Promise<PrometheusInstance> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-prometheus-'));
  const removeDir = removeOnExit(dir);
  try {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const interval = `${options.scrapeIntervalSeconds ?? 1}s`;
    const configFile = path.join(dir, 'prometheus.yml');
    const dataDir = path.join(dir, 'data');
    const logFile = path.join(dir, 'prometheus.log');
    // JSON is YAML, and avoids any quoting questions.
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      scrape_configs: [{ job_name: SCRAPE_JOB, static_configs: [{ targets: options.scrapeTargets }] }],
    };
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const args = [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${dataDir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
    ];
    const authHeaders: Record<string, string> = {};
    if (options.basicAuth) {
      const webConfig = path.join(dir, 'web-config.yml');
      const users = { [options.basicAuth.username]: bcryptHash(options.basicAuth.username, options.basicAuth.password) };
      fs.writeFileSync(webConfig, JSON.stringify({ basic_auth_users: users }, null, 2), { mode: 0o600 });
      args.push(`--web.config.file=${webConfig}`);
      authHeaders.authorization = basicAuthHeader(options.basicAuth);
    }
    const timeoutMs = options.timeoutMs ?? 60_000;

    let current: RunningProcess | null = null;
    const launch = async (): Promise<{ readyMs: number; startupMs: number }> => {
      const started = Date.now();
      const proc = await startProcess({
        name: 'prometheus',
        command: 'prometheus',
        args,
        cwd: dir,
        logFile,
        ready: { url: `${url}/-/ready`, headers: authHeaders, timeoutMs },
      });
      current = proc;
      const readyMs = Date.now() - started;
      if (options.scrapeTargets.length > 0 && options.waitForFirstScrape !== false) {
        try {
          await waitForScrapes(url, authHeaders, options.scrapeTargets, started, started + timeoutMs, proc);
        } catch (err) {
          await proc.stop();
          current = null;
          const message = err instanceof Error ? err.message : String(err);
          throw new Error(`prometheus: ${message}\n--- last lines of ${logFile} ---\n${proc.logTail()}`, { cause: err });
        }
      }
      return { readyMs, startupMs: Date.now() - started };
    };

    const instance: PrometheusInstance = {
      url,
      logFile,
      ...(await launch()),
      authHeaders,
      pause: async () => {
        const proc = current;
        current = null;
        await proc?.stop();
      },
      resume: async () => {
        if (current !== null) return;
        Object.assign(instance, await launch());
      },
      restart: async () => {
        await instance.pause();
        await instance.resume();
      },
      stop: async () => {
        await instance.pause();
        removeDir();
      },
    };
    return instance;
  } catch (err) {
    removeDir();
    throw err;
  }
}

// Controller configuration from flags, then environment, then defaults.
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LevelWithSilent } from 'pino';
import { CanaryProviders, type CanaryProvider } from './api/types.ts';
import { ErrorCodes, SluiceError } from './errors.ts';

export interface ControllerConfig {
  kubeconfig: string | undefined;
  context: string | undefined;
  /** Namespaces to watch; empty means all. */
  namespaces: string[];
  logLevel: LevelWithSilent;
  /** Port of the health (/healthz, /readyz) and metrics server; 0 picks a free port. */
  healthPort: number;
  healthAddress: string;
  /** Reconciles running at once per controller. */
  concurrency: number;
  leaderElect: boolean;
  leaseNamespace: string;
  leaseName: string;
  /** Leader election timings (client-go's LeaseDuration, RenewDeadline, RetryPeriod), in ms. */
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** Port of the webhook receiver (Receiver objects' /hook/... paths), bound on healthAddress; 0 picks a free port. */
  receiverPort: number;
  /** Directory for the shared on-disk Git object cache of GitRepositories. */
  gitCacheDir: string;
  /** Size limit of a GitRepository fetch and artifact when spec.maxSizeBytes is not set. */
  gitMaxSizeBytes: number;
  /** Bound on the Git cache's total bytes: least recently used entries are evicted beyond it; 0 means unbounded. */
  gitCacheMaxBytes: number;
  /** Traffic router of Canaries without spec.provider (Flagger's -mesh-provider). */
  canaryProvider: CanaryProvider;
  /** Prometheus address for built-in metric checks of Canaries without spec.metricsServer (Flagger's -metrics-server); none by default. */
  metricsServer: string | undefined;
}

export const configUsage = `usage: sluice-controller [flags]

flags (each also read from the environment variable shown):
  --kubeconfig PATH        kubeconfig to use; default in-cluster, then $KUBECONFIG   (KUBECONFIG)
  --context NAME           kubeconfig context                                       (SLUICE_CONTEXT)
  --namespaces A,B         namespaces to watch; default all                         (SLUICE_NAMESPACES)
  --log-level LEVEL        trace|debug|info|warn|error|fatal|silent; default info    (SLUICE_LOG_LEVEL)
  --health-port N          port for /healthz, /readyz and /metrics; default 8080    (SLUICE_HEALTH_PORT)
  --health-address ADDR    address to bind; default 0.0.0.0                          (SLUICE_HEALTH_ADDRESS)
  --concurrency N          reconciles at once per controller; default 4             (SLUICE_CONCURRENCY)
  --leader-elect BOOL      run leader election; default false                       (SLUICE_LEADER_ELECT)
  --lease-namespace NS     namespace of the leader Lease; default sluice-system      (SLUICE_LEASE_NAMESPACE)
  --lease-name NAME        name of the leader Lease; default sluice-controller       (SLUICE_LEASE_NAME)
  --lease-duration D       how long a standby waits before taking over an unrenewed
                           Lease; default 15s                                       (SLUICE_LEASE_DURATION)
  --renew-deadline D       how long the leader retries renewing before it steps
                           down; shorter than --lease-duration; default 10s         (SLUICE_RENEW_DEADLINE)
  --retry-period D         time between acquire/renew attempts; default 2s          (SLUICE_RETRY_PERIOD)
  --receiver-port N        port for Receiver webhooks (/hook/...), on --health-address;
                           default 9292                                             (SLUICE_RECEIVER_PORT)
  --git-cache-dir DIR      on-disk Git object cache; default $TMPDIR/sluice-git-cache (SLUICE_GIT_CACHE_DIR)
  --git-max-size-bytes N   default size limit of a Git fetch and artifact;
                           default 67108864 (64 MiB)                                (SLUICE_GIT_MAX_SIZE_BYTES)
  --git-cache-max-bytes N  bound on the Git cache's total size; least recently used
                           repositories are evicted beyond it (and fetched again when
                           needed); keep it below the cache volume's size; 0 means
                           unbounded; default 671088640 (640 MiB)                   (SLUICE_GIT_CACHE_MAX_BYTES)
  --canary-provider NAME   router of Canaries without spec.provider: ${CanaryProviders.join('|')};
                           default kubernetes                                       (SLUICE_CANARY_PROVIDER)
  --metrics-server URL     Prometheus for built-in metric checks of Canaries without
                           spec.metricsServer, e.g. http://prometheus.monitoring:9090;
                           default none                                             (SLUICE_METRICS_SERVER)
`;

const logLevels: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function invalid(message: string): SluiceError {
  return new SluiceError(ErrorCodes.ConfigInvalid, message, { hint: 'run with --help for the list of flags' });
}

function integer(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`--${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  return value;
}

function duration(name: string, raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(raw);
  if (!match) throw invalid(`--${name} must be a duration such as 500ms, 15s or 1m, got "${raw}"`);
  const ms = Math.round(Number(match[1]) * (match[2] === 'ms' ? 1 : match[2] === 's' ? 1_000 : 60_000));
  if (ms <= 0) throw invalid(`--${name} must be longer than 0, got "${raw}"`);
  return ms;
}

function httpUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(`--${name} must be an http(s) URL such as http://prometheus:9090, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`--${name} must be an http(s) URL such as http://prometheus:9090, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

function boolean(name: string, raw: string): boolean {
  if (['true', '1', 'yes'].includes(raw.toLowerCase())) return true;
  if (['false', '0', 'no'].includes(raw.toLowerCase())) return false;
  throw invalid(`--${name} must be true or false, got "${raw}"`);
}

/** Parses flags and environment; throws SluiceError(ConfigInvalid) naming the bad setting. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ControllerConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      options: {
        kubeconfig: { type: 'string' }, context: { type: 'string' }, namespaces: { type: 'string' },
        'log-level': { type: 'string' }, 'health-port': { type: 'string' }, 'health-address': { type: 'string' },
        concurrency: { type: 'string' }, 'leader-elect': { type: 'string' },
        'lease-namespace': { type: 'string' }, 'lease-name': { type: 'string' },
        'lease-duration': { type: 'string' }, 'renew-deadline': { type: 'string' }, 'retry-period': { type: 'string' },
        'receiver-port': { type: 'string' }, 'git-cache-dir': { type: 'string' }, 'git-max-size-bytes': { type: 'string' },
        'git-cache-max-bytes': { type: 'string' },
        'canary-provider': { type: 'string' }, 'metrics-server': { type: 'string' },
      },
    }).values;
  } catch (error) {
    throw invalid((error as Error).message);
  }
  const pick = (flag: keyof typeof parsed, variable: string): string | undefined => parsed[flag] ?? env[variable];

  const logLevel = pick('log-level', 'SLUICE_LOG_LEVEL') ?? 'info';
  if (!logLevels.includes(logLevel as LevelWithSilent)) throw invalid(`--log-level must be one of ${logLevels.join(', ')}, got "${logLevel}"`);
  const namespaces = (pick('namespaces', 'SLUICE_NAMESPACES') ?? '').split(',').map((n) => n.trim()).filter(Boolean);
  for (const namespace of namespaces) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) throw invalid(`--namespaces: "${namespace}" is not a valid namespace name`);
  }
  const canaryProvider = pick('canary-provider', 'SLUICE_CANARY_PROVIDER') || 'kubernetes';
  if (!(CanaryProviders as readonly string[]).includes(canaryProvider)) {
    throw invalid(`--canary-provider must be one of ${CanaryProviders.join(', ')}, got "${canaryProvider}"`);
  }
  const metricsServer = pick('metrics-server', 'SLUICE_METRICS_SERVER') || undefined;
  return {
    kubeconfig: pick('kubeconfig', 'KUBECONFIG') || undefined,
    context: pick('context', 'SLUICE_CONTEXT') || undefined,
    namespaces,
    logLevel: logLevel as LevelWithSilent,
    healthPort: integer('health-port', pick('health-port', 'SLUICE_HEALTH_PORT') ?? '8080', 0, 65535),
    healthAddress: pick('health-address', 'SLUICE_HEALTH_ADDRESS') ?? '0.0.0.0',
    concurrency: integer('concurrency', pick('concurrency', 'SLUICE_CONCURRENCY') ?? '4', 1, 256),
    leaderElect: boolean('leader-elect', pick('leader-elect', 'SLUICE_LEADER_ELECT') ?? 'false'),
    leaseNamespace: pick('lease-namespace', 'SLUICE_LEASE_NAMESPACE') ?? 'sluice-system',
    leaseName: pick('lease-name', 'SLUICE_LEASE_NAME') ?? 'sluice-controller',
    leaseDurationMs: duration('lease-duration', pick('lease-duration', 'SLUICE_LEASE_DURATION') ?? '15s'),
    renewDeadlineMs: duration('renew-deadline', pick('renew-deadline', 'SLUICE_RENEW_DEADLINE') ?? '10s'),
    retryPeriodMs: duration('retry-period', pick('retry-period', 'SLUICE_RETRY_PERIOD') ?? '2s'),
    receiverPort: integer('receiver-port', pick('receiver-port', 'SLUICE_RECEIVER_PORT') ?? '9292', 0, 65535),
    gitCacheDir: path.resolve(pick('git-cache-dir', 'SLUICE_GIT_CACHE_DIR') || path.join(os.tmpdir(), 'sluice-git-cache')),
    gitMaxSizeBytes: integer('git-max-size-bytes', pick('git-max-size-bytes', 'SLUICE_GIT_MAX_SIZE_BYTES') ?? String(64 * 1024 * 1024), 1, Number.MAX_SAFE_INTEGER),
    gitCacheMaxBytes: integer('git-cache-max-bytes', pick('git-cache-max-bytes', 'SLUICE_GIT_CACHE_MAX_BYTES') ?? String(640 * 1024 * 1024), 0, Number.MAX_SAFE_INTEGER),
    canaryProvider: canaryProvider as CanaryProvider,
    metricsServer: metricsServer === undefined ? undefined : httpUrl('metrics-server', metricsServer),
  };
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { ErrorCodes, SluiceError } from './errors.ts';
import { parseConfig } from './config.ts';

test('defaults', () => {
  const config = parseConfig([], {});
  assert.deepEqual(config, {
    kubeconfig: undefined, context: undefined, namespaces: [], logLevel: 'info', healthPort: 8080,
    healthAddress: '0.0.0.0', concurrency: 4, leaderElect: false, leaseNamespace: 'sluice-system', leaseName: 'sluice-controller',
    leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000,
    receiverPort: 9292, gitCacheDir: path.join(os.tmpdir(), 'sluice-git-cache'), gitMaxSizeBytes: 64 * 1024 * 1024,
    gitCacheMaxBytes: 640 * 1024 * 1024, canaryProvider: 'kubernetes', metricsServer: undefined,
  });
});

test('flags win over environment, environment over defaults', () => {
  const env = { KUBECONFIG: '/env/kc', SLUICE_NAMESPACES: 'a, b', SLUICE_CONCURRENCY: '8', SLUICE_LEADER_ELECT: 'yes' };
  const config = parseConfig(['--kubeconfig', '/flag/kc', '--log-level=debug'], env);
  assert.equal(config.kubeconfig, '/flag/kc');
  assert.deepEqual(config.namespaces, ['a', 'b']);
  assert.equal(config.concurrency, 8);
  assert.equal(config.leaderElect, true);
  assert.equal(config.logLevel, 'debug');
});

test('bad settings are ConfigInvalid errors naming the setting', () => {
  const cases: [string[], RegExp][] = [
    [['--concurrency', '0'], /--concurrency must be an integer from 1 to 256, got "0"/],
    [['--health-port', 'http'], /--health-port must be an integer/],
    [['--log-level', 'loud'], /--log-level must be one of/],
    [['--leader-elect', 'maybe'], /--leader-elect must be true or false/],
    [['--namespaces', 'Prod_1'], /"Prod_1" is not a valid namespace name/],
    [['--nonsense'], /Unknown option '--nonsense'/],
    [['--receiver-port', '70000'], /--receiver-port must be an integer from 0 to 65535/],
    [['--git-max-size-bytes', '0'], /--git-max-size-bytes must be an integer from 1/],
    [['--git-cache-max-bytes=-1'], /--git-cache-max-bytes must be an integer from 0/],
    [['--git-cache-max-bytes', '1Gi'], /--git-cache-max-bytes must be an integer from 0/],
    [['--lease-duration', '15'], /--lease-duration must be a duration such as 500ms, 15s or 1m, got "15"/],
    [['--canary-provider', 'traefik'], /--canary-provider must be one of kubernetes, nginx, istio, linkerd, smi, smi:v1alpha4, gatewayapi, gatewayapi:v1, got "traefik"/],
    [['--metrics-server', 'prometheus:9090'], /--metrics-server must be an http\(s\) URL such as http:\/\/prometheus:9090, got "prometheus:9090"/],
    [['--metrics-server', 'not a url'], /--metrics-server must be an http\(s\) URL/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => parseConfig(argv, {}), (error: unknown) =>
      error instanceof SluiceError && error.code === ErrorCodes.ConfigInvalid && message.test(error.message), argv.join(' '));
  }
});

test('receiver port and Git cache settings', () => {
  const config = parseConfig(['--receiver-port=0', '--git-max-size-bytes=1024'], { SLUICE_GIT_CACHE_DIR: 'relative/cache' });
  assert.equal(config.receiverPort, 0);
  assert.equal(config.gitMaxSizeBytes, 1024);
  assert.equal(config.gitCacheDir, path.resolve('relative/cache'));
  assert.equal(parseConfig(['--git-cache-max-bytes=0'], {}).gitCacheMaxBytes, 0, '0 means unbounded');
  assert.equal(parseConfig([], { SLUICE_GIT_CACHE_MAX_BYTES: '1048576' }).gitCacheMaxBytes, 1048576);
  assert.equal(parseConfig(['--git-cache-max-bytes=2048'], { SLUICE_GIT_CACHE_MAX_BYTES: '1048576' }).gitCacheMaxBytes, 2048);
});

test('leader election timings', () => {
  const config = parseConfig(['--lease-duration=4s', '--renew-deadline=2500ms'], { SLUICE_RETRY_PERIOD: '0.5s' });
  assert.equal(config.leaseDurationMs, 4_000);
  assert.equal(config.renewDeadlineMs, 2_500);
  assert.equal(config.retryPeriodMs, 500);
});

test('canary provider and metrics server, from flags or environment', () => {
  const fromEnv = parseConfig([], { SLUICE_CANARY_PROVIDER: 'istio', SLUICE_METRICS_SERVER: 'http://prometheus.monitoring:9090/' });
  assert.equal(fromEnv.canaryProvider, 'istio');
  assert.equal(fromEnv.metricsServer, 'http://prometheus.monitoring:9090');
  const fromFlags = parseConfig(['--canary-provider=gatewayapi:v1', '--metrics-server', 'https://prom.example.com'], { SLUICE_CANARY_PROVIDER: 'istio' });
  assert.equal(fromFlags.canaryProvider, 'gatewayapi:v1');
  assert.equal(fromFlags.metricsServer, 'https://prom.example.com');
  assert.throws(() => parseConfig([], { SLUICE_CANARY_PROVIDER: 'Istio' }), (error: unknown) => error instanceof SluiceError && error.code === ErrorCodes.ConfigInvalid && /--canary-provider must be one of/.test(error.message));
});

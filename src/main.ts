// Controller entry point: config → client → CRD check → controllers → health server.
import { setTimeout as sleep } from 'node:timers/promises';
import { API_GROUP_VERSION, SLUICE_KINDS } from './api/types.ts';
import { configUsage, parseConfig, type ControllerConfig } from './config.ts';
import { controllerFactories, createDeps, type RunningController } from './controllers.ts';
import { ErrorCodes, SluiceError, isSluiceError, toSluiceError } from './errors.ts';
import { KubeClient } from './kube/client.ts';
import { EventRecorder } from './kube/events.ts';
import { createLogger, type Logger } from './log.ts';
import { ClusterNotifier } from './notify/notifier.ts';
import { analysisMetrics } from './canary/analysis/metrics.ts';
import { startHealthServer, type HealthServer } from './runtime/health.ts';
import { LeaderElector, LeadershipState } from './runtime/leader.ts';
import { ControllerMetrics, familiesOf, queueOf } from './runtime/metrics.ts';
import { onShutdownSignal } from './runtime/shutdown.ts';

export interface ControllerProcess {
  health: HealthServer;
  controllers: RunningController[];
  metrics: ControllerMetrics;
  /** Present with --leader-elect. */
  elector: LeaderElector | undefined;
  /** Resolves with the reason when this replica loses leadership; no new reconcile starts after it. Never resolves without --leader-elect. */
  leadershipLost: Promise<string>;
  stop(): Promise<void>;
}

/** Waits until the API server answers and serves every sluice kind. */
async function checkCrdsInstalled(client: KubeClient, log: Logger, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      for (const kind of SLUICE_KINDS) await client.resourceFor(API_GROUP_VERSION, kind);
      return;
    } catch (error) {
      if (isSluiceError(error, ErrorCodes.KubeUnknownKind)) {
        throw new SluiceError(ErrorCodes.ConfigInvalid, `sluice's CRDs are not installed: ${error.message}`, {
          hint: 'install them with `kubectl apply --server-side -f crds/` (or the Helm chart) and start again',
        });
      }
      const mapped = toSluiceError(error);
      if (!mapped.retryable) throw mapped;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
      log.warn({ code: mapped.code, err: mapped.message, retryInMs: delay }, 'API server not reachable yet');
      await sleep(delay, undefined, { signal });
    }
  }
}

export async function startControllerProcess(config: ControllerConfig, log: Logger): Promise<ControllerProcess> {
  const client = KubeClient.connect({ kubeconfig: config.kubeconfig, context: config.context });
  log.info({ server: client.rest.connection.server, namespaces: config.namespaces.length > 0 ? config.namespaces : 'all' }, 'starting sluice');
  await checkCrdsInstalled(client, log);
  const events = new EventRecorder(client, { logger: log });
  // With leader election every replica runs the informers (a standby's caches
  // are warm, so it reconciles at once on taking the Lease) but only the
  // leader reconciles and writes status.
  const leadership = new LeadershipState(!config.leaderElect);
  // Alerts of one watched namespace are watched there; several namespaces need a cluster-wide watch.
  const notifier = new ClusterNotifier({
    client, logger: log, recorder: events, namespace: config.namespaces.length === 1 ? config.namespaces[0] : undefined,
    holdStatusWrites: config.leaderElect,
  });
  notifier.start();
  const deps = createDeps({ config, client, logger: log, events, notifier, leadership });
  const controllers = controllerFactories.map((factory) => factory(deps));
  let notifierSynced = false;
  void notifier.waitForSync().then(() => { notifierSynced = true; }, () => undefined);
  const health = await startHealthServer({ port: config.healthPort, address: config.healthAddress });
  const metrics = new ControllerMetrics();
  for (const controller of controllers) {
    const queue = queueOf(controller);
    if (queue) metrics.watchQueue(controller.name, queue);
  }
  metrics.addSnapshot(() => familiesOf(notifier.metrics.snapshot()));
  metrics.addSnapshot(() => analysisMetrics.snapshot());
  health.addRoute('/metrics', async (res) => {
    const body = await metrics.render();
    res.writeHead(200, { 'Content-Type': metrics.contentType }).end(body);
  });

  // What a standby may start: controllers that reconcile on every replica
  // (Receivers), and those whose work queue can be paused (informers run and
  // fill the queue; nothing is reconciled until resume). Anything else starts
  // on the leader only.
  const warm = controllers.filter((c) => c.reconcilesOnStandby === true || queueOf(c) !== undefined);
  const leaderOnly = controllers.filter((c) => !warm.includes(c));
  const paused = config.leaderElect ? warm.filter((c) => c.reconcilesOnStandby !== true).map((c) => queueOf(c)).filter((q) => q !== undefined) : [];
  const started = new Set<RunningController>();
  health.addReadinessCheck('caches', () => {
    // A standby is ready once its caches have synced: it stands by, able to take over at once.
    const waiting = [...controllers.filter((c) => started.has(c) && !c.hasSynced()).map((c) => c.name), ...(notifierSynced ? [] : ['notifier'])];
    return { ok: waiting.length === 0, message: `caches not synced: ${waiting.join(', ')}` };
  });
  for (const queue of paused) queue.pause();
  for (const controller of config.leaderElect ? warm : controllers) {
    await controller.start();
    started.add(controller);
  }
  let reconciling = false;
  const startReconciling = async (): Promise<void> => {
    if (reconciling) return;
    reconciling = true;
    leadership.set(true, log);
    notifier.startStatusWrites();
    for (const queue of paused) queue.resume();
    for (const controller of leaderOnly) {
      if (started.has(controller)) continue;
      await controller.start();
      started.add(controller);
    }
    log.info({ controllers: controllers.map((c) => c.name) }, 'controllers started');
  };
  let elector: LeaderElector | undefined;
  let onLost: (reason: string) => void = () => undefined;
  const leadershipLost = new Promise<string>((resolve) => { onLost = resolve; });
  if (config.leaderElect) {
    log.info({ warm: warm.map((c) => c.name), onEveryReplica: warm.filter((c) => c.reconcilesOnStandby === true).map((c) => c.name) }, 'caches started; standing by for the Lease');
    elector = new LeaderElector({
      client, namespace: config.leaseNamespace, name: config.leaseName, logger: log,
      leaseDurationMs: config.leaseDurationMs, renewDeadlineMs: config.renewDeadlineMs, retryPeriodMs: config.retryPeriodMs,
      onStartedLeading: startReconciling,
      onStoppedLeading: (reason) => {
        // No new reconciles from now on; main exits at once, ending in-flight ones
        // too, so nothing is written after another replica may have taken over.
        leadership.set(false, log);
        health.markShuttingDown();
        void Promise.all(controllers.map((c) => c.stop()));
        onLost(reason);
      },
    });
    const leader = elector;
    metrics.watchLeader(() => leader.isLeader);
    health.addReadinessCheck('leader-election', () => leader.health());
    elector.start();
  } else {
    await startReconciling();
  }
  log.info({ healthPort: health.port, leaderElection: elector ? { lease: `${config.leaseNamespace}/${config.leaseName}`, identity: elector.identity } : false }, 'sluice started');
  return {
    health,
    controllers,
    metrics,
    elector,
    leadershipLost,
    async stop() {
      health.markShuttingDown();
      await Promise.all(controllers.map((c) => c.stop()));
      // Released only after the reconcilers finished, so two leaders never overlap.
      await elector?.stop();
      // After the reconcilers, so their last events are still delivered.
      await notifier.stop();
      await health.close();
      client.close();
    },
  };
}

async function main(): Promise<void> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    process.stdout.write(configUsage);
    return;
  }
  let config: ControllerConfig;
  try {
    config = parseConfig(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sluice: ${toSluiceError(error).describe()}\n`);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel });
  try {
    const running = await startControllerProcess(config, log);
    void running.leadershipLost.then((reason) => {
      log.fatal({ reason }, 'lost leadership; exiting so a restart campaigns afresh');
      process.exit(1);
    });
    onShutdownSignal(async () => {
      log.info('shutting down: finishing in-flight reconciles');
      await running.stop();
      log.info('stopped');
    }, { logger: log });
  } catch (error) {
    const mapped = toSluiceError(error);
    log.fatal({ code: mapped.code, err: mapped.message, hint: mapped.hint }, 'sluice could not start');
    process.exit(1);
  }
}

if (import.meta.main) await main();

// The harness of the Canary integration tests, written once: the controller
// scoped to a test namespace with its stages recorded, the target Deployment
// applied the way a Git sync would, Canary objects and waiting for a phase.
import { pino, type Logger } from 'pino';
import { API_GROUP_VERSION, type Canary, type CanaryAnalysis, type CanaryProvider, type CanarySpec } from '../../src/api/types.ts';
import { CanaryController } from '../../src/canary/controller.ts';
import { stageEmitter } from '../../src/canary/stages.ts';
import type { Stage } from '../../src/canary/state.ts';
import { parseConfig } from '../../src/config.ts';
import { createDeps } from '../../src/controllers.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { EventRecorder } from '../../src/kube/events.ts';
import type { Notifier } from '../../src/notify/event.ts';
import { eventually, kubectlOk } from './cluster.ts';
import { deploymentYaml, type DeploymentExtras } from './manifests.ts';

/** CANARY_TEST_LOG=debug shows the controller's log on stderr. */
export const canaryTestLogger: Logger = pino({ level: process.env.CANARY_TEST_LOG ?? 'silent' }, pino.destination(2));

export interface CanaryHarness {
  controller: CanaryController;
  /** Every stage the controller emitted, in order. */
  stages: Stage[];
  stop(): Promise<void>;
}

export interface CanaryHarnessOptions {
  /** canaryTestLogger unless given. */
  logger?: Logger;
  /** The recorder the controller's Events go through; a new one unless given. */
  events?: EventRecorder;
  /** The notifier behind the stages; createDeps's own unless given. */
  notifier?: Notifier;
  /** Prometheus for built-in metrics (--metrics-server). */
  metricsServer?: string;
}

/**
 * A CanaryController watching only `namespace`, started and synced. Its stages
 * go through the real emitter (Kubernetes Events, event webhooks, the
 * notifier) and are also kept for assertions.
 */
export async function startController(client: KubeClient, namespace: string, options: CanaryHarnessOptions = {}): Promise<CanaryHarness> {
  const logger = options.logger ?? canaryTestLogger;
  const config = { ...parseConfig([], {}), namespaces: [namespace] };
  const events = options.events ?? new EventRecorder(client, { logger });
  const deps = createDeps({ config, client, logger, events, notifier: options.notifier });
  const stages: Stage[] = [];
  const real = stageEmitter({ notifier: deps.notifier, events, logger });
  const controller = new CanaryController(deps, {
    metricsServer: options.metricsServer,
    onStages: {
      async emit(canary, emitted, context) {
        stages.push(...emitted);
        await real.emit(canary, emitted, context);
      },
      analysis: (specs) => real.analysis(specs),
    },
  });
  await controller.start();
  await controller.controller.waitForSync(AbortSignal.timeout(20_000));
  return { controller, stages, stop: () => controller.stop() };
}

/** A Canary target: `replicas` (2 unless given) serving port 8080 named http, as YAML. */
export function targetDeploymentYaml(name: string, image: string, options: { replicas?: number } & Omit<DeploymentExtras, 'ports'> = {}): string {
  const { replicas = 2, ...extras } = options;
  return deploymentYaml(name, image, replicas, { ports: [{ containerPort: 8080, name: 'http' }], ...extras });
}

/**
 * Applies the Deployment the way a Git sync would: server-side, as field
 * manager "git", forcing conflicts unless told not to.
 */
export async function applyDeployment(namespace: string, yaml: string, options: { forceConflicts?: boolean } = {}): Promise<void> {
  const force = (options.forceConflicts ?? true) ? ['--force-conflicts'] : [];
  await kubectlOk(['apply', '--server-side', ...force, '--field-manager=git', '-f', '-'], { namespace, input: yaml });
}

/** A Canary of the Deployment `name`: service port 80 → 8080, analysis every 2s with threshold 2 unless `analysis` says otherwise. */
export function canaryObject(namespace: string, name: string, provider: CanaryProvider, analysis: CanaryAnalysis, extra: Partial<CanarySpec> = {}): Canary {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: 'Canary',
    metadata: { name, namespace },
    spec: {
      provider,
      targetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      service: { port: 80, targetPort: 8080 },
      analysis: { interval: '2s', threshold: 2, ...analysis },
      ...extra,
    },
  };
}

export async function getCanary(client: KubeClient, namespace: string, name: string): Promise<Canary> {
  return client.get<Canary>({ apiVersion: API_GROUP_VERSION, kind: 'Canary', namespace, name });
}

/** Resolves with the Canary once its status says `phase`. */
export async function waitForPhase(client: KubeClient, namespace: string, name: string, phase: string, timeoutMs = 60_000, intervalMs = 200): Promise<Canary> {
  return eventually(async () => {
    const canary = await getCanary(client, namespace, name);
    return canary.status?.phase === phase ? canary : undefined;
  }, { timeoutMs, intervalMs, what: `Canary ${name} phase ${phase}` });
}

/** Runs `tick` every 100 ms (after the last one ends) until stopped; stop() resolves once the last tick is done. */
export function everyTick(tick: () => Promise<void>): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      await tick();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

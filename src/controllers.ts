// The registry of controllers main.ts starts. A new controller is one line here.
import type { Logger } from 'pino';
import type { ControllerConfig } from './config.ts';
import type { KubeClient } from './kube/client.ts';
import type { EventRecorder } from './kube/events.ts';
import type { Notifier } from './notify/event.ts';
import type { Leadership } from './runtime/leader.ts';
import { recorderNotifier } from './notify/recorder-notifier.ts';
import { ArtifactStore } from './gitops/source/artifact.ts';
import { createGitRepositoryController } from './gitops/source/controller.ts';
import { createReceiverController } from './gitops/receiver/controller.ts';
import { createSyncController } from './gitops/sync/controller.ts';
import { createCanaryController } from './canary/controller.ts';

/** What every controller factory gets. */
export interface ControllerDeps {
  config: ControllerConfig;
  client: KubeClient;
  events: EventRecorder;
  logger: Logger;
  artifacts: ArtifactStore;
  /** Where reconcilers report every stage: a Kubernetes Event plus, where Alerts ask, chat. */
  notifier: Notifier;
  /** Whether this replica leads (leader election); absent means it always does. */
  leadership?: Leadership | undefined;
}

/**
 * A started piece of the controller process. With leader election every
 * replica starts every controller, so a standby's informer caches are warm;
 * main.ts pauses the work queue (`controller.queue`, see queueOf) of each one
 * on a standby and resumes it on taking the Lease, so only the leader
 * reconciles. A controller without such a queue is started on the leader only.
 */
export interface RunningController {
  name: string;
  hasSynced(): boolean;
  start(): void | Promise<void>;
  stop(): Promise<void>;
  /**
   * True when it reconciles on every replica, not only the leader: its side
   * effects are safe from any replica, and it checks deps.leadership before
   * those that are not (status writes). The Receiver controller does this.
   */
  readonly reconcilesOnStandby?: boolean;
}

export type ControllerFactory = (deps: ControllerDeps) => RunningController;

export const controllerFactories: readonly ControllerFactory[] = [
  createGitRepositoryController,
  createReceiverController,
  createSyncController,
  createCanaryController,
];

/** Deps with a fresh artifact store; without a notifier, stages become Kubernetes Events only. */
export function createDeps(base: Omit<ControllerDeps, 'artifacts' | 'notifier'> & { notifier?: Notifier }): ControllerDeps {
  return { ...base, artifacts: new ArtifactStore(), notifier: base.notifier ?? recorderNotifier(base.events) };
}

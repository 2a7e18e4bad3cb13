// A Notifier that only records Kubernetes Events: for tools and tests that run
// reconcilers without chat routing. The controller process uses ClusterNotifier.
import type { EventRecorder, EventSpec } from '../kube/events.ts';
import { reasonAction, type Notifier, type SluiceEvent } from './event.ts';

/** The Kubernetes Event for a sluice event: Normal for info, Warning otherwise. */
export function kubeEventOf(event: SluiceEvent): EventSpec {
  return {
    regarding: {
      apiVersion: event.object.apiVersion, kind: event.object.kind, namespace: event.object.namespace,
      name: event.object.name, uid: event.object.uid,
    },
    type: event.severity === 'info' ? 'Normal' : 'Warning',
    reason: event.reason,
    action: event.action ?? reasonAction(event.reason),
    note: event.message,
  };
}

export function recorderNotifier(recorder: EventRecorder): Notifier {
  return {
    emit(event: SluiceEvent): void {
      // record() logs its own failures and never rejects.
      void recorder.record(kubeEventOf(event));
    },
  };
}

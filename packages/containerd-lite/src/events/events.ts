/**
 * Events (containerd.services.events.v1): what happened, published on a topic
 * ("/containers/create", "/tasks/exit", …) in a namespace, with the event itself as an Any of a
 * containerd.events.* message (e.g. containerd.events.TaskExit). Services publish through an
 * in-process exchange; clients Subscribe with containerd's filters (topic, namespace,
 * event.<field>).
 */
import type { Any } from '../containers/containers';

export interface Envelope {
  timestamp: Date;
  namespace: string;
  topic: string;
  event: Any;
}

/** What services hold to announce events. Never throws for lack of subscribers. */
export interface Publisher {
  /**
   * Publishes `event` (the fields of the containerd.events message named by `type`, e.g.
   * "containerd.events.TaskExit") on topic in namespace.
   */
  publish(namespace: string, topic: string, type: string, event: Record<string, unknown>): void;
}

/** Topics containerd publishes, which containerd-lite publishes under the same names. */
export const Topic = {
  containerCreate: '/containers/create',
  containerUpdate: '/containers/update',
  containerDelete: '/containers/delete',
  imageCreate: '/images/create',
  imageUpdate: '/images/update',
  imageDelete: '/images/delete',
  namespaceCreate: '/namespaces/create',
  namespaceUpdate: '/namespaces/update',
  namespaceDelete: '/namespaces/delete',
  contentDelete: '/content/delete',
  taskCreate: '/tasks/create',
  taskStart: '/tasks/start',
  taskExit: '/tasks/exit',
  taskDelete: '/tasks/delete',
  taskOOM: '/tasks/oom',
  taskExecAdded: '/tasks/exec-added',
  taskExecStarted: '/tasks/exec-started',
  taskPaused: '/tasks/paused',
  taskResumed: '/tasks/resumed',
} as const;

/**
 * containerd-lite's API clients for a command, over the connection connect.ts opens: the one way
 * commands make them. Each client is made on first use, so a command that needs one namespace-less
 * client (namespaces, gc) never validates the namespace, and the client module (most of a
 * command's bundle) runs only when a command reaches the daemon; netd's `networks` likewise. The snapshotter's client is not
 * here: only a few commands use it, and `ctl snapshot` should not carry containerd-lite's.
 */
import type { CommandContext } from './command';
import { type Daemon, withDaemon } from './connect';

export type Lite = typeof import('@ctl/containerd-lite/client');
type Client<K extends keyof Lite> = Lite[K] extends abstract new (...args: never[]) => infer C ? C : never;

/** containerd-lite's client module: its clients and the helpers that go with its API (labels, specs, events). */
export function lite(): Lite {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@ctl/containerd-lite/client') as Lite;
}

export class Clients {
  private readonly made = new Map<string, unknown>();

  constructor(
    /** The daemon's wire clients, one per service socket. */
    readonly daemon: Daemon,
    readonly namespace: string,
  ) {}

  get runner(): Client<'RunnerClient'> {
    return this.once('runner', () => new (lite().RunnerClient)(this.wire, this.namespace));
  }
  get tasks(): Client<'TasksClient'> {
    return this.once('tasks', () => new (lite().TasksClient)(this.wire, this.namespace));
  }
  get containers(): Client<'ContainersClient'> {
    return this.once('containers', () => new (lite().ContainersClient)(this.wire, this.namespace));
  }
  get images(): Client<'ImagesClient'> {
    return this.once('images', () => new (lite().ImagesClient)(this.wire, this.namespace));
  }
  get content(): Client<'ContentClient'> {
    return this.once('content', () => new (lite().ContentClient)(this.wire, this.namespace));
  }
  get volumes(): Client<'VolumesClient'> {
    return this.once('volumes', () => new (lite().VolumesClient)(this.wire, this.namespace));
  }
  get transfer(): Client<'TransferClient'> {
    return this.once('transfer', () => new (lite().TransferClient)(this.wire, this.namespace));
  }
  get builder(): Client<'BuildClient'> {
    return this.once('builder', () => new (lite().BuildClient)(this.wire, this.namespace));
  }
  get namespaces(): Client<'NamespacesClient'> {
    return this.once('namespaces', () => new (lite().NamespacesClient)(this.wire));
  }
  get events(): Client<'EventsClient'> {
    return this.once('events', () => new (lite().EventsClient)(this.wire));
  }
  get gc(): Client<'GcClient'> {
    return this.once('gc', () => new (lite().GcClient)(this.wire));
  }
  get system(): Client<'SystemClient'> {
    return this.once('system', () => new (lite().SystemClient)(this.wire));
  }

  /** netd's Networks API (its own socket; @ctl/netd/client, light as the others). */
  get networks(): import('@ctl/netd/client').NetworksClient {
    return this.once('networks', () => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { NetworksClient } = require('@ctl/netd/client') as typeof import('@ctl/netd/client');
      return new NetworksClient(this.daemon.netd, this.namespace);
    });
  }

  private get wire(): Daemon['containerd-lite'] {
    return this.daemon['containerd-lite'];
  }

  private once<T>(name: string, make: () => T): T {
    if (!this.made.has(name)) this.made.set(name, make());
    return this.made.get(name) as T;
  }
}

/** Runs fn with the clients of the context's namespace (the daemon started first when none answers: see withDaemon). */
export function withClients<T>(context: CommandContext, fn: (clients: Clients) => Promise<T>): Promise<T> {
  return withDaemon(context, (daemon) => fn(new Clients(daemon, context.namespace)));
}

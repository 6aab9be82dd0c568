/** ctl.run.v1 over the light wire client, for the command line. */
import { NamespacedClient, wireMethod } from '@ctl/proto/wire';
import type { CommitRequest } from '@ctl/proto/generated/ctl/run/v1/CommitRequest';
import type { CommitResponse__Output } from '@ctl/proto/generated/ctl/run/v1/CommitResponse';
import type { ConnectRequest } from '@ctl/proto/generated/ctl/run/v1/ConnectRequest';
import type { ConnectResponse__Output } from '@ctl/proto/generated/ctl/run/v1/ConnectResponse';
import type { CreateRequest } from '@ctl/proto/generated/ctl/run/v1/CreateRequest';
import type { DisconnectRequest } from '@ctl/proto/generated/ctl/run/v1/DisconnectRequest';
import type { CreateResponse__Output } from '@ctl/proto/generated/ctl/run/v1/CreateResponse';
import type { InspectRequest } from '@ctl/proto/generated/ctl/run/v1/InspectRequest';
import type { InspectResponse__Output } from '@ctl/proto/generated/ctl/run/v1/InspectResponse';
import type { RemoveRequest } from '@ctl/proto/generated/ctl/run/v1/RemoveRequest';
import type { Mount } from '@ctl/runtime-native/mount';
import type { TaskLocation } from '../tasks/tasks';

const FILE = 'ctl/run/v1/run';
const SERVICE = 'ctl.run.v1.Runner';

export class RunnerClient extends NamespacedClient {
  /** With request.task, the container's task too (taskPid its init's pid); see TaskOptions. */
  async create(
    request: CreateRequest,
  ): Promise<{ id: string; image: string; rootfs: Mount[]; warnings: string[]; attachSocket: string; taskPid: number }> {
    const res = await this.wire.unary(wireMethod<CreateRequest, CreateResponse__Output>(FILE, SERVICE, 'Create'), request, this.options);
    return {
      id: res.id,
      image: res.image,
      rootfs: res.rootfs.map((m) => ({ type: m.type, source: m.source, options: m.options })),
      warnings: res.warnings ?? [],
      attachSocket: res.attachSocket,
      taskPid: res.taskPid,
    };
  }

  /** removeVolumes: also the container's anonymous volumes no other container uses (docker rm -v). */
  async remove(id: string, force = false, removeVolumes = false): Promise<void> {
    await this.wire.unary(wireMethod<RemoveRequest, object>(FILE, SERVICE, 'Remove'), { id, force, removeVolumes }, this.options);
  }

  /** Loads Remove's codecs now, for a caller with time to spare before it (ctl run --rm, while Runner.Create runs). */
  prepareRemove(): void {
    wireMethod(FILE, SERVICE, 'Remove');
  }

  /**
   * Where the container's task (or exec) keeps its stdio and root filesystem on the daemon's host;
   * whether it was OOM-killed; the container's own network namespace.
   */
  async inspect(id: string, execId = ''): Promise<TaskLocation & { netnsPath: string }> {
    const res = await this.wire.unary(
      wireMethod<InspectRequest, InspectResponse__Output>(FILE, SERVICE, 'Inspect'),
      { id, execId },
      this.options,
    );
    return { attachSocket: res.attachSocket, logPath: res.logPath, rootfs: res.rootfs, oomKilled: res.oomKilled, netnsPath: res.netnsPath };
  }

  /** docker network connect: the container's interface on the network and its addresses there. */
  async connect(request: ConnectRequest): Promise<{ interfaceName: string; addresses: string[] }> {
    const res = await this.wire.unary(wireMethod<ConnectRequest, ConnectResponse__Output>(FILE, SERVICE, 'Connect'), request, this.options);
    return { interfaceName: res.interfaceName, addresses: res.addresses };
  }

  async disconnect(id: string, network: string): Promise<void> {
    await this.wire.unary(wireMethod<DisconnectRequest, object>(FILE, SERVICE, 'Disconnect'), { id, network }, this.options);
  }

  /** Makes image `reference` of the container's changes; resolves with its digests. */
  async commit(request: CommitRequest): Promise<{ image: string; digest: string; configDigest: string; diffId: string; size: number }> {
    const res = await this.wire.unary(wireMethod<CommitRequest, CommitResponse__Output>(FILE, SERVICE, 'Commit'), request, this.options);
    return { image: res.image, digest: res.digest, configDigest: res.configDigest, diffId: res.diffId, size: Number(res.size) };
  }
}

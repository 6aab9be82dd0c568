/** The gRPC adapter of ctl.run.v1.Runner. */
import { type Contracts, type ServiceRegistration, namespaceFromMetadata, unaryHandler } from '@ctl/proto';
import type { CreateRequest__Output } from '@ctl/proto/generated/ctl/run/v1/CreateRequest';
import type { CommitRequest__Output } from '@ctl/proto/generated/ctl/run/v1/CommitRequest';
import type { ConnectRequest__Output } from '@ctl/proto/generated/ctl/run/v1/ConnectRequest';
import type { DisconnectRequest__Output } from '@ctl/proto/generated/ctl/run/v1/DisconnectRequest';
import type { InspectRequest__Output } from '@ctl/proto/generated/ctl/run/v1/InspectRequest';
import type { RemoveRequest__Output } from '@ctl/proto/generated/ctl/run/v1/RemoveRequest';
import { mountToWire } from '@ctl/runtime-native/mount';
import type { Committer } from './commit';
import type { Runner } from './runner';

export function runnerRegistration(contracts: Contracts, runner: Runner, committer: Committer): ServiceRegistration {
  return {
    definition: contracts.ctl.run.v1.Runner.service,
    implementation: {
      Create: unaryHandler(async (req: CreateRequest__Output, call) => {
        const created = await runner.create(namespaceFromMetadata(call.metadata), req);
        return {
          id: created.id,
          image: created.image,
          rootfs: created.rootfs.map(mountToWire),
          warnings: created.warnings,
          attachSocket: created.attachSocket,
          taskPid: created.taskPid ?? 0,
        };
      }),
      Remove: unaryHandler(async (req: RemoveRequest__Output, call) => {
        await runner.remove(namespaceFromMetadata(call.metadata), req.id, req.force, req.removeVolumes);
        return {};
      }),
      Commit: unaryHandler(async (req: CommitRequest__Output, call) => {
        const c = await committer.commit(namespaceFromMetadata(call.metadata), req);
        return { image: c.image, digest: c.digest, configDigest: c.configDigest, diffId: c.diffId, size: c.size };
      }),
      Inspect: unaryHandler(async (req: InspectRequest__Output, call) =>
        runner.inspect(namespaceFromMetadata(call.metadata), req.id, req.execId),
      ),
      Connect: unaryHandler(async (req: ConnectRequest__Output, call) => {
        const { id, ...attachment } = req;
        const endpoint = await runner.connect(namespaceFromMetadata(call.metadata), id, attachment);
        return { interfaceName: endpoint.interface.name, addresses: endpoint.ips.map((ip) => ip.address) };
      }),
      Disconnect: unaryHandler(async (req: DisconnectRequest__Output, call) => {
        await runner.disconnect(namespaceFromMetadata(call.metadata), req.id, req.network);
        return {};
      }),
    },
  };
}

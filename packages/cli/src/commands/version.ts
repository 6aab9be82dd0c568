import { SERVICE_NAMES, type ServiceName } from '@ctl/proto/paths';
import { wireMethod } from '@ctl/proto/wire';
import type { VersionResponse__Output } from '@ctl/proto/generated/containerd/services/version/v1/VersionResponse';
import { parseArgs } from 'node:util';
import { UsageError } from '../args';
import type { Command } from '../command';
import { connectDaemon } from '../connect';

const USAGE = `Usage: ctl version [--format json]

Prints the client's version and the version of each service of the daemon
(containerd-lite, snapshotter, netd), starting the daemon if none answers.
`;

interface BuildInfo {
  version: string;
  revision: string;
}

interface Versions {
  client: BuildInfo;
  services: Partial<Record<ServiceName, BuildInfo | { error: string }>>;
}

export const command: Command = {
  summary: 'Show the client and daemon versions',
  usage: USAGE,
  async run(args, context) {
    let format: string | undefined;
    try {
      ({ values: { format } } = parseArgs({ args, options: { format: { type: 'string' } }, strict: true }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (format !== undefined && format !== 'json') throw new UsageError(`unknown format "${format}" (want json)`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const versions: Versions = { client: require('@ctl/proto/build-info.json') as BuildInfo, services: {} };
    const daemon = await connectDaemon(context);
    const method = wireMethod<object, VersionResponse__Output>('containerd/services/version/v1/version', 'containerd.services.version.v1.Version', 'Version');
    let failed = false;
    try {
      await Promise.all(
        SERVICE_NAMES.map(async (name) => {
          try {
            const { version, revision } = await daemon[name].unary(method, {}, { timeoutMs: 5000 });
            versions.services[name] = { version, revision };
          } catch (err) {
            failed = true;
            versions.services[name] = { error: (err as Error).message };
          }
        }),
      );
    } finally {
      daemon.close();
    }
    if (format === 'json') {
      context.out(`${JSON.stringify(versions, null, 2)}\n`);
    } else {
      const lines = ['Client:', `  Version:  ${versions.client.version}`, `  Revision: ${versions.client.revision}`];
      for (const name of ['containerd-lite', 'snapshotter', 'netd'] as const) {
        const v = versions.services[name];
        lines.push('', `${name}:`);
        if (v && 'error' in v) lines.push(`  Error:    ${v.error}`);
        else lines.push(`  Version:  ${v?.version ?? ''}`, `  Revision: ${v?.revision ?? ''}`);
      }
      context.out(`${lines.join('\n')}\n`);
    }
    return failed ? 1 : 0;
  },
};

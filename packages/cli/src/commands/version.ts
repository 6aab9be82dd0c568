import { SERVICE_NAMES, type ServiceName } from '@ctl/proto/paths';
import { NotServingError, wireMethod } from '@ctl/proto/wire';
import type { VersionResponse__Output } from '@ctl/proto/generated/containerd/services/version/v1/VersionResponse';
import { UsageError } from '../args';
import { parseOptions } from '../options';
import type { Command } from '../command';
import { withDaemon } from '../connect';

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
    const { format } = parseOptions(args, { format: { type: 'string' } }, { positionals: false }).values;
    if (format !== undefined && format !== 'json') throw new UsageError(`unknown format "${format}" (want json)`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const versions: Versions = { client: require('@ctl/proto/build-info.json') as BuildInfo, services: {} };
    const method = wireMethod<object, VersionResponse__Output>(
      'containerd/services/version/v1/version',
      'containerd.services.version.v1.Version',
      'Version',
    );
    const results = await withDaemon(context, async (daemon) => {
      const settled = await Promise.allSettled(SERVICE_NAMES.map((name) => daemon[name].unary(method, {}, { timeoutMs: 5000 })));
      // Nothing on containerd-lite's socket means no daemon: let withDaemon start one.
      const lite = settled[SERVICE_NAMES.indexOf('containerd-lite')]!;
      if (lite.status === 'rejected' && lite.reason instanceof NotServingError) throw lite.reason;
      return settled;
    });
    let failed = false;
    SERVICE_NAMES.forEach((name, i) => {
      const r = results[i]!;
      if (r.status === 'fulfilled') versions.services[name] = { version: r.value.version, revision: r.value.revision };
      else {
        failed = true;
        versions.services[name] = { error: (r.reason as Error).message };
      }
    });
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

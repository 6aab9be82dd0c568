/**
 * Pulling through the daemon's transfer service with a progress line on a terminal: what
 * `ctl image pull` and `ctl run --pull` share.
 */
import type { CommandContext } from './command';
import type { Clients } from './clients';
import { humanSize } from './format';
import { ProgressLine } from './progress';

type Progress = import('@ctl/containerd-lite/client').TransferProgress;

export interface RegistryFlags {
  plainHttp: boolean;
  username: string;
  password: string;
}

export interface PullFlags {
  platforms?: { os: string; architecture: string; variant: string }[];
  allPlatforms?: boolean;
  snapshotter?: string;
  unpack?: boolean;
  registry?: RegistryFlags;
}

/** -u/--user USER[:PASSWORD] (the password may come from CTL_REGISTRY_PASSWORD instead). */
export function registryFlags(values: { 'plain-http'?: unknown; user?: unknown }, env: NodeJS.ProcessEnv): RegistryFlags {
  const user = (values.user as string | undefined) ?? '';
  const colon = user.indexOf(':');
  const username = colon >= 0 ? user.slice(0, colon) : user;
  const password = colon >= 0 ? user.slice(colon + 1) : (env.CTL_REGISTRY_PASSWORD ?? '');
  return { plainHttp: Boolean(values['plain-http']), username, password };
}

/** A progress line for pull and push: the blob in flight and the count done, then the layers unpacked. */
export function transferProgress(verb: 'pulling' | 'pushing', name: string): { onProgress: (p: Progress) => void; line: ProgressLine } {
  const line = new ProgressLine();
  let done = 0;
  const onProgress = (p: Progress): void => {
    switch (p.event) {
      case 'fetching':
      case 'pushing':
        line.update(
          `${verb} ${name}  ${done} done  ${p.name.slice(7, 19)}  ${humanSize(Number(p.current))} / ${humanSize(Number(p.total))}`,
        );
        break;
      case 'fetched':
      case 'pushed':
      case 'exists':
        done++;
        line.update(`${verb} ${name}  ${done} done`);
        break;
      case 'unpacking':
      case 'unpacked':
        if (Number(p.total)) line.update(`unpacking ${name}  layer ${Number(p.current)}/${Number(p.total)}  ${p.name.slice(7, 19)}`);
        break;
      default:
    }
  };
  return { onProgress, line };
}

/**
 * Pulls reference into the context's namespace; returns the image's name and digest. Notes the
 * daemon sends (no manifest for this platform) go to stderr.
 */
export async function pull(
  context: CommandContext,
  clients: Clients,
  reference: string,
  flags: PullFlags = {},
): Promise<{ name: string; digest: string }> {
  const { onProgress, line } = transferProgress('pulling', reference);
  let result = { name: reference, digest: '' };
  try {
    await clients.transfer.pull(
      {
        reference,
        platforms: flags.platforms ?? [],
        allPlatforms: Boolean(flags.allPlatforms),
        snapshotter: flags.snapshotter ?? context.env.CTL_SNAPSHOTTER ?? '',
        unpack: flags.unpack ?? true,
        registry: flags.registry ?? { plainHttp: false, username: '', password: '' },
      },
      (p) => {
        if (p.event === 'pulled') result = { name: p.name, digest: p.message };
        else if (p.event === 'image' && p.message && !p.message.startsWith('sha256:')) {
          line.clear();
          context.err(`${p.message}\n`);
        } else onProgress(p);
      },
    );
  } finally {
    line.clear();
  }
  return result;
}

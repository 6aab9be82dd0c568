/** The host's routes (main tables, IPv4 and IPv6), which a subnet netd picks must stay clear of. */
import { type Prefix, parsePrefix } from '../../addr';
import { ipJson } from '../../host';

interface RouteInfo {
  dst: string;
  dev?: string;
}

/** Every route but the default ones, with the device it goes through. */
export async function hostRoutes(): Promise<{ prefix: Prefix; dev: string }[]> {
  const routes = [...(await ipJson<RouteInfo>(['-4', 'route', 'show'])), ...(await ipJson<RouteInfo>(['-6', 'route', 'show']))];
  return routes
    .filter((r) => r.dst !== 'default')
    .map((r) => ({ prefix: parsePrefix(r.dst.includes('/') ? r.dst : `${r.dst}/${r.dst.includes(':') ? 128 : 32}`), dev: r.dev ?? '' }));
}

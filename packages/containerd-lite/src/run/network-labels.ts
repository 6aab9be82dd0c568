/**
 * How a container's network was made, as labels of its record (written by run/network.ts at
 * create, read by ps, port and inspect). Light: the CLI loads it through the client entry.
 */
import type { PortMapping } from '@ctl/netd/client';

/** Docker's default network, which netd makes on first use (every network but it has names that resolve). */
export const DEFAULT_NETWORK = 'bridge';

export const NetworkLabel = {
  /** none, host, path, container:<id>, or the networks joined at create, comma separated */
  mode: 'ctl.network.mode',
  /** JSON: the ports as published ([{protocol, hostIp, hostPort, containerPort}]) */
  ports: 'ctl.network.ports',
} as const;

/** The networks joined at create, from the mode label; [] for none, host, path and container: modes. */
export function networksOf(labels: Record<string, string>): string[] {
  const mode = labels[NetworkLabel.mode] ?? '';
  if (!mode || ['none', 'host', 'path'].includes(mode) || mode.startsWith('container:')) return [];
  return mode.split(',');
}

/** The ports published at create (none for a record without the label). */
export function publishedPorts(labels: Record<string, string>): PortMapping[] {
  try {
    const ports: unknown = JSON.parse(labels[NetworkLabel.ports] ?? '[]');
    return Array.isArray(ports) ? (ports as PortMapping[]) : [];
  } catch {
    return [];
  }
}

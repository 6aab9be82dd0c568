/**
 * Where blobs are known to live in registries, as containerd records it: the content label
 * `containerd.io/distribution.source.<domain>` on a blob lists the repositories of that
 * registry it was pulled from or pushed to, comma-separated. A push to another repository of the
 * same registry then asks the registry to mount the blob from one of them instead of sending
 * its bytes again.
 *
 * The domain is the reference's (`docker.io`, `127.0.0.1:5000`), as in containerd's labels, so
 * either engine reads what the other wrote.
 */
import { MAX_LABEL_BYTES } from '@ctl/proto/labels';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import type { Content } from '../content/content';
import { Label } from '../oci';

export const sourceLabel = (domain: string): string => `${Label.distributionSource}${domain}`;

export const sourceRepositories = (labels: Record<string, string>, domain: string): string[] =>
  (labels[sourceLabel(domain)] ?? '').split(',').filter(Boolean);

/**
 * The label's value with repository added (last: the newest). Past containerd's bound on a label
 * the oldest repositories are dropped, so recording never fails.
 */
export function withRepository(value: string | undefined, domain: string, repository: string): string {
  const repos = (value ?? '').split(',').filter((r) => r && r !== repository);
  repos.push(repository);
  const room = MAX_LABEL_BYTES - Buffer.byteLength(sourceLabel(domain));
  while (repos.length > 1 && Buffer.byteLength(repos.join(',')) > room) repos.shift();
  return repos.join(',');
}

/**
 * Notes that the registry of domain has the blob in repository. A blob gone meanwhile (deleted,
 * collected) is nothing to note, not an error.
 */
export async function recordSource(content: Content, digest: string, domain: string, repository: string): Promise<void> {
  const key = sourceLabel(domain);
  try {
    const { labels } = await content.info(digest);
    if (sourceRepositories(labels, domain).at(-1) === repository) return;
    await content.update({ digest, labels: { [key]: withRepository(labels[key], domain, repository) } }, [`labels.${key}`]);
  } catch (err) {
    if (!isKind(err, ErrorKind.NotFound)) throw err;
  }
}

/**
 * The repository to mount a blob from when pushing it to repository: of those the labels list
 * for the same registry, the one sharing the longest leading path with the destination (a
 * registry grants access by namespace, so a sibling is likeliest to be readable), the newest
 * among equals. Undefined when none other is known.
 */
export function mountSource(labels: Record<string, string>, domain: string, repository: string): string | undefined {
  const target = repository.split('/');
  const shared = (repo: string): number => {
    const parts = repo.split('/');
    let n = 0;
    while (n < parts.length && n < target.length && parts[n] === target[n]) n++;
    return n;
  };
  let best: string | undefined;
  for (const repo of sourceRepositories(labels, domain)) {
    if (repo === repository) continue;
    if (best === undefined || shared(repo) >= shared(best)) best = repo;
  }
  return best;
}

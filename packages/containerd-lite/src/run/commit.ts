/**
 * `ctl commit` (ctl.run.v1 Runner.Commit): a container's changes as a new image, the way
 * docker commit makes one, from containerd's parts.
 *
 *   1. The container's snapshot `<ns>/<key>` is diffed against a view of its image's top layer
 *      (the Differ reads an overlay's upperdir alone when the view is exactly its lowerdirs)
 *      into a gzip layer, written into content with its `containerd.io/uncompressed` label.
 *   2. The config is the image's with the diff id appended, a history entry (created_by: the
 *      container's command; comment: the message), the container's command, env and workdir
 *      from its spec, then the --change instructions.
 *   3. An OCI manifest of the image's layers (Docker media types turned into their OCI twins:
 *      the bytes are the same) and the new one, carrying the GC labels that keep config and
 *      layers; the image record is created or moved to it.
 *   4. The image is unpacked as an import would: only the new layer is applied, on a snapshot
 *      of the parent, and committed as `<ns>/<new chain id>`, so its containers start at once.
 *
 * Everything made is held by a lease until the image record holds it. A running container is
 * paused while its files are read (docker's default), so the layer is one moment of it.
 */
import { ErrorKind, failedPrecondition, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { type Containers, specOf } from '../containers/containers';
import type { Content } from '../content/content';
import type { Images } from '../images/images';
import type { OperationLeases, Resource } from '../leases/leases';
import { type ImageConfig, chainIds } from '../oci';
import { normalizeReference } from '@ctl/proto/reference';
import { type UnpackTarget, readImage, unpack } from '../unpack/unpacker';
import { snapshotLayer, writeImage } from './image-writer';
import { hostManifest } from './runner';

export interface CommitRequest {
  id: string;
  reference: string;
  message: string;
  author: string;
  changes: string[];
  pause: boolean;
}

export interface Committed {
  image: string;
  digest: string;
  configDigest: string;
  diffId: string;
  size: number;
}

export interface CommitDeps {
  content(ns: string): Content;
  images(ns: string): Images;
  leases(ns: string): OperationLeases;
  containers(ns: string): Containers;
  unpackTarget(ns: string, snapshotter: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget>;
  /** Pauses the container's task if it runs; resolves with what undoes that (nothing when it did not run). */
  freeze(ns: string, id: string): Promise<() => Promise<void>>;
  tmpRoot: string;
}

type ContainerConfig = NonNullable<ImageConfig['config']>;
type History = NonNullable<ImageConfig['history']>[number] & { author?: string };
interface SpecProcess {
  args?: string[];
  env?: string[];
  cwd?: string;
}

const LEASE_TTL_MS = 3600_000;

/** A Dockerfile-style argument list: a JSON array, else the shell form (`/bin/sh -c …`). */
function commandForm(rest: string, instruction: string): string[] {
  if (rest.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rest);
    } catch {
      throw invalidArgument(`change "${instruction} ${rest}": not a JSON array of strings`);
    }
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string'))
      throw invalidArgument(`change "${instruction} ${rest}": not a JSON array of strings`);
    return parsed as string[];
  }
  return ['/bin/sh', '-c', rest];
}

const unquote = (s: string): string => (/^".*"$/.test(s) ? (JSON.parse(s) as string) : s);

/** KEY=VALUE pairs (values may be double-quoted), or the old `KEY VALUE` form. */
function pairs(rest: string, instruction: string): [string, string][] {
  if (!rest.includes('=')) {
    const m = /^(\S+)\s+(.*)$/.exec(rest);
    if (!m) throw invalidArgument(`change "${instruction} ${rest}": expected KEY=VALUE`);
    return [[m[1]!, m[2]!]];
  }
  const out: [string, string][] = [];
  for (const m of rest.matchAll(/([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)/g)) out.push([unquote(m[1]!), unquote(m[2]!)]);
  return out;
}

const setEnv = (env: string[], key: string, value: string): string[] => [...env.filter((e) => e.split('=')[0] !== key), `${key}=${value}`];

/** Applies docker commit --change instructions to a config (a new object; the given one is left). */
export function applyChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  const out: ContainerConfig = { ...config };
  for (const change of changes) {
    const m = /^\s*([A-Za-z]+)\s+(.+?)\s*$/s.exec(change);
    if (!m) throw invalidArgument(`change "${change}": expected INSTRUCTION ARGUMENTS`);
    const instruction = m[1]!.toUpperCase();
    const rest = m[2]!;
    switch (instruction) {
      case 'CMD':
        out.Cmd = commandForm(rest, instruction);
        break;
      case 'ENTRYPOINT':
        out.Entrypoint = commandForm(rest, instruction);
        break;
      case 'ENV':
        for (const [k, v] of pairs(rest, instruction)) out.Env = setEnv(out.Env ?? [], k, v);
        break;
      case 'LABEL':
        out.Labels = { ...(out.Labels ?? {}), ...Object.fromEntries(pairs(rest, instruction)) };
        break;
      case 'WORKDIR':
        out.WorkingDir = rest;
        break;
      case 'USER':
        out.User = rest;
        break;
      case 'STOPSIGNAL':
        out.StopSignal = rest;
        break;
      case 'EXPOSE':
        out.ExposedPorts = {
          ...(out.ExposedPorts ?? {}),
          ...Object.fromEntries(rest.split(/\s+/).map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])),
        };
        break;
      case 'VOLUME': {
        const dirs = rest.startsWith('[') ? commandForm(rest, instruction) : rest.split(/\s+/);
        out.Volumes = { ...(out.Volumes ?? {}), ...Object.fromEntries(dirs.map((d) => [d, {}])) };
        break;
      }
      default:
        throw invalidArgument(
          `change "${change}": ${instruction} is not one of CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, STOPSIGNAL, EXPOSE, VOLUME`,
        );
    }
  }
  return out;
}

/**
 * The config a container commits: the image's, with the container's command (after the
 * image's entrypoint when it still starts with it), env (less what the engine adds: HOME,
 * TERM) and workdir.
 */
export function containerConfig(image: ContainerConfig | null | undefined, proc: SpecProcess | undefined): ContainerConfig {
  const out: ContainerConfig = { ...(image ?? {}) };
  if (!proc) return out;
  const args = proc.args ?? [];
  const entrypoint = image?.Entrypoint ?? [];
  if (args.length) {
    if (entrypoint.length && entrypoint.every((a, i) => args[i] === a)) out.Cmd = args.slice(entrypoint.length);
    else {
      out.Entrypoint = null;
      out.Cmd = args;
    }
  }
  if (proc.env) {
    const imageKeys = new Set((image?.Env ?? []).map((e) => e.split('=')[0]));
    out.Env = proc.env.filter((e) => !['HOME', 'TERM'].includes(e.split('=')[0]!) || imageKeys.has(e.split('=')[0]));
  }
  if (proc.cwd && (proc.cwd !== '/' || image?.WorkingDir)) out.WorkingDir = proc.cwd;
  return out;
}

export class Committer {
  constructor(private readonly deps: CommitDeps) {}

  async commit(ns: string, request: CommitRequest): Promise<Committed> {
    const { deps } = this;
    if (!request.reference) throw invalidArgument('commit needs a name for the new image (REPO[:TAG])');
    const ref = normalizeReference(request.reference);
    const container = await deps
      .containers(ns)
      .get(request.id)
      .catch((err: unknown) => {
        if (isKind(err, ErrorKind.NotFound)) throw notFound(`no such container: ${request.id}`);
        throw err;
      });
    if (!container.snapshotKey) throw failedPrecondition(`container ${request.id} has no snapshot to commit`);
    const content = deps.content(ns);
    const base = await deps
      .images(ns)
      .get(container.image)
      .catch((err: unknown) => {
        if (isKind(err, ErrorKind.NotFound))
          throw failedPrecondition(`the image ${container.image} of container ${request.id} is gone: its parent layers are unknown`);
        throw err;
      });
    const baseManifest = await hostManifest(content, base.target, container.image);
    const { manifest, config } = await readImage(content, baseManifest);
    const parent = chainIds(config.rootfs.diff_ids).at(-1) ?? '';

    const leases = deps.leases(ns);
    const lease = await leases.createForOperation(LEASE_TTL_MS);
    try {
      const hold = (resource: Resource): Promise<void> => leases.addResource(lease.id, resource);
      const target = await deps.unpackTarget(ns, container.snapshotter, hold);

      // 1. The layer (an empty diff is a layer here all the same: docker commit always adds one).
      const diff = await snapshotLayer({
        target,
        parent,
        key: container.snapshotKey,
        lease: lease.id,
        hold,
        tmpRoot: deps.tmpRoot,
        refPrefix: 'commit',
        keepEmpty: true,
        around: async (read) => {
          const thaw = request.pause ? await deps.freeze(ns, request.id) : async () => undefined;
          try {
            return await read();
          } finally {
            await thaw();
          }
        },
      });
      const layer = diff.layer!;

      // 2. The config.
      const created = new Date().toISOString();
      const proc = specOf<{ process?: SpecProcess }>(container)?.process;
      const history: History = { created, created_by: (proc?.args ?? []).join(' ') };
      if (request.author) history.author = request.author;
      if (request.message) history.comment = request.message;
      const newConfig: ImageConfig & { author?: string } = {
        ...config,
        created,
        config: applyChanges(containerConfig(config.config, proc), request.changes),
        rootfs: { type: 'layers', diff_ids: [...config.rootfs.diff_ids, diff.diffId] },
        history: [...(config.history ?? []), history],
      };
      if (request.author) newConfig.author = request.author;

      // 3. The manifest and the image record.
      const written = await writeImage(
        content,
        { config: newConfig, layers: [...manifest.layers, layer] },
        { lease: lease.id, hold, refPrefix: 'commit' },
      );
      const manifestDesc = written.manifest;
      const configDesc = written.config;

      // 4. The snapshot of the new layer (applied from the blob, on the parent's), then the record.
      await unpack(target, manifestDesc);
      const images = deps.images(ns);
      try {
        await images.create({ name: ref, target: manifestDesc, labels: {} });
      } catch (err) {
        if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
        await images.update({ name: ref, target: manifestDesc }, ['target']);
      }
      return { image: ref, digest: manifestDesc.digest, configDigest: configDesc.digest, diffId: diff.diffId, size: layer.size };
    } finally {
      await leases.delete(lease.id).catch(() => undefined);
    }
  }
}

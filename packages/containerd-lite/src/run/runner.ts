/**
 * The server side of `ctl run`/`ctl create`/`ctl rm` (ctl.run.v1): from an image name and
 * Docker-like options to a recorded container in one call, so the command line needs no
 * image, snapshot or spec logic of its own.
 *
 * Create: the image resolved for this host's platform, unpacked if it is not yet, the
 * container's snapshot `<ns>/<id>` prepared on its top layer, the OCI spec built by
 * runtime-native from the image config and the options, the container recorded (a GC root
 * holding its snapshot). Until the record exists a lease holds what was made, and a failure
 * removes the snapshot again, so nothing is left half-made.
 */
import { EngineError, ErrorKind, alreadyExists, failedPrecondition, found, invalidArgument, isKind, notFound, wrap } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { type RunOptions, type Spec, SpecError, buildSpec, validateSpec } from '@ctl/runtime-native';
import { type Mount, mountAll, unmountAll } from '@ctl/snapshotter';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson } from '../archive/common';
import { SPEC_TYPE_URL, type Containers } from '../containers/containers';
import type { Content } from '../content/content';
import { snapshotName } from '../gc/mark';
import type { Images } from '../images/images';
import type { Leases, Resource } from '../leases/leases';
import { type Descriptor, type ImageConfig, type Index, Label, isIndex, isManifest } from '../oci';
import { format, hostPlatform, only } from '../platforms';
import { normalizeReference } from '../reference';
import { type UnpackTarget, readImage, unpack } from '../unpack/unpacker';

/** The runtime name containers made here carry (tasks run them with runtime-native's shim). */
export const RUNTIME_NAME = 'io.containerd.runc.v2';

export interface CreateRequest {
  id: string;
  image: string;
  optionsJson: string;
  snapshotter: string;
  labels: Record<string, string>;
}

export interface Created {
  id: string;
  rootfs: Mount[];
  image: string;
}

export interface RunnerDeps {
  content(ns: string): Content;
  images(ns: string): Images;
  leases(ns: string): Leases;
  containers(ns: string): Containers;
  unpackTarget(ns: string, snapshotter: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget>;
  /** Ends the container's task: FailedPrecondition while it runs unless force (then it is killed). */
  removeTask(ns: string, id: string, force: boolean): Promise<void>;
  /** A directory of ours for short-lived mounts. */
  tmpRoot: string;
  /** Runs a container's removal with no restart of it pending or in progress (the restart supervisor's). */
  exclusive?<T>(ns: string, id: string, fn: () => Promise<T>): Promise<T>;
}

const LEASE_TTL_MS = 3600_000;
const ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** The platform manifest of an image for this host. */
async function hostManifest(content: Content, target: Descriptor, name: string): Promise<Descriptor> {
  if (isManifest(target.mediaType)) return target;
  if (!isIndex(target.mediaType)) throw invalidArgument(`image ${name}: its target is a ${target.mediaType}, not an index or manifest`);
  const index = await readJson<Index>(content, target, 'index');
  const matcher = only(hostPlatform());
  const candidates = [];
  for (const m of index.manifests ?? []) {
    if (isIndex(m.mediaType)) candidates.push(await hostManifest(content, m, name).catch(() => undefined));
    else if (isManifest(m.mediaType) && m.platform && matcher.match(m.platform) && (await found(content.info(m.digest)))) candidates.push(m);
  }
  const usable = candidates.filter((m): m is Descriptor => Boolean(m)).sort((a, b) => (a.platform && b.platform && matcher.less(a.platform, b.platform) ? -1 : 1));
  if (!usable[0]) throw notFound(`image ${name} has no manifest for ${format(hostPlatform())} in the content store`);
  return usable[0];
}

function parseOptions(json: string): RunOptions {
  let options: unknown;
  try {
    options = json ? JSON.parse(json) : {};
  } catch (err) {
    throw invalidArgument(`run options are not JSON: ${(err as Error).message}`);
  }
  if (!options || typeof options !== 'object' || Array.isArray(options)) throw invalidArgument('run options must be a JSON object');
  return options as RunOptions;
}

/** A user given by name needs the image's /etc/passwd and /etc/group. */
const namesUser = (user: string | undefined): boolean => Boolean(user && user.split(':').some((part) => part !== '' && !/^\d+$/.test(part)));

export class Runner {
  constructor(private readonly deps: RunnerDeps) {}

  async create(ns: string, request: CreateRequest): Promise<Created> {
    const { deps } = this;
    const id = request.id || randomBytes(6).toString('hex');
    if (!ID.test(id) || id.length > 76) throw invalidArgument(`invalid container name "${id}": letters and digits, separated by one of "._-", at most 76 characters`);
    const containers = deps.containers(ns);
    if (await found(containers.get(id))) throw alreadyExists(`container name "${id}" is already in use: remove it first (ctl rm ${id})`);
    if (!request.image) throw invalidArgument('no image given');
    const ref = normalizeReference(request.image);
    const options = parseOptions(request.optionsJson);
    const content = deps.content(ns);
    const image = await deps.images(ns).get(ref).catch((err: unknown) => {
      if (isKind(err, ErrorKind.NotFound)) throw notFound(`image "${request.image}" not found: import it first (ctl image import FILE)`);
      throw err;
    });
    const manifest = await hostManifest(content, image.target, ref);
    const { config } = await readImage(content, manifest);

    const leases = deps.leases(ns);
    const lease = await leases.create({ labels: { [Label.gcExpire]: new Date(Date.now() + LEASE_TTL_MS).toISOString() } });
    try {
      const hold = (resource: Resource): Promise<void> => leases.addResource(lease.id, resource);
      const target = await deps.unpackTarget(ns, request.snapshotter, hold);
      const { chainId } = await unpack(target, manifest);
      await hold({ type: `snapshots/${target.snapshotter}`, id });
      const key = snapshotName(ns, id);
      const rootfs = await target.snapshots.prepare(key, chainId ? snapshotName(ns, chainId) : '');
      try {
        const spec = await this.spec(ns, id, config, options, rootfs);
        await containers.create({
          id,
          image: ref,
          labels: request.labels,
          runtime: { name: RUNTIME_NAME },
          spec: { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) },
          snapshotter: target.snapshotter,
          snapshotKey: id,
        });
      } catch (err) {
        await target.snapshots.remove(key).catch(() => undefined);
        throw err;
      }
      return { id, rootfs, image: ref };
    } finally {
      await leases.delete(lease.id).catch(() => undefined);
    }
  }

  /** The container's OCI spec: the image config under the options, in the container's own cgroup. */
  private async spec(ns: string, id: string, image: ImageConfig, options: RunOptions, rootfs: Mount[]): Promise<Spec> {
    const run: RunOptions = { ...options, id, cgroupsPath: options.cgroupsPath ?? `/ctl/${ns}/${id}`, rootfs: 'rootfs' };
    const { Labels, ...rest } = image.config ?? {};
    const imageConfig = { ...rest, ...(Labels ? { Labels } : {}) };
    try {
      let spec: Spec;
      if (namesUser(options.user ?? imageConfig.User)) {
        spec = await this.withMounted(rootfs, (dir) => buildSpec(imageConfig, { ...run, rootfs: dir }));
        spec.root = { ...spec.root, path: 'rootfs' };
      } else {
        spec = buildSpec(imageConfig, run);
      }
      validateSpec(spec);
      return spec;
    } catch (err) {
      if (err instanceof SpecError) throw new EngineError(ErrorKind.InvalidArgument, err.message, { cause: err });
      throw err;
    }
  }

  private async withMounted<T>(mounts: Mount[], fn: (dir: string) => T): Promise<T> {
    ensureDir(this.deps.tmpRoot);
    const dir = await mkdtemp(join(this.deps.tmpRoot, 'rootfs-'));
    try {
      await mountAll(mounts.map((m) => ({ ...m, options: [...m.options.filter((o) => o !== 'rw'), 'ro'] })), dir);
      try {
        return fn(dir);
      } finally {
        await unmountAll(dir);
      }
    } catch (err) {
      throw wrap(err, 'read the image\'s users');
    } finally {
      await rmdir(dir).catch(() => undefined);
    }
  }

  async remove(ns: string, id: string, force: boolean): Promise<void> {
    const { exclusive } = this.deps;
    return exclusive ? exclusive(ns, id, () => this.removeNow(ns, id, force)) : this.removeNow(ns, id, force);
  }

  private async removeNow(ns: string, id: string, force: boolean): Promise<void> {
    const containers = this.deps.containers(ns);
    const container = await containers.get(id).catch((err: unknown) => {
      if (isKind(err, ErrorKind.NotFound)) throw notFound(`no such container: ${id}`);
      throw err;
    });
    await this.deps.removeTask(ns, id, force).catch((err: unknown) => {
      if (isKind(err, ErrorKind.FailedPrecondition)) throw failedPrecondition(`container ${id} is running: stop it first, or remove it with -f`);
      throw err;
    });
    await containers.delete(id);
    if (container.snapshotKey) {
      const target = await this.deps.unpackTarget(ns, container.snapshotter, async () => undefined);
      await target.snapshots.remove(snapshotName(ns, container.snapshotKey)).catch((err: unknown) => {
        if (!isKind(err, ErrorKind.NotFound)) throw err;
      });
    }
  }
}

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
 *
 * Volumes: the config's volume mounts (run/options.ts; name "" for an anonymous one). Missing
 * named volumes are made (docker does), and each of the image's Volumes without a mount at its
 * path gets an anonymous volume; all are bound from their _data directories. A volume that is
 * empty when the container is made gets a copy (cp -a) of what the image has at the destination,
 * unless nocopy (docker's copy-up). The volumes are made and
 * the container recorded in one turn of the volume store's namespace queue, so a volume removal
 * cannot take a volume between the two; a failed create removes the anonymous volumes it made.
 */
import {
  EngineError,
  ErrorKind,
  ErrorReason,
  alreadyExists,
  failedPrecondition,
  found,
  invalidArgument,
  isKind,
  notFound,
  wrap,
} from '@ctl/proto/errors';
import { traced, tracedSync } from '@ctl/proto/trace';
import type { ContainerConfig__Output } from '@ctl/proto/generated/ctl/run/v1/ContainerConfig';
import { type RunOptions, type Spec, SpecError, buildSpec, runtimeChoice, validateSpec } from '@ctl/runtime-native';
import { type Mount, withReadonlyTempMount } from '@ctl/runtime-native/mount';
import type { Endpoint } from '@ctl/netd/client';
import type { Snapshotter } from '@ctl/snapshotter/client';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { lstatSync, readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { readJson } from '../archive/common';
import { resolveInRoot } from '@ctl/runtime-native/in-root';
import { type Any, SPEC_TYPE_URL, type Containers } from '../containers/containers';
import { runtimeRecord } from '../containers/runtime';
import type { Content } from '../content/content';
import { snapshotName } from '../gc/mark';
import type { Images } from '../images/images';
import type { OperationLeases, Resource } from '../leases/leases';
import { type Descriptor, type ImageConfig, type Index, chainIds, isIndex, isManifest } from '../oci';
import { type Platform, format, hostPlatform, only } from '@ctl/proto/platforms';
import { normalizeReference } from '@ctl/proto/reference';
import { type UnpackTarget, readImage, unpack } from '../unpack/unpacker';
import type { CreateTaskOptions, TaskLocation } from '../tasks/tasks';
import type { NewVolume, Volume } from '../volumes/volumes';
import { BLKIO_WEIGHT_WARNING, SWAP_LIMIT_WARNING, blkioWeightSupported, swapLimitSupported } from './host-support';
import { ContainerNetworking } from './network';
import { type AttachmentPlan, networkPlan } from './network-plan';
import { type VolumeOption, fromConfig, normalPath, recordLabels } from './options';

export interface CreateRequest {
  id: string;
  image: string;
  /** What runs and how; unset: the image's defaults. */
  config?: ContainerConfig__Output | null;
  snapshotter: string;
  labels: Record<string, string>;
  /** "" or runtime-native (ctl-runtime), runc, crun */
  runtime?: string;
  /**
   * In process only, never on the wire: a build step's container (ctl build). Its image is this
   * platform manifest, unnamed and held by the caller's lease (image is then only what the
   * record shows); the image's Volumes get no anonymous volumes (a build writes through them);
   * the record is labelled BUILD_LABEL.
   */
  build?: { manifest: Descriptor };
  /** The container's task too, in the same call (ctl.run.v1's TaskOptions): unset, none. */
  task?: { create: boolean; stdin: boolean; terminal: boolean; start: boolean; removeIfStartFails: boolean } | null;
}

/** On the container of a build step (docker hides those from `docker ps -a`; `ctl ps` may skip them by it). */
export const BUILD_LABEL = 'ctl.build';

export interface Created {
  id: string;
  rootfs: Mount[];
  image: string;
  warnings: string[];
  /** the shim's attach socket of the container's task, once it is created */
  attachSocket: string;
  /** with request.task: the init's pid */
  taskPid?: number;
}

/** What the runner needs of the volume store (VolumeStore is one). */
export interface RunnerVolumes {
  exclusive<T>(ns: string, fn: () => Promise<T>): Promise<T>;
  createLocked(ns: string, volume: NewVolume): Promise<Volume & { made: boolean }>;
  removeLocked(ns: string, name: string, force: boolean): Promise<void>;
  get(ns: string, name: string): Promise<Volume>;
  usedBy(ns: string, container: { spec?: Any }): string[];
}

export interface RunnerDeps {
  volumes: RunnerVolumes;
  content(ns: string): Content;
  images(ns: string): Images;
  leases(ns: string): OperationLeases;
  containers(ns: string): Containers;
  unpackTarget(ns: string, snapshotter: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget>;
  /** The snapshotter service's API for one driver. */
  snapshots(driver: string): Snapshotter;
  /** Tasks.Create of a container's task (the task manager's), and Tasks.Start. */
  createTask(ns: string, id: string, options: CreateTaskOptions): Promise<{ pid: number }>;
  startTask(ns: string, id: string): Promise<{ pid: number }>;
  /** Ends the container's task: FailedPrecondition while it runs unless force (then it is killed). */
  removeTask(ns: string, id: string, force: boolean): Promise<void>;
  /** Where a container's task (or exec) has its files on this host (the task manager's locate). */
  locateTask(ns: string, id: string, execId?: string): TaskLocation;
  /** A directory of ours for short-lived mounts. */
  tmpRoot: string;
  /** The instance's cgroup (`@ctl/proto`'s cgroupParent): a container's is `<parent>/<ns>/<id>`, never another instance's. */
  cgroupParent: string;
  /** Runs a container's removal with no restart of it pending or in progress (the restart supervisor's). */
  exclusive?<T>(ns: string, id: string, fn: () => Promise<T>): Promise<T>;
  /** The container's network namespace, endpoints (through netd) and name files. */
  networking: ContainerNetworking;
}

const LEASE_TTL_MS = 3600_000;
const IMAGE_CACHE_SIZE = 16;
const ID = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;

/** The platform manifest of an image for this host (or for the platform given). */
export async function hostManifest(
  content: Content,
  target: Descriptor,
  name: string,
  platform: Platform = hostPlatform(),
): Promise<Descriptor> {
  if (isManifest(target.mediaType)) return target;
  if (!isIndex(target.mediaType)) throw invalidArgument(`image ${name}: its target is a ${target.mediaType}, not an index or manifest`);
  const index = await readJson<Index>(content, target, 'index');
  const matcher = only(platform);
  const candidates = [];
  for (const m of index.manifests ?? []) {
    if (isIndex(m.mediaType)) candidates.push(await hostManifest(content, m, name, platform).catch(() => undefined));
    else if (isManifest(m.mediaType) && m.platform && matcher.match(m.platform) && (await found(content.info(m.digest))))
      candidates.push(m);
  }
  const usable = candidates
    .filter((m): m is Descriptor => Boolean(m))
    .sort((a, b) => (a.platform && b.platform && matcher.less(a.platform, b.platform) ? -1 : 1));
  if (!usable[0]) throw notFound(`image ${name} has no manifest for ${format(platform)} in the content store`);
  return usable[0];
}

/** The destinations the options already mount. */
const mountedPaths = (options: Omit<RunOptions, 'id'>): string[] => (options.mounts ?? []).map((m) => m.destination);

/** A directory with something in it; false for anything else, or nothing. */
function hasEntries(path: string): boolean {
  try {
    return lstatSync(path).isDirectory() && readdirSync(path).length > 0;
  } catch {
    return false;
  }
}

/** docker's copy-up: what the image has at each destination, into its (empty) volume. */
async function copyUp(rootfs: string, copies: { destination: string; mountpoint: string }[]): Promise<void> {
  for (const c of copies) {
    // Links resolve inside the image, so a link cannot lead out of it.
    const source = await resolveInRoot(rootfs, c.destination).catch(() => undefined);
    if (!source || !hasEntries(source)) continue;
    await promisify(execFile)('cp', ['-a', `${source}/.`, `${c.mountpoint}/`]).catch((err: Error & { stderr?: string }) => {
      throw wrap(err, `copy the image's ${c.destination} into its volume: ${err.stderr?.trim() ?? ''}`);
    });
  }
}

/** A user given by name needs the image's /etc/passwd and /etc/group. */
const namesUser = (user: string | undefined): boolean =>
  Boolean(user && user.split(':').some((part) => part !== '' && !/^\d+$/.test(part)));

export class Runner {
  /**
   * Names being created (`<ns>/<id>`): the record comes last, so without this claim a second
   * create of one name would find none, attach to the same netns and, failing, tear down the
   * first one's network.
   */
  private readonly creating = new Set<string>();

  /**
   * The platform manifest and config of image targets seen (by namespace and target digest):
   * content-addressed, so what was read once is what a read would give again, while the blobs are
   * there (the image record, read every time, keeps them). A few entries: the images run lately.
   */
  private readonly imageCache = new Map<string, { manifest: Descriptor; config: ImageConfig }>();

  constructor(private readonly deps: RunnerDeps) {}

  private async imageFor(
    ns: string,
    content: Content,
    target: Descriptor,
    ref: string,
  ): Promise<{ manifest: Descriptor; config: ImageConfig }> {
    const key = `${ns}\0${target.digest}`;
    let entry = this.imageCache.get(key);
    if (!entry) {
      const manifest = await hostManifest(content, target, ref);
      entry = { manifest, config: (await readImage(content, manifest)).config };
      if (this.imageCache.size >= IMAGE_CACHE_SIZE) this.imageCache.delete(this.imageCache.keys().next().value!);
      this.imageCache.set(key, entry);
    }
    // a copy: what a create makes of the config must not reach the next one
    return structuredClone(entry);
  }

  async create(ns: string, request: CreateRequest): Promise<Created> {
    const id = request.id || randomBytes(6).toString('hex');
    if (!ID.test(id) || id.length > 76)
      throw invalidArgument(`invalid container name "${id}": letters and digits, separated by one of "._-", at most 76 characters`);
    const inUse = () => alreadyExists(`container name "${id}" is already in use: remove it first (ctl rm ${id})`);
    const claim = `${ns}/${id}`;
    if (this.creating.has(claim)) throw inUse();
    this.creating.add(claim); // before any await: two creates of one name cannot both pass
    let created: Created;
    try {
      if (await traced('run.create.name-check', () => found(this.deps.containers(ns).get(id)))) throw inUse();
      created = await this.createNamed(ns, id, request);
    } finally {
      this.creating.delete(claim);
    }
    return request.task?.create ? this.withTask(ns, created, request.task) : created;
  }

  /**
   * The container's task made (and started) right after the container: what a client would ask
   * with Tasks.Create and Start, without the round trips. A failed create removes the container
   * again, so the caller's error leaves nothing behind; a failed start leaves it as Tasks.Start
   * would (see TaskOptions).
   */
  private async withTask(ns: string, created: Created, task: NonNullable<CreateRequest['task']>): Promise<Created> {
    const removeAfter = async (err: unknown): Promise<never> => {
      await this.remove(ns, created.id, true, true).catch(() => undefined);
      throw err;
    };
    let { pid } = await this.deps
      .createTask(ns, created.id, { rootfs: created.rootfs, stdin: task.stdin ? 'attach' : '', terminal: task.terminal })
      .catch(removeAfter);
    if (task.start) {
      const started = this.deps.startTask(ns, created.id);
      ({ pid } = await (task.removeIfStartFails ? started.catch(removeAfter) : started));
    }
    return { ...created, taskPid: pid };
  }

  private async createNamed(ns: string, id: string, request: CreateRequest): Promise<Created> {
    const { deps } = this;
    const containers = deps.containers(ns);
    const { build } = request;
    if (!request.image && !build) throw invalidArgument('no image given');
    // Before anything is made: an unknown or missing runtime leaves nothing behind.
    const choice = runtimeChoice(request.runtime ?? '');
    const runtime = choice.flavor === 'native' ? '' : choice.name;
    const ref = build ? request.image || build.manifest.digest : normalizeReference(request.image);
    const { options, volumes: wanted, labels: lifecycle, snapshotLabels } = fromConfig(request.config);
    const plan = networkPlan(request.config);
    const labels = { ...recordLabels(request.labels, lifecycle), ...(build ? { [BUILD_LABEL]: '1' } : {}) };
    const warnings: string[] = [];
    if (options.blkioWeight !== undefined && !blkioWeightSupported()) {
      warnings.push(BLKIO_WEIGHT_WARNING);
      delete options.blkioWeight;
    }
    if (options.memorySwap !== undefined && !swapLimitSupported()) {
      warnings.push(SWAP_LIMIT_WARNING);
      delete options.memorySwap;
    }
    const content = deps.content(ns);
    // A build step's image is an unnamed manifest its lease holds; anyone else's is named.
    const { manifest, config } = await traced('run.create.image', async () =>
      this.imageFor(ns, content, build ? build.manifest : await this.namedTarget(ns, request.image, ref), ref),
    );
    const taken = new Set<string>();
    for (const p of [...mountedPaths(options), ...wanted.map((v) => v.destination)]) {
      if (taken.has(p)) throw invalidArgument(`duplicate mount point: ${p}`);
      taken.add(p);
    }
    // The image's Volumes without a mount of their own get anonymous volumes.
    const imageVolumes = Object.keys(build ? {} : (config.config?.Volumes ?? {}))
      .map(normalPath)
      .filter((p) => p.startsWith('/') && p !== '/' && !taken.has(p));
    const volumes = [...wanted, ...[...new Set(imageVolumes)].map((destination): VolumeOption => ({ name: '', destination }))];

    // The network (netns, netd's attach) is made while the image is unpacked and the snapshot
    // prepared: it needs neither, and it is most of what a container on a network adds to a create.
    const network = traced('run.create.network', () =>
      deps.networking.setUp(ns, id, plan, {
        hostname: options.hostname,
        hostUts: options.utsMode === 'host',
        imageExposed: Object.keys(config.config?.ExposedPorts ?? {}),
        mounted: new Set([...mountedPaths(options), ...volumes.map((v) => v.destination)]),
      }),
    ).then(
      (net) => ({ net }),
      (err: unknown) => ({ err }),
    );
    const leases = deps.leases(ns);
    let created = false;
    try {
      const lease = await traced('run.create.lease', () => leases.createForOperation(LEASE_TTL_MS));
      try {
        const hold = (resource: Resource): Promise<void> => leases.addResource(lease.id, resource);
        const target = await traced('run.create.unpack-target', () => deps.unpackTarget(ns, request.snapshotter, hold));
        await traced('run.create.lease-hold', () => hold({ type: `snapshots/${target.snapshotter}`, id }));
        const key = snapshotName(ns, id);
        const top = chainIds(config.rootfs.diff_ids).at(-1) ?? '';
        const prepare = (): Promise<Mount[]> =>
          traced('run.create.snapshot-prepare', () => target.snapshots.prepare(key, top ? snapshotName(ns, top) : '', snapshotLabels));
        // An image unpacked before (the usual case) needs no unpack: its top layer's snapshot is the
        // parent, and once the container's snapshot is its child the snapshotter keeps the chain. Only
        // when that parent is missing is the image unpacked (its layers held by the lease), then prepared.
        const rootfs = await prepare().catch(async (err: unknown) => {
          if (!top || !isKind(err, ErrorKind.NotFound)) throw err;
          await traced('run.create.unpack', () => unpack(target, manifest));
          return prepare();
        });
        try {
          const record = async (): Promise<void> => {
            const made: string[] = [];
            try {
              const mounts: NonNullable<RunOptions['mounts']> = [];
              const copies: { destination: string; mountpoint: string }[] = [];
              for (const v of volumes) {
                const volume = await deps.volumes.createLocked(ns, { name: v.name, anonymous: !v.name });
                if (volume.made && !v.name) made.push(volume.name);
                mounts.push({
                  destination: v.destination,
                  type: 'bind',
                  source: volume.mountpoint,
                  options: ['rbind', v.readonly ? 'ro' : 'rw'],
                });
                if (!v.nocopy && readdirSync(volume.mountpoint).length === 0)
                  copies.push({ destination: v.destination, mountpoint: volume.mountpoint });
              }
              const networked = await traced('run.create.network-wait', () => network);
              if ('err' in networked) throw networked.err;
              const { net } = networked;
              const userMounts = [...mounts, ...(options.mounts ?? [])];
              const runOptions = {
                ...options,
                network: net.network ?? options.network,
                hostname: net.hostname,
                mounts: [...userMounts, ...net.mounts],
              };
              const spec = await traced('run.create.spec', () => this.spec(ns, id, config, runOptions, rootfs, copies));
              const value = tracedSync('run.create.spec-encode', () => Buffer.from(JSON.stringify(spec)));
              await traced('run.create.record', () =>
                containers.create({
                  id,
                  image: ref,
                  labels: { ...labels, ...net.labels },
                  runtime: runtimeRecord(runtime),
                  spec: { typeUrl: SPEC_TYPE_URL, value },
                  snapshotter: target.snapshotter,
                  snapshotKey: id,
                }),
              );
            } catch (err) {
              for (const name of made) await deps.volumes.removeLocked(ns, name, true).catch(() => undefined);
              throw err;
            }
          };
          if (volumes.length) await deps.volumes.exclusive(ns, record);
          else await record();
        } catch (err) {
          await target.snapshots.remove(key).catch(() => undefined);
          throw err;
        }
        created = true;
        return { id, rootfs, image: ref, warnings, attachSocket: deps.locateTask(ns, id).attachSocket };
      } finally {
        // Made: the container references all the lease held, so there is nothing to collect.
        await traced('run.create.lease-delete', () => leases.delete(lease.id, { collect: !created })).catch(() => undefined);
      }
    } catch (err) {
      // Whatever failed, the network made meanwhile goes too (a setUp that failed undid itself).
      if ('net' in (await network)) await deps.networking.tearDown(ns, id, plan.mode === 'networks').catch(() => undefined);
      throw err;
    }
  }

  /** The host's platform manifest of a named image. */
  private async namedTarget(ns: string, given: string, ref: string): Promise<Descriptor> {
    const image = await this.deps
      .images(ns)
      .get(ref)
      .catch((err: unknown) => {
        if (isKind(err, ErrorKind.NotFound))
          throw new EngineError(
            ErrorKind.NotFound,
            `image "${given}" not found: pull or import it first (ctl pull REF, ctl image import FILE)`,
            {
              reason: ErrorReason.ImageNotFound,
            },
          );
        throw err;
      });
    return image.target;
  }

  /** The container's OCI spec: the image config under the options, in the container's own cgroup under the instance's. */
  private async spec(
    ns: string,
    id: string,
    image: ImageConfig,
    options: Omit<RunOptions, 'id'>,
    rootfs: Mount[],
    copies: { destination: string; mountpoint: string }[],
  ): Promise<Spec> {
    const run: RunOptions = {
      ...options,
      id,
      cgroupsPath: options.cgroupsPath ?? `${this.deps.cgroupParent}/${ns}/${id}`,
      rootfs: 'rootfs',
    };
    const { Labels, ...rest } = image.config ?? {};
    const imageConfig = { ...rest, ...(Labels ? { Labels } : {}) };
    try {
      let spec: Spec;
      const byName = namesUser(options.user ?? imageConfig.User);
      if (byName || copies.length) {
        spec = await withReadonlyTempMount(rootfs, this.deps.tmpRoot, async (dir) => {
          await copyUp(dir, copies);
          return buildSpec(imageConfig, byName ? { ...run, rootfs: dir } : run);
        }).catch((err: unknown) => Promise.reject(wrap(err, 'read the image')));
        spec.root = { ...spec.root, path: 'rootfs' };
      } else {
        spec = buildSpec(imageConfig, run);
      }
      // buildSpec puts the defaults first, then binds, then mounts; the user's go parents first
      // (docker sorts them by depth), so a volume at /a cannot hide a bind at /a/b.
      const users = (run.binds?.length ?? 0) + (run.mounts?.length ?? 0);
      if (spec.mounts && users > 1) {
        const depth = (m: { destination: string }): number => m.destination.split('/').filter(Boolean).length;
        const head = spec.mounts.slice(0, spec.mounts.length - users);
        spec.mounts = [...head, ...spec.mounts.slice(head.length).sort((x, y) => depth(x) - depth(y))];
      }
      validateSpec(spec);
      return spec;
    } catch (err) {
      if (err instanceof SpecError) throw new EngineError(ErrorKind.InvalidArgument, err.message, { cause: err });
      throw err;
    }
  }

  /** A container's task (or exec) on this host: its stdio, root filesystem, OOM kill and netns (ctl.run.v1 Inspect). */
  async inspect(ns: string, id: string, execId = ''): Promise<TaskLocation & { netnsPath: string }> {
    const container = await this.deps.containers(ns).get(id);
    const netnsPath = ContainerNetworking.attached(container.labels) ? this.deps.networking.netnsPath(ns, id) : '';
    return { ...this.deps.locateTask(ns, id, execId), netnsPath };
  }

  /** docker network connect / disconnect of a container with a network namespace of its own (ctl.run.v1 Connect, Disconnect). */
  async connect(ns: string, id: string, attachment: AttachmentPlan): Promise<Endpoint> {
    await this.ownNetns(ns, id);
    return this.exclusively(ns, id, () => this.deps.networking.connect(ns, id, attachment));
  }

  async disconnect(ns: string, id: string, network: string): Promise<void> {
    await this.ownNetns(ns, id);
    return this.exclusively(ns, id, () => this.deps.networking.disconnect(ns, id, network));
  }

  private async ownNetns(ns: string, id: string): Promise<void> {
    const { labels } = await this.deps.containers(ns).get(id);
    if (!ContainerNetworking.attached(labels))
      throw failedPrecondition(
        `container ${id} has no network namespace of its own (--network none, host or container:): it cannot join or leave networks`,
      );
  }

  /** Runs in the restart supervisor's queue for the container, as every change of it does. */
  private exclusively<T>(ns: string, id: string, work: () => Promise<T>): Promise<T> {
    const { exclusive } = this.deps;
    return exclusive ? exclusive(ns, id, work) : work();
  }

  /**
   * Removes a container, its task (see removeTask) and snapshot; with removeVolumes its anonymous
   * volumes no other container uses. Runs in the restart supervisor's queue for the container, so
   * a pending restart is cancelled and none starts while it runs.
   */
  async remove(ns: string, id: string, force: boolean, removeVolumes = false): Promise<void> {
    return this.exclusively(ns, id, () => this.removeNow(ns, id, force, removeVolumes));
  }

  private async removeNow(ns: string, id: string, force: boolean, removeVolumes: boolean): Promise<void> {
    const containers = this.deps.containers(ns);
    const container = await traced('run.remove.get', () => containers.get(id)).catch((err: unknown) => {
      if (isKind(err, ErrorKind.NotFound)) throw notFound(`no such container: ${id}`);
      throw err;
    });
    await traced('run.remove.task', () => this.deps.removeTask(ns, id, force)).catch((err: unknown) => {
      if (isKind(err, ErrorKind.FailedPrecondition))
        throw failedPrecondition(`container ${id} is running: stop it first, or remove it with -f`);
      throw err;
    });
    // The store releases the network after its delete checks and before the record goes: a delete
    // refused because ctl run made the task meanwhile (racing this rm -f) leaves the container
    // whole, and a failed detach leaves it to remove again. The snapshot is removed here and now,
    // so no collection is needed for it.
    await traced('run.remove.record', () => containers.delete(id, { collect: !container.snapshotKey }));
    // A task create that found the record before it went has made its task by now (Get waits
    // for it); a later one finds no container.
    await traced('run.remove.task-again', () => this.deps.removeTask(ns, id, true));
    if (container.snapshotKey) {
      await traced('run.remove.snapshot', () =>
        this.deps.snapshots(container.snapshotter).remove(snapshotName(ns, container.snapshotKey)),
      ).catch((err: unknown) => {
        if (!isKind(err, ErrorKind.NotFound)) throw err;
      });
    }
    const names = removeVolumes ? this.deps.volumes.usedBy(ns, container) : [];
    if (names.length) {
      const { volumes } = this.deps;
      await volumes.exclusive(ns, async () => {
        for (const name of names) {
          const volume = await volumes.get(ns, name).catch(() => undefined);
          // Another container may use it too: docker keeps it then.
          if (volume?.anonymous && volume.usedBy.length === 0) await volumes.removeLocked(ns, name, true);
        }
      });
    }
  }
}

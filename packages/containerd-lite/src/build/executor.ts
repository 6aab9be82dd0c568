/**
 * The build executor: runs the stages a target needs on the engine's own parts and makes the
 * image. Stages run as soon as the stages they use are done, so independent ones run in
 * parallel; the first failure stops the others.
 *
 * A stage's state is an image (config with history, layers, the chain id of its top snapshot),
 * written into content as a manifest after every step, and its cache key. Each step either
 * finds its key in the build cache (cache.ts) and takes the recorded state as it is, timestamps
 * included, so an unchanged rebuild gives the same manifest digest, or runs:
 *
 *   metadata (ENV, LABEL, CMD, …)  the config changes, a history entry with empty_layer
 *   RUN                            a container on the state (run-step.ts), its snapshot diffed
 *   COPY, ADD, WORKDIR             a snapshot prepared on the state, mounted here, changed
 *
 * A diff that is not empty becomes a layer (gzip, or as -o compression= says), and the snapshot
 * it came from is committed as the new chain id (so nothing is applied twice); an empty one is an
 * empty_layer entry. The build's own lease holds everything it makes until the images (for the
 * tags) and the cache records' leases hold what stays.
 */
import { EngineError, ErrorKind, errorKind, isKind, notFound } from '@ctl/proto/errors';
import { ensureDir } from '@ctl/proto/fsutil';
import { type Platform, format, hostPlatform, only, parse as parsePlatform } from '@ctl/proto/platforms';
import { normalizeReference } from '@ctl/proto/reference';
import { withReadonlyTempMount, withTempMount } from '@ctl/runtime-native/mount';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportArchive } from '../archive';
import type { Content } from '../content/content';
import { snapshotName } from '../gc/mark';
import type { Image, Images } from '../images/images';
import type { OperationLeases, Resource } from '../leases/leases';
import { type Descriptor, MediaType, sha256 } from '../oci';
import { snapshotLayer, writeImage } from '../run/image-writer';
import { hostManifest } from '../run/runner';
import { type UnpackTarget, unpack } from '../unpack/unpacker';
import { type BuildCache, cacheKey } from './cache';
import { ImageReads, type ReadImage } from './image-reads';
import {
  type BuildConfig,
  DEFAULT_SHELL,
  cloneConfig,
  commandArgs,
  envMap,
  exposedPorts,
  healthConfig,
  jsonList,
  runCommand,
  scratchConfig,
  setEnv,
  withHistory,
  workdirPath,
} from './config';
import { resolveChown } from './chown';
import { copyInto, hashSources } from './copy';
import type { FileDigests } from './context';
import { mkdirInRoot, resolveInRoot } from '@ctl/runtime-native/in-root';
import { expand } from './dockerfile/expand';
import { DockerfileError, type Dockerfile, type Instruction, type Stage } from './dockerfile/model';
import { parseDockerfile } from './dockerfile/parse';
import { dependencies, stagesNeeded } from './dockerfile/stages';
import { NO_LIMITS, type RunLimits, type RunStepDeps, limitsKey, runStep } from './run-step';

export interface BuildRequest {
  dockerfile: Dockerfile;
  /** For messages: "Dockerfile", "-", a path. */
  dockerfileName: string;
  /** The build context, extracted. */
  contextDir: string;
  /** Its files' digests, taken as it was extracted (they need not be read again for COPY's cache keys). */
  contextDigests?: FileDigests;
  tags: string[];
  buildArgs: Record<string, string>;
  /** The stage to build; "": the last one. */
  target: string;
  noCache: boolean;
  pull: boolean;
  /** os/arch[/variant]; "": this host's. */
  platform: string;
  /** Labels of the final image (docker build --label). */
  labels: Record<string, string>;
  /** RUN steps' network: none, host or default (the engine's default network); "": default. */
  network: string;
  /** Every RUN step's container's limits (docker build's --memory, --cpu-*, --ulimit, --shm-size); none when absent. */
  limits?: RunLimits;
  snapshotter: string;
  /**
   * Also an archive of the image (type oci or docker) at dest; the compression of the layers
   * the build makes ("", gzip, zstd, uncompressed).
   */
  output?: { type: string; dest: string; compression?: string; forceCompression?: boolean } | null;
}

/** buildx's compression= values → the media type of the layers a build makes. */
const LAYER_MEDIA_TYPES: Record<string, string> = {
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
  uncompressed: MediaType.ociLayer,
};

/** What a build reports as it goes (BuildEvent of ctl.build.v1 less the result). */
export type BuildProgress =
  | { started: { id: string; name: string; stage: string; line: number } }
  | { log: { id: string; stream: 1 | 2; data: Buffer } }
  | { done: { id: string; cached: boolean; durationNs: number; error: string } }
  | { warning: { message: string; line: number } };

export interface BuildOutcome {
  /** The config's digest (docker's image id). */
  imageId: string;
  manifestDigest: string;
  names: string[];
}

export interface ExecutorDeps extends RunStepDeps {
  content(ns: string): Content;
  images(ns: string): Images;
  leases(ns: string): OperationLeases;
  unpackTarget(ns: string, snapshotter: string, hold: (resource: Resource) => Promise<void>): Promise<UnpackTarget>;
  cache: BuildCache;
  /** Image reads remembered across builds (the executor's own when not given). */
  imageReads?: ImageReads;
  /** Where RUN --mount=type=cache directories live (`<dir>/<ns>/<hash of id>`). */
  cacheMountsRoot: string;
  /** Fetches an image for the platform (Transfer's pull), for --pull. */
  pull?(ns: string, reference: string, platform: Platform, signal?: AbortSignal): Promise<void>;
}

interface State {
  config: BuildConfig;
  layers: Descriptor[];
  /** The chain id of the top layer ("" for none). */
  chainId: string;
  key: string;
  manifest: Descriptor;
}

/** What a step did to the state: its config (before the history entry), and its layer if any. */
interface Outcome {
  config: BuildConfig;
  createdBy: string;
  layer?: NewLayer;
}

interface NewLayer {
  descriptor: Descriptor;
  diffId: string;
  size: number;
  chainId: string;
}

/** A step ready to run: its cache key's parts, and the work. */
interface Prepared {
  parts: unknown[];
  run(): Promise<Outcome>;
}

const LEASE_TTL_MS = 24 * 3600_000;
const NETWORKS = new Set(['none', 'host', 'default']);
/** Docker's predefined proxy args: usable by RUN without an ARG, kept out of history and cache keys. */
const PROXY_ARGS = new Set(
  ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'].flatMap((name) => [name, name.toLowerCase()]),
);
/** Instructions an ONBUILD may not hold (docker's rule). */
const NOT_ON_BUILD = new Set(['ONBUILD', 'FROM', 'MAINTAINER']);

const cancelled = (): EngineError => new EngineError(ErrorKind.Canceled, 'the build was cancelled');

/** The automatic platform args (BuildKit's), in the global scope. */
function platformArgs(target: Platform, build: Platform): Map<string, string> {
  return new Map([
    ['TARGETPLATFORM', format(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['BUILDPLATFORM', format(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
  ]);
}

/** An Images of one image, for the archive exporter (--output). */
function oneImage(image: Image): Images {
  const refuse = (): never => {
    throw new EngineError(ErrorKind.NotImplemented, 'not for a build output');
  };
  return {
    get: async (name) => {
      if (name !== image.name) throw notFound(`image "${name}" not found`);
      return image;
    },
    list: async () => [image],
    create: refuse,
    update: refuse,
    delete: refuse,
  };
}

/** One build: its request, lease, snapshotter target, stages' states and the events it sends. */
class Build {
  readonly states = new Map<number, Promise<State>>();
  readonly globals: Map<string, string>;
  readonly consumed = new Set<string>();
  readonly platform: Platform;
  readonly autoArgs: Map<string, string>;
  /** The media type of the layers this build makes. */
  readonly layerMediaType: string;
  /**
   * What a step's cache key adds for the layers' compression: nothing for gzip (the keys of
   * builds before compression= stay valid), else its name, so that a step cached with gzip
   * layers is not taken as it is by a zstd build (nor the other way round). Steps of another
   * compression run again; base images' layers are kept as they are either way.
   */
  readonly compressionKey: string[];

  constructor(
    readonly deps: ExecutorDeps,
    readonly ns: string,
    readonly request: BuildRequest,
    readonly target: UnpackTarget,
    readonly lease: string,
    readonly emit: (event: BuildProgress) => void,
    readonly signal: AbortSignal,
  ) {
    this.platform = request.platform ? parsePlatform(request.platform) : hostPlatform();
    const compression = request.output?.compression || 'gzip';
    this.layerMediaType = LAYER_MEDIA_TYPES[compression]!;
    this.compressionKey = compression === 'gzip' ? [] : [`compression=${compression}`];
    this.autoArgs = platformArgs(this.platform, hostPlatform());
    this.globals = new Map(this.autoArgs);
    for (const arg of request.dockerfile.globalArgs) {
      const value = this.buildArg(arg.name) ?? (arg.default !== undefined ? this.expand(arg.default, this.globals) : undefined);
      if (value !== undefined) this.globals.set(arg.name, value);
      else this.globals.delete(arg.name);
    }
  }

  get escape(): string {
    return this.request.dockerfile.escape;
  }

  expand(word: string, vars: ReadonlyMap<string, string>): string {
    return expand(word, vars, this.escape);
  }

  /** A --build-arg's value (noting it was used), if given. */
  buildArg(name: string): string | undefined {
    if (!Object.prototype.hasOwnProperty.call(this.request.buildArgs, name)) return undefined;
    this.consumed.add(name);
    return this.request.buildArgs[name];
  }

  hold = (resource: Resource): Promise<void> => this.deps.leases(this.ns).addResource(this.lease, resource);

  get content(): Content {
    return this.deps.content(this.ns);
  }

  readImage(manifest: Descriptor): Promise<ReadImage> {
    return this.deps.imageReads!.get(this.content, manifest);
  }

  /** A written state's snapshot exists in this build's snapshotter (a cached one may be elsewhere). */
  async ensureSnapshot(state: State): Promise<void> {
    if (state.chainId) await unpack(this.target, state.manifest, undefined, this.signal);
  }

  /**
   * The platform manifest of a local image (pulled first with --pull); NotFound names it (the
   * step's error adds the line). `what` says what the word is for ("base image", "--from image").
   * A platform asked for (--platform, FROM --platform) must be the image's, as docker refuses an
   * image of another platform; the host's, when none was asked for, only warns.
   */
  async resolveImage(
    word: string,
    platform: Platform,
    line: number,
    use: { what: string; platformAsked: boolean },
  ): Promise<{ reference: string; manifest: Descriptor }> {
    let reference: string;
    try {
      reference = normalizeReference(word);
    } catch (err) {
      throw new DockerfileError(`invalid image reference "${word}": ${(err as Error).message}`, line);
    }
    let pullError: unknown;
    if (this.request.pull) {
      if (!this.deps.pull) pullError = new Error('pulling is not available');
      else await this.deps.pull(this.ns, reference, platform, this.signal).catch((err: unknown) => (pullError = err));
      this.signal.throwIfAborted();
    }
    const image = await this.deps
      .images(this.ns)
      .get(reference)
      .catch((err: unknown) => {
        if (!isKind(err, ErrorKind.NotFound)) throw err;
        const why = pullError
          ? `, and pulling it failed: ${(pullError as Error).message}`
          : ': pull or import it first, or build with --pull';
        throw notFound(`${use.what} "${word}" is not in the image store${why}`);
      });
    if (pullError)
      this.emit({ warning: { message: `pulling ${reference} failed, the local image is used: ${(pullError as Error).message}`, line } });
    const manifest = await hostManifest(this.content, image.target, reference, platform).catch((err: unknown) => {
      if (isKind(err, ErrorKind.NotFound)) throw notFound(`${use.what} "${word}" has no manifest for ${format(platform)}`);
      throw err;
    });
    // An image of one manifest says its platform only in its config.
    if (!manifest.platform) {
      const { config } = await this.readImage(manifest);
      const has = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
      if (!only(platform).match(has)) {
        const message = `${use.what} "${word}" is for ${format(has)}, not ${format(platform)}`;
        if (use.platformAsked) throw notFound(message);
        this.emit({ warning: { message, line } });
      }
    }
    return { reference, manifest };
  }

  /** The state of an image as it is (its own manifest). */
  async imageState(manifest: Descriptor, key: string): Promise<State> {
    await this.hold({ type: 'content', id: manifest.digest });
    const { manifest: m, config } = await this.readImage(manifest);
    const chain = chainOf(config.rootfs.diff_ids);
    return { config: imageConfigFields(config as BuildConfig), layers: m.layers, chainId: chain, key, manifest };
  }

  /** Writes a new state's image (config and manifest) under the build's lease. */
  async writeState(config: BuildConfig, layers: Descriptor[], chainId: string, key: string): Promise<State> {
    const written = await writeImage(this.content, { config, layers }, { lease: this.lease, hold: this.hold, refPrefix: 'build' });
    return { config, layers, chainId, key, manifest: written.manifest };
  }

  /** fn on a snapshot prepared on the state and mounted read-write; the snapshot's key (the caller removes it). */
  async onSnapshot(state: State, fn: (rootfs: string) => Promise<void>): Promise<string> {
    await this.ensureSnapshot(state);
    const key = `build-${randomBytes(8).toString('hex')}`;
    await this.hold({ type: `snapshots/${this.target.snapshotter}`, id: key });
    const mounts = await this.target.snapshots.prepare(
      snapshotName(this.ns, key),
      state.chainId ? snapshotName(this.ns, state.chainId) : '',
    );
    try {
      await withTempMount(mounts, this.deps.tmpRoot, fn);
    } catch (err) {
      await this.removeSnapshot(key);
      throw err;
    }
    return key;
  }

  async removeSnapshot(key: string): Promise<void> {
    await this.target.snapshots.remove(snapshotName(this.ns, key)).catch((err: unknown) => {
      if (!isKind(err, ErrorKind.NotFound)) throw err;
    });
  }

  /** fn on a read-only view of the state's files. */
  async onView<T>(state: State, fn: (rootfs: string) => Promise<T>): Promise<T> {
    if (!state.chainId) {
      ensureDir(this.deps.tmpRoot);
      const empty = await mkdtemp(join(this.deps.tmpRoot, 'empty-'));
      try {
        return await fn(empty);
      } finally {
        await rm(empty, { recursive: true, force: true });
      }
    }
    await this.ensureSnapshot(state);
    const key = `build-view-${randomBytes(8).toString('hex')}`;
    await this.hold({ type: `snapshots/${this.target.snapshotter}`, id: key });
    const mounts = await this.target.snapshots.view(snapshotName(this.ns, key), snapshotName(this.ns, state.chainId));
    try {
      return await withReadonlyTempMount(mounts, this.deps.tmpRoot, fn);
    } finally {
      await this.removeSnapshot(key);
    }
  }

  /**
   * The snapshot's changes over the state as a layer; the snapshot is committed as the new
   * chain id (another build may have made it first: then it is the same). undefined when empty.
   */
  async layerOf(state: State, snapshotKey: string): Promise<NewLayer | undefined> {
    const diff = await snapshotLayer({
      target: this.target,
      parent: state.chainId,
      key: snapshotKey,
      lease: this.lease,
      hold: this.hold,
      tmpRoot: this.deps.tmpRoot,
      refPrefix: 'build',
      mediaType: this.layerMediaType,
      signal: this.signal,
    });
    if (diff.empty || !diff.layer) return undefined;
    const chainId = state.chainId ? sha256(`${state.chainId} ${diff.diffId}`) : diff.diffId;
    await this.hold({ type: `snapshots/${this.target.snapshotter}`, id: chainId });
    await this.target.snapshots.commit(snapshotName(this.ns, chainId), snapshotName(this.ns, snapshotKey)).catch((err: unknown) => {
      if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
    });
    return { descriptor: diff.layer, diffId: diff.diffId, size: diff.size, chainId };
  }

  /** The final state of a stage this one uses (stagesNeeded put it among the stages to run). */
  stageState(index: number, line: number): Promise<State> {
    const state = this.states.get(index);
    if (!state) throw new DockerfileError(`stage ${index} is used here but was not scheduled to run`, line);
    return state;
  }

  /** Runs every stage the target needs; the target's state. */
  async run(): Promise<{ state: State; stage: Stage }> {
    const df = this.request.dockerfile;
    const needed = stagesNeeded(df, this.request.target || undefined, this.request.buildArgs);
    const top = needed[needed.length - 1]!;
    const stop = new AbortController();
    const signal = AbortSignal.any([this.signal, stop.signal]);
    let firstError: unknown;
    for (const stage of needed) {
      const uses = dependencies(stage, df).filter((i) => i !== stage.index);
      const promise = (async () => {
        for (const i of uses) await this.states.get(i);
        return new StageBuild(this, stage, stage === top, signal).run();
      })();
      promise.catch((err: unknown) => {
        firstError ??= err;
        stop.abort();
      });
      this.states.set(stage.index, promise);
    }
    await Promise.allSettled(this.states.values());
    if (firstError !== undefined) throw this.signal.aborted ? cancelled() : firstError;
    return { state: await this.states.get(top.index)!, stage: top };
  }
}

/** Fields of a base image's config that a built image keeps (docker's container_config and the like go). */
const KEPT_FIELDS = ['created', 'author', 'architecture', 'os', 'os.version', 'os.features', 'variant', 'config', 'rootfs', 'history'];
const imageConfigFields = (config: BuildConfig): BuildConfig =>
  Object.fromEntries(Object.entries(config).filter(([k]) => KEPT_FIELDS.includes(k))) as unknown as BuildConfig;

const chainOf = (diffIds: readonly string[]): string =>
  diffIds.reduce((chain, diffId) => (chain ? sha256(`${chain} ${diffId}`) : diffId), '');

/** One stage's run: its scope (ARGs, whether CMD was set) and state, step by step. */
class StageBuild {
  private readonly args = new Map<string, string | undefined>();
  private cmdSet = false;
  private state!: State;
  private step = 0;
  private total: number;
  private readonly label: string;

  constructor(
    private readonly build: Build,
    private readonly stage: Stage,
    isTarget: boolean,
    private readonly signal: AbortSignal,
  ) {
    this.total = stage.instructions.length + 1;
    this.label = stage.name ?? (isTarget ? '' : `stage-${stage.index}`);
  }

  private get deps(): ExecutorDeps {
    return this.build.deps;
  }

  private get ns(): string {
    return this.build.ns;
  }

  /** The words' variables: the stage's ARGs with values, under the state's ENV (ENV wins, as docker's). */
  private vars(): Map<string, string> {
    const vars = new Map<string, string>();
    for (const [k, v] of this.args) if (v !== undefined) vars.set(k, v);
    for (const [k, v] of envMap(this.state.config.config?.Env)) vars.set(k, v);
    return vars;
  }

  private x(word: string): string {
    return this.build.expand(word, this.vars());
  }

  private stepName(text: string): string {
    return `[${this.label ? `${this.label} ` : ''}${this.step}/${this.total}] ${text}`;
  }

  /** Runs one step with its events; the error names the step. */
  private async track(line: number, text: string, work: () => Promise<boolean>): Promise<void> {
    this.step++;
    const id = `${this.stage.index}:${this.step}`;
    const name = this.stepName(text);
    const started = process.hrtime.bigint();
    this.build.emit({ started: { id, name, stage: this.label || `stage-${this.stage.index}`, line } });
    try {
      const cached = await work();
      this.build.emit({ done: { id, cached, durationNs: Number(process.hrtime.bigint() - started), error: '' } });
    } catch (err) {
      const error = this.signal.aborted && !(err instanceof DockerfileError) ? cancelled() : err;
      this.build.emit({
        done: { id, cached: false, durationNs: Number(process.hrtime.bigint() - started), error: (error as Error).message },
      });
      throw this.named(error, name, line);
    }
  }

  private named(err: unknown, name: string, line: number): unknown {
    if (err instanceof DockerfileError || isKind(err, ErrorKind.Canceled)) return err;
    const where = `${this.build.request.dockerfileName}:${line}`;
    return new EngineError(errorKind(err), `${name} (${where}): ${(err as Error).message}`, { cause: err });
  }

  async run(): Promise<State> {
    await this.track(this.stage.line, this.stage.original, () => this.from());
    const triggers = this.state.config.config?.OnBuild ?? [];
    if (triggers.length) {
      this.state = { ...this.state, config: cloneConfig(this.state.config) };
      this.state.config.config!.OnBuild = null;
      this.total += triggers.length;
      for (const trigger of triggers) {
        const ins = onBuildInstruction(trigger, this.stage.line);
        await this.track(ins.line, `ONBUILD ${ins.original}`, () => this.instruction(ins));
      }
    }
    for (const ins of this.stage.instructions) {
      this.signal.throwIfAborted();
      await this.track(ins.line, ins.original, () => this.instruction(ins));
    }
    return this.state;
  }

  private async from(): Promise<boolean> {
    const { build, stage } = this;
    const word = build.expand(stage.base, build.globals);
    const platform = stage.platform ? parsePlatform(build.expand(stage.platform, build.globals)) : build.platform;
    const df = build.request.dockerfile;
    const earlier = df.stages.findIndex((s, i) => i < stage.index && s.name !== undefined && s.name === word.toLowerCase());
    if (earlier >= 0) {
      this.state = await build.stageState(earlier, stage.line);
      return true;
    }
    if (word.toLowerCase() === 'scratch') {
      const config = scratchConfig(platform);
      this.state = await build.writeState(config, [], '', cacheKey(['scratch', format(platform)]));
      return false;
    }
    const { manifest } = await build.resolveImage(word, platform, stage.line, {
      what: 'base image',
      platformAsked: Boolean(stage.platform || build.request.platform),
    });
    this.state = await build.imageState(manifest, cacheKey(['FROM', manifest.digest]));
    return false;
  }

  /** Takes the step from the cache, or runs it; whether it was cached. */
  private async instruction(ins: Instruction): Promise<boolean> {
    const prepared = await this.prepare(ins);
    const key = cacheKey([this.state.key, ...prepared.parts, ...this.build.compressionKey]);
    const { build } = this;
    if (!build.request.noCache) {
      const hit = await this.deps.cache.get(this.ns, key);
      if (hit) {
        await build.hold({ type: 'content', id: hit.manifest.digest });
        if (hit.chainId) await build.hold({ type: `snapshots/${build.target.snapshotter}`, id: hit.chainId });
        const { manifest, config } = await build.readImage(hit.manifest);
        this.state = { config: config as BuildConfig, layers: manifest.layers, chainId: hit.chainId, key, manifest: hit.manifest };
        return true;
      }
    }
    const outcome = await prepared.run();
    const created = new Date().toISOString();
    const config = withHistory(outcome.config, outcome.createdBy, created, Boolean(outcome.layer));
    let layers = this.state.layers;
    let chainId = this.state.chainId;
    if (outcome.layer) {
      config.rootfs = { type: 'layers', diff_ids: [...config.rootfs.diff_ids, outcome.layer.diffId] };
      layers = [...layers, outcome.layer.descriptor];
      chainId = outcome.layer.chainId;
    }
    this.state = await build.writeState(config, layers, chainId, key);
    await this.deps.cache.put(this.ns, key, {
      manifest: this.state.manifest,
      chainId,
      snapshotter: build.target.snapshotter,
      description: `${this.label ? `[${this.label}] ` : ''}${ins.original}`,
      size: outcome.layer?.size ?? 0,
    });
    return false;
  }

  /** A copy of the state's config with its container config there to change. */
  private config(): BuildConfig & { config: NonNullable<BuildConfig['config']> } {
    const config = cloneConfig(this.state.config);
    config.config ??= {};
    return config as BuildConfig & { config: NonNullable<BuildConfig['config']> };
  }

  private metadata(parts: unknown[], change: (config: ReturnType<StageBuild['config']>) => string): Prepared {
    return {
      parts,
      run: async () => {
        const config = this.config();
        const createdBy = change(config);
        return { config, createdBy };
      },
    };
  }

  private shell(): string[] {
    return this.state.config.config?.Shell ?? DEFAULT_SHELL;
  }

  private async prepare(ins: Instruction): Promise<Prepared> {
    const line = ins.line;
    switch (ins.kind) {
      case 'ARG': {
        const values: string[] = [];
        for (const arg of ins.args) {
          const given = this.build.buildArg(arg.name);
          const value =
            given ??
            (arg.default !== undefined ? this.x(arg.default) : (this.build.globals.get(arg.name) ?? this.build.autoArgs.get(arg.name)));
          this.args.set(arg.name, value);
          values.push(value === undefined ? arg.name : `${arg.name}=${value}`);
        }
        return this.metadata(['ARG', values], () => `ARG ${values.join(' ')}`);
      }
      case 'ENV': {
        const vars = this.vars();
        const pairs = ins.pairs.map((p) => [this.build.expand(p.key, vars), this.build.expand(p.value, vars)] as const);
        for (const [key] of pairs) if (!key) throw new DockerfileError('ENV names must not be empty', line);
        return this.metadata(['ENV', pairs], (config) => {
          for (const [key, value] of pairs) config.config.Env = setEnv(config.config.Env, key, value);
          return `ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
        });
      }
      case 'LABEL': {
        const vars = this.vars();
        const pairs = ins.pairs.map((p) => [this.build.expand(p.key, vars), this.build.expand(p.value, vars)] as const);
        return this.metadata(['LABEL', pairs], (config) => {
          config.config.Labels = { ...(config.config.Labels ?? {}), ...Object.fromEntries(pairs) };
          return `LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
        });
      }
      case 'USER':
      case 'STOPSIGNAL': {
        const value = this.x(ins.value);
        if (!value) throw new DockerfileError(`${ins.kind} needs a value`, line);
        return this.metadata([ins.kind, value], (config) => {
          if (ins.kind === 'USER') config.config.User = value;
          else config.config.StopSignal = value;
          return `${ins.kind} ${value}`;
        });
      }
      case 'MAINTAINER':
        return {
          parts: ['MAINTAINER', ins.value],
          run: async () => ({ config: { ...this.config(), author: ins.value }, createdBy: `MAINTAINER ${ins.value}` }),
        };
      case 'EXPOSE': {
        const ports = exposedPorts(
          ins.ports.flatMap((p) => this.x(p).split(/\s+/).filter(Boolean)),
          line,
        );
        return this.metadata(['EXPOSE', ports], (config) => {
          config.config.ExposedPorts = { ...(config.config.ExposedPorts ?? {}), ...Object.fromEntries(ports.map((p) => [p, {}])) };
          return `EXPOSE ${ports.join(' ')}`;
        });
      }
      case 'VOLUME': {
        const paths = ins.paths.map((p) => this.x(p));
        if (paths.some((p) => !p.trim())) throw new DockerfileError('VOLUME paths must not be empty', line);
        return this.metadata(['VOLUME', paths], (config) => {
          config.config.Volumes = { ...(config.config.Volumes ?? {}), ...Object.fromEntries(paths.map((p) => [p, {}])) };
          return `VOLUME ${jsonList(paths)}`;
        });
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const args = commandArgs(ins.command, this.shell());
        if (ins.kind === 'CMD') this.cmdSet = true;
        const clearCmd = ins.kind === 'ENTRYPOINT' && !this.cmdSet;
        return this.metadata([ins.kind, args, clearCmd], (config) => {
          if (ins.kind === 'CMD') config.config.Cmd = args;
          else {
            config.config.Entrypoint = args;
            // docker: an ENTRYPOINT drops the Cmd the stage inherited (not one it set itself)
            if (clearCmd) config.config.Cmd = null;
          }
          return `${ins.kind} ${jsonList(args)}`;
        });
      }
      case 'SHELL':
        if (!ins.args.length) throw new DockerfileError('SHELL needs a JSON array of at least one word', line);
        return this.metadata(['SHELL', ins.args], (config) => {
          config.config.Shell = ins.args;
          return `SHELL ${jsonList(ins.args)}`;
        });
      case 'HEALTHCHECK': {
        const health = healthConfig(ins.healthcheck, line);
        return this.metadata(['HEALTHCHECK', health], (config) => {
          config.config.Healthcheck = health;
          return `HEALTHCHECK ${JSON.stringify(health)}`;
        });
      }
      case 'ONBUILD': {
        const kind = /^\s*(\S+)/.exec(ins.trigger)?.[1]?.toUpperCase() ?? '';
        if (NOT_ON_BUILD.has(kind)) throw new DockerfileError(`${kind} isn't allowed as an ONBUILD trigger`, line);
        return this.metadata(['ONBUILD', ins.trigger], (config) => {
          config.config.OnBuild = [...(config.config.OnBuild ?? []), ins.trigger];
          return `ONBUILD ${ins.trigger}`;
        });
      }
      case 'WORKDIR':
        return this.workdir(ins.value, line);
      case 'RUN':
        return this.runInstruction(ins);
      case 'COPY':
      case 'ADD':
        return this.copyInstruction(ins);
    }
  }

  /** WORKDIR: the config's, and the directory made (owned by USER) when missing; a layer only then. */
  private workdir(value: string, line: number): Prepared {
    const given = this.x(value);
    if (!given) throw new DockerfileError('WORKDIR needs a path', line);
    const path = workdirPath(this.state.config.config?.WorkingDir, given);
    const user = this.state.config.config?.User ?? '';
    return {
      parts: ['WORKDIR', path, user],
      run: async () => {
        const config = this.config();
        config.config.WorkingDir = path;
        const state = this.state;
        let made = false;
        const key = await this.build.onSnapshot(state, async (rootfs) => {
          if (
            await lstat(await resolveInRoot(rootfs, path)).then(
              () => true,
              () => false,
            )
          )
            return;
          const owner = user ? await resolveChown(rootfs, user) : { uid: 0, gid: 0 };
          await mkdirInRoot(rootfs, path, { ...owner, mode: 0o755 });
          made = true;
        });
        try {
          const layer = made ? await this.build.layerOf(state, key) : undefined;
          return { config, createdBy: `WORKDIR ${path}`, ...(layer ? { layer } : {}) };
        } finally {
          await this.build.removeSnapshot(key);
        }
      },
    };
  }

  private network(given: string | undefined, line: number): 'none' | 'host' | 'default' {
    const network = given || this.build.request.network || 'default';
    if (!NETWORKS.has(network)) throw new DockerfileError(`network "${network}": one of none, host, default`, line);
    return network as 'none' | 'host' | 'default';
  }

  private runInstruction(ins: Extract<Instruction, { kind: 'RUN' }>): Prepared {
    const line = ins.line;
    if (ins.security && ins.security !== 'sandbox') throw new DockerfileError(`RUN --security=${ins.security} is not supported`, line);
    const network = this.network(ins.network, line);
    const vars = this.vars();
    const cacheMounts = ins.mounts.map((m) => {
      const options = Object.fromEntries(Object.entries(m.options).map(([k, v]) => [k, this.build.expand(v, vars)]));
      if (m.type !== 'cache')
        throw new DockerfileError(
          `RUN --mount=type=${m.type} is not supported: only type=cache mounts are (a directory kept between builds)`,
          line,
        );
      const target = options.target ?? options.dst ?? options.destination;
      if (!target) throw new DockerfileError('RUN --mount=type=cache needs a target', line);
      if (options.from || options.source) throw new DockerfileError('RUN --mount=type=cache with from/source is not supported', line);
      return {
        id: options.id || target,
        target: workdirPath(this.state.config.config?.WorkingDir, target),
        readonly: 'ro' in options || 'readonly' in options,
        mode: options.mode ? parseInt(options.mode, 8) : 0o755,
        uid: Number(options.uid ?? 0),
        gid: Number(options.gid ?? 0),
      };
    });
    const { args, scripts } = runCommand(ins, this.shell());
    const env = envMap(this.state.config.config?.Env);
    const argEnv = [...this.args].filter(([k, v]) => v !== undefined && !env.has(k)).map(([k, v]) => `${k}=${v}`);
    const proxies = Object.entries(this.build.request.buildArgs)
      .filter(([k]) => PROXY_ARGS.has(k) && !this.args.has(k) && !env.has(k))
      .map(([k, v]) => {
        this.build.consumed.add(k);
        return `${k}=${v}`;
      });
    const historyArgs = argEnv.filter((e) => !PROXY_ARGS.has(e.slice(0, e.indexOf('='))));
    const config = this.state.config.config;
    const user = config?.User ?? '';
    const workdir = config?.WorkingDir || '/';
    const limits = this.build.request.limits ?? NO_LIMITS;
    const limitsPart = limitsKey(limits);
    return {
      parts: ['RUN', args, historyArgs, network, cacheMounts, scripts, ...(limitsPart ? [limitsPart] : [])],
      run: async () => {
        const state = this.state;
        const { build } = this;
        ensureDir(build.deps.tmpRoot);
        const scriptDir = scripts.length ? await mkdtemp(join(build.deps.tmpRoot, 'heredoc-')) : undefined;
        try {
          const binds = [];
          for (const s of scripts) {
            const file = join(scriptDir!, s.name);
            await writeFile(file, s.content, { mode: 0o755 });
            binds.push({ source: file, destination: s.path, readonly: true });
          }
          for (const m of cacheMounts) binds.push({ source: await this.cacheDir(m), destination: m.target, readonly: m.readonly });
          const description = `${this.label ? `[${this.label}] ` : ''}${ins.original}`;
          const id = `${this.stage.index}:${this.step}`;
          const layer = await runStep(
            build.deps,
            this.ns,
            {
              manifest: state.manifest,
              snapshotter: build.target.snapshotter,
              args,
              env: [...argEnv, ...proxies],
              user,
              workdir,
              network,
              limits,
              binds,
              description,
              output: (stream, data) => build.emit({ log: { id, stream, data } }),
              signal: this.signal,
            },
            (key) => build.layerOf(state, key),
          );
          const createdBy = `RUN ${historyArgs.length ? `|${historyArgs.length} ${historyArgs.join(' ')} ` : ''}${args.join(' ')}`;
          return { config: cloneConfig(state.config), createdBy, ...(layer ? { layer } : {}) };
        } finally {
          if (scriptDir) await rm(scriptDir, { recursive: true, force: true });
        }
      },
    };
  }

  /** A RUN --mount=type=cache directory: one per id, kept between builds (`ctl builder prune --all` empties them). */
  private async cacheDir(m: { id: string; mode: number; uid: number; gid: number }): Promise<string> {
    const dir = join(this.deps.cacheMountsRoot, this.ns, createHash('sha256').update(m.id).digest('hex'));
    if (!existsSync(dir)) {
      await mkdir(dir, { recursive: true });
      await chmod(dir, m.mode);
      await chown(dir, m.uid, m.gid);
    }
    return dir;
  }

  private async copyInstruction(ins: Extract<Instruction, { kind: 'COPY' | 'ADD' }>): Promise<Prepared> {
    const line = ins.line;
    const flags = Object.keys(ins.flags);
    if (flags.length) throw new DockerfileError(`${ins.kind} --${flags[0]} is not supported`, line);
    const vars = this.vars();
    const x = (word: string): string => this.build.expand(word, vars);
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    const sources = ins.sources.map((s) => (s.startsWith('<<') ? s : x(s)));
    const dest = x(ins.dest);
    const chownSpec = ins.chown !== undefined ? x(ins.chown) : undefined;
    const chmodSpec = ins.chmod !== undefined ? x(ins.chmod) : undefined;
    const from = ins.from !== undefined ? x(ins.from) : undefined;
    if (!dest) throw new DockerfileError(`${ins.kind} needs a destination`, line);
    const remote = ins.kind === 'ADD' ? sources.find((s) => /^(https?|git):\/\/|^git@/.test(s)) : undefined;
    if (remote !== undefined)
      throw new DockerfileError(`ADD ${remote}: sources from a URL or git are not supported (the build has no network of its own)`, line);
    if (chmodSpec !== undefined && !/^[0-7]{1,4}$/.test(chmodSpec))
      throw new DockerfileError(`--chmod=${chmodSpec}: not an octal mode`, line);
    const here = sources.filter((s) => s.startsWith('<<'));
    if (here.length && here.length !== sources.length)
      throw new DockerfileError(`${ins.kind}: heredoc sources cannot be mixed with other sources`, line);
    const inline = here.map((s) => {
      const name = s.replace(/^<<-?/, '').replace(/^["']|["']$/g, '');
      const h = heredocs.get(name);
      if (!h) throw new DockerfileError(`${ins.kind}: no heredoc named ${name}`, line);
      return { name, content: h.expand ? x(h.content) : h.content };
    });
    const config = this.state.config.config;
    const workdir = config?.WorkingDir || '/';
    const stageIndex = from !== undefined ? this.stageReference(from) : undefined;
    const createdBy = `${ins.kind} ${from !== undefined ? `--from=${from} ` : ''}${chownSpec ? `--chown=${chownSpec} ` : ''}${chmodSpec ? `--chmod=${chmodSpec} ` : ''}${sources.join(' ')} ${dest}`;
    const copyWith = async (sourceRoot: string, sourceKind: 'context' | 'rootfs', names: string[]): Promise<Outcome> => {
      const state = this.state;
      const key = await this.build.onSnapshot(state, async (rootfs) => {
        await copyInto({
          sourceRoot,
          sourceKind,
          sources: names,
          rootfs,
          dest,
          workdir,
          ...(chownSpec ? { chown: resolveChown(rootfs, chownSpec) } : {}),
          ...(chmodSpec ? { chmod: parseInt(chmodSpec, 8) } : {}),
          add: ins.kind === 'ADD',
        });
      });
      try {
        const layer = await this.build.layerOf(state, key);
        return { config: cloneConfig(state.config), createdBy, ...(layer ? { layer } : {}) };
      } finally {
        await this.build.removeSnapshot(key);
      }
    };
    const common = [ins.kind, sources, dest, workdir, chownSpec ?? '', chmodSpec ?? ''];
    if (inline.length) {
      return {
        parts: [...common, 'heredoc', inline],
        run: async () => {
          ensureDir(this.deps.tmpRoot);
          const dir = await mkdtemp(join(this.deps.tmpRoot, 'heredoc-'));
          try {
            for (const h of inline) await writeFile(join(dir, h.name), h.content, { mode: 0o644 });
            return await copyWith(
              dir,
              'context',
              inline.map((h) => h.name),
            );
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      };
    }
    if (from !== undefined) {
      // A stage's files are its final state (its key stands for them), an image's its manifest's.
      const source =
        stageIndex !== undefined
          ? await this.build.stageState(stageIndex, line)
          : await this.build
              .resolveImage(from, this.build.platform, line, {
                what: `--from=${from}: no stage of that name before this one, and the image`,
                platformAsked: Boolean(this.build.request.platform),
              })
              .then(({ manifest }) => this.build.imageState(manifest, cacheKey(['FROM', manifest.digest])));
      return {
        parts: [...common, 'from', source.key],
        run: () => this.build.onView(source, (root) => copyWith(root, 'rootfs', sources)),
      };
    }
    const { contextDir, contextDigests } = this.build.request;
    const hash = await hashSources({
      sourceRoot: contextDir,
      sourceKind: 'context',
      sources,
      add: ins.kind === 'ADD',
      ...(contextDigests ? { knownDigests: contextDigests } : {}),
    });
    return {
      parts: [...common, 'context', hash],
      run: () => copyWith(contextDir, 'context', sources),
    };
  }

  /** The stage a --from word names (an earlier stage's name or index), if it names one. */
  private stageReference(word: string): number | undefined {
    const df = this.build.request.dockerfile;
    const byName = df.stages.findIndex((s) => s.index < this.stage.index && s.name === word.toLowerCase());
    if (byName >= 0) return byName;
    if (/^\d+$/.test(word)) {
      const i = Number(word);
      if (i >= this.stage.index) throw new DockerfileError(`--from=${word}: stage ${i} is not before this one`, this.stage.line);
      return i;
    }
    return undefined;
  }
}

/** An ONBUILD trigger of the base image as an instruction of this stage (at its FROM line). */
function onBuildInstruction(trigger: string, line: number): Instruction {
  let parsed: Instruction | undefined;
  try {
    parsed = parseDockerfile(`FROM scratch\n${trigger}\n`).stages[0]?.instructions[0];
  } catch (err) {
    throw new DockerfileError(`ONBUILD trigger "${trigger}" of the base image: ${(err as Error).message}`, line);
  }
  if (!parsed) throw new DockerfileError(`ONBUILD trigger "${trigger}" of the base image is empty`, line);
  return { ...parsed, line };
}

/** Builds images from Dockerfiles (ctl.build.v1's domain). */
export class Executor {
  private readonly deps: ExecutorDeps;

  constructor(deps: ExecutorDeps) {
    this.deps = { ...deps, imageReads: deps.imageReads ?? new ImageReads() };
  }

  async build(ns: string, request: BuildRequest, emit: (event: BuildProgress) => void, signal: AbortSignal): Promise<BuildOutcome> {
    const { deps } = this;
    const names = request.tags.map((tag) => {
      try {
        return normalizeReference(tag);
      } catch (err) {
        throw new EngineError(ErrorKind.InvalidArgument, `invalid tag "${tag}": ${(err as Error).message}`);
      }
    });
    const archive = request.output?.type === 'oci' || request.output?.type === 'docker' ? request.output : undefined;
    if (request.output?.type && !archive && request.output.type !== 'image')
      throw new EngineError(ErrorKind.InvalidArgument, `--output type=${request.output.type}: image, oci or docker`);
    if (archive && !archive.dest) throw new EngineError(ErrorKind.InvalidArgument, '--output: a destination (dest=FILE) is needed');
    const compression = request.output?.compression;
    if (compression && !Object.hasOwn(LAYER_MEDIA_TYPES, compression))
      throw new EngineError(ErrorKind.InvalidArgument, `--output compression=${compression}: gzip, zstd or uncompressed`);
    if (request.network && !NETWORKS.has(request.network))
      throw new EngineError(ErrorKind.InvalidArgument, `--network ${request.network}: one of none, host, default`);
    const leases = deps.leases(ns);
    const lease = await leases.createForOperation(LEASE_TTL_MS);
    try {
      const hold = (resource: Resource): Promise<void> => leases.addResource(lease.id, resource);
      const target = await deps.unpackTarget(ns, request.snapshotter, hold);
      const build = new Build(deps, ns, request, target, lease.id, emit, signal);
      if (request.output?.forceCompression)
        emit({
          warning: {
            message: "force-compression: base images' layers are kept as they are (only the layers this build makes get the compression)",
            line: 0,
          },
        });
      const { state } = await build.run();

      const started = process.hrtime.bigint();
      const exportId = 'export';
      emit({ started: { id: exportId, name: 'exporting to image', stage: '', line: 0 } });
      let final = state;
      if (Object.keys(request.labels).length) {
        const config = cloneConfig(state.config);
        config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...request.labels } };
        final = await build.writeState(config, state.layers, state.chainId, state.key);
      }
      // The image's snapshot (a FROM-only build's base may not be unpacked here yet), so it runs at once.
      await unpack(target, final.manifest, undefined, signal);
      const { manifest } = await build.readImage(final.manifest);
      // The result stays (untagged too) until the cache is pruned, as docker's dangling images do.
      await deps.cache.put(ns, cacheKey([state.key, 'image', request.labels]), {
        manifest: final.manifest,
        chainId: final.chainId,
        snapshotter: target.snapshotter,
        description: 'exporting to image',
        size: 0,
      });
      signal.throwIfAborted();
      const images = deps.images(ns);
      for (const name of names) {
        try {
          await images.create({ name, target: final.manifest, labels: {} });
        } catch (err) {
          if (!isKind(err, ErrorKind.AlreadyExists)) throw err;
          await images.update({ name, target: final.manifest }, ['target']);
        }
      }
      if (archive) {
        const now = new Date();
        const name = names[0] ?? final.manifest.digest;
        await exportArchive(archive.dest, {
          content: build.content,
          images: oneImage({ name, target: final.manifest, labels: {}, createdAt: now, updatedAt: now }),
          references: [name],
          format: archive.type === 'docker' ? 'docker-archive' : 'oci-archive',
          signal,
        });
      }
      emit({ done: { id: exportId, cached: false, durationNs: Number(process.hrtime.bigint() - started), error: '' } });
      const unused = Object.keys(request.buildArgs).filter((k) => !build.consumed.has(k));
      if (unused.length) emit({ warning: { message: `one or more build-args [${unused.join(' ')}] were not consumed`, line: 0 } });
      return { imageId: manifest.config.digest, manifestDigest: final.manifest.digest, names };
    } catch (err) {
      if (signal.aborted && !isKind(err, ErrorKind.Canceled) && !(err instanceof DockerfileError)) throw cancelled();
      throw err;
    } finally {
      await leases.delete(lease.id).catch(() => undefined);
    }
  }
}

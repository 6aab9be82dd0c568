/**
 * What the `ctl build` suites share: one engine per suite (engine.ts) with ways to build through
 * the CLI, make contexts, read a built image back as an archive (config, history and each
 * layer's tar listing), check that a build left nothing behind, and run buildah bud beside ctl
 * (the reference the conformance suite compares with).
 */
import { cgroupParent } from '@ctl/proto/paths';
import { strict as assert } from 'node:assert';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { type Engine, cgroupDirs } from './engine';
import { CTL, type Run } from './helpers';

/** A context file: its text (or bytes), or a symbolic link. */
export type ContextFile = string | Buffer | { symlink: string };

/** The Docker image config fields a Dockerfile sets (docker's names). */
export interface RunConfig {
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
  ExposedPorts?: Record<string, object> | null;
  Volumes?: Record<string, object> | null;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  Healthcheck?: { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number } | null;
  OnBuild?: string[] | null;
  Shell?: string[] | null;
}

export interface HistoryEntry {
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** One entry of a layer's tar: `path type mode uid:gid[ -> link][ size sha]`, what the comparison looks at (no times). */
export type LayerEntry = string;

export interface ArchivedImage {
  config: { architecture: string; os: string; config?: RunConfig | null; history?: HistoryEntry[]; rootfs: { diff_ids: string[] } };
  /** each layer's entries, sorted */
  layers: LayerEntry[][];
}

const TAR_TYPES: Record<string, string> = { file: 'f', directory: 'd', symlink: 'l', link: 'h', 'character-device': 'c', fifo: 'p' };

/** A tar's entries, name → header and data (whole, in memory: the archives here are small). */
async function tarEntries(data: Buffer): Promise<Map<string, { header: tar.Header; data: Buffer }>> {
  const extract = tar.extract();
  Readable.from([data]).pipe(extract as unknown as NodeJS.WritableStream);
  const out = new Map<string, { header: tar.Header; data: Buffer }>();
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.set(entry.header.name.replace(/^\.\//, ''), { header: entry.header, data: Buffer.concat(chunks) });
  }
  return out;
}

/** A layer's entries as comparable lines (content by size and hash, not by time). */
export async function layerListing(blob: Buffer): Promise<LayerEntry[]> {
  const data = blob[0] === 0x1f && blob[1] === 0x8b ? gunzipSync(blob) : blob;
  const lines: string[] = [];
  for (const [name, { header, data: body }] of await tarEntries(data)) {
    const type = TAR_TYPES[header.type ?? 'file'] ?? header.type ?? '?';
    const path = name.replace(/\/$/, '');
    if (!path || path === '.') continue;
    // A whiteout's mode and owner mean nothing (docker's classic differ gives an opaque one its directory's, containerd's none).
    if (/(^|\/)\.wh\./.test(path)) {
      lines.push(`${path} whiteout`);
      continue;
    }
    const mode = ((header.mode ?? 0) & 0o7777).toString(8);
    const link = header.linkname ? ` -> ${header.linkname.replace(/^\.\//, '')}` : '';
    const content = type === 'f' ? ` ${body.length} ${createHash('sha256').update(body).digest('hex').slice(0, 12)}` : '';
    lines.push(`${path} ${type} ${mode} ${header.uid ?? 0}:${header.gid ?? 0}${link}${content}`);
  }
  return lines.sort();
}

/** A docker-archive (as `ctl image export --format docker-archive` and `buildah push docker-archive:` write it) read back. */
export async function readDockerArchive(file: string): Promise<ArchivedImage> {
  const files = await tarEntries(readFileSync(file));
  const get = (name: string): Buffer => {
    const entry = files.get(name);
    if (!entry) throw new Error(`${file}: no ${name}`);
    // buildah links each layer.tar to the blob; follow it.
    if (entry.header.type === 'symlink') return get(join(name, '..', entry.header.linkname!).replace(/^\.\//, ''));
    return entry.data;
  };
  const [manifest] = JSON.parse(get('manifest.json').toString()) as { Config: string; Layers: string[] }[];
  const config = JSON.parse(get(manifest!.Config).toString()) as ArchivedImage['config'];
  const layers: LayerEntry[][] = [];
  for (const layer of manifest!.Layers) layers.push(await layerListing(get(layer)));
  return { config, layers };
}

/** Writes a context directory: each path's text, bytes or link, parents made. */
export function writeContext(dir: string, files: Record<string, ContextFile>): string {
  mkdirSync(dir, { recursive: true });
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    mkdirSync(join(target, '..'), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) symlinkSync(content.symlink, target);
    else writeFileSync(target, content);
  }
  return dir;
}

/** A tar (made by GNU tar from a temporary tree, root-owned), compressed with `compress` when given (e.g. ['gzip', '-n']). */
export function tarOf(work: string, files: Record<string, string>, compress?: string[]): Buffer {
  const tree = join(
    work,
    `tree-${createHash('sha256')
      .update(JSON.stringify([files, compress]))
      .digest('hex')
      .slice(0, 8)}`,
  );
  rmSync(tree, { recursive: true, force: true });
  writeContext(tree, files);
  const plain = execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-cf', '-', '.']);
  rmSync(tree, { recursive: true, force: true });
  return compress ? execFileSync(compress[0]!, compress.slice(1), { input: plain }) : plain;
}

export interface BuildRun extends Run {
  /** The image's id from --iidfile, when the build succeeded. */
  id?: string;
}

export interface Builder {
  /** ctl build ARGS (network none; stdin: input); the image id when it succeeded. */
  build(args: string[], input?: string | Buffer): BuildRun;
  /** ctl build, not waited for: its process (to signal) and its end. */
  start(args: string[], input?: string | Buffer): { child: ChildProcess; output: () => string; done: Promise<Run> };
  /** A context directory of this suite. */
  context(name: string, files: Record<string, ContextFile>): string;
  /** A built image read back through `ctl image export --format docker-archive`. */
  image(ref: string): Promise<ArchivedImage>;
  /** Asserts that no build left anything: containers, processes, snapshots but layers, mounts, problems the system check sees. */
  nothingLeft(): Promise<void>;
  /** Tagged names in the namespace. */
  imageNames(): string[];
}

/** Build helpers over a suite's engine. */
export function builder(engine: Engine): Builder {
  const argv = (args: string[]): string[] => [
    CTL,
    '--root',
    engine.instance.root,
    '--state',
    engine.instance.state,
    'build',
    '--network',
    'none',
    ...args,
  ];
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, CTL_NO_AUTOSTART: '', ...engine.env });
  let builds = 0;
  return {
    build(args, input) {
      const iid = join(engine.instance.base, `iid-${++builds}`);
      const res = spawnSync(process.execPath, argv(['--iidfile', iid, ...args]), {
        env: env(),
        input,
        encoding: 'utf8',
        timeout: 120_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      const run: BuildRun = { code: res.status, stdout: res.stdout, stderr: res.stderr };
      if (existsSync(iid)) {
        run.id = readFileSync(iid, 'utf8');
        rmSync(iid);
      }
      return run;
    },
    start(args, input) {
      const child = spawn(process.execPath, argv(args), { env: env() });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.stdin.end(input ?? '');
      const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout: '', stderr: output })));
      return { child, output: () => output, done };
    },
    context: (name, files) => writeContext(join(engine.instance.base, 'contexts', name), files),
    async image(ref) {
      const file = join(engine.instance.base, `export-${++builds}.tar`);
      const exported = await engine.start('image', 'export', '--format', 'docker-archive', '-o', file, ref);
      assert.equal(exported.code, 0, `ctl image export ${ref}: ${exported.stderr}`);
      try {
        return await readDockerArchive(file);
      } finally {
        rmSync(file, { force: true });
      }
    },
    async nothingLeft() {
      // At once: each ctl costs its start-up.
      const [ps, snapshots, check] = await Promise.all([
        engine.start('ps', '-a', '-q'),
        engine.start('snapshot', 'ls', '--format', 'json'),
        engine.start('system', 'check'),
      ]);
      assert.equal(ps.stdout, '', 'no build container is left');
      const names = (JSON.parse(snapshots.stdout) as { name: string }[]).map((s) => s.name);
      assert.deepEqual(
        names.filter((n) => n.startsWith(`${engine.ns}/`) && !n.startsWith(`${engine.ns}/sha256:`)),
        [],
        'no snapshot but image layers is left',
      );
      assert.equal(check.code, 0, `ctl system check: ${check.stdout}${check.stderr}`);
      assert.deepEqual(engine.ourMounts(), [], 'nothing is left mounted');
      assert.deepEqual(processesUnder(join(cgroupParent(engine.instance), engine.ns)), [], 'no process of a build runs');
    },
    imageNames: () => engine.ok('image', 'ls', '-q').split('\n').filter(Boolean),
  };
}

/** Pids in a cgroup (every hierarchy of this host) and below it. */
function processesUnder(path: string): number[] {
  const pids: number[] = [];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    const procs = join(dir, 'cgroup.procs');
    if (existsSync(procs)) pids.push(...readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number));
    for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) walk(join(dir, entry.name));
  };
  for (const dir of cgroupDirs(path)) walk(dir);
  return pids;
}

/**
 * buildah bud (Debian's) on storage of its own under DIR: chroot isolation (no netns or runc
 * setup of its own), --layers so that every step is a layer or an empty_layer entry as BuildKit
 * makes them, docker format so that Healthcheck, OnBuild and Shell are kept (OCI has no field
 * for them), no identity label, and never a pull (it would go to the network).
 */
export class Buildah {
  private readonly root: string;
  private readonly runroot: string;

  constructor(private readonly dir: string) {
    this.root = join(dir, 'storage');
    this.runroot = join(dir, 'run');
  }

  static available(): boolean {
    return spawnSync('buildah', ['--version']).status === 0;
  }

  private args(args: string[]): string[] {
    return ['--root', this.root, '--runroot', this.runroot, '--storage-driver', 'overlay', ...args];
  }

  /** Its temporary files in its own directory (buildah's default is /var/tmp). */
  private get env(): NodeJS.ProcessEnv {
    return { ...process.env, TMPDIR: join(this.dir, 'tmp') };
  }

  private ok(args: string[]): string {
    const res = spawnSync('buildah', this.args(args), { encoding: 'utf8', timeout: 120_000, env: this.env });
    assert.equal(res.status, 0, `buildah ${args.join(' ')}: ${res.stderr}`);
    return res.stdout;
  }

  /** Its storage, with the busybox image of this archive (tools/busybox-image.sh's, as the engine's). */
  setUp(busyboxArchive: string): void {
    mkdirSync(join(this.dir, 'tmp'), { recursive: true });
    this.ok(['pull', '-q', `oci-archive:${busyboxArchive}`]);
  }

  /** buildah with these arguments, not waited for (it runs beside ctl); rejects naming what failed. */
  private start(args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('buildah', this.args(args), { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`buildah ${args.join(' ')}: exit ${code}\n${output}`))));
    });
  }

  /** buildah bud in a context, tagged. */
  bud(context: string, tag: string, extra: string[] = []): Promise<void> {
    // -q: its output is not read while ctl's build holds this process (a full pipe would stop it).
    const flags = ['-q', '--isolation', 'chroot', '--layers', '--format', 'docker', '--identity-label=false', '--pull=never'];
    return this.start(['bud', ...flags, ...extra, '-t', tag, context]);
  }

  async image(tag: string): Promise<ArchivedImage> {
    const file = join(this.dir, `${tag.replace(/\W/g, '_')}.tar`);
    rmSync(file, { force: true });
    await this.start(['push', '-q', tag, `docker-archive:${file}`]);
    try {
      return await readDockerArchive(file);
    } finally {
      rmSync(file, { force: true });
    }
  }

  /** Unmounts what its storage mounted and removes it (images and all). */
  tearDown(): void {
    if (!existsSync(this.dir)) return;
    spawnSync('buildah', this.args(['rm', '--all']), { env: this.env });
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${this.dir}/`));
    for (const m of mounts.reverse()) execFileSync('umount', ['-l', m]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

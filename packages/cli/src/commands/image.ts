import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import type * as Os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type * as StreamPromises from 'node:stream/promises';
import { UsageError } from '../args';
import { type OptionTable, parseOptions } from '../options';
import type { Command, CommandContext } from '../command';
import { lite, withClients } from '../clients';
import { age, humanSize, table } from '../format';
import { ProgressLine } from '../progress';
import { type Fields, template } from '../template';
import { pull, registryFlags, transferProgress } from '../pull';

type Image = import('@ctl/containerd-lite/client').Image;
type Content = import('@ctl/containerd-lite/client').Content;
type Progress = import('@ctl/containerd-lite/client').TransferProgress;

const USAGE = `Usage: ctl image COMMAND

Commands:
  import [OPTIONS] FILE|-          import an OCI layout or docker-archive tar (- reads stdin)
      --format oci-archive|docker-archive   (default: detected)
      --platform OS/ARCH[/VARIANT]          platform to keep and unpack (repeatable; default: this host's)
      --all-platforms                       keep every platform
      --base-name NAME                      name for images the archive does not name
      --no-unpack                           only store the blobs and image records
      --snapshotter NAME                    where to unpack (env CTL_SNAPSHOTTER)
  export -o FILE [OPTIONS] IMAGE...  write images to an archive
      --format oci-archive|docker-archive   (default: oci-archive)
      --platform OS/ARCH[/VARIANT], --all-platforms
  pull [OPTIONS] REF               pull an image from a registry (prints its name)
      --platform OS/ARCH[/VARIANT]          platform to fetch and unpack (repeatable; default: this host's)
      --all-platforms                       fetch every platform
      --plain-http                          HTTP instead of HTTPS (always for localhost, 127.0.0.1, ::1)
      -u, --user USER[:PASSWORD]            registry credentials (password also from env CTL_REGISTRY_PASSWORD)
      --no-unpack, --snapshotter NAME
  push [OPTIONS] REF               push an image to the registry its name says
      --platform OS/ARCH[/VARIANT]          push only this platform's manifest of a multi-platform image
      --plain-http, -u/--user USER[:PASSWORD]
  ls [-q] [--format json|FORMAT] [FILTER...]   list images (containerd filters, e.g. name~=busybox)
      --format FORMAT                       docker's Go-template subset ({{.Field}}, {{json .}}, {{json .Field}}, "table");
                                            fields: Repository Tag Digest ID CreatedSince CreatedAt Size
  inspect [-f FORMAT] IMAGE...     the image record, manifest and config as JSON (or through FORMAT)
  rm [--sync] IMAGE...             remove images (their layers go at the next collection; --sync: now)
  tag SOURCE TARGET...             give an image more names
  build [OPTIONS] PATH|-           build an image from a Dockerfile (ctl build; see ctl build --help)
`;

function reference(): typeof import('@ctl/proto/reference') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@ctl/proto/reference') as typeof import('@ctl/proto/reference');
}

const normalize = (name: string): string => reference().normalizeReference(name);

/** image ls's fields for --format, docker's names and headers; the ID is the target's digest, as docker's containerd store has it. */
const IMAGE_FIELDS: Fields = {
  Repository: 'REPOSITORY',
  Tag: 'TAG',
  Digest: 'DIGEST',
  ID: 'IMAGE ID',
  CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT',
  Size: 'SIZE',
};

/** An image as docker's `images` shows it, under its field names. */
function imageRow(image: Image, size: number): Record<keyof typeof IMAGE_FIELDS, string> {
  const { familiarName, isReference, parseNormalizedReference } = reference();
  const ref = isReference(image.name) ? parseNormalizedReference(image.name) : undefined;
  return {
    Repository: ref ? familiarName({ domain: ref.domain, path: ref.path }) : image.name,
    Tag: ref?.tag ?? '<none>',
    Digest: image.target.digest,
    ID: image.target.digest.replace(/^sha256:/, '').slice(0, 12),
    CreatedSince: `${age(image.createdAt)} ago`,
    CreatedAt: image.createdAt.toISOString(),
    Size: humanSize(size),
  };
}

function parsePlatform(value: string): { os: string; architecture: string; variant: string } {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require('@ctl/proto/platforms') as typeof import('@ctl/proto/platforms');
  const p = parse(value);
  return { os: p.os, architecture: p.architecture, variant: p.variant ?? '' };
}

async function readJson<T>(content: Content, digest: string): Promise<T> {
  const chunks: Buffer[] = [];
  for await (const chunk of content.read(digest)) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as T;
}

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}

const isIndex = (mediaType: string): boolean => lite().isIndex(mediaType);

/** What an image holds locally: the size of its blobs that are present, and its platforms. */
async function summarize(content: Content, target: Descriptor): Promise<{ size: number; platforms: string[] }> {
  const seen = new Set<string>();
  const platforms: string[] = [];
  let size = 0;
  const present = async (d: Descriptor): Promise<boolean> => {
    if (seen.has(d.digest)) return false;
    seen.add(d.digest);
    try {
      await content.info(d.digest);
      size += d.size;
      return true;
    } catch {
      return false;
    }
  };
  const walk = async (d: Descriptor): Promise<void> => {
    if (!(await present(d))) return;
    if (isIndex(d.mediaType)) {
      const index = await readJson<{ manifests: Descriptor[] }>(content, d.digest);
      for (const m of index.manifests ?? []) await walk(m);
    } else if (lite().isManifest(d.mediaType)) {
      const manifest = await readJson<{ config: Descriptor; layers: Descriptor[] }>(content, d.digest);
      if (await present(manifest.config)) {
        const config = await readJson<{ os?: string; architecture?: string; variant?: string }>(content, manifest.config.digest);
        platforms.push([config.os, config.architecture, config.variant].filter(Boolean).join('/'));
      }
      for (const l of manifest.layers ?? []) await present(l);
    }
  };
  await walk(target);
  return { size, platforms: [...new Set(platforms)] };
}

/** The import's progress line and notes; the names imported are collected, for stdout once the whole import succeeded. */
function importProgress(context: CommandContext): { onProgress: (p: Progress) => void; line: ProgressLine; names: string[] } {
  const line = new ProgressLine();
  const layers = new Map<string, string>();
  const names: string[] = [];
  const onProgress = (p: Progress): void => {
    switch (p.event) {
      case 'reading':
        line.update(`reading archive  ${humanSize(Number(p.current))} / ${humanSize(Number(p.total))}`);
        break;
      case 'unpacking':
      case 'unpacked':
        layers.set(p.name, p.event);
        line.update(`unpacking  layer ${Number(p.current)}/${Number(p.total)}  ${p.name.slice(0, 19)}`);
        break;
      case 'imported':
        names.push(p.name);
        break;
      case 'image':
        // A note about an entry (no name to give it, no manifest for this platform); the
        // plain "<name>: <digest>" ones are followed by an "imported" event.
        if (p.message && !p.message.startsWith(`${p.name}: `)) {
          line.clear();
          context.err(`${p.message}\n`);
        }
        break;
      default:
    }
  };
  return { onProgress, line, names };
}

/**
 * stdin to a file the daemon can open (Transfer.Import reads a path, as for `ctl image import
 * FILE`): a private temporary directory of ours, removed afterwards, in the system's temporary
 * directory (TMPDIR for large archives), not in the daemon's state dir.
 */
async function stdinToFile(): Promise<string> {
  // node:os and Node's streams for this alone, so that pull, push and images do not load them
  const { tmpdir } = require('node:os') as typeof Os; // eslint-disable-line @typescript-eslint/no-require-imports
  const { pipeline } = require('node:stream/promises') as typeof StreamPromises; // eslint-disable-line @typescript-eslint/no-require-imports
  const dir = mkdtempSync(join(tmpdir(), 'ctl-import-'));
  const file = join(dir, 'stdin.tar');
  try {
    await pipeline(process.stdin, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return file;
}

async function run(verb: string | undefined, argv: string[], context: CommandContext): Promise<number> {
  const parse = <T extends OptionTable>(options: T) => parseOptions(argv, options);
  switch (verb) {
    case 'import': {
      const { values, positionals } = parse({
        format: { type: 'string' },
        platform: { type: 'string', multiple: true },
        'all-platforms': { type: 'boolean' },
        'base-name': { type: 'string' },
        'no-unpack': { type: 'boolean' },
        snapshotter: { type: 'string' },
      });
      if (positionals.length !== 1) throw new UsageError('import needs one FILE (or - for stdin)');
      const platforms = ((values.platform as string[] | undefined) ?? []).map(parsePlatform);
      const fromStdin = positionals[0] === '-';
      const path = fromStdin ? await stdinToFile() : resolve(positionals[0]!);
      const { onProgress, line, names } = importProgress(context);
      try {
        await withClients(context, ({ transfer }) =>
          transfer.import(
            {
              path,
              format: (values.format as string | undefined) ?? '',
              platforms,
              allPlatforms: Boolean(values['all-platforms']),
              snapshotter: (values.snapshotter as string | undefined) ?? context.env.CTL_SNAPSHOTTER ?? '',
              unpack: !values['no-unpack'],
              baseName: (values['base-name'] as string | undefined) ? normalize(values['base-name'] as string) : '',
            },
            onProgress,
          ),
        );
      } finally {
        line.clear();
        if (fromStdin) rmSync(dirname(path), { recursive: true, force: true });
      }
      context.out(names.map((n) => `${n}\n`).join(''));
      return 0;
    }
    case 'export': {
      const { values, positionals } = parse({
        output: { type: 'string', short: 'o' },
        format: { type: 'string' },
        platform: { type: 'string', multiple: true },
        'all-platforms': { type: 'boolean' },
      });
      if (!values.output) throw new UsageError('export needs -o FILE');
      if (positionals.length === 0) throw new UsageError('export needs at least one IMAGE');
      const line = new ProgressLine();
      try {
        await withClients(context, ({ transfer }) =>
          transfer.export(
            {
              path: resolve(values.output as string),
              format: (values.format as string | undefined) ?? 'oci-archive',
              references: positionals.map(normalize),
              platforms: ((values.platform as string[] | undefined) ?? []).map(parsePlatform),
              allPlatforms: Boolean(values['all-platforms']),
            },
            (p) => {
              if (p.total)
                line.update(`writing ${values.output as string}  ${humanSize(Number(p.current))} / ${humanSize(Number(p.total))}`);
            },
          ),
        );
      } finally {
        line.clear();
      }
      return 0;
    }
    case 'pull': {
      const { values, positionals } = parse({
        platform: { type: 'string', multiple: true },
        'all-platforms': { type: 'boolean' },
        'plain-http': { type: 'boolean' },
        user: { type: 'string', short: 'u' },
        'no-unpack': { type: 'boolean' },
        snapshotter: { type: 'string' },
      });
      if (positionals.length !== 1) throw new UsageError('pull needs one REF');
      const name = normalize(positionals[0]!);
      const platforms = ((values.platform as string[] | undefined) ?? []).map(parsePlatform);
      const pulled = await withClients(context, (clients) =>
        pull(context, clients, name, {
          platforms,
          allPlatforms: Boolean(values['all-platforms']),
          snapshotter: values.snapshotter as string | undefined,
          unpack: !values['no-unpack'],
          registry: registryFlags(values, context.env),
        }),
      );
      context.out(`${pulled.name}\n`);
      return 0;
    }
    case 'push': {
      const { values, positionals } = parse({
        platform: { type: 'string' },
        'plain-http': { type: 'boolean' },
        user: { type: 'string', short: 'u' },
      });
      if (positionals.length !== 1) throw new UsageError('push needs one REF');
      const name = normalize(positionals[0]!);
      const platform = values.platform ? parsePlatform(values.platform as string) : undefined;
      const { onProgress, line } = transferProgress('pushing', name);
      let digest = '';
      try {
        await withClients(context, ({ transfer }) =>
          transfer.push(
            { reference: name, target: '', ...(platform && { platform }), registry: registryFlags(values, context.env) },
            (p) => {
              if (p.event === 'pushed-image') digest = p.message;
              else onProgress(p);
            },
          ),
        );
      } finally {
        line.clear();
      }
      context.out(`${name}@${digest}\n`);
      return 0;
    }
    case 'ls':
    case 'list': {
      const { values, positionals } = parse({ quiet: { type: 'boolean', short: 'q' }, format: { type: 'string' } });
      const format = template(values.format, IMAGE_FIELDS);
      return withClients(context, async ({ images, content }) => {
        const list = (await images.list(positionals)).sort((a, b) => a.name.localeCompare(b.name));
        if (values.quiet) {
          context.out(list.map((i) => `${i.name}\n`).join(''));
          return 0;
        }
        const rows = [];
        for (const image of list) rows.push({ image, ...(await summarize(content, image.target)) });
        if (format) context.out(format.render(rows.map((r) => imageRow(r.image, r.size))));
        else if (values.format === 'json') {
          context.out(
            `${JSON.stringify(
              rows.map((r) => ({ ...r.image, size: r.size, platforms: r.platforms })),
              null,
              2,
            )}\n`,
          );
        } else {
          context.out(
            table([
              ['REF', 'TYPE', 'DIGEST', 'SIZE', 'PLATFORMS'],
              ...rows.map((r) => [
                r.image.name,
                isIndex(r.image.target.mediaType) ? 'index' : 'manifest',
                r.image.target.digest,
                humanSize(r.size),
                r.platforms.join(','),
              ]),
            ]),
          );
        }
        return 0;
      });
    }
    case 'inspect': {
      const { values, positionals } = parse({ format: { type: 'string', short: 'f' } });
      if (positionals.length === 0) throw new UsageError('inspect needs at least one IMAGE');
      const format = template(values.format);
      return withClients(context, async ({ images, content }) => {
        const out = [];
        for (const name of positionals) {
          const image: Image = await images.get(normalize(name));
          const detail: Record<string, unknown> = { ...image };
          let target: Descriptor = image.target;
          if (isIndex(target.mediaType)) {
            const index = await readJson<{ manifests: Descriptor[] }>(content, target.digest);
            detail.index = index;
            const local = [];
            for (const m of index.manifests ?? []) {
              try {
                await content.info(m.digest);
                local.push(m);
              } catch {
                // not kept locally (another platform)
              }
            }
            if (local[0]) target = local[0];
          }
          if (!isIndex(target.mediaType)) {
            const manifest = await readJson<{ config: Descriptor }>(content, target.digest);
            detail.manifest = manifest;
            detail.config = await readJson(content, manifest.config.digest);
          }
          out.push(detail);
        }
        context.out(format ? format.render(out) : `${JSON.stringify(out, null, 2)}\n`);
        return 0;
      });
    }
    case 'rm':
    case 'remove': {
      const { values, positionals } = parse({ sync: { type: 'boolean' } });
      if (positionals.length === 0) throw new UsageError('rm needs at least one IMAGE');
      return withClients(context, async ({ images }) => {
        const names = positionals.map(normalize);
        for (let i = 0; i < names.length; i++) {
          await images.delete(names[i]!, { sync: Boolean(values.sync) && i === names.length - 1 });
          context.out(`${names[i]}\n`);
        }
        return 0;
      });
    }
    case 'tag': {
      const { positionals } = parse({});
      if (positionals.length < 2) throw new UsageError('tag needs a SOURCE and at least one TARGET');
      const [source, ...targets] = positionals.map(normalize);
      return withClients(context, async ({ images: store }) => {
        const image = await store.get(source!);
        for (const name of targets) {
          try {
            await store.create({ name, target: image.target, labels: image.labels });
          } catch (err) {
            if ((err as { kind?: string }).kind !== 'AlreadyExists') throw err;
            await store.update({ name, target: image.target }, ['target']);
          }
          context.out(`${name}\n`);
        }
        return 0;
      });
    }
    case 'build':
      return context.command('build')!.run(argv, context);
    default:
      throw new UsageError(verb ? `unknown image command "${verb}"` : 'image needs a command');
  }
}

export const command: Command = {
  summary: 'Manage images',
  usage: USAGE,
  run: ([verb, ...rest], context) => run(verb, rest, context),
};

/** `ctl pull` and `ctl push`, as docker has them: `ctl image pull` and `ctl image push`. */
const verbUsage = (verb: 'pull' | 'push'): string => {
  const lines = USAGE.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  ${verb} `));
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('    '));
  return `Usage: ctl ${lines[start]!.trim()}\n${lines.slice(start + 1, end).join('\n')}\n`;
};

export const commands: Record<'pull' | 'push', Command> = {
  pull: { summary: 'Pull an image from a registry', usage: verbUsage('pull'), run: (args, context) => run('pull', args, context) },
  push: { summary: 'Push an image to a registry', usage: verbUsage('push'), run: (args, context) => run('push', args, context) },
};

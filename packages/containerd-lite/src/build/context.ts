/**
 * TEMPORARY placeholder of context.ts (another helper writes the real one; this file goes at
 * the merge). Same signature: the client's tar stream into dir, refusing paths that leave it
 * and device nodes.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { createWriteStream } from 'node:fs';
import { link, mkdir, symlink } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

export async function extractContext(source: AsyncIterable<Buffer> | Readable, dir: string): Promise<{ files: number; bytes: number }> {
  const extract = tar.extract();
  const input = source instanceof Readable ? source : Readable.from(source);
  const fed = pipeline(input, extract as unknown as NodeJS.WritableStream);
  let files = 0;
  let bytes = 0;
  const inside = (name: string): string => {
    const rel = normalize(name).replace(/^\/+/, '');
    if (rel === '..' || rel.startsWith('../')) throw invalidArgument(`build context: ${name} leaves the context`);
    return join(dir, rel);
  };
  for await (const entry of extract) {
    const h = entry.header;
    const path = inside(h.name);
    await mkdir(dirname(path), { recursive: true });
    if (h.type === 'directory') await mkdir(path, { recursive: true, mode: h.mode });
    else if (h.type === 'file') {
      await pipeline(entry, createWriteStream(path, { mode: h.mode }));
      files++;
      bytes += h.size ?? 0;
      continue;
    } else if (h.type === 'symlink') await symlink(h.linkname!, path);
    else if (h.type === 'link') await link(inside(h.linkname!), path);
    else throw invalidArgument(`build context: ${h.name} is a ${h.type}, not a file, directory or link`);
    entry.resume();
  }
  await fed;
  return { files, bytes };
}

/**
 * A container's network namespace pinned on a file (a bind mount of the namespace), made and
 * removed by ctl-netns (src/native/netns.c): one exec of a small static binary each, through
 * ctl-launch. A light module (the launcher and errors only), for containerd-lite's run path.
 */
import { EngineError } from '@ctl/proto/errors';
import { statfsSync } from 'node:fs';
import * as path from 'node:path';
import { kindFromNativeExit } from './errors';
import { launch } from './launch';

export const NETNS_BINARY = path.join(__dirname, '..', '..', 'build', 'Release', 'ctl-netns');

async function netns(verb: 'add' | 'del', file: string): Promise<void> {
  const r = await launch(NETNS_BINARY, [verb, file]);
  if (r.code !== 0)
    throw new EngineError(kindFromNativeExit(r.code), (r.stderr || `ctl-netns ${verb} ${file}: exit code ${r.code}`).trim());
}

/** A new network namespace, its loopback up, bound on file (made if missing). */
export const addNetns = (file: string): Promise<void> => netns('add', file);

/** Unmounts the namespace from file and removes the file; either already done is no error. */
export const deleteNetns = (file: string): Promise<void> => netns('del', file);

const NSFS_MAGIC = 0x6e736673;

/** Whether a path is a live network namespace (a bind mount of one, or /proc/<pid>/ns/net), not a leftover file. */
export function isNetns(file: string): boolean {
  try {
    return statfsSync(file).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

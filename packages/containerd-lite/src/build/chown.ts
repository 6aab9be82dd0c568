/**
 * COPY/ADD --chown=<user>[:<group>] resolved to numeric ids, as BuildKit (Docker's builder)
 * does it: names are looked up in the rootfs being written to (its /etc/passwd and /etc/group,
 * read through runtime-native's resolver, links resolved inside the rootfs); a user alone means
 * its passwd entry's primary group when given by name, and the same number when given by number
 * (`--chown=1000` is 1000:1000, whatever passwd says). Unlike BuildKit, an unknown name is an
 * error (InvalidArgument) rather than a silent root, as Docker's classic builder had it.
 */
import { invalidArgument } from '@ctl/proto/errors';
import { SpecError } from '@ctl/runtime-native';
import { resolveUser } from '@ctl/runtime-native/user';
import type { Owner } from './untar';

const isNumber = (s: string) => /^\d+$/.test(s);
const MAX_ID = 0xfffffffe;

export function resolveChown(rootfs: string, spec: string): Owner {
  const parts = spec.split(':');
  if (parts.length > 2 || parts.some((p) => p === ''))
    throw invalidArgument(`--chown=${spec}: expected <user>[:<group>], each a name or a number`);
  for (const p of parts)
    if (isNumber(p) && Number(p) > MAX_ID) throw invalidArgument(`--chown=${spec}: ${p} is not a valid id (at most ${MAX_ID})`);
  const [user, group] = parts;
  try {
    const resolved = resolveUser(group === undefined && isNumber(user) ? `${user}:${user}` : spec, rootfs);
    return { uid: resolved.uid, gid: resolved.gid };
  } catch (err) {
    // SpecError names the OCI field it was checking ("process.user: "); here it is the flag.
    if (err instanceof SpecError) throw invalidArgument(`--chown=${spec}: ${err.message.slice(err.field.length + 2)}`);
    throw err;
  }
}

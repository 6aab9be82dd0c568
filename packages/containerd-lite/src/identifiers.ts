/**
 * containerd's identifier rules (ids of containers, components of event topics): letters and
 * digits, with single '.', '_' or '-' between them, at most 76 characters.
 */
import { invalidArgument } from '@ctl/proto/errors';

export const MAX_IDENTIFIER_LENGTH = 76;
const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$/;

/** Returns id, or throws InvalidArgument naming `what` (e.g. "container id"). */
export function validateIdentifier(id: string | undefined, what: string): string {
  if (!id) throw invalidArgument(`${what}: identifier must not be empty`);
  if (id.length > MAX_IDENTIFIER_LENGTH)
    throw invalidArgument(`${what}: identifier "${id.slice(0, 80)}" is longer than ${MAX_IDENTIFIER_LENGTH} characters`);
  if (!IDENTIFIER.test(id))
    throw invalidArgument(`${what}: identifier "${id.slice(0, 80)}" must be letters and digits, with single '.', '_' or '-' between them`);
  return id;
}

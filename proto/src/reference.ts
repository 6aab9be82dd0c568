/**
 * Docker-style image references, parsed and normalised as Docker's and containerd's
 * `reference.ParseNormalizedNamed` + `TagNameOnly` do:
 *
 *   busybox                          → docker.io/library/busybox:latest
 *   foo/bar:1                        → docker.io/foo/bar:1
 *   localhost:5000/x@sha256:<hex>    → localhost:5000/x@sha256:<hex>      (no tag added)
 *   registry.example.com/a/b:t@<dg>  → kept whole: tag and digest (as Docker keeps them;
 *                                      containerd's ParseDockerRef would drop the tag)
 *
 * Grammar (distribution/reference): name = [domain "/"] component ("/" component)*, where the
 * first part is a domain only if it has a "." or ":", is "localhost", or has an upper-case
 * letter; components are lower-case alphanumerics joined by ".", "_", "__" or "-"+; the name is at
 * most 255 characters; tag = [\w][\w.-]{0,127}; digest = algorithm ":" hex.
 *
 * Pure: no I/O and no heavy imports, so the CLI can load it through the light subpath
 * `@ctl/proto/reference`; containerd-lite uses the same module.
 */
import { invalidArgument } from './errors';

export interface Reference {
  /** Registry host, with a port when given ("docker.io", "localhost:5000"). */
  domain: string;
  /** Repository path inside the registry ("library/busybox"). */
  path: string;
  tag?: string;
  /** `<algorithm>:<hex>` */
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
const NAME_MAX = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]+)$/;
const HEX64 = /^[a-f0-9]{64}$/;
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

const fail = (input: string, why: string) =>
  invalidArgument(`invalid reference "${input.length > 300 ? `${input.slice(0, 300)}…` : input}": ${why}`);

function checkDigest(input: string, digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw fail(input, `digest "${digest}" is not <algorithm>:<hex>`);
  const want = DIGEST_HEX_LENGTH[m[1]!];
  if (want === undefined) throw fail(input, `digest algorithm "${m[1]}" is not supported (sha256, sha384, sha512)`);
  if (m[2]!.length !== want || m[2] !== m[2]!.toLowerCase())
    throw fail(input, `digest "${digest}" must have ${want} lower-case hex digits`);
  return digest;
}

/** Splits `name[:tag][@digest]`; the tag colon is the last one after the last "/". */
function splitReference(input: string): { name: string; tag?: string; digest?: string } {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = checkDigest(input, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw fail(input, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`);
  }
  return { name: rest, tag, digest };
}

function checkPath(input: string, path: string): void {
  if (!path) throw fail(input, 'repository name is empty');
  for (const component of path.split('/')) {
    if (!PATH_COMPONENT.test(component)) {
      if (component && component.toLowerCase() !== component && PATH_COMPONENT.test(component.toLowerCase())) {
        throw fail(input, `repository name "${path}" must be lower-case`);
      }
      throw fail(
        input,
        `repository name component "${component}" must be lower-case letters and digits, separated by ".", "_", "__" or "-"`,
      );
    }
  }
}

/**
 * Parses a reference exactly as written (Docker's `reference.Parse`): no default domain,
 * library/ prefix or tag is added, so "busybox" has domain "" and path "busybox".
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || !input) throw invalidArgument('invalid reference "": it is empty');
  const { name, tag, digest } = splitReference(input);
  if (!name) throw fail(input, 'repository name is empty');
  if (name.length > NAME_MAX) throw fail(input, `repository name is longer than ${NAME_MAX} characters`);
  const slash = name.indexOf('/');
  let domain = '';
  let path = name;
  if (
    slash >= 0 &&
    DOMAIN.test(name.slice(0, slash)) &&
    (/[.:]/.test(name.slice(0, slash)) ||
      name.slice(0, slash) === 'localhost' ||
      name.slice(0, slash) !== name.slice(0, slash).toLowerCase())
  ) {
    domain = name.slice(0, slash);
    path = name.slice(slash + 1);
  }
  checkPath(input, path);
  return { domain, path, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/**
 * Parses and normalises: docker.io as the default domain (index.docker.io becomes docker.io),
 * "library/" for single-component Docker Hub names, and the tag "latest" when neither a tag
 * nor a digest is given. InvalidArgument for anything that is not a reference.
 */
export function parseNormalizedReference(input: string): Reference {
  if (typeof input !== 'string' || !input) throw invalidArgument('invalid reference "": it is empty');
  if (HEX64.test(input)) throw fail(input, 'a 64-digit hex string is an image id, not a repository name');
  const { name } = splitReference(input);
  // Docker's rule for where the domain ends, applied before the grammar check.
  const slash = name.indexOf('/');
  const first = slash >= 0 ? name.slice(0, slash) : '';
  const hasDomain = slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  if (!hasDomain && name !== name.toLowerCase()) throw fail(input, `repository name "${name}" must be lower-case`);
  const ref = parseReference(hasDomain ? input : `${DEFAULT_DOMAIN}/${input}`);
  if (ref.domain === LEGACY_DOMAIN) ref.domain = DEFAULT_DOMAIN;
  if (ref.domain === DEFAULT_DOMAIN && !ref.path.includes('/')) ref.path = OFFICIAL_PREFIX + ref.path;
  if (ref.tag === undefined && ref.digest === undefined) ref.tag = DEFAULT_TAG;
  if (`${ref.domain}/${ref.path}`.length > NAME_MAX) throw fail(input, `repository name is longer than ${NAME_MAX} characters`);
  return ref;
}

/** `domain/path[:tag][@digest]` (the domain omitted when empty). */
export function formatReference(ref: Reference): string {
  return `${referenceName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The repository name without tag or digest: `docker.io/library/busybox`. */
export function referenceName(ref: Reference): string {
  return ref.domain ? `${ref.domain}/${ref.path}` : ref.path;
}

/** The normalised string form: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeReference(input: string): string {
  return formatReference(parseNormalizedReference(input));
}

/** Whether the string is a reference (normalisable); never throws. */
export function isReference(input: string): boolean {
  try {
    parseNormalizedReference(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * The short form people type and Docker prints: docker.io and library/ dropped.
 * docker.io/library/busybox:latest → busybox:latest; docker.io/foo/bar:1 → foo/bar:1;
 * other registries are kept. Accepts a Reference or a string (normalised first).
 */
export function familiarName(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseNormalizedReference(ref) : ref;
  let name = referenceName(r);
  if (r.domain === DEFAULT_DOMAIN) {
    name =
      r.path.startsWith(OFFICIAL_PREFIX) && r.path.indexOf('/', OFFICIAL_PREFIX.length) < 0 ? r.path.slice(OFFICIAL_PREFIX.length) : r.path;
  }
  return `${name}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/**
 * One repository of a registry over the OCI distribution API (HTTP API v2): manifests by tag or
 * digest, blobs, monolithic uploads. HTTP is Node's own fetch (undici, built into Node 20):
 * it streams bodies both ways, follows the blob redirects to storage (dropping Authorization
 * when the origin changes) and needs no dependency; nothing here needs more than it offers.
 *
 * Errors carry kinds: 404 → NotFound, 401/403 → PermissionDenied, 429 → ResourceExhausted,
 * 5xx and unreachable hosts → Unavailable, other 4xx → InvalidArgument; messages carry the
 * registry's own error codes (MANIFEST_UNKNOWN, …).
 */
import { EngineError, ErrorKind, invalidArgument, notFound } from '@ctl/proto/errors';
import { MAX_JSON_BYTES, SCHEMA1 } from '../archive/common';
import { type Descriptor, MediaType, isIndex, isManifest, sha256 } from '../oci';
import { DEFAULT_DOMAIN } from '@ctl/proto/reference';
import { Authorizer, type Credentials, denied } from './auth';

export interface RegistryOptions {
  /** HTTP instead of HTTPS (always for localhost, 127.0.0.0/8 and ::1). */
  plainHttp?: boolean;
  credentials?: Credentials;
  signal?: AbortSignal;
}

/** What containerd sends when resolving: the four manifest types, then anything. */
export const MANIFEST_ACCEPT = [
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.ociIndex,
  '*/*',
].join(', ');

/** Where a reference's domain is served: Docker Hub's API lives on registry-1.docker.io. */
export function registryHost(domain: string): string {
  return domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
}

/** Hosts that are spoken to over plain HTTP without being told (as containerd's MatchLocalhost). */
export function isLocalhost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

interface RegistryErrorBody {
  errors?: { code?: string; message?: string }[];
}

function kindOfStatus(status: number): ErrorKind {
  if (status === 404) return ErrorKind.NotFound;
  if (status === 401 || status === 403) return ErrorKind.PermissionDenied;
  if (status === 429) return ErrorKind.ResourceExhausted;
  if (status >= 500) return ErrorKind.Unavailable;
  if (status >= 400) return ErrorKind.InvalidArgument;
  return ErrorKind.Unknown;
}

/** The registry's error codes and messages from an error answer's body ('' when it has none). */
async function errorDetail(res: Response): Promise<string> {
  try {
    const text = (await res.text()).slice(0, 4096);
    try {
      const body = JSON.parse(text) as RegistryErrorBody;
      return (body.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
    }
  } catch {
    return ''; // the body is gone; the status says enough
  }
}

/** An error for an unexpected answer, with the registry's error codes when its body has them. */
async function statusError(res: Response, what: string): Promise<EngineError> {
  const detail = await errorDetail(res);
  return new EngineError(kindOfStatus(res.status), `${what}: ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`);
}

async function notFoundError(res: Response, what: string): Promise<EngineError> {
  const detail = await errorDetail(res);
  return notFound(`${what}: not found in the registry${detail ? ` (${detail})` : ''}`);
}

export interface RequestInit2 {
  method?: string;
  headers?: Record<string, string>;
  /** Made again for a retry after an auth challenge, so a stream body can be sent twice. */
  body?: () => Buffer | AsyncIterable<Uint8Array>;
}

export class Registry {
  readonly host: string;
  readonly base: string;
  private readonly auth: Authorizer;

  /**
   * @param domain the reference's domain (docker.io → registry-1.docker.io)
   * @param repository the path in the registry ("library/busybox")
   * @param actions what the operation does, for the token scope
   */
  constructor(
    domain: string,
    readonly repository: string,
    actions: 'pull' | 'pull,push',
    private readonly options: RegistryOptions = {},
  ) {
    this.host = registryHost(domain);
    this.base = `${options.plainHttp || isLocalhost(this.host) ? 'http' : 'https'}://${this.host}`;
    this.auth = new Authorizer(this.host, [`repository:${repository}:${actions}`], options.credentials, (url, init) =>
      this.send(url, init),
    );
  }

  /** fetch, with network failures as Unavailable (and a hint when HTTPS met a plain HTTP server). */
  private async send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(url, { ...init, signal: this.options.signal, redirect: 'follow' });
    } catch (err) {
      if (this.options.signal?.aborted) throw new EngineError(ErrorKind.Canceled, 'canceled', { cause: err });
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      const why = cause?.message ?? cause?.code ?? (err as Error).message;
      const hint =
        /wrong version number|EPROTO|ERR_SSL/i.test(`${cause?.code} ${cause?.message}`) && url.startsWith('https:')
          ? ' (is it a plain HTTP registry? use --plain-http)'
          : '';
      throw new EngineError(ErrorKind.Unavailable, `registry ${this.host} is not reachable: ${why}${hint}`, { cause: err });
    }
  }

  /** A request to the registry with the operation's authorization, answering one challenge. */
  async request(pathOrUrl: string, init: RequestInit2 = {}): Promise<Response> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.base}${pathOrUrl}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const authorization = this.auth.authorization();
      if (authorization && new URL(url).host === this.host) headers.authorization = authorization;
      const body = init.body?.();
      const res = await this.send(url, {
        method: init.method ?? 'GET',
        headers,
        ...(body !== undefined && { body: body as unknown as RequestInit['body'], duplex: 'half' }),
      } as RequestInit);
      if (res.status !== 401 || attempt > 0) {
        if (res.status === 401) throw await statusError(res, `registry ${this.host}: unauthorized`);
        return res;
      }
      await res.body?.cancel().catch(() => undefined);
      if (!(await this.auth.challenge(res, this.options.signal)))
        throw denied(`registry ${this.host}: the credentials were refused (401 Unauthorized)`);
    }
  }

  private path(kind: 'manifests' | 'blobs', reference: string): string {
    return `/v2/${this.repository}/${kind}/${reference}`;
  }

  /**
   * A manifest or index by tag or digest: its bytes, checked against the digest asked for (or
   * the one the registry states), and its descriptor.
   */
  async manifest(reference: string): Promise<{ desc: Descriptor; data: Buffer }> {
    const what = `${this.host}/${this.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.request(this.path('manifests', reference), { headers: { accept: MANIFEST_ACCEPT } });
    if (res.status === 404) throw await notFoundError(res, what);
    if (!res.ok) throw await statusError(res, `get manifest ${what}`);
    const data = await readLimited(res, MAX_JSON_BYTES, `manifest ${what}`);
    const digest = sha256(data);
    if (reference.includes(':') && reference !== digest)
      throw invalidArgument(`manifest ${what}: the registry sent content with digest ${digest}, not the one asked for`);
    const stated = res.headers.get('docker-content-digest');
    if (stated?.startsWith('sha256:') && stated !== digest)
      throw invalidArgument(`manifest ${what}: the registry says its digest is ${stated}, but its content has ${digest}`);
    return { desc: { mediaType: manifestType(res.headers.get('content-type'), data, what), digest, size: data.length }, data };
  }

  /** A blob's bytes as they arrive (the caller checks the digest), and the size the registry gives. */
  async blob(desc: Descriptor): Promise<{ body: AsyncIterable<Uint8Array>; size: number | undefined }> {
    const what = `blob ${desc.digest} of ${this.host}/${this.repository}`;
    const res = await this.request(this.path('blobs', desc.digest));
    if (res.status === 404) throw await notFoundError(res, what);
    if (!res.ok || !res.body) throw await statusError(res, `get ${what}`);
    const length = res.headers.get('content-length');
    return { body: res.body as unknown as AsyncIterable<Uint8Array>, size: length !== null ? Number(length) : undefined };
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request(this.path('blobs', digest), { method: 'HEAD' });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw await statusError(res, `check blob ${digest} in ${this.host}/${this.repository}`);
  }

  /** Uploads a blob in one PUT (POST to start, PUT with the digest and the whole body). */
  async uploadBlob(desc: Descriptor, body: () => AsyncIterable<Uint8Array>): Promise<void> {
    const what = `upload blob ${desc.digest} to ${this.host}/${this.repository}`;
    const started = await this.request(`/v2/${this.repository}/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0' } });
    await started.body?.cancel().catch(() => undefined);
    if (started.status !== 202) throw await statusError(started, what);
    const location = started.headers.get('location');
    if (!location) throw new EngineError(ErrorKind.Unknown, `${what}: the registry gave no upload location`);
    const url = new URL(location, `${this.base}/`);
    url.searchParams.set('digest', desc.digest);
    const res = await this.request(url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
    });
    if (res.status !== 201 && res.status !== 204) throw await statusError(res, what);
    await res.body?.cancel().catch(() => undefined);
    const stated = res.headers.get('docker-content-digest');
    if (stated && stated !== desc.digest) throw new EngineError(ErrorKind.Unknown, `${what}: the registry stored it as ${stated}`);
  }

  /** Stores a manifest or index under a tag or its digest, bytes verbatim. */
  async putManifest(reference: string, desc: Descriptor, data: Buffer): Promise<void> {
    const what = `push manifest ${desc.digest} to ${this.host}/${this.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    const res = await this.request(this.path('manifests', reference), {
      method: 'PUT',
      headers: { 'content-type': desc.mediaType },
      body: () => data,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) throw await statusError(res, what);
    await res.body?.cancel().catch(() => undefined);
    const stated = res.headers.get('docker-content-digest');
    if (stated && stated !== desc.digest) throw new EngineError(ErrorKind.Unknown, `${what}: the registry stored it as ${stated}`);
  }
}

/** A whole small body, refused past limit bytes. */
async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > limit) {
    await res.body?.cancel().catch(() => undefined);
    throw invalidArgument(`${what} is ${length} bytes, more than the ${limit} allowed`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > limit) throw invalidArgument(`${what} is more than the ${limit} bytes allowed`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** The manifest's media type: the Content-Type when it names one, else the JSON's own or its shape. */
function manifestType(contentType: string | null, data: Buffer, what: string): string {
  const header = contentType?.split(';')[0]?.trim() ?? '';
  let body: { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
  try {
    body = JSON.parse(data.toString('utf8')) as typeof body;
  } catch (err) {
    throw invalidArgument(`manifest ${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (SCHEMA1.includes(header) || body?.schemaVersion === 1)
    throw invalidArgument(`manifest ${what}: Docker schema 1 manifests are not supported`);
  if (isIndex(header) || isManifest(header)) return header;
  if (typeof body?.mediaType === 'string' && (isIndex(body.mediaType) || isManifest(body.mediaType))) return body.mediaType;
  if (Array.isArray(body?.manifests)) return MediaType.ociIndex;
  if (body?.config) return MediaType.ociManifest;
  throw invalidArgument(`manifest ${what}: media type "${header || body?.mediaType}" is neither an image index nor an image manifest`);
}

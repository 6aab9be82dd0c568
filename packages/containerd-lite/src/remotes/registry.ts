/**
 * One repository of a registry over the OCI distribution API (HTTP API v2): manifests by tag or
 * digest, blobs, monolithic uploads and cross-repository mounts, over Node's http and https
 * with keep-alive connections (see http.ts for why not fetch).
 *
 * Errors carry kinds: 404 → NotFound, 401/403 → PermissionDenied, 429 → ResourceExhausted,
 * 5xx and unreachable hosts → Unavailable, other 4xx → InvalidArgument; messages carry the
 * registry's own error codes (MANIFEST_UNKNOWN, …).
 */
import { EngineError, ErrorKind, invalidArgument, isKind, notFound } from '@ctl/proto/errors';
import { MAX_JSON_BYTES, SCHEMA1 } from '../archive/common';
import { type Descriptor, MediaType, isIndex, isManifest, sha256 } from '../oci';
import { DEFAULT_DOMAIN } from '@ctl/proto/reference';
import { traced } from '@ctl/proto/trace';
import { Authorizer, type Credentials, denied } from './auth';
import { type HttpRequest, type HttpResponse, http } from './http';

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
async function errorDetail(res: HttpResponse): Promise<string> {
  try {
    const text = await res.text(4096);
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
async function statusError(res: HttpResponse, what: string): Promise<EngineError> {
  const detail = await errorDetail(res);
  return new EngineError(kindOfStatus(res.status), `${what}: ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`);
}

async function notFoundError(res: HttpResponse, what: string): Promise<EngineError> {
  const detail = await errorDetail(res);
  return notFound(`${what}: not found in the registry${detail ? ` (${detail})` : ''}`);
}

export type RegistryRequest = Omit<HttpRequest, 'signal'>;

export class Registry {
  readonly host: string;
  readonly base: string;
  private readonly auth: Authorizer;

  /**
   * @param domain the reference's domain (docker.io → registry-1.docker.io)
   * @param repository the path in the registry ("library/busybox")
   * @param actions what the operation does, for the token scope
   * @param mountSources other repositories of the registry that blobs are mounted from: the
   *   token must let the operation pull from them too, or the registry refuses the mount
   */
  constructor(
    domain: string,
    readonly repository: string,
    actions: 'pull' | 'pull,push',
    private readonly options: RegistryOptions = {},
    mountSources: Iterable<string> = [],
  ) {
    this.host = registryHost(domain);
    this.base = `${options.plainHttp || isLocalhost(this.host) ? 'http' : 'https'}://${this.host}`;
    const scopes = [`repository:${repository}:${actions}`];
    for (const source of new Set(mountSources)) if (source !== repository) scopes.push(`repository:${source}:pull`);
    this.auth = new Authorizer(this.host, scopes, options.credentials, (url, init) => this.send(url, init));
  }

  /** A request, with network failures as Unavailable (and a hint when HTTPS met a plain HTTP server). */
  private async send(url: string, init: HttpRequest): Promise<HttpResponse> {
    try {
      return await http(url, { ...init, signal: this.options.signal });
    } catch (err) {
      if (this.options.signal?.aborted) throw new EngineError(ErrorKind.Canceled, 'canceled', { cause: err });
      const { code, message } = err as NodeJS.ErrnoException;
      const hint =
        /wrong version number|EPROTO|ERR_SSL/i.test(`${code} ${message}`) && url.startsWith('https:')
          ? ' (is it a plain HTTP registry? use --plain-http)'
          : '';
      throw new EngineError(ErrorKind.Unavailable, `registry ${this.host} is not reachable: ${message || code}${hint}`, { cause: err });
    }
  }

  /** A request to the registry with the operation's authorization, answering one challenge. */
  async request(pathOrUrl: string, init: RegistryRequest = {}): Promise<HttpResponse> {
    const url = /^https?:\/\//.test(pathOrUrl) ? pathOrUrl : `${this.base}${pathOrUrl}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...init.headers };
      const authorization = this.auth.authorization();
      if (authorization && new URL(url).host === this.host) headers.authorization = authorization;
      // until the response's headers: with CTL_TRACE, where a pull or push waits on the registry
      const res = await traced(`registry.${init.method ?? 'GET'} ${/\/(manifests|blobs|uploads)\//.exec(url)?.[1] ?? 'other'}`, () =>
        this.send(url, { ...init, headers }),
      );
      if (res.status !== 401 || attempt > 0) {
        if (res.status === 401) throw await statusError(res, `registry ${this.host}: unauthorized`);
        return res;
      }
      res.discard();
      if (!(await this.auth.challenge(res, headers.authorization, this.options.signal)))
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
    const stated = res.header('docker-content-digest');
    if (stated?.startsWith('sha256:') && stated !== digest)
      throw invalidArgument(`manifest ${what}: the registry says its digest is ${stated}, but its content has ${digest}`);
    return { desc: { mediaType: manifestType(res.header('content-type'), data, what), digest, size: data.length }, data };
  }

  /** A blob's bytes as they arrive (the caller checks the digest), and the size the registry gives. */
  async blob(desc: Descriptor): Promise<{ body: AsyncIterable<Uint8Array>; size: number | undefined }> {
    const what = `blob ${desc.digest} of ${this.host}/${this.repository}`;
    const res = await this.request(this.path('blobs', desc.digest));
    if (res.status === 404) throw await notFoundError(res, what);
    if (!res.ok) throw await statusError(res, `get ${what}`);
    const length = res.header('content-length');
    return { body: res.body, size: length !== null ? Number(length) : undefined };
  }

  /** Whether the repository has the blob (HEAD). */
  async hasBlob(digest: string): Promise<boolean> {
    const res = await this.request(this.path('blobs', digest), { method: 'HEAD' });
    res.discard();
    if (res.status === 404) return false;
    if (res.ok) return true;
    throw await statusError(res, `check blob ${digest} in ${this.host}/${this.repository}`);
  }

  /**
   * Puts a blob in the repository: mounted from the repository from when one is given and the
   * registry has it there (201 Created), else its bytes in one PUT to the upload location a POST
   * opened (a mount the registry cannot do opens one too: 202 Accepted). A mount is only a
   * shortcut: whatever keeps it from working (no access to from, an error), a plain upload follows.
   */
  async pushBlob(desc: Descriptor, body: () => AsyncIterable<Uint8Array>, from?: string): Promise<'mounted' | 'uploaded'> {
    const what = `upload blob ${desc.digest} to ${this.host}/${this.repository}`;
    const uploads = `/v2/${this.repository}/blobs/uploads/`;
    const post = { method: 'POST', headers: { 'content-length': '0' } };
    let started: HttpResponse | undefined;
    if (from) {
      const query = new URLSearchParams({ mount: desc.digest, from });
      started = await this.request(`${uploads}?${query}`, post).catch((err: unknown) => {
        if (isKind(err, ErrorKind.PermissionDenied)) return undefined;
        throw err;
      });
      if (started?.status === 201) {
        started.discard();
        const stated = started.header('docker-content-digest');
        if (stated && stated !== desc.digest) throw new EngineError(ErrorKind.Unknown, `${what}: the registry mounted ${stated}`);
        return 'mounted';
      }
      if (started && started.status !== 202) {
        started.discard();
        started = undefined;
      }
    }
    started ??= await this.request(uploads, post);
    if (started.status !== 202) throw await statusError(started, what);
    started.discard();
    const location = started.header('location');
    if (!location) throw new EngineError(ErrorKind.Unknown, `${what}: the registry gave no upload location`);
    const url = new URL(location, `${this.base}/`);
    url.searchParams.set('digest', desc.digest);
    const res = await this.request(url.toString(), {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
      body,
    });
    if (res.status !== 201 && res.status !== 204) throw await statusError(res, what);
    res.discard();
    const stated = res.header('docker-content-digest');
    if (stated && stated !== desc.digest) throw new EngineError(ErrorKind.Unknown, `${what}: the registry stored it as ${stated}`);
    return 'uploaded';
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
    res.discard();
    const stated = res.header('docker-content-digest');
    if (stated && stated !== desc.digest) throw new EngineError(ErrorKind.Unknown, `${what}: the registry stored it as ${stated}`);
  }
}

/** A whole small body, refused past limit bytes. */
async function readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const length = Number(res.header('content-length') ?? 0);
  if (length > limit) {
    res.discard();
    throw invalidArgument(`${what} is ${length} bytes, more than the ${limit} allowed`);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += chunk.length;
    if (total > limit) throw invalidArgument(`${what} is more than the ${limit} bytes allowed`);
    chunks.push(chunk);
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

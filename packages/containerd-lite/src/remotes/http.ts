/**
 * HTTP for registries, on Node's http and https modules and their keep-alive agents. Not fetch:
 * fetch sends a streamed request body through a byte ReadableStream that copies every chunk,
 * and hands response bodies over through web streams too; for a push of tens of megabytes that
 * copying was the largest cost on the client side. Here request chunks go to the socket as they
 * are and response bodies are the sockets' own Buffers.
 *
 * What the registry code needs of fetch is kept: redirects are followed for GET and HEAD (blob
 * downloads go to storage elsewhere), dropping Authorization when the origin changes; a request
 * whose pooled connection turns out closed by the server is sent again once on a new one; a
 * connection silent for five minutes fails the request (as undici's default timeouts).
 */
import { type ClientRequest, type IncomingMessage, STATUS_CODES, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  /** Made again when the request is sent again (a redirect is never followed with a body). */
  body?: () => Buffer | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  statusText: string;
  /** 2xx */
  ok: boolean;
  /** A header's value, repeated ones joined with ", " (lower-case names or not). */
  header(name: string): string | null;
  /** The body as it arrives. Read it, or discard() it so the connection goes back to the pool. */
  body: AsyncIterable<Buffer>;
  /** The body as text, read up to limit bytes (the rest dropped). */
  text(limit?: number): Promise<string>;
  /** Drops the body: read to the end when short (the connection is kept), else the connection is closed. */
  discard(): void;
}

/** A fetch-like function of this shape, for code that makes its own requests (the token endpoint). */
export type Http = (url: string, init: HttpRequest) => Promise<HttpResponse>;

const MAX_REDIRECTS = 10;
const IDLE_TIMEOUT_MS = 300_000;
/** A body of at most this many bytes is read to its end when dropped, keeping the connection. */
const DRAIN_LIMIT = 64 * 1024;

export const http: Http = async (url, init) => {
  let target = new URL(url);
  const headers = { ...init.headers };
  let method = init.method ?? 'GET';
  for (let redirects = 0; ; redirects++) {
    const res = await sendOnce(target, method, headers, init);
    const location = res.headers.location;
    if (!location || ![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || init.body || redirects >= MAX_REDIRECTS) return wrap(res);
    res.resume();
    const next = new URL(location, target);
    if (next.origin !== target.origin) delete headers.authorization;
    if (res.statusCode === 303 && method !== 'HEAD') method = 'GET';
    target = next;
  }
};

/** One request, sent again on a new connection when a pooled one was closed before any answer came. */
async function sendOnce(url: URL, method: string, headers: Record<string, string>, init: HttpRequest): Promise<IncomingMessage> {
  for (let attempt = 0; ; attempt++) {
    let req: ClientRequest | undefined;
    try {
      return await new Promise<IncomingMessage>((resolve, reject) => {
        const options = { method, headers, signal: init.signal };
        const r = url.protocol === 'https:' ? httpsRequest(url, options, resolve) : httpRequest(url, options, resolve);
        req = r;
        r.on('error', reject);
        r.setTimeout(IDLE_TIMEOUT_MS, () =>
          r.destroy(Object.assign(new Error(`no answer from ${url.host} for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })),
        );
        const body = init.body?.();
        if (body === undefined) r.end();
        else if (Buffer.isBuffer(body)) r.end(body);
        else void pump(r, body);
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (attempt === 0 && req?.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') && !init.signal?.aborted) continue;
      throw err;
    }
  }
}

/** Writes a streamed body, waiting whenever the socket's buffer is full; stops when the request ends early. */
async function pump(req: ClientRequest, body: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const chunk of body) {
      if (req.destroyed) return;
      if (!req.write(chunk))
        await new Promise<void>((resolve) => {
          const done = (): void => {
            req.off('drain', done);
            req.off('close', done);
            resolve();
          };
          req.on('drain', done);
          req.on('close', done);
        });
    }
    req.end();
  } catch (err) {
    req.destroy(err as Error);
  }
}

function wrap(res: IncomingMessage): HttpResponse {
  const status = res.statusCode ?? 0;
  return {
    status,
    statusText: res.statusMessage || STATUS_CODES[status] || '',
    ok: status >= 200 && status < 300,
    header(name) {
      const value = res.headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: res,
    async text(limit = Infinity) {
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        total += chunk.length;
        if (total >= limit) {
          res.destroy();
          break;
        }
      }
      return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
    },
    discard() {
      if (res.destroyed) return;
      // Read to its end even when it has all arrived: only then does the connection go back to the pool.
      if (res.complete || Number(res.headers['content-length'] ?? NaN) <= DRAIN_LIMIT) res.resume();
      else res.destroy();
    },
  };
}

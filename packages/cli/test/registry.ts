/**
 * A real registry for tests: Debian's docker-registry (distribution 2.x) on 127.0.0.1 at a free
 * port, storing in a temp dir of its own; stopped by its pid and its dir removed afterwards. What
 * it answered is read from its own access log. Also plain HTTP helpers that write into it without
 * going through the engine, to set up what a test pulls (an index, a second platform)
 * independently of the code under test, and a proxy in front of it that can fail or hold
 * chosen requests.
 */
import { isAlive, waitFor } from '@ctl/proto/testing';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate, createHash, createSign, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTRY_BINARY = '/usr/bin/docker-registry';

/** A request as the registry's access log has it, in the order the answers completed. */
export interface LoggedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  status: number;
}

export interface TestRegistry {
  /** host:port */
  readonly host: string;
  /**
   * The requests the registry answered since the last call: everything answered before this
   * call is in (a marker request, logged after them, is waited for and left out).
   */
  requests(): Promise<LoggedRequest[]>;
  stop(): Promise<void>;
}

/** `127.0.0.1 - - [date] "POST /v2/a/blobs/uploads/?mount=… HTTP/1.1" 201 0 "" "agent"` (combined log format). */
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) /;

export const sha256 = (data: string | Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A port nothing listens on right now (the kernel's pick, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A token server (see startTokenServer) the registry sends clients to, trusting its certificate. */
export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certificate: string;
}

export async function startRegistry(auth?: TokenAuth): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-registry-'));
  let child: ChildProcess | undefined;
  try {
    const host = `127.0.0.1:${await freePort()}`;
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log:',
        '  level: error',
        'storage:',
        '  filesystem:',
        `    rootdirectory: ${join(dir, 'data')}`,
        '  delete:',
        '    enabled: true',
        'http:',
        `  addr: ${host}`,
        `  secret: ${createHash('sha256').update(dir).digest('hex')}`,
        ...(auth
          ? [
              'auth:',
              '  token:',
              `    realm: ${auth.realm}`,
              `    service: ${auth.service}`,
              `    issuer: ${auth.issuer}`,
              `    rootcertbundle: ${auth.certificate}`,
            ]
          : []),
        '',
      ].join('\n'),
    );
    // Its access log goes to stdout; errors (level error) to stderr.
    const proc = spawn(REGISTRY_BINARY, ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const logged: LoggedRequest[] = [];
    let partial = '';
    proc.stdout?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const m = ACCESS_LINE.exec(line);
        if (m) logged.push({ method: m[1]!, path: m[2]!, status: Number(m[3]) });
      }
    });
    let seen = 0;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.once('error', (err) => (stderr += String(err)));
    await waitFor(
      `docker-registry on ${host}`,
      async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
        try {
          const { status } = await fetch(`http://${host}/v2/`);
          return status === 200 || status === 401 || undefined;
        } catch {
          return undefined;
        }
      },
      20_000,
      50,
    );
    return {
      host,
      async requests() {
        const marker = `/v2/?ctl-test-marker=${randomBytes(6).toString('hex')}`;
        await fetch(`http://${host}${marker}`);
        const at = await waitFor(`the registry's access log to reach ${marker}`, () => {
          const i = logged.findIndex((r, n) => n >= seen && r.path === marker);
          return i >= 0 ? i : undefined;
        });
        const out = logged.slice(seen, at).filter((r) => !r.path.startsWith('/v2/?ctl-test-marker='));
        seen = at + 1;
        return out;
      },
      async stop() {
        if (proc.pid && isAlive(proc.pid) && proc.exitCode === null) {
          proc.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGKILL');
            await exited;
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (child?.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Uploads a blob (POST, then PUT with the digest) straight to the registry. */
export async function putBlob(host: string, repo: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const started = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  if (started.status !== 202) throw new Error(`start upload: ${started.status} ${await started.text()}`);
  const url = new URL(started.headers.get('location')!, `http://${host}/`);
  url.searchParams.set('digest', digest);
  const res = await fetch(url, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  if (res.status !== 201) throw new Error(`upload ${digest}: ${res.status} ${await res.text()}`);
  return { digest, size: data.length };
}

export async function putManifest(
  host: string,
  repo: string,
  reference: string,
  mediaType: string,
  data: Buffer,
): Promise<{ digest: string; size: number }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    body: data,
    headers: { 'content-type': mediaType },
  });
  if (res.status !== 201) throw new Error(`put manifest ${repo}:${reference}: ${res.status} ${await res.text()}`);
  return { digest: sha256(data), size: data.length };
}

export async function getManifest(host: string, repo: string, reference: string): Promise<{ mediaType: string; data: Buffer }> {
  const res = await fetch(`http://${host}/v2/${repo}/manifests/${reference}`, {
    headers: {
      accept:
        'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json',
    },
  });
  if (!res.ok) throw new Error(`get manifest ${repo}:${reference}: ${res.status}`);
  return { mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!, data: Buffer.from(await res.arrayBuffer()) };
}

export async function getBlob(host: string, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`);
  if (!res.ok) throw new Error(`get blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** What a proxy does with a request: pass it to the registry, answer it itself, or never answer. */
export type ProxyAction = 'forward' | 'hold' | { status: number; body: string };

export interface ProxiedRequest {
  method: string;
  path: string;
  action: 'forward' | 'hold' | 'answer';
  /** The client closed the connection before an answer was complete (e.g. it gave up on a held request). */
  closedByClient: boolean;
}

export interface TestProxy {
  /** host:port */
  readonly host: string;
  readonly requests: ProxiedRequest[];
  stop(): Promise<void>;
}

/**
 * An HTTP proxy in this process in front of the registry at target (host:port). The Host header
 * goes through unchanged, so the upload locations the registry gives point back at the proxy.
 * decide may keep a request waiting (a promise) before it says what to do with it.
 */
export async function startProxy(
  target: string,
  decide: (method: string, path: string) => ProxyAction | Promise<ProxyAction>,
): Promise<TestProxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const requests: ProxiedRequest[] = [];
  const server = createHttpServer(async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const action = await decide(method, path);
    const record: ProxiedRequest = { method, path, action: typeof action === 'string' ? action : 'answer', closedByClient: false };
    requests.push(record);
    res.on('close', () => (record.closedByClient ||= !res.writableFinished));
    if (action === 'hold') {
      req.resume();
      return;
    }
    if (typeof action === 'object') {
      req.resume();
      req.on('end', () =>
        res
          .writeHead(action.status, { 'content-type': 'application/json' })
          .end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: action.body }] })),
      );
      return;
    }
    const upstream = httpRequest({ host: targetHost, port: Number(targetPort), method, path, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TokenRequest {
  /** From the Basic credentials; '' when anonymous. */
  user: string;
  scopes: string[];
}

export interface TokenServer extends TokenAuth {
  /** Every token asked for, in order. */
  readonly requests: TokenRequest[];
  /** Repositories whose pull the tokens never grant (the user may not read them). */
  readonly unreadable: Set<string>;
  stop(): Promise<void>;
}

/**
 * A token endpoint in this process for a registry with token auth (distribution's `auth.token`):
 * it takes the Basic credentials user:password and grants every scope asked for, except pull on
 * the repositories in unreadable; tokens are JWTs signed with a key whose self-signed certificate
 * (made with openssl in a temp dir of its own) the registry trusts.
 */
export async function startTokenServer(user: string, password: string): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ctl-token-'));
  try {
    const keyPath = join(dir, 'key.pem');
    const certificate = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certificate,
        '-days',
        '2',
        '-subj',
        '/CN=ctl-test-token',
      ],
      { stdio: 'ignore' },
    );
    const key = readFileSync(keyPath);
    const chain = [new X509Certificate(readFileSync(certificate)).raw.toString('base64')];
    const issuer = 'ctl-test-issuer';
    const service = 'ctl-test-registry';
    const requests: TokenRequest[] = [];
    const unreadable = new Set<string>();
    const base64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const server = createHttpServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://token');
      const basic = /^Basic (.*)$/.exec(req.headers.authorization ?? '');
      const [givenUser, givenPassword] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':') : ['', ''];
      const scopes = url.searchParams.getAll('scope');
      requests.push({ user: givenUser ?? '', scopes });
      if (givenUser !== user || givenPassword !== password) {
        res.writeHead(401).end();
        return;
      }
      const access = scopes.flatMap((scope) => {
        const [type, name, actions] = scope.split(':') as [string, string, string];
        const granted = actions.split(',').filter((action) => !(action === 'pull' && unreadable.has(name)));
        return granted.length ? [{ type, name, actions: granted }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = { typ: 'JWT', alg: 'RS256', x5c: chain };
      const claims = {
        iss: issuer,
        sub: user,
        aud: service,
        exp: now + 600,
        nbf: now - 60,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      };
      const signed = `${base64url(header)}.${base64url(claims)}`;
      const signature = createSign('RSA-SHA256').update(signed).sign(key).toString('base64url');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${signed}.${signature}` }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      realm: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
      service,
      issuer,
      certificate,
      requests,
      unreadable,
      stop: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => {
            rmSync(dir, { recursive: true, force: true });
            resolve();
          });
        }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

import { ErrorKind, errorKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256 } from '../oci';
import { parseChallenges } from './auth';
import { Registry, isLocalhost, registryHost } from './registry';

async function* bodyOf(data: Buffer): AsyncIterable<Uint8Array> {
  yield data;
}

describe('registry auth', () => {
  it('parses WWW-Authenticate challenges: quoted values, escapes, several challenges', () => {
    assert.deepEqual(
      parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"'),
      [
        {
          scheme: 'bearer',
          params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
        },
      ],
    );
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm=http://x/token , error="insufficient_scope"'), [
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'http://x/token', error: 'insufficient_scope' } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="say \\"hi\\"",Service=s'), [
      { scheme: 'bearer', params: { realm: 'say "hi"', service: 's' } },
    ]);
    assert.deepEqual(parseChallenges('Negotiate'), [{ scheme: 'negotiate', params: {} }]);
    assert.deepEqual(parseChallenges(''), []);
    assert.deepEqual(parseChallenges('=,,"'), [], 'junk is skipped, not thrown');
  });

  it('knows Docker Hub and the hosts spoken to over plain HTTP', () => {
    assert.equal(registryHost('docker.io'), 'registry-1.docker.io');
    assert.equal(registryHost('127.0.0.1:5000'), '127.0.0.1:5000');
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.1.2.3', '[::1]:5000']) assert.ok(isLocalhost(h), h);
    for (const h of ['registry-1.docker.io', 'example.com:5000', 'localhost.example.com', '10.0.0.1:5000']) assert.ok(!isLocalhost(h), h);
  });

  describe('against a registry that wants a token', () => {
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256('{}'), size: 2 },
        layers: [],
      }),
    );
    let server: Server;
    let host: string;
    let mode: 'bearer' | 'basic' = 'bearer';
    /** Whether the token endpoint grants pull on team/base (the source of mounts). */
    let grantsBase = true;
    const tokenRequests: URL[] = [];
    /** Blob bytes PUT to team/app, by digest. */
    const uploaded = new Map<string, Buffer>();
    /** The scopes a Bearer token of this server grants (empty for anything else). */
    const granted = (req: IncomingMessage): string[] => {
      const m = /^Bearer t:[^:]+:(.*)$/.exec(req.headers.authorization ?? '');
      return m ? m[1]!.split(' ') : [];
    };
    const USER = 'alice';
    const PASSWORD = 's3cret';
    const basicOk = (req: IncomingMessage): boolean =>
      req.headers.authorization === `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

    before(async () => {
      server = createServer((req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? '/', `http://${host}`);
        if (url.pathname === '/token') {
          tokenRequests.push(url);
          if (req.headers.authorization && !basicOk(req)) {
            res.writeHead(401).end();
            return;
          }
          const scopes = url.searchParams
            .getAll('scope')
            .filter((scope) => grantsBase || !scope.startsWith('repository:team/base:'))
            .join(' ');
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ token: `t:${req.headers.authorization ? USER : 'anonymous'}:${scopes}` }));
          return;
        }
        if (url.pathname === '/v2/team/app/manifests/v1') {
          const auth = req.headers.authorization ?? '';
          const allowed = mode === 'bearer' ? auth === `Bearer t:${USER}:repository:team/app:pull` : basicOk(req);
          if (!allowed) {
            const challenge =
              mode === 'bearer'
                ? `Bearer realm="http://${host}/token",service="test-registry",scope="repository:team/app:pull"`
                : 'Basic realm="test"';
            res
              .writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' })
              .end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
            return;
          }
          res
            .writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': sha256(manifest) })
            .end(manifest);
          return;
        }
        if (url.pathname === '/v2/team/app/blobs/uploads/' && req.method === 'POST') {
          const needed = ['repository:team/app:pull,push', ...(url.searchParams.get('mount') ? ['repository:team/base:pull'] : [])];
          if (!needed.every((scope) => granted(req).includes(scope))) {
            res
              .writeHead(401, {
                'www-authenticate': `Bearer realm="http://${host}/token",service="test-registry",scope="${needed.join(' ')}"`,
              })
              .end();
            return;
          }
          if (url.searchParams.get('from') === 'team/base')
            res.writeHead(201, { 'docker-content-digest': url.searchParams.get('mount')! }).end();
          else res.writeHead(202, { location: '/v2/team/app/blobs/uploads/session' }).end();
          return;
        }
        if (url.pathname === '/v2/team/app/blobs/uploads/session' && req.method === 'PUT') {
          const chunks: Buffer[] = [];
          req.on('data', (c: Buffer) => chunks.push(c));
          req.on('end', () => {
            uploaded.set(url.searchParams.get('digest')!, Buffer.concat(chunks));
            res.writeHead(201).end();
          });
          return;
        }
        res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
      tokenRequests.length = 0;
      uploaded.clear();
      grantsBase = true;
    });

    it('follows the Bearer challenge to the token endpoint with Basic credentials', async () => {
      mode = 'bearer';
      const registry = new Registry(host, 'team/app', 'pull', { credentials: { username: USER, password: PASSWORD } });
      const got = await registry.manifest('v1');
      assert.equal(got.desc.digest, sha256(manifest));
      assert.equal(got.desc.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.equal(tokenRequests.length, 1);
      assert.equal(tokenRequests[0]!.searchParams.get('service'), 'test-registry');
      assert.deepEqual(tokenRequests[0]!.searchParams.getAll('scope'), ['repository:team/app:pull']);
      // The token is kept for the next request of the same operation.
      await registry.manifest('v1');
      assert.equal(tokenRequests.length, 1);
    });

    it('refuses clearly: anonymous tokens that do not grant, wrong passwords, Basic without credentials', async () => {
      mode = 'bearer';
      const anonymous = await new Registry(host, 'team/app', 'pull').manifest('v1').catch((e: unknown) => e as Error);
      assert.equal(errorKind(anonymous), ErrorKind.PermissionDenied);
      assert.match((anonymous as Error).message, /unauthorized: 401 Unauthorized \(UNAUTHORIZED: authentication required\)/);
      const wrong = await new Registry(host, 'team/app', 'pull', { credentials: { username: USER, password: 'nope' } })
        .manifest('v1')
        .catch((e: unknown) => e as Error);
      assert.equal(errorKind(wrong), ErrorKind.PermissionDenied);
      assert.match((wrong as Error).message, /token endpoint .* refused the credentials of alice/);
      mode = 'basic';
      const noCredentials = await new Registry(host, 'team/app', 'pull').manifest('v1').catch((e: unknown) => e as Error);
      assert.equal(errorKind(noCredentials), ErrorKind.PermissionDenied);
      assert.match((noCredentials as Error).message, /asks for a user name and password/);
    });

    it('answers a Basic challenge with the credentials', async () => {
      mode = 'basic';
      const got = await new Registry(host, 'team/app', 'pull', { credentials: { username: USER, password: PASSWORD } }).manifest('v1');
      assert.equal(got.desc.digest, sha256(manifest));
      assert.equal(tokenRequests.length, 0);
    });

    it('asks the token for pull on the repositories blobs are mounted from, and mounts', async () => {
      mode = 'bearer';
      const blob = Buffer.from('a layer\n');
      const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(blob), size: blob.length };
      const registry = new Registry(host, 'team/app', 'pull,push', { credentials: { username: USER, password: PASSWORD } }, ['team/base']);
      assert.equal(await registry.pushBlob(desc, () => bodyOf(blob), 'team/base'), 'mounted');
      assert.equal(tokenRequests.length, 1, 'the first token already allows the mount');
      assert.deepEqual(tokenRequests[0]!.searchParams.getAll('scope').sort(), [
        'repository:team/app:pull,push',
        'repository:team/base:pull',
      ]);
      assert.equal(uploaded.size, 0, 'no bytes were sent');
    });

    it('uploads the bytes when the token does not allow reading the mount source', async () => {
      mode = 'bearer';
      grantsBase = false;
      const blob = Buffer.from('another layer\n');
      const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(blob), size: blob.length };
      const registry = new Registry(host, 'team/app', 'pull,push', { credentials: { username: USER, password: PASSWORD } }, ['team/base']);
      assert.equal(await registry.pushBlob(desc, () => bodyOf(blob), 'team/base'), 'uploaded');
      assert.deepEqual(uploaded.get(desc.digest), blob);
    });

    it('says NotFound for what the registry does not have, and Unavailable for a registry that is not there', async () => {
      const missing = await new Registry(host, 'team/other', 'pull').manifest('v1').catch((e: unknown) => e as Error);
      assert.equal(errorKind(missing), ErrorKind.NotFound);
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const gone = await new Registry(`127.0.0.1:${port}`, 'x', 'pull').manifest('v1').catch((e: unknown) => e as Error);
      assert.equal(errorKind(gone), ErrorKind.Unavailable);
      assert.match((gone as Error).message, /registry 127\.0\.0\.1:\d+ is not reachable: connect ECONNREFUSED/);
    });
  });
});

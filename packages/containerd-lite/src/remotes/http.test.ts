import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { http } from './http';

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

describe('registry http', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await close(s);
  });
  const start = async (handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> => {
    const { server, base } = await serve(handler);
    servers.push(server);
    return base;
  };

  it('streams a request body chunk by chunk and reads the answer', async () => {
    const base = await start((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (c: Buffer) => hash.update(c));
      req.on('end', () => res.writeHead(201, { 'x-digest': hash.digest('hex'), 'x-twice': ['a', 'b'] }).end('stored'));
    });
    const chunks = [Buffer.alloc(3 << 20, 1), Buffer.alloc(1 << 20, 2), Buffer.from('end')];
    async function* body(): AsyncIterable<Uint8Array> {
      yield* chunks;
    }
    const res = await http(`${base}/upload`, { method: 'PUT', body });
    assert.equal(res.status, 201);
    assert.equal(res.statusText, 'Created');
    assert.ok(res.ok);
    assert.equal(res.header('X-Digest'), createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
    assert.equal(res.header('x-twice'), 'a, b');
    assert.equal(res.header('x-none'), null);
    assert.equal(await res.text(), 'stored');
  });

  it('follows redirects for GET, dropping Authorization when the origin changes', async () => {
    const seen: (string | undefined)[] = [];
    const storage = await start((req, res) => {
      seen.push(req.headers.authorization);
      res.end('blob bytes');
    });
    const registry = await start((req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === '/first') res.writeHead(307, { location: '/second' }).end();
      else res.writeHead(302, { location: `${storage}/blob` }).end();
    });
    const res = await http(`${registry}/first`, { headers: { authorization: 'Bearer t' } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'blob bytes');
    assert.deepEqual(seen, ['Bearer t', 'Bearer t', undefined]);
    // A request with a body is not sent elsewhere: its redirect is the answer.
    const put = await http(`${registry}/first`, { method: 'PUT', body: () => Buffer.from('x') });
    assert.equal(put.status, 307);
    put.discard();
  });

  it('sends a request again on a new connection when the pooled one was closed under it', async () => {
    const served = new WeakSet<Socket>();
    let requests = 0;
    const base = await start((req, res) => {
      requests++;
      // A second request on a connection: closed unanswered, as a server whose idle timeout struck.
      if (served.has(req.socket)) return req.socket.destroy();
      served.add(req.socket);
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const first = await http(`${base}/a`, {});
    assert.equal(await first.text(), 'ok');
    const second = await http(`${base}/b`, { method: 'PUT', body: () => Buffer.from('body') });
    assert.equal(await second.text(), 'ok');
    assert.equal(requests, 3, 'the second went out twice: on the pooled connection, then on a new one');
  });

  it('fails with what went wrong: nobody listening, TLS against plain HTTP, canceled', async () => {
    const { server, base } = await serve((_req, res) => res.end());
    await close(server);
    await assert.rejects(http(`${base}/`, {}), { code: 'ECONNREFUSED' });

    const plain = await start((_req, res) => res.end());
    await assert.rejects(http(plain.replace('http:', 'https:'), {}), (err: NodeJS.ErrnoException) => {
      assert.match(`${err.code} ${err.message}`, /wrong version number|EPROTO|ERR_SSL/i);
      return true;
    });

    const silent = await start(() => undefined);
    const abort = new AbortController();
    const pending = http(`${silent}/`, { signal: abort.signal });
    abort.abort();
    await assert.rejects(pending, { name: 'AbortError' });
  });
});

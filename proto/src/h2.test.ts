import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CANCEL, H2Error, type H2Session, type H2Stream, h2Connect } from './h2';

// The client against Node's own HTTP/2 server (nghttp2): Huffman-coded and indexed headers,
// flow control both ways, CONTINUATION, concurrency limits, resets and GOAWAY as a real peer sends them.

interface Reply {
  headers: Record<string, string>;
  body: Buffer;
  trailers?: Record<string, string>;
}

function collect(stream: H2Stream): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let headers: Record<string, string> = {};
    let trailers: Record<string, string> | undefined;
    stream.on('response', (h: Record<string, string>) => (headers = h));
    stream.on('trailers', (t: Record<string, string>) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers, body: Buffer.concat(chunks), trailers }));
  });
}

const request = (session: H2Session, path: string, extra: Record<string, string> = {}): H2Stream =>
  session.request({ ':method': 'POST', ':scheme': 'http', ':authority': 'localhost', ':path': path, ...extra });

describe('h2: HTTP/2 client against node:http2', () => {
  let dir: string;
  let socket: string;
  let server: http2.Http2Server;
  let session: H2Session;
  const sessions: H2Session[] = [];
  const connect = (): H2Session => {
    const s = h2Connect(net.connect(socket));
    s.on('error', () => undefined);
    sessions.push(s);
    return s;
  };
  let serverSessions: http2.ServerHttp2Session[] = [];
  let handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'h2-'));
    socket = join(dir, 'sock');
    server = http2.createServer({ settings: { maxConcurrentStreams: 2 } });
    server.on('stream', (stream, headers) => {
      stream.on('error', () => undefined);
      handler(stream, headers);
    });
    serverSessions = [];
    server.on('session', (ss) => serverSessions.push(ss));
    await new Promise<void>((r) => server.listen(socket, r));
    session = connect();
  });
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.destroy();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends headers and a body, and reads the response, its data and trailers', async () => {
    handler = (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'x-echo-path': String(headers[':path']) },
          { waitForTrailers: true },
        );
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'all%20fine' }));
        stream.end(Buffer.concat([Buffer.from(String(headers['x-name'])), ...chunks]));
      });
    };
    const s = request(session, '/svc/Method', { 'x-name': 'hello' });
    const reply = collect(s);
    s.end(Buffer.from(' body'));
    const { headers, body, trailers } = await reply;
    assert.equal(headers[':status'], '200');
    assert.equal(headers['x-echo-path'], '/svc/Method');
    assert.equal(body.toString('latin1'), 'hello body');
    assert.deepEqual(trailers, { 'grpc-status': '0', 'grpc-message': 'all%20fine' });
  });

  it('reads the same headers again from the dynamic table on later streams', async () => {
    handler = (stream) => {
      stream.respond({ ':status': 200, 'x-long-header-to-index': 'a value that the server indexes once' }, { endStream: true });
    };
    for (let i = 0; i < 3; i++) {
      const s = request(session, '/again');
      const reply = collect(s);
      s.end();
      assert.equal((await reply).headers['x-long-header-to-index'], 'a value that the server indexes once');
    }
  });

  it('receives more than the windows hold, paused in between, and sends more than the server window', async () => {
    const size = 5 * 1024 * 1024;
    handler = (stream) => {
      let received = 0;
      stream.on('data', (c: Buffer) => (received += c.length));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'x-received': String(received) });
        stream.end(Buffer.alloc(size, 7));
      });
    };
    const s = request(session, '/big');
    const chunks: Buffer[] = [];
    let paused = 0;
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (paused < 3 && chunks.length % 10 === 0) {
        paused++;
        s.pause();
        setTimeout(() => s.resume(), 30);
      }
    });
    const done = collect(s);
    let written = false;
    s.write(Buffer.alloc(300 * 1024, 1), () => (written = true));
    s.end();
    const { headers } = await done;
    assert.ok(written);
    assert.equal(headers['x-received'], String(300 * 1024));
    assert.equal(Buffer.concat(chunks).length, size);
    assert.ok(paused > 0);
  });

  it('receives a header block spread over CONTINUATION frames', async () => {
    const big = 'v'.repeat(40_000);
    handler = (stream) => stream.respond({ ':status': 200, 'x-big': big }, { endStream: true });
    const s = request(session, '/continuation');
    const reply = collect(s);
    s.end();
    assert.equal((await reply).headers['x-big'], big);
  });

  it('queues streams beyond the server’s limit and runs them all', async () => {
    const open: http2.ServerHttp2Stream[] = [];
    let most = 0;
    handler = (stream) => {
      open.push(stream);
      most = Math.max(most, open.length);
      setTimeout(() => {
        open.splice(open.indexOf(stream), 1);
        if (!stream.destroyed) stream.respond({ ':status': 200 }, { endStream: true });
      }, 20);
    };
    // the server's SETTINGS (its limit) come with the answer to a first request
    const first = request(session, '/many');
    const firstReply = collect(first);
    first.end();
    await firstReply;
    const replies = Array.from({ length: 6 }, () => {
      const s = request(session, '/many');
      const r = collect(s);
      s.end();
      return r;
    });
    for (const r of await Promise.all(replies)) assert.equal(r.headers[':status'], '200');
    assert.ok(most <= 2, `at most 2 at once, saw ${most}`);
  });

  it('reports a stream the server resets, and cancels one from this side', async () => {
    let cancelled = false;
    handler = (stream, headers) => {
      if (headers[':path'] === '/reset') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else stream.on('close', () => (cancelled = stream.rstCode === http2.constants.NGHTTP2_CANCEL));
    };
    const s = request(session, '/reset');
    s.end();
    await assert.rejects(collect(s), (e: unknown) => e instanceof H2Error && e.h2Code === http2.constants.NGHTTP2_REFUSED_STREAM);
    const c = request(session, '/hang');
    const closed = new Promise((r) => c.on('close', r));
    await new Promise((r) => setTimeout(r, 50));
    c.close(CANCEL);
    await closed;
    for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cancelled);
  });

  it('fails streams with the socket’s error when nothing listens, and closes when idle', async () => {
    const s = h2Connect(net.connect(join(dir, 'missing')));
    const sessionError = new Promise<Error>((r) => s.once('error', r));
    sessions.push(s);
    const st = request(s, '/x');
    st.end();
    await assert.rejects(collect(st), (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT');
    assert.equal(((await sessionError) as NodeJS.ErrnoException).code, 'ENOENT');
    assert.ok(s.destroyed);

    handler = (stream) => stream.respond({ ':status': 200 }, { endStream: true });
    const ok = request(session, '/y');
    const reply = collect(ok);
    ok.end();
    await reply;
    session.close();
    assert.ok(session.closed);
    assert.throws(() => request(session, '/z'), H2Error);
  });

  it('ends the streams of a connection the server closes', async () => {
    handler = () => undefined; // holds every stream open
    const s = request(session, '/held');
    const result = collect(s);
    for (let i = 0; i < 100 && serverSessions.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    for (const ss of serverSessions) ss.destroy();
    await assert.rejects(result);
    assert.ok(session.closed && session.destroyed);
  });
});

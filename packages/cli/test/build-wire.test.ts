/**
 * `ctl build` and `ctl builder` against a scripted ctl.build.v1 Builder served on the instance's
 * containerd-lite socket by this process: what the command sends (options, the context's tar in
 * bounded messages, eof), how it draws what comes back, its exit codes, -q, --iidfile, -o, and
 * that Ctrl-C reaches the daemon as a cancelled call. The real builder's own tests are in
 * containerd-lite; build.test.ts runs real builds through both.
 */
import {
  type Contracts,
  type ServerHandle,
  createLogger,
  ensureDir,
  finishStream,
  loadContracts,
  sendMessage,
  serveUnix,
  serviceSocket,
  unaryHandler,
} from '@ctl/proto';
import { type TempInstance, tempInstance, waitFor } from '@ctl/proto/testing';
import type { BuildEvent } from '@ctl/proto/generated/ctl/build/v1/BuildEvent';
import type { BuildOptions__Output } from '@ctl/proto/generated/ctl/build/v1/BuildOptions';
import type { BuildRequest__Output } from '@ctl/proto/generated/ctl/build/v1/BuildRequest';
import { strict as assert } from 'node:assert';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import * as tar from 'tar-stream';
import { CTL } from './helpers';

type BuildCall = ServerDuplexStream<BuildRequest__Output, BuildEvent>;

interface Received {
  options?: BuildOptions__Output;
  /** the sizes of the context messages, in order */
  chunkSizes: number[];
  context: Buffer;
  eof: boolean;
  /** resolves once eof came (or the call ended) */
  complete: Promise<void>;
  cancelled: Promise<void>;
}

type Script = (call: BuildCall, received: Received) => Promise<void>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('ctl build against a scripted builder', function () {
  this.timeout(60_000);
  let instance: TempInstance;
  let server: ServerHandle | undefined;
  let script: Script = async () => undefined;
  let received: Received | undefined;
  const pruned: { all: boolean; keepDurationSeconds: number }[] = [];

  /** Serves the Builder (or only Health and Version when `builder` is false) on the instance's containerd-lite socket. */
  async function serve(builder = true): Promise<void> {
    await server?.shutdown(0);
    const contracts: Contracts = loadContracts();
    const implementation: UntypedServiceImplementation = {
      Build: (call: BuildCall) => {
        let eofSeen!: () => void;
        let cancelSeen!: () => void;
        const r: Received = {
          chunkSizes: [],
          context: Buffer.alloc(0),
          eof: false,
          complete: new Promise<void>((resolve) => (eofSeen = resolve)),
          cancelled: new Promise<void>((resolve) => (cancelSeen = resolve)),
        };
        received = r;
        call.on('data', (req: BuildRequest__Output) => {
          if (req.payload === 'options') r.options = req.options!;
          else if (req.context?.eof) {
            r.eof = true;
            eofSeen();
          } else if (req.context) {
            r.chunkSizes.push(req.context.data.length);
            r.context = Buffer.concat([r.context, req.context.data]);
          }
        });
        call.on('end', eofSeen);
        call.on('cancelled', cancelSeen);
        finishStream(call, script(call, r));
      },
      Prune: unaryHandler(async (req: { all: boolean; keepDurationSeconds: number }) => {
        pruned.push({ all: req.all, keepDurationSeconds: Number(req.keepDurationSeconds) });
        return { removed: 3, reclaimableBytes: 3 * 1024 * 1024 };
      }),
      ListCache: unaryHandler(async () => ({
        records: [
          {
            key: `sha256:${'ab'.repeat(32)}`,
            description: '[2/2] RUN make',
            manifestDigest: `sha256:${'cd'.repeat(32)}`,
            size: 2048,
            createdAtNs: (Date.now() - 7200_000) * 1e6,
            lastUsedAtNs: (Date.now() - 120_000) * 1e6,
          },
        ],
      })),
    };
    ensureDir(instance.state);
    server = await serveUnix(
      serviceSocket(instance, 'containerd-lite'),
      {
        name: 'containerd-lite',
        registrations: builder ? [{ definition: contracts.ctl.build.v1.Builder.service, implementation }] : [],
        close: async () => undefined,
      },
      createLogger('test-builder', 'error'),
    );
  }

  /** Runs ctl without blocking this process (it serves the other end). */
  function ctl(args: string[], options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    const child = spawn(process.execPath, [CTL, '--root', instance.root, '--state', instance.state, ...args], {
      env: { ...process.env, CTL_NO_AUTOSTART: '1', ...options.env },
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(options.input ?? '');
    const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
    return { child: child as ChildProcess, stderr: () => stderr, done };
  }

  const started = (id: string, name: string): BuildEvent => ({ started: { id, name, stage: '', line: 0 } });
  const log = (id: string, text: string): BuildEvent => ({ log: { id, stream: 1, data: Buffer.from(text) } });
  const done = (id: string, extra: { cached?: boolean; error?: string } = {}): BuildEvent => ({
    done: { id, cached: extra.cached ?? false, durationNs: 1_200_000_000, error: extra.error ?? '' },
  });
  const result = (imageId: string, names: string[]): BuildEvent => ({ result: { imageId, manifestDigest: imageId, names } });
  const IMAGE = `sha256:${'9'.repeat(64)}`;

  before(async () => {
    instance = tempInstance('ctl-build-wire-');
    await serve();
  });
  after(async () => {
    await server?.shutdown(0);
    instance.remove();
  });

  async function namesIn(context: Buffer): Promise<string[]> {
    const extract = tar.extract();
    const names: string[] = [];
    extract.end(context);
    for await (const entry of extract) {
      names.push(entry.header.name);
      entry.resume();
    }
    return names;
  }

  it("reports bad usage as docker does (exit 125, See 'ctl build --help'.) before reading or sending anything", async () => {
    for (const [args, message, help] of [
      [['build', '--bogus', '.'], 'ctl build: unknown flag: --bogus', 'ctl build'],
      [['build'], 'ctl build: build requires exactly 1 argument (PATH or -)', 'ctl build'],
      [['build', '-t', 'Bad:Tag', '.'], 'ctl build: invalid argument "Bad:Tag" for "-t, --tag" flag: ', 'ctl build'],
      [
        ['build', '--build-arg', 'CTL_SURELY_UNSET', '.'],
        'ctl build: --build-arg CTL_SURELY_UNSET: CTL_SURELY_UNSET is not set',
        'ctl build',
      ],
      [['image', 'build', '--progress', 'fancy', '.'], 'ctl image: invalid --progress "fancy": auto, plain, tty or quiet', 'ctl image'],
      [['builder', 'frob'], 'ctl builder: unknown builder command "frob"', 'ctl builder'],
    ] as const) {
      received = undefined;
      const run = await ctl([...args]).done;
      assert.equal(run.code, 125, args.join(' '));
      assert.ok(run.stderr.startsWith(message) && run.stderr.endsWith(`\nSee '${help} --help'.\n`), `${args.join(' ')}: ${run.stderr}`);
      assert.equal(received, undefined, 'nothing reached the daemon');
    }
    const missing = await ctl(['build', '/no/such/dir']).done;
    assert.deepEqual([missing.code, missing.stderr], [1, 'ctl build: unable to prepare context: path "/no/such/dir" not found\n']);
    const help = await ctl(['build', '--help']).done;
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: ctl build \[OPTIONS\] PATH \| -\n(.|\n)*--build-arg KEY=VALUE(.|\n)*--iidfile FILE/);
  });

  it('sends the options, then only what .dockerignore lets through in bounded messages, then eof; -q prints only the id', async () => {
    const ctx = join(instance.base, 'ctx');
    mkdirSync(join(ctx, 'node_modules', 'x'), { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY . /app\n');
    writeFileSync(join(ctx, '.dockerignore'), 'node_modules\n*.log\n');
    writeFileSync(join(ctx, 'node_modules', 'x', 'index.js'), 'x');
    writeFileSync(join(ctx, 'debug.log'), 'x');
    writeFileSync(join(ctx, 'big.bin'), Buffer.alloc(3 * 1024 * 1024 + 5, 7));
    script = async (call, r) => {
      await r.complete;
      await sendMessage(call, started('1/2', '[1/2] FROM docker.io/library/busybox:latest'));
      await sendMessage(call, done('1/2', { cached: true }));
      await sendMessage(call, started('2/2', '[2/2] COPY . /app'));
      await sendMessage(call, done('2/2'));
      await sendMessage(call, result(IMAGE, ['docker.io/library/app:1']));
    };
    const iid = join(instance.base, 'iid');
    writeFileSync(iid, 'stale');
    const run = await ctl(['build', '-q', '-t', 'app:1', '--build-arg', 'V=2', '--iidfile', iid, '--network', 'none', ctx]).done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${IMAGE}\n`);
    assert.equal(run.stderr, '');
    assert.equal(readFileSync(iid, 'utf8'), IMAGE);
    const r = received!;
    assert.equal(r.options?.dockerfile, 'FROM busybox\nCOPY . /app\n');
    assert.equal(r.options?.dockerfileName, 'Dockerfile');
    assert.deepEqual(r.options?.tags, ['docker.io/library/app:1']);
    assert.deepEqual(r.options?.buildArgs, { V: '2' });
    assert.equal(r.options?.network, 'none');
    assert.equal(r.options?.noContext, false);
    assert.equal(r.eof, true);
    assert.deepEqual(await namesIn(r.context), ['.dockerignore', 'Dockerfile', 'big.bin']);
    assert.ok(
      r.chunkSizes.length >= 4 && r.chunkSizes.every((n) => n <= 1024 * 1024),
      `context messages of at most 1 MiB: ${r.chunkSizes.join(' ')}`,
    );
  });

  it('draws plain progress on stderr and keeps stdout empty; a Dockerfile on stdin goes without a context', async () => {
    script = async (call, r) => {
      await r.complete;
      await sendMessage(call, started('1/2', '[1/2] FROM docker.io/library/busybox:latest'));
      await sendMessage(call, done('1/2'));
      await sendMessage(call, started('2/2', '[2/2] RUN echo hello'));
      await sendMessage(call, log('2/2', 'hello\n'));
      await sendMessage(call, done('2/2'));
      await sendMessage(call, { warning: { message: 'no tag for the base image', line: 1 } });
      await sendMessage(call, result(IMAGE, []));
    };
    const run = await ctl(['build', '--progress=plain', '-'], { input: 'FROM busybox\nRUN echo hello\n' }).done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      /^\n#1 \[1\/2\] FROM docker.io\/library\/busybox:latest\n#1 DONE 1\.2s\n\n#2 \[2\/2\] RUN echo hello\n#2 \d\.\d{3} hello\n#2 DONE 1\.2s\n/,
    );
    assert.match(run.stderr, new RegExp(`#3 writing image ${IMAGE} done\n`));
    assert.match(run.stderr, /1 warning found:\n - no tag for the base image \(line 1\)\n$/);
    assert.deepEqual([received!.options?.noContext, received!.options?.dockerfileName, received!.context.length], [true, '-', 0]);
    assert.equal(received!.eof, true);
  });

  it('a failing step: exit 1, the step named with its last output, the error on stderr, no iidfile', async () => {
    script = async (call, r) => {
      await r.complete;
      await sendMessage(call, started('2/2', '[2/2] RUN make'));
      await sendMessage(call, log('2/2', 'cc app.c\napp.c:1: error\n'));
      await sendMessage(call, done('2/2', { error: 'process "/bin/sh -c make" did not complete successfully: exit code: 2' }));
      throw new Error('[2/2] RUN make: exit code 2');
    };
    const iid = join(instance.base, 'iid-fail');
    writeFileSync(iid, 'stale');
    const run = await ctl(['build', '--progress', 'plain', '--iidfile', iid, '-'], { input: 'FROM busybox\nRUN make\n' }).done;
    assert.equal(run.code, 1);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /#1 ERROR: process "\/bin\/sh -c make" did not complete successfully: exit code: 2\n/);
    assert.match(run.stderr, /------\n > \[2\/2\] RUN make:\n\d\.\d{3} cc app\.c\n\d\.\d{3} app\.c:1: error\n------\n/);
    assert.match(run.stderr, /ctl build: \[2\/2\] RUN make: exit code 2\n$/);
    assert.equal(existsSync(iid), false, 'a stale id does not survive a failed build');
    // -q shows the failing step too (on stderr).
    const quiet = await ctl(['build', '-q', '-'], { input: 'FROM busybox\nRUN make\n' }).done;
    assert.equal(quiet.code, 1);
    assert.equal(quiet.stdout, '');
    assert.match(quiet.stderr, /^------\n > \[2\/2\] RUN make:\n.*cc app\.c\n.*app\.c:1: error\n------\nctl build: /);
  });

  it('Ctrl-C cancels the call: the daemon sees it cancelled, the view says CANCELED, exit 130', async () => {
    let callOpen!: () => void;
    const open = new Promise<void>((resolve) => (callOpen = resolve));
    let sawCancel = false;
    script = async (call, r) => {
      await r.complete;
      await sendMessage(call, started('2/2', '[2/2] RUN sleep 1000'));
      callOpen();
      await r.cancelled;
      sawCancel = true;
    };
    const { child, stderr, done: finished } = ctl(['build', '--progress=plain', '-'], { input: 'FROM busybox\nRUN sleep 1000\n' });
    await open;
    await waitFor("the step on ctl build's stderr", () => stderr().includes('#1 [2/2] RUN sleep 1000') || undefined, 10_000);
    child.kill('SIGINT');
    const run = await finished;
    assert.equal(run.code, 130, run.stderr);
    assert.match(run.stderr, /#1 CANCELED\nctl build: cancelled\n$/);
    await waitFor('the daemon to see the call cancelled', () => sawCancel || undefined, 10_000);
  });

  it('-o type=oci,dest=FILE: the daemon writes a private temporary file, moved into place after the build', async () => {
    let daemonDest = '';
    script = async (call, r) => {
      await r.complete;
      daemonDest = r.options!.output!.dest;
      writeFileSync(daemonDest, 'an oci archive');
      await sendMessage(call, result(IMAGE, []));
    };
    const dest = join(instance.base, 'out', 'image.tar');
    mkdirSync(join(instance.base, 'out'));
    const run = await ctl(['build', '-q', '-o', `type=oci,dest=${dest}`, '-'], { input: 'FROM busybox\n' }).done;
    assert.equal(run.code, 0, run.stderr);
    assert.equal(received!.options!.output!.type, 'oci');
    assert.notEqual(daemonDest, dest);
    assert.equal(readFileSync(dest, 'utf8'), 'an oci archive');
    assert.equal(existsSync(daemonDest), false, 'the temporary file and its directory are gone');
    const toStdout = await ctl(['build', '--progress=plain', '-o', 'type=docker,dest=-', '-'], { input: 'FROM busybox\n' }).done;
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.equal(toStdout.stdout, 'an oci archive');
  });

  it('builder prune and du', async () => {
    const prune = await ctl(['builder', 'prune', '-f', '--filter', 'until=24h']).done;
    assert.equal(prune.code, 0, prune.stderr);
    assert.equal(prune.stdout, 'Deleted 3 build cache records\nTotal reclaimed space: 3.0 MiB\n');
    assert.equal((await ctl(['builder', 'prune', '-a']).done).code, 0);
    assert.deepEqual(pruned, [
      { all: false, keepDurationSeconds: 86400 },
      { all: true, keepDurationSeconds: 0 },
    ]);
    const du = await ctl(['builder', 'du']).done;
    assert.equal(du.code, 0, du.stderr);
    assert.match(
      du.stdout,
      /^ID\s+SIZE\s+LAST USED\s+DESCRIPTION\nabababababab\s+2\.0 KiB\s+2 minutes ago\s+\[2\/2\] RUN make\nTotal:\t2\.0 KiB\n$/,
    );
    const json = JSON.parse((await ctl(['builder', 'du', '--format', 'json']).done).stdout) as { ID: string; Size: number }[];
    assert.deepEqual(
      json.map((r) => [r.ID, r.Size]),
      [[`sha256:${'ab'.repeat(32)}`, 2048]],
    );
    const bad = await ctl(['builder', 'prune', '--filter', 'type=regular']).done;
    assert.equal(bad.code, 125);
    assert.equal(bad.stderr, 'ctl builder: invalid filter "type=regular": only until=DURATION is supported\nSee \'ctl builder --help\'.\n');
  });

  it('says so when the daemon has no builder', async () => {
    await serve(false);
    try {
      const run = await ctl(['build', '-q', '-'], { input: 'FROM busybox\n' }).done;
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^ctl build: the daemon does not build images \(no ctl\.build\.v1 Builder\)/);
    } finally {
      await serve(true);
    }
  });
});

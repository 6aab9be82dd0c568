import { strict as assert } from 'node:assert';
import { PlainProgress, QuietProgress, TtyProgress, progressMode } from './build-progress';

type BuildEvent = import('@ctl/containerd-lite/client').BuildEvent;

/** A stream that records what is written, and a clock the script moves. */
function harness(tty: { columns?: number; rows?: number } = {}) {
  let written = '';
  let clock = 1_000_000;
  const stream = { isTTY: true, columns: tty.columns ?? 60, rows: tty.rows ?? 40, write: (t: string) => (written += t) };
  return {
    stream,
    now: () => clock,
    tick: (ms: number) => void (clock += ms),
    take: (): string => {
      const out = written;
      written = '';
      return out;
    },
  };
}

const started = (id: string, name: string): BuildEvent => ({ event: 'started', started: { id, name, stage: '', line: 0 } });
const log = (id: string, text: string, stream = 1): BuildEvent => ({ event: 'log', log: { id, stream, data: Buffer.from(text) } });
const done = (id: string, ms: number, extra: { cached?: boolean; error?: string } = {}): BuildEvent => ({
  event: 'done',
  done: { id, cached: extra.cached ?? false, durationNs: ms * 1e6, error: extra.error ?? '' },
});

/** The text a terminal shows after the ANSI stream: cursor-up, erase-line and erase-below applied. */
function screen(output: string): string[] {
  const lines: string[] = [];
  let row = 0;
  const re = /\x1b\[(\d*)([AKJ])|\r|\n|[^\x1b\r\n]+/g; // eslint-disable-line no-control-regex
  for (let m = re.exec(output); m; m = re.exec(output)) {
    const [token, n, op] = m;
    if (op === 'A') row -= Number(n || 1);
    else if (op === 'K') lines[row] = '';
    else if (op === 'J') lines.length = row;
    else if (token === '\n') row++;
    else if (token !== '\r') lines[row] = (lines[row] ?? '') + token;
  }
  return lines.slice(0, row).map((l) => l.trimEnd());
}

describe('build progress', () => {
  it("plain: BuildKit's numbered lines, output with its time, DONE/CACHED, and the result", () => {
    const h = harness();
    const p = new PlainProgress(h.stream, { now: h.now });
    p.event(started('ctx', '[internal] load build context'));
    h.tick(20);
    p.event(done('ctx', 20));
    p.event(started('1/3', '[1/3] FROM docker.io/library/busybox:latest'));
    p.event(done('1/3', 0, { cached: true }));
    p.event(started('2/3', '[2/3] RUN echo hello && echo world'));
    h.tick(123);
    p.event(log('2/3', 'hel'));
    p.event(log('2/3', 'lo\nwor'));
    h.tick(100);
    p.event(log('2/3', 'ld\n'));
    p.event(done('2/3', 1234));
    p.finish({ imageId: 'sha256:abc', names: ['docker.io/library/app:latest'] });
    assert.equal(
      h.take(),
      [
        '',
        '#1 [internal] load build context',
        '#1 DONE 0.0s',
        '',
        '#2 [1/3] FROM docker.io/library/busybox:latest',
        '#2 CACHED',
        '',
        '#3 [2/3] RUN echo hello && echo world',
        '#3 0.123 hello',
        '#3 0.223 world',
        '#3 DONE 1.2s',
        '',
        '#4 exporting to image',
        '#4 writing image sha256:abc done',
        '#4 naming to docker.io/library/app:latest done',
        '#4 DONE 0.0s',
        '',
      ].join('\n'),
    );
  });

  it("plain: the daemon's export step carries the image's id and names, and its DONE comes last", () => {
    const h = harness();
    const p = new PlainProgress(h.stream, { now: h.now });
    p.event(started('1/1', '[1/1] FROM docker.io/library/busybox:latest'));
    p.event(done('1/1', 0));
    p.event(started('export', 'exporting to image'));
    p.event(done('export', 300));
    p.finish({ imageId: 'sha256:abc', names: ['docker.io/library/app:latest'] });
    assert.equal(
      h.take(),
      [
        '',
        '#1 [1/1] FROM docker.io/library/busybox:latest',
        '#1 DONE 0.0s',
        '',
        '#2 exporting to image',
        '#2 writing image sha256:abc done',
        '#2 naming to docker.io/library/app:latest done',
        '#2 DONE 0.3s',
        '',
      ].join('\n'),
    );
  });

  it('plain: a failing step shows ERROR, then its last lines framed as BuildKit does', () => {
    const h = harness();
    const p = new PlainProgress(h.stream, { now: h.now });
    p.event(started('2/2', '[2/2] RUN make'));
    h.tick(500);
    p.event(log('2/2', 'cc -o app app.c\n'));
    p.event(log('2/2', 'app.c:1: error: expected ;', 2));
    p.event({ event: 'warning', warning: { message: 'FROM without a tag', line: 1 } });
    p.event(done('2/2', 600, { error: 'process "/bin/sh -c make" did not complete successfully: exit code: 2' }));
    p.finish({ error: new Error('[2/2] RUN make: exit code 2') });
    assert.equal(
      h.take(),
      [
        '',
        '#1 [2/2] RUN make',
        '#1 0.500 cc -o app app.c',
        '#1 0.500 app.c:1: error: expected ;',
        '#1 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2',
        '------',
        ' > [2/2] RUN make:',
        '0.500 cc -o app app.c',
        '0.500 app.c:1: error: expected ;',
        '------',
        '',
        '1 warning found:',
        ' - FROM without a tag (line 1)',
        '',
      ].join('\n'),
    );
  });

  it('plain: a call that fails or is cancelled while steps run names them', () => {
    const h = harness();
    const p = new PlainProgress(h.stream, { now: h.now });
    p.event(started('1/2', '[1/2] RUN sleep 100'));
    p.finish({ error: new Error('build cancelled'), cancelled: true });
    assert.match(h.take(), /#1 CANCELED\n$/);
    const q = new PlainProgress(h.stream, { now: h.now });
    q.event(started('1/2', '[1/2] RUN boom'));
    q.event(log('1/2', 'last words'));
    q.finish({ error: new Error('the daemon went away') });
    assert.match(h.take(), /#1 ERROR: the daemon went away\n------\n > \[1\/2\] RUN boom:\n0\.000 last words\n------\n$/);
  });

  it('quiet: nothing while it runs, the failing step at the end', () => {
    const h = harness();
    const p = new QuietProgress(h.stream, { now: h.now });
    p.event(started('1/1', '[1/1] RUN false'));
    p.event(log('1/1', 'oops\n'));
    assert.equal(h.take(), '');
    p.event(done('1/1', 5, { error: 'exit code: 1' }));
    p.finish({ error: new Error('exit code: 1') });
    assert.equal(h.take(), '------\n > [1/1] RUN false:\n0.000 oops\n------\n');
    const ok = new QuietProgress(h.stream, { now: h.now });
    ok.event(started('1/1', '[1/1] RUN true'));
    ok.event(done('1/1', 5));
    ok.finish({ imageId: 'sha256:abc' });
    assert.equal(h.take(), '');
  });

  it('tty: redraws the view in place, with times, CACHED, and the last lines of running steps', () => {
    const h = harness({ columns: 60 });
    const p = new TtyProgress(h.stream, { now: h.now, intervalMs: 0 });
    p.event(started('1/3', '[1/3] FROM docker.io/library/busybox'));
    p.event(done('1/3', 0, { cached: true }));
    p.event(started('2/3', '[2/3] RUN for i in 1 2 3 4 5 6 7 8; do echo $i; done'));
    h.tick(1500);
    p.event(log('2/3', '1\n2\n3\n4\n5\n6\n7\n8\n'));
    p.render();
    const first = h.take();
    assert.equal(first.startsWith('\x1b['), false, 'the first frame moves nothing up');
    assert.deepEqual(screen(first), [
      '[+] Building 1.5s (1/2)',
      ' => CACHED [1/3] FROM docker.io/library/busybox        0.0s',
      ' => [2/3] RUN for i in 1 2 3 4 5 6 7 8; do echo $i; d… 1.5s',
      ' => => # 3',
      ' => => # 4',
      ' => => # 5',
      ' => => # 6',
      ' => => # 7',
      ' => => # 8',
    ]);
    h.tick(700);
    p.event(done('2/3', 2200));
    p.event(started('3/3', '[3/3] COPY . /app'));
    p.render();
    const second = h.take();
    assert.ok(second.startsWith('\x1b[9A'), 'the second frame goes back over the first');
    assert.deepEqual(screen(first + second), [
      '[+] Building 2.2s (2/3)',
      ' => CACHED [1/3] FROM docker.io/library/busybox        0.0s',
      ' => [2/3] RUN for i in 1 2 3 4 5 6 7 8; do echo $i; d… 2.2s',
      ' => [3/3] COPY . /app                                  0.0s',
    ]);
    h.tick(100);
    p.event(done('3/3', 100));
    p.finish({ imageId: 'sha256:0123', names: ['docker.io/library/app:latest'] });
    assert.deepEqual(screen(first + second + h.take()), [
      '[+] Building 2.3s (3/3) FINISHED',
      ' => CACHED [1/3] FROM docker.io/library/busybox        0.0s',
      ' => [2/3] RUN for i in 1 2 3 4 5 6 7 8; do echo $i; d… 2.2s',
      ' => [3/3] COPY . /app                                  0.1s',
      ' => => writing image sha256:0123',
      ' => => naming to docker.io/library/app:latest',
    ]);
  });

  it('tty: a failing build marks the step ERROR and prints its last lines below the view', () => {
    const h = harness({ columns: 60 });
    const p = new TtyProgress(h.stream, { now: h.now, intervalMs: 0 });
    p.event(started('1/1', '[1/1] RUN false'));
    p.event(log('1/1', 'about to fail\n'));
    p.render();
    h.tick(300);
    p.event(done('1/1', 300, { error: 'exit code: 1' }));
    p.finish({ error: new Error('exit code: 1') });
    assert.deepEqual(screen(h.take()), [
      '[+] Building 0.3s (1/1)',
      ' => ERROR [1/1] RUN false                              0.3s',
      '------',
      ' > [1/1] RUN false:',
      '0.000 about to fail',
      '------',
    ]);
  });

  it('tty: a view taller than the terminal shows its last lines while running', () => {
    const h = harness({ columns: 60, rows: 6 });
    const p = new TtyProgress(h.stream, { now: h.now, intervalMs: 0 });
    for (let i = 1; i <= 8; i++) {
      p.event(started(`${i}`, `[${i}/8] RUN step ${i}`));
      p.event(done(`${i}`, 10));
    }
    p.render();
    const frame = screen(h.take());
    assert.equal(frame.length, 5);
    assert.match(frame[0]!, /^\[\+\] Building/);
    assert.match(frame[4]!, /\[8\/8\] RUN step 8/);
  });

  it('picks tty on a terminal for auto, plain elsewhere, BUILDKIT_PROGRESS when set', () => {
    assert.equal(progressMode(undefined, { isTTY: true, write: () => 0 }, {}), 'tty');
    assert.equal(progressMode(undefined, { isTTY: false, write: () => 0 }, {}), 'plain');
    assert.equal(progressMode(undefined, { isTTY: true, write: () => 0 }, { BUILDKIT_PROGRESS: 'plain' }), 'plain');
    assert.equal(progressMode('tty', { isTTY: false, write: () => 0 }, { BUILDKIT_PROGRESS: 'plain' }), 'tty');
  });
});

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonFromAny, jsonToAny, metricFromWire, metricToWire, processFromWire, processToWire } from './convert';
import { followLog } from './logs';

const line = (time: string, log: string): string => `${JSON.stringify({ time, stream: 'stdout', log })}\n`;

describe('tasks: log reading', () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-tasklog-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads, filters by since, keeps the tail, skips torn lines', async () => {
    const f = path.join(dir, 'a.log');
    fs.writeFileSync(
      f,
      line('2026-01-01T00:00:00Z', 'a\n') + 'not json\n' + line('2026-01-02T00:00:00Z', 'b\n') + line('2026-01-03T00:00:00Z', 'c\n'),
    );
    const all = [];
    for await (const l of followLog(f, () => true)) all.push(l.log);
    assert.deepEqual(all, ['a\n', 'b\n', 'c\n']);
    const some = [];
    for await (const l of followLog(f, () => true, { since: new Date('2026-01-02T00:00:00Z'), tail: 1 })) some.push(l.log);
    assert.deepEqual(some, ['c\n']);
  });

  it('follows appended lines, half lines included once complete, until exited', async () => {
    const f = path.join(dir, 'b.log');
    fs.writeFileSync(f, line('2026-01-01T00:00:00Z', 'one\n'));
    let done = false;
    const got: string[] = [];
    const reading = (async () => {
      for await (const l of followLog(f, () => done, { follow: true })) got.push(l.log);
    })();
    const two = line('2026-01-01T00:00:01Z', 'two\n');
    fs.appendFileSync(f, two.slice(0, 10));
    await new Promise((r) => setTimeout(r, 150));
    fs.appendFileSync(f, two.slice(10));
    done = true;
    await reading;
    assert.deepEqual(got, ['one\n', 'two\n']);
  });
});

describe('tasks: wire conversion', () => {
  it('round-trips a process and a metric, and reads Any in either spelling', () => {
    const p = {
      containerId: 'c',
      id: '',
      pid: 7,
      status: 'STOPPED' as const,
      stdin: '',
      stdout: '',
      stderr: '',
      terminal: false,
      exitStatus: 3,
      exitedAt: new Date(1_700_000_000_123),
    };
    assert.deepEqual(processFromWire(processToWire(p)), p);
    const m = { id: 'c', timestamp: new Date(1_700_000_000_000), data: { memory: { usage: 1 } } };
    assert.deepEqual(metricFromWire(metricToWire(m)), m);
    const any = jsonToAny('t', { args: ['x'] });
    assert.deepEqual(jsonFromAny({ type_url: 't', value: any.value }, 'spec'), { args: ['x'] });
    assert.throws(() => jsonFromAny({ typeUrl: 't', value: Buffer.from('{') }, 'spec'), /spec: not JSON/);
  });
});

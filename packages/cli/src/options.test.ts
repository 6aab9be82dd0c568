import * as assert from 'node:assert/strict';
import { parseArgs } from 'node:util';
import { UsageError } from './args';
import { type OptionTable, parseOptions } from './options';

const TABLE = {
  detach: { type: 'boolean', short: 'd' },
  interactive: { type: 'boolean', short: 'i' },
  rm: { type: 'boolean' },
  name: { type: 'string' },
  env: { type: 'string', short: 'e', multiple: true },
  publish: { type: 'string', short: 'p', multiple: true },
  verbose: { type: 'boolean', short: 'v', multiple: true },
  network: { type: 'string' },
} satisfies OptionTable;

// Well-formed and malformed pieces alike: what the fast path takes must be exactly what parseArgs gives.
const PIECES = [
  '-d',
  '-i',
  '-di',
  '-id',
  '-e',
  '-eK=V',
  '-de',
  '-dv',
  '-v',
  '-x',
  '-',
  '--',
  '--rm',
  '--rm=1',
  '--rm=',
  '--name',
  '--name=',
  '--name=a',
  '--name=-a',
  '--env',
  '--env=A=1',
  '--publish=80',
  '--network',
  '--nope',
  '--nope=1',
  '--verbose',
  '--__proto__',
  '--constructor',
  '--toString',
  '-p',
  'image',
  'cmd',
  '-1',
  'A=2',
  '',
  ' ',
  '-ee',
];

/** A small seeded generator: the same argv lists at every run. */
function* argvs(count: number): Generator<string[]> {
  let seed = 20261207;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (let i = 0; i < count; i++) yield Array.from({ length: next(6) }, () => PIECES[next(PIECES.length)]!);
}

function reference(argv: string[], allowPositionals: boolean): unknown {
  try {
    return parseArgs({ args: argv, options: TABLE, allowPositionals, strict: true });
  } catch {
    return 'error';
  }
}

function ours(argv: string[], positionals: boolean): unknown {
  try {
    return parseOptions(argv, TABLE, { positionals });
  } catch (err) {
    assert.ok(err instanceof UsageError, `${JSON.stringify(argv)}: ${String(err)}`);
    return 'error';
  }
}

describe('parseOptions', () => {
  it("gives what node:util's parseArgs gives, values and errors, for 20,000 command lines", () => {
    let parsed = 0;
    for (const argv of argvs(20_000))
      for (const positionals of [true, false]) {
        const expected = reference(argv, positionals);
        assert.deepEqual(ours(argv, positionals), expected, JSON.stringify({ argv, positionals }));
        if (expected !== 'error') parsed++;
      }
    // the generator reaches both outcomes often
    assert.ok(parsed > 2_000, `only ${parsed} accepted`);
  });

  it('takes values, repeats and operands as parseArgs does', () => {
    const { values, positionals } = parseOptions(['-d', '--name', 'web', '-e', 'A=1', '--env=B=2', '--', '-x'], TABLE);
    assert.deepEqual({ ...values }, { detach: true, name: 'web', env: ['A=1', 'B=2'] });
    assert.deepEqual(positionals, ['-x']);
  });

  it('reports a value that looks like a flag in docker words', () => {
    assert.throws(() => parseOptions(['--name', '-x'], TABLE), /flag needs an argument: --name/);
    assert.throws(() => parseOptions(['--rm=1'], TABLE), /flag --rm takes no value/);
    assert.throws(() => parseOptions(['--nope'], TABLE), /unknown flag: --nope/);
  });
});

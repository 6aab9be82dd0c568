import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Each case runs a fresh Node process with the cache installed over a temp "workspace" whose
 * module prints what it is; the parent looks at the output and the cache files.
 */
describe('code cache', function () {
  this.timeout(30_000);
  let root: string;
  const cacheDir = (): string => join(root, 'cache');
  const moduleFile = (): string => join(root, 'pkg', 'mod.js');
  const script = (command: string, exitCode: number): string =>
    `require(${JSON.stringify(join(__dirname, 'code-cache.js'))}).installCodeCache(${JSON.stringify(root)}, ${JSON.stringify(cacheDir())}, [${JSON.stringify(command)}]);
      process.stdout.write(require(${JSON.stringify(moduleFile())}).hello()); process.exitCode = ${exitCode};`;
  const run = (command: string): string =>
    execFileSync(process.execPath, ['-e', script(command, 0)], { encoding: 'utf8', env: { ...process.env, CTL_CODE_CACHE: '1' } });
  const runFailing = (command: string): number =>
    spawnSync(process.execPath, ['-e', script(command, 1)], { env: { ...process.env, CTL_CODE_CACHE: '1' } }).status ?? -1;
  const header = (): { size: number; commands: string[] } => {
    const [file] = readdirSync(cacheDir());
    const raw = readFileSync(join(cacheDir(), file!));
    return JSON.parse(raw.toString('utf8', 0, raw.indexOf(10))) as { size: number; commands: string[] };
  };

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'ctl-code-cache-'));
    mkdirSync(join(root, 'pkg'));
    writeFileSync(moduleFile(), 'exports.hello = () => "one";\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('writes the compiled code at exit and records the commands that warmed it', () => {
    assert.equal(run('run'), 'one');
    assert.deepEqual(readdirSync(cacheDir()), ['pkg%mod.js']);
    assert.deepEqual(header().commands, ['run']);
    assert.equal(run('run'), 'one');
    assert.deepEqual(header().commands, ['run']);
    assert.equal(run('ps'), 'one');
    assert.deepEqual(header().commands.sort(), ['ps', 'run']);
  });

  it('counts a command as warmed only after a run of it that exited 0', () => {
    assert.equal(runFailing('version'), 1);
    assert.deepEqual(readdirSync(cacheDir()), ['pkg%mod.js'], 'a failed run still leaves what it compiled');
    assert.deepEqual(header().commands, []);
    assert.equal(run('version'), 'one');
    assert.deepEqual(header().commands, ['version']);
    const { mtimeMs } = statSync(join(cacheDir(), 'pkg%mod.js'));
    assert.equal(runFailing('version'), 1);
    assert.equal(statSync(join(cacheDir(), 'pkg%mod.js')).mtimeMs, mtimeMs, 'a warmed command is not written again');
  });

  it('stays out of the way of a start without a command (--version, --help)', () => {
    assert.equal(run('--version'), 'one');
    assert.equal(readdirSync(root).includes('cache'), false);
  });

  it('never runs old code for a changed module, even of the same size and mtime second', () => {
    assert.equal(run('run'), 'one');
    const before = header();
    writeFileSync(moduleFile(), 'exports.hello = () => "three";\n');
    assert.equal(run('run'), 'three');
    assert.notEqual(header().size, before.size);
    // Same length as before and mtime set back to the cached one: V8 itself checks only the
    // length; the cache's key has the ctime, which a write (or utimes) always moves.
    const { mtime } = statSync(moduleFile());
    writeFileSync(moduleFile(), 'exports.hello = () => "seven";\n');
    utimesSync(moduleFile(), mtime, mtime);
    assert.equal(run('run'), 'seven');
  });

  it('runs the module from source when the cache file is corrupt', () => {
    assert.equal(run('run'), 'one');
    const [file] = readdirSync(cacheDir());
    writeFileSync(join(cacheDir(), file!), '{"size":29,"ctimeMs":0,"commands":["run"]}\ngarbage');
    assert.equal(run('run'), 'one');
    writeFileSync(join(cacheDir(), file!), 'not even a header');
    assert.equal(run('run'), 'one');
  });
});

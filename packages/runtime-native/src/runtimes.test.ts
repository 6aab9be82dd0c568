/** runtimeChoice: which binary and command line a runtime name stands for (no root needed). */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CRUN_WRAPPER, RUNTIME_BINARY, inPath, runtimeChoice } from './native';

describe('runtimeChoice', () => {
  let dir: string;
  let savedPath: string | undefined;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctl-runtimes-'));
    savedPath = process.env.PATH;
  });
  afterEach(() => {
    process.env.PATH = savedPath;
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('maps "" and runtime-native to ctl-runtime, runc to PATH\'s runc, crun to the ctl-crun wrapper', function () {
    if (!fs.existsSync(RUNTIME_BINARY) || !fs.existsSync(CRUN_WRAPPER)) this.skip();
    for (const name of ['', 'runtime-native', 'ctl-runtime'])
      assert.deepEqual(runtimeChoice(name), { name: 'runtime-native', flavor: 'native', binary: RUNTIME_BINARY });
    for (const name of ['runc', 'crun']) {
      const fake = path.join(dir, name);
      fs.writeFileSync(fake, '#!/bin/sh\n', { mode: 0o755 });
    }
    process.env.PATH = `/nonexistent:${dir}`;
    assert.equal(inPath('runc'), path.join(dir, 'runc'));
    assert.deepEqual(runtimeChoice('runc'), { name: 'runc', flavor: 'runc', binary: path.join(dir, 'runc') });
    assert.deepEqual(runtimeChoice('crun'), { name: 'crun', flavor: 'crun', binary: CRUN_WRAPPER });
  });

  it('refuses an unknown name (InvalidArgument) and a runtime that is not installed (FailedPrecondition)', () => {
    assert.throws(() => runtimeChoice('youki'), {
      kind: 'InvalidArgument',
      message: /unknown runtime "youki": supported: runtime-native, runc, crun/,
    });
    assert.throws(() => runtimeChoice('/usr/bin/runc'), { kind: 'InvalidArgument' });
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    process.env.PATH = empty;
    for (const name of ['runc', 'crun'])
      assert.throws(() => runtimeChoice(name), {
        kind: 'FailedPrecondition',
        message: new RegExp(`runtime ${name} is not installed on this host \\(no ${name} executable in PATH\\)`),
      });
  });
});

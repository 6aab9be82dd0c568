import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { applyChanges, containerConfig } from './commit';

describe('commit config', () => {
  it("takes the container's command after the image's entrypoint, its env less HOME/TERM, its workdir", () => {
    const image = { Entrypoint: ['/entry'], Cmd: ['a'], Env: ['PATH=/bin'], User: 'app' };
    const c = containerConfig(image, { args: ['/entry', 'b', 'c'], env: ['PATH=/bin', 'X=1', 'HOME=/root', 'TERM=xterm'], cwd: '/work' });
    assert.deepEqual(c, { Entrypoint: ['/entry'], Cmd: ['b', 'c'], Env: ['PATH=/bin', 'X=1'], User: 'app', WorkingDir: '/work' });
    // --entrypoint replaced the image's: the whole command becomes Cmd, with no entrypoint.
    const replaced = containerConfig(image, { args: ['sh', '-c', 'x'], cwd: '/' });
    assert.deepEqual([replaced.Entrypoint, replaced.Cmd, replaced.WorkingDir], [null, ['sh', '-c', 'x'], undefined]);
    assert.equal(image.Cmd[0], 'a', 'the image config is left as it was');
  });

  it('applies docker commit --change instructions', () => {
    const c = applyChanges({ Env: ['A=1', 'B=2'] }, [
      'CMD ["cat", "/file"]',
      'ENTRYPOINT echo hi',
      'ENV A=3 C="x y"',
      'ENV D 4',
      'WORKDIR /w',
      'USER 1000',
      'LABEL k=v "q"="w"',
      'EXPOSE 80 53/udp',
      'STOPSIGNAL SIGINT',
      'VOLUME ["/data"]',
    ]);
    assert.deepEqual(c, {
      Cmd: ['cat', '/file'],
      Entrypoint: ['/bin/sh', '-c', 'echo hi'],
      Env: ['B=2', 'A=3', 'C=x y', 'D=4'],
      WorkingDir: '/w',
      User: '1000',
      Labels: { k: 'v', q: 'w' },
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      StopSignal: 'SIGINT',
      Volumes: { '/data': {} },
    });
    for (const bad of ['RUN true', 'CMD ["x", 1]', 'CMD', 'ENV'])
      assert.throws(
        () => applyChanges({}, [bad]),
        (err: unknown) => isKind(err, ErrorKind.InvalidArgument),
        bad,
      );
  });
});

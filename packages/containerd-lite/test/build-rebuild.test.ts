/**
 * Rebuilds of a context the client names (ctl.build.v1 context_key) against a real
 * containerd-lite: the context is extracted over the directory of the last build, and what the
 * build sees must be the new tar only; cache keys must be those of a fresh extraction; prune
 * removes the directories kept.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorKind, isKind } from '@ctl/proto/errors';
import { ImageReads } from '../src/build/image-reads';
import { type ContextFile, steps, useBuildEngine } from './build-engine';

describe('ctl build: rebuilds of a named context (root, real kernel)', function () {
  this.timeout(120_000);
  const engine = useBuildEngine('rebuild');

  const kept = (): string[] => {
    const tmp = join(engine.inst.tmp.root, 'containerd-lite', 'tmp');
    return existsSync(tmp) ? readdirSync(tmp).filter((n) => n.startsWith('build-context-')) : [];
  };

  it('sees only the new tar in the directory of the last one, with the keys a fresh directory gives', async () => {
    const dockerfile = 'FROM busybox\nCOPY src/ /src/\n';
    const copy = (b: Parameters<typeof steps>[0]) => steps(b).find((s) => s.name.includes('COPY'))!;
    const build = (files: Record<string, ContextFile>, tag: string, contextKey = 'client-dir') =>
      engine.build(dockerfile, files, { tags: [tag], contextKey });
    const v1 = { 'src/a': 'one', 'src/b': 'two', 'src/sub/c': 'three', 'src/link': 'x' };
    const v2 = { 'src/a': 'one, changed', 'src/c': { data: 'new', mode: 0o600 }, 'src/link': 'x' };

    const first = await build(v1, 'example.com/rebuild:1');
    assert.equal(copy(first).cached, false);
    assert.equal(kept().length, 1, 'the context is kept for the next build');

    const second = await build(v2, 'example.com/rebuild:2');
    assert.equal(copy(second).cached, false);
    const listing = 'cd /src && test "$(find . | sort | tr "\\n" " ")" = ". ./a ./c ./link " && test "$(cat a)" = "one, changed"';
    assert.equal(await engine.runIn('example.com/rebuild:2', ['sh', '-c', `${listing} && test "$(stat -c %a c)" = 600`]), 0);

    // Unchanged: all from the cache; and the first context again hits the first build's records.
    const again = await build(v2, 'example.com/rebuild:2');
    assert.equal(copy(again).cached, true);
    assert.equal(again.result?.manifestDigest, second.result?.manifestDigest);
    const back = await build(v1, 'example.com/rebuild:1');
    assert.equal(copy(back).cached, true);
    assert.equal(back.result?.manifestDigest, first.result?.manifestDigest);
    // The same tar without a key (a new directory) has the same keys.
    const unnamed = await build(v2, 'example.com/rebuild:3', '');
    assert.equal(copy(unnamed).cached, true);
    assert.equal(unnamed.result?.manifestDigest, second.result?.manifestDigest);

    assert.equal(kept().length, 1);
    await engine.prune(true);
    assert.deepEqual(kept(), [], 'prune removes the kept contexts');
  });

  it('gives a context that is being extracted to no other build, and drops one that failed', async () => {
    const dockerfile = 'FROM busybox\nCOPY f /f\n';
    const [a, b] = await Promise.all([
      engine.build(dockerfile, { f: 'a' }, { tags: ['example.com/rebuild:a'], contextKey: 'same' }),
      engine.build(dockerfile, { f: 'b' }, { tags: ['example.com/rebuild:b'], contextKey: 'same' }),
    ]);
    assert.ok(a.result && b.result);
    assert.equal(await engine.runIn('example.com/rebuild:a', ['sh', '-c', 'test "$(cat /f)" = a']), 0);
    assert.equal(await engine.runIn('example.com/rebuild:b', ['sh', '-c', 'test "$(cat /f)" = b']), 0);
    assert.equal(kept().length, 1, 'the later of the two is kept');
    // A tar that is refused leaves no directory behind, and the next build starts afresh.
    await assert.rejects(engine.build(dockerfile, { '../f': 'x' }, { contextKey: 'same' }), /climbs out/);
    assert.deepEqual(kept(), []);
    const fresh = await engine.build(dockerfile, { f: 'a' }, { tags: ['example.com/rebuild:a'], contextKey: 'same' });
    assert.equal(fresh.result?.manifestDigest, a.result?.manifestDigest);
    await engine.prune(true);
  });

  it('remembers image reads by digest, each caller its own copy, only for a namespace that has the blob', async () => {
    const built = await engine.build('FROM busybox\nENV A=b\n', {}, { tags: ['example.com/rebuild:reads'] });
    const image = await engine.inst.images(engine.ns).get('example.com/rebuild:reads');
    assert.equal(image.target.digest, built.result?.manifestDigest);
    const reads = new ImageReads();
    const content = engine.inst.content(engine.ns);
    const first = await reads.get(content, image.target);
    first.config.config!.Env = ['changed=by the caller'];
    first.manifest.layers.pop();
    const second = await reads.get(content, image.target);
    assert.ok(second.config.config?.Env?.includes('A=b'));
    assert.equal(second.manifest.layers.length, first.manifest.layers.length + 1);
    await assert.rejects(reads.get(engine.inst.content('elsewhere'), image.target), (err) => isKind(err, ErrorKind.NotFound));
  });
});

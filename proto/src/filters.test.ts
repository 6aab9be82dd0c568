import { strict as assert } from 'node:assert';
import { ErrorKind, isKind } from './errors';
import { type Adaptor, parseFilters } from './filters';

const info =
  (name: string, kind: string, labels: Record<string, string>): Adaptor =>
  (path) => {
    if (path[0] === 'labels') return labels[path.slice(1).join('.')];
    return ({ name, kind, parent: '' } as Record<string, string>)[path[0]!];
  };

describe('filters', () => {
  const a = info('a', 'committed', { 'containerd.io/snapshot.ref': 'sha256:1', team: 'x' });
  const b = info('b', 'active', {});

  it('matches equality, inequality, presence and regexps', () => {
    assert.equal(parseFilters(['name==a']).match(a), true);
    assert.equal(parseFilters(['name==a']).match(b), false);
    assert.equal(parseFilters(['kind!=active']).match(b), false);
    assert.equal(parseFilters(['labels.team']).match(a), true);
    assert.equal(parseFilters(['labels.team']).match(b), false);
    assert.equal(parseFilters(['name~=^[ab]$']).match(b), true);
  });

  it('ANDs selectors within a filter and ORs filters', () => {
    assert.equal(parseFilters(['name==a,kind==active']).match(a), false);
    assert.equal(parseFilters(['name==a,kind==active', 'kind==committed']).match(a), true);
    assert.equal(parseFilters([]).match(b), true);
  });

  it('reads quoted label keys with dots, as containerd sends them', () => {
    const f = parseFilters(['labels."containerd.io/snapshot.ref"==sha256:1,parent==""']);
    assert.equal(f.match(a), true);
    assert.equal(parseFilters(['labels."containerd.io/snapshot.ref"=="sha256:2"']).match(a), false);
  });

  it('rejects malformed filters as InvalidArgument', () => {
    for (const bad of ['name==a,', 'labels."open', 'name~=(', '==x']) {
      assert.throws(
        () => parseFilters([bad]),
        (e: unknown) => isKind(e, ErrorKind.InvalidArgument),
        bad,
      );
    }
  });
});

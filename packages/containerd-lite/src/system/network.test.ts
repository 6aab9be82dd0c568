import { strict as assert } from 'node:assert';
import { findNetworkProblems } from './network';

describe('system check: networking', () => {
  const container = (id: string, networks: number, running: boolean, netnsLive: boolean) => ({
    namespace: 'ns',
    id,
    networks,
    running,
    netnsLive,
  });

  it('reports netns files and endpoints of no container, and running containers that lost their netns or an endpoint', () => {
    const problems = findNetworkProblems({
      netnsFiles: [
        { namespace: 'ns', id: 'ok', path: '/s/netns/ns/ok' },
        { namespace: 'ns', id: 'gone', path: '/s/netns/ns/gone' },
        { namespace: 'ns', id: 'plain', path: '/s/netns/ns/plain' },
      ],
      containers: [
        container('ok', 1, true, true),
        container('stopped', 1, false, false),
        container('plain', 0, true, false),
        container('lost', 1, true, false),
        container('short', 2, true, true),
      ],
      endpoints: [
        { namespace: 'ns', containerId: 'ok', network: 'bridge' },
        { namespace: 'ns', containerId: 'short', network: 'bridge' },
        { namespace: 'ns', containerId: 'nobody', network: 'front' },
      ],
    });
    assert.deepEqual(
      problems.map((p) => [p.kind, p.subject]),
      [
        ['netns', '/s/netns/ns/gone'],
        ['netns', '/s/netns/ns/plain'],
        ['endpoint', 'nobody'],
        ['netns', 'lost'],
        ['endpoint', 'short'],
      ],
    );
  });

  it('says when netd did not answer instead of judging endpoints, unless nothing needs netd', () => {
    const down = { netdError: 'netd did not answer', netdUnavailable: true };
    const problems = findNetworkProblems({ netnsFiles: [], containers: [container('a', 1, true, true)], ...down });
    assert.deepEqual(
      problems.map((p) => p.kind),
      ['netd'],
    );
    assert.deepEqual(findNetworkProblems({ netnsFiles: [], containers: [container('b', 0, true, false)], ...down }), []);
  });
});

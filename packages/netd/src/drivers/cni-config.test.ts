import { strict as assert } from 'node:assert';
import { ipamSubnets, parseConfList, pluginStdin } from './cni-config';
import { endpointFromResult } from './cni-result';

describe('cni conflists and results', () => {
  it('takes a legacy single-plugin conf as a list of one', () => {
    const list = parseConfList('{"cniVersion":"0.4.0","name":"old","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.8.0/24"}}');
    assert.deepEqual(list, {
      cniVersion: '0.4.0',
      name: 'old',
      disableCheck: false,
      plugins: [{ type: 'bridge', ipam: { type: 'host-local', subnet: '10.9.8.0/24' } }],
    });
    assert.deepEqual(ipamSubnets(list), { ipv4: { subnet: '10.9.8.0/24', gateway: '10.9.8.1', ipRange: '' } });
  });

  it("gives each plugin the list's version and name, and only the runtime values of the capabilities it declares", () => {
    const list = parseConfList(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'net',
        plugins: [
          { type: 'bridge', name: 'ignored', cniVersion: '0.3.0', custom: { kept: 1 } },
          { type: 'portmap', capabilities: { portMappings: true, bandwidth: false } },
        ],
      }),
    );
    const values = { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }], bandwidth: { ingressRate: 1 } };
    assert.deepEqual(JSON.parse(pluginStdin(list, list.plugins[0], values)), {
      type: 'bridge',
      name: 'net',
      cniVersion: '1.0.0',
      custom: { kept: 1 },
    });
    assert.deepEqual(JSON.parse(pluginStdin(list, list.plugins[1], values, { cniVersion: '1.0.0' })), {
      type: 'portmap',
      name: 'net',
      cniVersion: '1.0.0',
      runtimeConfig: { portMappings: values.portMappings },
      prevResult: { cniVersion: '1.0.0' },
    });
  });

  it('reads the container interface, its host veth, addresses, routes and DNS from a result', () => {
    const result = {
      cniVersion: '0.4.0',
      interfaces: [
        { name: 'br0', mac: '00:00:00:00:00:01' },
        { name: 'veth1', mac: '00:00:00:00:00:02' },
        { name: 'eth0', mac: '00:00:00:00:00:03', sandbox: '/run/netns/c' },
        { name: 'bwp1', mac: '00:00:00:00:00:04' },
      ],
      ips: [
        { version: '4', interface: 2, address: '10.1.0.2/24', gateway: '10.1.0.1' },
        { version: '4', interface: 0, address: '10.1.0.1/24' },
      ],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.2.0.0/16', gw: '10.1.0.254' }],
      dns: { nameservers: ['10.1.0.1'], domain: 'example', search: ['corp'] },
    };
    assert.deepEqual(endpointFromResult(result, 'eth0'), {
      interface: { name: 'eth0', macAddress: '00:00:00:00:00:03', hostName: 'veth1' },
      ips: [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }],
      routes: [
        { destination: '0.0.0.0/0', gateway: '10.1.0.1' },
        { destination: '10.2.0.0/16', gateway: '10.1.0.254' },
      ],
      dns: { nameservers: ['10.1.0.1'], search: ['example', 'corp'], options: [] },
    });
  });
});

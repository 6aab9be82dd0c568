import { strict as assert } from 'node:assert';
import { UsageError } from '../args';
import { eventFilters, eventRow } from './events';

describe('events', () => {
  it("maps docker's event filters to containerd's: one key's values OR-ed, keys AND-ed, in this namespace", () => {
    assert.deepEqual(eventFilters('ns', []), ['namespace=="ns"']);
    assert.deepEqual(eventFilters('ns', ['type=container', 'type=task', 'event=die']), [
      'namespace=="ns",topic~="^/containers/",topic~="/exit$"',
      'namespace=="ns",topic~="^/tasks/",topic~="/exit$"',
    ]);
    assert.deepEqual(eventFilters('ns', ['container=c1']), ['namespace=="ns",event.container_id=="c1"', 'namespace=="ns",event.id=="c1"']);
    for (const bad of ['type=volume', 'colour=red', 'novalue']) assert.throws(() => eventFilters('ns', [bad]), UsageError, bad);
  });

  it("names an event under docker's fields for --format: Type and Action from the topic, the container's ID", () => {
    const row = eventRow(new Date(0), '/tasks/exit', 'ns', { containerId: 'web', exitStatus: 3 });
    assert.deepEqual(row, {
      Time: '1970-01-01T00:00:00.000Z',
      Type: 'task',
      Action: 'exit',
      ID: 'web',
      Topic: '/tasks/exit',
      Namespace: 'ns',
      Event: { containerId: 'web', exitStatus: 3 },
    });
    assert.equal(
      eventRow(new Date(0), '/images/create', 'ns', { name: 'docker.io/library/busybox:latest' }).ID,
      'docker.io/library/busybox:latest',
    );
  });
});

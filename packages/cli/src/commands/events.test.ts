import { strict as assert } from 'node:assert';
import { UsageError } from '../args';
import { eventFilters } from './events';

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
});

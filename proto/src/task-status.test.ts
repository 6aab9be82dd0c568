import { strict as assert } from 'node:assert';
import { TASK_STATUSES, type TaskStatus, type TaskVerb, allows, hasExited, isActive, statusOfRuntime } from './task-status';

/** The table read back by status (the module holds it by verb): a change to it has to change this too. */
const EXPECTED: Record<TaskStatus, TaskVerb[]> = {
  UNKNOWN: ['delete'],
  CREATED: ['start', 'kill', 'exec', 'delete', 'update'],
  RUNNING: ['kill', 'pause', 'exec', 'update'],
  STOPPED: ['delete'],
  PAUSED: ['kill', 'resume', 'update'],
  PAUSING: ['kill', 'resume', 'update'],
};
const VERBS: TaskVerb[] = ['start', 'kill', 'pause', 'resume', 'exec', 'delete', 'update'];

describe('task status table', () => {
  it("lists containerd's statuses in the wire enum's order", () => {
    assert.deepEqual(TASK_STATUSES, ['UNKNOWN', 'CREATED', 'RUNNING', 'STOPPED', 'PAUSED', 'PAUSING']);
  });

  it('allows in each status exactly its verbs', () => {
    for (const status of TASK_STATUSES) {
      assert.deepEqual(
        VERBS.filter((v) => allows(status, v)),
        EXPECTED[status],
        status,
      );
    }
  });

  it('an active task is one that must be killed before delete; a stopped one may be deleted and not killed', () => {
    assert.deepEqual(TASK_STATUSES.filter(isActive), ['RUNNING', 'PAUSED', 'PAUSING']);
    for (const s of TASK_STATUSES) {
      if (isActive(s)) assert.ok(!allows(s, 'delete') && allows(s, 'kill'), s);
    }
    assert.deepEqual(TASK_STATUSES.filter(hasExited), ['STOPPED']);
    assert.ok(allows('STOPPED', 'delete') && !allows('STOPPED', 'kill'));
  });

  it("maps the OCI runtime's statuses; stopped and unknown ones are for the shim's exit record to tell", () => {
    assert.equal(statusOfRuntime('creating'), 'CREATED');
    assert.equal(statusOfRuntime('created'), 'CREATED');
    assert.equal(statusOfRuntime('running'), 'RUNNING');
    assert.equal(statusOfRuntime('paused'), 'PAUSED');
    assert.equal(statusOfRuntime('stopped'), undefined);
    assert.equal(statusOfRuntime(''), undefined);
  });
});

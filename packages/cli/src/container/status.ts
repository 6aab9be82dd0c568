/** Task states the container commands test, in one place. */

/** A task with processes: running, or paused (or on its way there). */
export const RUNNING = new Set(['RUNNING', 'PAUSED', 'PAUSING']);

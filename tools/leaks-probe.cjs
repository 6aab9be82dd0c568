'use strict';
// Preloaded into the daemon by tools/leaks.mjs (node --expose-gc -r). On SIGUSR2 it runs a full
// garbage collection and writes what the heap holds afterwards to LEAKS_PROBE_OUT, so the leak
// check can tell memory the daemon still references (heap used after GC) from memory V8 or malloc
// keep for later (RSS). When LEAKS_PROBE_SNAPSHOT names a file that exists, its content is a path
// to write a heap snapshot to (for diffing in Chrome's DevTools).
const { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const v8 = require('node:v8');

const out = process.env.LEAKS_PROBE_OUT;
const snapshotRequest = process.env.LEAKS_PROBE_SNAPSHOT;
if (out && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    // A second pass collects what the first one's weak callbacks and finalizers released.
    globalThis.gc();
    globalThis.gc();
    if (snapshotRequest && existsSync(snapshotRequest)) {
      const path = readFileSync(snapshotRequest, 'utf8').trim();
      unlinkSync(snapshotRequest);
      v8.writeHeapSnapshot(path);
    }
    const mem = process.memoryUsage();
    const status = readFileSync('/proc/self/status', 'utf8');
    const kib = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    const stats = {
      rss: mem.rss,
      rssAnon: kib('RssAnon') * 1024,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
      spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }])),
    };
    writeFileSync(`${out}.tmp`, JSON.stringify(stats));
    renameSync(`${out}.tmp`, out);
  });
}

'use strict';
// Preloaded into the daemon by tools/leaks.mjs and tools/bench/daemon-rss.mjs (node --expose-gc
// -r). On SIGUSR2 it runs a full garbage collection and writes what the heap holds afterwards to
// LEAKS_PROBE_OUT, so the leak check can tell memory the daemon still references (heap used after
// GC) from memory V8 or malloc keep for later (RSS). `live` in the answer is the same taken before
// that collection: what the heap holds between runs, garbage included. While the file
// `${LEAKS_PROBE_OUT}.no-gc` exists the probe does not collect (a forced full GC shrinks the old
// generation and leaves RSS lower than the daemon's own course would). When LEAKS_PROBE_SNAPSHOT
// names a file that exists, its content is a path to write a heap snapshot to (for diffing in
// Chrome's DevTools, or by constructor with tools/heap-diff.mjs).
const { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const v8 = require('node:v8');

const out = process.env.LEAKS_PROBE_OUT;
const snapshotRequest = process.env.LEAKS_PROBE_SNAPSHOT;

function stats() {
  const mem = process.memoryUsage();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kib = (name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return {
    rss: mem.rss,
    rssAnon: kib('RssAnon') * 1024,
    rssFile: kib('RssFile') * 1024,
    heapUsed: mem.heapUsed,
    heapTotal: mem.heapTotal,
    // every V8 space's resident pages plus what V8 itself took from malloc
    v8Physical: v8.getHeapStatistics().total_physical_size,
    v8Malloced: v8.getHeapStatistics().malloced_memory,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    spaces: Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { size: s.space_size, used: s.space_used_size }])),
  };
}

if (out && typeof globalThis.gc === 'function') {
  process.on('SIGUSR2', () => {
    const live = stats();
    const collect = !existsSync(`${out}.no-gc`);
    if (collect) {
      // A second pass collects what the first one's weak callbacks and finalizers released.
      globalThis.gc();
      globalThis.gc();
    }
    if (snapshotRequest && existsSync(snapshotRequest)) {
      const path = readFileSync(snapshotRequest, 'utf8').trim();
      unlinkSync(snapshotRequest);
      v8.writeHeapSnapshot(path);
    }
    writeFileSync(`${out}.tmp`, JSON.stringify({ ...(collect ? stats() : live), collected: collect, live }));
    renameSync(`${out}.tmp`, `${out}`);
  });
}

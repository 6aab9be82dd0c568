#!/usr/bin/env node
'use strict';
// With CTL_TRACE the CLI records its start-up spans too (@ctl/proto/trace); this is where its own code begins.
const loadStart = process.env.CTL_TRACE ? performance.now() : 0;
const { join } = require('node:path');
// Compiled code of the CLI's own modules, kept between runs (dist/src/code-cache.js says why).
try {
  require('../dist/src/code-cache.js').installCodeCache(
    join(__dirname, '..', '..', '..'),
    join(__dirname, '..', 'dist', '.code-cache'),
    process.argv.slice(2),
  );
} catch {
  // no cache: a plain start
}
// The bundled build starts faster; the plain one is there for development and tests.
let cli;
try {
  cli = require('../dist/src/main.bundle.js');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('main.bundle.js')) throw err;
  cli = require('../dist/src/main.js');
}
cli.runCli(loadStart);

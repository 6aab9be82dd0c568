#!/usr/bin/env node
'use strict';
// The bundled build starts faster; the plain one is there for development and tests.
let cli;
try {
  cli = require('../dist/src/main.bundle.js');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('main.bundle.js')) throw err;
  cli = require('../dist/src/main.js');
}
cli.runCli();

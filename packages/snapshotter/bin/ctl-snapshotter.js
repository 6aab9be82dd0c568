#!/usr/bin/env node
'use strict';
// The bundled build starts faster (scripts/bundle.mjs says why); the plain one is there for
// development and tests.
try {
  require('../dist/src/main.bundle.js');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('main.bundle.js')) throw err;
  require('../dist/src/main.js');
}

#!/usr/bin/env node
'use strict';
// The bundled build starts faster (scripts/bundle.mjs says why); the plain one is there for
// development and tests.
try {
  require('../dist/src/main.bundle.js');
} catch (err) {
  // Only the bundle's own absence: a module it cannot find names it in its require stack.
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).split('\n')[0].includes('main.bundle.js')) throw err;
  require('../dist/src/main.js');
}

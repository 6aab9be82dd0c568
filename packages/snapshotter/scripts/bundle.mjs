// Bundles ctl-snapshotter (dist/src/main.js) into dist/src/main.bundle.js, which bin/ takes when
// it is there: resolving and loading the ~170 modules of the plain build (grpc-js alone is 65)
// is a fifth of a start's CPU, and containerd's snapshotter suite starts a ctl-snapshotter for
// each of its cases (tools/bench/snapshotter.mjs measures a start). Every module of ours is
// inside, so each exists once (an EngineError is the same class everywhere). Left outside:
//  - @ctl/proto/static/*: the per-.proto codecs, required by name as they are needed;
//  - level, classic-level: a native addon that finds its binary from its package's directory;
//  - winston, @grpc/proto-loader: loaded only when needed (a log record the level lets through,
//    loadContracts), so the bundle does not carry them.
// Each module keeps its own __dirname, as a path from the bundle's: runtime-native finds its
// helpers (ctl-launch) beside its files (packages stay side by side, both in the workspace and
// under node_modules, so the relative path holds).
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(pkg, 'dist', 'src');
const outfile = join(src, 'main.bundle.js');

const ownDirname = {
  name: 'own-dirname',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      const contents = await readFile(args.path, 'utf8');
      if (!/\b__dirname\b/.test(contents)) return undefined;
      const rel = relative(dirname(outfile), dirname(args.path));
      return {
        contents: contents.replace(/\b__dirname\b/g, `require("node:path").join(__dirname, ${JSON.stringify(rel)})`),
        loader: 'js',
      };
    });
  },
};

await build({
  entryPoints: [join(src, 'main.js')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['@ctl/proto/static/*', 'level', 'classic-level', 'winston', '@grpc/proto-loader'],
  plugins: [ownDirname],
  logLevel: 'warning',
  // codecs.ts requires the per-.proto codecs by a computed name, on purpose.
  logOverride: { 'unsupported-require-call': 'silent' },
});

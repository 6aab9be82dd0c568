// Bundles the CLI's start-up path (entry, commands, light clients, protobuf runtime) into one
// file, because resolving and loading dozens of small modules costs more than Node's own start
// (tools/bench/cli-startup.mjs measures it). Left outside: the daemon command (it loads the
// services and grpc-js, and runs long enough not to care) and the per-.proto codecs, which
// load one by one as commands need them. The bundle sits beside the plain build in dist/src so
// that relative requires resolve the same from both.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const result = await build({
  entryPoints: [join(pkg, 'dist', 'src', 'main.js')],
  outfile: join(pkg, 'dist', 'src', 'main.bundle.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['./commands/daemon', '@ctl/proto/static/*'],
  alias: { '@protobufjs/inquire': join(pkg, 'scripts', 'inquire.cjs') },
  logLevel: 'warning',
  logOverride: { 'require-resolve-not-external': 'silent' },
  metafile: true,
});

// The point of the bundle is what it leaves out: a client module that imports the services'
// side of @ctl/proto (grpc-js, winston, level) would make every command parse them. Fail the
// build instead of shipping a slow CLI; import light subpaths (@ctl/proto/errors, /wire, …).
const heavy = Object.keys(result.metafile.inputs).filter((input) => /node_modules\/(@grpc\/grpc-js|winston|level|classic-level|@grpc\/proto-loader)\//.test(input));
if (heavy.length) {
  console.error(`bundle: the CLI's start-up bundle pulls in service-side modules:\n  ${heavy.slice(0, 10).join('\n  ')}`);
  process.exit(1);
}

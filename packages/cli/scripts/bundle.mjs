// Bundles the CLI's start-up path into a few files, because resolving and loading dozens of
// small modules costs more than Node's own start (tools/bench/cli-startup.mjs measures it): the
// entry alone, and each command module with its light clients and the protobuf runtime. A
// command pays only for its own code (one bundle of every command grew to 300 KB and cost
// --help and version several milliseconds). Left outside: the daemon command and the
// per-.proto codecs, which load one by one as commands need them. The bundles sit beside the
// plain build in dist/src so that relative requires resolve the same from both.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(pkg, 'dist', 'src');

// Where the static codecs are now, for @ctl/proto's codecs.ts to try before a resolution by name.
const staticCodecs = dirname(createRequire(join(pkg, 'package.json')).resolve('@ctl/proto/static/grpc_health_v1_health'));
// And the directory of @ctl/runtime-native's addons (its addon.ts), for the same reason.
const nativeBuild = join(dirname(createRequire(join(pkg, 'package.json')).resolve('@ctl/runtime-native/package.json')), 'build', 'Release');

async function bundle(entry, outfile, external) {
  const result = await build({
    define: {
      CTL_STATIC_CODECS_FROM_BUNDLE: JSON.stringify(relative(dirname(outfile), staticCodecs)),
      CTL_NATIVE_BUILD_FROM_BUNDLE: JSON.stringify(relative(dirname(outfile), nativeBuild)),
    },
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['@ctl/proto/static/*', ...external],
    alias: { '@protobufjs/inquire': join(pkg, 'scripts', 'inquire.cjs'), long: join(pkg, 'scripts', 'no-long.cjs') },
    logLevel: 'warning',
    logOverride: { 'require-resolve-not-external': 'silent', 'unsupported-require-call': 'silent' },
    metafile: true,
    // One non-ASCII character (a comment's "§" was enough) makes V8 hold the whole source as
    // UTF-16, and decode, hash and scan it so: `ctl ps` 183 M -> 157 M instructions with both
    // of these. Names stay, so stack traces still name functions.
    charset: 'ascii',
    minifyWhitespace: true,
  });
  // The point of a bundle is what it leaves out: a client module that imports the services'
  // side of @ctl/proto (grpc-js, winston, level) would make commands parse them. Fail the
  // build instead of shipping a slow CLI; import light subpaths (@ctl/proto/errors, /wire, …).
  const heavy = Object.keys(result.metafile.inputs).filter((input) =>
    /node_modules\/(@grpc\/grpc-js|winston|level|classic-level|@grpc\/proto-loader)\//.test(input),
  );
  if (heavy.length) {
    console.error(`bundle: ${outfile} pulls in service-side modules:\n  ${heavy.slice(0, 10).join('\n  ')}`);
    process.exit(1);
  }
}

// The entry alone (argument parsing, usage, the command table): what --help and --version load.
await bundle(join(src, 'main.js'), join(src, 'main.bundle.js'), ['./commands/*']);
// One bundle per command module, loaded only when that command runs; the daemon command stays
// plain (it loads the services and grpc-js, and runs long enough not to care).
for (const file of readdirSync(join(src, 'commands'))) {
  if (!file.endsWith('.js') || file.endsWith('.test.js') || file.endsWith('.bundle.js') || file === 'daemon.js') continue;
  await bundle(join(src, 'commands', file), join(src, 'commands', file.replace(/\.js$/, '.bundle.js')), []);
}

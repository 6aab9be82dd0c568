// Generates, from the .proto sources in this folder (the single source of the contracts):
//  - src/generated/: TypeScript types (proto-loader-gen-types), never edited by hand;
//  - dist/descriptor.json: the parsed descriptor, so that processes load the contracts
//    without parsing .proto text at every start.
//  - dist/static/<file>.js: precompiled codecs (protobufjs static modules, one per .proto file)
//    plus each file's method table, for the CLI's light client that must start fast;
//  - dist/build-info.json: version and revision, answered by every service's Version RPC.
// Types and runtime use loader-options.json, the same options the runtime loader passes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const options = JSON.parse(readFileSync(join(here, 'loader-options.json'), 'utf8'));

function protoFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'src') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...protoFiles(path));
    else if (name.endsWith('.proto')) out.push(relative(here, path));
  }
  return out.sort();
}

const files = protoFiles(here);
const generated = join(here, 'src', 'generated');
rmSync(generated, { recursive: true, force: true });

const flags = [];
for (const [key, value] of Object.entries(options)) {
  if (value === true) flags.push(`--${key}`);
  else if (typeof value === 'string') flags.push(`--${key}=${value}`);
}
const genTypes = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
// The include-dirs flag is a greedy array option, so it goes last, after the file names.
execFileSync(process.execPath, [genTypes, ...flags, '--grpcLib=@grpc/grpc-js', `--outDir=${generated}`, ...files, '--includeDirs', '.'], {
  cwd: here,
  stdio: ['ignore', 'ignore', 'inherit'],
});

const protobuf = require('protobufjs');
const root = new protobuf.Root();
root.resolvePath = (_origin, target) => {
  // google/protobuf/* are protobufjs' built-in common types; everything else is ours.
  if (target.startsWith('google/protobuf/')) return target;
  return target.startsWith('/') ? target : join(here, target);
};
root.loadSync(files, { keepCase: options.keepCase });
root.resolveAll();
mkdirSync(join(here, 'dist', 'static'), { recursive: true });
writeFileSync(join(here, 'dist', 'descriptor.json'), JSON.stringify({ files, root: root.toJSON() }));

// Static codecs, one module per .proto file so that a command loads only what it speaks.
const { pbjs } = require('protobufjs-cli');
const staticArgs = [
  '-p',
  here,
  '-t',
  'static-module',
  '-w',
  join(here, 'scripts', 'codec-wrapper.tmpl'),
  '--no-verify',
  '--no-delimited',
  '--no-beautify',
  '--no-comments',
  '--no-service',
];
/**
 * The descriptor (protobufjs JSON) of the given types and every type they reach through their
 * fields, with the namespaces around them. A type declared inside a message comes with that
 * message (whose JSON declares it), so the message is what is walked.
 */
function reachableDescriptor(types) {
  const outer = (t) => (t.parent instanceof protobuf.Type ? outer(t.parent) : t);
  const chosen = new Set();
  const walk = (t) => {
    t = outer(t);
    if (chosen.has(t)) return;
    chosen.add(t);
    const visit = (type) => {
      if (!(type instanceof protobuf.Type)) return;
      for (const field of type.fieldsArray) {
        field.resolve();
        if (field.resolvedType) walk(field.resolvedType);
      }
      for (const nested of type.nestedArray) visit(nested);
    };
    visit(t);
  };
  for (const t of types) walk(t);
  const descriptor = { nested: {} };
  for (const t of chosen) {
    const parts = t.fullName.slice(1).split('.');
    let ns = descriptor;
    for (const part of parts.slice(0, -1)) ns = ns.nested[part] ??= { nested: {} };
    ns.nested[parts.at(-1)] = t.toJSON();
  }
  return descriptor;
}
const scratch = join(here, 'dist', 'static-scratch');
mkdirSync(scratch, { recursive: true });

// Each file gets a root of its own (-r), so its method table below does not clash with another's.
for (const file of files) {
  const code = await new Promise((resolvePromise, reject) => {
    pbjs.main([...staticArgs, '-r', file, join(here, file)], (err, output) => (err ? reject(err) : resolvePromise(output)));
  });
  const methods = {};
  const services = [];
  const collect = (ns) => {
    for (const nested of ns.nestedArray ?? []) {
      if (nested instanceof protobuf.Service && nested.filename === join(here, file)) services.push(nested);
      if (nested.nestedArray) collect(nested);
    }
  };
  collect(root);
  for (const service of services) {
    const serviceName = service.fullName.slice(1);
    for (const m of service.methodsArray) {
      m.resolve();
      methods[`${serviceName}/${m.name}`] = {
        path: `/${serviceName}/${m.name}`,
        requestType: m.resolvedRequestType.fullName.slice(1),
        responseType: m.resolvedResponseType.fullName.slice(1),
        requestStream: Boolean(m.requestStream),
        responseStream: Boolean(m.responseStream),
      };
    }
  }
  const stem = file.replace(/\.proto$/, '').replace(/\//g, '_');
  writeFileSync(join(here, 'dist', 'static', `${stem}.js`), `${code}\nmodule.exports.methods = ${JSON.stringify(methods)};\n`);
  // And one module per method with only the types its two messages reach: a command loads the
  // codecs of the calls it makes, not its file's every type (run.proto's are 320 KB, and a
  // command's start pays for each byte; codecs.ts staticMethod prefers these).
  for (const service of services) {
    for (const m of service.methodsArray) {
      const key = `${service.fullName.slice(1)}/${m.name}`;
      const descriptor = reachableDescriptor([m.resolvedRequestType, m.resolvedResponseType]);
      const json = join(scratch, `${stem}--${service.name}.${m.name}.json`);
      writeFileSync(json, JSON.stringify(descriptor));
      const methodCode = await new Promise((resolvePromise, reject) => {
        pbjs.main([...staticArgs, '-r', `${file}#${key}`, json], (err, output) => (err ? reject(err) : resolvePromise(output)));
      });
      writeFileSync(
        join(here, 'dist', 'static', `${stem}--${service.name}.${m.name}.js`),
        `${methodCode}\nmodule.exports.methods = ${JSON.stringify({ [key]: methods[key] })};\n`,
      );
    }
  }
}
rmSync(scratch, { recursive: true, force: true });

let revision = '';
try {
  revision = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim();
} catch {
  // Not a git checkout (an exported tree): the revision stays empty, as containerd's does.
}
const { version } = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'));
writeFileSync(join(here, 'dist', 'build-info.json'), JSON.stringify({ version, revision }));
console.log(`generated types and descriptor for ${files.length} proto files`);

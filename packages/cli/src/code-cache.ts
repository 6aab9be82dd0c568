/**
 * V8 code cache for the CLI's own modules (its bundles and @ctl/proto's codecs): a command
 * process would otherwise parse and compile ~450 KB of JavaScript on every start. Node 20 has no
 * module compile cache (22 does), and v8-compile-cache stores the code right after compiling,
 * before the lazily compiled functions that a command actually runs exist; measured with
 * callgrind on `ctl run --rm busybox /bin/true`: 284 M instructions without a cache, 263 M with
 * v8-compile-cache, 215 M with this one, which stores the code when the process exits.
 *
 * Cache files live in dist/.code-cache (one per module, written atomically; none when the dir
 * is not writable) with a header naming the module's size and ctime (which no one can set back,
 * unlike mtime), so a rebuilt module never meets old code, and the commands that have warmed it
 * (in a run that exited 0): a command not seen yet rewrites the cache at exit with what it
 * compiled too. CTL_CODE_CACHE=0 turns it off. Plain CommonJS with
 * Node's built-ins only: it is loaded before anything else.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { Script } from 'node:vm';

interface Header {
  size: number;
  ctimeMs: number;
  commands: string[];
}

interface Internals {
  _compile(this: NodeJS.Module, content: string, filename: string): unknown;
}
interface ModuleStatics {
  prototype: Internals;
  wrap(content: string): string;
  _resolveFilename(request: string, parent: NodeJS.Module, isMain: boolean, options?: unknown): string;
  _cache: unknown;
  _extensions: unknown;
}

/** The first word of the command line that names a command (good enough to key the warm-up). */
function commandWord(argv: string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (['--root', '--state', '-n', '--namespace'].includes(a)) i++;
    else if (/^[a-z][a-z-]*$/.test(a)) return a;
  }
  return '';
}

function readCache(file: string, size: number, ctimeMs: number): { header: Header; data: Buffer } | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch {
    return undefined;
  }
  const nl = raw.indexOf(10);
  if (nl < 0) return undefined;
  try {
    const header = JSON.parse(raw.toString('utf8', 0, nl)) as Header;
    if (header.size !== size || header.ctimeMs !== ctimeMs || !Array.isArray(header.commands)) return undefined;
    return { header, data: raw.subarray(nl + 1) };
  } catch {
    return undefined;
  }
}

/** Installs the cache for modules under `root` (the monorepo or the installed packages). */
export function installCodeCache(root: string, cacheDir: string, argv: string[]): void {
  const command = commandWord(argv);
  // The daemon compiles its services once and runs for long: nothing to gain, much to write.
  // Without a command (--version, --help) only a few functions of the entry run: compiling them
  // costs less than reading and checking a cache (callgrind: 103 M instructions against 114 M).
  if (process.env.CTL_CODE_CACHE === '0' || command === 'daemon' || command === '') return;
  // CommonJS's Module class, as the constructor of this module's own object: node:module would load
  // the ESM loader and source maps too (5 M instructions, about 1 ms, at every command).
  const M = module.constructor as unknown as ModuleStatics;
  const proto = M.prototype;
  const original = proto._compile;
  const toWrite: { script: Script; file: string; header: Header }[] = [];
  const under = resolve(root) + sep;
  // The workspace's own files, or @ctl packages installed under node_modules; no third party.
  const ours = (filename: string): boolean => {
    if (!filename.startsWith(under)) return false;
    const nm = filename.lastIndexOf(`${sep}node_modules${sep}`);
    return nm < 0 || filename.startsWith(`@ctl${sep}`, nm + 14);
  };

  const compile = (mod: NodeJS.Module, content: string, filename: string): unknown => {
    if (!ours(filename)) return original.call(mod, content, filename);
    let script: Script;
    let fn: (...args: unknown[]) => unknown;
    try {
      const st = statSync(filename);
      const file = join(cacheDir, filename.slice(under.length).replace(/[/\\]/g, '%'));
      const cached = readCache(file, st.size, st.ctimeMs);
      script = new Script(M.wrap(content), { filename, cachedData: cached?.data });
      fn = script.runInThisContext({ displayErrors: true }) as typeof fn;
      if (!cached || script.cachedDataRejected || !cached.header.commands.includes(command)) {
        const warmed = cached && !script.cachedDataRejected ? cached.header.commands : [];
        toWrite.push({ script, file, header: { size: st.size, ctimeMs: st.ctimeMs, commands: warmed } });
      }
    } catch {
      return original.call(mod, content, filename);
    }
    const require = ((id: string) => mod.require(id)) as NodeJS.Require;
    require.resolve = ((request: string, options?: unknown) => M._resolveFilename(request, mod, false, options)) as NodeJS.RequireResolve;
    require.main = process.mainModule;
    require.cache = M._cache as NodeJS.Require['cache'];
    require.extensions = M._extensions as NodeJS.Require['extensions'];
    return fn.call(mod.exports, mod.exports, require, mod, filename, dirname(filename));
  };
  proto._compile = function (this: NodeJS.Module, content: string, filename: string): unknown {
    return compile(this, content, filename);
  };

  process.once('exit', (code) => {
    for (const { script, file, header } of toWrite) {
      // Only a run that succeeded has compiled the command's usual path (the benchmarks' and the
      // autostart's first `version` fails while the daemon starts): a failed one writes what it
      // has, and the next run writes again.
      if (code === 0) header.commands = [...new Set([...header.commands, command])];
      try {
        mkdirSync(cacheDir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        try {
          writeFileSync(tmp, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), script.createCachedData()]));
          renameSync(tmp, file);
        } finally {
          rmSync(tmp, { force: true });
        }
      } catch {
        // A read-only install runs without a cache.
      }
    }
  });
}

/**
 * TEMPORARY placeholder of the frontend's parse.ts (another helper writes the real one; this
 * file goes at the merge). Same signature; one instruction per line with continuations and
 * comments, JSON and shell forms, a few flags, no heredocs: enough for the executor's tests.
 */
import { type Command, DockerfileError, type Dockerfile, type Instruction, type Stage } from './model';

/** Words split at unquoted blanks, quotes kept (expand removes them). */
function words(text: string): string[] {
  const out: string[] = [];
  let word = '';
  let quote: string | undefined;
  for (const c of text) {
    if (!quote && /\s/.test(c)) {
      if (word) out.push(word);
      word = '';
      continue;
    }
    if (c === '"' || c === "'") quote = quote === c ? undefined : (quote ?? c);
    word += c;
  }
  if (word) out.push(word);
  return out;
}

function command(rest: string, line: number): Command {
  if (rest.trim().startsWith('[')) {
    try {
      const args = JSON.parse(rest) as unknown;
      if (Array.isArray(args) && args.every((a) => typeof a === 'string')) return { form: 'exec', args };
    } catch {
      // shell form, as docker takes a bad JSON array
    }
  }
  if (!rest.trim()) throw new DockerfileError('a command is needed', line);
  return { form: 'shell', text: rest };
}

function flags(rest: string): { flags: Record<string, string>; mounts: string[]; rest: string } {
  const out: Record<string, string> = {};
  const mounts: string[] = [];
  let m;
  while ((m = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest))) {
    if (m[1] === 'mount') mounts.push(m[2] ?? '');
    else out[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags: out, mounts, rest };
}

const pairs = (rest: string) =>
  rest.includes('=')
    ? words(rest).map((w) => ({ key: w.slice(0, w.indexOf('=')), value: w.slice(w.indexOf('=') + 1) }))
    : [{ key: rest.split(/\s+/)[0]!, value: rest.replace(/^\S+\s*/, '') }];

function instruction(kind: string, rest: string, line: number, original: string): Instruction {
  const base = { line, original };
  const f = flags(rest);
  switch (kind) {
    case 'RUN':
      return {
        ...base,
        kind,
        command: command(f.rest, line),
        heredocs: [],
        mounts: f.mounts.map((m) => {
          const options = Object.fromEntries(m.split(',').map((kv) => [kv.split('=')[0]!, kv.split('=').slice(1).join('=')]));
          return { type: options.type ?? 'bind', options };
        }),
        ...(f.flags.network ? { network: f.flags.network } : {}),
      };
    case 'COPY':
    case 'ADD': {
      const list = f.rest.trim().startsWith('[') ? (JSON.parse(f.rest) as string[]) : words(f.rest);
      if (list.length < 2) throw new DockerfileError(`${kind} requires at least two arguments`, line);
      const { from, chown, chmod, link, ...other } = f.flags;
      return {
        ...base,
        kind,
        sources: list.slice(0, -1),
        dest: list.at(-1)!,
        heredocs: [],
        from,
        chown,
        chmod,
        link: link === 'true',
        flags: other,
      };
    }
    case 'ENV':
    case 'LABEL':
      return { ...base, kind, pairs: pairs(rest) };
    case 'ARG':
      return {
        ...base,
        kind,
        args: words(rest).map((w) => (w.includes('=') ? { name: w.split('=')[0]!, default: w.slice(w.indexOf('=') + 1) } : { name: w })),
      };
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      return { ...base, kind, value: rest.trim() };
    case 'EXPOSE':
      return { ...base, kind, ports: words(rest) };
    case 'VOLUME':
      return { ...base, kind, paths: rest.trim().startsWith('[') ? (JSON.parse(rest) as string[]) : words(rest) };
    case 'CMD':
    case 'ENTRYPOINT':
      return { ...base, kind, command: command(rest, line) };
    case 'SHELL':
      return { ...base, kind, args: JSON.parse(rest) as string[] };
    case 'HEALTHCHECK': {
      const cmd = f.rest.trim();
      if (/^NONE$/i.test(cmd)) return { ...base, kind, healthcheck: { test: ['NONE'] } };
      const c = command(cmd.replace(/^CMD\s+/i, ''), line);
      return {
        ...base,
        kind,
        healthcheck: {
          test: c.form === 'exec' ? ['CMD', ...c.args] : ['CMD-SHELL', c.text],
          ...(f.flags.interval ? { interval: f.flags.interval } : {}),
          ...(f.flags.timeout ? { timeout: f.flags.timeout } : {}),
          ...(f.flags['start-period'] ? { startPeriod: f.flags['start-period'] } : {}),
          ...(f.flags.retries ? { retries: f.flags.retries } : {}),
        },
      };
    }
    case 'ONBUILD':
      return { ...base, kind, trigger: rest.trim() };
    default:
      throw new DockerfileError(`unknown instruction: ${kind}`, line);
  }
}

export function parseDockerfile(text: string): Dockerfile {
  const df: Dockerfile = { escape: '\\', globalArgs: [], stages: [] };
  const lines = text.split('\n');
  let stage: Stage | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    let full = lines[i]!;
    while (/\\\s*$/.test(full) && i + 1 < lines.length) full = full.replace(/\\\s*$/, '') + lines[++i]!.replace(/^\s*#.*$/, '');
    full = full.trim();
    if (!full || full.startsWith('#')) continue;
    const m = /^(\S+)\s*(.*)$/s.exec(full)!;
    const kind = m[1]!.toUpperCase();
    const rest = m[2]!;
    if (kind === 'FROM') {
      const f = flags(rest);
      const w = words(f.rest);
      if (!w[0]) throw new DockerfileError('FROM requires an image', line);
      stage = {
        index: df.stages.length,
        base: w[0],
        line,
        original: full,
        instructions: [],
        ...(w[2] && /^as$/i.test(w[1] ?? '') ? { name: w[2].toLowerCase() } : {}),
        ...(f.flags.platform ? { platform: f.flags.platform } : {}),
      };
      df.stages.push(stage);
      continue;
    }
    const made = instruction(kind, rest, line, full);
    if (!stage) {
      if (made.kind !== 'ARG') throw new DockerfileError(`no FROM before ${kind}`, line);
      for (const a of made.args) df.globalArgs.push({ ...a, line });
      continue;
    }
    stage.instructions.push(made);
  }
  if (!df.stages.length) throw new DockerfileError('the Dockerfile has no FROM', 0);
  return df;
}

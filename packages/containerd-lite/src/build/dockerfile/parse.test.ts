import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { DockerfileError, type Dockerfile, type Instruction } from './model';
import { durationNanos, parseDockerfile } from './parse';

const parse = (...lines: string[]): Dockerfile => parseDockerfile(lines.join('\n'));

/** The instructions of the only stage of `FROM scratch` followed by `lines`. */
function steps(...lines: string[]): Instruction[] {
  const dockerfile = parse('FROM scratch', ...lines);
  assert.equal(dockerfile.stages.length, 1);
  return dockerfile.stages[0].instructions;
}

/** The one instruction after `FROM scratch`. */
function step(...lines: string[]): Instruction {
  const all = steps(...lines);
  assert.equal(all.length, 1, `one instruction expected, got ${all.length}`);
  return all[0];
}

/** Asserts a DockerfileError (InvalidArgument) at `line` whose message matches `pattern`. */
function refused(text: string, line: number, pattern: RegExp): void {
  assert.throws(
    () => parseDockerfile(text),
    (err: unknown) => {
      assert.ok(err instanceof DockerfileError, `a DockerfileError, not ${String(err)}`);
      assert.ok(isKind(err, ErrorKind.InvalidArgument));
      assert.equal(err.line, line, err.message);
      if (line > 0) assert.ok(err.message.startsWith(`Dockerfile:${line}: `), err.message);
      assert.match(err.message, pattern);
      return true;
    },
  );
}

describe('parseDockerfile', () => {
  describe('directives', () => {
    it('reads escape and syntax at the top, case-insensitively and with blanks around =', () => {
      const dockerfile = parse('# SYNTAX = docker/dockerfile:1.7', '#Escape=`', 'FROM scratch', 'RUN a `', '  b');
      assert.equal(dockerfile.syntax, 'docker/dockerfile:1.7');
      assert.equal(dockerfile.escape, '`');
      assert.deepEqual(dockerfile.stages[0].instructions[0], {
        kind: 'RUN',
        line: 4,
        original: 'RUN a   b',
        command: { form: 'shell', text: 'a   b' },
        heredocs: [],
        mounts: [],
      });
    });

    it('defaults to backslash and no syntax', () => {
      const dockerfile = parse('FROM scratch');
      assert.equal(dockerfile.escape, '\\');
      assert.equal('syntax' in dockerfile, false);
    });

    it('takes directives only before any comment, blank line or instruction', () => {
      assert.equal(parse('# a comment', '# escape=`', 'FROM scratch').escape, '\\');
      assert.equal(parse('', '# escape=`', 'FROM scratch').escape, '\\');
      assert.equal(parse('FROM scratch', '# escape=`').escape, '\\');
      // An unknown directive is a comment, so what follows is no directive either.
      assert.equal(parse('# foo=bar', '# escape=`', 'FROM scratch').escape, '\\');
      assert.equal(parse('# check=skip=all', '# escape=`', 'FROM scratch').escape, '`');
    });

    it('refuses a repeated directive and an escape that is neither \\ nor `', () => {
      refused('# escape=`\n# escape=\\\nFROM scratch', 2, /escape directive is given twice/);
      refused('# escape=x\nFROM scratch', 1, /"x" is neither/);
    });
  });

  describe('lines', () => {
    it('skips comments and blank lines, also indented ones, and keeps # inside an instruction', () => {
      const all = steps('', '   # indented comment', '\t', '  RUN echo # not a comment', '# last');
      assert.equal(all.length, 1);
      assert.equal(all[0].line, 5);
      assert.deepEqual(all[0].kind === 'RUN' && all[0].command, { form: 'shell', text: 'echo # not a comment' });
    });

    it('joins continuations, dropping comment and blank lines inside them, as Docker does', () => {
      const [run] = steps(
        'RUN apt-get update && \\',
        '# why we install gcc',
        '',
        '    apt-get install -y gcc \\  ',
        '  && rm -rf /var/lib/apt/lists/*',
        'USER app',
      );
      assert.equal(run.line, 2);
      assert.equal(run.original, 'RUN apt-get update &&     apt-get install -y gcc   && rm -rf /var/lib/apt/lists/*');
    });

    it('ends a continuation at the end of the file', () => {
      const all = steps('RUN echo \\');
      assert.deepEqual(all[0].kind === 'RUN' && all[0].command, { form: 'shell', text: 'echo' });
    });

    it('numbers lines across continuations, heredocs and CRLF line ends, after a BOM', () => {
      const dockerfile = parseDockerfile('\uFEFFFROM scratch\r\nRUN a \\\r\n b\r\nCOPY <<EOF /x\r\nbody\r\nEOF\r\nUSER u\r\n');
      assert.deepEqual(
        dockerfile.stages[0].instructions.map((i) => [i.kind, i.line]),
        [
          ['RUN', 2],
          ['COPY', 4],
          ['USER', 7],
        ],
      );
      const copy = dockerfile.stages[0].instructions[1];
      assert.equal(copy.kind === 'COPY' && copy.heredocs[0].content, 'body\n');
    });

    it('reads instructions case-insensitively', () => {
      const dockerfile = parse('from alpine as Base', 'run echo', 'Copy a b', 'wOrKdIr /w');
      assert.equal(dockerfile.stages[0].name, 'base');
      assert.deepEqual(
        dockerfile.stages[0].instructions.map((i) => i.kind),
        ['RUN', 'COPY', 'WORKDIR'],
      );
    });

    it('refuses an unknown instruction, naming it and its line', () => {
      refused('FROM scratch\n\nRUNN echo', 3, /unknown instruction "RUNN"/);
    });

    it('refuses instructions other than ARG before the first FROM, and a file without FROM', () => {
      refused('ARG A\nRUN echo\nFROM scratch', 2, /RUN before the first FROM/);
      refused('# only a comment\n', 0, /no FROM/);
      refused('ARG A=1', 0, /no FROM/);
    });

    it('refuses an instruction without arguments', () => {
      for (const kind of [
        'RUN',
        'CMD',
        'ENTRYPOINT',
        'ENV',
        'LABEL',
        'ARG',
        'WORKDIR',
        'USER',
        'EXPOSE',
        'VOLUME',
        'STOPSIGNAL',
        'SHELL',
        'ONBUILD',
      ]) {
        refused(`FROM scratch\n${kind}`, 2, new RegExp(`${kind} requires at least one argument`));
      }
      refused('FROM', 1, /FROM requires at least one argument/);
      refused('FROM scratch\nCOPY /only', 2, /COPY requires at least one source and a destination/);
      refused('FROM scratch\nHEALTHCHECK', 2, /HEALTHCHECK requires at least one argument/);
    });
  });

  describe('FROM and stages', () => {
    it('reads the image, --platform and AS name (lower-cased), numbering the stages', () => {
      const dockerfile = parse('FROM --platform=$BUILDPLATFORM golang:1.22 AS Builder', 'FROM builder', 'FROM scratch as final');
      assert.deepEqual(
        dockerfile.stages.map(({ index, name, base, platform, line, original }) => ({ index, name, base, platform, line, original })),
        [
          {
            index: 0,
            name: 'builder',
            base: 'golang:1.22',
            platform: '$BUILDPLATFORM',
            line: 1,
            original: 'FROM --platform=$BUILDPLATFORM golang:1.22 AS Builder',
          },
          { index: 1, name: undefined, base: 'builder', platform: undefined, line: 2, original: 'FROM builder' },
          { index: 2, name: 'final', base: 'scratch', platform: undefined, line: 3, original: 'FROM scratch as final' },
        ],
      );
      assert.equal('name' in dockerfile.stages[1], false);
    });

    it('refuses duplicate stage names (case-insensitively), bad names and bad word counts', () => {
      refused('FROM a AS x\nFROM b AS X', 2, /stage name "x" is already used by the stage at line 1/);
      refused('FROM a AS 1x', 1, /invalid stage name "1x"/);
      refused('FROM a AS x/y', 1, /invalid stage name/);
      refused('FROM a b', 1, /FROM image \[AS name\]/);
      refused('FROM a AS', 1, /FROM image \[AS name\]/);
      refused('FROM a FOR b', 1, /FROM image \[AS name\]/);
      refused('FROM --platform linux/amd64 a', 1, /--platform needs a value/);
      refused('FROM --plat=x a', 1, /FROM: unknown flag --plat \(FROM takes --platform\)/);
    });

    it('keeps ARGs before the first FROM as global args, with their lines', () => {
      const dockerfile = parse('ARG VERSION=1.0 DEBUG', '# c', 'ARG BASE="alpine:3"', 'FROM $BASE', 'ARG VERSION');
      assert.deepEqual(dockerfile.globalArgs, [
        { name: 'VERSION', default: '1.0', line: 1 },
        { name: 'DEBUG', line: 1 },
        { name: 'BASE', default: '"alpine:3"', line: 3 },
      ]);
      assert.deepEqual(dockerfile.stages[0].instructions[0], {
        kind: 'ARG',
        line: 5,
        original: 'ARG VERSION',
        args: [{ name: 'VERSION' }],
      });
    });
  });

  describe('RUN, CMD, ENTRYPOINT, SHELL', () => {
    it('reads the exec form from a JSON array and falls back to the shell form otherwise', () => {
      const [exec, shell, notJson, object] = steps('RUN ["sh", "-c", "echo $HOME"]', 'RUN echo "[x]"', 'RUN [echo, hi]', 'CMD {"a": 1}');
      assert.deepEqual(exec.kind === 'RUN' && exec.command, { form: 'exec', args: ['sh', '-c', 'echo $HOME'] });
      assert.deepEqual(shell.kind === 'RUN' && shell.command, { form: 'shell', text: 'echo "[x]"' });
      assert.deepEqual(notJson.kind === 'RUN' && notJson.command, { form: 'shell', text: '[echo, hi]' });
      assert.deepEqual(object.kind === 'CMD' && object.command, { form: 'shell', text: '{"a": 1}' });
    });

    it('reads CMD and ENTRYPOINT in both forms, an empty array included', () => {
      const [cmd, entrypoint, empty, spaced] = steps(
        'CMD ["nginx", "-g", "daemon off;"]',
        'ENTRYPOINT exec node server.js',
        'ENTRYPOINT []',
        'CMD [ "a" ]',
      );
      assert.deepEqual(cmd, {
        kind: 'CMD',
        line: 2,
        original: 'CMD ["nginx", "-g", "daemon off;"]',
        command: { form: 'exec', args: ['nginx', '-g', 'daemon off;'] },
      });
      assert.deepEqual(entrypoint.kind === 'ENTRYPOINT' && entrypoint.command, { form: 'shell', text: 'exec node server.js' });
      assert.deepEqual(empty.kind === 'ENTRYPOINT' && empty.command, { form: 'exec', args: [] });
      assert.deepEqual(spaced.kind === 'CMD' && spaced.command, { form: 'exec', args: ['a'] });
    });

    it('refuses a JSON array of non-strings and an empty RUN array', () => {
      refused('FROM scratch\nCMD ["a", 1]', 2, /CMD: a JSON array here must hold only strings/);
      refused('FROM scratch\nRUN []', 2, /RUN: the command is an empty JSON array/);
    });

    it('requires SHELL in JSON form', () => {
      assert.deepEqual(step('SHELL ["/bin/bash", "-o", "pipefail", "-c"]'), {
        kind: 'SHELL',
        line: 2,
        original: 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]',
        args: ['/bin/bash', '-o', 'pipefail', '-c'],
      });
      refused('FROM scratch\nSHELL /bin/bash -c', 2, /SHELL requires the arguments in JSON form/);
      refused('FROM scratch\nSHELL []', 2, /SHELL requires at least one argument/);
    });

    it('reads RUN --mount (aliases folded, bare keys true), --network and --security', () => {
      const run = step(
        'RUN --mount=type=cache,target=/root/.cache/go-build,id=gocache,sharing=locked \\',
        '    --mount=type=bind,from=build,src=/out,dst=/in,rw \\',
        '    --mount=type=secret,id=npmrc,required --mount=target=/ctx,ro \\',
        '    --network=none --security=sandbox go build ./...',
      );
      assert.equal(run.kind, 'RUN');
      if (run.kind !== 'RUN') return;
      assert.deepEqual(run.mounts, [
        { type: 'cache', options: { target: '/root/.cache/go-build', id: 'gocache', sharing: 'locked' } },
        { type: 'bind', options: { from: 'build', source: '/out', target: '/in', readonly: 'false' } },
        { type: 'secret', options: { id: 'npmrc', required: 'true' } },
        { type: 'bind', options: { target: '/ctx', readonly: 'true' } },
      ]);
      assert.equal(run.network, 'none');
      assert.equal(run.security, 'sandbox');
      assert.deepEqual(run.command, { form: 'shell', text: 'go build ./...' });
    });

    it('takes a quoted mount field whole, keeps quoted values and variables as written', () => {
      const run = step('RUN --mount=type=cache,"target=/a,b",id="$ID x" true');
      assert.deepEqual(run.kind === 'RUN' && run.mounts, [{ type: 'cache', options: { target: '/a,b', id: '"$ID x"' } }]);
    });

    it('refuses bad mounts, networks and security modes, naming the line', () => {
      refused('FROM scratch\nRUN --mount=type=nfs,target=/x true', 2, /unknown mount type "nfs"/);
      refused('FROM scratch\nRUN --mount=type=cache true', 2, /a cache mount needs a target/);
      refused('FROM scratch\nRUN --mount=type=cache,target=/x,colour=red true', 2, /unknown option "colour"/);
      refused('FROM scratch\nRUN --mount=type=cache,target=/x,dst=/y true', 2, /target is given twice/);
      refused('FROM scratch\nRUN --network=bridge true', 2, /--network=bridge is not one of default, none, host/);
      refused('FROM scratch\nRUN --security=root true', 2, /--security=root is not one of sandbox, insecure/);
    });

    it('ends the flags at the first word that is not one, or at --', () => {
      const [a, b] = steps('RUN echo --mount=x', 'RUN -- --weird');
      assert.deepEqual(a.kind === 'RUN' && a.command, { form: 'shell', text: 'echo --mount=x' });
      assert.deepEqual(b.kind === 'RUN' && b.command, { form: 'shell', text: '--weird' });
    });

    it('refuses unknown, repeated and valueless flags, naming the flag and the line', () => {
      refused(
        'FROM scratch\nRUN true\nRUN --mnt=type=cache true',
        3,
        /RUN: unknown flag --mnt \(RUN takes --mount, --network, --security\)/,
      );
      refused('FROM scratch\nCMD --port 80', 2, /CMD: unknown flag --port \(CMD takes no flags\)/);
      refused('FROM scratch\nENV --x=1', 2, /ENV: unknown flag --x/);
      refused('FROM scratch\nRUN --network=none --network=host true', 2, /--network is given twice/);
      refused('FROM scratch\nRUN --network true', 2, /--network needs a value/);
    });
  });

  describe('heredocs', () => {
    it('reads RUN <<EOF as a script whose body is the heredoc', () => {
      const run = step('RUN <<EOF', 'set -e', '', '# a shell comment, not a Dockerfile one', 'echo "$HOME"', 'EOF');
      assert.deepEqual(run, {
        kind: 'RUN',
        line: 2,
        original: 'RUN <<EOF',
        command: { form: 'shell', text: '<<EOF\nset -e\n\n# a shell comment, not a Dockerfile one\necho "$HOME"\nEOF' },
        heredocs: [
          { name: 'EOF', content: 'set -e\n\n# a shell comment, not a Dockerfile one\necho "$HOME"\n', expand: true, chomp: false },
        ],
        mounts: [],
      });
    });

    it('strips leading tabs for <<- (also before the delimiter) and keeps them in the shell text', () => {
      const run = step('RUN cat <<-EOT > /etc/motd', '\t\thello', '\t  spaces stay', '\tEOT');
      assert.equal(run.kind, 'RUN');
      if (run.kind !== 'RUN') return;
      assert.deepEqual(run.heredocs, [{ name: 'EOT', content: 'hello\n  spaces stay\n', expand: true, chomp: true }]);
      assert.equal(run.command.form === 'shell' && run.command.text, 'cat <<-EOT > /etc/motd\n\t\thello\n\t  spaces stay\n\tEOT');
    });

    it('marks a quoted delimiter as not expanded', () => {
      const [double, single, escaped] = steps('RUN <<"EOF"', '$A', 'EOF', "RUN <<-'X'", 'body', 'X', 'RUN <<\\E', 'b', 'E');
      for (const [run, name] of [
        [double, 'EOF'],
        [single, 'X'],
        [escaped, 'E'],
      ] as const) {
        assert.equal(run.kind === 'RUN' && run.heredocs[0].name, name);
        assert.equal(run.kind === 'RUN' && run.heredocs[0].expand, false);
      }
    });

    it('reads several heredocs on one line, bodies in order', () => {
      const [run, user] = steps('RUN <<FILE1 cat > /file1 && <<FILE2 cat > /file2', 'one', 'FILE1', 'two', 'FILE2', 'USER u');
      assert.equal(user.line, 7);
      assert.deepEqual(run.kind === 'RUN' && run.heredocs.map((h) => [h.name, h.content]), [
        ['FILE1', 'one\n'],
        ['FILE2', 'two\n'],
      ]);
    });

    it('keeps the instruction after a heredoc', () => {
      const all = steps('RUN python3 <<EOF', 'print("hi")', 'EOF', 'USER app');
      assert.deepEqual(
        all.map((i) => [i.kind, i.line]),
        [
          ['RUN', 2],
          ['USER', 5],
        ],
      );
      const run = all[0];
      assert.deepEqual(run.kind === 'RUN' && run.command, { form: 'shell', text: 'python3 <<EOF\nprint("hi")\nEOF' });
    });

    it('takes the name up to a shell operator, and ignores <<< and quoted <<', () => {
      const [redirect, hereString, quoted] = steps('RUN cat <<EOF>/out', 'x', 'EOF', 'RUN cat <<<word', 'RUN echo "<<EOF"');
      assert.deepEqual(redirect.kind === 'RUN' && redirect.heredocs.map((h) => h.name), ['EOF']);
      assert.deepEqual(hereString.kind === 'RUN' && hereString.heredocs, []);
      assert.deepEqual(quoted.kind === 'RUN' && quoted.heredocs, []);
    });

    it('reads a heredoc opened on a continuation', () => {
      const run = step('RUN cat <<EOF \\', '  > /x', 'body', 'EOF');
      assert.deepEqual(run.kind === 'RUN' && run.command, { form: 'shell', text: 'cat <<EOF   > /x\nbody\nEOF' });
    });

    it('reads COPY and ADD heredoc sources as <<NAME with their bodies', () => {
      const [copy, add] = steps(
        'COPY --chmod=755 <<-"EOF" <<two /app/',
        '\t#!/bin/sh',
        '\techo $X',
        '\tEOF',
        '2',
        'two',
        'ADD <<EOF /x',
        'EOF',
      );
      assert.deepEqual(copy, {
        kind: 'COPY',
        line: 2,
        original: 'COPY --chmod=755 <<-"EOF" <<two /app/',
        sources: ['<<EOF', '<<two'],
        dest: '/app/',
        heredocs: [
          { name: 'EOF', content: '#!/bin/sh\necho $X\n', expand: false, chomp: true },
          { name: 'two', content: '2\n', expand: true, chomp: false },
        ],
        chmod: '755',
        link: false,
        flags: {},
      });
      assert.deepEqual(add.kind === 'ADD' && add.heredocs, [{ name: 'EOF', content: '', expand: true, chomp: false }]);
    });

    it('refuses an unclosed heredoc and a heredoc destination', () => {
      refused('FROM scratch\nRUN <<EOF\necho\nEOF \n', 2, /heredoc <<EOF is not closed/);
      refused('FROM scratch\nCOPY a <<EOF\nx\nEOF', 2, /destination can't be a heredoc/);
    });

    it('takes no heredocs in the exec form', () => {
      const run = step('RUN ["cat", "<<EOF"]');
      assert.deepEqual(run.kind === 'RUN' && run.heredocs, []);
    });
  });

  describe('COPY and ADD', () => {
    it('reads sources, destination and flags, words unexpanded and quotes kept', () => {
      const copy = step('COPY --from=build --chown=app:app --link --parents --exclude=*.md --exclude=.git "my file" $SRC ./dest/');
      assert.deepEqual(copy, {
        kind: 'COPY',
        line: 2,
        original: copy.original,
        sources: ['"my file"', '$SRC'],
        dest: './dest/',
        heredocs: [],
        from: 'build',
        chown: 'app:app',
        link: true,
        flags: { parents: 'true', exclude: '*.md\n.git' },
      });
    });

    it('reads the JSON form', () => {
      const copy = step('COPY ["a b", "c", "/d/"]');
      assert.deepEqual(copy.kind === 'COPY' && [copy.sources, copy.dest], [['a b', 'c'], '/d/']);
    });

    it("reads ADD's own flags and refuses COPY's --from on it", () => {
      const add = step('ADD --checksum=sha256:abc --keep-git-dir=true --link=false https://x/y.tgz /');
      assert.deepEqual(add.kind === 'ADD' && [add.link, add.flags], [false, { checksum: 'sha256:abc', 'keep-git-dir': 'true' }]);
      refused('FROM scratch\nADD --from=x a b', 2, /ADD: unknown flag --from/);
      refused('FROM scratch\nCOPY --link=yes a b', 2, /--link is true or false, not "yes"/);
      refused('FROM scratch\nCOPY --from= a b', 2, /--from needs a stage name/);
    });
  });

  describe('ENV, LABEL, ARG', () => {
    it('reads name=value pairs, values as written', () => {
      const env = step('ENV A=1 B="two words" C=three\\ x D= E=\'$lit\'');
      assert.deepEqual(env.kind === 'ENV' && env.pairs, [
        { key: 'A', value: '1' },
        { key: 'B', value: '"two words"' },
        { key: 'C', value: 'three\\ x' },
        { key: 'D', value: '' },
        { key: 'E', value: "'$lit'" },
      ]);
    });

    it('reads the legacy form: one name, the rest of the line its value', () => {
      const [env, label] = steps('ENV PATH /usr/local/bin:$PATH  and more', 'LABEL maintainer "Jane <j@x>"');
      assert.deepEqual(env.kind === 'ENV' && env.pairs, [{ key: 'PATH', value: '/usr/local/bin:$PATH  and more' }]);
      assert.deepEqual(label.kind === 'LABEL' && label.pairs, [{ key: 'maintainer', value: '"Jane <j@x>"' }]);
    });

    it('reads quoted LABEL keys and continued pairs', () => {
      const label = step('LABEL "com.example.vendor"="ACME Inc" \\', '      version="1.0" description="a = b"');
      assert.deepEqual(label.kind === 'LABEL' && label.pairs, [
        { key: '"com.example.vendor"', value: '"ACME Inc"' },
        { key: 'version', value: '"1.0"' },
        { key: 'description', value: '"a = b"' },
      ]);
    });

    it('refuses a legacy name without value, a pair without =, and an empty name', () => {
      refused('FROM scratch\nENV ONLY', 2, /ENV ONLY has no value/);
      refused('FROM scratch\nENV A=1 B', 2, /can't find = in "B"/);
      refused('FROM scratch\nLABEL =x', 2, /LABEL: a name can't be empty/);
    });

    it('reads ARGs with and without defaults, several on a line', () => {
      const arg = step('ARG A B=2 C="x y" D=');
      assert.deepEqual(arg.kind === 'ARG' && arg.args, [
        { name: 'A' },
        { name: 'B', default: '2' },
        { name: 'C', default: '"x y"' },
        { name: 'D', default: '' },
      ]);
      refused('FROM scratch\nARG =1', 2, /ARG: a name can't be empty/);
    });
  });

  describe('EXPOSE, VOLUME, WORKDIR, USER, STOPSIGNAL, MAINTAINER', () => {
    it('reads them', () => {
      const all = steps(
        'EXPOSE 80/tcp 443 $PORT',
        'VOLUME ["/data", "/logs"]',
        'VOLUME /a /b',
        'WORKDIR /my app',
        'USER 1000:1000',
        'STOPSIGNAL SIGQUIT',
        'MAINTAINER Jane <j@x>',
      );
      const values = all.map((i) => {
        switch (i.kind) {
          case 'EXPOSE':
            return i.ports;
          case 'VOLUME':
            return i.paths;
          case 'WORKDIR':
          case 'USER':
          case 'STOPSIGNAL':
          case 'MAINTAINER':
            return i.value;
          default:
            return undefined;
        }
      });
      assert.deepEqual(values, [
        ['80/tcp', '443', '$PORT'],
        ['/data', '/logs'],
        ['/a', '/b'],
        '/my app',
        '1000:1000',
        'SIGQUIT',
        'Jane <j@x>',
      ]);
    });

    it('refuses an empty volume path', () => {
      refused('FROM scratch\nVOLUME ["/a", " "]', 2, /VOLUME: a path can not be an empty string/);
    });
  });

  describe('HEALTHCHECK', () => {
    it('reads NONE, and CMD in both forms with its flags', () => {
      const [none, shell, exec] = steps(
        'HEALTHCHECK NONE',
        'HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 \\',
        '  CMD curl -f http://localhost/ || exit 1',
        'healthcheck cmd ["/bin/check", "--quick"]',
      );
      assert.deepEqual(none.kind === 'HEALTHCHECK' && none.healthcheck, { test: ['NONE'] });
      assert.deepEqual(shell.kind === 'HEALTHCHECK' && shell.healthcheck, {
        test: ['CMD-SHELL', 'curl -f http://localhost/ || exit 1'],
        interval: '5m',
        timeout: '3s',
        startPeriod: '1m30s',
        startInterval: '500ms',
        retries: '3',
      });
      assert.deepEqual(exec.kind === 'HEALTHCHECK' && exec.healthcheck, { test: ['CMD', '/bin/check', '--quick'] });
    });

    it('refuses what Docker refuses', () => {
      refused('FROM scratch\nHEALTHCHECK NONE x', 2, /NONE takes no flags or arguments/);
      refused('FROM scratch\nHEALTHCHECK --retries=1 NONE', 2, /NONE takes no flags or arguments/);
      refused('FROM scratch\nHEALTHCHECK RUN x', 2, /unknown type "RUN" \(CMD or NONE\)/);
      refused('FROM scratch\nHEALTHCHECK CMD', 2, /HEALTHCHECK CMD needs a command/);
      refused('FROM scratch\nHEALTHCHECK CMD []', 2, /HEALTHCHECK CMD needs a command/);
      refused('FROM scratch\nHEALTHCHECK --interval=5 CMD x', 2, /--interval=5 is not a duration/);
      refused('FROM scratch\nHEALTHCHECK --timeout=10us CMD x', 2, /--timeout=10us must be 0 or at least 1ms/);
      refused('FROM scratch\nHEALTHCHECK --retries=-1 CMD x', 2, /--retries=-1 is not a whole number/);
      refused('FROM scratch\nHEALTHCHECK --intervals=1s CMD x', 2, /unknown flag --intervals/);
    });

    it('converts Go durations to nanoseconds', () => {
      assert.equal(durationNanos('0'), 0);
      assert.equal(durationNanos('30s'), 30e9);
      assert.equal(durationNanos('1m30s'), 90e9);
      assert.equal(durationNanos('1.5h'), 5400e9);
      assert.equal(durationNanos('500ms'), 5e8);
      assert.equal(durationNanos('2us'), 2000);
      assert.equal(durationNanos('1h2m3s4ms5us6ns'), 3723004005006);
      assert.equal(durationNanos('-1s'), -1e9);
      for (const bad of ['', '5', 's', '1d', '1 s', '1s2']) assert.equal(durationNanos(bad), undefined, bad);
    });
  });

  describe('ONBUILD', () => {
    it('keeps the trigger as written after checking it', () => {
      const onbuild = step('ONBUILD COPY --chown=app . /app/src');
      assert.deepEqual(onbuild, {
        kind: 'ONBUILD',
        line: 2,
        original: 'ONBUILD COPY --chown=app . /app/src',
        trigger: 'COPY --chown=app . /app/src',
      });
    });

    it('refuses ONBUILD, FROM and MAINTAINER triggers, unknown ones and bad ones', () => {
      refused('FROM scratch\nONBUILD ONBUILD RUN x', 2, /ONBUILD ONBUILD isn't allowed/);
      refused('FROM scratch\nONBUILD from alpine', 2, /FROM isn't allowed as an ONBUILD trigger/);
      refused('FROM scratch\nONBUILD MAINTAINER me', 2, /MAINTAINER isn't allowed as an ONBUILD trigger/);
      refused('FROM scratch\nONBUILD BUILD x', 2, /unknown instruction "BUILD"/);
      refused('FROM scratch\nONBUILD RUN --bad x', 2, /RUN: unknown flag --bad/);
      refused('FROM scratch\nONBUILD RUN <<EOF\nx\nEOF', 2, /a trigger can't have a heredoc/);
    });
  });

  describe('real-world Dockerfiles', () => {
    it('reads a Go multi-stage build', () => {
      const dockerfile = parseDockerfile(`# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG ALPINE=3.19

FROM --platform=$BUILDPLATFORM golang:\${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \\
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \\
    --mount=type=cache,target=/root/.cache/go-build \\
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -o /out/app ./cmd/app

FROM alpine:\${ALPINE} AS runtime
RUN apk add --no-cache ca-certificates tzdata \\
 && adduser -D -u 10001 app
COPY --from=build /out/app /usr/local/bin/app
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
`);
      assert.equal(dockerfile.syntax, 'docker/dockerfile:1.7');
      assert.deepEqual(
        dockerfile.globalArgs.map((a) => a.name),
        ['GO_VERSION', 'ALPINE'],
      );
      assert.deepEqual(
        dockerfile.stages.map((s) => [s.name, s.base, s.line, s.instructions.map((i) => `${i.kind}@${i.line}`).join(' ')]),
        [
          ['build', 'golang:${GO_VERSION}-alpine', 5, 'WORKDIR@6 ENV@7 COPY@8 RUN@9 COPY@11 ARG@12 RUN@13'],
          ['runtime', 'alpine:${ALPINE}', 17, 'RUN@18 COPY@20 USER@21 EXPOSE@22 HEALTHCHECK@23 ENTRYPOINT@24'],
        ],
      );
      const build = dockerfile.stages[0].instructions[6];
      assert.equal(build.kind === 'RUN' && build.mounts.length, 2);
      assert.deepEqual(build.kind === 'RUN' && build.command, {
        form: 'shell',
        text: 'GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -o /out/app ./cmd/app',
      });
    });

    it('reads a Node app with a Windows-style escape', () => {
      const dockerfile = parseDockerfile(
        [
          '# escape=`',
          '',
          'FROM node:20-slim',
          'LABEL org.opencontainers.image.source="https://example.com/repo" `',
          '      org.opencontainers.image.licenses=MIT',
          'ENV NODE_ENV=production PATH=/app/node_modules/.bin:$PATH',
          'WORKDIR C:\\app',
          'COPY ["package.json", "package-lock.json", "./"]',
          'RUN npm ci --omit=dev && `',
          '    npm cache clean --force',
          'COPY --chown=node:node . .',
          'USER node',
          'CMD ["node", "server.js"]',
        ].join('\n'),
      );
      assert.equal(dockerfile.escape, '`');
      const [label, env, workdir, copy, run] = dockerfile.stages[0].instructions;
      assert.equal(label.kind === 'LABEL' && label.pairs.length, 2);
      assert.equal(env.kind === 'ENV' && env.pairs[1].value, '/app/node_modules/.bin:$PATH');
      assert.equal(workdir.kind === 'WORKDIR' && workdir.value, 'C:\\app');
      assert.deepEqual(copy.kind === 'COPY' && copy.sources, ['package.json', 'package-lock.json']);
      assert.deepEqual(run.kind === 'RUN' && run.command, { form: 'shell', text: 'npm ci --omit=dev &&     npm cache clean --force' });
    });

    it('reads a Python image with heredocs and an official-image style RUN', () => {
      const dockerfile = parseDockerfile(`FROM python:3.12-slim
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN set -eux; \\
	apt-get update; \\
	apt-get install -y --no-install-recommends \\
		build-essential \\
# libpq for psycopg
		libpq-dev \\
	; \\
	rm -rf /var/lib/apt/lists/*
COPY <<EOF /etc/app.toml
[server]
port = \${PORT}
EOF
RUN <<EOF
#!/usr/bin/env python3
print("hello")
EOF
STOPSIGNAL SIGINT
CMD python -m app
`);
      const [shell, run, copy, script, stop, cmd] = dockerfile.stages[0].instructions;
      assert.equal(shell.kind, 'SHELL');
      assert.equal(run.kind === 'RUN' && run.command.form === 'shell' && run.command.text.includes('libpq'), true);
      assert.equal(run.kind === 'RUN' && run.command.form === 'shell' && run.command.text.includes('psycopg'), false);
      assert.deepEqual(copy.kind === 'COPY' && copy.heredocs[0].content, '[server]\nport = ${PORT}\n');
      assert.equal(script.kind === 'RUN' && script.heredocs[0].content, '#!/usr/bin/env python3\nprint("hello")\n');
      assert.deepEqual([stop.line, cmd.line], [19, 20]);
    });
  });
});

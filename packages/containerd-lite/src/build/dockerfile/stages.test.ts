import { ErrorKind, isKind } from '@ctl/proto/errors';
import { strict as assert } from 'node:assert';
import { DockerfileError } from './model';
import { parseDockerfile } from './parse';
import { baseStage, dependencies, globalScope, stagesNeeded } from './stages';

const parse = (...lines: string[]) => parseDockerfile(lines.join('\n'));
const indices = (stages: { index: number }[]): number[] => stages.map((stage) => stage.index);

function refused(run: () => unknown, line: number, pattern: RegExp): void {
  assert.throws(
    run,
    (err: unknown) =>
      err instanceof DockerfileError && isKind(err, ErrorKind.InvalidArgument) && err.line === line && pattern.test(err.message),
  );
}

describe('stages', () => {
  const multi = parse(
    'FROM golang AS build', // 0
    'RUN make',
    'FROM alpine AS docs', // 1
    'RUN mkdocs build',
    'FROM build AS test', // 2
    'RUN make test',
    'FROM scratch AS final', // 3
    'COPY --from=build /out/app /app',
    'COPY --from=nginx:alpine /etc/nginx/mime.types /etc/',
  );

  it('builds the last stage by default, with only what it needs, dependencies first', () => {
    assert.deepEqual(indices(stagesNeeded(multi)), [0, 3]);
    assert.deepEqual(dependencies(multi.stages[3], multi), [0]);
    // nginx:alpine names no stage: an image, not a dependency.
    assert.deepEqual(dependencies(multi.stages[1], multi), []);
  });

  it('builds a named target, case-insensitively', () => {
    assert.deepEqual(indices(stagesNeeded(multi, 'TEST')), [0, 2]);
    assert.deepEqual(indices(stagesNeeded(multi, 'docs')), [1]);
    assert.equal(baseStage(multi.stages[2], multi)?.name, 'build');
    assert.equal(baseStage(multi.stages[1], multi), undefined);
  });

  it('refuses an unknown target, naming it and the stages there are', () => {
    refused(
      () => stagesNeeded(multi, 'release'),
      0,
      /target stage "release" could not be found: the named stages are build, docs, test, final/,
    );
    refused(() => stagesNeeded(parse('FROM a', 'FROM b'), 'x'), 0, /no stage has a name/);
  });

  it('follows COPY --from by index and RUN --mount from=, and orders a chain', () => {
    const dockerfile = parse(
      'FROM alpine', // 0
      'FROM alpine AS deps', // 1
      'COPY --from=0 /a /a',
      'FROM alpine AS tools', // 2
      'FROM deps AS app', // 3
      'RUN --mount=type=bind,from=tools,source=/bin/tool,target=/usr/bin/tool tool',
      'RUN --mount=type=cache,target=/c true',
    );
    assert.deepEqual(dependencies(dockerfile.stages[3], dockerfile), [1, 2]);
    assert.deepEqual(indices(stagesNeeded(dockerfile)), [0, 1, 2, 3]);
    assert.deepEqual(indices(stagesNeeded(dockerfile, 'deps')), [0, 1]);
  });

  it('lets COPY --from name a later stage but FROM only an earlier one', () => {
    const dockerfile = parse('FROM alpine AS first', 'COPY --from=second /x /x', 'FROM second', 'FROM busybox AS second');
    assert.deepEqual(dependencies(dockerfile.stages[0], dockerfile), [2]);
    // "second" is not yet a stage at line 3: FROM takes it as an image.
    assert.deepEqual(dependencies(dockerfile.stages[1], dockerfile), []);
    assert.deepEqual(indices(stagesNeeded(dockerfile, 'first')), [2, 0]);
  });

  it('refuses circular dependencies and stage indices that do not exist', () => {
    const cycle = parse('FROM alpine AS a', 'COPY --from=b /x /x', 'FROM alpine AS b', 'COPY --from=a /y /y');
    refused(() => stagesNeeded(cycle), 3, /circular dependency between stages: b → a → b/);
    const self = parse('FROM alpine AS a', 'COPY --from=a /x /x');
    refused(() => stagesNeeded(self), 1, /circular dependency between stages: a → a/);
    const index = parse('FROM alpine', 'FROM alpine', 'COPY --from=5 /x /x');
    refused(() => dependencies(index.stages[1], index), 3, /--from=5: there is no stage 5 \(stages are numbered 0 to 1\)/);
  });

  it('expands FROM and --from with the global args, build args first', () => {
    const dockerfile = parse(
      'ARG VARIANT=slim',
      'ARG SOURCE=builder-$VARIANT',
      'ARG UNUSED',
      'FROM alpine AS builder-slim', // 0
      'FROM alpine AS builder-full', // 1
      'FROM ${SOURCE} AS base', // 2
      'FROM scratch', // 3
      'COPY --from=builder-${VARIANT} /x /x',
      'RUN --mount=from=$SOURCE,target=/m true',
    );
    assert.deepEqual(Object.fromEntries(globalScope(dockerfile)), { VARIANT: 'slim', SOURCE: 'builder-slim' });
    assert.deepEqual(dependencies(dockerfile.stages[2], dockerfile), [0]);
    assert.deepEqual(dependencies(dockerfile.stages[3], dockerfile), [0]);
    assert.deepEqual(indices(stagesNeeded(dockerfile, undefined, { VARIANT: 'full' })), [1, 3]);
    assert.deepEqual(indices(stagesNeeded(dockerfile, 'base', new Map([['SOURCE', 'builder-full']]))), [1, 2]);
    // A build arg that no global ARG declares is not seen by FROM lines, except the platform ones.
    assert.deepEqual(Object.fromEntries(globalScope(dockerfile, { OTHER: 'x', TARGETARCH: 'arm64', UNUSED: '' })), {
      TARGETARCH: 'arm64',
      VARIANT: 'slim',
      SOURCE: 'builder-slim',
      UNUSED: '',
    });
  });

  it('resolves platform args in FROM without a declaration', () => {
    const dockerfile = parse('FROM alpine AS base-amd64', 'FROM alpine AS base-arm64', 'FROM base-$TARGETARCH');
    assert.deepEqual(indices(stagesNeeded(dockerfile, undefined, { TARGETARCH: 'arm64' })), [1, 2]);
    assert.deepEqual(indices(stagesNeeded(dockerfile, undefined, {})), [2]);
  });

  it("gives an expansion error the instruction's line", () => {
    const dockerfile = parse('FROM alpine', 'COPY --from=${X /a /b');
    refused(() => stagesNeeded(dockerfile), 2, /COPY --from: bad substitution/);
    const global = parse('ARG X=${Y', 'FROM alpine');
    refused(() => stagesNeeded(global), 1, /ARG X: bad substitution/);
  });
});

/**
 * Which stages a build target needs and in what order: a stage depends on the stage its FROM
 * names, and on the stages its COPY --from and RUN --mount from= name (by name or index). A
 * --from that names no stage is an image. The executor can build the stages whose
 * dependencies are done in parallel (`dependencies`).
 */
import { atLine, expand, type Vars } from './expand';
import { DockerfileError, type Dockerfile, type Stage } from './model';

/**
 * The platform build args BuildKit provides to every build: usable in FROM lines (and --from)
 * without being declared, when the caller passes them among the build args.
 */
export const PLATFORM_ARGS: ReadonlySet<string> = new Set([
  'BUILDPLATFORM',
  'BUILDOS',
  'BUILDARCH',
  'BUILDVARIANT',
  'TARGETPLATFORM',
  'TARGETOS',
  'TARGETARCH',
  'TARGETVARIANT',
]);

/**
 * The variables FROM lines see (and, here, COPY --from and RUN --mount from=): the platform
 * args given, then each ARG before the first FROM, set to its build arg if given, else to its
 * default expanded with the values before it. An ARG with neither stays unset.
 */
export function globalScope(dockerfile: Dockerfile, buildArgs: Vars = {}): Map<string, string> {
  const given: ReadonlyMap<string, string> = buildArgs instanceof Map ? buildArgs : new Map(Object.entries(buildArgs));
  const scope = new Map<string, string>();
  for (const name of PLATFORM_ARGS) {
    const value = given.get(name);
    if (value !== undefined) scope.set(name, value);
  }
  for (const arg of dockerfile.globalArgs) {
    const value =
      given.get(arg.name) ??
      (arg.default === undefined
        ? undefined
        : atLine(arg.line, `ARG ${arg.name}`, () => expand(arg.default ?? '', scope, dockerfile.escape)));
    if (value !== undefined) scope.set(arg.name, value);
  }
  return scope;
}

/** The earlier stage that a stage's FROM builds on (its image word, expanded, is that stage's name), if any. */
export function baseStage(stage: Stage, dockerfile: Dockerfile, buildArgs: Vars = {}): Stage | undefined {
  return baseIn(stage, dockerfile, globalScope(dockerfile, buildArgs));
}

/**
 * The stage an expanded COPY --from or RUN --mount from= value names: a stage name (any stage,
 * as BuildKit resolves them once all are known) or a stage index; undefined when it is an image.
 */
export function referencedStage(ref: string, dockerfile: Dockerfile, line: number): Stage | undefined {
  if (/^\d+$/.test(ref)) {
    const stage = dockerfile.stages[Number(ref)];
    if (!stage) {
      throw new DockerfileError(`--from=${ref}: there is no stage ${ref} (stages are numbered 0 to ${dockerfile.stages.length - 1})`, line);
    }
    return stage;
  }
  const name = ref.toLowerCase();
  return dockerfile.stages.find((stage) => stage.name === name);
}

/** The indices of the stages `stage` needs, ascending. */
export function dependencies(stage: Stage, dockerfile: Dockerfile, buildArgs: Vars = {}): number[] {
  return dependenciesIn(stage, dockerfile, globalScope(dockerfile, buildArgs));
}

/**
 * The stages the target (a stage name; default the last stage) needs, each after the stages it
 * needs, the target last. Throws DockerfileError for an unknown target or a circular dependency.
 */
export function stagesNeeded(dockerfile: Dockerfile, target?: string, buildArgs: Vars = {}): Stage[] {
  const goal = target ? dockerfile.stages.find((stage) => stage.name === target.toLowerCase()) : dockerfile.stages.at(-1);
  if (!goal) {
    const names = dockerfile.stages.flatMap((stage) => (stage.name ? [stage.name] : []));
    const known = names.length ? `the named stages are ${names.join(', ')}` : 'no stage has a name';
    throw new DockerfileError(`target stage ${JSON.stringify(target)} could not be found: ${known}`, 0);
  }
  const scope = globalScope(dockerfile, buildArgs);
  const order: Stage[] = [];
  const done = new Set<number>();
  const path: Stage[] = [];
  const visit = (stage: Stage): void => {
    if (done.has(stage.index)) return;
    const seen = path.indexOf(stage);
    if (seen >= 0) {
      const cycle = [...path.slice(seen), stage].map(label).join(' → ');
      throw new DockerfileError(`circular dependency between stages: ${cycle}`, stage.line);
    }
    path.push(stage);
    for (const index of dependenciesIn(stage, dockerfile, scope)) visit(dockerfile.stages[index]);
    path.pop();
    done.add(stage.index);
    order.push(stage);
  };
  visit(goal);
  return order;
}

const label = (stage: Stage): string => stage.name ?? `stage ${stage.index}`;

function baseIn(stage: Stage, dockerfile: Dockerfile, scope: Map<string, string>): Stage | undefined {
  // FROM sees only the stages before it (a later name is an image), as BuildKit resolves it.
  const name = atLine(stage.line, 'FROM', () => expand(stage.base, scope, dockerfile.escape)).toLowerCase();
  return dockerfile.stages.slice(0, stage.index).find((earlier) => earlier.name === name);
}

function dependenciesIn(stage: Stage, dockerfile: Dockerfile, scope: Map<string, string>): number[] {
  const needed = new Set<number>();
  const base = baseIn(stage, dockerfile, scope);
  if (base) needed.add(base.index);
  for (const instruction of stage.instructions) {
    const refs: [what: string, ref: string][] = [];
    if (instruction.kind === 'COPY' && instruction.from !== undefined) refs.push(['COPY --from', instruction.from]);
    if (instruction.kind === 'RUN') {
      for (const mount of instruction.mounts) if (mount.options.from !== undefined) refs.push(['RUN --mount from', mount.options.from]);
    }
    for (const [what, ref] of refs) {
      const expanded = atLine(instruction.line, what, () => expand(ref, scope, dockerfile.escape));
      const source = referencedStage(expanded, dockerfile, instruction.line);
      if (source) needed.add(source.index);
    }
  }
  return [...needed].sort((a, b) => a - b);
}

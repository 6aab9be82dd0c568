/**
 * TEMPORARY placeholder of the frontend's stages.ts (another helper writes the real one; this
 * file goes at the merge). Same signatures; stage references by literal name or index only.
 */
import { DockerfileError, type Dockerfile, type Stage } from './model';

function stageIndex(df: Dockerfile, word: string | undefined, before: number): number | undefined {
  if (word === undefined) return undefined;
  const byName = df.stages.findIndex((s) => s.name === word.toLowerCase());
  if (byName >= 0 && byName < before) return byName;
  return /^\d+$/.test(word) && Number(word) < before ? Number(word) : undefined;
}

/** The earlier stages a stage uses: its FROM, COPY --from and RUN --mount from=. */
export function dependencies(stage: Stage, df: Dockerfile): number[] {
  const out = new Set<number>();
  const add = (word: string | undefined): void => {
    const i = stageIndex(df, word, stage.index);
    if (i !== undefined) out.add(i);
  };
  add(stage.base);
  for (const ins of stage.instructions) {
    if (ins.kind === 'COPY' || ins.kind === 'ADD') add(ins.from);
    if (ins.kind === 'RUN') for (const m of ins.mounts) add(m.options.from);
  }
  return [...out].sort((a, b) => a - b);
}

/** The stages the target (by name, else the last) needs, dependencies first. */
export function stagesNeeded(df: Dockerfile, target?: string, _buildArgs?: Record<string, string>): Stage[] {
  const last = df.stages.length - 1;
  const top = target ? df.stages.findIndex((s) => s.name === target.toLowerCase()) : last;
  if (top < 0) throw new DockerfileError(`target stage "${target}" could not be found`, 0);
  const needed = new Set<number>();
  const visit = (i: number): void => {
    if (needed.has(i)) return;
    needed.add(i);
    for (const d of dependencies(df.stages[i]!, df)) visit(d);
  };
  visit(top);
  return [...needed].sort((a, b) => a - b).map((i) => df.stages[i]!);
}

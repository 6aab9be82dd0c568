/**
 * The Dockerfile as the builder runs it: what the frontend (parse.ts) makes of the text and
 * the executor (../executor.ts) consumes. Words are kept as written (variables NOT expanded):
 * expansion needs the stage's ENV and ARG values at that point, which only the executor has;
 * it calls `expand` (expand.ts) on each word when the instruction runs.
 *
 * Lines are 1-based lines of the Dockerfile where the instruction starts (for errors and
 * progress).
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';

/** An exec-form (JSON array) or shell-form command. */
export type Command =
  | { form: 'exec'; args: string[] }
  /** the text after the instruction, continuations joined, heredoc bodies applied (see Heredoc) */
  | { form: 'shell'; text: string };

/** A heredoc (`<<EOF`, `<<-EOF`, `<<"EOF"`) as BuildKit reads it. */
export interface Heredoc {
  /** the delimiter word, e.g. "EOF" */
  name: string;
  /** the body, with leading tabs removed for `<<-` */
  content: string;
  /** false when the delimiter was quoted: the body is not expanded */
  expand: boolean;
  /** `<<-` */
  chomp: boolean;
}

/** RUN --mount=type=cache|bind|tmpfs|secret... as given (only cache is acted on; others refused with a clear error). */
export interface RunMount {
  type: string;
  /** every key=value of the flag, e.g. { target: '/root/.cache', id: 'x', sharing: 'locked' } */
  options: Record<string, string>;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface Healthcheck {
  /** ["NONE"] for HEALTHCHECK NONE, else ["CMD", ...args] or ["CMD-SHELL", text] (docker's config form) */
  test: string[];
  /** durations as written ("30s"); the executor converts to nanoseconds as docker stores them */
  interval?: string;
  timeout?: string;
  startPeriod?: string;
  startInterval?: string;
  retries?: string;
}

interface Base {
  line: number;
  /** the instruction as written (continuations joined), for progress, history and errors */
  original: string;
}

export type Instruction = Base &
  (
    | { kind: 'RUN'; command: Command; heredocs: Heredoc[]; mounts: RunMount[]; network?: string; security?: string }
    | {
        kind: 'COPY' | 'ADD';
        /** source words (unexpanded); a heredoc source is "<<NAME" with its body in heredocs */
        sources: string[];
        dest: string;
        heredocs: Heredoc[];
        from?: string;
        chown?: string;
        chmod?: string;
        link: boolean;
        /** ADD --checksum, --keep-git-dir; COPY --parents, --exclude: kept so they can be refused by name */
        flags: Record<string, string>;
      }
    | { kind: 'ENV' | 'LABEL'; pairs: KeyValue[] }
    | { kind: 'ARG'; args: { name: string; default?: string }[] }
    | { kind: 'WORKDIR' | 'USER' | 'STOPSIGNAL' | 'MAINTAINER'; value: string }
    | { kind: 'EXPOSE'; ports: string[] }
    | { kind: 'VOLUME'; paths: string[] }
    | { kind: 'CMD' | 'ENTRYPOINT'; command: Command }
    | { kind: 'SHELL'; args: string[] }
    | { kind: 'HEALTHCHECK'; healthcheck: Healthcheck }
    /** the trigger instruction as written (e.g. "RUN make"), stored in the config's OnBuild */
    | { kind: 'ONBUILD'; trigger: string }
  );

export type InstructionKind = Instruction['kind'];

export interface Stage {
  /** position among the stages, 0-based (a stage is named by its index too: COPY --from=0) */
  index: number;
  /** the `AS name`, lower-cased; undefined when unnamed */
  name?: string;
  /** FROM's image word (unexpanded; expanded with the global ARGs only): a reference, "scratch" or an earlier stage's name */
  base: string;
  /** FROM --platform (unexpanded) */
  platform?: string;
  line: number;
  original: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** the escape directive's character ("\\" unless `# escape=` says otherwise) */
  escape: string;
  /** the syntax directive, if any (recorded, not acted on) */
  syntax?: string;
  /** ARGs before the first FROM: usable in FROM lines, and in a stage after an `ARG name` there */
  globalArgs: { name: string; default?: string; line: number }[];
  stages: Stage[];
}

/**
 * A Dockerfile error: a clear message naming the line (1-based) and the thing. InvalidArgument:
 * the build's input is wrong, not the engine.
 */
export class DockerfileError extends EngineError {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(ErrorKind.InvalidArgument, line > 0 ? `Dockerfile:${line}: ${message}` : message);
    this.name = 'DockerfileError';
  }
}

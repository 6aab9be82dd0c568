import type { InstanceDirs } from '@ctl/proto/paths';

export interface CommandContext {
  dirs: InstanceDirs;
  namespace: string;
  autostart: boolean;
  /** The path of this CLI's entry script, for starting `ctl daemon` in the background. */
  entry: string;
  env: NodeJS.ProcessEnv;
  /** Another command of ctl by name, loaded as ctl loads it: for commands that dispatch (ctl container VERB). */
  command(name: string): Command | undefined;
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A command module: `ctl <name> …`. Returns the exit code. */
export interface Command {
  summary: string;
  usage: string;
  /**
   * -h/--help count only before the first positional (IMAGE, CONTAINER), since what follows
   * is the container's command and its own options.
   */
  helpBeforeImageOnly?: boolean;
  run(args: string[], context: CommandContext): Promise<number>;
}

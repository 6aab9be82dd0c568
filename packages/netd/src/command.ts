/**
 * Runs the host's network tools (ip, tc) with a batch on standard input, as one exec each: the
 * cost of an attach is mostly these processes, so callers batch what they can. They go through
 * ctl-launch, as every short command of the daemon does (no fork of the daemon's process).
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { launch } from '@ctl/runtime-native/launch';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a failure to start it (not found) rejects, a non-zero exit does not. */
export async function runCommand(command: string, args: readonly string[], input = ''): Promise<CommandResult> {
  try {
    return await launch(command, [...args], { input });
  } catch (err) {
    throw new EngineError(ErrorKind.FailedPrecondition, `${command}: ${(err as Error).message}`, { cause: err });
  }
}

/** The command's failure as an error naming it and its own words. */
export function commandFailed(command: string, result: CommandResult, kind = ErrorKind.Internal): EngineError {
  const detail = result.stderr.trim() || result.stdout.trim() || `exit status ${result.code}`;
  return new EngineError(kind, `${command}: ${detail}`);
}

/**
 * Runs the host's network tools (ip, tc) with a batch on standard input, as one exec each: the
 * cost of an attach is mostly these processes, so callers batch what they can.
 */
import { EngineError, ErrorKind } from '@ctl/proto/errors';
import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; a failure to start it (not found) rejects, a non-zero exit does not. */
export function runCommand(command: string, args: readonly string[], input = ''): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => reject(new EngineError(ErrorKind.FailedPrecondition, `${command}: ${err.message}`, { cause: err })));
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }),
    );
    child.stdin.on('error', () => undefined); // the command may exit before reading all of it; its exit says why
    child.stdin.end(input);
  });
}

/** The command's failure as an error naming it and its own words. */
export function commandFailed(command: string, result: CommandResult, kind = ErrorKind.Internal): EngineError {
  const detail = result.stderr.trim() || result.stdout.trim() || `exit status ${result.code}`;
  return new EngineError(kind, `${command}: ${detail}`);
}

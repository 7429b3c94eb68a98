import { run, type RunResult } from '../exec.js';

export type ExecResult = RunResult;

/** The env-cache backends' commands go through the action's one argv runner (no shell, secrets
 *  redacted); quiet unless asked, and a non-zero exit is returned, never thrown. */
export function runCommand(cmd: string, args: string[], opts: { silent?: boolean; env?: Record<string, string> } = {}): Promise<ExecResult> {
  return run(cmd, args, { quiet: opts.silent ?? true, env: opts.env });
}

export function seconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 10) / 100;
}

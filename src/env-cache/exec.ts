import { getExecOutput } from '@actions/exec';

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs one command as an argv array (never through a shell); never throws on a non-zero exit. */
export async function runCommand(cmd: string, args: string[], opts: { silent?: boolean; env?: Record<string, string> } = {}): Promise<ExecResult> {
  try {
    const r = await getExecOutput(cmd, args, {
      ignoreReturnCode: true,
      silent: opts.silent ?? true,
      env: opts.env ? { ...(process.env as Record<string, string>), ...opts.env } : undefined,
    });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    // e.g. the executable does not exist
    return { exitCode: 127, stdout: '', stderr: (e as Error).message };
  }
}

export function seconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 10) / 100;
}

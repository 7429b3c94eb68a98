// Every command is an argv array run through @actions/exec (no shell): arguments holding ";",
// "$()" or newlines reach the program as data. Output is captured and, unless quiet, echoed
// with secret values replaced by "***".
import * as fs from 'node:fs';
import * as aexec from '@actions/exec';
import { NO_SECRETS, type Redactor } from './redact.js';

export interface RunOptions {
  env?: Record<string, string>;   // added to process.env
  quiet?: boolean;                // do not echo the command's output
  logFile?: string;               // also append stdout+stderr here
  redactor?: Redactor;            // hides secrets in the echoed command and output
}
export interface RunResult { exitCode: number; stdout: string; stderr: string }

/** Renders an argv for people to read (quoted where needed, secrets hidden); never executed. */
export function showArgv(cmd: string, args: string[], redactor: Redactor = NO_SECRETS): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).map((a) => redactor.text(a)).join(' ');
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const redactor = opts.redactor ?? NO_SECRETS;
  process.stdout.write(`[command] ${showArgv(cmd, args, redactor)}\n`);
  const log = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const echo = (chunk: Buffer, into: 'out' | 'err') => {
    const s = chunk.toString();
    if (log !== undefined) fs.writeSync(log, s);
    if (!opts.quiet) (into === 'out' ? process.stdout : process.stderr).write(redactor.text(s));
  };
  try {
    // getExecOutput collects stdout/stderr itself; the listeners only echo and log
    const r = await aexec.getExecOutput(cmd, args, {
      env: opts.env ? { ...(process.env as Record<string, string>), ...opts.env } : undefined,
      silent: true,
      ignoreReturnCode: true,
      listeners: { stdout: (b) => echo(b, 'out'), stderr: (b) => echo(b, 'err') },
    });
    return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    // @actions/exec throws when the executable is not on PATH
    const msg = e instanceof Error ? e.message : String(e);
    return { exitCode: 127, stdout: '', stderr: msg };
  } finally {
    if (log !== undefined) fs.closeSync(log);
  }
}

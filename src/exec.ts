// Every command is an argv array run through @actions/exec (no shell): arguments holding ";",
// "$()" or newlines reach the program as data. Output is captured and, unless quiet, echoed
// with secret values replaced by "***".
import * as fs from 'node:fs';
import * as aexec from '@actions/exec';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;   // added to process.env
  quiet?: boolean;                // do not echo the command's output
  logFile?: string;               // also append stdout+stderr here
  redact?: string[];              // values never printed
}
export interface RunResult { exitCode: number; stdout: string; stderr: string }

let secrets: string[] = [];
/** Values that every echo and log written by this module hides. */
export function addRedactions(values: string[]): void {
  secrets = [...new Set([...secrets, ...values.filter((v) => v.length > 0)])].sort((a, b) => b.length - a.length);
}
export function redact(text: string, extra: string[] = []): string {
  let out = text;
  for (const s of [...extra, ...secrets]) if (s) out = out.split(s).join('***');
  return out;
}

/** Renders an argv for people to read (quoted where needed, secrets hidden); never executed. */
export function showArgv(cmd: string, args: string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).map((a) => redact(a)).join(' ');
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  process.stdout.write(`[command] ${showArgv(cmd, args)}\n`);
  const log = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const echo = (chunk: Buffer, into: 'out' | 'err') => {
    const s = chunk.toString();
    if (log !== undefined) fs.writeSync(log, s);
    if (!opts.quiet) (into === 'out' ? process.stdout : process.stderr).write(redact(s, opts.redact));
  };
  try {
    // getExecOutput collects stdout/stderr itself; the listeners only echo and log
    const r = await aexec.getExecOutput(cmd, args, {
      cwd: opts.cwd,
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

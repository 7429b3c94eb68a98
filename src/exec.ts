// Every command is an argv array (no shell): arguments holding ";", "$()" or newlines reach the
// program as data. Output is captured and, unless quiet, echoed with secret values replaced by "***".
//
// Each command runs in a process group of its own, and the running ones are known here, because a
// cancelled job must stop them: the runner signals only the action's own process, and a docker CLI
// 20.10 passes no SIGINT on to the buildx plugin it runs, so SIGINT goes to the whole group, as a
// Ctrl-C in a terminal would (buildx then cancels the build in BuildKit). @actions/exec keeps its
// child to itself, so the process is spawned here directly.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { NO_SECRETS, type Redactor } from './redact.js';

export interface RunOptions {
  env?: Record<string, string>;   // added to process.env
  quiet?: boolean;                // do not echo the command's output
  logFile?: string;               // also append stdout+stderr here
  redactor?: Redactor;            // hides secrets in the echoed command and output
  timeoutMs?: number;             // SIGKILL the command's process group after this long (a frozen daemon never answers)
  cleanup?: boolean;              // removes what the job made: still runs after the job was cancelled
  stdin?: NodeJS.ReadableStream;  // piped into the command (e.g. an archive for docker load)
  onStdout?: (chunk: Buffer) => void; // takes stdout as it comes (e.g. docker save's archive): not kept, not echoed
  signal?: AbortSignal;           // aborting stops the command: SIGINT to its group, SIGKILL after KILL_AFTER_ABORT_MS
}
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut?: true;                // killed at timeoutMs
  refused?: true;                 // not started: the job was cancelled
}

/** A command that is running now: its pid, which is also its process group's id. */
export interface Running { pid: number; argv: string[] }

/** How long a question to docker or buildx may take (timeoutMs): a frozen daemon accepts the connection and never answers. */
export const DOCKER_QUERY_TIMEOUT_MS = 60_000;

/** How long a command stopped by its AbortSignal has between SIGINT and SIGKILL. */
export const KILL_AFTER_ABORT_MS = 5000;

const running = new Map<number, Running>();
let refusing: string | null = null;
let mark: Record<string, string> = {};

/** The commands running now. */
export function runningCommands(): Running[] {
  return [...running.values()];
}

/** Every command from now on gets NAME=VALUE in its environment (to be found again by it). */
export function markCommands(name: string, value: string): void {
  mark = { [name]: value };
}

/** From now on only cleanup commands start; the others return exit code 130 and `refused`. */
export function refuseNewCommands(reason: string): void {
  refusing = reason;
}

/** Sends `signal` to the process group of every running command. */
export function signalRunning(signal: NodeJS.Signals): void {
  for (const r of running.values()) killGroup(r.pid, signal);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone
  }
}

/** Renders an argv for people to read (quoted where needed, secrets hidden); never executed. */
export function showArgv(cmd: string, args: string[], redactor: Redactor = NO_SECRETS): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).map((a) => redactor.text(a)).join(' ');
}

export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const redactor = opts.redactor ?? NO_SECRETS;
  if (refusing !== null && !opts.cleanup) return { exitCode: 130, stdout: '', stderr: `not started: ${refusing}`, refused: true };
  process.stdout.write(`[command] ${showArgv(cmd, args, redactor)}\n`);
  const log = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  let stdout = '';
  let stderr = '';
  const echo = (chunk: Buffer, into: 'out' | 'err') => {
    if (into === 'out' && opts.onStdout) return opts.onStdout(chunk);
    const s = chunk.toString();
    if (into === 'out') stdout += s;
    else stderr += s;
    if (log !== undefined) fs.writeSync(log, s);
    if (!opts.quiet) (into === 'out' ? process.stdout : process.stderr).write(redactor.text(s));
  };
  try {
    return await new Promise<RunResult>((resolve) => {
      const child = spawn(cmd, args, {
        env: { ...process.env, ...opts.env, ...mark },
        stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        detached: true, // its own process group (see the top of this file)
      });
      let timedOut = false;
      let exitCode: number | null = null;
      let timer: NodeJS.Timeout | undefined;
      let drain: NodeJS.Timeout | undefined;
      let killer: NodeJS.Timeout | undefined;
      const pid = child.pid;
      const abort = () => {
        if (pid === undefined) return;
        killGroup(pid, 'SIGINT');
        killer = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_AFTER_ABORT_MS);
      };
      if (pid !== undefined) {
        running.set(pid, { pid, argv: [cmd, ...args] });
        if (opts.timeoutMs !== undefined) timer = setTimeout(() => { timedOut = true; killGroup(pid, 'SIGKILL'); }, opts.timeoutMs);
        if (opts.signal?.aborted) abort();
        else opts.signal?.addEventListener('abort', abort, { once: true });
      }
      if (opts.stdin && child.stdin) {
        // a command that exits before it read everything closes the pipe: that is its exit code's business
        child.stdin.on('error', () => undefined);
        // a source that fails ends the input, so that the command sees it cut short instead of waiting
        opts.stdin.on('error', () => child.stdin?.destroy());
        opts.stdin.pipe(child.stdin);
      }
      child.stdout!.on('data', (b: Buffer) => echo(b, 'out'));
      child.stderr!.on('data', (b: Buffer) => echo(b, 'err'));
      let done = false;
      const finish = (r: RunResult) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        clearTimeout(drain);
        clearTimeout(killer);
        opts.signal?.removeEventListener('abort', abort);
        if (pid !== undefined) running.delete(pid);
        const said = `${[cmd, args[0]].filter((a) => a).join(' ')} did not finish within ${(opts.timeoutMs ?? 0) / 1000} s and was killed\n`;
        resolve(timedOut ? { ...r, exitCode: 124, timedOut: true, stderr: `${r.stderr}${r.stderr && !r.stderr.endsWith('\n') ? '\n' : ''}${said}` } : r);
      };
      child.on('error', (e: NodeJS.ErrnoException) => {
        const msg = e.code === 'ENOENT' ? `Unable to locate executable file: ${cmd}. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable.` : e.message;
        finish({ exitCode: 127, stdout, stderr: msg });
      });
      // 'close' waits for the output to end; a process the command left behind may hold it open,
      // so the command counts as done at most 2 s after it exited.
      child.on('exit', (code, signal) => {
        exitCode = statusOf(code, signal);
        drain = setTimeout(() => finish({ exitCode: exitCode!, stdout, stderr }), 2000);
      });
      child.on('close', (code, signal) => finish({ exitCode: exitCode ?? statusOf(code, signal), stdout, stderr }));
    });
  } finally {
    if (log !== undefined) fs.closeSync(log);
  }
}

/** A shell's exit status: the code, or 128 + the signal's number. */
function statusOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? os.constants.signals[signal] : 0);
}

// One job of the action on a shared host, driven the way the GitHub runner drives it: the main step
// (`node dist/main/index.js`) started with INPUT_* and fresh GITHUB_* files, cancelled like the
// runner cancels it, then the post step; and, afterwards, everything the job may have left behind.
//
// How the runner cancels a step (actions/runner, ProcessInvoker): kill(pid, SIGINT) to the step's
// process only (not its group), wait up to 7.5 s for it to exit; then kill(pid, SIGTERM), wait up
// to 2.5 s; then SIGKILL to that process alone. Its children are not signalled. The post step
// (post-if defaults to always()) runs afterwards with the state the main step saved.
//
// Every process of the job (node, docker, docker-buildx, ...) inherits PCB_FAULT_JOB=<id>, so the
// job's processes are found in /proc by their environment even after they were orphaned.
import { spawn, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error plain ESM helper shared with scripts/local-action.mjs
import { inputEnv, parseCommandFile, stateEnv } from '../../../scripts/gh-files.mjs';
import { ROOT } from '../../helpers.js';
import { NODE } from '../../run-dist.js';
import { cmd } from './host.js';

export const JOB_MARKER = 'PCB_FAULT_JOB';

export interface JobEnd { code: number | null; signal: NodeJS.Signals | null; seconds: number }

export class Job {
  readonly id = `pcb-flt-${crypto.randomBytes(4).toString('hex')}`;
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly child: ChildProcess;
  readonly started = Date.now();
  /** Resolves when the main step's process exits (not when its output closes: orphans may hold it). */
  readonly exited: Promise<JobEnd>;
  private out = '';
  private waiters: { re: RegExp; resolve: () => void }[] = [];

  /** Starts the main step. `dir` holds GITHUB_OUTPUT/STATE/STEP_SUMMARY and RUNNER_TEMP. */
  constructor(inputs: Record<string, string>, extraEnv: Record<string, string> = {}, dir?: string) {
    this.dir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-flt-job-'));
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('STATE_'))) as Record<string, string>;
    this.env = {
      ...base,
      GITHUB_OUTPUT: path.join(this.dir, 'output'),
      GITHUB_STEP_SUMMARY: path.join(this.dir, 'summary.md'),
      GITHUB_STATE: path.join(this.dir, 'state'),
      RUNNER_TEMP: path.join(this.dir, 'runner-temp'),
      GITHUB_WORKSPACE: ROOT,
      [JOB_MARKER]: this.id,
      ...extraEnv,
      ...(inputEnv(inputs) as Record<string, string>),
    };
    for (const f of ['output', 'summary.md', 'state']) fs.writeFileSync(path.join(this.dir, f), '');
    fs.mkdirSync(this.env.RUNNER_TEMP, { recursive: true });
    this.child = spawn(NODE, [path.join(ROOT, 'dist', 'main', 'index.js')], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (b: Buffer) => {
      this.out += b.toString();
      this.waiters = this.waiters.filter((w) => (w.re.test(this.out) ? (w.resolve(), false) : true));
    };
    this.child.stdout!.on('data', take);
    this.child.stderr!.on('data', take);
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve({ code, signal, seconds: (Date.now() - this.started) / 1000 })));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** What the main step printed so far (stdout and stderr, interleaved). */
  get output(): string {
    return this.out;
  }

  /** Resolves once the output matches `re` (e.g. the smoke run's `docker run` command line). */
  waitFor(re: RegExp, timeoutMs = 300_000): Promise<void> {
    if (re.test(this.out)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the job never printed ${re} in ${timeoutMs} ms; its output ends:\n${this.out.slice(-3000)}`)), timeoutMs);
      this.waiters.push({ re, resolve: () => { clearTimeout(timer); resolve(); } });
      void this.exited.then(() => { if (!re.test(this.out)) { clearTimeout(timer); reject(new Error(`the job exited without printing ${re}; its output ends:\n${this.out.slice(-3000)}`)); } });
    });
  }

  /** GITHUB_OUTPUT, GITHUB_STATE and the summary as the main step left them. */
  files(): { outputs: Record<string, string>; state: Record<string, string>; summary: string } {
    return {
      outputs: parseCommandFile(this.env.GITHUB_OUTPUT),
      state: parseCommandFile(this.env.GITHUB_STATE),
      summary: fs.readFileSync(this.env.GITHUB_STEP_SUMMARY, 'utf8'),
    };
  }

  /** The runner's cancellation: SIGINT, then SIGTERM after `sigintMs`, then SIGKILL after `sigtermMs`. */
  async cancel(sigintMs = 7500, sigtermMs = 2500): Promise<JobEnd & { after: 'SIGINT' | 'SIGTERM' | 'SIGKILL' }> {
    const within = (ms: number) => Promise.race([this.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return { ...(await this.exited), after: 'SIGINT' };
    process.kill(this.pid, 'SIGINT');
    if (await within(sigintMs)) return { ...(await this.exited), after: 'SIGINT' };
    process.kill(this.pid, 'SIGTERM');
    if (await within(sigtermMs)) return { ...(await this.exited), after: 'SIGTERM' };
    process.kill(this.pid, 'SIGKILL');
    return { ...(await this.exited), after: 'SIGKILL' };
  }

  /** Stops the main step's process where it is (SIGSTOP), e.g. in the middle of saving the cache. */
  freeze(): void {
    process.kill(this.pid, 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** The post step, with the STATE_* variables the main step saved. */
  post(): Promise<{ code: number | null; output: string }> {
    const env = { ...this.env, ...(stateEnv(this.env.GITHUB_STATE) as Record<string, string>) };
    return new Promise((resolve) => {
      const p = spawn(NODE, [path.join(ROOT, 'dist', 'post', 'index.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
      p.on('exit', (code) => resolve({ code, output: out }));
    });
  }

  /** This job's processes still alive (found by the marker in their environment), main step included. */
  processes(): { pid: number; args: string }[] {
    return processesWithEnv(`${JOB_MARKER}=${this.id}`);
  }

  /** The action's temp dirs (RUNNER_TEMP/pcb-*) still on disk. */
  tempDirs(): string[] {
    const t = this.env.RUNNER_TEMP;
    return fs.existsSync(t) ? fs.readdirSync(t).filter((n) => n.startsWith('pcb-')).map((n) => path.join(t, n)) : [];
  }

  /** SIGKILLs what is left of this job's processes (a test's own cleanup, never the action's). */
  killLeftovers(): number[] {
    const pids = this.processes().map((p) => p.pid);
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    return pids;
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Processes whose environment holds the exact entry `entry` (NAME=value); needs to read /proc/PID/environ. */
export function processesWithEnv(entry: string): { pid: number; args: string }[] {
  const found: { pid: number; args: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${name}/environ`, 'latin1').split('\0');
      if (!env.includes(entry)) continue;
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'latin1');
      if (/^\d+ \(.*\) Z /.test(stat)) continue; // a zombie waits for its parent; it runs nothing
      found.push({ pid: Number(name), args: fs.readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0').filter((a) => a).join(' ') });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * After a test file: stops what its jobs left running, removes the images and tags they made from
 * the Engine, and the jobs' files.
 */
export async function removeJobs(jobs: Job[]): Promise<void> {
  const images = new Set<string>();
  for (const j of jobs) {
    j.killLeftovers();
    const o = j.files().outputs;
    for (const ref of [o['image-id'], ...(o.tags ?? '').split('\n')]) if (ref) images.add(ref);
    j.remove();
  }
  if (images.size) await cmd('docker', ['image', 'rm', '--force', ...images]);
}

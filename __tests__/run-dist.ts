// Runs the bundled action the way a GitHub runner does: `node dist/main/index.js` with INPUT_*
// variables (hyphens kept) and fresh GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE files,
// then `node dist/post/index.js` with the STATE_* variables the main step saved. PCB_ACTION_NODE
// picks another Node binary (the bundle must run on Node 20 and 24 alike).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// @ts-expect-error plain ESM helper shared with scripts/local-action.mjs
import { inputEnv, parseCommandFile, stateEnv } from '../scripts/gh-files.mjs';
import { ROOT } from './helpers.js';

/** The Node that runs dist/ (PCB_ACTION_NODE, e.g. a Node 24 binary, or the one running the tests). */
export const NODE = process.env.PCB_ACTION_NODE || process.execPath;

const made: string[] = [];
/** Removes every temp dir runMain and dockerShim made. */
export function removeTempDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export interface StepRun { code: number; stdout: string; outputs: Record<string, string>; summary: string; state: Record<string, string>; dir: string; env: Record<string, string> }

function node(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(NODE, [path.join(ROOT, 'dist', script, 'index.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout: out }));
  });
}

/** The main step. extraEnv may replace PATH (docker shims) or anything else. */
export async function runMain(inputs: Record<string, string>, extraEnv: Record<string, string> = {}): Promise<StepRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-step-'));
  made.push(dir);
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_') && !k.startsWith('STATE_'))) as Record<string, string>;
  const env: Record<string, string> = {
    ...base,
    GITHUB_OUTPUT: path.join(dir, 'output'),
    GITHUB_STEP_SUMMARY: path.join(dir, 'summary.md'),
    GITHUB_STATE: path.join(dir, 'state'),
    RUNNER_TEMP: path.join(dir, 'runner-temp'),
    GITHUB_WORKSPACE: ROOT,
    ...extraEnv,
    ...(inputEnv(inputs) as Record<string, string>),
  };
  for (const f of ['output', 'summary.md', 'state']) fs.writeFileSync(path.join(dir, f), '');
  fs.mkdirSync(env.RUNNER_TEMP, { recursive: true });
  const r = await node('main', env);
  return {
    code: r.code, stdout: r.stdout, dir, env,
    outputs: parseCommandFile(env.GITHUB_OUTPUT), summary: fs.readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8'), state: parseCommandFile(env.GITHUB_STATE),
  };
}

/** The post step of a main step run. */
export async function runPost(main: StepRun): Promise<{ code: number; stdout: string }> {
  return node('post', { ...main.env, ...(stateEnv(main.env.GITHUB_STATE) as Record<string, string>) });
}

/** A directory with a `docker` (and `nvidia-smi`) shim that records each call, then runs the real one if given. */
export function dockerShim(realDocker: string | null): { dir: string; calls: () => string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-shim-'));
  made.push(dir);
  const log = path.join(dir, 'calls.log');
  for (const name of ['docker', 'nvidia-smi']) {
    const real = name === 'docker' ? realDocker : null;
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\nprintf '%s %s\\n' ${name} "$*" >> '${log}'\n${real ? `exec '${real}' "$@"` : 'echo "shim: no real ' + name + '" >&2; exit 1'}\n`, { mode: 0o755 });
  }
  return { dir, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l) : []) };
}

// The post step's work: what the main step left behind, removed within a bounded time. It runs after
// every main step, also a failed, cancelled or killed one, with what the main step saved (src/state.ts):
//  1. commands of the run still running (the main step was killed before it could stop them),
//     found by the run's mark in their environment: SIGINT, then SIGKILL after STOP_MS;
//  2. the run's temp dir, and what the run left in a local env cache dir (an unfinished save, and
//     the Engine image a save made when the main step died before the entry was written);
//  3. smoke containers not removed yet: waits up to ENGINE_WAIT_MS for the Docker Engine to
//     answer, then retries the removal for up to REMOVE_MS; a warning names each one left.
import * as fs from 'node:fs';
import * as core from '@actions/core';
import { RUN_MARK } from './cancel.js';
import { QUERY_TIMEOUT_MS, removeContainer, waitForEngine } from './containers.js';
import { removeEngineImage } from './env-cache/engine.js';
import { readEntry, removeLeftoversOf } from './env-cache/local.js';
import { STATE } from './state.js';

export const STOP_MS = 5_000;
export const ENGINE_WAIT_MS = 30_000;
export const REMOVE_MS = 30_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose environment holds NAME=value (needs /proc; none elsewhere). */
export function processesWithEnv(entry: string): { pid: number; args: string }[] {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n) && Number(n) !== process.pid);
  } catch {
    return [];
  }
  const found: { pid: number; args: string }[] = [];
  for (const p of pids) {
    try {
      if (!fs.readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes(entry)) continue;
      if (/^\d+ \(.*\) Z /s.test(fs.readFileSync(`/proc/${p}/stat`, 'latin1'))) continue; // a zombie runs nothing
      found.push({ pid: Number(p), args: fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').split('\0').filter((a) => a).join(' ') });
    } catch {
      // exited meanwhile, or not ours to read
    }
  }
  return found;
}

/** Stops the run's commands that outlived the main step: SIGINT (a build is cancelled in BuildKit), SIGKILL after STOP_MS. */
export async function stopSurvivors(mark: string): Promise<void> {
  const entry = `${RUN_MARK}=${mark}`;
  const survivors = processesWithEnv(entry);
  if (!survivors.length) return;
  core.info(`Stopping what the main step left running: ${survivors.map((p) => `${p.args.slice(0, 80)} (pid ${p.pid})`).join(', ')}`);
  const signal = (sig: NodeJS.Signals) => {
    for (const p of processesWithEnv(entry)) {
      try { process.kill(p.pid, sig); } catch { /* gone */ }
    }
  };
  signal('SIGINT');
  for (let t = 0; t < STOP_MS && processesWithEnv(entry).length; t += 250) await sleep(250);
  signal('SIGKILL');
  for (let t = 0; t < 2000 && processesWithEnv(entry).length; t += 100) await sleep(100);
  const left = processesWithEnv(entry);
  if (left.length) core.warning(`cleanup: these processes of the run did not stop: ${left.map((p) => `${p.args.slice(0, 80)} (pid ${p.pid})`).join(', ')}`);
}

function removeFiles(workDir: string, cacheDir: string, mainPid: number): void {
  if (workDir && fs.existsSync(workDir)) {
    fs.rmSync(workDir, { recursive: true, force: true });
    core.info(`Removed ${workDir}`);
  }
  if (cacheDir && mainPid) {
    const removed = removeLeftoversOf(cacheDir, mainPid);
    if (removed.length) core.info(`env cache: removed what the main step did not finish: ${removed.join(' ')}`);
  }
}

/** The Engine image of a local save the main step did not finish (no entry names it): removed. */
async function removeUnsavedImage(state: string, cacheDir: string): Promise<void> {
  let image: { name?: string; key?: string };
  try {
    image = JSON.parse(state || '{}') as typeof image;
  } catch {
    return;
  }
  if (!image.name || !image.key || !cacheDir || readEntry(cacheDir, image.key)) return;
  if (await removeEngineImage(image.name, QUERY_TIMEOUT_MS)) core.info(`env cache: removed ${image.name}, which the main step made for an entry it did not finish`);
}

/** Removes the smoke containers the main step could not remove; a warning for each one left. */
async function removeContainers(names: string[]): Promise<void> {
  if (!names.length) return;
  if (!(await waitForEngine(ENGINE_WAIT_MS))) {
    core.warning(`cleanup: the Docker Engine did not answer within ${ENGINE_WAIT_MS / 1000} s, so the smoke container${names.length > 1 ? 's' : ''} ${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} left; remove ${names.length > 1 ? 'them' : 'it'} with docker rm --force ${names.join(' ')} once the Engine answers`);
    return;
  }
  for (const name of names) {
    const error = await removeContainer(name, REMOVE_MS);
    if (error === null) core.info(`Removed the smoke container ${name}`);
    else core.warning(`cleanup: could not remove the smoke container ${name} within ${REMOVE_MS / 1000} s: ${error}; remove it with docker rm --force ${name}`);
  }
}

function stateList(name: string): string[] {
  try {
    const v = JSON.parse(core.getState(name) || '[]') as unknown;
    return Array.isArray(v) ? v.filter((n): n is string => typeof n === 'string') : [];
  } catch {
    return [];
  }
}

/** The post step: everything above, in that order (a survivor may still write into the temp dir). */
export async function cleanUp(): Promise<void> {
  const mark = core.getState(STATE.runMark);
  if (/^[0-9a-f]{16}$/.test(mark)) await stopSurvivors(mark);
  removeFiles(core.getState(STATE.workDir), core.getState(STATE.cacheDir), Number(core.getState(STATE.pid)) || 0);
  await removeUnsavedImage(core.getState(STATE.envImage), core.getState(STATE.cacheDir));
  await removeContainers(stateList(STATE.containers).filter((n) => /^pcb-smoke-[\w.-]+$/.test(n)));
}

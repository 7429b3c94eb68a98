// The post step's work (src/cleanup.ts) on this machine's real processes and files; the Docker
// parts run against real Engines in __tests__/e2e/faults-engine.test.ts.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RUN_MARK } from '../src/cancel.js';
import { STOP_MS, cleanUp, processesWithEnv, stopSurvivors } from '../src/cleanup.js';
import { STATE } from '../src/state.js';

const spawned: number[] = [];
afterEach(() => {
  for (const pid of spawned.splice(0)) {
    try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  }
  vi.unstubAllEnvs();
});

/** A process of a "run" (its environment holds the mark), detached like the action's commands. */
function survivor(mark: string, script: string): number {
  const p = spawn('sh', ['-c', script], { env: { ...process.env, [RUN_MARK]: mark }, detached: true, stdio: 'ignore' });
  p.unref();
  spawned.push(p.pid!);
  return p.pid!;
}

describe('stopSurvivors', () => {
  it('stops the processes of one run only: SIGINT first, SIGKILL for those that ignore it', async () => {
    const [mine, theirs] = [crypto.randomBytes(8).toString('hex'), crypto.randomBytes(8).toString('hex')];
    survivor(mine, 'sleep 30');
    survivor(mine, 'trap "" INT; sleep 30');
    const other = survivor(theirs, 'sleep 30');
    await new Promise((r) => setTimeout(r, 300));
    expect(processesWithEnv(`${RUN_MARK}=${mine}`).map((p) => p.args).sort()).toEqual(['sh -c sleep 30', 'sh -c trap "" INT; sleep 30', 'sleep 30', 'sleep 30']);
    const t0 = Date.now();
    await stopSurvivors(mine);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(STOP_MS - 500); // one ignored SIGINT
    expect(Date.now() - t0).toBeLessThan(STOP_MS + 3000);
    expect(processesWithEnv(`${RUN_MARK}=${mine}`)).toEqual([]);
    expect(processesWithEnv(`${RUN_MARK}=${theirs}`).map((p) => p.pid)).toContain(other);
  }, 15_000);
});

describe('cleanUp (the post step)', () => {
  it('removes the temp dir and what a dead main step left in the local cache dir; nothing else', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-cleanup-'));
    const work = path.join(tmp, 'pcb-work');
    const cache = path.join(tmp, 'cache');
    fs.mkdirSync(path.join(work, 'report'), { recursive: true });
    const dead = 2 ** 22 + 12345; // above the default pid_max: no process has it
    for (const d of [`layers/new-${dead}.0a1b2c`, `layers/new-1.0a1b2c`, 'layers/current', `tmp/key-v1.${dead}.ffee00`, 'entries/key-v1']) fs.mkdirSync(path.join(cache, d), { recursive: true });
    vi.stubEnv(`STATE_${STATE.workDir}`, work);
    vi.stubEnv(`STATE_${STATE.cacheDir}`, cache);
    vi.stubEnv(`STATE_${STATE.pid}`, String(dead));
    vi.stubEnv(`STATE_${STATE.containers}`, '[]');
    await cleanUp();
    expect(fs.existsSync(work)).toBe(false);
    expect(fs.readdirSync(path.join(cache, 'layers')).sort()).toEqual(['current', 'new-1.0a1b2c']);
    expect(fs.readdirSync(path.join(cache, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(cache, 'entries'))).toEqual(['key-v1']);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
});

// src/containers.ts against a STAND-IN `docker` on PATH (a shell script) that answers the way a busy,
// a gone or a frozen daemon does; the real daemons are in __tests__/e2e/faults-engine.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerState, engineAnswers, removeContainer, waitForEngine } from '../src/containers.js';

let dir: string;
let oldPath: string | undefined;
const calls = () => (fs.existsSync(path.join(dir, 'calls')) ? fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n') : []);

/** A stand-in docker whose body is `script` (sh), with $n the number of this call (1, 2, ...). */
function standIn(script: string): void {
  fs.writeFileSync(path.join(dir, 'docker'), `#!/bin/sh
echo "$*" >> '${dir}/calls'
n=$(wc -l < '${dir}/calls')
${script}
`, { mode: 0o755 });
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-containers-'));
  oldPath = process.env.PATH;
  process.env.PATH = `${dir}:${oldPath}`;
});
afterEach(() => {
  process.env.PATH = oldPath;
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('removeContainer', () => {
  it('retries while the daemon refuses, and returns null once it is gone', async () => {
    standIn('[ "$n" -le 2 ] && { echo "Error response from daemon: removal of container c1 is already in progress" >&2; exit 1; }; exit 0');
    expect(await removeContainer('c1', 10_000)).toBeNull();
    expect(calls()).toEqual(['rm --force --volumes c1', 'rm --force --volumes c1', 'rm --force --volumes c1']);
  });
  it('a container that does not exist counts as removed', async () => {
    standIn('echo "Error: No such container: c2" >&2; exit 1');
    expect(await removeContainer('c2', 10_000)).toBeNull();
    expect(calls()).toHaveLength(1);
  });
  it('gives up after withinMs with the daemon\'s last answer', async () => {
    standIn('echo "Error response from daemon: driver \\"overlay2\\" failed to remove root filesystem: operation not permitted ($n)" >&2; exit 1');
    const t0 = Date.now();
    const error = await removeContainer('c3', 2000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(Date.now() - t0).toBeLessThan(4000);
    expect(error).toMatch(/^Error response from daemon: driver "overlay2" failed to remove root filesystem: operation not permitted \(\d\)$/);
    expect(calls().length).toBeGreaterThanOrEqual(3); // 0 s, 0.5 s, 1.5 s
  });
  it('a daemon that never answers costs at most the bound', async () => {
    standIn('exec sleep 60');
    const t0 = Date.now();
    expect(await removeContainer('c4', 1500)).toMatch(/^docker rm did not finish within 1(\.\d+)? s and was killed$/);
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});

describe('engineAnswers / waitForEngine', () => {
  it('a frozen daemon does not answer, within the timeout', async () => {
    standIn('exec sleep 60');
    const t0 = Date.now();
    expect(await engineAnswers(500)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(3000);
  });
  it('waits for a daemon that comes back', async () => {
    standIn('[ "$n" -le 2 ] && { echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1; }; echo 20.10.24');
    expect(await waitForEngine(10_000)).toBe(true);
    expect(calls()).toHaveLength(3);
  });
  it('gives up on one that does not', async () => {
    standIn('echo "Cannot connect to the Docker daemon" >&2; exit 1');
    const t0 = Date.now();
    expect(await waitForEngine(2500)).toBe(false);
    expect(Date.now() - t0).toBeLessThan(4500);
  });
});

describe('containerState', () => {
  it('reads the state docker inspect prints, OOM kill included', async () => {
    standIn('echo \'{"Status":"exited","Running":false,"OOMKilled":true,"Dead":false,"Pid":0,"ExitCode":137,"Error":""}\'');
    expect(await containerState('c5')).toEqual({ status: 'exited', exitCode: 137, oomKilled: true, error: '' });
  });
  it('null when the daemon says nothing useful', async () => {
    standIn('echo "Error: No such container: c6" >&2; exit 1');
    expect(await containerState('c6')).toBeNull();
  });
});

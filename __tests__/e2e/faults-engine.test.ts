// Faults of the Docker Engine under a job, injected into the bundled action (dist/) run as the
// runner runs it: the Engine stopped (SIGTERM) or crashed (SIGKILL) during the smoke run, the
// Engine frozen during the post step (a private dockerd of the test's own, faults/private-dockerd.ts),
// and a smoke container the shared Engine cannot remove. Each test adds its row to the fault table
// (faults/table.ts). Skipped unless PCB_E2E=1.
//
// STAND-INS: the fixture project (busybox) whose smoke run hangs or sleeps, so that a fault can
// land inside it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, lost, sleep, uniqueTag, until } from './faults/checks.js';
import { cmd, pinContainer, smokeContainersUnder } from './faults/host.js';
import { Job } from './faults/job.js';
import { PrivateDockerd } from './faults/private-dockerd.js';
import { outcomeOf, recordFault, warningLines } from './faults/table.js';
import { FIXTURE } from '../helpers.js';
import { BASE, BUILDER, E2E } from './services.js';

const RUN = uniqueTag();
// the post step's bounds (src/post.ts): ENGINE_WAIT_MS, REMOVE_MS
const ENGINE_WAIT_S = 30;
const REMOVE_S = 30;

describe.skipIf(!E2E)('faults: the Docker Engine under a job (real dockerd, buildx, BuildKit, registry)', () => {
  const jobs: Job[] = [];
  let engine: PrivateDockerd;
  const inputs = (over: Record<string, string> = {}) => ({
    context: FIXTURE, builder: BUILDER, 'base-image': BASE, gpu: 'false', 'torch-cuda-arch-list': '9.0', 'max-jobs': '1',
    'smoke-timeout': '300', 'cache-backend': 'none', ...over,
  });
  const start = (i: Record<string, string>, env: Record<string, string> = {}) => {
    const j = new Job(i, { GITHUB_RUN_ID: `flt${RUN}`, ...env });
    jobs.push(j);
    return j;
  };
  const running = async (job: Job, env?: NodeJS.ProcessEnv) => {
    await job.waitFor(/\[command\] docker run (?:--rm )?--name pcb-smoke-/);
    let name = '';
    await until('the smoke container to run', async () => {
      name = (await smokeContainersUnder(job.env.RUNNER_TEMP, env)).find((c) => c.state === 'running')?.name ?? '';
      return name !== '';
    });
    return name;
  };

  beforeAll(async () => { engine = await PrivateDockerd.start('flt-e2e'); });
  afterAll(async () => {
    for (const j of jobs) {
      j.killLeftovers();
      j.remove();
    }
    await engine?.dispose();
  });

  it('the Engine stops (SIGTERM) during the smoke run: one line with a hint; the post step cleans up once it is back', async () => {
    const env = engine.env();
    const job = start(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=hang' }), { DOCKER_HOST: engine.host });
    const name = await running(job, env);
    const t0 = Date.now();
    await engine.down('SIGTERM');
    const end = await job.exited;
    const seconds = (Date.now() - t0) / 1000;
    // the post step starts while the Engine is still down; it comes back 3 s later
    const post = job.post();
    await sleep(3000);
    await engine.up();
    const p = await post;
    const left = await leftovers(job, { env });
    const { outcome, line } = outcomeOf(end.code, job.output, [/^smoke tests: /, /Docker Engine stopped answering during the smoke run/, /Hint: /]);
    recordFault({ fault: 'Engine stopped during the smoke run', injected: 'SIGTERM to dockerd (a clean stop: it kills the container), started again 3 s into the post step', times: 1, outcome, line, lost: lost(job, ['image-id', 'plan']), left, seconds });
    expect(outcome, job.output.slice(-2000)).toBe('failed clearly');
    expect(p.code, p.output).toBe(0);
    expect(p.output).toContain(`Removed the smoke container ${name}`);
    expect(warningLines(p.output)).toEqual([]);
    expect(left).toEqual([]);
  });

  it('the Engine crashes (SIGKILL) during the smoke run and is frozen during the post step: the post step ends in its bound and names the container', async () => {
    const env = engine.env();
    const job = start(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=hang' }), { DOCKER_HOST: engine.host });
    const name = await running(job, env);
    const t0 = Date.now();
    await engine.down('SIGKILL');
    const end = await job.exited;
    const seconds = (Date.now() - t0) / 1000;
    await engine.up();
    engine.freeze();
    const p0 = Date.now();
    const p = await job.post();
    const postSeconds = (Date.now() - p0) / 1000;
    engine.thaw();
    const warned = warningLines(p.output);
    // what the warning says holds: the container is there, and a post step with the Engine answering removes it
    const there = (await smokeContainersUnder(job.env.RUNNER_TEMP, env)).map((c) => c.name);
    const again = await job.post();
    const left = await leftovers(job, { env });
    const { outcome, line } = outcomeOf(end.code, job.output, [/^smoke tests: /, /Docker Engine stopped answering during the smoke run/, /Hint: /]);
    recordFault({ fault: 'Engine crashed during the smoke run', injected: 'SIGKILL to dockerd during the smoke run', times: 1, outcome, line, lost: lost(job, ['image-id', 'plan']), left, seconds });
    const bounded = p.code === 0 && warned.length === 1 && warned[0].includes(name) && postSeconds < ENGINE_WAIT_S + 15;
    recordFault({ fault: 'Engine frozen during the post step', injected: 'SIGSTOP to dockerd (accepts connections, never answers) for the whole post step', times: 1, outcome: bounded ? `post step ended in ${postSeconds.toFixed(0)} s with one warning` : `post step exit ${p.code} after ${postSeconds.toFixed(0)} s, ${warned.length} warnings`, line: warned[0] ?? '', lost: [], left: there.map((n) => `container ${n} (named in the warning; removed by the next post step once the Engine answered)`), seconds: postSeconds, handled: bounded && again.output.includes(`Removed the smoke container ${name}`) });
    expect(outcome, job.output.slice(-2000)).toBe('failed clearly');
    expect(p.code, p.output).toBe(0);
    expect(postSeconds).toBeLessThan(ENGINE_WAIT_S + 15);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(`did not answer within ${ENGINE_WAIT_S} s`);
    expect(warned[0]).toContain(name);
    expect(there).toEqual([name]);
    expect(again.output).toContain(`Removed the smoke container ${name}`);
    expect(left).toEqual([]);
  });

  it('the smoke container cannot be removed: bounded retries, then a warning that names it and the daemon\'s error', async () => {
    const job = start(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=slow8' }));
    const name = await running(job);
    const unpin = await pinContainer(name);
    try {
      const end = await job.exited;
      const p0 = Date.now();
      const p = await job.post();
      const postSeconds = (Date.now() - p0) / 1000;
      const warned = warningLines(p.output);
      const attempts = (job.output + p.output).split('\n').filter((l) => l.startsWith(`[command] docker rm --force --volumes ${name}`)).length;
      const left = await leftovers(job);
      const gone = lost(job, ['image-id', 'smoke-passed', 'versions']);
      const onlyIt = left.every((l) => l.startsWith(`container ${name}`));
      recordFault({ fault: 'smoke container cannot be removed', injected: 'a file of the container\'s writable layer made immutable (chattr +i) while it ran: every docker rm fails', times: attempts, outcome: end.code === 0 && warned.length === 1 ? `survived (the image passed); post step gave up after ${postSeconds.toFixed(0)} s with one warning` : `exit ${end.code}, ${warned.length} warnings`, line: warned[0] ?? '', lost: gone, left: left.map((l) => (l.startsWith('container ') ? `${l}, named in the warning` : l)), seconds: postSeconds, handled: end.code === 0 && warned.length === 1 && warned[0].includes(name) && onlyIt && !gone.length && postSeconds < REMOVE_S + 15 });
      expect(end.code, job.output.slice(-2000)).toBe(0);
      expect(job.files().outputs['smoke-passed']).toBe('true');
      expect(warningLines(job.output).filter((l) => l.includes(name)), 'the main step leaves it to the post step without a warning').toEqual([]);
      expect(p.code, p.output).toBe(0);
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain(`could not remove the smoke container ${name} within ${REMOVE_S} s`);
      expect(warned[0]).toMatch(/failed to remove root filesystem|operation not permitted|marked for removal|removal .* in progress/i);
      expect(attempts).toBeGreaterThan(3);
      expect(postSeconds).toBeLessThan(REMOVE_S + 15);
      expect(left.filter((l) => !l.startsWith(`container ${name}`))).toEqual([]);
    } finally {
      await unpin();
      await cmd('docker', ['rm', '--force', name]);
    }
    expect((await smokeContainersUnder(job.env.RUNNER_TEMP)).map((c) => c.name)).toEqual([]);
  });
});

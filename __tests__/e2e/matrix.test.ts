// End to end, the runner setups of the README: the bundled action with default inputs (plus a push
// to the test registry) on real Docker Engines with their default builder, each Engine in a network
// namespace of its own (.ci/engines.sh). Skipped unless PCB_E2E=1. Stand-ins: see engines.ts
// (nvidia-smi, the nvidia hook, the offline tool cache) and action.test.ts (the fixture project).
import * as crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE } from '../helpers.js';
import { removeTempDirs } from '../run-dist.js';
import { EngineRunner, matrixEngine, servedDigest } from './engines.js';

const E2E = process.env.PCB_E2E === '1';
const REGISTRY = process.env.PCB_REGISTRY ?? '127.0.0.1:5000';
const RUN = crypto.randomBytes(3).toString('hex');

afterAll(() => removeTempDirs());

describe.skipIf(!E2E)('Engine with the containerd image store, docker driver (26-containerd)', () => {
  let runner: EngineRunner;
  beforeAll(() => { runner = new EngineRunner(matrixEngine('26-containerd')); });
  afterAll(() => runner?.cleanup());

  it('is the setup this row describes: Engine 23 or later, containerd image store, docker driver', () => {
    const f = runner.facts();
    expect(f.major, f.version).toBeGreaterThanOrEqual(23);
    expect(f.store).toBe('containerd');
    expect(f.builderDriver).toBe('docker');
  });

  it('default inputs build, test on the GPU, push the tested image; a second run restores the env from the cache', async () => {
    const tag = `${REGISTRY}/pcb-e2e-matrix/26-containerd:${RUN}`;
    const inputs = { context: FIXTURE, tags: tag, push: 'true', 'cache-dir': runner.cacheDir };
    const hookBefore = runner.hookCalls();

    const first = await runner.run(inputs);
    expect(first.main.code, first.main.stdout).toBe(0);
    expect(first.post.code, first.post.stdout).toBe(0);
    const o = first.main.outputs;
    expect(o['smoke-passed']).toBe('true');
    expect(o['gpu-name']).toBe('Stand-in GPU');
    expect(runner.hookCalls(), 'the smoke container went through the Engine\'s --gpus path').toBe(hookBefore + 1);
    expect(o['cache-hit']).toBe('false');
    expect(o.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(await servedDigest(tag)).toBe(o.digest);
    expect(first.main.summary).toContain(`| Pushed digest | \`${o.digest}\` |`);
    expect(first.main.summary).toContain('Docker 26.');
    expect(runner.smokeContainers()).toEqual([]);

    const second = await runner.run({ ...inputs, tags: `${tag}-again` });
    expect(second.main.code, second.main.stdout).toBe(0);
    expect(second.main.outputs['cache-hit']).toBe('true');
    expect(second.main.outputs['cache-key']).toBe(o['cache-key']);
    expect(await servedDigest(`${tag}-again`)).toBe(second.main.outputs.digest);
  });
});

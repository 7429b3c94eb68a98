// The action's bundle (dist/main + dist/post) run like a runner runs it, with the env cache's
// `local` backend, on the action's fixture project whose env stages use the real
// docker/create-env.sh. Real Docker Engine, buildx and BuildKit (services of .ci/setup; skipped
// unless PCB_E2E=1), on a private buildkitd that the test wipes between runs.
//
// STAND-IN: no conda channel is reachable here, so the Miniforge installer in the fixture's
// miniforge stage is a stand-in whose `mamba env create` prints "PCB-STANDIN-MAMBA" into the build
// log and makes the env from the environment file without downloading anything.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGE, E2E, PrivateBuilder, makeActionContext, runAction, sh, type ActionRun } from './e2e-helpers.js';

const MARKER = 'PCB-STANDIN-MAMBA: solving and creating env';
const haveDist = fs.existsSync(path.join(__dirname, '../../dist/main/index.js'));

describe.skipIf(!E2E || !haveDist)('the action with cache-backend: local (dist/, like a runner)', () => {
  let tmp: string;
  let ctx: string;
  let builder: PrivateBuilder;
  let cacheDir: string;
  const inputs = () => ({
    context: ctx,
    builder: builder.name,
    'base-image': BASE_IMAGE,
    'cache-backend': 'local',
    'cache-dir': cacheDir,
    'miniforge-version': '0.0.1-standin',
    'smoke-tests': 'false',
    gpu: 'false',
    'max-jobs': '1',
    'torch-cuda-arch-list': '9.0',
  });
  const images: string[] = [];
  /** The env's lock as the image has it (written by create-env.sh when the env was made). */
  const lockIn = (r: ActionRun) => {
    const id = r.outputs['image-id'];
    expect(id, r.log.slice(-3000)).toBeTruthy();
    images.push(id);
    const out = sh('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'cat', id, '/opt/conda/pcb-env.lock']);
    expect(out.code, out.out).toBe(0);
    return out.out;
  };
  const record = (key: string) => JSON.parse(fs.readFileSync(path.join(cacheDir, 'entries', `${key}.json`), 'utf8')) as { target: { digest: string } };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-envcache-action-'));
    ctx = makeActionContext(path.join(tmp, 'ctx'));
    cacheDir = path.join(tmp, 'cache');
    builder = new PrivateBuilder('action');
    await builder.start();
  }, 120_000);
  afterAll(async () => {
    for (const id of images) sh('docker', ['rmi', '-f', id]);
    await builder?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  let first: ActionRun;
  it('run 1 on a cold builder creates the env and saves it', async () => {
    first = await runAction(inputs(), path.join(tmp, 'run1'));
    expect(first.code, first.log.slice(-4000)).toBe(0);
    expect(first.outputs['cache-hit']).toBe('false');
    expect(first.outputs['cache-key']).toMatch(/^pointcept-env-v2-linux-amd64-[0-9a-f]{64}$/);
    expect(first.outputs['cache-matched-key'] ?? '').toBe('');
    expect(first.log).toContain(MARKER);
    expect(lockIn(first)).toMatch(/^@EXPLICIT$/m);
    expect(record(first.outputs['cache-key']).target.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(fs.readdirSync(path.join(cacheDir, 'tmp'))).toEqual([]);
  }, 600_000);

  it('run 2 on a wiped builder restores it: the entry replaces the conda-env stage, which creates nothing', async () => {
    await builder.wipe();
    const second = await runAction(inputs(), path.join(tmp, 'run2'));
    expect(second.code, second.log.slice(-4000)).toBe(0);
    expect(second.outputs['cache-hit']).toBe('true');
    expect(second.outputs['cache-key']).toBe(first.outputs['cache-key']);
    expect(second.outputs['cache-matched-key']).toBe(first.outputs['cache-key']);
    expect(second.log).not.toContain(MARKER);
    expect(second.log).toMatch(new RegExp(`--build-context conda-env=oci-layout://\\S+@${record(first.outputs['cache-key']).target.digest}`));
    expect(lockIn(second)).toBe(lockIn(first));
  }, 600_000);

  it('run 2b with lock-file (the lock run 1 wrote) installs exactly that lock, with no solve', async () => {
    const lock = lockIn(first);
    expect(lock).toMatch(/^@EXPLICIT$/m);
    const lockFile = path.join(ctx, 'environment.lock');
    fs.writeFileSync(lockFile, lock);
    const r = await runAction({ ...inputs(), 'lock-file': lockFile }, path.join(tmp, 'run2b'));
    fs.rmSync(lockFile);
    expect(r.code, r.log.slice(-4000)).toBe(0);
    expect(r.outputs['cache-hit']).toBe('false');
    expect(r.outputs['cache-key']).not.toBe(first.outputs['cache-key']); // the key hashes the lock
    expect(r.log).toContain('create-env: installing the explicit lock (no solve)');
    expect(r.log).not.toContain(MARKER);
    // the env made from the lock has the same lock
    expect(lockIn(r)).toBe(lock);
  }, 600_000);

  it('run 3 with a changed pin misses', async () => {
    const env = path.join(ctx, 'environment.yml');
    fs.writeFileSync(env, fs.readFileSync(env, 'utf8').replace(/python=3\.11\b/, 'python=3.11.8'));
    const third = await runAction(inputs(), path.join(tmp, 'run3'));
    expect(third.code, third.log.slice(-4000)).toBe(0);
    expect(third.outputs['cache-hit']).toBe('false');
    expect(third.outputs['cache-key']).not.toBe(first.outputs['cache-key']);
    expect(third.log).toContain(MARKER);
    expect(lockIn(third)).toContain('python-3.11.8');
  }, 600_000);
});

// End to end: the bundled action (dist/) run as a runner runs it, against the real Docker Engine,
// buildx with the `remote` driver to a real buildkitd, and a real registry on 127.0.0.1:5000, all
// started by .ci/setup. Skipped unless PCB_E2E=1.
//
// STAND-INS (named here as the tests rely on them):
// - dockerd finds a stand-in `nvidia-container-runtime-hook` on its PATH in place of the NVIDIA
//   Container Toolkit (no GPU on the test machines): `--gpus all` takes dockerd's real GPU path and
//   the stand-in records each call in $PCB_GPU_HOOK_LOG, but exposes no device.
// - the fixture project (__tests__/fixtures/project) is busybox-based: its "conda env" and
//   "python" are stand-ins, and its smoke script writes the real report schema; the build-arg
//   PCB_FIXTURE_SMOKE makes it pass, fail a required check, crash or hang.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE } from '../helpers.js';
import { dockerShim, removeTempDirs, runMain, runPost, type StepRun } from '../run-dist.js';

const E2E = process.env.PCB_E2E === '1';
const REGISTRY = process.env.PCB_REGISTRY ?? '127.0.0.1:5000';
const BUILDER = process.env.PCB_BUILDER ?? 'pcb-remote';
const BASE = process.env.PCB_BASE_IMAGE ?? `${REGISTRY}/pcb-base:busybox`;
const HOOK_LOG = process.env.PCB_GPU_HOOK_LOG ?? '';
const RUN = crypto.randomBytes(3).toString('hex');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-e2e-cache-'));

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const smokeContainers = () => docker('ps', '--all', '--quiet', '--filter', 'name=pcb-smoke-');

function inputs(over: Record<string, string> = {}): Record<string, string> {
  return {
    context: FIXTURE, builder: BUILDER, 'base-image': BASE, gpu: 'true', 'torch-cuda-arch-list': '9.0',
    'max-jobs': '1', 'smoke-timeout': '120', 'cache-backend': 'none', ...over,
  };
}

/** The manifest digest the registry serves for repo:tag (HEAD, Docker-Content-Digest), or null on 404. */
async function registryDigest(repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${REGISTRY}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ') },
  });
  if (res.status === 404) return null;
  expect(res.status).toBe(200);
  return res.headers.get('docker-content-digest');
}

const hookLines = () => (HOOK_LOG && fs.existsSync(HOOK_LOG) ? fs.readFileSync(HOOK_LOG, 'utf8').split('\n').filter((l) => l) : []);

describe.skipIf(!E2E)('the action end to end (real dockerd, buildx, BuildKit, registry)', () => {
  const posted: StepRun[] = [];
  afterAll(async () => {
    // the images these runs loaded into dockerd (the registry keeps what was pushed)
    const images = [...new Set(posted.flatMap((r) => [...(r.outputs.tags ? r.outputs.tags.split('\n') : []), r.outputs['image-id']]).filter((x) => x))];
    if (images.length) {
      try { execFileSync('docker', ['image', 'rm', '--force', ...images], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
    removeTempDirs();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });
  async function mainAndPost(i: Record<string, string>, check?: (r: StepRun) => void): Promise<StepRun> {
    const r = await runMain(i);
    check?.(r);
    const post = await runPost(r);
    expect(post.code, post.stdout).toBe(0);
    posted.push(r);
    expect(smokeContainers(), 'no smoke container is left behind').toBe('');
    if (r.state['pcb-work-dir']) expect(fs.existsSync(r.state['pcb-work-dir']), 'the post step removed the temp dir').toBe(false);
    return r;
  }

  it('a bad input fails before any docker command runs (docker shim in front of the real one)', async () => {
    const shim = dockerShim(execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim());
    const r = await runMain(inputs({ 'max-jobs': 'lots', tags: `${REGISTRY}/pcb-e2e/bad:${RUN}`, push: 'true' }), { PATH: `${shim.dir}:${process.env.PATH}` });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('::error::Input "max-jobs": "lots" is not accepted');
    expect(shim.calls()).toEqual([]);
    expect(await registryDigest('pcb-e2e/bad', RUN)).toBeNull();
  });

  it('builds, runs the smoke tests through --gpus all, pushes the tested image and reports it', async () => {
    const repo = 'pcb-e2e/fixture';
    const tag = `${REGISTRY}/${repo}:${RUN}`;
    const note = 'a;b $(touch /tmp/pcb-pwned) `id` | x';
    const hookBefore = hookLines().length;
    let lockLabel = '';
    const secret = 'pcb-fixture-secret-value-1';
    const r = await mainAndPost(inputs({ tags: tag, push: 'true', 'build-args': `PCB_FIXTURE_NOTE=${note}\nPCB_FIXTURE_SMOKE=pass`, labels: 'org.example.run=e2e', secrets: `pcb_fixture_secret=${secret}` }), (m) => {
      // before the post step: the lock file output still exists
      expect(m.code, m.stdout).toBe(0);
      expect(fs.readFileSync(m.outputs['lock-file'], 'utf8')).toContain('@EXPLICIT');
      lockLabel = crypto.createHash('sha256').update(fs.readFileSync(m.outputs['lock-file'])).digest('hex');
    });
    const o = r.outputs;
    expect(o['smoke-passed']).toBe('true');
    expect(o['torch-version']).toBe('2.5.0');
    expect(o['cuda-version']).toBe('12.4');
    expect(o['flash-attn-version']).toBe('');
    expect(o['gpu-name']).toBe('Stand-in GPU');
    expect(JSON.parse(o.versions).env_name).toBe('pointcept-fixture');
    expect(o['image-id']).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(o.tags).toBe(tag);
    expect(Number(o['build-seconds'])).toBeGreaterThan(0);
    expect(o['cache-key']).toMatch(/^pointcept-env-/);
    // the pushed digest is the registry's
    const served = await registryDigest(repo, RUN);
    expect(served).toMatch(/^sha256:/);
    expect(o.digest).toBe(served);
    // the very image that passed: the pushed tag's local image is the smoke-tested image id
    expect(docker('image', 'inspect', '--format', '{{.Id}}', tag)).toBe(o['image-id']);
    // build-args and labels arrive as data
    expect(docker('image', 'inspect', '--format', '{{ index .Config.Labels "org.pointcept.fixture.note" }}', o['image-id'])).toBe(note);
    expect(docker('image', 'inspect', '--format', '{{ index .Config.Labels "org.example.run" }}', o['image-id'])).toBe('e2e');
    expect(docker('image', 'inspect', '--format', '{{ index .Config.Labels "org.pointcept.env.lock.sha256" }}', o['image-id'])).toBe(lockLabel);
    expect(fs.existsSync('/tmp/pcb-pwned')).toBe(false);
    // the build secret reached the RUN step, and no log, output or summary shows it
    expect(docker('run', '--rm', '--network', 'none', o['image-id'], 'cat', '/opt/pointcept/fixture-secret.sha256')).toBe(crypto.createHash('sha256').update(secret).digest('hex'));
    expect(r.stdout).toContain(`::add-mask::${secret}`);
    expect(r.stdout.split(`::add-mask::${secret}`).join('')).not.toContain(secret);
    expect(r.summary).not.toContain(secret);
    expect(JSON.stringify(r.outputs)).not.toContain(secret);
    // --gpus all reached dockerd's GPU path (the stand-in hook was called for the smoke container)
    if (HOOK_LOG) {
      const added = hookLines().slice(hookBefore);
      expect(added.some((l) => /NVIDIA_VISIBLE_DEVICES=all/.test(l)), added.join('\n')).toBe(true);
    }
    // the summary
    expect(r.summary).toContain('## Pointcept image ✅ built and tested');
    expect(r.summary).toContain(`| Pushed digest | \`${served}\` |`);
    expect(r.summary).toContain('| torch | `2.5.0` |');
    expect(r.summary).toContain('| pointops-gpu | ✅ pass | yes |');
    expect(r.summary).toContain('| open3d | ❌ fail | no |');
    expect(r.summary).toMatch(/\| conda-env \| [\d.]+ \| \d+ \| \d+ \|/);
    expect(r.summary).toContain('**GPU:** Stand-in GPU');
  });

  it('a failing smoke run fails the step, sets the known outputs and pushes nothing', async () => {
    const r = await mainAndPost(inputs({ tags: `${REGISTRY}/pcb-e2e/failing:${RUN}`, push: 'true', 'build-args': 'PCB_FIXTURE_SMOKE=fail' }));
    expect(r.code).toBe(1);
    expect(r.outputs['smoke-passed']).toBe('false');
    expect(r.outputs['image-id']).toMatch(/^sha256:/);
    expect(r.outputs['torch-version']).toBe('2.5.0');
    expect(r.outputs.error).toContain('pointops-gpu');
    expect(r.outputs.error).toContain('torch-cuda-arch-list'); // the hint for "no kernel image"
    expect(r.stdout).toMatch(/::error::smoke tests: Smoke check failed: pointops-gpu/);
    expect(await registryDigest('pcb-e2e/failing', RUN)).toBeNull();
    expect(r.summary).toContain('## Pointcept image ❌ failed');
    expect(r.summary).toContain('| pointops-gpu | ❌ fail | yes |');
    expect(r.summary).toContain('nothing was pushed');
  });

  it('a crashing smoke run fails with the output tail', async () => {
    const r = await mainAndPost(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=crash' }));
    expect(r.code).toBe(1);
    expect(r.outputs['smoke-passed']).toBe('false');
    expect(r.outputs.error).toContain('wrote no report (exit code 139)');
    expect(r.summary).toContain('Segmentation fault');
  });

  it('a hanging smoke run is killed at smoke-timeout and its container removed', async () => {
    const r = await runMain(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=hang', 'smoke-timeout': '5s' }));
    expect(r.code).toBe(1);
    expect(smokeContainers(), 'removed by the main step itself').toBe('');
    expect(r.outputs['smoke-passed']).toBe('false');
    expect(r.outputs.error).toContain('timed out');
    expect(r.outputs.error).toContain('smoke-timeout');
    expect((await runPost(r)).code).toBe(0);
    posted.push(r);
  });

  it('the post step removes a smoke container the main step left (recorded in the state)', async () => {
    const r = await runMain(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=pass', 'smoke-tests': 'true' }));
    expect(r.code, r.stdout).toBe(0);
    const name = JSON.parse(r.state['pcb-containers'])[0] as string;
    docker('run', '--detach', '--name', name, '--network', 'none', r.outputs['image-id'], 'sleep', '300');
    expect(smokeContainers()).not.toBe('');
    expect((await runPost(r)).code).toBe(0);
    posted.push(r);
    expect(smokeContainers()).toBe('');
  });

  it('with the local env cache, a second run restores the env (cache-hit) and builds the same lock', async () => {
    const i = inputs({ 'cache-backend': 'local', 'cache-dir': cacheDir, 'cache-key-prefix': `pcb-e2e-${RUN}`, 'smoke-tests': 'false', gpu: 'false' });
    const first = await mainAndPost(i, (m) => expect(m.code, m.stdout).toBe(0));
    expect(first.outputs['cache-hit']).toBe('false');
    const second = await mainAndPost(i, (m) => expect(m.code, m.stdout).toBe(0));
    expect(second.outputs['cache-hit']).toBe('true');
    expect(second.outputs['cache-key']).toBe(first.outputs['cache-key']);
    expect(second.outputs['cache-matched-key']).toBe(first.outputs['cache-key']);
    expect(second.summary).toContain('| Env cache (local) | hit');
  });
});

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
// - the GPU gate's runner has a stand-in `nvidia-smi` first on PATH that fails the way it does when
//   the NVIDIA driver is broken (the test machines have no GPU and no nvidia-smi at all).
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE } from '../helpers.js';
import { dockerShim, removeTempDirs, runMain, runPost, type StepRun } from '../run-dist.js';
import { BASE, BUILDER, E2E, REGISTRY } from './services.js';

const HOOK_LOG = process.env.PCB_GPU_HOOK_LOG ?? '';
const RUN = crypto.randomBytes(3).toString('hex');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-e2e-cache-'));

// this file's runs name their smoke containers pcb-smoke-e2e<RUN>-... (the Engine is shared with other suites)
process.env.GITHUB_RUN_ID = `e2e${RUN}`;
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const smokeContainers = () => docker('ps', '--all', '--quiet', '--filter', `name=pcb-smoke-e2e${RUN}-`);

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
    // the very image that passed: the remote builder pushed it by digest, the smoke run tested the
    // pulled digest, and that is what the tag points at (release.test.ts checks the manifests)
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${REGISTRY}/${repo}@${o.digest}`)).toBe(o['image-id']);
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
    // the GPU checks ran, and the outputs say so
    expect(o['gpu-checks-ran']).toBe('true');
    expect(o['preflight-ok']).toBe('true');
    expect(o.labels.split('\n')).toEqual(['org.example.run=e2e', `org.pointcept.env.lock.sha256=${lockLabel}`]);
    expect(JSON.parse(o.plan).tags).toEqual([tag]);
    // the summary
    expect(r.summary).toContain('<h2>Pointcept image ✅ built and tested on Stand-in GPU</h2>');
    expect(r.summary).toContain(`<tr><th>Pushed digest</th><td><code>${served}</code></td></tr>`);
    expect(r.summary).toContain('<tr><td>torch</td><td><code>2.5.0</code></td></tr>');
    expect(r.summary).toContain('<p>3 checks, 2 required: 1 optional failed</p>');
    expect(r.summary).toContain('<tr><td>pointops-gpu</td><td>✅ pass</td><td>yes</td>');
    expect(r.summary).toContain('<tr><td>open3d</td><td>⚠️ fail</td><td>no</td>');
    expect(r.summary).toMatch(/<tr><td>conda-env<\/td><td>[\d.]+<\/td><td>\d+<\/td><td>\d+<\/td><\/tr>/);
    expect(r.summary).toContain('<b>GPU:</b> Stand-in GPU');
  });

  it('a failing smoke run fails the step, sets the known outputs and moves no tag', async () => {
    const r = await mainAndPost(inputs({ tags: `${REGISTRY}/pcb-e2e/failing:${RUN}`, push: 'true', 'build-args': 'PCB_FIXTURE_SMOKE=fail' }));
    expect(r.code).toBe(1);
    expect(r.outputs['smoke-passed']).toBe('false');
    expect(r.outputs['image-id']).toMatch(/^sha256:/);
    expect(r.outputs['torch-version']).toBe('2.5.0');
    expect(r.outputs.error).toContain('pointops-gpu');
    expect(r.outputs.error).toContain('torch-cuda-arch-list'); // the hint for "no kernel image"
    expect(r.stdout).toMatch(/::error::smoke tests: Smoke check failed: pointops-gpu/);
    expect(await registryDigest('pcb-e2e/failing', RUN)).toBeNull();
    expect(r.summary).toContain('<h2>Pointcept image ❌ failed at smoke tests</h2>');
    // the failed required check comes first, before the optional one that failed
    expect(r.summary).toMatch(/<tr><td>pointops-gpu<\/td><td>❌ fail<\/td><td>yes<\/td>.*<tr><td>open3d<\/td><td>⚠️ fail<\/td>/s);
    // the remote builder pushed the index by digest before the smoke run: it stays, untagged
    expect(r.summary).toMatch(new RegExp(`No tag moved\\. Left untagged: ${REGISTRY}/pcb-e2e/failing@sha256:[a-f0-9]{64}`));
    expect(r.outputs.digest).toBeUndefined();
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

  it('the main step removes its smoke container and clears it from the state; the post step removes one still named there', async () => {
    const r = await runMain(inputs({ 'build-args': 'PCB_FIXTURE_SMOKE=pass', 'smoke-tests': 'true' }));
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.state['pcb-containers'])).toEqual([]);
    expect(smokeContainers()).toBe('');
    // the state as the main step leaves it when it could not remove the container (e2e/faults-engine.test.ts makes one for real)
    const name = /\[command\] docker run --name (pcb-smoke-\S+)/.exec(r.stdout)![1];
    docker('run', '--detach', '--name', name, '--network', 'none', r.outputs['image-id'], 'sleep', '300');
    fs.appendFileSync(r.env.GITHUB_STATE, `pcb-containers=${JSON.stringify([name])}\n`);
    const post = await runPost(r);
    expect(post.code).toBe(0);
    expect(post.stdout).toContain(`Removed the smoke container ${name}`);
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
    expect(second.summary).toContain('<tr><th>Env cache (local)</th><td>hit');
    // smoke-tests: false says so in the headline: no check ran, the GPU ones included
    expect(second.summary).toContain('<h2>Pointcept image ✅ built; smoke tests off, GPU checks skipped</h2>');
    expect(second.outputs['gpu-checks-ran']).toBe('false');
  });

  it('the GPU gate: gpu auto on a runner whose NVIDIA driver is broken fails in preflight, before any build or push', async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-e2e-bin-'));
    fs.writeFileSync(path.join(bin, 'nvidia-smi'), "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\"\nexit 9\n", { mode: 0o755 });
    const r = await runMain(inputs({ gpu: 'auto', tags: `${REGISTRY}/pcb-e2e/gate:${RUN}`, push: 'true', 'build-args': 'PCB_FIXTURE_SMOKE=pass' }), { PATH: `${bin}:${process.env.PATH}` });
    fs.rmSync(bin, { recursive: true, force: true });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("::error::preflight: gpu: auto found no GPU on this runner (nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.); fix the NVIDIA driver and Container Toolkit so that nvidia-smi lists the GPU, or set gpu: false to build and test without the GPU checks");
    expect(r.stdout).not.toContain('[command] docker buildx build');
    expect(r.stdout).not.toContain('[command] docker push');
    expect(await registryDigest('pcb-e2e/gate', RUN)).toBeNull();
    expect(r.outputs).toMatchObject({ 'preflight-ok': 'false', tags: `${REGISTRY}/pcb-e2e/gate:${RUN}` });
    expect(r.outputs.error).toMatch(/^preflight: gpu: auto found no GPU/);
    expect(r.outputs['smoke-passed']).toBeUndefined();
    expect(r.summary).toContain('<h2>Pointcept image ❌ failed at preflight</h2>');
    expect((await runPost(r)).code).toBe(0);
  });

  it('a dry run sets the outputs it knows, writes a plan summary, builds nothing, and prints the argv the real run then uses', async () => {
    const dryCache = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-e2e-dry-cache-'));
    const repo = 'pcb-e2e/dry';
    const i = inputs({ 'cache-backend': 'local', 'cache-dir': dryCache, 'cache-key-prefix': `pcb-e2e-dry-${RUN}`, tags: `${REGISTRY}/${repo}:${RUN}`, push: 'true', labels: 'org.example.run=dry', 'build-args': 'PCB_FIXTURE_SMOKE=pass' });
    const dry = await runMain({ ...i, 'dry-run': 'true' });
    expect(dry.code, dry.stdout).toBe(0);
    expect(dry.outputs).toMatchObject({ tags: `${REGISTRY}/${repo}:${RUN}`, labels: 'org.example.run=dry', 'preflight-ok': 'true', 'cache-hit': 'false', 'gpu-checks-ran': 'false' });
    expect(dry.outputs['cache-key']).toMatch(new RegExp(`^pcb-e2e-dry-${RUN}-v2-linux-amd64-[0-9a-f]{64}$`));
    expect(dry.outputs['image-id']).toBeUndefined();
    expect(dry.summary).toContain('<h2>Pointcept image: dry run, ✅ preflight passed</h2>');
    expect(dry.summary).toContain('<tr><th>Env cache (local)</th><td>miss (looked up only)</td></tr>');
    expect(dry.summary).toContain('builder &quot;pcb-remote&quot; (remote driver, BuildKit');
    expect(await registryDigest(repo, RUN)).toBeNull();
    expect(fs.readdirSync(dryCache)).toEqual([]);
    expect((await runPost(dry)).code).toBe(0);

    const real = await mainAndPost(i, (m) => expect(m.code, m.stdout).toBe(0));
    expect(real.outputs['cache-key']).toBe(dry.outputs['cache-key']);
    // the same commands, up to the per-run temp dir, the new layer-cache dir and the env lock's label
    const same = (text: string, workDir: string) => text.split(workDir).join('<work>').replace(/layers\/new-[\w.]+/g, 'layers/new-X').replace(/ --label org\.pointcept\.env\.lock\.sha256=[0-9a-f]{64}/, '');
    const dryBuild = /^Build: (docker buildx build .*)$/m.exec(dry.stdout)![1];
    const realBuild = /^\[command\] (docker buildx build .* --iidfile .*)$/m.exec(real.stdout)![1];
    expect(same(realBuild, real.state['pcb-work-dir'])).toBe(same(dryBuild, dry.state['pcb-work-dir']));
    expect(dryBuild).toContain('--cache-to type=local');
    const dryEnv = [...dry.stdout.matchAll(/^Env build: (.*)$/gm)].map((m) => same(m[1], dry.state['pcb-work-dir']));
    const realEnv = [...real.stdout.matchAll(/^\[command\] (docker buildx build .* --target env-\S+ .*)$/gm)].map((m) => same(m[1], real.state['pcb-work-dir']));
    expect(realEnv).toEqual(dryEnv);
    // the save of the miss: the conda-env stage as an OCI layout under the cache dir's tmp/ (its name differs per run)
    const saveDir = (text: string) => text.replace(/\/tmp\/[^/,\s]+\.\d+\.[0-9a-f]+(?=,)/, '/tmp/SAVE');
    const drySave = saveDir(same(/^Env cache save \(beside the smoke run\): (.*)$/m.exec(dry.stdout)![1], dry.state['pcb-work-dir']));
    const realSave = saveDir(same(/^\[command\] (docker buildx build .* --target conda-env .*)$/m.exec(real.stdout)?.[1] ?? '', real.state['pcb-work-dir']));
    expect(realSave).toBe(drySave);
    expect(drySave).toContain(`--target conda-env --output type=oci,tar=false,dest=${dryCache}/tmp/SAVE`);
    expect(fs.readdirSync(path.join(dryCache, 'entries'))).toEqual([`${real.outputs['cache-key']}.json`]);
    expect(await registryDigest(repo, RUN)).toBe(real.outputs.digest);
    fs.rmSync(dryCache, { recursive: true, force: true });
  });

  it("Debian 12's Engine 20.10 with its default builder: default inputs fail in preflight with the fix; cache-backend: none plans without named contexts", async () => {
    const denied = await runMain(inputs({ builder: 'default', 'cache-backend': 'local', 'cache-dir': cacheDir, 'dry-run': 'true', gpu: 'false' }));
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/^::error::preflight: builder "default" \(docker driver, Docker Engine 20\.10\.\S+, BuildKit 0\.8, classic image store\) cannot take named build contexts \(BuildKit 0\.10 or newer can\), which cache-backend: local needs; upgrade Docker Engine to 23\.0 or newer, or name a docker-container builder in the input "builder" \(docker\/setup-buildx-action creates one\), or set cache-backend: none$/m);
    expect((await runPost(denied)).code).toBe(0);
    const planned = await runMain(inputs({ builder: 'default', 'cache-backend': 'none', 'dry-run': 'true', gpu: 'false' }));
    expect(planned.code, planned.stdout).toBe(0);
    expect(JSON.parse(planned.outputs.plan).buildArgv).not.toContain('--build-context');
    expect(planned.stdout).not.toContain('::notice::'); // cache-backend none has no layer cache to leave out
    expect((await runPost(planned)).code).toBe(0);
  });
});

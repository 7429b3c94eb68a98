// End to end, the release path: the bundled action with push: true against the real registry
// (127.0.0.1:5000) and real BuildKit, each tag checked against what the smoke run tested.
//   - the remote builder (pcb-remote) with the main Engine 20.10 (classic image store): push by
//     digest, pull, smoke, imagetools create (the by-digest way)
//   - the 26-containerd and 29-containerd Engines with their docker driver: load, smoke, docker
//     push of the tested index (the loaded-index way), through engines.ts's EngineRunner
//   - the 26-classic Engine with its docker driver: load, smoke, docker push (the loaded-image way)
//   - Debian 12's Engine 20.10 with its docker driver: attestations asked for fail in preflight
//   - registry faults through the fault proxy of faults/registry-proxy.ts
// Skipped unless PCB_E2E=1.
//
// STAND-INS (named here as the tests rely on them):
// - the SBOM generator: docker/buildkit-syft-scanner cannot be pulled here, so the tests build
//   __tests__/fixtures/sbom-scanner (a busybox script that follows BuildKit's SBOM scanner
//   protocol) and push it to the test registry; the `sbom` input names it as generator=...
// - the fixture project, the GPU hook and nvidia-smi: see action.test.ts and engines.ts.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, ROOT } from '../helpers.js';
import { removeTempDirs, runMain, runPost, type StepRun } from '../run-dist.js';
// @ts-expect-error plain ESM helper shared with scripts/local-action.mjs
import { parseCommandFile } from '../../scripts/gh-files.mjs';
import { EngineRunner, matrixEngine, servedDigest } from './engines.js';
import { FaultProxy, PATHS } from './faults/registry-proxy.js';
import { outcomeOf, recordFault } from './faults/table.js';
import { BASE, BUILDER, E2E, REGISTRY } from './services.js';

const RUN = crypto.randomBytes(3).toString('hex');
const NS = `${REGISTRY}/pcb-rel-${RUN}`;
const SCANNER = `${NS}/sbom-scanner:stand-in`;
process.env.GITHUB_RUN_ID = `rel${RUN}`; // smoke containers pcb-smoke-rel<RUN>-...

const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const ACCEPT = ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');

interface Manifest { mediaType: string; manifests?: { digest: string; platform?: { os: string; architecture: string }; annotations?: Record<string, string> }[]; config?: { digest: string }; layers?: { mediaType: string; annotations?: Record<string, string> }[]; annotations?: Record<string, string> }
/** GET of a manifest from the registry (host/repo@ref or host/repo:tag): status, digest, body. */
async function manifest(ref: string): Promise<{ status: number; digest: string | null; body: Manifest | null }> {
  const m = /^([^/]+)\/(.+?)(?:@(sha256:[a-f0-9]{64})|:([^:/]+))$/.exec(ref);
  if (!m) throw new Error(`not a reference: ${ref}`);
  const res = await fetch(`http://${m[1]}/v2/${m[2]}/manifests/${m[3] ?? m[4]}`, { headers: { Accept: ACCEPT } });
  return { status: res.status, digest: res.headers.get('docker-content-digest'), body: res.status === 200 ? ((await res.json()) as Manifest) : null };
}
const repoOf = (tag: string) => tag.replace(/:[^:/]+$/, '');

function inputs(over: Record<string, string> = {}): Record<string, string> {
  return { context: FIXTURE, builder: BUILDER, 'base-image': BASE, gpu: 'true', 'torch-cuda-arch-list': '9.0', 'max-jobs': '1', 'smoke-timeout': '120', 'cache-backend': 'none', ...over };
}

/** The index at repo@digest: its linux/amd64 manifest, that manifest, and the attestation manifest pointing at it. */
async function published(repo: string, digest: string) {
  const index = (await manifest(`${repo}@${digest}`)).body!;
  expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
  const platform = index.manifests!.find((d) => d.platform?.os === 'linux' && d.platform.architecture === 'amd64')!;
  const image = (await manifest(`${repo}@${platform.digest}`)).body!;
  const att = index.manifests!.find((d) => d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
  const attestation = att ? (await manifest(`${repo}@${att.digest}`)).body! : null;
  return { index, platform: platform.digest, image, att, predicates: (attestation?.layers ?? []).map((l) => l.annotations?.['in-toto.io/predicate-type']).sort() };
}

/** The Dockerfile steps BuildKit took from its cache ("#N CACHED"), by name; FROM lines aside (an image source is always "cached"). */
function cachedSteps(log: string): string[] {
  const names = new Map<string, string>();
  const cached: string[] = [];
  for (const m of log.matchAll(/^#(\d+) (.*)$/gm)) {
    if (!names.has(m[1])) names.set(m[1], m[2]);
    else if (m[2] === 'CACHED' && !/\] FROM /.test(names.get(m[1])!)) cached.push(names.get(m[1])!);
  }
  return cached;
}

/** The plain progress of the main build (the `Build` group of the step's log). */
function mainBuildLog(stdout: string): string {
  const from = stdout.indexOf('::group::Build\n');
  return stdout.slice(from, stdout.indexOf('::endgroup::', from));
}

const posted: StepRun[] = [];
async function mainAndPost(i: Record<string, string>, env: Record<string, string> = {}): Promise<StepRun> {
  const r = await runMain(i, env);
  const post = await runPost(r);
  expect(post.code, post.stdout).toBe(0);
  posted.push(r);
  return r;
}

afterAll(() => {
  const images = [...new Set(posted.flatMap((r) => [r.outputs['image-id'], r.outputs.digest && r.outputs.tags ? `${repoOf(r.outputs.tags.split('\n')[0])}@${r.outputs.digest}` : '']).filter((x) => x))];
  for (const ref of images) {
    try { docker('image', 'rm', '--force', ref); } catch { /* not in this Engine */ }
  }
  removeTempDirs();
});

beforeAll(() => {
  if (!E2E) return;
  // the stand-in SBOM generator (see the header), in the registry where BuildKit can pull it
  execFileSync('docker', ['buildx', 'build', '--builder', BUILDER, '--progress', 'quiet', '--build-arg', `BASE_IMAGE=${BASE}`, '--output', `type=image,name=${SCANNER},push=true`, path.join(ROOT, '__tests__', 'fixtures', 'sbom-scanner')], { stdio: 'ignore' });
});

describe.skipIf(!E2E)('by-digest: a builder with its own BuildKit, Engine with the classic image store', () => {
  const ANNOTATIONS = `manifest:org.opencontainers.image.description=Point clouds, fast\nindex:org.opencontainers.image.description=Point clouds, fast\nmanifest:org.opencontainers.image.version=${RUN}`;

  it('pushes an attested, annotated index; every tag of two repositories points at it, and its platform manifest is the tested one', async () => {
    const tags = [`${NS}/one:${RUN}`, `${NS}/one:latest`, `${NS}/two:${RUN}`];
    const r = await mainAndPost(inputs({ push: 'true', tags: tags.join('\n'), provenance: 'mode=max', sbom: `generator=${SCANNER}`, annotations: ANNOTATIONS, 'build-args': `PCB_FIXTURE_NOTE=${RUN}` }));
    expect(r.code, r.stdout).toBe(0);
    const o = r.outputs;
    expect(o.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
    // each tag's digest is the output digest: the index
    for (const t of tags) expect(await servedDigest(t), t).toBe(o.digest);
    // its linux/amd64 manifest is the tested one: same config as the image the smoke run ran
    const p = await published(`${NS}/one`, o.digest);
    expect(o['tested-manifest']).toBe(p.platform);
    expect(p.image.config!.digest).toBe(o['image-id']);
    expect(o.imageid).toBe(o['image-id']);
    expect(docker('image', 'inspect', '--format', '{{.Id}}', `${NS}/one@${o.digest}`)).toBe(o['image-id']);
    // the attestations: an attestation manifest for the tested manifest, with provenance and the stand-in's SBOM
    expect(p.att?.annotations?.['vnd.docker.reference.digest']).toBe(p.platform);
    expect(p.predicates).toEqual(['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);
    // and what imagetools inspect --raw shows, as a release pipeline would check it
    const raw = JSON.parse(docker('buildx', 'imagetools', 'inspect', '--builder', BUILDER, '--raw', tags[0])) as Manifest;
    expect(raw.manifests!.some((d) => d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest')).toBe(true);
    // the annotations, the comma intact: index level on the index, manifest level on the platform manifest
    expect(p.index.annotations).toEqual({ 'org.opencontainers.image.description': 'Point clouds, fast' });
    expect(p.image.annotations).toMatchObject({ 'org.opencontainers.image.description': 'Point clouds, fast', 'org.opencontainers.image.version': RUN });
    // the second repository holds the same index (one push by digest to both; tags made in place, no blob copy)
    expect((await published(`${NS}/two`, o.digest)).platform).toBe(p.platform);
    expect(r.stdout).toContain(`[command] docker buildx imagetools create --builder ${BUILDER} --tag ${NS}/two:${RUN} ${NS}/two@${o.digest}`);
    expect(r.stdout).not.toMatch(/^\[command\] docker buildx build .* --tag /m);
    // metadata agrees with digest, as build-push-action users compare them
    const meta = JSON.parse(o.metadata) as Record<string, unknown>;
    expect(meta['containerimage.digest']).toBe(o.digest);
    expect(meta['image.name']).toBe(tags.join(','));
    // the summary: each tag with its digest, the attestations found
    for (const t of tags) expect(r.summary).toContain(`<tr><td><code>${t}</code></td><td><code>${o.digest}</code></td></tr>`);
    expect(r.summary).toContain('<b>Attestations:</b> SBOM (SPDX), provenance (SLSA v1)');
    expect(r.summary).toContain(`<b>Platform manifest tested:</b> <code>${p.platform}</code>`);
  });

  it('a failing smoke run moves no tag (404 for each); the summary names the untagged index it left', async () => {
    const tags = [`${NS}/failing:${RUN}`, `${NS}/failing-too:${RUN}`];
    const r = await mainAndPost(inputs({ push: 'true', tags: tags.join(','), provenance: 'mode=max', 'build-args': 'PCB_FIXTURE_SMOKE=fail' }));
    expect(r.code).toBe(1);
    for (const t of tags) expect((await manifest(t)).status, t).toBe(404);
    expect(r.outputs.digest).toBeUndefined();
    expect(r.outputs['tested-manifest']).toBeUndefined();
    const left = new RegExp(`Left untagged: ${NS}/failing@(sha256:[a-f0-9]{64}), ${NS}/failing-too@sha256:[a-f0-9]{64}`).exec(r.summary);
    expect(left, r.summary).not.toBeNull();
    expect((await manifest(`${NS}/failing@${left![1]}`)).status).toBe(200); // what the line says is there, is there
  });

  it('no-cache and pull: the argv of every build, and no cached step after the env in the main build', async () => {
    const base = inputs({ 'smoke-tests': 'false', gpu: 'false', 'build-args': `PCB_FIXTURE_NOTE=nocache-${RUN}` });
    const warm = await mainAndPost(base);
    expect(warm.code, warm.stdout).toBe(0);
    expect(cachedSteps(mainBuildLog(warm.stdout)).filter((v) => /^\[runtime /.test(v)), 'the warm build reuses the runtime stage').not.toEqual([]);

    const cold = await mainAndPost({ ...base, 'no-cache': 'true', pull: 'true' });
    expect(cold.code, cold.stdout).toBe(0);
    const builds = cold.stdout.split('\n').filter((l) => l.startsWith('[command] docker buildx build '));
    expect(builds).toHaveLength(2); // env-lock, then the image
    expect(builds[0]).toMatch(/ --no-cache (.* )?--target env-lock /);
    expect(builds[1]).toContain(' --no-cache-filter extensions --no-cache-filter runtime');
    expect(builds[1]).not.toContain(' --no-cache ');
    for (const b of builds) expect(b).toContain(' --pull ');
    // the env made fresh once, by the env-lock build; the image build took it from there and ran the rest
    const envLog = cold.stdout.slice(0, cold.stdout.indexOf('::group::Build\n'));
    expect(cachedSteps(envLog), 'the env-lock build').toEqual([]);
    expect(cachedSteps(mainBuildLog(cold.stdout)).filter((v) => /^\[(extensions|runtime) /.test(v)), 'the image build').toEqual([]);
  });

  it('a secret-files secret (multi-line, printed by a RUN step) and a secret-envs one never show in logs, outputs or the summary', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-rel-secret-'));
    const lines = [`pcb-secret-${crypto.randomBytes(8).toString('hex')}`, `second line ${crypto.randomBytes(8).toString('hex')}`];
    const secret = `${lines.join('\n')}\n`;
    fs.writeFileSync(path.join(dir, 'token'), secret);
    const common = { 'smoke-tests': 'false', gpu: 'false', 'build-args': 'PCB_FIXTURE_ECHO_MOUNTED=1', 'no-cache-filters': 'runtime' };
    const r = await mainAndPost(inputs({ ...common, 'secret-files': `pcb_fixture_secret=${dir}/token` }));
    const envSecret = `pcb-env-secret-${crypto.randomBytes(8).toString('hex')}`;
    const e = await mainAndPost(inputs({ ...common, 'secret-envs': 'pcb_fixture_secret=PCB_REL_SECRET' }), { PCB_REL_SECRET: envSecret });
    fs.rmSync(dir, { recursive: true, force: true });
    for (const [run, values, sha] of [[r, lines, secret], [e, [envSecret], envSecret]] as const) {
      expect(run.code, run.stdout).toBe(0);
      // the RUN step got it (and printed it: the log shows it masked)
      expect(docker('run', '--rm', '--network', 'none', run.outputs['image-id'], 'cat', '/opt/pointcept/fixture-secret.sha256')).toBe(crypto.createHash('sha256').update(sha).digest('hex'));
      expect(run.stdout).toMatch(/#\d+ [\d.]+ \*\*\*/);
      const shown = run.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n');
      for (const v of values) {
        expect(shown, 'the log').not.toContain(v);
        expect(run.summary, 'the summary').not.toContain(v);
        expect(JSON.stringify(run.outputs), 'the outputs').not.toContain(v);
      }
    }
  });
});

describe.skipIf(!E2E)("the release workflow's inputs through npm run local-action", () => {
  it('push an attested, annotated image; every tag of both images points at the tested digest', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-rel-local-action-'));
    const args = [path.join(ROOT, 'scripts', 'local-action.mjs'), '--inputs', path.join(ROOT, '__tests__', 'fixtures', 'release-inputs.yml'), '--input', `cache-dir=${dir}/env-cache`, '--keep', `${dir}/run`];
    let run: { code: number; stdout: string };
    try {
      run = { code: 0, stdout: execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PCB_SBOM_GENERATOR: SCANNER, GITHUB_WORKSPACE: ROOT }, stdio: ['ignore', 'pipe', 'pipe'] }) };
    } catch (e) {
      run = { code: (e as { status: number }).status, stdout: (e as { stdout: string }).stdout };
    }
    const o = parseCommandFile(path.join(dir, 'run', 'output')) as Record<string, string>;
    fs.rmSync(dir, { recursive: true, force: true });
    expect(run.code, run.stdout).toBe(0);
    posted.push({ outputs: o } as StepRun);
    const tags = o.tags.split('\n');
    expect(tags).toHaveLength(6);
    for (const t of tags) expect(await servedDigest(t), t).toBe(o.digest);
    const p = await published(`${REGISTRY}/pcb-release/pointcept-gpu`, o.digest);
    expect(o['tested-manifest']).toBe(p.platform);
    expect(p.image.config!.digest).toBe(o['image-id']);
    expect(p.predicates).toEqual(['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);
    expect(p.index.annotations).toMatchObject({ 'org.opencontainers.image.version': '1.2.3', 'org.opencontainers.image.description': 'Pointcept with CUDA 12.4, PyTorch 2.5, spconv, pointops, pointgroup_ops' });
    expect(p.image.annotations).toMatchObject({ 'org.opencontainers.image.title': 'Pointcept', 'org.opencontainers.image.revision': '0123abcdef0123abcdef0123abcdef0123abcdef' });
    expect(docker('image', 'inspect', '--format', '{{ index .Config.Labels "org.opencontainers.image.description" }}', o['image-id'])).toBe('Pointcept with CUDA 12.4, PyTorch 2.5, spconv, pointops, pointgroup_ops');
  });
});

/** A fault-table row's outcome for a push that had to get through a fault: the tag moved to the tested digest, and the line that said so. */
function moved(r: StepRun, served: string | null, said: RegExp): { outcome: string; line: string; lost: string[]; left: string[] } {
  const line = r.stdout.split('\n').find((l) => said.test(l))?.replace(/^::\w+::/, '').trim() ?? '';
  const ok = r.code === 0 && served === r.outputs.digest && line !== '';
  return { outcome: ok ? 'survived (retried; the tag moved to the tested image)' : `exit ${r.code}; tag at ${served ?? 'nothing'}`, line, lost: ok ? [] : ['the push'], left: [] };
}

describe.skipIf(!E2E)('registry faults (the fault proxy in front of the registry)', () => {
  let proxy: FaultProxy;
  beforeAll(async () => { proxy = await FaultProxy.start(REGISTRY); });
  afterAll(async () => { await proxy?.close(); });

  it('a 429 with Retry-After on the tag\'s manifest: waited for as the registry asked, then the tag moves', async () => {
    const tag = `${proxy.address}/pcb-rel-${RUN}/limited:${RUN}`;
    const tagPath = new RegExp(`/manifests/${RUN}$`);
    // every request for the tag is answered 429 "Retry-After: 4" for 3 s from the first one: the
    // tool's own immediate retries, and the action's HEAD asking for Retry-After, all see it
    const rule = proxy.inject({ fault: { kind: 'status', status: 429, retryAfter: 4 }, path: tagPath });
    let firstHit = 0;
    const heal = setInterval(() => {
      if (rule.hits && !firstHit) firstHit = Date.now();
      if (firstHit && Date.now() - firstHit > 3000) rule.off();
    }, 50);
    const t0 = Date.now();
    const r = await mainAndPost(inputs({ push: 'true', tags: tag }));
    clearInterval(heal);
    rule.off();
    const seen = proxy.requests(undefined, tagPath);
    recordFault({
      fault: 'registry throttles the push (429)', injected: '429 with Retry-After: 4 to every request for the tag, for 3 s', times: rule.hits,
      ...moved(r, await servedDigest(tag), /answered 429 Too Many Requests/), seconds: (Date.now() - t0) / 1000,
    });
    const context = seen.map((x) => `${x.at} ${x.method} ${x.status}`).join('\n');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout, context).toMatch(/registry 127\.0\.0\.1:\d+ answered 429 Too Many Requests \(attempt 1 of 4\); trying again in 4\.0 s \(its Retry-After: 4 s\)/);
    const lastLimited = seen.filter((x) => x.status === 429).pop()!;
    const passed = seen.find((x) => x.method === 'PUT' && x.status === 201)!;
    expect(passed.at - seen[0].at, `the retry waited Retry-After\n${context}`).toBeGreaterThanOrEqual(4000);
    expect(passed.at).toBeGreaterThan(lastLimited.at);
    expect(await servedDigest(tag)).toBe(r.outputs.digest);
  });

  it('a 503 on blob uploads that outlasts BuildKit\'s own retries: the push by digest runs again and succeeds', async () => {
    const tag = `${proxy.address}/pcb-rel-${RUN}/flaky:${RUN}`;
    // every blob upload fails until BuildKit's own retries (1, 2 and 4 s after the first failure)
    // are spent, then the registry is well again
    const rule = proxy.inject({ fault: { kind: 'status', status: 503 }, method: 'PUT', path: PATHS.blobUpload });
    let firstHit = 0;
    const heal = setInterval(() => {
      if (rule.hits && !firstHit) firstHit = Date.now();
      if (firstHit && Date.now() - firstHit > 9000) rule.off();
    }, 100);
    const t0 = Date.now();
    const r = await mainAndPost(inputs({ push: 'true', tags: tag, 'build-args': `PCB_FIXTURE_NOTE=flaky-${RUN}` }));
    clearInterval(heal);
    rule.off();
    recordFault({
      fault: 'registry fails blob uploads (503)', injected: '503 to every blob upload for 9 s, past BuildKit\'s own retries', times: rule.hits,
      ...moved(r, await servedDigest(tag), /answered 503 Service Unavailable/), seconds: (Date.now() - t0) / 1000,
    });
    expect(r.code, r.stdout).toBe(0);
    expect(rule.hits).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/the push by digest \(docker buildx build\): registry 127\.0\.0\.1:\d+ answered 503 Service Unavailable \(attempt 1 of 4\)/);
    expect(await servedDigest(tag)).toBe(r.outputs.digest);
    expect((await published(repoOf(tag).replace(proxy.address, REGISTRY), r.outputs.digest)).image.config!.digest).toBe(r.outputs['image-id']);
  });

  it('tags in two registries (the registry, and the proxy as a second host): one push by digest to both, every tag at one digest', async () => {
    const tags = [`${NS}/two-hosts:${RUN}`, `${proxy.address}/pcb-rel-${RUN}/two-hosts:${RUN}`];
    const r = await mainAndPost(inputs({ push: 'true', tags: tags.join('\n'), 'build-args': `PCB_FIXTURE_NOTE=two-hosts-${RUN}` }));
    expect(r.code, r.stdout).toBe(0);
    for (const t of tags) expect(await servedDigest(t), t).toBe(r.outputs.digest);
    expect(r.stdout).toContain(`"name=${NS}/two-hosts,${proxy.address}/pcb-rel-${RUN}/two-hosts",push-by-digest=true`);
  });

  it('when a later tag is refused, the error and the summary say exactly which tags moved', async () => {
    const tags = [`${NS}/partial:${RUN}`, `${proxy.address}/pcb-rel-${RUN}/partial-refused:${RUN}`];
    const rule = proxy.inject({ fault: { kind: 'status', status: 403 }, method: 'PUT', path: new RegExp(`/partial-refused/manifests/${RUN}$`) });
    const r = await mainAndPost(inputs({ push: 'true', tags: tags.join('\n'), 'build-args': `PCB_FIXTURE_NOTE=partial-${RUN}` }));
    rule.off();
    expect(r.code).toBe(1);
    expect(await servedDigest(tags[0])).toBe(r.outputs.digest); // digest: what the moved tag points at
    expect((await manifest(tags[1])).status).toBe(404);
    expect(r.outputs.error).toMatch(new RegExp(`^publish: registry 127\\.0\\.0\\.1:\\d+ refused .*: 403 Forbidden\\. Moved: ${tags[0]} \\(${r.outputs.digest}\\); not moved: ${tags[1]}\\.`));
    expect(r.summary).toContain(`<tr><td><code>${tags[1]}</code></td><td>not moved</td></tr>`);
    expect(r.summary).toContain(`Moved: ${tags[0]} -&gt; ${r.outputs.digest}; not moved: ${tags[1]}.`);
  });

  it('a 403 on a tag is not retried: the step fails with one line, no tag moves', async () => {
    const tag = `${proxy.address}/pcb-rel-${RUN}/denied:${RUN}`;
    const rule = proxy.inject({ fault: { kind: 'status', status: 403 }, method: 'PUT', path: new RegExp(`/manifests/${RUN}$`) });
    const r = await mainAndPost(inputs({ push: 'true', tags: tag, 'build-args': `PCB_FIXTURE_NOTE=denied-${RUN}` }));
    rule.off();
    expect(r.code).toBe(1);
    expect(rule.hits).toBe(1);
    expect(r.outputs.error).toMatch(/^publish: registry 127\.0\.0\.1:\d+ refused docker buildx imagetools create --tag \S+: 403 Forbidden\./);
    expect(r.stdout).not.toContain('trying again');
    expect((await manifest(tag)).status).toBe(404);
    expect(r.outputs.digest).toBeUndefined();
  });

  it('a registry that stays down: one line naming it, the cause and the attempts; no tag', async () => {
    const tag = `${proxy.address}/pcb-rel-${RUN}/down:${RUN}`;
    await proxy.refuse();
    const t0 = Date.now();
    const r = await mainAndPost(inputs({ push: 'true', tags: tag, 'build-args': `PCB_FIXTURE_NOTE=down-${RUN}` }));
    await proxy.accept();
    const { outcome, line } = outcomeOf(r.code, r.stdout, [/kept failing/, new RegExp(proxy.address.replace(/\./g, '\\.'))]);
    recordFault({
      fault: 'registry down (push)', injected: 'every connection to the registry refused for the whole job', times: 4, outcome, line,
      // what the job knew before the push by digest failed (the build and smoke run come after it here)
      lost: ['cache-key', 'cache-hit', 'tags', 'labels', 'plan', 'error'].filter((o) => !r.outputs[o]).map((o) => `output ${o}`),
      left: (await manifest(tag)).status === 404 ? [] : [`tag ${tag}`], seconds: (Date.now() - t0) / 1000,
    });
    expect(r.code).toBe(1);
    expect(r.outputs.error).toBe(`publish: registry ${proxy.address} kept failing: connection refused on each of 4 attempts of the push by digest (docker buildx build).`);
    expect(r.stdout.match(/^::error::/gm)).toHaveLength(1);
    expect((await manifest(tag)).status).toBe(404);
    expect(r.outputs.digest).toBeUndefined();
    expect(r.summary).toContain('No tag moved.');
  });
});

// Each row: the case's name, the Engine, the SLSA provenance its BuildKit writes.
describe.skipIf(!E2E).each([
  ['loaded-index: the 26-containerd Engine with its docker driver', '26-containerd', 'https://slsa.dev/provenance/v0.2'],
  ['loaded-index: the 29-containerd Engine with its docker driver', '29-containerd', 'https://slsa.dev/provenance/v1'],
])('%s', (_name, id, provenance) => {
  let runner: EngineRunner;
  beforeAll(() => { runner = new EngineRunner(matrixEngine(id)); });
  afterAll(() => runner?.cleanup());

  it('the tested index is pushed byte for byte to two repositories: tag digest = image id = digest, with attestations and annotations', async () => {
    const tags = [`${NS}/cd-one-${id}:${RUN}`, `${NS}/cd-two-${id}:${RUN}`];
    const { main, post } = await runner.run({ context: FIXTURE, 'cache-backend': 'none', push: 'true', tags: tags.join('\n'), provenance: 'mode=max', sbom: `generator=${SCANNER}`, annotations: 'index:org.opencontainers.image.title=pcb-rel\nmanifest:org.opencontainers.image.description=Point clouds, fast' });
    expect(main.code, main.stdout).toBe(0);
    expect(post.code).toBe(0);
    const o = main.outputs;
    expect(o['image-id']).toBe(o.digest); // the containerd store's image id is the index digest
    for (const t of tags) expect(await servedDigest(t), t).toBe(o.digest);
    expect(main.stdout.match(/^\[command\] docker push /gm)).toHaveLength(2);
    const p = await published(`${NS}/cd-one-${id}`, o.digest);
    expect(o['tested-manifest']).toBe(p.platform);
    expect(p.predicates).toEqual([provenance, 'https://spdx.dev/Document']);
    expect(p.index.annotations).toEqual({ 'org.opencontainers.image.title': 'pcb-rel' });
    expect(p.image.annotations).toMatchObject({ 'org.opencontainers.image.description': 'Point clouds, fast' });
    expect(JSON.parse(o.metadata)['containerimage.digest']).toBe(o.digest);
  });

  it('a failing smoke run pushes nothing: every tag 404, and the summary says nothing was pushed', async () => {
    const tag = `${NS}/cd-failing-${id}:${RUN}`;
    const { main } = await runner.run({ context: FIXTURE, 'cache-backend': 'none', push: 'true', tags: tag, provenance: 'mode=max', 'build-args': 'PCB_FIXTURE_SMOKE=fail' });
    expect(main.code).toBe(1);
    expect((await manifest(tag)).status).toBe(404);
    expect(main.stdout).not.toContain('[command] docker push');
    expect(main.summary).toContain('No tag moved. Nothing was pushed.');
  });

  it('pull: a base image only this Engine has builds without pull, and fails with pull (the registry does not have it)', async () => {
    const base = `${NS}/local-only-base-${id}:busybox`;
    runner.docker('tag', 'pcb-base:busybox', base);
    const i = { context: FIXTURE, 'cache-backend': 'none', 'smoke-tests': 'false', gpu: 'false', 'base-image': base };
    const local = await runner.run(i);
    expect(local.main.code, local.main.stdout).toBe(0);
    const pulled = await runner.run({ ...i, pull: 'true' });
    expect(pulled.main.code).toBe(1);
    expect(pulled.main.stdout).toMatch(/^\[command\] docker buildx build .* --pull /m);
    expect(pulled.main.outputs.error).toContain('The base image was not found.');
    runner.docker('image', 'rm', base);
  });
});

describe.skipIf(!E2E)("loaded-image: Debian 12's Engine 20.10 with its docker driver", () => {
  let runner: EngineRunner;
  beforeAll(() => { runner = new EngineRunner(matrixEngine('debian12')); });
  afterAll(() => runner?.cleanup());

  it('provenance asked for fails in preflight with one line and the fix, before any build', async () => {
    const { main } = await runner.run({ context: FIXTURE, 'cache-backend': 'none', push: 'true', tags: `${NS}/classic:${RUN}`, provenance: 'mode=max' });
    expect(main.code).toBe(1);
    expect(main.stdout).toMatch(/^::error::preflight: provenance was set, but builder "default" \(docker driver, Docker Engine 20\.10\.\S+, BuildKit 0\.8, classic image store\) loads one image into the classic image store and pushes it with docker push, which carries no attestations or annotations; turn on the containerd image store .*, or leave provenance empty$/m);
    expect(main.stdout).not.toContain('[command] docker buildx build');
  });
});

describe.skipIf(!E2E)("loaded-image: Debian 13's Engine 26 with the classic image store and its docker driver", () => {
  let runner: EngineRunner;
  beforeAll(() => { runner = new EngineRunner(matrixEngine('26-classic')); });
  afterAll(() => runner?.cleanup());

  it('nothing asked for: one notice, docker push of the tested id; the pushed manifest carries the tested config', async () => {
    const tags = [`${NS}/classic-one:${RUN}`, `${NS}/classic-two:${RUN}`];
    const { main, post } = await runner.run({ context: FIXTURE, 'cache-backend': 'none', push: 'true', tags: tags.join('\n') });
    expect(main.code, main.stdout).toBe(0);
    expect(post.code).toBe(0);
    expect(main.stdout).toMatch(/^::notice::builder "default" \(docker driver, Docker Engine 26\.1\.5\S*, BuildKit 0\.13, classic image store\) pushes the tested image with docker push, which carries no provenance, SBOM or annotations/m);
    const o = main.outputs;
    for (const t of tags) expect(await servedDigest(t), t).toBe(o.digest);
    // docker push made the manifest (the Engine compresses again): the digest is the manifest, its config the tested image
    expect(o['tested-manifest']).toBe(o.digest);
    const pushed = (await manifest(`${NS}/classic-one@${o.digest}`)).body!;
    expect(pushed.config!.digest).toBe(o['image-id']);
    expect(JSON.parse(o.metadata)['containerimage.digest']).toBe(o.digest);
  });
});

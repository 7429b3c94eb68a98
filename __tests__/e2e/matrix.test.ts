// End to end, the runner setups of the README ("Runner setups"): each row's runner, with the fixture
// project, default inputs plus a push to the test registry, on a real Docker Engine and builder
// (.ci/engines.sh starts the Engines, each in a network namespace of its own; the remote builder
// runs on the BuildKit of .ci/setup). Each case ends one of two ways:
// - the image is built, tested through the Engine's --gpus path and pushed: exit 0, the outputs,
//   the summary's headline, the pushed digest is the one the registry serves, and a second run on
//   the same runner restores the env from the cache;
// - the documented one-line preflight error, before any build: no `docker buildx build` ran (the
//   runner's docker shim records every call) and the registry has nothing under the tag.
// Skipped unless PCB_E2E=1. Stand-ins: see engines.ts (nvidia-smi, the nvidia hook, the offline tool
// cache) and action.test.ts (the fixture project).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE } from '../helpers.js';
import { removeTempDirs, type StepRun } from '../run-dist.js';
import { compareVersions } from '../../src/builder.js';
import { reachableBlobs } from '../../src/env-cache/layout.js';
import type { EntryRecord } from '../../src/env-cache/entry.js';
import { EngineRunner, mainEngine, matrixEngine, servedDigest } from './engines.js';
import { E2E, REGISTRY } from './services.js';

const RUN = crypto.randomBytes(3).toString('hex');

afterAll(() => removeTempDirs());

type Run = Awaited<ReturnType<EngineRunner['run']>>;

/** A line as the README writes it, `…` standing for version text, as an anchored pattern. */
function line(text: string): RegExp {
  return new RegExp(`^${text.split('…').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\S+')}$`);
}
const annotations = (r: StepRun, kind: 'error' | 'warning' | 'notice') => r.stdout.split('\n').filter((l) => l.startsWith(`::${kind}::`));

/** The runner of one row, made before its tests; removed afterwards with what it put into the Engine. */
function rowRunner(make: () => EngineRunner): () => EngineRunner {
  let runner: EngineRunner | undefined;
  beforeAll(() => { runner = make(); });
  afterAll(() => runner?.cleanup());
  return () => runner!;
}

/** Default inputs plus a push of TAG, on this runner's env-cache directory. */
const defaults = (runner: EngineRunner, tag: string, over: Record<string, string> = {}) => ({ context: FIXTURE, tags: tag, push: 'true', 'cache-dir': runner.cacheDir, ...over });
const tagOf = (row: string) => `${REGISTRY}/pcb-e2e-matrix/${row}:${RUN}`;

/** Built, tested on the (stand-in) GPU through the Engine's --gpus path, pushed: what every passing row shows. */
async function expectTestedAndPushed(runner: EngineRunner, run: Run, tag: string, builder: RegExp): Promise<void> {
  const { main, post } = run;
  expect(main.code, main.stdout).toBe(0);
  expect(post.code, post.stdout).toBe(0);
  expect(annotations(main, 'error')).toEqual([]);
  const o = main.outputs;
  expect(o).toMatchObject({ 'preflight-ok': 'true', 'gpu-checks-ran': 'true', 'smoke-passed': 'true', 'gpu-name': 'Stand-in GPU', tags: tag });
  expect(o['cache-key']).toMatch(/^pointcept-env-v2-linux-amd64-[0-9a-f]{64}$/);
  expect(run.gpuSmokeContainers, "the smoke container went through the Engine's --gpus path").toHaveLength(1);
  expect(o.digest).toMatch(/^sha256:[a-f0-9]{64}$/);
  expect(await servedDigest(tag), 'the digest output is the one the registry serves').toBe(o.digest);
  expect(main.summary).toContain('<h2>Pointcept image ✅ built and tested on Stand-in GPU</h2>');
  expect(main.summary).toContain(`<tr><th>Pushed digest</th><td><code>${o.digest}</code></td></tr>`);
  expect(main.summary).toMatch(builder);
  expect(runner.smokeContainers(), 'no smoke container is left').toEqual([]);
}

/** The documented preflight error, alone, and nothing built or pushed. */
async function expectPreflightFailure(runner: EngineRunner, run: Run, tag: string, error: RegExp): Promise<void> {
  const { main, post } = run;
  expect(main.code, main.stdout).toBe(1);
  expect(annotations(main, 'error')).toHaveLength(1);
  expect(annotations(main, 'error')[0]).toMatch(error);
  expect(runner.builds(), 'no build ran').toEqual([]);
  expect(runner.calls().filter((c) => /^docker (push|tag) /.test(c)), 'nothing was tagged or pushed').toEqual([]);
  expect(await servedDigest(tag), 'the registry has nothing under the tag').toBeNull();
  expect(main.outputs['preflight-ok']).toBe('false');
  expect(main.outputs['smoke-passed']).toBeUndefined();
  expect(main.summary).toContain('<h2>Pointcept image ❌ failed at preflight</h2>');
  expect(post.code, post.stdout).toBe(0);
}

/** The main build of the last run (the env builds and the env cache's save build name a --target). */
const imageBuild = (runner: EngineRunner) => runner.builds().filter((b) => !/ --target /.test(b)).at(-1) ?? '';

/** The second run of a runner with the same inputs: the env comes from the cache (no save build), same key, pushed again. */
async function expectEnvCacheHit(runner: EngineRunner, first: Run, inputs: Record<string, string>, builder: RegExp): Promise<Run> {
  runner.resetCalls();
  const tag = `${inputs.tags}-again`;
  const second = await runner.run({ ...inputs, tags: tag });
  await expectTestedAndPushed(runner, second, tag, builder);
  const warned = [first, second].flatMap((r) => r.main.stdout.split('\n').filter((l) => l.startsWith('::warning::'))).join('\n');
  expect(second.main.outputs['cache-hit'], warned).toBe('true');
  expect(warned.split('\n').filter((l) => l.includes('env cache')), 'the save and the hit went without a warning').toEqual([]);
  expect(second.main.outputs['cache-key']).toBe(first.main.outputs['cache-key']);
  expect(runner.builds().filter((b) => b.includes('--target conda-env')), 'no save build on a hit').toEqual([]);
  expect(imageBuild(runner), 'the entry replaces the conda-env stage of the build').toContain('--build-context conda-env=');
  return second;
}

/**
 * The docker driver keeps the entry in the Engine's image store and its durable copy in the cache
 * dir: an Engine that lost the image (docker image prune -a, a new disk) gets it back from the cache
 * dir with docker load, checked first, and the run is still a hit.
 */
async function expectRefillAfterPrune(runner: EngineRunner, first: Run, inputs: Record<string, string>, builder: RegExp): Promise<void> {
  const key = first.main.outputs['cache-key'];
  const image = `pcb-env-cache:${key}`;
  expect(fs.existsSync(path.join(runner.cacheDir, 'entries', `${key}.json`)), 'the durable copy is in the cache dir').toBe(true);
  runner.docker('image', 'rm', image);
  const third = await expectEnvCacheHit(runner, first, { ...inputs, tags: `${inputs.tags}-refill` }, builder);
  expect(third.main.summary).toMatch(/hit from the cache dir, loaded into the Docker Engine \(docker load, [\d.]+ s\)/);
  expect(runner.docker('image', 'inspect', '--format', '{{.Id}}', image).trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
}

/**
 * The layer cache of a run after a first one on the same runner: the new cache started with hard
 * links to the blobs of the one it replaced, and BuildKit did not write those again (the largest
 * blob, the env layer, is the same file in both); once swapped in, it holds only the blobs its
 * index.json reaches.
 */
function expectLayerCacheReused(runner: EngineRunner, run: Run): void {
  expect(run.main.stdout).toMatch(/^env cache: the new layer cache starts with \d+ blobs of the current one/m);
  const layers = path.join(runner.cacheDir, 'layers');
  const retired = fs.readdirSync(layers).filter((n) => n.startsWith('retired-'));
  expect(retired, 'the replaced cache is kept for builds that may still read it').toHaveLength(1);
  const blobs = (dir: string) => new Map(fs.readdirSync(path.join(layers, dir, 'blobs', 'sha256')).map((n) => [n, fs.statSync(path.join(layers, dir, 'blobs', 'sha256', n))]));
  const now = blobs('current');
  const before = blobs(retired[0]);
  const [largest, st] = [...now].sort(([, a], [, b]) => b.size - a.size)[0];
  expect(st.size, 'the env layer is the largest blob').toBeGreaterThan(1e6);
  expect(before.get(largest)?.ino, 'the env layer was not written again').toBe(st.ino);
  expect([...now.keys()].map((n) => `sha256:${n}`).sort()).toEqual([...reachableBlobs(path.join(layers, 'current'))].sort());
}

/**
 * A local save on a builder that exports the layer cache (its own BuildKit, or the docker driver on
 * the containerd store): the save's staging dir started with links to the layer cache's blobs, so
 * BuildKit did not send the env layer again, and the entry keeps the very file the layer cache has
 * (both uncompressed, one copy on disk).
 */
function expectSaveLinkedLayerCache(runner: EngineRunner, run: Run): void {
  expect(run.main.stdout).toMatch(/^env cache: the save starts with \d+ blobs of the layer cache/m);
  const record = JSON.parse(fs.readFileSync(path.join(runner.cacheDir, 'entries', `${run.main.outputs['cache-key']}.json`), 'utf8')) as EntryRecord;
  const env = [...record.blobs].sort((a, b) => b.size - a.size)[0];
  expect(env.size, 'the env layer is the largest blob').toBeGreaterThan(1e6);
  const blob = (dir: string) => fs.statSync(path.join(runner.cacheDir, dir, 'blobs', 'sha256', env.digest.slice('sha256:'.length)));
  expect(blob('oci').ino, 'the entry\'s env layer is the layer cache\'s file').toBe(blob('layers/current').ino);
}

const DOCKER_DRIVER = (engine: string, store: string) => new RegExp(`builder &quot;default&quot; \\(docker driver, Docker Engine ${engine.replace(/\./g, '\\.')}\\S*, BuildKit [\\d.]+, ${store} image store\\)`);
// The classic store's one notice (Engine version and BuildKit minor as the row's Engine reports them): with a push, both what the layer cache and what the push leave out.
const classicNotice = (engine: string, buildkit: string) => line(`::notice::builder "default" (docker driver, Docker Engine ${engine}…, BuildKit ${buildkit}, classic image store) cannot export a layer cache, so the build runs without --cache-to and reuses only the Engine's own build cache (the env cache works as usual), and pushes the tested image with docker push, which carries no provenance, SBOM or annotations (and compresses every layer again); for the layer cache and attested images, turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json), or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one) (see "Runner setups" and "Publishing" in the README)`);
const PLAIN_PUSH_NOTICE = line('::notice::builder "default" (docker driver, Docker Engine 20.10.…, BuildKit 0.8, classic image store) pushes the tested image with docker push, which carries no provenance, SBOM or annotations (and compresses every layer again); for attested images, turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json), or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one) (see "Runner setups" and "Publishing" in the README)');

describe.skipIf(!E2E)('Engine 20.10, docker driver (debian12)', () => {
  const runner = rowRunner(() => new EngineRunner(matrixEngine('debian12')));

  it('is the setup this row describes: Engine 20.10, classic image store, docker driver', () => {
    expect(runner().facts()).toMatchObject({ major: 20, minor: 10, store: 'classic', builderDriver: 'docker' });
  });

  it('default inputs fail in preflight with the fix, before any build; nothing is pushed', async () => {
    runner().resetCalls();
    const tag = tagOf('debian12');
    await expectPreflightFailure(runner(), await runner().run(defaults(runner(), tag)), tag,
      line('::error::preflight: builder "default" (docker driver, Docker Engine 20.10.…, BuildKit 0.8, classic image store) cannot take named build contexts (BuildKit 0.10 or newer can), which cache-backend: local needs; upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or set cache-backend: none'));
  });

  it('cache-backend: none builds without named contexts, tests and pushes; one notice: the push carries no attestations', async () => {
    runner().resetCalls();
    const tag = tagOf('debian12-none');
    const run = await runner().run(defaults(runner(), tag, { 'cache-backend': 'none' }));
    await expectTestedAndPushed(runner(), run, tag, DOCKER_DRIVER('20.10', 'classic'));
    expect(annotations(run.main, 'notice')).toHaveLength(1);
    expect(annotations(run.main, 'notice')[0]).toMatch(PLAIN_PUSH_NOTICE);
    expect(runner().builds().length, runner().calls().join('\n')).toBe(2); // env-lock, then the image
    expect(runner().builds().filter((b) => b.includes('--build-context'))).toEqual([]);
    expect(run.main.outputs['cache-hit']).toBe('false');
  });
});

// Debian 13's Engine 26 (BuildKit 0.13) and Docker CE 28's Engine, built from Moby's source (BuildKit 0.25):
// the classic store is the default of every Docker CE up to 28, whatever BuildKit it carries.
// Each row: the case's name, the Engine's id, the start of its version, its BuildKit as the action reports it.
describe.skipIf(!E2E).each([
  ['Engine 26, docker driver, classic image store (26-classic)', '26-classic', '26.', '0.13'],
  ['Engine 28, docker driver, classic image store (28-classic)', '28-classic', '28.5.', '0.25.2'],
])('%s', (_name, id, engine, buildkit) => {
  const runner = rowRunner(() => new EngineRunner(matrixEngine(id)));
  const builder = DOCKER_DRIVER(engine, 'classic');
  const CLASSIC_NOTICE = classicNotice(engine, buildkit);

  it('is the setup this row describes: its Engine version, API 1.42 (Engine 23) or later, classic image store, docker driver', () => {
    const f = runner().facts();
    expect(f.version.startsWith(engine), f.version).toBe(true);
    expect(compareVersions(f.api, '1.42'), f.api).toBeGreaterThanOrEqual(0);
    expect(f).toMatchObject({ store: 'classic', builderDriver: 'docker' });
  });

  it('default inputs: one notice, no --cache-to, built, tested and pushed; the second run is an env-cache hit, and so is a third after the Engine lost the image', async () => {
    runner().resetCalls();
    const tag = tagOf(id);
    const inputs = defaults(runner(), tag);
    const first = await runner().run(inputs);
    await expectTestedAndPushed(runner(), first, tag, builder);
    expect(annotations(first.main, 'notice')).toHaveLength(1);
    expect(annotations(first.main, 'notice')[0]).toMatch(CLASSIC_NOTICE);
    expect(first.main.outputs['cache-hit']).toBe('false');
    // the save build runs after the main build (beside the smoke run): an image of the Engine's own store
    expect(runner().builds().map((b) => /--target (\S+)/.exec(b)?.[1] ?? 'image')).toEqual(['env-lock', 'image', 'conda-env']);
    expect(runner().builds().at(-1)).toMatch(/--output type=image,name=pcb-env-cache:pointcept-env-v2-linux-amd64-[0-9a-f]{64} /);
    expect(runner().builds().filter((b) => b.includes('--cache-to'))).toEqual([]);

    const second = await expectEnvCacheHit(runner(), first, inputs, builder);
    expect(annotations(second.main, 'notice')).toHaveLength(1);
    // the Engine's image by name, once its id was checked against the entry
    expect(imageBuild(runner())).toContain(`--build-context conda-env=docker-image://docker.io/library/pcb-env-cache:${first.main.outputs['cache-key']} `);
    await expectRefillAfterPrune(runner(), first, inputs, builder);
  });

  it('an explicit cache-to other than type=inline fails in preflight, before any build', async () => {
    runner().resetCalls();
    const tag = tagOf(`${id}-cache-to`);
    const cacheTo = `type=registry,ref=${REGISTRY}/pcb-e2e-matrix/layers-${id}:${RUN},mode=max`;
    await expectPreflightFailure(runner(), await runner().run(defaults(runner(), tag, { 'cache-to': cacheTo })), tag,
      line(`::error::preflight: Input "cache-to": "${cacheTo}" is not accepted; builder "default" (docker driver, Docker Engine ${engine}…, BuildKit ${buildkit}, classic image store) can only export type=inline; turn on the containerd image store, or use a docker-container builder (docker/setup-buildx-action).`));
    expect(await servedDigest(`${REGISTRY}/pcb-e2e-matrix/layers-${id}:${RUN}`)).toBeNull();
  });

  it('cache-backend: registry: the env image is pushed as the classic store makes it (Docker media types), and the second run restores it', async () => {
    runner().resetCalls();
    const tag = tagOf(`${id}-registry`);
    const cacheRef = `${REGISTRY}/pcb-e2e-matrix/env-cache-${id}-${RUN}`;
    const inputs = defaults(runner(), tag, { 'cache-backend': 'registry', 'cache-ref': cacheRef });
    const first = await runner().run(inputs);
    await expectTestedAndPushed(runner(), first, tag, builder);
    expect(annotations(first.main, 'notice')[0]).toMatch(CLASSIC_NOTICE);
    // the registry answers "not found" for a cache image it does not have yet: a plain miss
    expect(annotations(first.main, 'warning').filter((l) => l.includes('could not look up'))).toEqual([]);
    const envImage = `${cacheRef}:${first.main.outputs['cache-key']}`; // the key fits a tag as it is
    const exportBuild = runner().builds().find((b) => b.includes('--target conda-env'));
    // what the plan asks for is what this builder does: no oci-mediatypes or zstd, which it would ignore
    expect(exportBuild).toContain(`--output type=image,name=${envImage},push=true ${FIXTURE}`);
    const res = await fetch(`http://${envImage.replace(/^([^/]+)\/(.+):([^:]+)$/, '$1/v2/$2/manifests/$3')}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(first.main.summary).toMatch(/<tr><th>Env cache \(registry\)<\/th><td>miss \(saved in/);

    const second = await expectEnvCacheHit(runner(), first, inputs, builder);
    expect(imageBuild(runner())).toMatch(new RegExp(`--build-context conda-env=docker-image://${envImage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@sha256:[0-9a-f]{64} `));
    expect(second.main.summary).toContain('<tr><th>Env cache (registry)</th><td>hit');
  });
});

// Debian 13's Engine 26 (BuildKit 0.13) with the containerd store turned on, and Docker CE 29's daemon,
// built from Moby's source (BuildKit 0.33), where the containerd store is a fresh install's default.
// Each row: the case's name, the Engine's id, the start of its version (Engine 29's is its module version).
describe.skipIf(!E2E).each([
  ['Engine 26, docker driver, containerd image store (26-containerd)', '26-containerd', '26.'],
  ['Engine 29, docker driver, containerd image store (29-containerd)', '29-containerd', '2.0.0-beta.24'],
])('%s', (_name, id, engine) => {
  const runner = rowRunner(() => new EngineRunner(matrixEngine(id)));
  const builder = DOCKER_DRIVER(engine, 'containerd');

  it('is the setup this row describes: its Engine version, API 1.42 (Engine 23) or later, containerd image store, docker driver', () => {
    const f = runner().facts();
    expect(f.version.startsWith(engine), f.version).toBe(true);
    expect(compareVersions(f.api, '1.42'), f.api).toBeGreaterThanOrEqual(0);
    expect(f).toMatchObject({ store: 'containerd', builderDriver: 'docker' });
  });

  it('default inputs: the full plan with --cache-to, no notice, built, tested and pushed; the second run is an env-cache hit, and so is a third after the Engine lost the image', async () => {
    runner().resetCalls();
    const tag = tagOf(id);
    const inputs = defaults(runner(), tag);
    const first = await runner().run(inputs);
    await expectTestedAndPushed(runner(), first, tag, builder);
    expect(annotations(first.main, 'notice')).toEqual([]);
    expect(first.main.outputs['cache-hit']).toBe('false');
    expect(imageBuild(runner())).toContain(`--cache-to type=local,dest=${runner().cacheDir}/layers/new-`);
    // one save build writes the Engine's image and the entry's layout (no docker save), from links to the layer cache
    expect(runner().builds().find((b) => b.includes('--target conda-env'))).toMatch(/ --output type=image,name=pcb-env-cache:\S+,compression=uncompressed,oci-mediatypes=true --output type=oci,tar=false,dest=/);
    expectSaveLinkedLayerCache(runner(), first);
    const second = await expectEnvCacheHit(runner(), first, inputs, builder);
    expect(imageBuild(runner()), 'the layer cache the first run exported is read').toContain(`--cache-from type=local,src=${runner().cacheDir}/layers/current`);
    expectLayerCacheReused(runner(), second);
    // the Engine's image by name (its id was checked against the entry first)
    expect(imageBuild(runner())).toContain(`--build-context conda-env=docker-image://docker.io/library/pcb-env-cache:${first.main.outputs['cache-key']} `);
    await expectRefillAfterPrune(runner(), first, inputs, builder);
  });
});

describe.skipIf(!E2E)('remote builder (main Engine)', () => {
  const runner = rowRunner(() => new EngineRunner(mainEngine()));
  const name = `pcb-matrix-${RUN}`;
  const builder = new RegExp(`builder &quot;${name}&quot; \\(remote driver, BuildKit [\\d.]+\\)`);
  // A remote BuildKit cannot see the Engine's images: the base image comes from the registry.
  const base = process.env.PCB_BASE_IMAGE ?? `${REGISTRY}/pcb-base:busybox`;

  beforeAll(() => {
    // as docker/setup-buildx-action does with driver: remote: a builder in this runner's buildx state, made current
    runner().docker('buildx', 'create', '--name', name, '--driver', 'remote', '--use', process.env.PCB_BUILDKIT_ADDR ?? 'unix:///run/pcb-ci/buildkitd.sock');
    runner().docker('buildx', 'inspect', '--bootstrap', name);
  });

  it('is the setup this row describes: the current builder is a remote one', () => {
    expect(runner().facts().builderDriver).toBe('remote');
  });

  it('default inputs: the full plan with --cache-to, no notice, built, tested and pushed; the second run is an env-cache hit', async () => {
    runner().resetCalls();
    const tag = tagOf('remote');
    const inputs = defaults(runner(), tag, { 'base-image': base });
    const first = await runner().run(inputs);
    await expectTestedAndPushed(runner(), first, tag, builder);
    expect(annotations(first.main, 'notice')).toEqual([]);
    expect(imageBuild(runner())).toContain(`--cache-to type=local,dest=${runner().cacheDir}/layers/new-`);
    expectSaveLinkedLayerCache(runner(), first);
    const second = await expectEnvCacheHit(runner(), first, inputs, builder);
    expect(imageBuild(runner()), 'the layer cache the first run exported is read').toContain(`--cache-from type=local,src=${runner().cacheDir}/layers/current`);
    expectLayerCacheReused(runner(), second);
  });

  it('push: false: the image is loaded once; a second run with nothing changed finds it in the Engine and only tags it', async () => {
    const tag = `pcb-e2e-matrix/remote-load:${RUN}`;
    // a label of its own: the Engine has the images of the test above (pulled by digest), not this one
    const inputs = { context: FIXTURE, tags: tag, 'cache-dir': runner().cacheDir, 'base-image': base, labels: `pcb.e2e.run=${RUN}` };
    const outputsOfMainBuilds = () => runner().builds().filter((b) => !/ --target /.test(b)).map((b) => /--output (\S+)/.exec(b)?.[1]);
    runner().resetCalls();
    const first = await runner().run(inputs);
    expect(first.main.code, first.main.stdout).toBe(0);
    expect(first.main.outputs['smoke-passed']).toBe('true');
    expect(outputsOfMainBuilds(), 'the check, then the load').toEqual(['type=image,compression=uncompressed,oci-mediatypes=true', 'type=docker,compression=uncompressed']);
    const id = first.main.outputs['image-id'];
    expect(runner().docker('image', 'inspect', '--format', '{{.Id}}', tag)).toBe(id);

    runner().resetCalls();
    const second = await runner().run({ ...inputs, tags: `${tag}-again` });
    expect(second.main.code, second.main.stdout).toBe(0);
    expect(second.main.stdout).toContain(`The Docker Engine already has this image (${id}): it is not loaded again.`);
    expect(outputsOfMainBuilds(), 'the check alone').toEqual(['type=image,compression=uncompressed,oci-mediatypes=true']);
    expect(runner().calls()).toContain(`docker tag ${id} ${tag}-again`);
    expect(second.main.outputs).toMatchObject({ 'image-id': id, digest: first.main.outputs.digest, 'smoke-passed': 'true' });
    expect(runner().docker('image', 'inspect', '--format', '{{.Id}}', `${tag}-again`)).toBe(id);
    expect(second.gpuSmokeContainers, 'the smoke run tested the tagged image on the GPU path').toHaveLength(1);
  });
});

describe.skipIf(!E2E)('the GPU gate on an Engine (26-classic)', () => {
  const runner = rowRunner(() => new EngineRunner(matrixEngine('26-classic'), { gpu: 'broken' }));

  it('fails in preflight with the fix, before any build; nothing is pushed', async () => {
    const tag = tagOf('26-classic-gpu-gate');
    await expectPreflightFailure(runner(), await runner().run(defaults(runner(), tag)), tag,
      line("::error::preflight: gpu: auto found no GPU on this runner (nvidia-smi: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.); fix the NVIDIA driver and Container Toolkit so that nvidia-smi lists the GPU, or set gpu: false to build and test without the GPU checks"));
  });
});

describe.skipIf(!E2E)('buildx older than the minimum (26-classic)', () => {
  // a real buildx 0.10.5, built by .ci/setup (PCB_OLD_BUILDX), as this runner's docker CLI plugin
  const runner = rowRunner(() => new EngineRunner(matrixEngine('26-classic'), { buildxPlugin: oldBuildx() }));

  it('fails in preflight naming both versions, before any build; nothing is pushed', async () => {
    expect(runner().docker('buildx', 'version')).toMatch(/^github\.com\/docker\/buildx v0\.10\.5\b/);
    const tag = tagOf('26-classic-old-buildx');
    await expectPreflightFailure(runner(), await runner().run(defaults(runner(), tag)), tag,
      line('::error::preflight: buildx 0.10.5 is older than 0.13.0, the oldest this action supports; install a newer docker-buildx-plugin, or run docker/setup-buildx-action before this step'));
  });
});

function oldBuildx(): string {
  const p = process.env.PCB_OLD_BUILDX;
  if (!p || !fs.existsSync(p)) throw new Error(`PCB_OLD_BUILDX (${p ?? 'unset'}) names no buildx binary: .ci/setup builds it`);
  return p;
}

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/arch.js';
import { capabilities, engineBuildkit, type BuilderFacts } from '../src/builder.js';
import type { EnvCacheSession } from '../src/env-cache/types.js';
import { LOCK_LABEL, adaptToBuilder, autoMaxJobs, makePlan, namedContextNeeds, planForPeople, smokeArgvFor, withEnvBase, withLockLabel } from '../src/plan.js';
import { resolveRecipe, type Recipe } from '../src/recipe.js';
import { FIXTURE, inputs, raw } from './helpers.js';

const H200: Gpu = { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memoryGiB: 139.8 };
const REMOTE: BuilderFacts = { name: 'pcb-remote', driver: 'remote', buildx: '0.38.2', buildkit: '0.34.2', engine: '20.10.24', engineApi: '1.41', containerdStore: false };
const dockerDriver = (engine: string, store: boolean): BuilderFacts => ({ name: 'default', driver: 'docker', buildx: '0.38.2', buildkit: engineBuildkit(engine, null), engine, engineApi: null, containerdStore: store });

function session(over: Partial<EnvCacheSession> = {}): EnvCacheSession {
  return {
    key: 'k', platform: 'linux/amd64', hit: false, matchedKey: '', buildContexts: [], layerCacheFrom: [], layerCacheTo: [], restoreSeconds: 0, sizeBytes: null, warnings: [],
    source: '', base: null, exports: [{ target: 'env-lock', output: 'type=local,dest=/w/env-cache/env-lock' }], save: null, lockPath: '/w/env-cache/env-lock/environment.lock', lookupOnly: false,
    ...over,
  };
}

function recipeOf(over: Parameters<typeof raw>[0]): Recipe {
  const r = resolveRecipe(inputs(over), raw(over));
  if ('errors' in r) throw new Error(r.errors.join('\n'));
  return r;
}

interface Case { inputs?: Parameters<typeof raw>[0]; gpus?: Gpu[]; memoryGiB?: number; archList?: string; builder?: BuilderFacts; session?: Partial<EnvCacheSession>; builderId?: string }
function plan(c: Case = {}) {
  const i = inputs({ 'cache-backend': 'none', ...c.inputs });
  const r = recipeOf({ 'cache-backend': 'none', ...c.inputs });
  const builder = c.builder ?? REMOTE;
  const caps = capabilities(builder);
  const pf = { builder, caps, adaptation: adaptToBuilder(i, r.dockerfile, builder, caps), gpus: c.gpus ?? [H200], archList: c.archList ?? '7.5;8.0;8.6;8.9;9.0+PTX', cpus: 16, memoryGiB: c.memoryGiB ?? 128 };
  return makePlan(i, r, pf, { runId: '42-1-abcd', workDir: '/w', builderId: c.builderId ?? null }, session(c.session));
}

/** The values following each occurrence of a flag in an argv. */
const flag = (argv: string[], name: string) => argv.flatMap((a, n) => (a === name ? [argv[n + 1]] : []));

describe('inputs -> plan -> buildx argv', () => {
  it.each<[string, Case, Record<string, string[] | boolean>]>([
    ['defaults: the Dockerfile keeps its own arch list, base image, env name and Miniforge version', {}, {
      '--build-arg': ['MAX_JOBS=16'], '--tag': [], '--load': false, '--output': ['type=docker,compression=uncompressed'], '--push': false, '--builder': [], '--platform': ['linux/amd64'], '--target': [], '--build-context': [],
    }],
    ['builder, target, tags, labels, args', { inputs: { builder: 'pcb-remote', target: 'extensions', tags: 'r.example/a:1,r.example/a:latest', labels: 'a=b,c', 'build-args': 'X=1;2 $(y)', 'max-jobs': '2', 'base-image': '127.0.0.1:5000/pcb-base:busybox', 'torch-cuda-arch-list': '9.0' }, archList: '9.0' }, {
      '--builder': ['pcb-remote'], '--target': ['extensions'], '--tag': ['r.example/a:1', 'r.example/a:latest'], '--label': ['a=b,c'],
      '--build-arg': ['MAX_JOBS=2', 'TORCH_CUDA_ARCH_LIST=9.0', 'BASE_IMAGE=127.0.0.1:5000/pcb-base:busybox', 'X=1;2 $(y)'],
    }],
    ['arch auto from the GPUs, memory-bound max-jobs', { inputs: { 'torch-cuda-arch-list': 'auto' }, archList: '8.0;9.0', memoryGiB: 15 }, {
      '--build-arg': ['MAX_JOBS=3', 'TORCH_CUDA_ARCH_LIST=8.0;9.0'],
    }],
    ['user cache wins over env-cache defaults', { inputs: { 'cache-from': 'type=registry,ref=r/c', 'cache-to': 'type=registry,ref=r/c,mode=max' }, session: { buildContexts: ['--build-context', 'conda-env=oci-layout:///w/e@sha256:1'], layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/l2'] } }, {
      '--cache-from': ['type=registry,ref=r/c'], '--cache-to': ['type=registry,ref=r/c,mode=max'], '--build-context': ['conda-env=oci-layout:///w/e@sha256:1'],
    }],
    ['env-cache layer defaults without user cache', { session: { layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/l2,mode=max'] } }, {
      '--cache-from': ['type=local,src=/l'], '--cache-to': ['type=local,dest=/l2,mode=max'],
    }],
    ['the env file at the context root spelled another way: no env-spec context', { inputs: { 'environment-file': 'docker/../environment.yml' } }, { '--build-context': [] }],
    ['another env file: the env-spec context carries it', { inputs: { 'environment-file': '../../../environment.yml' } }, { '--build-context': ['env-spec=/w/env-spec'] }],
    ['a lock file: the env-spec context carries it', { inputs: { 'lock-file': 'environment.yml' } }, { '--build-context': ['env-spec=/w/env-spec'] }],
    ['no load, no smoke, push: buildx pushes', { inputs: { load: 'false', 'smoke-tests': 'false', push: 'true', tags: 'r.example/a:1' } }, { '--load': false, '--output': [], '--push': true }],
    ['docker driver, classic store: a plain --load (the Engine stores no compressed layers)', { builder: dockerDriver('26.1.5', false) }, { '--load': true, '--output': [] }],
    ['docker driver, containerd store, not pushed: loaded uncompressed', { builder: dockerDriver('26.1.5', true) }, { '--load': false, '--output': ['type=docker,compression=uncompressed'] }],
    ['secrets go through env, never argv', { inputs: { secrets: 'pip=s3cr3t' } }, { '--secret': ['id=pip,env=PCB_SECRET_0'] }],
    ['docker driver, classic store: no --cache-to (the Engine cannot export)', { builder: dockerDriver('26.1.5', false), session: { layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/l2,mode=max'] } }, {
      '--cache-from': ['type=local,src=/l'], '--cache-to': [],
    }],
    ['docker driver, containerd store: the layer cache is exported', { builder: dockerDriver('26.1.5', true), session: { layerCacheTo: ['type=local,dest=/l2,mode=max'] } }, { '--cache-to': ['type=local,dest=/l2,mode=max'] }],
    ['Engine 20.10: no named contexts at all', { builder: dockerDriver('20.10.24', false), session: { buildContexts: ['--build-context', 'miniforge=/tc/miniforge3'] } }, { '--build-context': [] }],
  ])('%s', (_name, c, want) => {
    const p = plan(c);
    const argv = p.buildArgv;
    expect(argv.slice(0, 2)).toEqual(['buildx', 'build']);
    expect(argv[argv.length - 1]).toBe(FIXTURE);
    expect(flag(argv, '--file')).toEqual([`${FIXTURE}/docker/Dockerfile.gpu`]);
    expect(flag(argv, '--progress')).toEqual(['plain']);
    expect(flag(argv, '--metadata-file')).toEqual(['/w/metadata.json']);
    expect(flag(argv, '--iidfile')).toEqual(['/w/iid.txt']);
    for (const [k, v] of Object.entries(want)) {
      if (typeof v === 'boolean') expect(argv.includes(k), k).toBe(v);
      else expect(flag(argv, k), k).toEqual(v);
    }
    expect(argv.join(' ')).not.toContain('s3cr3t');
  });

  it('the env file at the context root needs no env-spec context; the plan says so', () => {
    expect(plan().envSpecDir).toBeNull();
    expect(plan({ inputs: { 'lock-file': 'environment.yml' } }).envSpecDir).toBe('/w/env-spec');
  });

  it('one notice when the default layer cache is left out, none when nothing is', () => {
    const classic = plan({ builder: dockerDriver('26.1.5', false), session: { layerCacheTo: ['type=local,dest=/l2,mode=max'] } });
    expect(classic.notices).toEqual([expect.stringMatching(/^builder "default" \(docker driver, Docker Engine 26\.1\.5, BuildKit 0\.13, classic image store\) cannot export a layer cache, .*containerd image store.*docker-container builder/)]);
    expect(classic.cacheTo, 'the plan says what the build exports: nothing here').toEqual([]);
    expect(plan({ session: { layerCacheTo: ['type=local,dest=/l2'] } }).cacheTo).toEqual(['type=local,dest=/l2']);
    expect(plan({ builder: dockerDriver('26.1.5', false) }).notices).toEqual([]);
    expect(plan({ session: { layerCacheTo: ['type=local,dest=/l2'] } }).notices).toEqual([]);
  });

  it('env builds share the main build settings and add --target/--output and their metadata file', () => {
    const p = plan({ inputs: { builder: 'b' }, session: { buildContexts: ['--build-context', 'conda-env=oci-layout:///w/e@sha256:1'], layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/x'], exports: [{ target: 'env-lock', output: 'type=local,dest=/w/env-lock' }] } });
    expect(p.envBuilds.map((b) => b.target)).toEqual(['env-lock']);
    for (const b of p.envBuilds) {
      expect(flag(b.argv, '--target')).toEqual([b.target]);
      expect(flag(b.argv, '--output')).toEqual([`type=local,dest=/w/${b.target}`]);
      expect(flag(b.argv, '--metadata-file')).toEqual(['/w/env-lock-metadata.json']);
      expect(b.metadataFile).toBe('/w/env-lock-metadata.json');
      expect(flag(b.argv, '--builder')).toEqual(['b']);
      expect(flag(b.argv, '--build-context')).toEqual(['conda-env=oci-layout:///w/e@sha256:1']);
      expect(flag(b.argv, '--cache-from')).toEqual(['type=local,src=/l']);
      expect(flag(b.argv, '--cache-to')).toEqual([]);
      expect(b.argv.includes('--load')).toBe(false);
    }
    expect(p.envSave).toBeNull();
  });

  it('a miss with a backend: the save build exports the conda-env stage with the main build\'s settings, no attestation, no cache export', () => {
    const save = { outputs: ['type=oci,tar=false,dest=/c/tmp/k.1.ab,compression=uncompressed'], dir: '/c/tmp/k.1.ab', engineName: null, layout: true, annotate: false };
    const p = plan({ inputs: { builder: 'b', 'build-args': 'X=1' }, session: { buildContexts: ['--build-context', 'miniforge=/tc'], layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/x'], save } });
    const argv = p.envSave!.argv;
    expect(argv.slice(0, 2)).toEqual(['buildx', 'build']);
    expect(argv[argv.length - 1]).toBe(FIXTURE);
    expect(flag(argv, '--target')).toEqual(['conda-env']);
    expect(flag(argv, '--output')).toEqual(save.outputs);
    expect(argv).toContain('--provenance=false');
    expect(flag(argv, '--build-context')).toEqual(['miniforge=/tc']);
    expect(flag(argv, '--build-arg')).toEqual(flag(p.envBuilds[0].argv, '--build-arg'));
    expect(flag(argv, '--cache-from')).toEqual(['type=local,src=/l']);
    expect(flag(argv, '--cache-to')).toEqual([]);
    expect(flag(argv, '--tag')).toEqual([]);
  });

  it('withEnvBase: a registry cache image that can carry annotations names its base image; other saves are left as they are', () => {
    const base = { image: 'r.example/cuda:12', digest: `sha256:${'e'.repeat(64)}` };
    const reg = { outputs: ['type=image,name=r/c:k,push=true,oci-mediatypes=true,compression=zstd'], dir: null, engineName: null, layout: false, annotate: true };
    const p = plan({ session: { save: reg } });
    const with_ = withEnvBase(p, { save: reg }, base);
    expect(flag(with_.envSave!.argv, '--annotation')).toEqual([`manifest:org.opencontainers.image.base.name=r.example/cuda:12`, `manifest:org.opencontainers.image.base.digest=${base.digest}`]);
    expect(with_.envSave!.argv[with_.envSave!.argv.length - 1]).toBe(FIXTURE);
    expect(withEnvBase(p, { save: { ...reg, annotate: false } }, base)).toBe(p);
    expect(withEnvBase(p, { save: reg }, { ...base, digest: null })).toBe(p);
  });

  it('withLockLabel adds the lock label to the labels and the build argv, before the context', () => {
    const p = plan({ inputs: { labels: 'x=y' } });
    const l = withLockLabel(p, 'ab12');
    expect(flag(l.buildArgv, '--label')).toEqual(['x=y', `${LOCK_LABEL}=ab12`]);
    expect(l.labels).toEqual(['x=y', `${LOCK_LABEL}=ab12`]);
    expect(l.buildArgv[l.buildArgv.length - 1]).toBe(FIXTURE);
    expect(p.labels).toEqual(['x=y']);
  });

  it('the plan people see holds no secret value', () => {
    const shown = JSON.stringify(planForPeople(plan({ inputs: { secrets: 'pip=s3cr3t-value' } })));
    expect(shown).not.toContain('s3cr3t-value');
    expect(shown).toContain('id=pip,env=PCB_SECRET_0');
  });
});

describe('smoke argv', () => {
  it.each([
    ['gpu auto with a GPU', {}, [H200], true],
    ['gpu true without nvidia-smi', { gpu: 'true' }, [], true],
    ['gpu false with a GPU', { gpu: 'false' }, [H200], false],
  ] as const)('%s', (_n, over, gpus, gpu) => {
    const p = plan({ inputs: over, gpus: [...gpus] });
    expect(p.gpu).toBe(gpu);
    const argv = smokeArgvFor(p, 'sha256:abc');
    expect(argv.slice(0, 3)).toEqual(['run', '--name', 'pcb-smoke-42-1-abcd']);
    expect(flag(argv, '--network')).toEqual(['none']);
    expect(flag(argv, '-v')).toEqual(['/w/report:/pcb-report']);
    expect(flag(argv, '--gpus')).toEqual(gpu ? ['all'] : []);
    const img = argv.indexOf('sha256:abc');
    expect(argv.slice(img)).toEqual(['sha256:abc', 'python', '/opt/pointcept/smoke_tests.py', '--json', '/pcb-report/report.json', ...(gpu ? [] : ['--no-gpu'])]);
  });
});

describe('adaptToBuilder: what each runner setup makes of the inputs', () => {
  const adapt = (b: BuilderFacts, over: Parameters<typeof raw>[0] = {}) => adaptToBuilder(inputs(over), recipeOf(over).dockerfile, b, capabilities(b));
  const errors = (a: ReturnType<typeof adapt>) => a.findings.filter((f) => f.level === 'error').map((f) => f.message);
  it('Engine 20.10 with default inputs (cache-backend: local): fails with the fix', () => {
    expect(errors(adapt(dockerDriver('20.10.24+dfsg1', false)))).toEqual([
      'builder "default" (docker driver, Docker Engine 20.10.24+dfsg1, BuildKit 0.8, classic image store) cannot take named build contexts (BuildKit 0.10 or newer can), which cache-backend: local needs; upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or set cache-backend: none',
    ]);
  });
  it('Engine 20.10 with cache-backend: none builds without named contexts', () => {
    const a = adapt(dockerDriver('20.10.24+dfsg1', false), { 'cache-backend': 'none' });
    expect(errors(a)).toEqual([]);
    expect(a.namedContexts).toBe(false);
    expect(a.findings.map((f) => f.message)).toEqual(['builder "default" (docker driver, Docker Engine 20.10.24+dfsg1, BuildKit 0.8, classic image store) takes no named build contexts; the build uses the Dockerfile\'s own env-spec and miniforge stages']);
  });
  it('Engine 20.10 with a lock file and another env file names every input that needs the contexts', () => {
    expect(errors(adapt(dockerDriver('20.10.24', false), { 'cache-backend': 'none', 'lock-file': 'environment.yml', 'environment-file': '../../../environment.yml' }))[0])
      .toMatch(/which environment-file: \.\.\/\.\.\/\.\.\/environment\.yml and lock-file need; .* or keep the env file at environment\.yml in the context and leave lock-file empty$/);
  });
  it.each([
    ['Engine 26 classic store', dockerDriver('26.1.5', false), false],
    ['Engine 26 containerd store', dockerDriver('26.1.5', true), true],
    ['remote builder', REMOTE, true],
    ['kubernetes builder', { ...REMOTE, driver: 'kubernetes' }, true],
    ['docker-container builder', { ...REMOTE, driver: 'docker-container', buildkit: null }, true],
  ])('%s with default inputs: no error', (_n, b, layerCacheExport) => {
    const a = adapt(b);
    expect(errors(a)).toEqual([]);
    expect(a).toMatchObject({ namedContexts: true, layerCacheExport });
  });
  it('a remote BuildKit 0.10 (named contexts, no oci-layout contexts) with cache-backend local or gha: fails with the fix; registry is fine', () => {
    const old = { ...REMOTE, buildkit: '0.10.6' };
    expect(errors(adapt(old))).toEqual(['builder "pcb-remote" (remote driver, BuildKit 0.10.6) cannot take the env cache as an OCI layout (BuildKit 0.11 or newer can), which cache-backend: local needs; upgrade the builder\'s BuildKit, or set cache-backend: registry or none']);
    expect(errors(adapt(old, { 'cache-backend': 'gha' }))).toHaveLength(1);
    expect(errors(adapt(old, { 'cache-backend': 'registry', 'cache-ref': '127.0.0.1:5000/c' }))).toEqual([]);
  });
  it('an explicit cache-to the docker driver cannot export fails in preflight; type=inline is fine', () => {
    expect(errors(adapt(dockerDriver('26.1.5', false), { 'cache-to': 'type=local,dest=/c\ntype=inline' }))).toEqual([
      'Input "cache-to": "type=local,dest=/c" is not accepted; builder "default" (docker driver, Docker Engine 26.1.5, BuildKit 0.13, classic image store) can only export type=inline; turn on the containerd image store, or use a docker-container builder (docker/setup-buildx-action).',
    ]);
    expect(errors(adapt(dockerDriver('26.1.5', true), { 'cache-to': 'type=local,dest=/c' }))).toEqual([]);
  });
  it("the action's own Dockerfile (ADD --checksum) on an Engine whose frontend cannot parse it fails in preflight", () => {
    const own = { context: '', 'cache-backend': 'none' };
    expect(errors(adapt(dockerDriver('24.0.9', false), own))).toEqual([
      'Dockerfile.gpu uses ADD --checksum (Dockerfile syntax 1.6), which the Dockerfile frontend built into builder "default" (docker driver, Docker Engine 24.0.9, BuildKit 0.11, classic image store) cannot parse; upgrade Docker Engine to 25.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or make "# syntax=docker/dockerfile:1.6" the Dockerfile\'s first line',
    ]);
    expect(errors(adapt(dockerDriver('25.0.5', false), own))).toEqual([]);
    expect(errors(adapt(REMOTE, own))).toEqual([]);
    expect(errors(adapt({ ...REMOTE, driver: 'docker-container', buildkit: null }, own))).toEqual([]); // not started yet: taken as current
  });
  it('namedContextNeeds lists each reason with its way out', () => {
    expect(namedContextNeeds(inputs({ 'cache-backend': 'none' }))).toEqual([]);
    expect(namedContextNeeds(inputs({ 'cache-backend': 'gha' })).map((n) => n.why)).toEqual(['cache-backend: gha']);
  });
});

describe('helpers', () => {
  it.each([[16, 128, 16], [16, 15, 3], [2, 1, 1], [64, 32, 8]])('autoMaxJobs(%i cpus, %i GiB) = %i', (c, m, want) => expect(autoMaxJobs(c, m)).toBe(want));
});

describe('publishing: the build argv of each way (builder x push x load)', () => {
  const CONTAINERD = dockerDriver('26.1.5', true);
  const CLASSIC = dockerDriver('26.1.5', false);
  const RUN_URL = 'https://github.com/org/pc/actions/runs/7/attempts/1';
  const ATTESTED = {
    push: 'true', tags: 'r.example/a:1\nr.example/a:latest\nr.example/b:1', provenance: 'mode=max', sbom: 'generator=r.example/scanner:stand-in',
    annotations: 'manifest:org.opencontainers.image.description=Point clouds, fast\nindex:org.opencontainers.image.title=pc',
  };
  const ATTESTS = [`type=provenance,mode=max,builder-id=${RUN_URL}`, 'type=sbom,generator=r.example/scanner:stand-in'];
  const ANNOTATIONS = ['manifest:org.opencontainers.image.description=Point clouds, fast', 'index:org.opencontainers.image.title=pc'];
  it.each<[string, Case, { way: string | null; want: Record<string, string[] | boolean> }]>([
    ['remote builder, classic store: one push by digest to both repositories, no tag, nothing loaded', { inputs: ATTESTED }, { way: 'by-digest', want: {
      '--tag': [], '--load': false, '--push': false, '--attest': ATTESTS, '--annotation': ANNOTATIONS,
      '--output': ['type=image,"name=r.example/a,r.example/b",push-by-digest=true,name-canonical=true,push=true'],
    } }],
    ['remote builder, provenance false: buildx\'s default is turned off; sbom false adds nothing', { inputs: { push: 'true', tags: 'r.example/a:1', provenance: 'false', sbom: 'false' } }, { way: 'by-digest', want: {
      '--attest': ['type=provenance,disabled=true'], '--output': ['type=image,name=r.example/a,push-by-digest=true,name-canonical=true,push=true'],
    } }],
    ['containerd store, docker driver: the tagged index is loaded, tested, then pushed', { inputs: ATTESTED, builder: CONTAINERD }, { way: 'loaded-index', want: {
      '--tag': ['r.example/a:1', 'r.example/a:latest', 'r.example/b:1'], '--load': true, '--output': [], '--attest': ATTESTS, '--annotation': ANNOTATIONS,
    } }],
    ['classic store, docker driver, nothing asked: today\'s load + docker push, no attestation flags', { inputs: { push: 'true', tags: 'r.example/a:1' }, builder: CLASSIC }, { way: 'loaded-image', want: {
      '--tag': ['r.example/a:1'], '--load': true, '--attest': [], '--annotation': [],
    } }],
    ['push false, containerd store: the loaded image keeps what was asked, its layers uncompressed', { inputs: { provenance: 'mode=max' }, builder: CONTAINERD }, { way: null, want: { '--attest': [`type=provenance,mode=max,builder-id=${RUN_URL}`], '--load': false, '--output': ['type=docker,compression=uncompressed'] } }],
    ['push false, remote builder: no attestation flags (buildx\'s default only), layers uncompressed', { inputs: {} }, { way: null, want: { '--attest': [], '--load': false, '--output': ['type=docker,compression=uncompressed'] } }],
    ['push false, docker driver with the classic store: plain --load (its exporter ignores compression)', { inputs: {}, builder: CLASSIC }, { way: null, want: { '--attest': [], '--load': true, '--output': [] } }],
    ['load false, no smoke run: buildx pushes the tags itself, attested', { inputs: { push: 'true', load: 'false', 'smoke-tests': 'false', tags: 'r.example/a:1', provenance: 'true' } }, { way: 'buildx-push', want: {
      '--tag': ['r.example/a:1'], '--push': true, '--load': false, '--attest': [`type=provenance,builder-id=${RUN_URL}`],
    } }],
    ['a builder-id given is kept', { inputs: { push: 'true', tags: 'r.example/a:1', provenance: 'mode=min,builder-id=https://ci.example/1' } }, { way: 'by-digest', want: { '--attest': ['type=provenance,mode=min,builder-id=https://ci.example/1'] } }],
  ])('%s', (_n, c, { way, want }) => {
    const p = plan({ builderId: RUN_URL, ...c });
    expect(p.publish?.way ?? null).toBe(way);
    for (const [k, v] of Object.entries(want)) {
      if (typeof v === 'boolean') expect(p.buildArgv.includes(k), k).toBe(v);
      else expect(flag(p.buildArgv, k), k).toEqual(v);
    }
    // the index shape: by-digest always, the loaded ways only when an annotation goes on the index
    const multi = flag(p.buildArgv, '--build-arg').includes('BUILDKIT_MULTI_PLATFORM=1');
    expect(multi).toBe(way === 'by-digest' || ((way === 'loaded-index' || way === 'buildx-push') && /index:/.test(c.inputs?.annotations ?? '')));
  });
  it('groups the tags by repository, keeps the attest values for the summary, and names the tested platform', () => {
    const p = plan({ inputs: ATTESTED, builderId: RUN_URL });
    expect(p.publish).toMatchObject({
      repositories: [{ repository: 'r.example/a', tags: ['r.example/a:1', 'r.example/a:latest'] }, { repository: 'r.example/b', tags: ['r.example/b:1'] }],
      platform: 'linux/amd64', attests: ATTESTS,
    });
  });
  it('one notice where docker push cannot carry attestations and none was asked for; none elsewhere', () => {
    expect(plan({ inputs: { push: 'true', tags: 'r.example/a:1' }, builder: CLASSIC }).notices).toEqual([
      'builder "default" (docker driver, Docker Engine 26.1.5, BuildKit 0.13, classic image store) pushes the tested image with docker push, which carries no provenance, SBOM or annotations (and compresses every layer again); for attested images, turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json), or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one) (see "Runner setups" and "Publishing" in the README)',
    ]);
    expect(plan({ inputs: { push: 'true', tags: 'r.example/a:1' } }).notices).toEqual([]);
    expect(plan({ inputs: { push: 'true', tags: 'r.example/a:1' }, builder: CONTAINERD }).notices).toEqual([]);
  });
  it('asked for explicitly where they cannot travel: a preflight error naming the inputs and the fix', () => {
    const adapt = (b: BuilderFacts, over: Parameters<typeof raw>[0]) => adaptToBuilder(inputs({ 'cache-backend': 'none', ...over }), recipeOf({ 'cache-backend': 'none', ...over }).dockerfile, b, capabilities(b));
    const errors = (a: ReturnType<typeof adapt>) => a.findings.filter((f) => f.level === 'error').map((f) => f.message);
    expect(errors(adapt(CLASSIC, { push: 'true', tags: 'r.example/a:1', provenance: 'mode=max', annotations: 'org.example.a=1' }))).toEqual([
      'provenance and annotations were set, but builder "default" (docker driver, Docker Engine 26.1.5, BuildKit 0.13, classic image store) loads one image into the classic image store and pushes it with docker push, which carries no attestations or annotations; turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json), or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or leave provenance, annotations empty',
    ]);
    expect(errors(adapt(REMOTE, { sbom: 'true' }))[0]).toMatch(/^sbom was set, but with push: false the image is only loaded into the Engine's classic image store, which keeps no attestations or annotations; set push: true/);
    expect(errors(adapt(dockerDriver('20.10.24', false), { push: 'true', tags: 'r.example/a:1', provenance: 'true' }))).toHaveLength(1);
    // false and empty ask for nothing
    expect(errors(adapt(CLASSIC, { push: 'true', tags: 'r.example/a:1', provenance: 'false', sbom: 'false' }))).toEqual([]);
    expect(errors(adapt(REMOTE, { push: 'true', tags: 'r.example/a:1', provenance: 'mode=max', sbom: 'true', annotations: 'index:a.b=c' }))).toEqual([]);
    expect(errors(adapt(CONTAINERD, { provenance: 'mode=max' }))).toEqual([]);
  });
});

describe('the reuse check before a load (src/load.ts)', () => {
  const CLASSIC = dockerDriver('26.1.5', false);
  const REMOTE_CONTAINERD: BuilderFacts = { ...REMOTE, containerdStore: true };
  it('a builder with its own BuildKit loading into the classic store: the main build with its image kept in BuildKit, the same labels and layer cache', () => {
    const p = withLockLabel(plan({ inputs: { tags: 'r.example/a:1', labels: 'a=b' }, session: { layerCacheFrom: ['type=local,src=/c/cur'], layerCacheTo: ['type=local,dest=/c/new,mode=max'] } }), 'ff');
    const check = p.reuseCheck!;
    expect(check.metadataFile).toBe('/w/reuse-check-metadata.json');
    expect(flag(check.argv, '--metadata-file')).toEqual([check.metadataFile]);
    expect(flag(check.argv, '--output')).toEqual(['type=image,compression=uncompressed,oci-mediatypes=true']);
    expect(check.argv).toContain('--provenance=false');
    for (const f of ['--tag', '--iidfile', '--load']) expect(flag(check.argv, f), f).toEqual([]);
    for (const f of ['--label', '--cache-from', '--cache-to', '--build-arg', '--file', '--builder']) expect(flag(check.argv, f), f).toEqual(flag(p.buildArgv, f));
    expect(flag(check.argv, '--label')).toEqual(['a=b', `${LOCK_LABEL}=ff`]);
    expect(check.argv.at(-1)).toBe(p.buildArgv.at(-1));
  });
  it.each<[string, Case]>([
    ['the docker driver (its load moves nothing)', { builder: CLASSIC }],
    ['the containerd store (the Engine names images by manifest digest)', { builder: REMOTE_CONTAINERD }],
    ['a push by digest (the Engine pulls only what it lacks)', { inputs: { push: 'true', tags: 'r.example/a:1' } }],
    ['no-cache (the check would build everything twice)', { inputs: { 'no-cache': 'true' } }],
    ['no-cache-filters', { inputs: { 'no-cache-filters': 'extensions' } }],
    ['load: false', { inputs: { load: 'false', 'smoke-tests': 'false' } }],
  ])('none with %s', (_n, c) => {
    expect(plan(c).reuseCheck).toBeNull();
  });
});

describe('the other build inputs in the argv', () => {
  const STAGES_AFTER_ENV = ['env-lock', 'extensions', 'runtime'];
  it('no-cache: the first build of the run gets --no-cache, later ones every stage but the env ones it rebuilt', () => {
    const save = { outputs: ['type=oci,tar=false,dest=/c/tmp/x,compression=uncompressed'], dir: '/c/tmp/x', engineName: null, layout: true, annotate: false };
    const p = plan({ inputs: { 'no-cache': 'true' }, session: { save } });
    expect(p.envBuilds[0].argv.includes('--no-cache')).toBe(true);
    expect(flag(p.buildArgv, '--no-cache-filter')).toEqual(STAGES_AFTER_ENV);
    expect(p.buildArgv.includes('--no-cache')).toBe(false);
    // the save exports the env the run built: it never builds it again
    expect(p.envSave!.argv.includes('--no-cache')).toBe(false);
    expect(flag(p.envSave!.argv, '--no-cache-filter')).toEqual(STAGES_AFTER_ENV);
  });
  it('no-cache without env builds: the main build is the first', () => {
    expect(plan({ inputs: { 'no-cache': 'true' }, session: { exports: [] } }).buildArgv.includes('--no-cache')).toBe(true);
  });
  it('no-cache-filters: as given to the first build; the env stages not again', () => {
    const p = plan({ inputs: { 'no-cache-filters': 'conda-env,runtime' } });
    expect(flag(p.envBuilds[0].argv, '--no-cache-filter')).toEqual(['conda-env', 'runtime']);
    expect(flag(p.buildArgv, '--no-cache-filter')).toEqual(['runtime']);
  });
  it('pull, secret-files, secret-envs, ssh, network, shm-size, ulimit and build-contexts reach every build', () => {
    const p = plan({ inputs: { pull: 'true', 'secret-files': 'cfg=environment.yml', ssh: 'default', network: 'none', 'shm-size': '2g', ulimit: 'nofile=1024:2048', 'build-contexts': 'extra=docker-image://alpine:3.20' } });
    for (const argv of [p.buildArgv, ...p.envBuilds.map((b) => b.argv)]) {
      expect(argv.includes('--pull')).toBe(true);
      expect(flag(argv, '--secret')).toEqual([`id=cfg,src=${FIXTURE.replace(/__tests__.*/, '')}environment.yml`]);
      expect(flag(argv, '--ssh')).toEqual(['default']);
      expect(flag(argv, '--network')).toEqual(['none']);
      expect(flag(argv, '--shm-size')).toEqual(['2g']);
      expect(flag(argv, '--ulimit')).toEqual(['nofile=1024:2048']);
      expect(flag(argv, '--build-context')).toEqual(['extra=docker-image://alpine:3.20']);
    }
  });
  it('secret-envs name the variable; a secret file path with a comma is quoted for buildx', () => {
    expect(plan({ inputs: { 'secret-envs': 'gh=HOME' } }).buildArgv).toContain('id=gh,env=HOME');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-plan-'));
    fs.writeFileSync(path.join(dir, 'a,b.pem'), 'x');
    expect(plan({ inputs: { 'secret-files': `"cert=${dir}/a,b.pem"` } }).buildArgv).toContain(`id=cert,"src=${dir}/a,b.pem"`);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('build-contexts on a builder without named contexts: a preflight error', () => {
    const i = inputs({ 'cache-backend': 'none', 'build-contexts': 'extra=docker-image://alpine:3.20' });
    const b = dockerDriver('20.10.24', false);
    expect(adaptToBuilder(i, recipeOf({ 'cache-backend': 'none' }).dockerfile, b, capabilities(b)).findings.filter((f) => f.level === 'error').map((f) => f.message)).toEqual([
      'Input "build-contexts": "extra" is not accepted; builder "default" (docker driver, Docker Engine 20.10.24, BuildKit 0.8, classic image store) cannot take named build contexts (BuildKit 0.10 or newer can); upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one).',
    ]);
  });
});

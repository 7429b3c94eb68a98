import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/arch.js';
import { capabilities, engineBuildkit, type BuilderFacts } from '../src/builder.js';
import type { EnvCacheSession } from '../src/env-cache/types.js';
import { LOCK_LABEL, adaptToBuilder, autoMaxJobs, makePlan, namedContextNeeds, planForPeople, smokeArgvFor, withLockLabel } from '../src/plan.js';
import { resolveRecipe, type Recipe } from '../src/recipe.js';
import { FIXTURE, inputs, raw } from './helpers.js';

const H200: Gpu = { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memoryGiB: 139.8 };
const REMOTE: BuilderFacts = { name: 'pcb-remote', driver: 'remote', buildx: '0.38.2', buildkit: '0.34.2', engine: '20.10.24', engineApi: '1.41', containerdStore: false };
const dockerDriver = (engine: string, store: boolean): BuilderFacts => ({ name: 'default', driver: 'docker', buildx: '0.38.2', buildkit: engineBuildkit(engine, null), engine, engineApi: null, containerdStore: store });

function session(over: Partial<EnvCacheSession> = {}): EnvCacheSession {
  return {
    key: 'k', platform: 'linux/amd64', hit: false, matchedKey: '', buildContexts: [], layerCacheFrom: [], layerCacheTo: [], restoreSeconds: 0, sizeBytes: null, warnings: [],
    exports: [{ target: 'env-lock', output: 'type=local,dest=/w/env-cache/env-lock' }], exportDir: '/w/env-cache/env-export', lockPath: '/w/env-cache/env-lock/environment.lock', lookupOnly: false,
    ...over,
  };
}

function recipeOf(over: Parameters<typeof raw>[0]): Recipe {
  const r = resolveRecipe(inputs(over), raw(over));
  if ('errors' in r) throw new Error(r.errors.join('\n'));
  return r;
}

interface Case { inputs?: Parameters<typeof raw>[0]; gpus?: Gpu[]; memoryGiB?: number; archList?: string; builder?: BuilderFacts; session?: Partial<EnvCacheSession> }
function plan(c: Case = {}) {
  const i = inputs({ 'cache-backend': 'none', ...c.inputs });
  const r = recipeOf({ 'cache-backend': 'none', ...c.inputs });
  const builder = c.builder ?? REMOTE;
  const caps = capabilities(builder);
  const pf = { builder, adaptation: adaptToBuilder(i, r.dockerfile, builder, caps), gpus: c.gpus ?? [H200], archList: c.archList ?? '7.5;8.0;8.6;8.9;9.0+PTX', cpus: 16, memoryGiB: c.memoryGiB ?? 128 };
  return makePlan(i, r, pf, { runId: '42-1-abcd', workDir: '/w' }, session(c.session));
}

/** The values following each occurrence of a flag in an argv. */
const flag = (argv: string[], name: string) => argv.flatMap((a, n) => (a === name ? [argv[n + 1]] : []));

describe('inputs -> plan -> buildx argv', () => {
  it.each<[string, Case, Record<string, string[] | boolean>]>([
    ['defaults: the Dockerfile keeps its own arch list, base image, env name and Miniforge version', {}, {
      '--build-arg': ['MAX_JOBS=16'], '--tag': [], '--load': true, '--push': false, '--builder': [], '--platform': ['linux/amd64'], '--target': [], '--build-context': [],
    }],
    ['builder, target, tags, labels, args', { inputs: { builder: 'pcb-remote', target: 'extensions', tags: 'r.example/a:1,r.example/a:latest', labels: 'a=b,c', 'build-args': 'X=1;2 $(y)', 'max-jobs': '2', 'base-image': '127.0.0.1:5000/pcb-base:busybox', 'torch-cuda-arch-list': '9.0' }, archList: '9.0' }, {
      '--builder': ['pcb-remote'], '--target': ['extensions'], '--tag': ['r.example/a:1', 'r.example/a:latest'], '--label': ['a=b,c'],
      '--build-arg': ['MAX_JOBS=2', 'TORCH_CUDA_ARCH_LIST=9.0', 'BASE_IMAGE=127.0.0.1:5000/pcb-base:busybox', 'X=1;2 $(y)'],
    }],
    ['arch auto from the GPUs, memory-bound max-jobs', { inputs: { 'torch-cuda-arch-list': 'auto' }, archList: '8.0;9.0', memoryGiB: 15 }, {
      '--build-arg': ['MAX_JOBS=3', 'TORCH_CUDA_ARCH_LIST=8.0;9.0'],
    }],
    ['user cache wins over env-cache defaults', { inputs: { 'cache-from': 'type=registry,ref=r/c', 'cache-to': 'type=registry,ref=r/c,mode=max' }, session: { buildContexts: ['--build-context', 'env-cache=/c'], layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/l2'] } }, {
      '--cache-from': ['type=registry,ref=r/c'], '--cache-to': ['type=registry,ref=r/c,mode=max'], '--build-context': ['env-cache=/c'],
    }],
    ['env-cache layer defaults without user cache', { session: { layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/l2,mode=max'] } }, {
      '--cache-from': ['type=local,src=/l'], '--cache-to': ['type=local,dest=/l2,mode=max'],
    }],
    ['the env file at the context root spelled another way: no env-spec context', { inputs: { 'environment-file': 'docker/../environment.yml' } }, { '--build-context': [] }],
    ['another env file: the env-spec context carries it', { inputs: { 'environment-file': '../../../environment.yml' } }, { '--build-context': ['env-spec=/w/env-spec'] }],
    ['a lock file: the env-spec context carries it', { inputs: { 'lock-file': 'environment.yml' } }, { '--build-context': ['env-spec=/w/env-spec'] }],
    ['no load, no smoke, push: buildx pushes', { inputs: { load: 'false', 'smoke-tests': 'false', push: 'true', tags: 'r.example/a:1' } }, { '--load': false, '--push': true }],
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
    expect(plan({ builder: dockerDriver('26.1.5', false) }).notices).toEqual([]);
    expect(plan({ session: { layerCacheTo: ['type=local,dest=/l2'] } }).notices).toEqual([]);
  });

  it('env builds share the main build settings and add --target/--output', () => {
    const p = plan({ inputs: { builder: 'b' }, session: { buildContexts: ['--build-context', 'env-cache=/c'], layerCacheFrom: ['type=local,src=/l'], layerCacheTo: ['type=local,dest=/x'], exports: [{ target: 'env-export', output: 'type=local,dest=/w/env-export' }, { target: 'env-lock', output: 'type=local,dest=/w/env-lock' }] } });
    expect(p.envBuilds.map((b) => b.target)).toEqual(['env-export', 'env-lock']);
    for (const b of p.envBuilds) {
      expect(flag(b.argv, '--target')).toEqual([b.target]);
      expect(flag(b.argv, '--output')).toEqual([`type=local,dest=/w/${b.target}`]);
      expect(flag(b.argv, '--builder')).toEqual(['b']);
      expect(flag(b.argv, '--build-context')).toEqual(['env-cache=/c']);
      expect(flag(b.argv, '--cache-from')).toEqual(['type=local,src=/l']);
      expect(flag(b.argv, '--cache-to')).toEqual([]);
      expect(b.argv.includes('--load')).toBe(false);
    }
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
    expect(argv.slice(0, 4)).toEqual(['run', '--rm', '--name', 'pcb-smoke-42-1-abcd']);
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

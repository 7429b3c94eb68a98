import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseInputs } from '../src/inputs.js';
import { REQUIRED_ARGS, REQUIRED_STAGES, archCovers, autoMaxJobs, makePlan, missingFromDockerfile, readDockerfile, resolveArchList, smokeArgvFor, stageText, type Facts } from '../src/plan.js';
import { FIXTURE, ROOT, raw } from './helpers.js';

const H200 = { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memoryGiB: 139.8 };
function facts(over: Partial<Facts> = {}): Facts {
  return {
    runId: '42-1-abcd', workDir: '/w', cpus: 16, memoryGiB: 128, gpus: [H200],
    dockerfileArgs: { BASE_IMAGE: 'pcb-base:busybox', MINIFORGE_VERSION: '24.11.3-0', ENV_NAME: 'pointcept-fixture' },
    envCache: { key: 'k', buildContexts: [], cacheFrom: [], cacheTo: [], exports: [] },
    lockSha256: null,
    ...over,
  };
}
const plan = (over: Parameters<typeof raw>[0] = {}, f: Partial<Facts> = {}) => makePlan(parseInputs(raw(over), ROOT), facts(f));

/** The values following each occurrence of a flag in an argv. */
const flag = (argv: string[], name: string) => argv.flatMap((a, n) => (a === name ? [argv[n + 1]] : []));

describe('inputs -> plan -> buildx argv', () => {
  it.each([
    ['defaults', {}, {}, {
      '--build-arg': ['TORCH_CUDA_ARCH_LIST=7.5;8.0;8.6;8.9;9.0', 'MAX_JOBS=16'],
      '--tag': [], '--load': true, '--push': false, '--builder': [], '--platform': ['linux/amd64'], '--target': [],
    }],
    ['builder, target, tags, labels, args', { builder: 'pcb-remote', target: 'extensions', tags: 'r.example/a:1,r.example/a:latest', labels: 'a=b,c', 'build-args': 'X=1;2 $(y)', 'max-jobs': '2', 'base-image': '127.0.0.1:5000/pcb-base:busybox' }, {}, {
      '--builder': ['pcb-remote'], '--target': ['extensions'], '--tag': ['r.example/a:1', 'r.example/a:latest'], '--label': ['a=b,c'],
      '--build-arg': ['TORCH_CUDA_ARCH_LIST=7.5;8.0;8.6;8.9;9.0', 'MAX_JOBS=2', 'BASE_IMAGE=127.0.0.1:5000/pcb-base:busybox', 'X=1;2 $(y)'],
    }],
    ['arch auto from the GPUs, memory-bound max-jobs', { 'torch-cuda-arch-list': 'auto' }, { gpus: [H200, { ...H200, capability: '8.0' }], memoryGiB: 15 }, {
      '--build-arg': ['TORCH_CUDA_ARCH_LIST=8.0;9.0', 'MAX_JOBS=3'],
    }],
    ['user cache wins over env-cache defaults', { 'cache-from': 'type=registry,ref=r/c', 'cache-to': 'type=registry,ref=r/c,mode=max' }, { envCache: { key: 'k', buildContexts: ['--build-context', 'env-cache=/c'], cacheFrom: ['type=local,src=/l'], cacheTo: ['type=local,dest=/l2'], exports: [] } }, {
      '--cache-from': ['type=registry,ref=r/c'], '--cache-to': ['type=registry,ref=r/c,mode=max'], '--build-context': ['env-spec=/w/env-spec', 'env-cache=/c'],
    }],
    ['env-cache layer defaults without user cache', {}, { envCache: { key: 'k', buildContexts: [], cacheFrom: ['type=local,src=/l'], cacheTo: ['type=local,dest=/l2,mode=max'], exports: [] } }, {
      '--cache-from': ['type=local,src=/l'], '--cache-to': ['type=local,dest=/l2,mode=max'],
    }],
    ['lock label', { labels: 'x=y' }, { lockSha256: 'ab12' }, { '--label': ['x=y', 'org.pointcept.env.lock.sha256=ab12'] }],
    ['no load, no smoke, push: buildx pushes', { load: 'false', 'smoke-tests': 'false', push: 'true', tags: 'r.example/a:1' }, {}, { '--load': false, '--push': true }],
    ['secrets go through env, never argv', { secrets: 'pip=s3cr3t' }, {}, { '--secret': ['id=pip,env=PCB_SECRET_0'] }],
  ] as const)('%s', (_name, over, f, want) => {
    const p = plan(over as never, f as never);
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

  it('env builds share the main build settings and add --target/--output', () => {
    const p = plan({ builder: 'b' }, { envCache: { key: 'k', buildContexts: ['--build-context', 'env-cache=/c'], cacheFrom: ['type=local,src=/l'], cacheTo: ['type=local,dest=/x'], exports: [{ target: 'env-export', output: 'type=local,dest=/w/env-export' }, { target: 'env-lock', output: 'type=local,dest=/w/env-lock' }] } });
    expect(p.envArgvs).toHaveLength(2);
    for (const [n, t] of ['env-export', 'env-lock'].entries()) {
      const a = p.envArgvs[n];
      expect(flag(a, '--target')).toEqual([t]);
      expect(flag(a, '--output')).toEqual([`type=local,dest=/w/${t}`]);
      expect(flag(a, '--builder')).toEqual(['b']);
      expect(flag(a, '--build-context')).toEqual(['env-spec=/w/env-spec', 'env-cache=/c']);
      expect(flag(a, '--cache-from')).toEqual(['type=local,src=/l']);
      expect(flag(a, '--cache-to')).toEqual([]);
      expect(a.includes('--load')).toBe(false);
    }
  });
});

describe('smoke argv', () => {
  it.each([
    ['gpu auto with a GPU', {}, [H200], true],
    ['gpu auto without a GPU', {}, [], false],
    ['gpu true without nvidia-smi', { gpu: 'true' }, [], true],
    ['gpu false with a GPU', { gpu: 'false' }, [H200], false],
  ] as const)('%s', (_n, over, gpus, gpu) => {
    const p = plan(over as never, { gpus: [...gpus] });
    const argv = smokeArgvFor(p, 'sha256:abc');
    expect(argv.slice(0, 4)).toEqual(['run', '--rm', '--name', 'pcb-smoke-42-1-abcd']);
    expect(flag(argv, '--network')).toEqual(['none']);
    expect(flag(argv, '-v')).toEqual(['/w/report:/pcb-report']);
    expect(flag(argv, '--gpus')).toEqual(gpu ? ['all'] : []);
    const img = argv.indexOf('sha256:abc');
    expect(argv.slice(img)).toEqual(['sha256:abc', 'python', '/opt/pointcept/smoke_tests.py', '--json', '/pcb-report/report.json', ...(gpu ? [] : ['--no-gpu'])]);
  });
});

describe('helpers', () => {
  it.each([[16, 128, 16], [16, 15, 3], [2, 1, 1], [64, 32, 8]])('autoMaxJobs(%i cpus, %i GiB) = %i', (c, m, want) => expect(autoMaxJobs(c, m)).toBe(want));
  it.each([
    ['9.0', '9.0', true], ['8.0;8.6', '9.0', false], ['8.0+PTX', '9.0', true], ['9.0+PTX', '8.6', false], ['7.5;8.0;8.6;8.9;9.0', '8.9', true], ['9.0a', '9.0', true], ['10.0', '12.0', false],
  ])('archCovers(%j, %s) = %s', (list, cap, want) => expect(archCovers(list, cap)).toBe(want));
  it('resolveArchList auto without GPUs is undefined', () => {
    expect(resolveArchList('auto', [])).toBeUndefined();
    expect(resolveArchList('8.0', [])).toBe('8.0');
  });
});

describe('the Dockerfiles hold every stage and ARG the action relies on', () => {
  const files = [path.join(FIXTURE, 'docker', 'Dockerfile.gpu'), path.join(ROOT, 'docker', 'Dockerfile.gpu')];
  it.each(files)('%s', (f) => {
    if (!fs.existsSync(f)) return expect(f).toContain('docker/Dockerfile.gpu'); // the real one may not exist yet in a partial checkout
    const text = fs.readFileSync(f, 'utf8');
    expect(missingFromDockerfile(text)).toEqual([]);
    const { stages } = readDockerfile(text);
    expect(stages[stages.length - 1]).toBe('runtime');
  });
  it('reports what is missing', () => {
    expect(missingFromDockerfile('ARG BASE_IMAGE=x\nFROM ${BASE_IMAGE} AS conda-env\nFROM conda-env AS runtime\n')).toEqual([
      ...REQUIRED_STAGES.filter((s) => !['conda-env', 'runtime'].includes(s)).map((s) => `stage ${s}`),
      ...REQUIRED_ARGS.filter((a) => a !== 'BASE_IMAGE').map((a) => `ARG ${a}`),
    ]);
  });
  it('reads ARG defaults (quotes removed) and the text of one stage', () => {
    const text = 'ARG A="x;y"\nARG B\nFROM ${A} AS one\nRUN a\nARG A\nFROM scratch AS two\nRUN b\n';
    expect(readDockerfile(text).args).toEqual({ A: 'x;y', B: null });
    expect(stageText(text, 'one')).toBe('FROM ${A} AS one\nRUN a\nARG A');
    expect(stageText(text, 'two')).toBe('FROM scratch AS two\nRUN b\n');
  });
});

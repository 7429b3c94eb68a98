import { describe, expect, it } from 'vitest';
import { cudaLimits } from '../src/arch.js';
import { gpuFindings, parseNvidiaSmi, resolveArch } from '../src/preflight.js';
import { digestFromPushOutput } from '../src/publish.js';

const gpu = (capability: string, driver = '570.86.15') => ({ name: 'G', capability, driver, memoryGiB: 80 });

describe('nvidia-smi', () => {
  it('parses nvidia-smi csv', () => {
    expect(parseNvidiaSmi('NVIDIA H200, 9.0, 570.86.15, 143771\nNVIDIA A100-SXM4-80GB, 8.0, 550.54.15, 81920\n')).toEqual([
      { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memoryGiB: 140.4 },
      { name: 'NVIDIA A100-SXM4-80GB', capability: '8.0', driver: '550.54.15', memoryGiB: 80 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
  });
});

describe('gpuFindings: the GPU gate and the driver', () => {
  const levels = (f: ReturnType<typeof gpuFindings>) => f.filter((x) => x.level !== 'ok').map((x) => `${x.level}:${x.check}`);
  it.each([
    ['a good GPU', { gpu: 'auto', 'smoke-tests': true }, [gpu('9.0')], []],
    ['an old driver', { gpu: 'auto', 'smoke-tests': true }, [gpu('9.0', '535.104.05')], ['error:driver']],
    ['gpu auto, no GPU visible: the gate', { gpu: 'auto', 'smoke-tests': true }, [], ['error:gpu']],
    ['gpu auto, no GPU, no smoke run: nothing to gate', { gpu: 'auto', 'smoke-tests': false }, [], []],
    ['gpu true without nvidia-smi', { gpu: 'true', 'smoke-tests': true }, [], ['warn:gpu']],
    ['gpu false without a GPU', { gpu: 'false', 'smoke-tests': true }, [], []],
  ] as const)('%s', (_n, i, gpus, want) => {
    expect(levels(gpuFindings(i, [...gpus], 'Unable to locate executable file: nvidia-smi'))).toEqual(want);
  });
  it('the gate says how to fix the toolkit and how to opt out, on one line', () => {
    const [f] = gpuFindings({ gpu: 'auto', 'smoke-tests': true }, [], 'Unable to locate executable file: nvidia-smi');
    expect(f.message).toBe('gpu: auto found no GPU on this runner (nvidia-smi: Unable to locate executable file: nvidia-smi); fix the NVIDIA driver and Container Toolkit so that nvidia-smi lists the GPU, or set gpu: false to build and test without the GPU checks');
  });
});

describe('resolveArch: the list the build uses', () => {
  const CUDA124 = cudaLimits('12.4');
  const on = { gpu: 'auto', 'smoke-tests': true } as const;
  it.each([
    ['the Dockerfile default on an H200', '7.5;8.0;8.6;8.9;9.0+PTX', [gpu('9.0')], '7.5;8.0;8.6;8.9;9.0+PTX', []],
    ['auto on an H200 and an A100', 'auto', [gpu('9.0'), gpu('8.0')], '8.0;9.0', []],
    ['auto on a B200 with CUDA 12.4: PTX of sm_90', 'auto', [gpu('10.0')], '9.0+PTX', []],
    ['auto without a GPU', 'auto', [], '', ['error:arch']],
    ['a list without the GPU', '7.5;8.0', [gpu('9.0')], '7.5;8.0', ['error:arch']],
    ['a list nvcc 12.4 cannot compile', '9.0;10.0', [gpu('9.0')], '9.0;10.0', ['error:arch']],
    ['no arch list anywhere', '', [gpu('9.0')], '', []],
  ])('%s', (_n, list, gpus, want, errors) => {
    const r = resolveArch(on, { archList: list, cuda: CUDA124 }, gpus);
    expect(r.archList).toBe(want);
    expect(r.findings.filter((f) => f.level !== 'ok').map((f) => `${f.level}:${f.check}`)).toEqual(errors);
  });
  it('gpu: false holds no GPU against the list', () => {
    expect(resolveArch({ gpu: 'false', 'smoke-tests': true }, { archList: '7.5', cuda: CUDA124 }, [gpu('9.0')]).findings).toEqual([]);
  });
});

describe('digestFromPushOutput', () => {
  it('reads the digest docker push prints', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(digestFromPushOutput(`The push refers to repository [127.0.0.1:5000/pcb/x]\n5f70bf18a086: Pushed\n1: digest: ${d} size: 942\n`)).toBe(d);
    expect(digestFromPushOutput('nothing')).toBe('');
  });
});

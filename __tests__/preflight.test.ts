import { describe, expect, it } from 'vitest';
import { MIN_DRIVER, compareVersions, gpuFindings, parseBuildxInspect, parseNvidiaSmi } from '../src/preflight.js';
import { digestFromPushOutput } from '../src/push.js';

describe('nvidia-smi and buildx inspect', () => {
  it('parses nvidia-smi csv', () => {
    expect(parseNvidiaSmi('NVIDIA H200, 9.0, 570.86.15, 143771\nNVIDIA A100-SXM4-80GB, 8.0, 550.54.15, 81920\n')).toEqual([
      { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memoryGiB: 140.4 },
      { name: 'NVIDIA A100-SXM4-80GB', capability: '8.0', driver: '550.54.15', memoryGiB: 80 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
  });
  it('parses docker buildx inspect', () => {
    expect(parseBuildxInspect('Name:          pcb-remote\nDriver:        remote\nLast Activity: 2026-01-01\n\nNodes:\nName:      pcb-remote0\n')).toEqual({ name: 'pcb-remote', driver: 'remote' });
  });
  it.each([
    ['550.54.14', MIN_DRIVER, 0], ['550.54.13', MIN_DRIVER, -1], ['570.86.15', MIN_DRIVER, 1], ['535.183.01', MIN_DRIVER, -1], ['550.100', '550.54.14', 1],
  ])('compareVersions(%s, %s) = %i', (a, b, want) => expect(compareVersions(a, b)).toBe(want));
});

describe('gpuFindings', () => {
  const gpu = (capability: string, driver = '570.86.15') => ({ name: 'G', capability, driver, memoryGiB: 80 });
  const levels = (f: ReturnType<typeof gpuFindings>) => f.filter((x) => x.level !== 'ok').map((x) => `${x.level}:${x.check}`);
  it.each([
    ['a good GPU', { gpu: 'auto', torchCudaArchList: '8.0;9.0', smokeTests: true }, [gpu('9.0')], []],
    ['an old driver', { gpu: 'auto', torchCudaArchList: '9.0', smokeTests: true }, [gpu('9.0', '535.104.05')], ['error:driver']],
    ['an arch list without the GPU', { gpu: 'auto', torchCudaArchList: '7.5;8.0', smokeTests: true }, [gpu('9.0')], ['error:arch']],
    ['the same without smoke tests', { gpu: 'auto', torchCudaArchList: '7.5;8.0', smokeTests: false }, [gpu('9.0')], []],
    ['PTX covers a newer GPU', { gpu: 'auto', torchCudaArchList: '8.0+PTX', smokeTests: true }, [gpu('9.0')], []],
    ['auto arch without a GPU', { gpu: 'auto', torchCudaArchList: 'auto', smokeTests: true }, [], ['warn:gpu', 'error:arch']],
    ['gpu true without nvidia-smi', { gpu: 'true', torchCudaArchList: '9.0', smokeTests: true }, [], ['warn:gpu']],
    ['gpu false without a GPU', { gpu: 'false', torchCudaArchList: '9.0', smokeTests: true }, [], []],
  ] as const)('%s', (_n, inputs, gpus, want) => {
    expect(levels(gpuFindings(inputs, [...gpus], 'nvidia-smi: not found'))).toEqual(want);
  });
});

describe('digestFromPushOutput', () => {
  it('reads the digest docker push prints', () => {
    const d = 'sha256:' + 'a'.repeat(64);
    expect(digestFromPushOutput(`The push refers to repository [127.0.0.1:5000/pcb/x]\n5f70bf18a086: Pushed\n1: digest: ${d} size: 942\n`)).toBe(d);
    expect(digestFromPushOutput('nothing')).toBe('');
  });
});

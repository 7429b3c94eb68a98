import { describe, expect, it } from 'vitest';
import { archCovers, archFindings, autoArchList, cudaLimits, cudaVersionOf, normaliseArchList } from '../src/arch.js';

const gpu = (name: string, capability: string) => ({ name, capability, driver: '570.86.15', memoryGiB: 80 });
const H200 = gpu('NVIDIA H200', '9.0');
const B200 = gpu('NVIDIA B200', '10.0');
const A100 = gpu('NVIDIA A100', '8.0');
const CUDA124 = cudaLimits('12.4');

describe('cudaLimits: what nvcc of a CUDA release compiles', () => {
  it.each([
    ['11.0', '3.5', '8.0'], ['11.3', '3.5', '8.6'], ['11.8', '3.5', '9.0'], ['12.4', '5.0', '9.0'], ['12.6', '5.0', '9.0'],
    ['12.8', '5.0', '12.0'], ['12.9', '5.0', '12.1'], ['13.0', '7.5', '12.1'],
  ])('CUDA %s: %s to %s', (cuda, oldest, newest) => expect(cudaLimits(cuda)).toEqual({ cuda, oldest, newest }));
  it('unknown or too old CUDA has no limits', () => {
    expect(cudaLimits(null)).toBeNull();
    expect(cudaLimits('10.2')).toBeNull();
  });
});

describe('cudaVersionOf: the env file pin first (the env nvcc compiles), else the base image tag', () => {
  it.each([
    ['dependencies:\n  - nvidia/label/cuda-12.4.1::cuda=12.4.1\n  - pytorch-cuda=12.1\n', 'nvidia/cuda:12.8.0-devel-ubuntu22.04', '12.4'],
    ['dependencies:\n  - python=3.10\n  - pytorch::pytorch-cuda=12.1\n', '', '12.1'],
    ['dependencies:\n  - cuda-version 12.6\n', '', '12.6'],
    ['dependencies:\n  - cuda-nvcc==12.8.93\n', '', '12.8'],
    ['dependencies:\n  - python=3.11\n  - pip:\n    - torch\n', 'nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04', '12.4'],
    ['dependencies:\n  - cuda>=12\n', 'nvcr.io/nvidia/cuda:13.0.0-devel-ubuntu24.04', '13.0'],
    ['dependencies:\n  - python=3.11\n', '127.0.0.1:5000/pcb-base:busybox', null],
    ['not: [yaml', 'nvidia/cuda:11.8.0-devel-ubuntu22.04', '11.8'],
  ])('%#', (env, base, want) => expect(cudaVersionOf(env, base)).toBe(want));
});

describe('arch lists', () => {
  it.each([
    ['auto', 'auto'], ['', ''], ['9.0', '9.0'], ['7.5;8.0', '7.5;8.0'], ['9.0a 10.0', '9.0a;10.0'], ['8.6+PTX', '8.6+PTX'], ['90', undefined], ['8.0;;', '8.0'], ['sm_90', undefined],
  ])('normaliseArchList(%j) = %j', (v, want) => expect(normaliseArchList(v)).toBe(want));
  it.each([
    ['9.0', '9.0', true], ['8.0;8.6', '9.0', false], ['8.0+PTX', '9.0', true], ['9.0+PTX', '8.6', false], ['7.5;8.0;8.6;8.9;9.0', '8.9', true],
    ['9.0a', '9.0', true], ['10.0', '12.0', false], ['7.5;8.0;8.6;8.9;9.0+PTX', '10.0', true], ['7.5;8.0;8.6;8.9;9.0+PTX', '12.0', true],
  ])('archCovers(%j, %s) = %s', (list, cap, want) => expect(archCovers(list, cap)).toBe(want));
  it.each([
    [[H200, A100], CUDA124, '8.0;9.0'],
    [[B200], CUDA124, '9.0+PTX'],
    [[B200, H200], CUDA124, '9.0+PTX'],
    [[B200, A100], CUDA124, '8.0;9.0+PTX'],
    [[B200], cudaLimits('12.8'), '10.0'],
    [[B200], null, '10.0'],
    [[], CUDA124, undefined],
  ])('autoArchList %#', (gpus, limits, want) => expect(autoArchList(gpus, limits)).toBe(want));
});

describe('archFindings', () => {
  const errors = (list: string, gpus: ReturnType<typeof gpu>[], limits: ReturnType<typeof cudaLimits>, gpuChecks = true) => archFindings(list, gpus, limits, gpuChecks).filter((f) => f.level === 'error').map((f) => f.message);
  it('a GPU newer than the CUDA compiles for: advise PTX of the newest it can, not the GPU capability', () => {
    const [m] = errors('7.5;8.0;8.6;8.9;9.0', [B200], CUDA124);
    expect(m).toContain('has no kernels for NVIDIA B200 (compute capability 10.0)');
    expect(m).toContain('CUDA 12.4 compiles up to 9.0: add 9.0+PTX');
    expect(m).not.toContain('Add 10.0');
  });
  it('a GPU the CUDA can compile for: add its capability or use auto', () => {
    expect(errors('7.5;8.0', [H200], CUDA124)[0]).toContain('Add 9.0 or use auto');
    expect(errors('7.5;8.0', [B200], null)[0]).toContain('Add 10.0 or use auto');
  });
  it('the default list covers every GPU from Turing on, Blackwell through PTX', () => {
    for (const g of [gpu('T4', '7.5'), A100, gpu('A10', '8.6'), gpu('L4', '8.9'), H200, B200]) expect(errors('7.5;8.0;8.6;8.9;9.0+PTX', [g], CUDA124)).toEqual([]);
    expect(errors('7.5;8.0;8.6;8.9;9.0+PTX', [gpu('V100', '7.0')], CUDA124)[0]).toContain('Add 7.0 or use auto');
  });
  it('entries nvcc cannot compile are errors even without a GPU', () => {
    expect(errors('9.0;10.0', [], CUDA124, false)).toEqual(['torch-cuda-arch-list "9.0;10.0" has 10.0, which CUDA 12.4 cannot compile (its nvcc goes up to 9.0); use 9.0+PTX, which newer GPUs JIT-compile']);
    expect(errors('7.0;7.5', [], cudaLimits('13.0'), false)[0]).toContain('has 7.0, which CUDA 13.0 no longer compiles (it starts at 7.5)');
    expect(errors('9.0;10.0', [], null, false)).toEqual([]);
  });
  it('without GPU checks, the GPUs are not held against the list', () => {
    expect(errors('7.5', [H200], CUDA124, false)).toEqual([]);
  });
});

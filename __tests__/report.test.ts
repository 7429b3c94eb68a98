import { describe, expect, it } from 'vitest';
import type { BuildResult } from '../src/buildx.js';
import { classify } from '../src/errors.js';
import { addRedactions } from '../src/exec.js';
import { parseInputs } from '../src/inputs.js';
import { makePlan } from '../src/plan.js';
import { VERSION_OUTPUTS, outputsFrom, renderSummary, type Outcome } from '../src/report.js';
import type { SmokeResult } from '../src/smoke.js';
import { ROOT, raw } from './helpers.js';

const plan = makePlan(parseInputs(raw({ tags: '127.0.0.1:5000/pcb/img:1', push: 'true', 'build-args': 'HF_TOKEN=tok-123' }), ROOT), {
  runId: 'r', workDir: '/w', cpus: 4, memoryGiB: 32, gpus: [], dockerfileArgs: { BASE_IMAGE: 'pcb-base:busybox' },
  envCache: { key: 'pointcept-env-v1-linux-amd64-ab', buildContexts: [], cacheFrom: [], cacheTo: [], exports: [] }, lockSha256: 'ff00',
});
const build: BuildResult = {
  exitCode: 0, seconds: 61.2, log: '', imageId: 'sha256:1111',
  metadata: { 'containerimage.digest': 'sha256:2222', 'containerimage.config.digest': 'sha256:1111' },
  summary: { stages: [{ stage: 'conda-env', seconds: 40.5, steps: 3, cached: 1 }, { stage: 'extensions', seconds: 20, steps: 2, cached: 0 }], failedStep: null, failedError: null, failedTail: '' },
};
const report = {
  schema: 1 as const, ok: true,
  versions: { python: '3.11.10', torch: '2.5.0', torch_cuda: '12.4', cudnn: '90100', spconv: '2.3.8', cumm: '0.7.11', torch_geometric: '2.6.1', flash_attn: null, pointops: '1.0.0', pointgroup_ops: '1.0.0' },
  gpu: { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memory_gib: 139.8 },
  checks: [{ name: 'imports', ok: true, required: true, seconds: 0.12, detail: 'ok' }, { name: 'open3d', ok: false, required: false, seconds: 0.01, detail: 'not | installed' }, { name: 'cuda', ok: false, required: false, seconds: 0, detail: 'skipped: --no-gpu', skipped: true }],
};
const smoke: SmokeResult = { exitCode: 0, timedOut: false, report, reportError: null, output: 'fixture smoke tests', passed: true, seconds: 3 };
const cache = { backend: 'local', key: 'pointcept-env-v1-linux-amd64-ab', hit: true, matchedKey: 'pointcept-env-v1-linux-amd64-ab', lockFile: '/w/env-lock/environment.lock', lockSha256: 'ff00', restoreSeconds: 2.5, sizeBytes: 3 * 2 ** 30, saved: null, saveSeconds: 0, warnings: [] };

describe('outputsFrom', () => {
  it('sets every output from a passing run', () => {
    const o = outputsFrom({ plan, build, smoke, cache, pushed: { digest: 'sha256:3333', tags: plan.tags } });
    expect(o).toMatchObject({
      'image-id': 'sha256:1111', digest: 'sha256:3333', tags: '127.0.0.1:5000/pcb/img:1', 'build-seconds': '61.2',
      'python-version': '3.11.10', 'torch-version': '2.5.0', 'cuda-version': '12.4', 'cudnn-version': '90100', 'spconv-version': '2.3.8',
      'cumm-version': '0.7.11', 'torch-geometric-version': '2.6.1', 'flash-attn-version': '', 'pointops-version': '1.0.0', 'pointgroup-ops-version': '1.0.0',
      'gpu-name': 'NVIDIA H200', 'driver-version': '570.86.15', 'smoke-passed': 'true',
      'cache-hit': 'true', 'cache-key': cache.key, 'cache-matched-key': cache.key, 'lock-file': cache.lockFile,
    });
    expect(JSON.parse(o.versions)).toEqual(report.versions);
    expect(JSON.parse(o.metadata)['containerimage.digest']).toBe('sha256:2222');
    expect(o.error).toBeUndefined();
  });
  it('without push, digest is the built digest; without a report, no version outputs', () => {
    const o = outputsFrom({ plan, build });
    expect(o.digest).toBe('sha256:2222');
    expect(Object.keys(o)).not.toContain('torch-version');
    expect(Object.keys(o)).not.toContain('smoke-passed');
  });
  it('a failure sets error and keeps what is known', () => {
    const failed: SmokeResult = { ...smoke, passed: false, exitCode: 1, report: { ...report, ok: false, checks: [{ name: 'pointops-gpu', ok: false, required: true, seconds: 1, detail: 'CUDA error: no kernel image is available for execution on the device' }] } };
    const o = outputsFrom({ plan, build, smoke: failed, failure: { step: 'smoke tests', message: 'Smoke check failed: pointops-gpu.', diagnosis: classify('no kernel image is available for execution on the device'), tail: '' } });
    expect(o['smoke-passed']).toBe('false');
    expect(o['image-id']).toBe('sha256:1111');
    expect(o['torch-version']).toBe('2.5.0');
    expect(o.error).toMatch(/^smoke tests: Smoke check failed: pointops-gpu\. .*no kernel image.*Hint: .*torch-cuda-arch-list/);
  });
  it('covers every headline version output', () => {
    expect(Object.keys(VERSION_OUTPUTS)).toEqual(['python-version', 'torch-version', 'cuda-version', 'cudnn-version', 'spconv-version', 'cumm-version', 'torch-geometric-version', 'flash-attn-version', 'pointops-version', 'pointgroup-ops-version']);
  });
});

describe('renderSummary', () => {
  it('a passing run: image, tags, digest, versions, checks, stages, cache', () => {
    const md = renderSummary({ plan, build, smoke, cache, pushed: { digest: 'sha256:3333', tags: plan.tags } });
    expect(md).toContain('## Pointcept image ✅ built and tested');
    expect(md).toContain('| Image ID | `sha256:1111` |');
    expect(md).toContain('| Tags | `127.0.0.1:5000/pcb/img:1` |');
    expect(md).toContain('| Pushed digest | `sha256:3333` |');
    expect(md).toContain('| torch | `2.5.0` |');
    expect(md).toContain('| flash_attn | — |');
    expect(md).toContain('| imports | ✅ pass | yes | 0.12 | ok |');
    expect(md).toContain('| open3d | ❌ fail | no | 0.01 | not \\| installed |');
    expect(md).toContain('| cuda | ⏭️ skipped | no | 0.00 | skipped: --no-gpu |');
    expect(md).toContain('| conda-env | 40.5 | 3 | 1 |');
    expect(md).toContain('| Env cache (local) | hit (restored in 2.5 s, 3.0 GiB) |');
    expect(md).toContain('| Env lock sha256 | `ff00` |');
    expect(md).toContain('**GPU:** NVIDIA H200 (compute capability 9.0, 139.8 GiB, driver 570.86.15)');
  });
  it('a failed smoke run: the failing check, nothing pushed, the log tail collapsed', () => {
    const failed: SmokeResult = { ...smoke, passed: false, exitCode: 1, report: { ...report, ok: false, checks: [{ name: 'pointops-gpu', ok: false, required: true, seconds: 1, detail: 'no kernel image' }] } };
    const md = renderSummary({ plan, build, smoke: failed, cache: { ...cache, hit: false, saved: true, saveSeconds: 4 }, failure: { step: 'smoke tests', message: 'Smoke check failed: pointops-gpu (no kernel image).', diagnosis: classify('no kernel image is available for execution on the device'), tail: 'line 1\nline 2' } });
    expect(md).toContain('## Pointcept image ❌ failed');
    expect(md).toContain('**Failed at smoke tests:**');
    expect(md).toContain('**Hint:**');
    expect(md).toContain('| pointops-gpu | ❌ fail | yes |');
    expect(md).toContain('| Pushed | no (smoke tests failed: nothing was pushed) |');
    expect(md).toContain('<details><summary>Last lines of the smoke tests log</summary>');
    expect(md).toContain('line 1\nline 2');
    expect(md).toContain('miss (saved in 4.0 s');
    expect(md).not.toContain('Pushed digest');
  });
  it('a timed-out smoke run without a report says so', () => {
    const md = renderSummary({ plan, build, smoke: { ...smoke, passed: false, timedOut: true, exitCode: 137, report: null, reportError: 'smoke run timed out after 5 s (the container was killed)' } });
    expect(md).toContain('**Smoke run:** timed out — smoke run timed out after 5 s');
    expect(md).toContain('Last lines of the smoke run');
  });
  it('never shows a secret value', () => {
    addRedactions(['tok-123']);
    const md = renderSummary({ plan, build: { ...build, log: 'tok-123' }, failure: { step: 'build', message: 'echo tok-123 failed', tail: 'HF_TOKEN=tok-123' } });
    expect(md).not.toContain('tok-123');
    expect(md).toContain('HF_TOKEN=***');
  });
  it('renders a build failure with the failing step', () => {
    const o: Outcome = { plan, build: { ...build, exitCode: 1, imageId: '' }, failure: { step: 'build', message: 'docker buildx build failed (exit code 1) at build step [extensions 2/3] RUN pip wheel.', diagnosis: classify('Killed signal terminated program cc1plus'), tail: 'g++: fatal error: Killed signal terminated program cc1plus' } };
    const md = renderSummary(o);
    expect(md).toContain('The compiler was killed');
    expect(md).toContain('lower max-jobs'.replace('lower', 'Lower'));
    expect(md).toContain('[extensions 2/3] RUN pip wheel');
  });
});

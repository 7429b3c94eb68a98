import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import type { BuildResult } from '../src/buildx.js';
import type { BuilderFacts } from '../src/builder.js';
import { classify } from '../src/errors.js';
import { withLockLabel, type Plan } from '../src/plan.js';
import type { Preflight } from '../src/preflight.js';
import { Redactor } from '../src/redact.js';
import { cancelMessage } from '../src/cancel.js';
import { VERSION_OUTPUTS, checkCount, headline, orderChecks, outputsFrom, publishedMetadata, renderSummary, type Outcome } from '../src/report.js';
import type { PublishOutcome } from '../src/publish.js';
import { parseReport, type SmokeResult } from '../src/smoke.js';
import { ROOT } from './helpers.js';

const NONE = new Redactor();
const plan = withLockLabel({
  context: '/ctx', dockerfile: '/ctx/docker/Dockerfile.gpu', environmentFile: '/ctx/environment.yml', baseImage: 'pcb-base:busybox', envName: 'e', miniforgeVersion: '24.11.3-0',
  torchCudaArchList: '7.5;8.0;8.6;8.9;9.0+PTX', maxJobs: 4, gpu: true, smoke: true, push: true, load: true, tags: ['127.0.0.1:5000/pcb/img:1'], labels: ['a=b'],
  publish: { way: 'by-digest', repositories: [{ repository: '127.0.0.1:5000/pcb/img', tags: ['127.0.0.1:5000/pcb/img:1'] }], platform: 'linux/amd64', builder: 'pcb-remote', attests: ['type=provenance,mode=max'], annotations: [] },
  envSpecDir: null, buildArgs: { MAX_JOBS: '4', HF_TOKEN: 'tok-123' }, secretEnv: { PCB_SECRET_0: 'sec-456' },
  envBuilds: [{ target: 'env-lock', argv: ['buildx', 'build', '--target', 'env-lock', '/ctx'], metadataFile: '/w/env-lock-metadata.json' }], envSave: null,
  buildArgv: ['buildx', 'build', '--build-arg', 'HF_TOKEN=tok-123', '--label', 'a=b', '--load', '/ctx'], reuseCheck: null, cacheTo: [], metadataFile: '/w/m.json', iidFile: '/w/iid', buildLog: '/w/build.log',
  smokeContainer: 'pcb-smoke-r', reportDir: '/w/report', smokeArgv: ['run', '--name', 'pcb-smoke-r', '<image-id>'], notices: [], notes: [],
} satisfies Plan, 'ff00');
const builder: BuilderFacts = { name: 'pcb-remote', driver: 'remote', buildx: '0.38.2', buildkit: '0.34.2', engine: '20.10.24', engineApi: '1.41', containerdStore: false };
const preflight = { findings: [{ level: 'ok', check: 'docker', message: 'Docker Engine 20.10.24' }], builder } as unknown as Preflight;
const build: BuildResult = {
  exitCode: 0, seconds: 61.2, log: '', imageId: 'sha256:1111',
  metadata: { 'containerimage.digest': 'sha256:2222', 'containerimage.config.digest': 'sha256:1111' },
  summary: { stages: [{ stage: 'conda-env', seconds: 40.5, steps: 3, cached: 1 }, { stage: 'extensions', seconds: 20, steps: 2, cached: 0 }], failedStep: null, failedError: null, failedTail: '' },
};
const report = {
  schema: 1 as const, ok: true,
  versions: { python: '3.11.10', torch: '2.5.0', torch_cuda: '12.4', cudnn: '90100', spconv: '2.3.8', cumm: '0.7.11', torch_geometric: '2.6.1', flash_attn: null, pointops: '1.0.0', pointgroup_ops: '1.0.0' },
  gpu: { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memory_gib: 139.8 },
  checks: [{ name: 'imports', ok: true, required: true, seconds: 0.12, detail: 'ok' }, { name: 'open3d', ok: false, required: false, seconds: 0.01, detail: 'not | <installed>' }, { name: 'cuda', ok: false, required: false, seconds: 0, detail: 'skipped: --no-gpu', skipped: true }],
};
const smoke: SmokeResult = { exitCode: 0, timedOut: false, report, reportError: null, output: 'fixture smoke tests', passed: true, seconds: 3, engineGone: false, leftBecause: null };
const BASE_DIGEST = `sha256:${'b'.repeat(64)}`;
const cache = {
  backend: 'local', key: 'pointcept-env-v2-linux-amd64-ab', hit: true, matchedKey: 'pointcept-env-v2-linux-amd64-ab', lookupOnly: false,
  source: 'the cache dir', base: { image: 'pcb-base:busybox', digest: BASE_DIGEST },
  lockFile: '/w/env-lock/environment.lock', lockSha256: 'ff00', restoreSeconds: 2.5, sizeBytes: 3 * 2 ** 30, saved: null, saveSeconds: 0, saveWaitSeconds: 0, warnings: [],
};
const published: PublishOutcome = {
  way: 'by-digest', digest: 'sha256:3333', untagged: [], testedManifest: 'sha256:4444', configDigest: 'sha256:1111', imageId: 'sha256:1111', attempted: true,
  moved: [{ tag: '127.0.0.1:5000/pcb/img:1', digest: 'sha256:3333' }], notMoved: [], attestations: ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
  annotations: [{ level: 'index', key: 'org.opencontainers.image.description', value: 'Point clouds, fast' }],
};
const passing: Outcome = { plan, preflight, build, smoke, cache, publish: published };
const realNoGpu = parseReport(fs.readFileSync(path.join(ROOT, '__tests__', 'fixtures', 'smoke-report.no-gpu.json'), 'utf8'));

describe('outputsFrom', () => {
  it('sets every output from a passing run', () => {
    const o = outputsFrom(passing);
    expect(o).toMatchObject({
      'image-id': 'sha256:1111', digest: 'sha256:3333', tags: '127.0.0.1:5000/pcb/img:1', labels: 'a=b\norg.pointcept.env.lock.sha256=ff00', 'build-seconds': '61.2',
      'python-version': '3.11.10', 'torch-version': '2.5.0', 'cuda-version': '12.4', 'cudnn-version': '90100', 'spconv-version': '2.3.8',
      'cumm-version': '0.7.11', 'torch-geometric-version': '2.6.1', 'flash-attn-version': '', 'pointops-version': '1.0.0', 'pointgroup-ops-version': '1.0.0',
      'gpu-name': 'NVIDIA H200', 'driver-version': '570.86.15', 'smoke-passed': 'true', 'gpu-checks-ran': 'true', 'preflight-ok': 'true',
      'cache-hit': 'true', 'cache-key': cache.key, 'cache-matched-key': cache.key, 'lock-file': cache.lockFile,
    });
    expect(JSON.parse(o.versions)).toEqual(report.versions);
    // metadata agrees with digest: what the moved tags point at, and the tags themselves
    expect(JSON.parse(o.metadata)).toMatchObject({ 'containerimage.digest': 'sha256:3333', 'image.name': '127.0.0.1:5000/pcb/img:1', 'containerimage.config.digest': 'sha256:1111' });
    expect(o).toMatchObject({ imageid: 'sha256:1111', 'tested-manifest': 'sha256:4444' });
    expect(JSON.parse(o.plan).buildArgv).toEqual(plan.buildArgv);
    expect(o.plan).not.toContain('sec-456');
    expect(o.error).toBeUndefined();
  });
  it('without push, digest is the built digest; without a report, no version outputs and no GPU checks', () => {
    const o = outputsFrom({ plan: { ...plan, push: false, publish: null }, build });
    expect(o.digest).toBe('sha256:2222');
    expect(Object.keys(o)).not.toContain('torch-version');
    expect(Object.keys(o)).not.toContain('smoke-passed');
    expect(o['gpu-checks-ran']).toBe('false');
  });
  it('gpu: false (the smoke run with --no-gpu) passes, and says the GPU checks did not run', () => {
    const o = outputsFrom({ plan: { ...plan, gpu: false }, build, smoke: { ...smoke, report: { ...realNoGpu, ok: true, checks: realNoGpu.checks.filter((c) => c.ok || c.skipped) } } });
    expect(o).toMatchObject({ 'smoke-passed': 'true', 'gpu-checks-ran': 'false' });
  });
  it('a failure sets error and keeps what is known', () => {
    const failed: SmokeResult = { ...smoke, passed: false, exitCode: 1, report: { ...report, ok: false, checks: [{ name: 'pointops-gpu', ok: false, required: true, seconds: 1, detail: 'CUDA error: no kernel image is available for execution on the device' }] } };
    const o = outputsFrom({ plan, build, smoke: failed, failure: { step: 'smoke tests', message: 'Smoke check failed: pointops-gpu.', diagnosis: classify('no kernel image is available for execution on the device'), tail: '' } });
    expect(o['smoke-passed']).toBe('false');
    expect(o['image-id']).toBe('sha256:1111');
    expect(o['torch-version']).toBe('2.5.0');
    expect(o.error).toMatch(/^smoke tests: Smoke check failed: pointops-gpu\. .*no kernel image.*Hint: .*torch-cuda-arch-list/);
  });
  it('a preflight with an error: preflight-ok false, the key known without a lookup', () => {
    const o = outputsFrom({ preflight: { ...preflight, findings: [{ level: 'error', check: 'gpu', message: 'x' }] }, recipe: { key: 'k1' } as never, failure: { step: 'preflight', message: 'x', tail: '' } });
    expect(o).toMatchObject({ 'preflight-ok': 'false', 'cache-key': 'k1', error: 'preflight: x' });
    expect(o['cache-hit']).toBeUndefined();
  });
  it('each version output names a key the real smoke report has, and an output of action.yml', () => {
    const outputs = (yaml.load(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as { outputs: Record<string, unknown> }).outputs;
    for (const [name, key] of Object.entries(VERSION_OUTPUTS)) {
      expect(outputs, name).toHaveProperty([name]);
      expect(realNoGpu.versions, key).toHaveProperty([key]);
    }
  });
});

describe('checks: order and count', () => {
  it('failed required first, then failed optional, then the rest in report order', () => {
    const names = orderChecks(realNoGpu.checks).map((c) => c.name);
    expect(names.slice(0, 5)).toEqual(['jit_flags', 'torch_geometric', 'pointops', 'open3d', 'flash_attn']);
    expect(names.slice(5, 8)).toEqual(['python', 'env_name', 'torch']);
    expect(names).toHaveLength(realNoGpu.checks.length);
  });
  it.each([
    [realNoGpu.checks, '19 checks, 9 required: 4 required failed, 1 optional failed, 8 skipped'],
    [report.checks.slice(0, 1), '1 check, 1 required: all passed'],
    [report.checks, '3 checks, 1 required: 1 optional failed, 1 skipped'],
  ])('%#', (checks, want) => expect(checkCount(checks)).toBe(want));
});

describe('headline', () => {
  it.each<[string, Outcome, string]>([
    ['tested on the GPU', passing, 'Pointcept image ✅ built and tested on NVIDIA H200'],
    ['gpu: false', { ...passing, plan: { ...plan, gpu: false }, smoke: { ...smoke, report: { ...report, gpu: null } } }, 'Pointcept image ✅ built; GPU checks skipped'],
    ['smoke tests off', { plan: { ...plan, smoke: false }, build }, 'Pointcept image ✅ built; smoke tests off, GPU checks skipped'],
    ['failed smoke run without GPU checks', { plan: { ...plan, gpu: false }, smoke: { ...smoke, passed: false, report: { ...report, gpu: null } }, failure: { step: 'smoke tests', message: 'x', tail: '' } }, 'Pointcept image ❌ failed at smoke tests; GPU checks skipped'],
    ['failed build', { plan, failure: { step: 'build', message: 'x', tail: '' } }, 'Pointcept image ❌ failed at build'],
    ['cancelled', { plan, build, cancelled: { signal: 'SIGINT', stage: 'smoke tests' }, failure: { step: 'smoke tests', message: 'x', tail: '' } }, 'Pointcept image ⏹️ cancelled during smoke tests'],
    ['dry run', { plan, dryRun: true }, 'Pointcept image: dry run, ✅ preflight passed'],
    ['dry run with preflight errors', { plan, dryRun: true, failure: { step: 'preflight', message: 'x', tail: '' } }, 'Pointcept image: dry run, ❌ preflight failed'],
    ['dry run with an env file that makes no key', { dryRun: true, failure: { step: 'inputs', message: 'x', tail: '' } }, 'Pointcept image: dry run, ❌ failed at inputs'],
  ])('%s', (_n, o, want) => {
    expect(headline(o)).toBe(want);
    expect(headline(o).includes('tested') && !!o.smoke?.report && !o.smoke.report.gpu).toBe(false);
  });
});

describe('renderSummary (core.summary)', () => {
  const md = renderSummary(passing, NONE);
  it('a passing run: headline, overview, versions, checks with a count line, stages', () => {
    expect(md).toContain('<h2>Pointcept image ✅ built and tested on NVIDIA H200</h2>');
    expect(md).toContain('<tr><th>Image ID</th><td><code>sha256:1111</code></td></tr>');
    expect(md).toContain('<tr><th>Pushed digest</th><td><code>sha256:3333</code></td></tr>');
    expect(md).toContain('<tr><td>torch</td><td><code>2.5.0</code></td></tr>');
    expect(md).toContain('<tr><td>flash_attn</td><td>—</td></tr>');
    expect(md).toContain('<p>3 checks, 1 required: 1 optional failed, 1 skipped</p>');
    expect(md).toContain('<tr><td>open3d</td><td>⚠️ fail</td><td>no</td><td>0.01</td><td>not | &lt;installed&gt;</td></tr>');
    expect(md).toContain('<tr><td>cuda</td><td>⏭️ skipped</td><td>no</td>');
    expect(md).toContain('<tr><td>conda-env</td><td>40.5</td><td>3</td><td>1</td></tr>');
    expect(md).toContain('<tr><th>Env cache (local)</th><td>hit from the cache dir (2.5 s, 3.0 GiB)</td></tr>');
    // a hit brings the base layers from the cache too: the summary names the digest the env was built on
    expect(md).toContain(`<tr><th>Base image</th><td><code>pcb-base:busybox</code> @ <code>${BASE_DIGEST}</code> (from the env cache entry: the tag is read again when the key changes)</td></tr>`);
    expect(md).toContain('<tr><th>Env lock sha256</th><td><code>ff00</code></td></tr>');
    expect(md).toContain('<b>GPU:</b> NVIDIA H200 (compute capability 9.0, 139.8 GiB, driver 570.86.15)');
    expect(md).toContain('builder &quot;pcb-remote&quot; (remote driver, BuildKit 0.34.2), buildx 0.38.2');
  });
  it('no empty header row and no empty table', () => {
    for (const o of [passing, { failure: { step: 'inputs', message: 'm', lines: ['Input "push": "yes" is not accepted; use true or false.'], tail: '' } }, { plan, dryRun: true }] as Outcome[]) {
      const text = renderSummary(o, NONE);
      expect(text).not.toMatch(/<th><\/th>/);
      expect(text).not.toMatch(/<table>\s*<\/table>/);
      expect(text).not.toContain('| |');
    }
  });
  it('an input failure: the lines as a list, nothing else', () => {
    const text = renderSummary({ failure: { step: 'inputs', message: 'm', lines: ['Input "push": "yes" is not accepted; use true or false.'], tail: '' } }, NONE);
    expect(text).toContain('<li>Input &quot;push&quot;: &quot;yes&quot; is not accepted; use true or false.</li>');
    expect(text).not.toContain('<table');
  });
  it('a failed smoke run: required failures first, optional ones marked apart, nothing pushed, the log tail collapsed', () => {
    const failed: SmokeResult = { ...smoke, passed: false, exitCode: 1, report: { ...report, ok: false, checks: [{ name: 'open3d', ok: false, required: false, seconds: 0, detail: 'missing' }, { name: 'pointops-gpu', ok: false, required: true, seconds: 1, detail: 'no kernel image' }] } };
    const text = renderSummary({ plan, build, smoke: failed, cache: { ...cache, hit: false, saved: true, saveSeconds: 4, saveWaitSeconds: 1.5 }, failure: { step: 'smoke tests', message: 'Smoke check failed: pointops-gpu (no kernel image).', diagnosis: classify('no kernel image is available for execution on the device'), tail: 'line 1\nline 2' } }, NONE);
    expect(text).toContain('<h2>Pointcept image ❌ failed at smoke tests</h2>');
    expect(text).toContain('<b>Failed at smoke tests:</b>');
    expect(text).toContain('<b>Hint:</b>');
    expect(text.indexOf('<td>pointops-gpu</td><td>❌ fail</td><td>yes</td>')).toBeGreaterThan(0);
    expect(text.indexOf('<td>pointops-gpu</td>')).toBeLessThan(text.indexOf('<td>open3d</td><td>⚠️ fail</td>'));
    expect(text).toContain('<tr><th>Pushed</th><td>no</td></tr>');
    expect(text).toContain('<details><summary>Last lines of the smoke tests log</summary><pre>line 1\nline 2</pre></details>');
    expect(text).toContain('miss (saved in 4.0 s beside the smoke run, 3.0 GiB; waited 1.5 s after it)');
    expect(text).toContain(`<tr><th>Base image</th><td><code>pcb-base:busybox</code> @ <code>${BASE_DIGEST}</code></td></tr>`);
    expect(text).not.toContain('Pushed digest');
  });
  it('a cancelled run: what the cancel stopped, the push not done, what is known kept', () => {
    const cancelled = { signal: 'SIGINT' as const, stage: 'build' };
    const o: Outcome = { plan: { ...plan, push: true }, cache, cancelled, failure: { step: 'build', message: cancelMessage(cancelled), tail: '' } };
    const text = renderSummary(o, NONE);
    expect(text).toContain('<h2>Pointcept image ⏹️ cancelled during build</h2>');
    expect(text).toContain('<b>Cancelled during build:</b> Cancelled by the runner (SIGINT): the build was stopped; nothing was pushed.');
    expect(text).toContain('<tr><th>Pushed</th><td>no (cancelled)</td></tr>');
    expect(outputsFrom(o)).toMatchObject({ error: 'build: Cancelled by the runner (SIGINT): the build was stopped; nothing was pushed.', 'cache-key': cache.key });
    const duringPush = renderSummary({ ...o, cancelled: { signal: 'SIGTERM', stage: 'push' } }, NONE);
    expect(duringPush).toContain('<tr><th>Pushed</th><td>not confirmed (cancelled during the push)</td></tr>');
  });
  it('every stage of the pipeline has its own words for a cancel', () => {
    for (const stage of ['preflight', 'env builds', 'build', 'smoke tests', 'push', 'layer cache']) {
      expect(cancelMessage({ signal: 'SIGINT', stage })).toMatch(/^Cancelled by the runner \(SIGINT\): .+\.$/);
    }
    expect(new Set(['preflight', 'build', 'smoke tests', 'push', 'layer cache'].map((stage) => cancelMessage({ signal: 'SIGINT', stage }))).size).toBe(5);
  });
  it('a timed-out smoke run without a report says so', () => {
    const text = renderSummary({ plan, build, smoke: { ...smoke, passed: false, timedOut: true, exitCode: 137, report: null, reportError: 'smoke run timed out after 5 s (the container was killed)' } }, NONE);
    expect(text).toContain('<b>Smoke run:</b> timed out — smoke run timed out after 5 s');
    expect(text).toContain('Last lines of the smoke run');
  });
  it('never shows a secret value', () => {
    const text = renderSummary({ plan, dryRun: true, build: { ...build, log: 'tok-123' }, failure: { step: 'build', message: 'echo tok-123 failed', tail: 'HF_TOKEN=tok-123' } }, new Redactor(['tok-123', 'sec-456']));
    expect(text).not.toContain('tok-123');
    expect(text).not.toContain('sec-456');
    expect(text).toContain('HF_TOKEN=***');
  });
  it('a dry run: the plan in short, the preflight findings and the commands', () => {
    const dry: Outcome = { plan, dryRun: true, preflight: { ...preflight, findings: [{ level: 'warn', check: 'disk', message: '10.0 GiB free' }] }, cache: { ...cache, hit: false, matchedKey: '', lookupOnly: true } };
    const text = renderSummary(dry, NONE);
    expect(text).toContain('<h2>Pointcept image: dry run, ✅ preflight passed</h2>');
    expect(text).toContain('<tr><th>Env cache (local)</th><td>miss (looked up only)</td></tr>');
    expect(text).toContain('<tr><th>Smoke run</th><td>on the GPU (--gpus all)</td></tr>');
    expect(text).toContain('⚠️ <b>disk</b>: 10.0 GiB free');
    expect(text).toContain('<details><summary>Commands</summary><pre># env build: env-lock\ndocker buildx build --target env-lock /ctx');
  });
  it('renders a build failure with the failing step', () => {
    const text = renderSummary({ plan, build: { ...build, exitCode: 1, imageId: '' }, failure: { step: 'build', message: 'docker buildx build failed (exit code 1) at build step [extensions 2/3] RUN pip wheel.', diagnosis: classify('Killed signal terminated program cc1plus'), tail: 'g++: fatal error: Killed signal terminated program cc1plus' } }, NONE);
    expect(text).toContain('The compiler was killed');
    expect(text).toContain('Lower max-jobs');
    expect(text).toContain('[extensions 2/3] RUN pip wheel');
  });
});

describe('publishing in the outputs and the summary', () => {
  it('the summary links each tag to its digest and names the tested manifest, the attestations and the annotations', () => {
    const md = renderSummary(passing, NONE);
    expect(md).toContain('<h3>Published</h3>');
    expect(md).toContain('<tr><th>Tag</th><th>Points at</th></tr><tr><td><code>127.0.0.1:5000/pcb/img:1</code></td><td><code>sha256:3333</code></td></tr>');
    expect(md).toContain('<b>Platform manifest tested:</b> <code>sha256:4444</code> (linux/amd64, config <code>sha256:1111</code>) in the index <code>sha256:3333</code>');
    expect(md).toContain('<b>Attestations:</b> provenance (SLSA v1), SBOM (SPDX) (asked for: <code>type=provenance,mode=max</code>)');
    expect(md).toContain('<b>Annotations:</b> index: <code>org.opencontainers.image.description=Point clouds, fast</code>');
    expect(md).not.toContain('In the registry');
  });
  it('a failed smoke run: no digest, no tested manifest, and the summary says what is left', () => {
    const failedSmoke: SmokeResult = { ...smoke, passed: false, exitCode: 1 };
    const left: PublishOutcome = { ...published, moved: [], notMoved: ['127.0.0.1:5000/pcb/img:1'], untagged: ['127.0.0.1:5000/pcb/img@sha256:3333'] };
    const o: Outcome = { plan, build, smoke: failedSmoke, publish: left, failure: { step: 'smoke tests', message: 'x', tail: '' } };
    const out = outputsFrom(o);
    expect(out.digest).toBeUndefined();
    expect(out['tested-manifest']).toBeUndefined();
    expect(JSON.parse(out.metadata)['image.name']).toBeUndefined();
    const md = renderSummary(o, NONE);
    expect(md).toContain('<tr><td><code>127.0.0.1:5000/pcb/img:1</code></td><td>not moved</td></tr>');
    expect(md).toContain('<b>In the registry:</b> No tag moved. Left untagged: 127.0.0.1:5000/pcb/img@sha256:3333');
  });
  it('some tags moved: digest is what they point at, metadata lists them only', () => {
    const partial: PublishOutcome = { ...published, way: 'loaded-image', digest: 'sha256:5555', moved: [{ tag: 'r/a:1', digest: 'sha256:5555' }], notMoved: ['r/b:1'] };
    const out = outputsFrom({ plan, build, smoke, publish: partial, failure: { step: 'publish', message: 'x', tail: '' } });
    expect(out.digest).toBe('sha256:5555');
    // docker push made another manifest than the build: metadata says so, without the loaded export's descriptor
    expect(JSON.parse(out.metadata)).toEqual({ 'containerimage.digest': 'sha256:5555', 'containerimage.config.digest': 'sha256:1111', 'image.name': 'r/a:1' });
  });
  it('publishedMetadata leaves the build metadata alone until a tag moved', () => {
    expect(publishedMetadata(build.metadata, { ...published, moved: [] })).toBe(build.metadata);
    expect(publishedMetadata(null, published)).toBeNull();
  });
});

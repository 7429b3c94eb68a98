import { describe, expect, it } from 'vitest';
import { InputError, normaliseArchList, parseDuration, parseInputs, readRawInputs, secretValues, splitLines, splitList } from '../src/inputs.js';
import { FIXTURE, ROOT, raw } from './helpers.js';

const parse = (over: Parameters<typeof raw>[0]) => parseInputs(raw(over), ROOT);
function errorsOf(over: Parameters<typeof raw>[0]): string[] {
  try {
    parse(over);
  } catch (e) {
    if (e instanceof InputError) return e.lines;
    throw e;
  }
  return [];
}

describe('readRawInputs', () => {
  it('reads INPUT_ variables with hyphens kept and falls back to the defaults', () => {
    const r = readRawInputs({ 'INPUT_DRY-RUN': 'true', 'INPUT_TORCH-CUDA-ARCH-LIST': ' 9.0 ', INPUT_PUSH: '' });
    expect(r['dry-run']).toBe('true');
    expect(r['torch-cuda-arch-list']).toBe('9.0');
    expect(r.push).toBe('false');
    expect(r.file).toBe('docker/Dockerfile.gpu');
  });
});

describe('lists', () => {
  it.each([
    ['a,b\nc', ['a', 'b', 'c']],
    ['  a  \n\n , b,', ['a', 'b']],
    ['', []],
  ])('splitList(%j)', (v, want) => expect(splitList(v)).toEqual(want));
  it.each([
    ['type=registry,ref=x,mode=max\n# comment\ntype=local,src=/c', ['type=registry,ref=x,mode=max', 'type=local,src=/c']],
    ['A=1,2\r\nB=3', ['A=1,2', 'B=3']],
  ])('splitLines(%j)', (v, want) => expect(splitLines(v)).toEqual(want));
});

describe('parseInputs: accepted values', () => {
  it.each([
    [{}, { push: false, load: true, smokeTests: true, dryRun: false, gpu: 'auto', maxJobs: 'auto', smokeTimeoutSeconds: 900, torchCudaArchList: '7.5;8.0;8.6;8.9;9.0', platforms: ['linux/amd64'] }],
    [{ push: 'True', tags: 'ghcr.io/org/pointcept:cu124, ghcr.io/org/pointcept:latest' }, { push: true, tags: ['ghcr.io/org/pointcept:cu124', 'ghcr.io/org/pointcept:latest'] }],
    [{ 'smoke-timeout': '15m', 'max-jobs': '3', gpu: 'false' }, { smokeTimeoutSeconds: 900, maxJobs: 3, gpu: 'false' }],
    [{ 'torch-cuda-arch-list': '8.0 9.0+PTX,8.0' }, { torchCudaArchList: '8.0;9.0+PTX' }],
    [{ 'build-args': 'NOTE=a;b $(rm -rf /) `x`\nLIST=1,2,3' }, { buildArgs: [{ name: 'NOTE', value: 'a;b $(rm -rf /) `x`' }, { name: 'LIST', value: '1,2,3' }] }],
    [{ labels: 'org.opencontainers.image.source=https://example.com/a,b' }, { labels: [{ name: 'org.opencontainers.image.source', value: 'https://example.com/a,b' }] }],
    [{ 'cache-from': 'type=registry,ref=127.0.0.1:5000/c,mode=max' }, { cacheFrom: ['type=registry,ref=127.0.0.1:5000/c,mode=max'] }],
    [{ load: 'false', 'smoke-tests': 'false', platforms: 'linux/amd64,linux/arm64', push: 'true', tags: 'r.example/x:1' }, { load: false, platforms: ['linux/amd64', 'linux/arm64'] }],
  ] as const)('%j', (over, want) => {
    expect(parse(over as never)).toMatchObject(want);
  });

  it('resolves paths against the context', () => {
    const i = parse({});
    expect(i.context).toBe(FIXTURE);
    expect(i.file).toBe(`${FIXTURE}/docker/Dockerfile.gpu`);
    expect(i.environmentFile).toBe(`${FIXTURE}/environment.yml`);
  });
});

describe('parseInputs: every error names the input, the value and what is accepted', () => {
  it.each([
    [{ push: 'yes' }, 'push', '"yes"', 'true or false'],
    [{ 'dry-run': '1' }, 'dry-run', '"1"', 'true or false'],
    [{ gpu: 'maybe' }, 'gpu', '"maybe"', 'auto, true or false'],
    [{ 'max-jobs': '0' }, 'max-jobs', '"0"', 'whole number'],
    [{ 'smoke-timeout': '10 minutes' }, 'smoke-timeout', '"10 minutes"', 'duration'],
    [{ 'smoke-timeout': '25h' }, 'smoke-timeout', '"25h"', 'at most 24h'],
    [{ 'torch-cuda-arch-list': 'sm_90' }, 'torch-cuda-arch-list', '"sm_90"', 'compute capabilities'],
    [{ tags: 'Bad Tag;rm -rf /' }, 'tags', '"Bad Tag;rm -rf /"', 'image reference'],
    [{ tags: 'ok/image:1\nUPPER/case' }, 'tags', '"UPPER/case"', 'lower-case'],
    [{ push: 'true' }, 'tags', '""', 'at least one tag'],
    [{ platforms: 'amd64' }, 'platforms', '"amd64"', 'linux/amd64'],
    [{ platforms: 'linux/amd64,linux/arm64' }, 'platforms', 'linux/arm64', 'only one platform'],
    [{ 'build-args': 'NOVALUE' }, 'build-args', '"NOVALUE"', 'NAME=VALUE'],
    [{ 'build-args': '1X=2' }, 'build-args', '"1X"', 'not starting with a digit'],
    [{ 'build-args': 'MAX_JOBS=4' }, 'build-args', '"MAX_JOBS"', 'input "max-jobs"'],
    [{ 'build-args': 'BASE_IMAGE=x' }, 'build-args', '"BASE_IMAGE"', 'input "base-image"'],
    [{ labels: 'nolabel' }, 'labels', '"nolabel"', 'key=value'],
    [{ load: 'false' }, 'load', '"false"', 'smoke-tests: false'],
    [{ 'base-image': 'Not An Image' }, 'base-image', '"Not An Image"', 'image reference'],
    [{ builder: 'a b' }, 'builder', '"a b"', 'builder name'],
    [{ target: 'run time' }, 'target', '"run time"', 'stage name'],
    [{ 'env-name': 'a/b' }, 'env-name', '"a/b"', 'conda env name'],
    [{ 'cache-to': 'type=local, dest=/x' }, 'cache-to', 'type=local, dest=/x', 'no spaces'],
    [{ context: 'no/such/dir' }, 'context', '"no/such/dir"', 'does not exist'],
    [{ file: 'docker/Nope' }, 'file', '"docker/Nope"', 'relative to the context'],
    [{ 'environment-file': 'env.yml' }, 'environment-file', '"env.yml"', 'does not exist'],
    [{ 'lock-file': 'missing.lock' }, 'lock-file', '"missing.lock"', 'does not exist'],
  ] as const)('%j -> %s', (over, input, value, accepted) => {
    const lines = errorsOf(over as never);
    const line = lines.find((l) => l.startsWith(`Input "${input}"`));
    expect(line, lines.join('\n')).toBeDefined();
    expect(line).toContain(value);
    expect(line).toContain(accepted);
  });

  it('reports every bad input at once', () => {
    const lines = errorsOf({ push: 'yes', gpu: 'x', 'max-jobs': '-1', platforms: 'x' });
    expect(lines.map((l) => /^Input "([\w-]+)"/.exec(l)?.[1])).toEqual(['push', 'gpu', 'max-jobs', 'platforms']);
  });

  it('never echoes a malformed secret line', () => {
    const lines = errorsOf({ secrets: 'hunter2-no-equals' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Input "secrets"');
    expect(lines[0]).not.toContain('hunter2');
  });

  it('runs extra rules after the basic ones (the env-cache settings)', () => {
    expect(() => parseInputs(raw(), ROOT, [() => ['Input "cache-backend": "s3" is not accepted']])).toThrow(/cache-backend/);
  });
});

describe('values and helpers', () => {
  it.each([
    ['900', 900], ['45s', 45], ['15m', 900], ['2h', 7200], ['0', undefined], ['1.5m', undefined], ['', undefined],
  ])('parseDuration(%j) = %j', (v, want) => expect(parseDuration(v)).toBe(want));
  it.each([
    ['auto', 'auto'], ['9.0', '9.0'], ['7.5;8.0', '7.5;8.0'], ['9.0a 10.0', '9.0a;10.0'], ['8.6+PTX', '8.6+PTX'], ['90', undefined], ['', undefined], ['8.0;;', '8.0'],
  ])('normaliseArchList(%j) = %j', (v, want) => expect(normaliseArchList(v)).toBe(want));
  it('masks secrets and credential-looking build-args only', () => {
    const i = parse({ secrets: 'pip_token=s3cr3t', 'build-args': 'GITHUB_TOKEN=ghp_x\nHF_API_KEY=hf1\nREGISTRY_PASSWORD=pw\nMAX_LEN=3\nNOTE=hello' });
    expect(secretValues(i).sort()).toEqual(['ghp_x', 'hf1', 'pw', 's3cr3t']);
  });
});

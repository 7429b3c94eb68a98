import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { actionDefaults, parseDuration, parseInputs, readRawInputs, secretValues } from '../src/inputs.js';
import { FIXTURE, ROOT, inputErrors, inputs, raw } from './helpers.js';

const errorsOf = inputErrors;

describe('readRawInputs', () => {
  it('reads INPUT_ variables with hyphens kept and falls back to the defaults of action.yml', () => {
    const r = readRawInputs({ 'INPUT_DRY-RUN': 'true', 'INPUT_TORCH-CUDA-ARCH-LIST': ' 9.0 ', INPUT_PUSH: '' }, actionDefaults(ROOT));
    expect(r['dry-run']).toBe('true');
    expect(r['torch-cuda-arch-list']).toBe('9.0');
    expect(r.push).toBe('false');
    expect(r.file).toBe('docker/Dockerfile.gpu');
    expect(r['cache-max-size']).toBe('50');
  });
});

describe('parseInputs: accepted values', () => {
  it.each([
    [{}, { push: false, load: true, 'smoke-tests': true, 'dry-run': false, gpu: 'auto', 'max-jobs': 'auto', 'smoke-timeout': 900, 'torch-cuda-arch-list': '', platforms: ['linux/amd64'], 'cache-backend': 'local', 'cache-max-size': 50 }],
    [{ push: 'True', tags: 'ghcr.io/org/pointcept:cu124, ghcr.io/org/pointcept:latest' }, { push: true, tags: ['ghcr.io/org/pointcept:cu124', 'ghcr.io/org/pointcept:latest'] }],
    [{ 'smoke-timeout': '15m', 'max-jobs': '3', gpu: 'false' }, { 'smoke-timeout': 900, 'max-jobs': 3, gpu: 'false' }],
    [{ 'torch-cuda-arch-list': '8.0 9.0+PTX,8.0' }, { 'torch-cuda-arch-list': '8.0;9.0+PTX' }],
    [{ 'build-args': 'NOTE=a;b $(rm -rf /) `x`\nLIST=1,2,3' }, { 'build-args': [{ name: 'NOTE', value: 'a;b $(rm -rf /) `x`' }, { name: 'LIST', value: '1,2,3' }] }],
    [{ labels: 'org.opencontainers.image.source=https://example.com/a,b' }, { labels: [{ name: 'org.opencontainers.image.source', value: 'https://example.com/a,b' }] }],
    [{ 'cache-from': 'type=registry,ref=127.0.0.1:5000/c,mode=max' }, { 'cache-from': ['type=registry,ref=127.0.0.1:5000/c,mode=max'] }],
    [{ load: 'false', 'smoke-tests': 'false', platforms: 'linux/amd64,linux/arm64', push: 'true', tags: 'r.example/x:1' }, { load: false, platforms: ['linux/amd64', 'linux/arm64'] }],
    [{ 'cache-backend': 'registry', 'cache-ref': '127.0.0.1:5000/env-cache' }, { 'cache-backend': 'registry', 'cache-ref': '127.0.0.1:5000/env-cache' }],
    [{ 'cache-max-size': '2.5', 'cache-dir': 'rel/cache' }, { 'cache-max-size': 2.5, 'cache-dir': path.join(ROOT, 'rel', 'cache') }],
    // build-push-action's inputs, their forms
    [{}, { provenance: { state: 'default', attrs: [] }, sbom: { state: 'default', attrs: [] }, annotations: [], 'no-cache': false, 'no-cache-filters': [], pull: false, network: '', 'shm-size': '', ulimit: [], ssh: [], 'build-contexts': [], 'secret-files': [], 'secret-envs': [] }],
    [{ provenance: 'mode=max', sbom: 'true' }, { provenance: { state: 'on', attrs: [['mode', 'max']] }, sbom: { state: 'on', attrs: [] } }],
    [{ provenance: 'false', sbom: 'False' }, { provenance: { state: 'off', attrs: [] }, sbom: { state: 'off', attrs: [] } }],
    [{ provenance: 'mode=min,inline-only=true,"builder-id=https://ci.example/run,1"' }, { provenance: { state: 'on', attrs: [['mode', 'min'], ['inline-only', 'true'], ['builder-id', 'https://ci.example/run,1']] } }],
    [{ provenance: 'disabled=true' }, { provenance: { state: 'off', attrs: [] } }],
    [{ sbom: 'generator=127.0.0.1:5000/scanner:stand-in' }, { sbom: { state: 'on', attrs: [['generator', '127.0.0.1:5000/scanner:stand-in']] } }],
    [{ 'no-cache': 'true', pull: 'true', network: 'host', 'shm-size': '2g', ulimit: 'nofile=1024:2048\nnproc=-1', ssh: 'default,github=/home/runner/.ssh/id_ed25519' }, { 'no-cache': true, pull: true, network: 'host', 'shm-size': '2g', ulimit: ['nofile=1024:2048', 'nproc=-1'], ssh: ['default', 'github=/home/runner/.ssh/id_ed25519'] }],
    [{ 'no-cache-filters': 'extensions\nruntime' }, { 'no-cache-filters': ['extensions', 'runtime'] }],
    [{ 'build-contexts': 'extra=docker-image://alpine:3.20\nassets=./docs' }, { 'build-contexts': [{ name: 'extra', value: 'docker-image://alpine:3.20' }, { name: 'assets', value: './docs' }] }],
  ] as const)('%j', (over, want) => {
    expect(inputs(over as never)).toMatchObject(want);
  });

  it('resolves paths against the context, and an empty context is the action directory', () => {
    const i = inputs({});
    expect(i.context).toBe(FIXTURE);
    expect(i.file).toBe(`${FIXTURE}/docker/Dockerfile.gpu`);
    expect(i['environment-file']).toBe(`${FIXTURE}/environment.yml`);
    expect(inputs({ context: '' }).context).toBe(ROOT);
  });
});

describe('parseInputs: every error names the input and shows the value as typed, in one style', () => {
  it.each([
    [{ push: 'yes' }, 'push', 'yes', 'use true or false'],
    [{ 'dry-run': '1' }, 'dry-run', '1', 'use true or false'],
    [{ gpu: 'maybe' }, 'gpu', 'maybe', 'use auto, true or false'],
    [{ 'max-jobs': '0' }, 'max-jobs', '0', 'whole number'],
    [{ 'smoke-timeout': '10 minutes' }, 'smoke-timeout', '10 minutes', 'duration'],
    [{ 'smoke-timeout': '25h' }, 'smoke-timeout', '25h', 'at most 24h'],
    [{ 'torch-cuda-arch-list': 'sm_90' }, 'torch-cuda-arch-list', 'sm_90', 'compute capabilities'],
    [{ tags: 'Bad Tag;rm -rf /' }, 'tags', 'Bad Tag;rm -rf /', 'image reference'],
    [{ tags: 'ok/image:1\nUPPER/case' }, 'tags', 'UPPER/case', 'lower-case'],
    [{ push: 'true' }, 'tags', '', 'at least one tag'],
    [{ platforms: 'amd64' }, 'platforms', 'amd64', 'linux/amd64'],
    [{ platforms: 'linux/amd64,linux/arm64' }, 'platforms', 'linux/amd64,linux/arm64', 'only one platform'],
    [{ 'build-args': 'NOVALUE' }, 'build-args', 'NOVALUE', 'NAME=VALUE'],
    [{ 'build-args': '1X=2' }, 'build-args', '1X', 'not starting with a digit'],
    [{ 'build-args': 'MAX_JOBS=4' }, 'build-args', 'MAX_JOBS', 'input "max-jobs"'],
    [{ 'build-args': 'BASE_IMAGE=x' }, 'build-args', 'BASE_IMAGE', 'input "base-image"'],
    [{ labels: 'nolabel' }, 'labels', 'nolabel', 'key=value'],
    [{ load: 'false' }, 'load', 'false', 'smoke-tests: false'],
    [{ 'base-image': 'Not An Image' }, 'base-image', 'Not An Image', 'image reference'],
    [{ builder: 'a b' }, 'builder', 'a b', 'builder name'],
    [{ target: 'run time' }, 'target', 'run time', 'stage name'],
    [{ 'env-name': 'a/b' }, 'env-name', 'a/b', 'conda env name'],
    [{ 'cache-to': 'type=local, dest=/x' }, 'cache-to', 'type=local, dest=/x', 'no spaces'],
    [{ context: 'no/such/dir' }, 'context', 'no/such/dir', 'does not exist'],
    [{ file: 'docker/Nope' }, 'file', 'docker/Nope', 'relative to the context'],
    [{ 'environment-file': 'env.yml' }, 'environment-file', 'env.yml', 'does not exist'],
    [{ 'lock-file': 'missing.lock' }, 'lock-file', 'missing.lock', 'does not exist'],
    [{ 'cache-backend': 's3' }, 'cache-backend', 's3', 'use registry, gha, local, none'],
    [{ 'cache-backend': 'Local' }, 'cache-backend', 'Local', 'use registry'],
    [{ 'cache-key-prefix': 'a,b' }, 'cache-key-prefix', 'a,b', 'no commas'],
    [{ 'cache-key-prefix': 'p'.repeat(201) }, 'cache-key-prefix', 'p'.repeat(201), 'at most 200 characters'],
    [{ 'cache-dir': '/a,b' }, 'cache-dir', '/a,b', 'without a comma'],
    [{ 'cache-ref': 'ghcr.io/org/cache:latest' }, 'cache-ref', 'ghcr.io/org/cache:latest', 'without tag or digest'],
    [{ 'cache-ref': 'ghcr.io/Org/cache' }, 'cache-ref', 'ghcr.io/Org/cache', 'lower case'],
    [{ 'cache-backend': 'registry' }, 'cache-ref', '', 'cache-backend: registry needs an image repository'],
    [{ 'cache-max-size': 'abc' }, 'cache-max-size', 'abc', 'greater than 0'],
    [{ 'cache-max-size': '0' }, 'cache-max-size', '0', 'greater than 0'],
    [{ 'miniforge-version': 'latest' }, 'miniforge-version', 'latest', 'Miniforge release'],
    [{ provenance: 'mode=maximum' }, 'provenance', 'mode=maximum', 'mode takes min or max'],
    [{ provenance: 'colour=red' }, 'provenance', 'colour=red', '"colour" is not a provenance attribute'],
    [{ provenance: 'yes' }, 'provenance', 'yes', 'use true, false, or attributes like mode=max'],
    [{ sbom: 'scanner=x' }, 'sbom', 'scanner=x', '"scanner" is not a sbom attribute'],
    [{ sbom: 'generator=not an image' }, 'sbom', 'generator=not an image', 'generator takes an image reference'],
    [{ annotations: 'bogus:org.example.a=1' }, 'annotations', 'bogus:org.example.a=1', '"bogus" is not a level'],
    [{ annotations: 'org.example.novalue' }, 'annotations', 'org.example.novalue', 'write one [LEVEL:]key=value per line'],
    [{ 'no-cache': 'yes' }, 'no-cache', 'yes', 'use true or false'],
    [{ pull: 'always' }, 'pull', 'always', 'use true or false'],
    [{ 'no-cache-filters': 'conda env' }, 'no-cache-filters', 'conda env', 'a stage name'],
    [{ 'no-cache': 'true', 'no-cache-filters': 'extensions' }, 'no-cache-filters', 'extensions', 'set one of the two'],
    [{ network: 'bridge' }, 'network', 'bridge', 'use default, host or none'],
    [{ 'shm-size': '2 GB' }, 'shm-size', '2 GB', 'a size like 2g'],
    [{ ulimit: 'nofiles=1' }, 'ulimit', 'nofiles=1', 'name=soft[:hard]'],
    [{ ulimit: 'nofile=many' }, 'ulimit', 'nofile=many', 'name=soft[:hard]'],
    [{ ssh: 'default=/a b' }, 'ssh', 'default=/a b', 'ID=PATH'],
    [{ 'build-contexts': 'conda-env=/x' }, 'build-contexts', 'conda-env', 'the action passes the build context conda-env itself'],
    [{ 'build-contexts': 'noequals' }, 'build-contexts', 'noequals', 'name=source'],
    [{ 'secret-files': 'npmrc=no/such/file' }, 'secret-files', `npmrc=${ROOT}/no/such/file`, 'does not exist'],
    [{ 'secret-envs': 'gh=PCB_TEST_SURELY_UNSET' }, 'secret-envs', 'gh=PCB_TEST_SURELY_UNSET', 'PCB_TEST_SURELY_UNSET is not set'],
    [{ 'secret-envs': 'gh=not-a-name' }, 'secret-envs', 'gh=not-a-name', 'names an environment variable'],
    [{ secrets: 'gh=1', 'secret-envs': 'gh=HOME' }, 'secrets', 'gh', 'each secret id is given once'],
  ] as const)('%j -> %s', (over, input, value, accepted) => {
    const lines = errorsOf(over as never);
    const line = lines.find((l) => l.startsWith(`Input "${input}": ${JSON.stringify(value)} is not accepted; `));
    expect(line, lines.join('\n')).toBeDefined();
    expect(line).toContain(accepted);
    expect(line).toMatch(/\.$/);
    expect(lines.filter((l) => l === line), 'each error once').toHaveLength(1);
  });

  it('reports every bad input in one pass, the cache inputs included', () => {
    const lines = errorsOf({ push: 'yes', gpu: 'x', 'max-jobs': '-1', platforms: 'x', 'cache-backend': 's3', 'cache-max-size': 'abc' });
    expect(lines.map((l) => /^Input "([\w-]+)"/.exec(l)?.[1]).sort()).toEqual(['cache-backend', 'cache-max-size', 'gpu', 'max-jobs', 'platforms', 'push']);
  });

  it('joining rules still run when another input is bad', () => {
    const lines = errorsOf({ push: 'true', 'cache-backend': 's3' });
    expect(lines.map((l) => /^Input "([\w-]+)"/.exec(l)?.[1]).sort()).toEqual(['cache-backend', 'tags']);
  });

  it('a bad context reports the context only, not every file under it', () => {
    expect(errorsOf({ context: 'no/such/dir' })).toHaveLength(1);
  });

  it('never echoes a malformed secret line', () => {
    const lines = errorsOf({ secrets: 'hunter2-no-equals' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('Input "secrets"');
    expect(lines[0]).not.toContain('hunter2');
  });
});

describe('values and helpers', () => {
  it.each([
    ['900', 900], ['45s', 45], ['15m', 900], ['2h', 7200], ['0', undefined], ['1.5m', undefined], ['', undefined],
  ])('parseDuration(%j) = %j', (v, want) => expect(parseDuration(v)).toBe(want));
  it('masks secrets and credential-looking build-args only', () => {
    const i = inputs({ secrets: 'pip_token=s3cr3t\nflag=1', 'build-args': 'GITHUB_TOKEN=ghp_x\nHF_API_KEY=hf1-key\nREGISTRY_PASSWORD=pw-long\nMAX_LEN=3\nNOTE=hello\nSKIP_SECRET_SCAN=1' });
    // a secret is masked whatever its length; a build-arg only from 4 characters (SKIP_SECRET_SCAN=1 would mask every "1")
    expect(secretValues(i).sort()).toEqual(['1', 'ghp_x', 'hf1-key', 'pw-long', 's3cr3t']);
  });
  it('masks the contents of secret-files (whole, trimmed and line by line) and the variables of secret-envs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-inputs-'));
    fs.writeFileSync(path.join(dir, 'key.pem'), '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n-----END KEY-----\n');
    const env = { PCB_TEST_TOKEN: 'env-secret-value' };
    const i = inputs({ 'secret-files': `key=${dir}/key.pem`, 'secret-envs': 'tok=PCB_TEST_TOKEN' }, env);
    const values = secretValues(i, env);
    expect(values).toContain('-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nab\n-----END KEY-----');
    expect(values).toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(values).toContain('env-secret-value');
    expect(values).not.toContain('ab'); // short lines would mask half the log
    fs.rmSync(dir, { recursive: true, force: true });
  });
  it('parseInputs throws InputError (typed, not duck-typed)', () => {
    expect(() => parseInputs(raw({ push: 'maybe' }), { actionDir: ROOT, workspace: ROOT })).toThrow(InputError);
  });
});

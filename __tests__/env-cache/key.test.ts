import { describe, expect, it } from 'vitest';
import { computeEnvCacheKey, condaEnvStage, normaliseEnvFile } from '../../src/env-cache/index.js';
import { registryTag } from '../../src/env-cache/key.js';
import type { KeyInputs } from '../../src/env-cache/types.js';

const ENV = `name: pointcept
channels:
  - pytorch
  - nvidia
  - conda-forge
dependencies:
  - python=3.10
  - pytorch=2.5.0  # the torch the ops are built against
  - numpy
  - pip
  - pip:
      - addict==2.4.0
      - ./libs/pointops
`;

const DOCKERFILE = `ARG BASE_IMAGE=nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04
FROM scratch AS env-spec
COPY environment.yml /environment.yml
FROM \${BASE_IMAGE} AS conda-env
ARG ENV_NAME
# comment
RUN sh /pcb/create-env.sh create
ENV PATH=/opt/conda/bin:$PATH
FROM conda-env AS extensions
RUN make
`;

const base: KeyInputs = {
  envFileText: ENV,
  lockFileText: null,
  baseImage: 'nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04',
  miniforgeVersion: '24.11.3-0',
  dockerfileText: DOCKERFILE,
  createEnvScriptText: '#!/bin/sh\necho create\n',
  platform: 'linux/amd64',
  prefix: 'pointcept-env',
};
const key = (o: Partial<KeyInputs> & { envName?: string } = {}) => computeEnvCacheKey({ ...base, ...o });

describe('computeEnvCacheKey: the same environment gives the same key', () => {
  const same: [string, string][] = [
    ['keys reordered', `dependencies:\n  - python=3.10\n  - pytorch=2.5.0\n  - numpy\n  - pip\n  - pip:\n      - addict==2.4.0\n      - ./libs/pointops\nchannels: [pytorch, nvidia, conda-forge]\nname: pointcept\n`],
    ['comments changed and added', `# my env\n${ENV.replace('# the torch the ops are built against', '# another comment')}`],
    ['whitespace and indentation', `name:   pointcept\nchannels:\n- pytorch\n-   nvidia\n- conda-forge\n\ndependencies:\n-    python=3.10\n- pytorch=2.5.0    \n- numpy\n- pip\n- pip:\n  - addict==2.4.0\n  -   ./libs/pointops\n\n`],
    ['flow style lists', `name: pointcept\nchannels: [pytorch, nvidia, conda-forge]\ndependencies: [python=3.10, pytorch=2.5.0, numpy, pip, {pip: [addict==2.4.0, ./libs/pointops]}]\n`],
    ['CRLF line ends', ENV.replace(/\n/g, '\r\n')],
  ];
  it.each(same)('%s', (_n, text) => {
    expect(key({ envFileText: text })).toBe(key());
  });
  it('ignores comments, blank lines and other stages of the Dockerfile', () => {
    const df = DOCKERFILE.replace('# comment', '# changed\n\n').replace('RUN make', 'RUN make -j8');
    expect(key({ dockerfileText: df })).toBe(key());
  });
});

describe('computeEnvCacheKey: a different environment gives a different key', () => {
  const diff: [string, Partial<KeyInputs> & { envName?: string }][] = [
    ['changed pin', { envFileText: ENV.replace('pytorch=2.5.0', 'pytorch=2.5.1') }],
    ['3.10 is not 3.1', { envFileText: ENV.replace('python=3.10', 'python=3.1') }],
    ['changed channel', { envFileText: ENV.replace('- nvidia', '- nvidia/label/cuda-12.4.1') }],
    ['channel order (priority)', { envFileText: ENV.replace('  - pytorch\n  - nvidia', '  - nvidia\n  - pytorch') }],
    ['added pip line', { envFileText: ENV.replace('addict==2.4.0', 'addict==2.4.0\n      - yapf==0.40.1') }],
    ['changed pip pin', { envFileText: ENV.replace('addict==2.4.0', 'addict==2.3.0') }],
    ['env name', { envFileText: ENV.replace('name: pointcept', 'name: other') }],
    ['changed base image', { baseImage: 'nvidia/cuda:12.4.1-cudnn-devel-ubuntu20.04' }],
    ['a lock file', { lockFileText: '@EXPLICIT\nhttps://x/a-1-0.conda#abc\n# pip:\n' }],
    ['Miniforge version', { miniforgeVersion: '25.3.0-3' }],
    ['conda-env stage', { dockerfileText: DOCKERFILE.replace('RUN sh /pcb/create-env.sh create', 'RUN sh /pcb/create-env.sh create && true') }],
    ['create-env.sh', { createEnvScriptText: '#!/bin/sh\necho create2\n' }],
    ['platform', { platform: 'linux/arm64' }],
    ['env-name of the action', { envName: 'other-env' }],
    ['prefix', { prefix: 'other' }],
  ];
  it.each(diff)('%s', (_n, o) => {
    expect(key(o)).not.toBe(key());
  });
  it('a changed lock file changes the key', () => {
    const a = key({ lockFileText: '@EXPLICIT\nhttps://x/a-1-0.conda#abc\n# pip:\naddict==2.4.0\n' });
    const b = key({ lockFileText: '@EXPLICIT\nhttps://x/a-1-0.conda#abc\n# pip:\naddict==2.3.0\n' });
    expect(a).not.toBe(b);
  });
});

describe('computeEnvCacheKey: format and limits', () => {
  it('is prefix-v2-platform-sha256', () => {
    expect(key()).toMatch(/^pointcept-env-v2-linux-amd64-[0-9a-f]{64}$/);
  });
  it('stays within GitHub cache limits with the longest prefix', () => {
    const k = key({ prefix: 'p'.repeat(200), platform: 'linux/arm/v7' });
    expect(k.length).toBeLessThanOrEqual(512);
    expect(k).not.toContain(',');
  });
  const badPrefixes: [string, RegExp][] = [
    ['', /cache-key-prefix: "" is not accepted; use a letter or digit/],
    ['a,b', /cache-key-prefix: "a,b" is not accepted.*no commas/],
    ['has space', /cache-key-prefix/],
    ['a/b', /cache-key-prefix/],
    ['-lead', /cache-key-prefix/],
    ['p'.repeat(201), /cache-key-prefix: "p+" is not accepted; use at most 200 characters \(this one has 201\)/],
  ];
  it.each(badPrefixes)('rejects prefix %j', (prefix, msg) => {
    expect(() => key({ prefix })).toThrow(msg);
  });
  it.each(['linux/amd64,linux/arm64', 'amd64', 'Linux/AMD64', ''])('rejects platform %j', (platform) => {
    expect(() => key({ platform })).toThrow(/platforms: .* the env cache builds one platform, such as "linux\/amd64"/);
  });
  it('names the environment file when it is not YAML or not an env file', () => {
    expect(() => key({ envFileText: 'a: [b' })).toThrow(/environment-file: it is not valid YAML/);
    expect(() => key({ envFileText: '- a\n- b\n' })).toThrow(/environment-file: it must be a YAML mapping/);
    expect(() => key({ envFileText: 'name: x\n' })).toThrow(/environment-file: it has no "dependencies"/);
  });
  it('names the Dockerfile when it has no conda-env stage', () => {
    expect(() => key({ dockerfileText: 'FROM busybox AS runtime\n' })).toThrow(/file: the Dockerfile has no "FROM \.\.\. AS conda-env" stage/);
  });
});

describe('helpers', () => {
  it('condaEnvStage takes the FROM line up to the next FROM', () => {
    expect(condaEnvStage(DOCKERFILE)).toBe('FROM ${BASE_IMAGE} AS conda-env\nARG ENV_NAME\nRUN sh /pcb/create-env.sh create\nENV PATH=/opt/conda/bin:$PATH');
    expect(condaEnvStage('FROM --platform=$BUILDPLATFORM base as CONDA-ENV\nRUN x\n')).toBe('FROM --platform=$BUILDPLATFORM base as CONDA-ENV\nRUN x');
  });
  it('normaliseEnvFile sorts keys and keeps list order and scalars as written', () => {
    expect(normaliseEnvFile('dependencies: [b=1.10, a]\nchannels: [z, y]\n')).toBe('{"channels":["z","y"],"dependencies":["b=1.10","a"]}');
  });
  it('registryTag is the key when it fits a tag, else its schema/platform/hash tail', () => {
    const k = key();
    expect(registryTag(k)).toBe(k);
    const long = key({ prefix: 'p'.repeat(150) });
    expect(registryTag(long)).toBe(long.slice(151));
    expect(registryTag(long)).toMatch(/^v2-linux-amd64-[0-9a-f]{64}$/);
  });
});

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateEnvCacheSettings, type EnvCacheSettings } from '../../src/env-cache/index.js';

const ok: EnvCacheSettings = {
  backend: 'local',
  keyPrefix: 'pointcept-env',
  cacheDir: '/var/cache/pcb',
  cacheRef: '',
  maxSizeGb: 50,
  lockFile: '',
  miniforgeVersion: '24.11.3-0',
};

describe('validateEnvCacheSettings', () => {
  it.each(['local', 'gha', 'none'])('accepts backend %s with defaults', (backend) => {
    expect(validateEnvCacheSettings({ ...ok, backend })).toEqual([]);
  });
  it('accepts the registry backend with a repository', () => {
    for (const cacheRef of ['ghcr.io/org/pointcept-env-cache', '127.0.0.1:5000/env-cache', 'localhost:5000/a/b_c', 'docker.io/library/x']) {
      expect(validateEnvCacheSettings({ ...ok, backend: 'registry', cacheRef })).toEqual([]);
    }
  });
  const bad: [string, Partial<EnvCacheSettings>, RegExp][] = [
    ['unknown backend', { backend: 's3' }, /^cache-backend: "s3" is not accepted \(accepted: registry, gha, local, none\)$/],
    ['backend case', { backend: 'Local' }, /^cache-backend: "Local"/],
    ['prefix with comma', { keyPrefix: 'a,b' }, /^cache-key-prefix: "a,b"/],
    ['empty prefix', { keyPrefix: '' }, /^cache-key-prefix: must not be empty/],
    ['registry without ref', { backend: 'registry' }, /^cache-ref: required with cache-backend: registry/],
    ['registry ref with tag', { backend: 'registry', cacheRef: 'ghcr.io/org/cache:latest' }, /^cache-ref: "ghcr.io\/org\/cache:latest" is not accepted/],
    ['registry ref upper case', { backend: 'registry', cacheRef: 'ghcr.io/Org/cache' }, /^cache-ref: /],
    ['registry ref with digest', { backend: 'registry', cacheRef: 'ghcr.io/org/cache@sha256:abc' }, /^cache-ref: /],
    ['local without dir', { cacheDir: '' }, /^cache-dir: must not be empty/],
    ['local relative dir', { cacheDir: 'cache' }, /^cache-dir: "cache" must be an absolute path/],
    ['local dir with comma', { cacheDir: '/a,b' }, /^cache-dir: "\/a,b" must not contain a comma/],
    ['size 0', { maxSizeGb: 0 }, /^cache-max-size: "0" is not accepted/],
    ['size NaN', { maxSizeGb: Number.NaN }, /^cache-max-size: "NaN"/],
    ['missing lock file', { lockFile: '/nonexistent/environment.lock' }, /^lock-file: "\/nonexistent\/environment.lock" does not exist/],
    ['miniforge version', { miniforgeVersion: 'latest' }, /^miniforge-version: "latest" is not accepted/],
  ];
  it.each(bad)('%s', (_n, o, msg) => {
    const errors = validateEnvCacheSettings({ ...ok, ...o });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(msg);
  });
  it('cache-dir and cache-max-size are not checked for other backends', () => {
    expect(validateEnvCacheSettings({ ...ok, backend: 'gha', cacheDir: '', maxSizeGb: Number.NaN })).toEqual([]);
  });
  it('accepts an existing lock file and rejects a directory', () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-lock-'));
    fs.writeFileSync(path.join(d, 'environment.lock'), '@EXPLICIT\n');
    expect(validateEnvCacheSettings({ ...ok, lockFile: path.join(d, 'environment.lock') })).toEqual([]);
    expect(validateEnvCacheSettings({ ...ok, lockFile: d })[0]).toMatch(/^lock-file: .* is not a file/);
    fs.rmSync(d, { recursive: true });
  });
  it('reports every problem at once', () => {
    expect(validateEnvCacheSettings({ ...ok, backend: 'registry', keyPrefix: 'a b', miniforgeVersion: '' })).toHaveLength(3);
  });
});

// The gha backend at its boundary with @actions/cache (no cache service is reachable in tests).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('@actions/cache', () => ({
  restoreCache: vi.fn(),
  saveCache: vi.fn(),
}));
const cache = await import('@actions/cache');
const { ghaCachePath, ghaRestore, ghaSave, GHA_WARN_BYTES } = await import('../../src/env-cache/gha.js');
const { restoreEnvCache, saveEnvCache } = await import('../../src/env-cache/index.js');

const restoreCache = vi.mocked(cache.restoreCache);
const saveCache = vi.mocked(cache.saveCache);
const KEY = `pointcept-env-v1-linux-amd64-${'a'.repeat(64)}`;
let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-gha-'));
  vi.stubEnv('RUNNER_TEMP', path.join(tmp, 'runner-temp'));
  restoreCache.mockReset();
  saveCache.mockReset();
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function exportDir(size: number): string {
  const d = path.join(tmp, 'export');
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'env.tar'), Buffer.alloc(size, 1));
  fs.writeFileSync(path.join(d, 'environment.lock'), '@EXPLICIT\n# pip:\n');
  return d;
}

describe('gha backend: restore', () => {
  it('asks for the exact key only, at a path that does not change between runs', async () => {
    restoreCache.mockResolvedValue(undefined);
    const r = await ghaRestore(KEY);
    expect(r).toEqual({ hit: false, matchedKey: '', sizeBytes: null, contextDir: null });
    expect(restoreCache).toHaveBeenCalledTimes(1);
    const [paths, key, restoreKeys] = restoreCache.mock.calls[0];
    expect(paths).toEqual([path.join(tmp, 'runner-temp', 'pointcept-env-cache', KEY.slice(-16))]);
    expect(key).toBe(KEY);
    expect(restoreKeys).toEqual([]);
    expect(ghaCachePath(KEY)).toBe(paths[0]);
  });
  it('a hit feeds the restored directory to the build', async () => {
    restoreCache.mockImplementation(async (paths: string[], key: string) => {
      fs.writeFileSync(path.join(paths[0], 'env.tar'), Buffer.alloc(123));
      return key;
    });
    const s = await restoreEnvCache({ backend: 'gha', keyPrefix: 'pointcept-env', cacheDir: '', cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' }, KEY, path.join(tmp, 'work'));
    expect(s).toMatchObject({ hit: true, matchedKey: KEY, sizeBytes: 123, warnings: [], layerCacheFrom: [], layerCacheTo: [] });
    expect(s.buildContexts).toEqual(['--build-context', `env-cache=${ghaCachePath(KEY)}`, '--build-context', `miniforge=${path.join(tmp, 'work', 'miniforge-unused')}`]);
  });
  it('a cache error is a warning and a miss, never a failure', async () => {
    restoreCache.mockRejectedValue(new Error('Cache service responded with 503'));
    const s = await restoreEnvCache({ backend: 'gha', keyPrefix: 'p', cacheDir: '', cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' }, KEY, path.join(tmp, 'work'));
    expect(s.hit).toBe(false);
    expect(s.buildContexts).toEqual([]);
    expect(s.warnings).toEqual([expect.stringMatching(/restore from the GitHub cache failed.*503/)]);
    expect(s.exports[0]).toEqual({ target: 'env-export', output: `type=local,dest=${path.join(tmp, 'work', 'env-export')}` });
  });
  it('a dry run asks whether the entry exists (lookupOnly) and downloads nothing', async () => {
    restoreCache.mockResolvedValue(KEY);
    const s = await restoreEnvCache({ backend: 'gha', keyPrefix: 'p', cacheDir: '', cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' }, KEY, path.join(tmp, 'work'), { lookupOnly: true });
    expect(restoreCache).toHaveBeenCalledWith([ghaCachePath(KEY)], KEY, [], { lookupOnly: true }, false);
    expect(s).toMatchObject({ hit: true, matchedKey: KEY, lookupOnly: true });
    expect(fs.existsSync(ghaCachePath(KEY))).toBe(false);
  });
});

describe('gha backend: save', () => {
  it('saves the export under the key from the restore path', async () => {
    saveCache.mockResolvedValue(42);
    const r = await ghaSave(KEY, exportDir(1000));
    expect(r).toEqual({ saved: true, sizeBytes: 1000, warning: undefined });
    expect(saveCache).toHaveBeenCalledWith([ghaCachePath(KEY)], KEY, {}, false);
    expect(fs.statSync(path.join(ghaCachePath(KEY), 'env.tar')).size).toBe(1000);
  });
  it('a failed save (-1) is a warning', async () => {
    saveCache.mockResolvedValue(-1);
    const r = await ghaSave(KEY, exportDir(10));
    expect(r.saved).toBe(false);
    expect(r.warning).toMatch(/did not save/);
  });
  it('a thrown cache error is a warning, never a failure', async () => {
    saveCache.mockRejectedValue(new Error('Unable to reserve cache with key x, another job may be creating this cache.'));
    const s = { key: KEY, platform: 'linux/amd64', hit: false, matchedKey: '', buildContexts: [], layerCacheFrom: [], layerCacheTo: [], restoreSeconds: 0, sizeBytes: null, warnings: [], exports: [], exportDir: '', lockPath: '', lookupOnly: false };
    const r = await saveEnvCache({ backend: 'gha', keyPrefix: 'p', cacheDir: '', cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' }, s, exportDir(10));
    expect(r.saved).toBe(false);
    expect(r.warning).toMatch(/saving to the GitHub cache failed \(the build is not affected\): Unable to reserve/);
  });
  it('warns when the archive nears the 10 GB repository limit', async () => {
    saveCache.mockResolvedValue(7);
    const d = exportDir(0);
    fs.truncateSync(path.join(d, 'env.tar'), GHA_WARN_BYTES + 1); // sparse: no disk used
    const r = await ghaSave(KEY, d);
    expect(r.saved).toBe(true);
    expect(r.warning).toMatch(/is 8\.0 GB, near GitHub's 10 GB cache limit/);
  });
  it('no warning for a small archive', async () => {
    saveCache.mockResolvedValue(7);
    expect((await ghaSave(KEY, exportDir(10))).warning).toBeUndefined();
  });
});

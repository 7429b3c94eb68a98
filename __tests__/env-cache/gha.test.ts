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
const { makeRecord, stageLayout } = await import('../../src/env-cache/entry.js');
import type { EnvCacheSettings } from '../../src/env-cache/index.js';
import { layersOf, writeImage } from './oci-fixture.js';

const restoreCache = vi.mocked(cache.restoreCache);
const saveCache = vi.mocked(cache.saveCache);
const KEY = `pointcept-env-v2-linux-amd64-${'a'.repeat(64)}`;
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

const settings = (prefix = 'pointcept-env'): EnvCacheSettings => ({ backend: 'gha', keyPrefix: prefix, cacheDir: '', cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' });
const BASE = { image: 'pcb-base:busybox', digest: null };

/** A staged layout at the gha path with its record, as saveEnvCache hands it to ghaSave. */
async function staged(...sizes: number[]) {
  const dir = ghaCachePath(KEY);
  fs.mkdirSync(dir, { recursive: true });
  writeImage(dir, layersOf(...sizes));
  const st = await stageLayout(dir);
  return { st, record: makeRecord(KEY, st, BASE) };
}

/** The cache service hands back what is at the gha path now (restoreCache empties that dir first). */
function archiveAsIs(): void {
  const archived = fs.mkdtempSync(path.join(tmp, 'archived-'));
  fs.cpSync(ghaCachePath(KEY), archived, { recursive: true });
  restoreCache.mockImplementation(async (paths: string[], key: string) => {
    fs.cpSync(archived, paths[0], { recursive: true });
    return key;
  });
}

describe('gha backend: restore', () => {
  it('asks for the exact key only, at a path that does not change between runs', async () => {
    restoreCache.mockResolvedValue(undefined);
    const r = await ghaRestore(KEY);
    expect(r).toEqual({ hit: false, matchedKey: '', dir: null, record: null });
    expect(restoreCache).toHaveBeenCalledTimes(1);
    const [paths, key, restoreKeys] = restoreCache.mock.calls[0];
    expect(paths).toEqual([path.join(tmp, 'runner-temp', 'pointcept-env-cache', KEY.slice(-16))]);
    expect(key).toBe(KEY);
    expect(restoreKeys).toEqual([]);
    expect(ghaCachePath(KEY)).toBe(paths[0]);
  });
  it('a hit hands the restored layout to the build as the conda-env stage, pinned by digest, once it matches its record', async () => {
    const { record } = await staged(123);
    fs.writeFileSync(path.join(ghaCachePath(KEY), 'entry.json'), JSON.stringify(record));
    archiveAsIs();
    const s = await restoreEnvCache(settings(), KEY, path.join(tmp, 'work'));
    expect(s).toMatchObject({ hit: true, matchedKey: KEY, sizeBytes: record.sizeBytes, warnings: [], layerCacheFrom: [], layerCacheTo: [], base: BASE });
    expect(s.buildContexts).toEqual(['--build-context', `conda-env=oci-layout://${ghaCachePath(KEY)}@${record.target.digest}`]);
  });
  it('a restored layout that does not match its record is a warning and a miss', async () => {
    const { record, st } = await staged(4096);
    fs.writeFileSync(path.join(ghaCachePath(KEY), 'entry.json'), JSON.stringify(record));
    const layer = st.blobs.find((b) => b.size === 4096)!;
    fs.writeFileSync(path.join(ghaCachePath(KEY), 'blobs', 'sha256', layer.digest.slice(7)), Buffer.alloc(4096, 0x5a));
    archiveAsIs();
    const s = await restoreEnvCache(settings(), KEY, path.join(tmp, 'work'));
    expect(s.hit).toBe(false);
    expect(s.warnings).toEqual([expect.stringMatching(/the GitHub cache's entry .* does not match its checksums/)]);
  });
  it('a cache error is a warning and a miss, never a failure', async () => {
    restoreCache.mockRejectedValue(new Error('Cache service responded with 503'));
    const s = await restoreEnvCache(settings('p'), KEY, path.join(tmp, 'work'));
    expect(s.hit).toBe(false);
    expect(s.buildContexts).toEqual([]);
    expect(s.warnings).toEqual([expect.stringMatching(/restore from the GitHub cache failed.*503/)]);
    expect(s.save).toMatchObject({ dir: ghaCachePath(KEY), outputs: [`type=oci,tar=false,dest=${ghaCachePath(KEY)},compression=uncompressed`] });
  });
  it('a dry run asks whether the entry exists (lookupOnly) and downloads nothing', async () => {
    restoreCache.mockResolvedValue(KEY);
    const s = await restoreEnvCache(settings('p'), KEY, path.join(tmp, 'work'), { lookupOnly: true });
    expect(restoreCache).toHaveBeenCalledWith([ghaCachePath(KEY)], KEY, [], { lookupOnly: true }, false);
    expect(s).toMatchObject({ hit: true, matchedKey: KEY, lookupOnly: true });
    expect(fs.existsSync(ghaCachePath(KEY))).toBe(false);
  });
});

describe('gha backend: save', () => {
  it('archives the layout with its record under the key from the restore path, and only the image\'s blobs', async () => {
    saveCache.mockResolvedValue(42);
    const { st, record } = await staged(1000);
    fs.writeFileSync(path.join(ghaCachePath(KEY), 'blobs', 'sha256', 'f'.repeat(64)), 'not of this image');
    const r = await ghaSave(KEY, st, record);
    expect(r).toEqual({ saved: true, sizeBytes: record.sizeBytes, warning: undefined });
    expect(saveCache).toHaveBeenCalledWith([ghaCachePath(KEY)], KEY, {}, false);
    expect(JSON.parse(fs.readFileSync(path.join(ghaCachePath(KEY), 'entry.json'), 'utf8'))).toEqual(record);
    expect(fs.readdirSync(path.join(ghaCachePath(KEY), 'blobs', 'sha256')).sort()).toEqual(st.blobs.map((b) => b.digest.slice(7)).sort());
  });
  it('a failed save (-1) is a warning', async () => {
    saveCache.mockResolvedValue(-1);
    const { st, record } = await staged(10);
    const r = await ghaSave(KEY, st, record);
    expect(r.saved).toBe(false);
    expect(r.warning).toMatch(/did not save/);
  });
  it('a thrown cache error is a warning, never a failure', async () => {
    saveCache.mockRejectedValue(new Error('Unable to reserve cache with key x, another job may be creating this cache.'));
    restoreCache.mockResolvedValue(undefined);
    const session = await restoreEnvCache(settings('p'), KEY, path.join(tmp, 'work'));
    const r = await saveEnvCache(settings('p'), session, { build: async () => { writeImage(session.save!.dir!, layersOf(10)); return { exitCode: 0, failure: '', metadata: null }; }, base: BASE });
    expect(r.saved).toBe(false);
    expect(r.warning).toMatch(/saving to the GitHub cache failed \(the build is not affected\): Unable to reserve/);
  });
  it('warns when the archive nears the 10 GB repository limit', async () => {
    saveCache.mockResolvedValue(7);
    const { st, record } = await staged(10);
    const r = await ghaSave(KEY, st, { ...record, sizeBytes: GHA_WARN_BYTES + 1 });
    expect(r.saved).toBe(true);
    expect(r.warning).toMatch(/is 8\.0 GB, near GitHub's 10 GB cache limit/);
  });
  it('no warning for a small archive', async () => {
    saveCache.mockResolvedValue(7);
    const { st, record } = await staged(10);
    expect((await ghaSave(KEY, st, record)).warning).toBeUndefined();
  });
});

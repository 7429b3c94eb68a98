// The API src/pipeline.ts calls: backend selection, build contexts, the env builds of a session, save,
// layer cache, and the dry run's read-only lookup.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../src/exec.js', async (real) => ({ ...(await real<typeof import('../../src/exec.js')>()), run: vi.fn() }));
const exec = await import('../../src/exec.js');
const run = vi.mocked(exec.run);
const api = await import('../../src/env-cache/index.js');
import type { EnvCacheSettings } from '../../src/env-cache/index.js';
import { engineName } from '../../src/env-cache/engine.js';
import { readEntry, storeDir } from '../../src/env-cache/local.js';
import { blobFile, layersOf, writeImage, writeLayerCache } from './oci-fixture.js';

const KEY = `pointcept-env-v2-linux-amd64-${'b'.repeat(64)}`;
let tmp: string;
let s: EnvCacheSettings;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-api-'));
  s = { backend: 'local', keyPrefix: 'pointcept-env', cacheDir: path.join(tmp, 'cache'), cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
  run.mockReset();
});
afterEach(() => {
  vi.unstubAllEnvs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A save build as the session asks for it: writes an image into the save's dir, as BuildKit's `type=oci,tar=false` output does. */
const builds = (layers: Buffer[], exitCode = 0) => (session: { save: { dir: string | null } | null }) => async () => {
  if (exitCode === 0) writeImage(session.save!.dir!, layers);
  return { exitCode, failure: exitCode ? 'ERROR: failed to solve: no space left on device' : '', metadata: null };
};
const BASE = { image: 'pcb-base:busybox', digest: null };

describe('none backend', () => {
  it('restores nothing, exports only the lock, saves nothing', async () => {
    const n: EnvCacheSettings = { ...s, backend: 'none' };
    const session = await api.restoreEnvCache(n, KEY, path.join(tmp, 'w'));
    expect(session).toMatchObject({ key: KEY, platform: 'linux/amd64', hit: false, matchedKey: '', buildContexts: [], layerCacheFrom: [], layerCacheTo: [], sizeBytes: null, lookupOnly: false, save: null });
    expect(session.exports).toEqual([{ target: 'env-lock', output: `type=local,dest=${path.join(tmp, 'w', 'env-lock')}` }]);
    const build = vi.fn();
    expect(await api.saveEnvCache(n, session, { build, base: BASE })).toEqual({ saved: false, seconds: 0, sizeBytes: null });
    expect(build).not.toHaveBeenCalled();
    expect(run).not.toHaveBeenCalled();
  });
});

describe('local backend through the API (oci-layout: a builder with its own BuildKit)', () => {
  it('miss -> save build into tmp/ -> committed -> next run hits with the conda-env stage pinned by digest', async () => {
    const w1 = path.join(tmp, 'w1');
    const s1 = await api.restoreEnvCache(s, KEY, w1);
    expect(s1.hit).toBe(false);
    expect(s1.buildContexts).toEqual([]);
    expect(s1.layerCacheTo[0]).toMatch(new RegExp(`^type=local,dest=${s.cacheDir}/layers/new-\\S+,mode=max,compression=uncompressed,ignore-error=true$`));
    expect(s1.exports).toEqual([{ target: 'env-lock', output: `type=local,dest=${path.join(w1, 'env-lock')}` }]);
    expect(s1.save!.dir!.startsWith(path.join(s.cacheDir, 'tmp'))).toBe(true);
    expect(s1.save!.outputs).toEqual([`type=oci,tar=false,dest=${s1.save!.dir},compression=uncompressed`]);
    const saved = await api.saveEnvCache(s, s1, { build: builds(layersOf(2048, 100))(s1), base: BASE });
    expect(saved).toMatchObject({ saved: true });
    expect(fs.existsSync(s1.save!.dir!)).toBe(false); // the staging dir is gone, its blobs moved into oci/
    const record = readEntry(s.cacheDir, KEY)!;
    const w2 = path.join(tmp, 'w2');
    const s2 = await api.restoreEnvCache(s, KEY, w2);
    expect(s2).toMatchObject({ hit: true, matchedKey: KEY, sizeBytes: record.sizeBytes, base: BASE, save: null });
    // the named context replaces the whole conda-env stage: no Miniforge, no solve
    expect(s2.buildContexts).toEqual(['--build-context', `conda-env=oci-layout://${path.join(w2, 'entry')}@${record.target.digest}`]);
    expect(await api.saveEnvCache(s, s2, { build: vi.fn(), base: BASE })).toMatchObject({ saved: false, seconds: 0 });
  });
  it('a damaged blob is found before any build reads it: a warning, the entry removed, a miss that saves anew', async () => {
    const s1 = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w1'));
    await api.saveEnvCache(s, s1, { build: builds(layersOf(4096))(s1), base: BASE });
    const r = readEntry(s.cacheDir, KEY)!;
    const layer = r.blobs.find((b) => b.size === 4096)!;
    const fd = fs.openSync(path.join(storeDir(s.cacheDir), 'blobs', 'sha256', layer.digest.slice(7)), 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, 2000); // one byte, same size
    fs.closeSync(fd);
    const s2 = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w2'));
    expect(s2.hit).toBe(false);
    expect(s2.buildContexts).toEqual([]);
    expect(s2.warnings).toEqual([expect.stringMatching(new RegExp(`^env cache: the entry ${KEY} does not match its checksums \\(.*do not match their checksum\\); it was removed, and the environment is built instead$`))]);
    expect(readEntry(s.cacheDir, KEY)).toBeNull();
    expect(fs.readdirSync(path.join(storeDir(s.cacheDir), 'blobs', 'sha256'))).toEqual([]);
    expect(await api.saveEnvCache(s, s2, { build: builds(layersOf(4096))(s2), base: BASE })).toMatchObject({ saved: true });
    expect((await api.restoreEnvCache(s, KEY, path.join(tmp, 'w3'))).hit).toBe(true);
  });
  it('a save build that fails (a full disk) is a warning, and leaves nothing in the cache dir', async () => {
    const s1 = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w1'));
    const r = await api.saveEnvCache(s, s1, { build: async () => { fs.mkdirSync(s1.save!.dir!, { recursive: true }); fs.writeFileSync(path.join(s1.save!.dir!, 'partial'), 'x'); return builds([], 1)(s1)(); }, base: BASE });
    expect(r).toMatchObject({ saved: false, warning: expect.stringMatching(new RegExp(`^env cache: not saved: no space left in the cache dir ${s.cacheDir} \\(\\d+\\.\\d MiB free\\); the build is not affected, and nothing of the save was kept$`)) });
    expect(fs.readdirSync(path.join(s.cacheDir, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(s.cacheDir, 'locks'))).toEqual([]);
    expect(fs.existsSync(path.join(s.cacheDir, 'entries'))).toBe(false);
  });
  it('finishLayerCache swaps in the layer cache the build wrote', async () => {
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    const dest = /dest=([^,]+)/.exec(session.layerCacheTo[0])![1];
    fs.mkdirSync(dest, { recursive: true });
    fs.writeFileSync(path.join(dest, 'index.json'), '{}');
    await api.finishLayerCache(s, session, []); // a build without this --cache-to: nothing is swapped in
    expect(fs.existsSync(path.join(s.cacheDir, 'layers', 'current'))).toBe(false);
    await api.finishLayerCache(s, session, session.layerCacheTo);
    expect(fs.existsSync(path.join(s.cacheDir, 'layers', 'current', 'index.json'))).toBe(true);
    const next = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    expect(next.layerCacheFrom).toEqual([`type=local,src=${path.join(s.cacheDir, 'layers', 'current')}`]);
    // the next build's new cache starts with links to current's blobs, only when the build is given it
    fs.mkdirSync(path.join(s.cacheDir, 'layers', 'current', 'blobs', 'sha256'), { recursive: true });
    fs.writeFileSync(path.join(s.cacheDir, 'layers', 'current', 'blobs', 'sha256', 'a'.repeat(64)), 'layer');
    const nextDest = /dest=([^,]+)/.exec(next.layerCacheTo[0])![1];
    api.prepareLayerCache(s, next, []);
    expect(fs.existsSync(nextDest)).toBe(false);
    api.prepareLayerCache(s, next, next.layerCacheTo);
    expect(fs.readdirSync(path.join(nextDest, 'blobs', 'sha256'))).toEqual(['a'.repeat(64)]);
  });
});

describe('a local save starts from the layer cache the main build wrote', () => {
  const ENV_LAYER = layersOf(4096)[0];
  /** The main build's --cache-to wrote the env layer (uncompressed: the same blob the save writes). */
  const mainBuildExported = (session: { layerCacheTo: string[] }) => {
    const dest = /dest=([^,]+)/.exec(session.layerCacheTo[0])![1];
    writeLayerCache(dest, [ENV_LAYER], 'manifest');
    return dest;
  };
  const envBlob = () => readEntry(s.cacheDir, KEY)!.blobs.find((b) => b.size === ENV_LAYER.length)!;
  /** The save build as BuildKit runs it: a blob the destination has is not written again. */
  const skipsPresent = (session: { save: { dir: string | null } | null }) => async () => {
    const mine = path.join(tmp, 'fresh');
    writeImage(mine, [ENV_LAYER]);
    for (const n of fs.readdirSync(path.join(mine, 'blobs', 'sha256'))) {
      const to = path.join(session.save!.dir!, 'blobs', 'sha256', n);
      if (!fs.existsSync(to)) fs.copyFileSync(path.join(mine, 'blobs', 'sha256', n), to);
    }
    for (const n of ['index.json', 'oci-layout']) fs.copyFileSync(path.join(mine, n), path.join(session.save!.dir!, n));
    return { exitCode: 0, failure: '', metadata: null };
  };

  it('a builder with its own BuildKit: the entry keeps the layer cache\'s file of the env layer', async () => {
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    const dest = mainBuildExported(session);
    const info = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const saved = await api.saveEnvCache(s, session, { build: builds([ENV_LAYER, Buffer.from('lock')])(session), base: BASE, layerCacheTo: session.layerCacheTo });
    const said = info.mock.calls.map((c) => String(c[0])).join('');
    info.mockRestore();
    expect(saved).toMatchObject({ saved: true });
    expect(said).toMatch(/env cache: the save starts with 3 blobs of the layer cache \(linked, not copied\)/);
    expect(fs.statSync(blobFile(storeDir(s.cacheDir), envBlob().digest)).ino).toBe(fs.statSync(blobFile(dest, envBlob().digest)).ino);
    // the layer cache's own blobs the entry does not name were not kept
    expect(readEntry(s.cacheDir, KEY)!.blobs).toHaveLength(4);
  });

  it('a layer cache whose env layer is damaged: the save that linked it is not kept, the layer cache is retired, and the next save is whole', async () => {
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    const dest = mainBuildExported(session);
    const file = blobFile(dest, `sha256:${createHash('sha256').update(ENV_LAYER).digest('hex')}`);
    fs.writeFileSync(file, Buffer.alloc(ENV_LAYER.length, 0x5a)); // same size, other bytes
    await api.finishLayerCache(s, session, session.layerCacheTo); // swapped in as layers/current
    const r = await api.saveEnvCache(s, session, { build: skipsPresent(session), base: BASE, layerCacheTo: session.layerCacheTo });
    expect(r).toMatchObject({ saved: false, warning: expect.stringMatching(/^env cache: not saved \(the build is not affected\): \S+ is not the blob sha256:[0-9a-f]{64} of 4096 bytes \(.*\): the layer cache's file, linked into the save; the layer cache was retired, and the next build writes a new one$/) });
    expect(fs.existsSync(path.join(s.cacheDir, 'layers', 'current'))).toBe(false);
    const next = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w2'));
    expect(next.layerCacheFrom, 'no build reads the damaged layer cache').toEqual([]);
    expect(await api.saveEnvCache(s, next, { build: builds([ENV_LAYER])(next), base: BASE, layerCacheTo: next.layerCacheTo })).toMatchObject({ saved: true });
  });

  it('in the pipeline\'s order (the save before the swap): the new layer cache that linked the damaged file is not swapped in either', async () => {
    const first = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    const dest = mainBuildExported(first);
    fs.writeFileSync(blobFile(dest, `sha256:${createHash('sha256').update(ENV_LAYER).digest('hex')}`), Buffer.alloc(ENV_LAYER.length, 0x5a));
    await api.finishLayerCache(s, first, first.layerCacheTo); // a damaged layers/current
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w2'));
    api.prepareLayerCache(s, session, session.layerCacheTo);
    // the main build: BuildKit keeps the linked blobs and writes the index.json that reaches them
    const newDir = /dest=([^,]+)/.exec(session.layerCacheTo[0])![1];
    fs.copyFileSync(path.join(s.cacheDir, 'layers', 'current', 'index.json'), path.join(newDir, 'index.json'));
    const r = await api.saveEnvCache(s, session, { build: skipsPresent(session), base: BASE, layerCacheTo: session.layerCacheTo });
    expect(r.warning).toMatch(/the layer cache was retired, and the next build writes a new one$/);
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    await api.finishLayerCache(s, session, session.layerCacheTo);
    const said = out.mock.calls.map((c) => String(c[0])).join('');
    out.mockRestore();
    expect(said, 'the save said it already').not.toMatch(/::warning::/);
    expect(fs.existsSync(newDir)).toBe(false);
    expect(fs.existsSync(path.join(s.cacheDir, 'layers', 'current'))).toBe(false);
    const next = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w3'));
    expect(next.layerCacheFrom, 'no build reads the damaged layer cache').toEqual([]);
    expect(await api.saveEnvCache(s, next, { build: builds([ENV_LAYER])(next), base: BASE, layerCacheTo: next.layerCacheTo })).toMatchObject({ saved: true });
  });

  it('an entry whose env layer, the layer cache\'s file, is damaged: the restore removes the entry and retires the layer cache', async () => {
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
    mainBuildExported(session);
    await api.finishLayerCache(s, session, session.layerCacheTo);
    expect(await api.saveEnvCache(s, session, { build: builds([ENV_LAYER])(session), base: BASE, layerCacheTo: session.layerCacheTo })).toMatchObject({ saved: true });
    // the save linked layers/current's file (the main build's new-* dir was swapped in under that name)
    fs.writeFileSync(blobFile(storeDir(s.cacheDir), envBlob().digest), Buffer.alloc(ENV_LAYER.length, 0x5a));
    const next = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w2'));
    expect(next.hit).toBe(false);
    expect(next.warnings).toEqual([expect.stringMatching(/does not match its checksums .*; it was removed, and the environment is built instead$/)]);
    expect(fs.existsSync(path.join(s.cacheDir, 'layers', 'current'))).toBe(false);
    expect(next.layerCacheFrom).toEqual([]);
  });

  it('the docker driver, containerd store, BuildKit 0.13+: one save build writes the Engine\'s image and the entry\'s layout, checked against the Engine\'s id (no docker save)', async () => {
    const o = { store: 'engine' as const, engineIdIsDigest: true, engineSaveLayout: true };
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'), o);
    const save = session.save!;
    expect(save.outputs).toEqual([`type=image,name=${engineName(KEY)},compression=uncompressed,oci-mediatypes=true`, `type=oci,tar=false,dest=${save.dir},compression=uncompressed`]);
    const dest = mainBuildExported(session);
    // the Engine keeps the image the layout names: its id in the containerd store is that manifest's digest
    run.mockImplementation(async (_cmd, args) => (args[0] === 'image' && args[1] === 'inspect'
      ? { exitCode: 0, stdout: `${(JSON.parse(fs.readFileSync(path.join(save.dir!, 'index.json'), 'utf8')) as { manifests: { digest: string }[] }).manifests[0].digest}\n`, stderr: '' }
      : { exitCode: 1, stdout: '', stderr: `unexpected: docker ${args.join(' ')}` }));
    const claimed = vi.fn();
    const saved = await api.saveEnvCache(s, session, { build: builds([ENV_LAYER])(session), base: BASE, ...o, claimed, layerCacheTo: session.layerCacheTo });
    expect(saved).toMatchObject({ saved: true });
    expect(claimed).toHaveBeenCalledWith(engineName(KEY));
    expect(run.mock.calls.map(([, args]) => args.slice(0, 2).join(' '))).toEqual(['image inspect']);
    expect(fs.statSync(blobFile(storeDir(s.cacheDir), envBlob().digest)).ino).toBe(fs.statSync(blobFile(dest, envBlob().digest)).ino);
  });

  it('an Engine image of another id than the layout is no entry, and the image is removed', async () => {
    const o = { store: 'engine' as const, engineIdIsDigest: true, engineSaveLayout: true };
    const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'), o);
    run.mockImplementation(async (_cmd, args) => ({ exitCode: 0, stdout: args[1] === 'inspect' ? `sha256:${'9'.repeat(64)}\n` : '', stderr: '' }));
    const saved = await api.saveEnvCache(s, session, { build: builds([ENV_LAYER])(session), base: BASE, ...o });
    expect(saved).toMatchObject({ saved: false, warning: expect.stringMatching(new RegExp(`^env cache: not saved \\(the build is not affected\\): the Engine's ${engineName(KEY)} is sha256:9{64} now, not the image saved \\(sha256:[0-9a-f]{64}\\)$`)) });
    expect(readEntry(s.cacheDir, KEY)).toBeNull();
    expect(run).toHaveBeenCalledWith('docker', ['image', 'rm', engineName(KEY)], expect.anything());
  });

  it('an Engine whose BuildKit writes one output per build (before 0.13), or the classic store: the image only, then docker save', async () => {
    for (const o of [{ store: 'engine' as const, engineIdIsDigest: true }, { store: 'engine' as const, imageOutputOptions: false }]) {
      const save = (await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'), o)).save!;
      expect(save.outputs).toEqual([`type=image,name=${engineName(KEY)}${o.imageOutputOptions === false ? '' : ',compression=uncompressed'}`]);
      expect(save.layout).toBe(false);
    }
  });
});

describe('registry backend through the API (docker at the src/exec.ts boundary)', () => {
  const r = (): EnvCacheSettings => ({ ...s, backend: 'registry', cacheRef: '127.0.0.1:5000/env-cache' });
  const manifest = JSON.stringify({ layers: [{ size: 1000 }, { size: 24 }], annotations: { 'org.opencontainers.image.base.name': 'pcb-base:busybox' } });
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  it('a hit is an image found by imagetools inspect, fed as the conda-env stage pinned to the digest it has now', async () => {
    run.mockResolvedValue({ exitCode: 0, stdout: manifest, stderr: '' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    expect(run).toHaveBeenCalledWith('docker', ['buildx', 'imagetools', 'inspect', '--raw', `127.0.0.1:5000/env-cache:${KEY}`], expect.anything());
    expect(session).toMatchObject({ hit: true, matchedKey: KEY, sizeBytes: 1024, base: { image: 'pcb-base:busybox', digest: null } });
    expect(session.buildContexts).toEqual(['--build-context', `conda-env=docker-image://127.0.0.1:5000/env-cache:${KEY}@${digest}`]);
    expect(session.layerCacheFrom).toEqual(['type=registry,ref=127.0.0.1:5000/env-cache:pointcept-env-buildcache']);
  });
  it('a miss pushes the conda-env stage as the cache image, and save confirms it', async () => {
    run.mockResolvedValueOnce({ exitCode: 1, stdout: '', stderr: 'ERROR: 127.0.0.1:5000/env-cache:x: not found' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    expect(session.hit).toBe(false);
    expect(session.warnings).toEqual([]);
    expect(session.save).toMatchObject({ outputs: [`type=image,name=127.0.0.1:5000/env-cache:${KEY},push=true,oci-mediatypes=true,compression=zstd`], dir: null });
    run.mockResolvedValueOnce({ exitCode: 0, stdout: manifest, stderr: '' });
    expect(await api.saveEnvCache(r(), session, { build: async () => ({ exitCode: 0, failure: '', metadata: null }), base: BASE })).toMatchObject({ saved: true, sizeBytes: 1024 });
  });
  it('a push that fails (registry down, uploads refused) is a warning, never a failure', async () => {
    run.mockResolvedValueOnce({ exitCode: 1, stdout: '', stderr: 'ERROR: 127.0.0.1:5000/env-cache:x: not found' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    const res = await api.saveEnvCache(r(), session, { build: async () => ({ exitCode: 1, failure: 'ERROR: failed to push: 503 Service Unavailable', metadata: null }), base: BASE });
    expect(res).toMatchObject({ saved: false, warning: expect.stringMatching(/^env cache: not saved \(the build is not affected\): the push of .* failed: ERROR: failed to push: 503/) });
  });
  it('for a builder that ignores oci-mediatypes and compression (docker driver, classic store), the cache image asks for neither', async () => {
    run.mockResolvedValueOnce({ exitCode: 1, stdout: '', stderr: 'ERROR: 127.0.0.1:5000/env-cache:x: not found' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'), { imageOutputOptions: false });
    expect(session.save!.outputs).toEqual([`type=image,name=127.0.0.1:5000/env-cache:${KEY},push=true`]);
  });
  it('a registry error other than not-found is a warning and a miss', async () => {
    run.mockResolvedValue({ exitCode: 1, stdout: '', stderr: 'ERROR: dial tcp 127.0.0.1:5000: connect: connection refused' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    expect(session.hit).toBe(false);
    expect(session.warnings[0]).toMatch(/could not look up .* \(treated as a miss\): ERROR: dial tcp/);
  });
  it('a refused lookup is a warning even where the registry\'s port or the key holds "404"', async () => {
    run.mockResolvedValue({ exitCode: 1, stdout: '', stderr: 'ERROR: failed to do request: Head "http://127.0.0.1:40463/v2/env-cache/manifests/404a": dial tcp 127.0.0.1:40463: connect: connection refused' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    expect(session.hit).toBe(false);
    expect(session.warnings).toHaveLength(1);
    expect(session.warnings[0]).toMatch(/could not look up .* \(treated as a miss\): .*connection refused$/);
  });
  it('an index with an attestation is followed to the image manifest', async () => {
    run
      .mockResolvedValueOnce({ exitCode: 0, stdout: JSON.stringify({ manifests: [{ digest: 'sha256:img' }, { digest: 'sha256:att', annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } }] }), stderr: '' })
      .mockResolvedValueOnce({ exitCode: 0, stdout: manifest, stderr: '' });
    const session = await api.restoreEnvCache(r(), KEY, path.join(tmp, 'w'));
    expect(run).toHaveBeenLastCalledWith('docker', ['buildx', 'imagetools', 'inspect', '--raw', '127.0.0.1:5000/env-cache@sha256:img'], expect.anything());
    expect(session.sizeBytes).toBe(1024);
  });
});

describe('Miniforge installer from the tool cache', () => {
  // A table entry for a stand-in installer's hash, removed after each test whatever happened.
  afterEach(async () => {
    const { MINIFORGE_SHA256 } = await import('../../src/env-cache/miniforge.js');
    delete MINIFORGE_SHA256['9.9.9-0/x86_64'];
  });
  it('on a miss, a pre-seeded installer with the pinned sha256 becomes the miniforge build context', async () => {
    const { MINIFORGE_SHA256 } = await import('../../src/env-cache/miniforge.js');
    // Pre-seed like an offline runner would: a stand-in installer and a table entry for its hash.
    const toolCache = path.join(tmp, 'toolcache');
    const dir = path.join(toolCache, 'miniforge3', '9.9.9-0', 'x64');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'Miniforge3-9.9.9-0-Linux-x86_64.sh'), 'echo installer\n');
    fs.writeFileSync(`${dir}.complete`, '');
    const { createHash } = await import('node:crypto');
    MINIFORGE_SHA256['9.9.9-0/x86_64'] = createHash('sha256').update('echo installer\n').digest('hex');
    vi.stubEnv('RUNNER_TOOL_CACHE', toolCache);
    const session = await api.restoreEnvCache({ ...s, miniforgeVersion: '9.9.9-0' }, KEY, path.join(tmp, 'w'));
    expect(session.buildContexts).toEqual(['--build-context', `miniforge=${dir}`]);
    // a tampered installer is not used (and the download fallback cannot reach the network here)
    fs.writeFileSync(path.join(dir, 'Miniforge3-9.9.9-0-Linux-x86_64.sh'), 'echo evil\n');
    const { prepareMiniforge } = await import('../../src/env-cache/miniforge.js');
    vi.stubEnv('https_proxy', 'http://127.0.0.1:9'); // refuse the download quickly
    const r = await prepareMiniforge('9.9.9-0');
    expect(r.dir).toBeNull();
  }, 60_000);
  it('a version without a pinned sha256 is not prefetched', async () => {
    const session = await api.restoreEnvCache({ ...s, miniforgeVersion: '0.0.1-standin' }, KEY, path.join(tmp, 'w'));
    expect(session.buildContexts).toEqual([]);
  });
});

describe('a dry run looks up and changes nothing', () => {
  it('local: a hit is reported without linking the entry or recording a use', async () => {
    const miss = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w1'));
    await api.saveEnvCache(s, miss, { build: builds(layersOf(512))(miss), base: BASE });
    const record = path.join(s.cacheDir, 'entries', `${KEY}.json`);
    const before = fs.readFileSync(record, 'utf8');
    const w2 = path.join(tmp, 'w2');
    const look = await api.restoreEnvCache(s, KEY, w2, { lookupOnly: true });
    expect(look).toMatchObject({ hit: true, matchedKey: KEY, sizeBytes: readEntry(s.cacheDir, KEY)!.sizeBytes, lookupOnly: true });
    expect(look.buildContexts).toEqual(['--build-context', `conda-env=oci-layout://${path.join(w2, 'entry')}@${readEntry(s.cacheDir, KEY)!.target.digest}`]);
    expect(fs.existsSync(path.join(w2, 'entry'))).toBe(false);
    expect(fs.readFileSync(record, 'utf8')).toBe(before);
  });
  it('a miss with a pinned Miniforge not in the tool cache names where a real run puts it, and downloads nothing', async () => {
    const toolCache = path.join(tmp, 'toolcache');
    vi.stubEnv('RUNNER_TOOL_CACHE', toolCache);
    vi.stubEnv('https_proxy', 'http://127.0.0.1:9'); // a download attempt would fail, not hang
    const look = await api.restoreEnvCache({ ...s, miniforgeVersion: '24.11.3-0' }, KEY, path.join(tmp, 'w'), { lookupOnly: true });
    expect(look.buildContexts).toEqual(['--build-context', `miniforge=${path.join(toolCache, 'miniforge3', '24.11.3-0', 'x64')}`]);
    expect(fs.existsSync(toolCache)).toBe(false);
    expect(look.exports.map((e) => e.target)).toEqual(['env-lock']);
    expect(look.save?.dir).toMatch(/\/tmp\//);
  });
  it('a builder without named contexts gets none, not even the Miniforge installer', async () => {
    vi.stubEnv('RUNNER_TOOL_CACHE', path.join(tmp, 'toolcache'));
    const session = await api.restoreEnvCache({ ...s, backend: 'none', miniforgeVersion: '24.11.3-0' }, KEY, path.join(tmp, 'w'), { namedContexts: false });
    expect(session.buildContexts).toEqual([]);
  });
});

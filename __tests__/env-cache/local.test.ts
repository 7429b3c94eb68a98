// The local backend's cache dir: entries committed from staged layouts, their records, locks,
// least-recently-used eviction over shared blobs, the layer-cache swap and the leftovers of a job.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stageLayout } from '../../src/env-cache/entry.js';
import {
  RETIRED_LAYERS_MS, acquireLock, commitEntry, dropEntry, evictLru, finishLocalLayers, linkEntry, listEntries, localLayerCache, lookupEntry, readEntry, removeLeftoversOf, seedLayout, stagingDir, storeDir, touchEntry,
} from '../../src/env-cache/local.js';
import { blobFile, layersOf, writeImage, writeLayerCache } from './oci-fixture.js';

let root: string;
let cacheDir: string;
const BASE = { image: 'pcb-base:busybox', digest: `sha256:${'b'.repeat(64)}` };
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-local-'));
  cacheDir = path.join(root, 'cache');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** A save of `key`: an image written under tmp/ as the save build would, staged (checked) and committed. */
async function save(key: string, layers: Buffer[], cap = 1e12) {
  const dir = stagingDir(cacheDir, key);
  const img = writeImage(dir, layers, key);
  const staged = await stageLayout(dir);
  const c = await commitEntry(cacheDir, key, staged, BASE, cap);
  fs.rmSync(dir, { recursive: true, force: true });
  return { img, c };
}

const blobNames = () => fs.readdirSync(path.join(storeDir(cacheDir), 'blobs', 'sha256')).sort();

describe('local backend: commit and read', () => {
  it('a committed entry has a record naming every blob with its checksums, and its blobs in the shared layout', async () => {
    const { img, c } = await save('k1', layersOf(1000, 70 * 2 ** 20));
    expect(c).toEqual({ saved: true, sizeBytes: expect.any(Number), evicted: [] });
    const r = readEntry(cacheDir, 'k1')!;
    expect(r).toMatchObject({ schema: 2, key: 'k1', target: img.target, config: img.config, base: BASE });
    expect(r.blobs.map((b) => b.digest).sort()).toEqual([img.target.digest, img.config, ...img.layers].sort());
    expect(r.blobs.find((b) => b.digest === img.layers[1])!.chunks).toHaveLength(2); // 70 MiB: two 64 MiB pieces
    expect(r.sizeBytes).toBe(r.blobs.reduce((n, b) => n + b.size, 0));
    expect(blobNames()).toEqual(r.blobs.map((b) => b.digest.slice(7)).sort());
    expect(fs.readdirSync(path.join(cacheDir, 'entries'))).toEqual(['k1.json']);
    expect(fs.readdirSync(path.join(cacheDir, 'tmp'))).toEqual([]);
  });
  it('a staged blob that is not what its name says is refused before anything is committed', async () => {
    const dir = stagingDir(cacheDir, 'k1');
    const img = writeImage(dir, layersOf(4096));
    fs.writeFileSync(blobFile(dir, img.layers[0]), Buffer.alloc(4096, 0x5a)); // same size, other bytes
    await expect(stageLayout(dir)).rejects.toThrow(/is not the blob sha256:[0-9a-f]{64} of 4096 bytes/);
    expect(readEntry(cacheDir, 'k1')).toBeNull();
  });
  it('a record that does not parse, or does not hold together, is a problem, not a miss; a missing one is null', async () => {
    await save('k1', layersOf(10));
    expect(lookupEntry(cacheDir, 'nope')).toBeNull();
    const file = path.join(cacheDir, 'entries', 'k1.json');
    const good = fs.readFileSync(file, 'utf8');
    fs.writeFileSync(file, good.slice(0, 40));
    expect(lookupEntry(cacheDir, 'k1')).toEqual({ problem: expect.stringMatching(/^entries\/k1\.json does not parse \(/) });
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(good), blobs: [{ digest: 'sha256:x', size: 'many' }] }));
    expect(lookupEntry(cacheDir, 'k1')).toEqual({ problem: expect.stringMatching(/a blob without digest, size or checksums/) });
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(good), key: 'k2' }));
    expect(lookupEntry(cacheDir, 'k1')).toEqual({ problem: 'entries/k1.json: it names the key "k2"' });
    expect(readEntry(cacheDir, 'k1')).toBeNull();
  });
  it('a job links the entry into its own layout; an eviction afterwards cannot take the blobs from it', async () => {
    const { img } = await save('k1', layersOf(100, 200));
    const job = path.join(root, 'job');
    linkEntry(cacheDir, readEntry(cacheDir, 'k1')!, job);
    expect(JSON.parse(fs.readFileSync(path.join(job, 'index.json'), 'utf8')).manifests[0].digest).toBe(img.target.digest);
    await dropEntry(cacheDir, 'k1');
    expect(blobNames()).toEqual([]);
    expect(fs.readFileSync(blobFile(job, img.layers[1]))).toEqual(Buffer.alloc(200, 0x42));
  });
  it('an existing entry is not written again, and a second commit of the key says so', async () => {
    await save('k1', layersOf(10));
    const { c } = await save('k1', layersOf(20));
    expect(c).toMatchObject({ saved: false, raced: true, reason: 'another job saved this key first' });
    expect(readEntry(cacheDir, 'k1')!.sizeBytes).toBeLessThan(1000);
  });
  it('dropEntry with a bad blob removes that blob even when another entry shares it', async () => {
    const shared = Buffer.alloc(300, 0x61);
    const a = await save('a', [shared, Buffer.alloc(10, 1)]);
    await save('b', [shared, Buffer.alloc(10, 2)]);
    await dropEntry(cacheDir, 'a', a.img.layers[0]);
    expect(readEntry(cacheDir, 'a')).toBeNull();
    expect(fs.existsSync(blobFile(storeDir(cacheDir), a.img.layers[0]))).toBe(false);
    expect(readEntry(cacheDir, 'b')).not.toBeNull(); // its own check will find the blob gone
  });
});

describe('local backend: one saver per key', () => {
  it('a held lock makes a second saver skip; the lock of a dead process on this host is broken', () => {
    const release = acquireLock(cacheDir, 'k1');
    expect(release).not.toBeNull();
    expect(acquireLock(cacheDir, 'k1')).toBeNull();
    release?.();
    // a pid above the kernel's pid_max cannot be alive
    fs.writeFileSync(path.join(cacheDir, 'locks', 'k1.lock'), JSON.stringify({ pid: 4194305, host: os.hostname(), at: Date.now() }));
    expect(acquireLock(cacheDir, 'k1')).not.toBeNull();
  });

  it('concurrent commits of one key from separate processes leave exactly one valid entry', async () => {
    // Real processes: the cache-dir modules (node built-ins only) transpiled to plain JS for node.
    const out = path.join(root, 'mods');
    fs.mkdirSync(out);
    for (const m of ['local', 'entry', 'layout', 'checksum', 'tar']) {
      const src = fs.readFileSync(path.join(__dirname, '../../src/env-cache', `${m}.ts`), 'utf8');
      fs.writeFileSync(path.join(out, `${m}.js`), ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
    }
    fs.writeFileSync(path.join(out, 'package.json'), '{"type":"module"}');
    const go = path.join(root, 'go');
    const worker = path.join(out, 'worker.js');
    fs.writeFileSync(worker, `
      import * as fs from 'node:fs';
      import { commitEntry } from './local.js';
      import { stageLayout } from './entry.js';
      const [cacheDir, dir, go] = process.argv.slice(2);
      const staged = await stageLayout(dir);
      while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 5));
      process.stdout.write(JSON.stringify(await commitEntry(cacheDir, 'same-key', staged, { image: 'b', digest: null }, 1e12)));
    `);
    const dirs = Array.from({ length: 4 }, (_v, i) => {
      const d = stagingDir(cacheDir, 'same-key');
      writeImage(d, [Buffer.alloc(4 * 2 ** 20, 0x41 + i)], String(i));
      return d;
    });
    const runs = dirs.map((d) => new Promise<{ saved: boolean; reason?: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [worker, cacheDir, d, go], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      p.stdout.on('data', (b) => (text += b));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(text)) : reject(new Error(`worker exit ${code}`))));
    }));
    await new Promise((r) => setTimeout(r, 500));
    fs.writeFileSync(go, '');
    const results = await Promise.all(runs);
    expect(results.filter((r) => r.saved)).toHaveLength(1);
    for (const r of results.filter((x) => !x.saved)) expect(r.reason).toBe('another job saved this key first');
    expect(fs.readdirSync(path.join(cacheDir, 'entries'))).toEqual(['same-key.json']);
    const r = readEntry(cacheDir, 'same-key')!;
    // the entry's blobs are one saver's, whole: exactly the blobs its record names
    expect(blobNames()).toEqual(r.blobs.map((b) => b.digest.slice(7)).sort());
    const { checkLayout } = await import('../../src/env-cache/entry.js');
    expect(await checkLayout(storeDir(cacheDir), r)).toBeNull();
    expect(fs.readdirSync(path.join(cacheDir, 'locks'))).toEqual([]);
  }, 60_000);
});

describe('local backend: least-recently-used eviction', () => {
  it('evicts the entries used longest ago until their blobs fit; a shared blob counts once and stays while an entry names it', async () => {
    const shared = Buffer.alloc(1000, 0x61);
    for (const [k, t] of [['a', 1000], ['b', 2000], ['c', 3000]] as const) {
      await save(k, [shared, Buffer.alloc(100, k.charCodeAt(0))]);
      await touchEntry(cacheDir, k, t);
    }
    await touchEntry(cacheDir, 'a', 4000); // a restore of a: now the most recent
    const before = listEntries(cacheDir).reduce((n, e) => Math.max(n, e.sizeBytes), 0);
    // d + a fit (the shared layer counted once), b and c do not
    const { c } = await save('d', [shared, Buffer.alloc(100, 0x64)], 2 * before - 1000 + 50);
    expect(c.saved).toBe(true);
    expect(c.evicted).toEqual(['b', 'c']);
    expect(listEntries(cacheDir).map((e) => e.key).sort()).toEqual(['a', 'd']);
    const used = new Set(listEntries(cacheDir).flatMap((e) => e.blobs.map((b) => b.digest.slice(7))));
    expect(blobNames()).toEqual([...used].sort());
    expect(fs.readdirSync(path.join(cacheDir, 'trash'))).toEqual([]);
  });
  it('never evicts the entry it keeps, even alone over the cap; a touch never brings back an evicted entry', async () => {
    await save('big', layersOf(500));
    expect(await evictLru(cacheDir, 10, 'big')).toEqual([]);
    expect(readEntry(cacheDir, 'big')).not.toBeNull();
    await dropEntry(cacheDir, 'big');
    await touchEntry(cacheDir, 'big');
    expect(fs.existsSync(path.join(cacheDir, 'entries', 'big.json'))).toBe(false);
  });
  it('an entry of the first layout (entries/KEY/ with env.tar) is removed by the next commit', async () => {
    fs.mkdirSync(path.join(cacheDir, 'entries', 'old-v1-key'), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'entries', 'old-v1-key', 'env.tar'), 'x');
    await save('k', layersOf(10));
    expect(fs.readdirSync(path.join(cacheDir, 'entries'))).toEqual(['k.json']);
  });
});

describe('local backend: what a job leaves', () => {
  it('removeLeftoversOf removes the unfinished save, the unswapped layer cache and the locks of that pid only', () => {
    const mine = stagingDir(cacheDir, 'k');
    fs.writeFileSync(path.join(mine, 'half'), 'x');
    fs.mkdirSync(path.join(cacheDir, 'tmp', 'k.1.abc'), { recursive: true }); // another process's
    const release = acquireLock(cacheDir, 'k');
    expect(release).not.toBeNull();
    const l = localLayerCache(cacheDir);
    fs.mkdirSync(l.newDir, { recursive: true });
    const removed = removeLeftoversOf(cacheDir, process.pid);
    expect(removed.sort()).toEqual([path.join('layers', path.basename(l.newDir)), path.join('locks', 'k.lock'), path.join('tmp', path.basename(mine))].sort());
    expect(fs.readdirSync(path.join(cacheDir, 'tmp'))).toEqual(['k.1.abc']);
  });
});

describe('local backend: layer cache swap', () => {
  it('reads current, writes a new directory (a failed export fails no build) and swaps it in', () => {
    const first = localLayerCache(cacheDir);
    expect(first.from).toEqual([]);
    // uncompressed: no gzip of the env layer on one core, and it is the blob an entry stores
    expect(first.to).toEqual([`type=local,dest=${first.newDir},mode=max,compression=uncompressed,ignore-error=true`]);
    fs.mkdirSync(first.newDir, { recursive: true });
    fs.writeFileSync(path.join(first.newDir, 'index.json'), '{"n":1}');
    expect(finishLocalLayers(cacheDir, first.newDir)).toBe('swapped');
    const current = path.join(cacheDir, 'layers', 'current');
    const second = localLayerCache(cacheDir);
    expect(second.from).toEqual([`type=local,src=${current}`]);
    fs.mkdirSync(second.newDir, { recursive: true });
    fs.writeFileSync(path.join(second.newDir, 'index.json'), '{"n":2}');
    finishLocalLayers(cacheDir, second.newDir);
    expect(fs.readFileSync(path.join(current, 'index.json'), 'utf8')).toBe('{"n":2}');
    // the replaced cache is retired, not deleted: a concurrent build may still read it
    const retired = fs.readdirSync(path.join(cacheDir, 'layers')).filter((n) => n.startsWith('retired-'));
    expect(retired).toHaveLength(1);
    expect(fs.readFileSync(path.join(cacheDir, 'layers', retired[0], 'index.json'), 'utf8')).toBe('{"n":1}');
    // ... and removed by a later swap once it is older than RETIRED_LAYERS_MS
    const third = localLayerCache(cacheDir);
    fs.mkdirSync(third.newDir, { recursive: true });
    fs.writeFileSync(path.join(third.newDir, 'index.json'), '{"n":3}');
    finishLocalLayers(cacheDir, third.newDir, Date.now() + RETIRED_LAYERS_MS + 60_000);
    const left = fs.readdirSync(path.join(cacheDir, 'layers')).sort();
    expect(left).toHaveLength(2);
    expect(left).toContain('current');
    expect(left).not.toContain(retired[0]);
  });
  for (const shape of ['manifest', 'index'] as const) {
    it(`a new cache starts with links to the current one's blobs; once swapped in, it holds only what its index.json reaches (${shape} shape)`, () => {
      const first = localLayerCache(cacheDir);
      const [, , envLayer, oldLayer] = writeLayerCache(first.newDir, [Buffer.alloc(4096, 1), Buffer.alloc(512, 2)], shape);
      expect(finishLocalLayers(cacheDir, first.newDir)).toBe('swapped');
      const current = path.join(cacheDir, 'layers', 'current');

      const second = localLayerCache(cacheDir);
      expect(seedLayout(second.newDir, [current])).toBe(4); // top, cache config, 2 layers
      expect(fs.statSync(blobFile(second.newDir, envLayer)).ino).toBe(fs.statSync(blobFile(current, envLayer)).ino);
      // the build: the env layer again (BuildKit skips it: the destination has it), a new second layer
      const reached = writeLayerCache(second.newDir, [Buffer.alloc(4096, 1), Buffer.alloc(512, 3)], shape);
      expect(finishLocalLayers(cacheDir, second.newDir)).toBe('swapped');
      const blobs = (dir: string) => fs.readdirSync(path.join(dir, 'blobs', 'sha256')).map((n) => `sha256:${n}`).sort();
      expect(blobs(current)).toEqual([...reached].sort());
      expect(blobs(current)).not.toContain(oldLayer);
      // the retired cache (a concurrent build may read it) keeps all of its blobs, the shared one included
      const retired = path.join(cacheDir, 'layers', fs.readdirSync(path.join(cacheDir, 'layers')).find((n) => n.startsWith('retired-'))!);
      expect(blobs(retired)).toContain(oldLayer);
      expect(fs.readFileSync(blobFile(retired, envLayer))).toEqual(Buffer.alloc(4096, 1));
      expect(fs.statSync(blobFile(retired, envLayer)).ino).toBe(fs.statSync(blobFile(current, envLayer)).ino);
    });
  }
  it('seeds nothing when there is no layer cache yet', () => {
    const l = localLayerCache(cacheDir);
    expect(seedLayout(l.newDir, [path.join(cacheDir, 'layers', 'current')])).toBe(0);
    expect(fs.existsSync(l.newDir)).toBe(false);
  });
  it('a layout seeded from several: a blob found in two is linked once, from the first', () => {
    const a = path.join(cacheDir, 'a');
    const b = path.join(cacheDir, 'b');
    const [shared] = writeLayerCache(a, [Buffer.alloc(64, 1)], 'manifest').slice(2);
    writeLayerCache(b, [Buffer.alloc(64, 1), Buffer.alloc(64, 2)], 'manifest');
    const dest = stagingDir(cacheDir, 'k');
    const names = (dir: string) => fs.readdirSync(path.join(dir, 'blobs', 'sha256')).sort();
    const union = [...new Set([...names(a), ...names(b)])].sort();
    expect(seedLayout(dest, [a, b, path.join(cacheDir, 'missing')])).toBe(union.length);
    expect(names(dest)).toEqual(union);
    expect(fs.statSync(blobFile(dest, shared)).ino).toBe(fs.statSync(blobFile(a, shared)).ino);
  });
  it('does not swap in a new cache that lacks a blob its index.json reaches (a damaged one was dropped from it)', () => {
    const first = localLayerCache(cacheDir);
    writeLayerCache(first.newDir, layersOf(64), 'manifest');
    expect(finishLocalLayers(cacheDir, first.newDir)).toBe('swapped');
    const next = localLayerCache(cacheDir);
    const digests = writeLayerCache(next.newDir, layersOf(64, 32), 'manifest');
    fs.rmSync(blobFile(next.newDir, digests[digests.length - 1]));
    expect(finishLocalLayers(cacheDir, next.newDir)).toBe('incomplete');
    expect(fs.existsSync(next.newDir)).toBe(false);
    expect(fs.existsSync(path.join(cacheDir, 'layers', 'current', 'index.json')), 'the whole one stays').toBe(true);
  });
  it('keeps current when the build wrote no new cache', () => {
    const l = localLayerCache(cacheDir);
    fs.mkdirSync(l.newDir, { recursive: true });
    expect(finishLocalLayers(cacheDir, l.newDir)).toBe('not-written');
    expect(fs.existsSync(l.newDir)).toBe(false);
  });
});

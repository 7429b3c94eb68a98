import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLock, entryDir, evictLru, finishLocalLayers, inspectEntry, RETIRED_LAYERS_MS, listEntries, localLayerCache, localRestore, localSave, readEntry, touchEntry,
} from '../../src/env-cache/local.js';

let root: string;
let cacheDir: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-local-'));
  cacheDir = path.join(root, 'cache');
});
afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

/** An env-export output directory holding an env.tar of SIZE bytes with a recognisable fill. */
function exportDir(name: string, size: number, fill = name.charCodeAt(0)): string {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'env.tar'), Buffer.alloc(size, fill));
  fs.writeFileSync(path.join(d, 'environment.lock'), `@EXPLICIT\n# pip:\n# ${name}\n`);
  return d;
}

describe('local backend: save and restore', () => {
  it('saves an entry and restores it into the work dir', async () => {
    const r = await localSave(cacheDir, 'k1', exportDir('e1', 1000), 1e9);
    expect(r).toMatchObject({ saved: true, sizeBytes: 1000, evicted: [] });
    expect(fs.readdirSync(entryDir(cacheDir, 'k1')).sort()).toEqual(['entry.json', 'env.tar', 'environment.lock']);
    expect(fs.readdirSync(path.join(cacheDir, 'tmp'))).toEqual([]);
    const work = path.join(root, 'work');
    const got = await localRestore(cacheDir, 'k1', work);
    expect(got).toEqual({ hit: true, sizeBytes: 1000, contextDir: path.join(work, 'env-cache') });
    expect(fs.readFileSync(path.join(work, 'env-cache', 'env.tar'))).toEqual(Buffer.alloc(1000, 'e'.charCodeAt(0)));
  });
  it('misses an unknown key', async () => {
    expect(await localRestore(cacheDir, 'nope', path.join(root, 'w'))).toEqual({ hit: false, sizeBytes: null, contextDir: null });
  });
  it('does not write an existing entry again', async () => {
    await localSave(cacheDir, 'k1', exportDir('a', 10), 1e9);
    const r = await localSave(cacheDir, 'k1', exportDir('b', 20), 1e9);
    expect(r).toMatchObject({ saved: false, reason: 'the entry already exists' });
    expect(readEntry(cacheDir, 'k1')?.sizeBytes).toBe(10);
  });
  it('reports a missing export', async () => {
    expect((await localSave(cacheDir, 'k1', path.join(root, 'none'), 1e9)).reason).toMatch(/no env.tar/);
  });
  it('a crash mid-save leaves no entry: half-written files under tmp/ are not seen, and a torn entry is replaced', async () => {
    fs.mkdirSync(path.join(cacheDir, 'tmp', 'k1.123.abc'), { recursive: true });
    fs.writeFileSync(path.join(cacheDir, 'tmp', 'k1.123.abc', 'env.tar'), 'half');
    expect(readEntry(cacheDir, 'k1')).toBeNull();
    // an entry whose env.tar does not match its recorded size is not valid
    fs.mkdirSync(entryDir(cacheDir, 'k1'), { recursive: true });
    fs.writeFileSync(path.join(entryDir(cacheDir, 'k1'), 'env.tar'), 'short');
    fs.writeFileSync(path.join(entryDir(cacheDir, 'k1'), 'entry.json'), JSON.stringify({ schema: 1, key: 'k1', sizeBytes: 999, createdAt: 0, lastUsed: 0 }));
    expect((await localRestore(cacheDir, 'k1', path.join(root, 'w'))).hit).toBe(false);
    expect((await localSave(cacheDir, 'k1', exportDir('c', 30), 1e9)).saved).toBe(true);
    expect(readEntry(cacheDir, 'k1')?.sizeBytes).toBe(30);
  });
  it('a restored env.tar survives eviction of its entry (hard link or copy)', async () => {
    await localSave(cacheDir, 'k1', exportDir('a', 100), 1e9);
    const work = path.join(root, 'w');
    await localRestore(cacheDir, 'k1', work);
    fs.rmSync(entryDir(cacheDir, 'k1'), { recursive: true });
    expect(fs.statSync(path.join(work, 'env-cache', 'env.tar')).size).toBe(100);
  });
});

describe('local backend: a damaged entry is found before use, removed and reported', () => {
  const tarOf = (key: string) => path.join(entryDir(cacheDir, key), 'env.tar');
  const metaOf = (key: string) => path.join(entryDir(cacheDir, key), 'entry.json');
  const restoreDamaged = async (key: string) => {
    const work = path.join(root, 'w');
    const r = await localRestore(cacheDir, key, work);
    expect(r).toMatchObject({ hit: false, contextDir: null });
    expect(fs.existsSync(entryDir(cacheDir, key))).toBe(false);
    expect(fs.existsSync(path.join(work, 'env-cache', 'env.tar'))).toBe(false);
    return r.damaged;
  };

  it('records the sha256 of env.tar in entry.json', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 1000), 1e9);
    const meta = JSON.parse(fs.readFileSync(metaOf('k1'), 'utf8')) as { schema: number; sha256: string };
    // sha256 of 1000 bytes of 'e', worked out independently of the code under test
    const { createHash } = await import('node:crypto');
    expect(meta).toMatchObject({ schema: 2, sha256: createHash('sha256').update(Buffer.alloc(1000, 'e')).digest('hex') });
  });
  it('one changed byte of env.tar (same size): the checksum catches it', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 4096), 1e9);
    const fd = fs.openSync(tarOf('k1'), 'r+');
    fs.writeSync(fd, Buffer.from('X'), 0, 1, 2000);
    fs.closeSync(fd);
    expect(inspectEntry(cacheDir, 'k1').state).toBe('whole'); // the cheap look cannot see it
    expect(await restoreDamaged('k1')).toMatch(/^env\.tar's sha256 is [0-9a-f]{12}…, entry\.json says [0-9a-f]{12}…$/);
  });
  it('a truncated env.tar whose recorded size was changed to match: the checksum catches it', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 4096), 1e9);
    fs.truncateSync(tarOf('k1'), 1000);
    const meta = JSON.parse(fs.readFileSync(metaOf('k1'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(metaOf('k1'), JSON.stringify({ ...meta, sizeBytes: 1000 }));
    expect(await restoreDamaged('k1')).toMatch(/sha256/);
  });
  it('a truncated env.tar: the size says so before any reading', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 4096), 1e9);
    fs.truncateSync(tarOf('k1'), 1000);
    expect(await restoreDamaged('k1')).toBe('env.tar has 1000 bytes, entry.json says 4096');
  });
  it.each([
    ['not JSON', '\u0000garbage', /^entry\.json does not parse/],
    ['cut in the middle', '{"schema":2,"key":"k1","size', /^entry\.json does not parse/],
    ['the wrong shape', JSON.stringify({ schema: 2, key: 'k1', sizeBytes: 'many' }), /^entry\.json has no valid sizeBytes$/],
    ['another key', JSON.stringify({ schema: 2, key: 'k2', sizeBytes: 10, sha256: 'a'.repeat(64) }), /^entry\.json names the key "k2"$/],
    ['an older version (no checksum)', JSON.stringify({ schema: 1, key: 'k1', sizeBytes: 10, createdAt: 0, lastUsed: 0 }), /older version/],
  ])('entry.json %s', async (_what, text, problem) => {
    await localSave(cacheDir, 'k1', exportDir('e1', 10), 1e9);
    fs.writeFileSync(metaOf('k1'), text);
    expect(inspectEntry(cacheDir, 'k1').state).toBe('damaged');
    expect(await restoreDamaged('k1')).toMatch(problem);
  });
  it('an entry without entry.json', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 10), 1e9);
    fs.rmSync(metaOf('k1'));
    expect(await restoreDamaged('k1')).toBe('entry.json is missing');
  });
  it('after a damaged entry was removed, the next save writes a whole one and the restore after it hits', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 100), 1e9);
    fs.writeFileSync(metaOf('k1'), 'garbage');
    await restoreDamaged('k1');
    expect((await localSave(cacheDir, 'k1', exportDir('e2', 100), 1e9)).saved).toBe(true);
    expect((await localRestore(cacheDir, 'k1', path.join(root, 'w2'))).hit).toBe(true);
  });
  it('a save over a damaged entry that a dry run left (it only reports) replaces it', async () => {
    await localSave(cacheDir, 'k1', exportDir('e1', 100), 1e9);
    fs.writeFileSync(metaOf('k1'), 'garbage');
    expect((await localSave(cacheDir, 'k1', exportDir('e2', 50), 1e9)).saved).toBe(true);
    expect(readEntry(cacheDir, 'k1')?.sizeBytes).toBe(50);
  });
});

describe('local backend: one saver per key', () => {
  it('a held lock makes a second saver skip', async () => {
    const release = acquireLock(cacheDir, 'k1');
    expect(release).not.toBeNull();
    expect(acquireLock(cacheDir, 'k1')).toBeNull();
    expect(await localSave(cacheDir, 'k1', exportDir('a', 10), 1e9)).toMatchObject({ saved: false, reason: 'another job is saving this key now' });
    release?.();
    expect((await localSave(cacheDir, 'k1', exportDir('b', 10), 1e9)).saved).toBe(true);
  });
  it('breaks the lock of a dead process on this host', async () => {
    fs.mkdirSync(path.join(cacheDir, 'locks'), { recursive: true });
    // a pid above the kernel's pid_max cannot be alive
    fs.writeFileSync(path.join(cacheDir, 'locks', 'k1.lock'), JSON.stringify({ pid: 4194305, host: os.hostname(), at: Date.now() }));
    expect((await localSave(cacheDir, 'k1', exportDir('a', 10), 1e9)).saved).toBe(true);
    expect(fs.readdirSync(path.join(cacheDir, 'locks'))).toEqual([]);
  });

  it('concurrent saves of one key from separate processes leave exactly one valid entry', async () => {
    // Real processes: local.ts (node built-ins only) transpiled to plain JS for node.
    const src = fs.readFileSync(path.join(__dirname, '../../src/env-cache/local.ts'), 'utf8');
    const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    const mod = path.join(root, 'local.mjs');
    fs.writeFileSync(mod, js);
    const go = path.join(root, 'go');
    const worker = path.join(root, 'worker.mjs');
    fs.writeFileSync(worker, `
      import * as fs from 'node:fs';
      import { localSave } from ${JSON.stringify(mod)};
      const [cacheDir, exportDir, go] = process.argv.slice(2);
      while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 5));
      process.stdout.write(JSON.stringify(await localSave(cacheDir, 'same-key', exportDir, 1e12)));
    `);
    const n = 4;
    const size = 8 * 1024 * 1024;
    const dirs = Array.from({ length: n }, (_v, i) => exportDir(`x${i}`, size, 65 + i));
    const runs = dirs.map((d) => new Promise<{ saved: boolean; reason?: string }>((resolve, reject) => {
      const p = spawn(process.execPath, [worker, cacheDir, d, go], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (b) => (out += b));
      p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker exit ${code}`))));
    }));
    await new Promise((r) => setTimeout(r, 300));
    fs.writeFileSync(go, '');
    const results = await Promise.all(runs);
    expect(results.filter((r) => r.saved)).toHaveLength(1);
    for (const r of results.filter((x) => !x.saved)) {
      expect(r.reason).toMatch(/another job is saving this key now|another job saved this key first|the entry already exists/);
    }
    expect(fs.readdirSync(path.join(cacheDir, 'entries'))).toEqual(['same-key']);
    const meta = readEntry(cacheDir, 'same-key');
    expect(meta?.sizeBytes).toBe(size);
    // the entry's env.tar is one saver's file, whole (a single fill byte throughout)
    const data = fs.readFileSync(path.join(entryDir(cacheDir, 'same-key'), 'env.tar'));
    expect(data.length).toBe(size);
    expect(data.every((b) => b === data[0])).toBe(true);
    expect(fs.readdirSync(path.join(cacheDir, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(cacheDir, 'locks'))).toEqual([]);
  }, 60_000);
});

describe('local backend: size cap with least-recently-used eviction', () => {
  it('evicts the entries used longest ago until the cache fits', async () => {
    for (const [k, t] of [['a', 1000], ['b', 2000], ['c', 3000]] as const) {
      await localSave(cacheDir, k, exportDir(`e${k}`, 100), 1e9);
      touchEntry(cacheDir, k, t);
    }
    touchEntry(cacheDir, 'a', 4000); // a restore of a: now the most recent
    const r = await localSave(cacheDir, 'd', exportDir('ed', 100), 250);
    expect(r.saved).toBe(true);
    expect(r.evicted).toEqual(['b', 'c']);
    expect(listEntries(cacheDir).map((e) => e.key).sort()).toEqual(['a', 'd']);
    expect(fs.readdirSync(path.join(cacheDir, 'trash'))).toEqual([]);
  });
  it('a restore records the use', async () => {
    await localSave(cacheDir, 'a', exportDir('ea', 10), 1e9);
    touchEntry(cacheDir, 'a', 5);
    await localRestore(cacheDir, 'a', path.join(root, 'w'));
    expect(readEntry(cacheDir, 'a')!.lastUsed).toBeGreaterThan(5);
  });
  it('never evicts the entry it keeps, even alone over the cap', async () => {
    await localSave(cacheDir, 'big', exportDir('eb', 500), 1e9);
    expect(evictLru(cacheDir, 100, 'big')).toEqual([]);
    expect(readEntry(cacheDir, 'big')).not.toBeNull();
  });
});

describe('local backend: layer cache swap', () => {
  it('reads current, writes a new directory and swaps it in', async () => {
    const first = localLayerCache(cacheDir);
    expect(first.from).toEqual([]);
    expect(first.to).toEqual([`type=local,dest=${first.newDir},mode=max,ignore-error=true`]);
    fs.mkdirSync(first.newDir, { recursive: true });
    fs.writeFileSync(path.join(first.newDir, 'index.json'), '{"n":1}');
    expect(finishLocalLayers(cacheDir, first.newDir)).toBe(true);
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
  it('keeps current when the build wrote no new cache', async () => {
    const l = localLayerCache(cacheDir);
    fs.mkdirSync(l.newDir, { recursive: true });
    expect(finishLocalLayers(cacheDir, l.newDir)).toBe(false);
    expect(fs.existsSync(l.newDir)).toBe(false);
  });
});

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The `local` backend: a directory on a persistent runner.
 *
 *   CACHE_DIR/entries/KEY/{env.tar,environment.lock,entry.json}   complete entries only
 *   CACHE_DIR/tmp/...        entries being written, then renamed into entries/ (atomic)
 *   CACHE_DIR/trash/...      entries being evicted: renamed out of entries/ first, then removed
 *   CACHE_DIR/locks/KEY.lock one saver per key (created with O_EXCL)
 *   CACHE_DIR/layers/current the buildx type=local layer cache; a new one is written next to it and swapped in
 *
 * A crash leaves at most a directory under tmp/ (cleaned up later), never a half entry.
 */

export interface EntryMeta {
  schema: 1;
  key: string;
  sizeBytes: number;
  createdAt: number;
  lastUsed: number;
}

const ENTRY_FILE = 'entry.json';
const STALE_LOCK_MS = 6 * 3600 * 1000;
const STALE_TMP_MS = 24 * 3600 * 1000;

function rand(): string {
  return `${process.pid}.${randomBytes(6).toString('hex')}`;
}

export function entryDir(cacheDir: string, key: string): string {
  return path.join(cacheDir, 'entries', key);
}

function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${rand()}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/** The entry's metadata when the entry is complete and consistent, else null. */
export function readEntry(cacheDir: string, key: string): EntryMeta | null {
  const dir = entryDir(cacheDir, key);
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, ENTRY_FILE), 'utf8')) as EntryMeta;
    const st = fs.statSync(path.join(dir, 'env.tar'));
    if (meta.schema !== 1 || meta.key !== key || st.size !== meta.sizeBytes) return null;
    return meta;
  } catch {
    return null;
  }
}

/** Records a use of the entry (LRU order); best effort. */
export function touchEntry(cacheDir: string, key: string, now = Date.now()): void {
  const meta = readEntry(cacheDir, key);
  if (!meta) return;
  try {
    writeFileAtomic(path.join(entryDir(cacheDir, key), ENTRY_FILE), JSON.stringify({ ...meta, lastUsed: now }));
  } catch {
    // evicted meanwhile: nothing to record
  }
}

/** Puts `src` at `dest` by hard link (same file system) or copy; the cache entry may be evicted afterwards. */
function linkOrCopy(src: string, dest: string): void {
  fs.rmSync(dest, { force: true });
  try {
    fs.linkSync(src, dest);
  } catch {
    fs.copyFileSync(src, dest);
  }
}

export interface LocalRestore {
  hit: boolean;
  sizeBytes: number | null;
  contextDir: string | null;
}

/**
 * On a hit, makes WORKDIR/env-cache/env.tar (hard link or copy, so a concurrent eviction cannot take it
 * away during the build) and records the use.
 */
export function localRestore(cacheDir: string, key: string, workDir: string): LocalRestore {
  const meta = readEntry(cacheDir, key);
  if (!meta) return { hit: false, sizeBytes: null, contextDir: null };
  const ctx = path.join(workDir, 'env-cache');
  fs.mkdirSync(ctx, { recursive: true });
  try {
    linkOrCopy(path.join(entryDir(cacheDir, key), 'env.tar'), path.join(ctx, 'env.tar'));
  } catch {
    return { hit: false, sizeBytes: null, contextDir: null }; // evicted between the check and the link
  }
  if (fs.statSync(path.join(ctx, 'env.tar')).size !== meta.sizeBytes) return { hit: false, sizeBytes: null, contextDir: null };
  touchEntry(cacheDir, key);
  return { hit: true, sizeBytes: meta.sizeBytes, contextDir: ctx };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes CACHE_DIR/locks/KEY.lock with O_EXCL; breaks a stale lock (dead holder on this host, or old). */
export function acquireLock(cacheDir: string, key: string): (() => void) | null {
  const dir = path.join(cacheDir, 'locks');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${key}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }));
      fs.closeSync(fd);
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let stale: boolean;
      try {
        const info = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number; host: string; at: number };
        stale = Date.now() - info.at > STALE_LOCK_MS || (info.host === os.hostname() && !pidAlive(info.pid));
      } catch {
        // being written right now, or garbage: judge by age
        try {
          stale = Date.now() - fs.statSync(file).mtimeMs > STALE_LOCK_MS;
        } catch {
          stale = true; // vanished: try again
        }
      }
      if (!stale) return null;
      // Break it by renaming it away first, so two breakers cannot both remove a fresh lock.
      try {
        fs.renameSync(file, `${file}.stale.${rand()}`);
      } catch {
        // someone else broke it
      }
      for (const f of fs.readdirSync(dir)) if (f.startsWith(`${key}.lock.stale.`)) fs.rmSync(path.join(dir, f), { force: true });
    }
  }
  return null;
}

function moveOrCopy(src: string, dest: string): void {
  try {
    fs.renameSync(src, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    fs.copyFileSync(src, dest);
  }
}

export interface LocalSave {
  saved: boolean;
  sizeBytes: number | null;
  reason?: string;
  /** Not saved because another job saved or is saving the key (nothing is wrong). */
  raced?: boolean;
  evicted: string[];
}

/**
 * Saves EXPORTDIR/env.tar (+ environment.lock) as the entry KEY: written under tmp/ and renamed into
 * entries/ in one step. When another job holds the key's lock or the entry exists, nothing is written.
 */
export function localSave(cacheDir: string, key: string, exportDir: string, capBytes: number): LocalSave {
  const tar = path.join(exportDir, 'env.tar');
  if (!fs.existsSync(tar)) return { saved: false, sizeBytes: null, reason: `no env.tar in ${exportDir} (the env-export stage did not run)`, evicted: [] };
  if (readEntry(cacheDir, key)) return { saved: false, sizeBytes: readEntry(cacheDir, key)?.sizeBytes ?? null, reason: 'the entry already exists', raced: true, evicted: [] };
  for (const d of ['entries', 'tmp', 'trash']) fs.mkdirSync(path.join(cacheDir, d), { recursive: true });
  const release = acquireLock(cacheDir, key);
  if (!release) return { saved: false, sizeBytes: null, reason: 'another job is saving this key now', raced: true, evicted: [] };
  const tmp = path.join(cacheDir, 'tmp', `${key}.${rand()}`);
  try {
    if (readEntry(cacheDir, key)) return { saved: false, sizeBytes: readEntry(cacheDir, key)?.sizeBytes ?? null, reason: 'the entry already exists', raced: true, evicted: [] };
    fs.mkdirSync(tmp);
    moveOrCopy(tar, path.join(tmp, 'env.tar'));
    const lock = path.join(exportDir, 'environment.lock');
    if (fs.existsSync(lock)) fs.copyFileSync(lock, path.join(tmp, 'environment.lock'));
    const size = fs.statSync(path.join(tmp, 'env.tar')).size;
    const now = Date.now();
    const meta: EntryMeta = { schema: 1, key, sizeBytes: size, createdAt: now, lastUsed: now };
    fs.writeFileSync(path.join(tmp, ENTRY_FILE), JSON.stringify(meta));
    const fd = fs.openSync(path.join(tmp, 'env.tar'), 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const dest = entryDir(cacheDir, key);
    // A leftover incomplete directory (none is ever made by this code) would block the rename.
    if (fs.existsSync(dest) && !readEntry(cacheDir, key)) removeDir(cacheDir, dest);
    try {
      fs.renameSync(tmp, dest);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        return { saved: false, sizeBytes: size, reason: 'another job saved this key first', raced: true, evicted: [] };
      }
      throw e;
    }
    const evicted = evictLru(cacheDir, capBytes, key);
    return { saved: true, sizeBytes: size, evicted };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    release();
    cleanStale(cacheDir);
  }
}

/** Removes a directory by renaming it into trash/ first, so it vanishes from entries/ in one step. */
function removeDir(cacheDir: string, dir: string): boolean {
  const trash = path.join(cacheDir, 'trash', `${path.basename(dir)}.${rand()}`);
  try {
    fs.mkdirSync(path.dirname(trash), { recursive: true });
    fs.renameSync(dir, trash);
  } catch {
    return false; // someone else removed it
  }
  fs.rmSync(trash, { recursive: true, force: true });
  return true;
}

/** The complete entries. */
export function listEntries(cacheDir: string): EntryMeta[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(cacheDir, 'entries'));
  } catch {
    return [];
  }
  const out: EntryMeta[] = [];
  for (const n of names) {
    const m = readEntry(cacheDir, n);
    if (m) out.push(m);
  }
  return out;
}

/**
 * Least-recently-used eviction: while the complete entries exceed CAP bytes, removes the one used
 * longest ago (never `keep`, the entry just saved or restored). Returns the evicted keys.
 */
export function evictLru(cacheDir: string, capBytes: number, keep: string): string[] {
  const entries = listEntries(cacheDir).sort((a, b) => a.lastUsed - b.lastUsed);
  let total = entries.reduce((n, e) => n + e.sizeBytes, 0);
  const evicted: string[] = [];
  for (const e of entries) {
    if (total <= capBytes) break;
    if (e.key === keep) continue;
    if (removeDir(cacheDir, entryDir(cacheDir, e.key))) evicted.push(e.key);
    total -= e.sizeBytes;
  }
  return evicted;
}

/** Removes what crashed jobs left in tmp/ and trash/ long ago. */
export function cleanStale(cacheDir: string, now = Date.now()): void {
  for (const d of ['tmp', 'trash']) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(cacheDir, d));
    } catch {
      continue;
    }
    for (const n of names) {
      const p = path.join(cacheDir, d, n);
      try {
        if (now - fs.statSync(p).mtimeMs > STALE_TMP_MS) fs.rmSync(p, { recursive: true, force: true });
      } catch {
        // gone
      }
    }
  }
}

/** buildx layer-cache defaults: read `current`, write a new directory that finishLocalLayers swaps in. */
export function localLayerCache(cacheDir: string): { from: string[]; to: string[]; newDir: string } {
  const layers = path.join(cacheDir, 'layers');
  const current = path.join(layers, 'current');
  const newDir = path.join(layers, `new-${rand()}`);
  const from = fs.existsSync(path.join(current, 'index.json')) ? [`type=local,src=${current}`] : [];
  return { from, to: [`type=local,dest=${newDir},mode=max`], newDir };
}

/** How long a replaced layer cache is kept: a build that started on it may still read its blobs. */
export const RETIRED_LAYERS_MS = 3 * 3600 * 1000;

/**
 * Swaps NEWDIR in as layers/current (when the build wrote it). The replaced directory is retired,
 * not deleted, because a concurrent job's build may still be reading it; retired directories older
 * than RETIRED_LAYERS_MS are removed here.
 */
export function finishLocalLayers(cacheDir: string, newDir: string, now = Date.now()): boolean {
  const layers = path.join(cacheDir, 'layers');
  for (const n of fs.existsSync(layers) ? fs.readdirSync(layers) : []) {
    const m = /^retired-(\d+)-/.exec(n);
    if (m && now - Number(m[1]) > RETIRED_LAYERS_MS) removeDir(cacheDir, path.join(layers, n));
  }
  if (!fs.existsSync(path.join(newDir, 'index.json'))) {
    fs.rmSync(newDir, { recursive: true, force: true });
    return false;
  }
  const current = path.join(layers, 'current');
  try {
    fs.renameSync(current, path.join(layers, `retired-${now}-${rand()}`));
  } catch {
    // no current yet, or another job moved it
  }
  try {
    fs.renameSync(newDir, current);
    return true;
  } catch {
    fs.rmSync(newDir, { recursive: true, force: true }); // another job swapped its own in first: keep theirs
    return false;
  }
}

/**
 * Removes what the process `pid` of this host left in the cache dir: its new layer cache that was
 * never swapped in (layers/new-PID.*), a save it did not finish (tmp/KEY.PID.*) and an
 * eviction it did not finish (trash/KEY.PID.*). The caller makes sure that process writes nothing
 * there any more: it is the caller itself at its end, or it is dead. Returns what was removed.
 */
export function removeLeftoversOf(cacheDir: string, pid: number): string[] {
  const removed: string[] = [];
  const saving = new RegExp(`\\.${pid}\\.[0-9a-f]+$`);
  const mine = { layers: new RegExp(`^new-${pid}\\.[0-9a-f]+$`), tmp: saving, trash: saving };
  for (const [area, re] of Object.entries(mine)) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(cacheDir, area));
    } catch {
      continue;
    }
    for (const n of names.filter((x) => re.test(x))) {
      fs.rmSync(path.join(cacheDir, area, n), { recursive: true, force: true });
      removed.push(path.join(area, n));
    }
  }
  return removed;
}

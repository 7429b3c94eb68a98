import { createHash, randomBytes } from 'node:crypto';
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
 * A crash leaves at most a directory under tmp/ (cleaned up later), never a half entry. What a
 * crash cannot do, a disk or a person can: entry.json carries env.tar's sha256, and a restore
 * checks it before the tar goes anywhere near a build.
 */

export interface EntryMeta {
  schema: 2;
  key: string;
  sizeBytes: number;
  /** sha256 of env.tar, hex */
  sha256: string;
  createdAt: number;
  lastUsed: number;
}

/** What entries/KEY holds: nothing, a whole entry (by its metadata and size), or a damaged one and why. */
export type EntryState = { state: 'absent' } | { state: 'damaged'; problem: string } | { state: 'whole'; meta: EntryMeta };

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

/** Why parsed entry.json cannot describe the entry `key`, or null when it can. */
function metaProblem(meta: unknown, key: string): string | null {
  if (typeof meta !== 'object' || meta === null) return `${ENTRY_FILE} is not a JSON object`;
  const m = meta as Omit<Partial<EntryMeta>, 'schema'> & { schema?: unknown };
  if (m.schema === 1) return `${ENTRY_FILE} has no checksum (written by an older version of this action)`;
  if (m.schema !== 2) return `${ENTRY_FILE} has schema ${JSON.stringify(m.schema)}, not 2`;
  if (m.key !== key) return `${ENTRY_FILE} names the key ${JSON.stringify(m.key)}`;
  if (!Number.isSafeInteger(m.sizeBytes) || (m.sizeBytes as number) < 0) return `${ENTRY_FILE} has no valid sizeBytes`;
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) return `${ENTRY_FILE} has no valid sha256`;
  return null;
}

/**
 * The state of the entry `key`, from its metadata and env.tar's size (cheap: the checksum itself is
 * checked by localRestore). An entry evicted while it is being looked at is absent, not damaged.
 */
export function inspectEntry(cacheDir: string, key: string): EntryState {
  const dir = entryDir(cacheDir, key);
  const gone = () => !fs.existsSync(dir);
  if (gone()) return { state: 'absent' };
  let meta: unknown;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, ENTRY_FILE), 'utf8'));
  } catch (e) {
    if (gone()) return { state: 'absent' };
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `does not parse (${(e as Error).message})`;
    return { state: 'damaged', problem: `${ENTRY_FILE} ${why}` };
  }
  const problem = metaProblem(meta, key);
  if (problem) return { state: 'damaged', problem };
  const m = meta as EntryMeta;
  let size: number;
  try {
    size = fs.statSync(path.join(dir, 'env.tar')).size;
  } catch {
    return gone() ? { state: 'absent' } : { state: 'damaged', problem: 'env.tar is missing' };
  }
  if (size !== m.sizeBytes) return { state: 'damaged', problem: `env.tar has ${size} bytes, ${ENTRY_FILE} says ${m.sizeBytes}` };
  return { state: 'whole', meta: m };
}

/** The entry's metadata when the entry is whole (by metadata and size), else null. */
export function readEntry(cacheDir: string, key: string): EntryMeta | null {
  const e = inspectEntry(cacheDir, key);
  return e.state === 'whole' ? e.meta : null;
}

/** sha256 of a file, hex, read in large chunks (a 10 GB env.tar takes seconds, not minutes). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
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
  /** Why the entry found for the key was not used (it has been removed); absent when there was none or it was used. */
  damaged?: string;
}

/**
 * On a hit, makes WORKDIR/env-cache/env.tar (hard link or copy, so a concurrent eviction cannot take it
 * away during the build), checks it against the entry's sha256 and records the use. A damaged entry
 * is removed and reported, never handed to the build.
 */
export async function localRestore(cacheDir: string, key: string, workDir: string): Promise<LocalRestore> {
  const miss: LocalRestore = { hit: false, sizeBytes: null, contextDir: null };
  const discard = (problem: string): LocalRestore => {
    removeDir(cacheDir, entryDir(cacheDir, key));
    return { ...miss, damaged: problem };
  };
  const entry = inspectEntry(cacheDir, key);
  if (entry.state === 'absent') return miss;
  if (entry.state === 'damaged') return discard(entry.problem);
  const ctx = path.join(workDir, 'env-cache');
  const tar = path.join(ctx, 'env.tar');
  fs.mkdirSync(ctx, { recursive: true });
  try {
    linkOrCopy(path.join(entryDir(cacheDir, key), 'env.tar'), tar);
  } catch {
    return miss; // evicted between the check and the link
  }
  const sum = await sha256File(tar);
  if (sum !== entry.meta.sha256) {
    fs.rmSync(tar, { force: true });
    return discard(`env.tar's sha256 is ${sum.slice(0, 12)}…, ${ENTRY_FILE} says ${entry.meta.sha256.slice(0, 12)}…`);
  }
  touchEntry(cacheDir, key);
  return { hit: true, sizeBytes: entry.meta.sizeBytes, contextDir: ctx };
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
      try {
        fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: os.hostname(), at: Date.now() }));
      } catch (w) {
        // an empty lock (a full disk) would read as "being written" and block the key for hours
        fs.closeSync(fd);
        fs.rmSync(file, { force: true });
        throw w;
      }
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
 * Saves EXPORTDIR/env.tar (+ environment.lock) as the entry KEY: written under tmp/ with its sha256,
 * and renamed into entries/ in one step. When another job holds the key's lock or the entry exists,
 * nothing is written. A cache dir that runs out of space is a reason, not an exception, and leaves
 * nothing behind.
 */
export async function localSave(cacheDir: string, key: string, exportDir: string, capBytes: number): Promise<LocalSave> {
  const tar = path.join(exportDir, 'env.tar');
  if (!fs.existsSync(tar)) return { saved: false, sizeBytes: null, reason: `no env.tar in ${exportDir} (the env-export stage did not run)`, evicted: [] };
  const size = fs.statSync(tar).size;
  try {
    return await saveLocked(cacheDir, key, exportDir, size, capBytes);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
    return { saved: false, sizeBytes: size, reason: `no space left in the cache dir ${cacheDir} for the ${mib(size)} entry (${mib(freeBytes(cacheDir))} free)`, evicted: [] };
  }
}

async function saveLocked(cacheDir: string, key: string, exportDir: string, size: number, capBytes: number): Promise<LocalSave> {
  const exists = (): LocalSave | null => {
    const meta = readEntry(cacheDir, key);
    return meta ? { saved: false, sizeBytes: meta.sizeBytes, reason: 'the entry already exists', raced: true, evicted: [] } : null;
  };
  const before = exists();
  if (before) return before;
  for (const d of ['entries', 'tmp', 'trash']) fs.mkdirSync(path.join(cacheDir, d), { recursive: true });
  const release = acquireLock(cacheDir, key);
  if (!release) return { saved: false, sizeBytes: null, reason: 'another job is saving this key now', raced: true, evicted: [] };
  const tmp = path.join(cacheDir, 'tmp', `${key}.${rand()}`);
  try {
    const locked = exists();
    if (locked) return locked;
    fs.mkdirSync(tmp);
    moveOrCopy(path.join(exportDir, 'env.tar'), path.join(tmp, 'env.tar'));
    const lock = path.join(exportDir, 'environment.lock');
    if (fs.existsSync(lock)) fs.copyFileSync(lock, path.join(tmp, 'environment.lock'));
    // hashed where it will stay: a copy that went wrong is caught here, not at the next restore
    const sha256 = await sha256File(path.join(tmp, 'env.tar'));
    const now = Date.now();
    const meta: EntryMeta = { schema: 2, key, sizeBytes: size, sha256, createdAt: now, lastUsed: now };
    fs.writeFileSync(path.join(tmp, ENTRY_FILE), JSON.stringify(meta));
    const fd = fs.openSync(path.join(tmp, 'env.tar'), 'r');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const dest = entryDir(cacheDir, key);
    // A damaged entry (restore removes those, but a dry run only reports them) would block the rename.
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

const mib = (bytes: number | null) => (bytes === null ? 'unknown' : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);

/** Bytes free to this process on the file system of `dir`, or null when unknown. */
export function freeBytes(dir: string): number | null {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
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
  // ignore-error: a full disk or a failed write of the cache must not fail a build that succeeded
  return { from, to: [`type=local,dest=${newDir},mode=max,ignore-error=true`], newDir };
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

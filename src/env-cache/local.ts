import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeRecord, recordProblem, type BaseImage, type EntryRecord, type Staged } from './entry.js';
import { OCI_LAYOUT, blobPath, linkLayout, reachableBlobs } from './layout.js';

/**
 * The `local` backend: a directory on a persistent runner.
 *
 *   CACHE_DIR/entries/KEY.json    the record of a complete entry (entry.ts); written last, by rename:
 *                                 an entry exists exactly when its record does
 *   CACHE_DIR/oci/blobs/sha256/   the entries' blobs, named by digest: one OCI layout that all
 *                                 entries share (a base layer is kept once)
 *   CACHE_DIR/tmp/KEY.PID.RAND/   a save in progress: its blobs are written and checked here, then
 *                                 renamed into oci/ (removed at its end, by the post step, or after a day)
 *   CACHE_DIR/trash/...           records and blobs being removed
 *   CACHE_DIR/locks/KEY.lock      one saver per key (O_EXCL); locks/store.lock: held for a commit,
 *                                 a recorded use or an eviction (moments), never for a copy
 *   CACHE_DIR/layers/current      the buildx type=local layer cache; a new one is written next to it and swapped in
 *
 * A crash leaves at most files under tmp/ (cleaned up later), never a record without its blobs.
 * (Over 400 lines on purpose: this is the backend's whole on-disk protocol, whose invariants about
 * records, blobs, locks and eviction hold only together.)
 */

export const STALE_LOCK_MS = 6 * 3600 * 1000;
const STALE_TMP_MS = 24 * 3600 * 1000;
const STORE_LOCK = 'store';
const STORE_LOCK_WAIT_MS = 60_000;

function rand(): string {
  return `${process.pid}.${randomBytes(6).toString('hex')}`;
}

const recordFile = (cacheDir: string, key: string) => path.join(cacheDir, 'entries', `${key}.json`);
/** The OCI layout that holds every entry's blobs. */
export const storeDir = (cacheDir: string) => path.join(cacheDir, 'oci');

function writeFileAtomic(file: string, data: string): void {
  const tmp = `${file}.${rand()}.tmp`;
  try {
    fs.writeFileSync(tmp, data);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true }); // a full disk leaves no half file behind
    throw e;
  }
}

export type EntryLookup = { record: EntryRecord } | { problem: string } | null;

/** The entry's record; a record that does not parse or hold together is a problem, a missing one null. */
export function lookupEntry(cacheDir: string, key: string): EntryLookup {
  let text: string;
  try {
    text = fs.readFileSync(recordFile(cacheDir, key), 'utf8');
  } catch {
    return null;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return { problem: `entries/${key}.json does not parse (${(e as Error).message})` };
  }
  const problem = recordProblem(v, key);
  return problem ? { problem: `entries/${key}.json: ${problem}` } : { record: v as EntryRecord };
}

/** The entry's record when it is complete and consistent, else null. */
export function readEntry(cacheDir: string, key: string): EntryRecord | null {
  const l = lookupEntry(cacheDir, key);
  return l && 'record' in l ? l.record : null;
}

/** Who holds a lock file (acquireLock writes it); throws while it is being written, or when it is gone. */
function readLock(file: string): { pid: number; host: string; at: number } {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number; host: string; at: number };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes CACHE_DIR/locks/NAME.lock with O_EXCL; breaks a stale lock (dead holder on this host, or old). */
export function acquireLock(cacheDir: string, name: string): (() => void) | null {
  const dir = path.join(cacheDir, 'locks');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.lock`);
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
        const info = readLock(file);
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
      for (const f of fs.readdirSync(dir)) if (f.startsWith(`${name}.lock.stale.`)) fs.rmSync(path.join(dir, f), { force: true });
    }
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs fn holding locks/store.lock (waited for up to STORE_LOCK_WAIT_MS). */
async function withStoreLock<T>(cacheDir: string, fn: () => T): Promise<T> {
  const until = Date.now() + STORE_LOCK_WAIT_MS;
  for (;;) {
    const release = acquireLock(cacheDir, STORE_LOCK);
    if (release) {
      try {
        return fn();
      } finally {
        release();
      }
    }
    if (Date.now() > until) throw new Error(`${path.join(cacheDir, 'locks', `${STORE_LOCK}.lock`)} stayed taken for ${STORE_LOCK_WAIT_MS / 1000} s`);
    await sleep(20);
  }
}

/** Records a use of the entry (LRU order); best effort, and never brings back an evicted entry. */
export async function touchEntry(cacheDir: string, key: string, now = Date.now()): Promise<void> {
  try {
    await withStoreLock(cacheDir, () => {
      const r = readEntry(cacheDir, key);
      if (r) writeFileAtomic(recordFile(cacheDir, key), JSON.stringify({ ...r, lastUsed: now }));
    });
  } catch {
    // the use is not recorded: the entry is evicted a little earlier
  }
}

/** The entry's blobs as a job's own OCI layout of hard links (an eviction cannot take them away). Throws when a blob is gone. */
export function linkEntry(cacheDir: string, r: EntryRecord, jobDir: string, name?: string): void {
  linkLayout(storeDir(cacheDir), jobDir, r.target, r.blobs, name);
}

/** A new directory under tmp/ for a save of `key` (removeLeftoversOf knows it by the pid in its name). */
export function stagingDir(cacheDir: string, key: string): string {
  const dir = path.join(cacheDir, 'tmp', `${key}.${rand()}`);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Commit {
  saved: boolean;
  sizeBytes: number | null;
  reason?: string;
  /** Not saved because another job saved or is saving the key (nothing is wrong). */
  raced?: boolean;
  evicted: string[];
}

function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Makes a staged layout the entry KEY: its blobs are renamed into oci/ (a blob already there is
 * kept), then the record is written by rename; then least-recently-used entries are evicted until
 * the blobs fit capBytes. The blobs reach the disk (fsync) before the record names them.
 */
export async function commitEntry(cacheDir: string, key: string, staged: Staged, base: BaseImage, capBytes: number): Promise<Commit> {
  for (const b of staged.blobs) fsyncFile(blobPath(staged.dir, b.digest));
  return withStoreLock(cacheDir, () => {
    const first = readEntry(cacheDir, key);
    if (first) return { saved: false, sizeBytes: first.sizeBytes, reason: 'another job saved this key first', raced: true, evicted: [] };
    const store = storeDir(cacheDir);
    fs.mkdirSync(path.join(store, 'blobs', 'sha256'), { recursive: true });
    fs.mkdirSync(path.join(cacheDir, 'entries'), { recursive: true });
    if (!fs.existsSync(path.join(store, 'oci-layout'))) fs.writeFileSync(path.join(store, 'oci-layout'), OCI_LAYOUT);
    for (const b of staged.blobs) {
      const dest = blobPath(store, b.digest);
      let have = -1;
      try {
        have = fs.statSync(dest).size;
      } catch {
        // not there yet
      }
      if (have !== b.size) fs.renameSync(blobPath(staged.dir, b.digest), dest);
    }
    const record = makeRecord(key, staged, base);
    try {
      writeFileAtomic(recordFile(cacheDir, key), JSON.stringify(record));
    } catch (e) {
      removeUnusedBlobs(cacheDir); // the blobs just moved in, which no record names (a full disk)
      throw e;
    }
    return { saved: true, sizeBytes: record.sizeBytes, evicted: evictLocked(cacheDir, capBytes, key) };
  });
}

/** Removes the entry (its record; with badBlob, that blob too, which other entries then miss); unused blobs go with it. */
export async function dropEntry(cacheDir: string, key: string, badBlob?: string): Promise<void> {
  await withStoreLock(cacheDir, () => {
    moveToTrash(cacheDir, recordFile(cacheDir, key));
    if (badBlob) {
      dropDamagedLayerBlob(cacheDir, blobPath(storeDir(cacheDir), badBlob), badBlob);
      moveToTrash(cacheDir, blobPath(storeDir(cacheDir), badBlob));
    }
    removeUnusedBlobs(cacheDir);
  });
}

/** Bytes free to this process on the file system of `dir`, or null when unknown. */
export function freeBytes(dir: string): number | null {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

/** Removes a file or directory by renaming it into trash/ first, so it vanishes in one step. */
function moveToTrash(cacheDir: string, p: string): boolean {
  const trash = path.join(cacheDir, 'trash', `${path.basename(p)}.${rand()}`);
  try {
    fs.mkdirSync(path.dirname(trash), { recursive: true });
    fs.renameSync(p, trash);
  } catch {
    return false; // not there, or someone else removed it
  }
  fs.rmSync(trash, { recursive: true, force: true });
  return true;
}

/** The complete entries. */
export function listEntries(cacheDir: string): EntryRecord[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(cacheDir, 'entries'));
  } catch {
    return [];
  }
  return names.filter((n) => n.endsWith('.json')).map((n) => readEntry(cacheDir, n.slice(0, -'.json'.length))).filter((r): r is EntryRecord => r !== null);
}

function blobBytes(entries: EntryRecord[]): number {
  const sizes = new Map<string, number>();
  for (const e of entries) for (const b of e.blobs) sizes.set(b.digest, b.size);
  return [...sizes.values()].reduce((n, s) => n + s, 0);
}

/**
 * Least-recently-used eviction (store lock held): while the blobs of the complete entries exceed
 * CAP bytes (a blob shared by entries counts once), removes the entry used longest ago (never
 * `keep`), then every blob no entry names. Returns the evicted keys.
 */
function evictLocked(cacheDir: string, capBytes: number, keep: string): string[] {
  let entries = listEntries(cacheDir).sort((a, b) => a.lastUsed - b.lastUsed);
  const evicted: string[] = [];
  for (const e of [...entries]) {
    if (blobBytes(entries) <= capBytes) break;
    if (e.key === keep) continue;
    if (moveToTrash(cacheDir, recordFile(cacheDir, e.key))) evicted.push(e.key);
    entries = entries.filter((x) => x !== e);
  }
  removeUnusedBlobs(cacheDir);
  return evicted;
}

/** Test hook and `cache-max-size` lowered by hand: evicts under the store lock. */
export function evictLru(cacheDir: string, capBytes: number, keep: string): Promise<string[]> {
  return withStoreLock(cacheDir, () => evictLocked(cacheDir, capBytes, keep));
}

/** Removes the blobs of the layout at layoutDir whose hex digests are not in `keep`. */
function removeBlobsExcept(cacheDir: string, layoutDir: string, keep: Set<string>): void {
  const dir = path.join(layoutDir, 'blobs', 'sha256');
  for (const n of fs.existsSync(dir) ? fs.readdirSync(dir) : []) if (!keep.has(n)) moveToTrash(cacheDir, path.join(dir, n));
}

/** Blobs no complete entry names, and entries of the first layout (entries/KEY/ directories): removed (store lock held). */
function removeUnusedBlobs(cacheDir: string): void {
  removeBlobsExcept(cacheDir, storeDir(cacheDir), new Set(listEntries(cacheDir).flatMap((e) => e.blobs.map((b) => b.digest.slice('sha256:'.length)))));
  const entries = path.join(cacheDir, 'entries');
  for (const n of fs.existsSync(entries) ? fs.readdirSync(entries) : []) {
    if (fs.statSync(path.join(entries, n), { throwIfNoEntry: false })?.isDirectory()) moveToTrash(cacheDir, path.join(entries, n));
  }
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

/** The layer cache that builds read, and that the next one replaces. */
export function currentLayers(cacheDir: string): string {
  return path.join(cacheDir, 'layers', 'current');
}

/**
 * buildx layer-cache defaults: read `current`, write a new directory that finishLocalLayers swaps
 * in. A failed export is no failed build. Uncompressed: BuildKit gzips a new layer on one core
 * (a real 5.7 GB CUDA torch env took 125 s to export with gzip, 43 s with zstd, 33 s
 * uncompressed), and an uncompressed layer is the very blob the env cache's entry stores, so the
 * save links it instead of writing it again (seedLayout), and both share the disk space. A layer
 * that has a blob already (a pushed image's gzip layer) is exported as that blob.
 */
export function localLayerCache(cacheDir: string): { from: string[]; to: string[]; newDir: string } {
  const current = currentLayers(cacheDir);
  const newDir = path.join(cacheDir, 'layers', `new-${rand()}`);
  const from = fs.existsSync(path.join(current, 'index.json')) ? [`type=local,src=${current}`] : [];
  return { from, to: [`type=local,dest=${newDir},mode=max,compression=uncompressed,ignore-error=true`], newDir };
}

/**
 * Before BuildKit writes the OCI layout `dir` (a layer cache, or a save's staging dir): its blobs
 * start as hard links to the blobs of the layouts `from`. BuildKit skips a blob that its
 * destination already has, so an unchanged env layer of gigabytes is not sent and written again
 * (what the build did not use is dropped afterwards: finishLocalLayers, or the staging dir's
 * removal; a save checks every blob it keeps against its digest). Returns how many blobs were
 * linked; where links cannot be made, BuildKit writes the rest.
 */
export function seedLayout(dir: string, from: string[]): number {
  const to = path.join(dir, 'blobs', 'sha256');
  let linked = 0;
  for (const layout of from) {
    const blobs = path.join(layout, 'blobs', 'sha256');
    let names: string[];
    try {
      names = fs.readdirSync(blobs);
    } catch {
      continue; // no such layout (yet)
    }
    fs.mkdirSync(to, { recursive: true });
    for (const n of names) {
      try {
        fs.linkSync(path.join(blobs, n), path.join(to, n));
        linked++;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EEXIST') continue; // retired by a concurrent swap, or linked from an earlier layout
        return linked; // no hard links here (or too many): BuildKit writes the rest
      }
    }
  }
  return linked;
}

/** How long a replaced layer cache is kept: a build that started on it may still read its blobs. */
export const RETIRED_LAYERS_MS = 3 * 3600 * 1000;

/**
 * Swaps NEWDIR in as layers/current (when the build wrote it whole), once the blobs its index.json
 * does not reach are removed (seedLayout linked every blob of the old cache). One that lacks a blob
 * it reaches (a damaged one was dropped from it: dropDamagedLayerBlob) is removed instead. The
 * replaced directory is retired, not deleted, because a concurrent job's build may still be
 * reading it; retired directories older than RETIRED_LAYERS_MS are removed here. Says what became
 * of NEWDIR: swapped in, not written by the build, removed for lacking a blob, or removed because
 * another job swapped its own in first.
 */
export type LayersOutcome = 'swapped' | 'not-written' | 'incomplete' | 'lost-race';
export function finishLocalLayers(cacheDir: string, newDir: string, now = Date.now()): LayersOutcome {
  const layers = path.join(cacheDir, 'layers');
  for (const n of fs.existsSync(layers) ? fs.readdirSync(layers) : []) {
    const m = /^retired-(\d+)-/.exec(n);
    if (m && now - Number(m[1]) > RETIRED_LAYERS_MS) moveToTrash(cacheDir, path.join(layers, n));
  }
  if (!fs.existsSync(path.join(newDir, 'index.json'))) {
    fs.rmSync(newDir, { recursive: true, force: true });
    return 'not-written';
  }
  const reached = [...reachableBlobs(newDir)].map((d) => d.slice('sha256:'.length));
  if (!reached.every((hex) => fs.existsSync(path.join(newDir, 'blobs', 'sha256', hex)))) {
    fs.rmSync(newDir, { recursive: true, force: true });
    return 'incomplete';
  }
  removeBlobsExcept(cacheDir, newDir, new Set(reached));
  retireCurrentLayers(cacheDir, now);
  try {
    fs.renameSync(newDir, currentLayers(cacheDir));
    return 'swapped';
  } catch {
    fs.rmSync(newDir, { recursive: true, force: true }); // keep the other job's
    return 'lost-race';
  }
}

/** layers/current becomes a retired directory (a concurrent build may still read it); whether there was one to retire. */
function retireCurrentLayers(cacheDir: string, now = Date.now()): boolean {
  try {
    fs.renameSync(currentLayers(cacheDir), path.join(cacheDir, 'layers', `retired-${now}-${rand()}`));
    return true;
  } catch {
    return false; // no current yet, or another job moved it
  }
}

/**
 * A blob found damaged at `file`: every layer cache that holds the same file is damaged too (a
 * save links the layer cache's env layer into its entry, and each new layer cache starts as links
 * to the current one). The file is dropped from each of them; layers/current is retired, and a new
 * one, now lacking the blob, is not swapped in (finishLocalLayers), so no build reads the damage
 * and no save links it again. Whether any layer cache held it.
 */
export function dropDamagedLayerBlob(cacheDir: string, file: string, digest: string): boolean {
  const bad = fs.statSync(file, { throwIfNoEntry: false });
  const layers = path.join(cacheDir, 'layers');
  if (!bad || !fs.existsSync(layers)) return false;
  const holding = fs.readdirSync(layers).filter((n) => {
    const st = fs.statSync(blobPath(path.join(layers, n), digest), { throwIfNoEntry: false });
    return st?.ino === bad.ino && st.dev === bad.dev;
  });
  for (const n of holding) fs.rmSync(blobPath(path.join(layers, n), digest), { force: true });
  if (holding.includes(path.basename(currentLayers(cacheDir)))) retireCurrentLayers(cacheDir);
  return holding.length > 0;
}

/**
 * Removes what the process `pid` of this host left in the cache dir: its new layer cache that was
 * never swapped in (layers/new-PID.*), a save it did not finish (tmp/KEY.PID.*), a removal it did
 * not finish (trash/NAME.PID.*) and the locks it held. The caller makes sure that process writes
 * nothing there any more: it is the caller itself at its end, or it is dead. Returns what was removed.
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
  let locks: string[] = [];
  try {
    locks = fs.readdirSync(path.join(cacheDir, 'locks')).filter((n) => n.endsWith('.lock'));
  } catch {
    // no locks/
  }
  for (const n of locks) {
    const file = path.join(cacheDir, 'locks', n);
    try {
      const info = readLock(file);
      if (info.pid === pid && info.host === os.hostname()) {
        fs.rmSync(file, { force: true });
        removed.push(path.join('locks', n));
      }
    } catch {
      // being written, or gone
    }
  }
  return removed;
}

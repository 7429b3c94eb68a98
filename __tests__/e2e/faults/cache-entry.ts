// The local env cache seen from outside the action: what is in a cache dir, whether an entry is
// whole, a watcher that checks every entry again and again while jobs run (so that a partial
// entry, however briefly visible, is caught), and the ways to damage an entry on purpose.
//
// Layout (src/env-cache/local.ts): CACHE_DIR/entries/KEY.json (the entry's record: the image's
// digest and every blob with its size), oci/blobs/sha256/<hex> (the blobs of all entries, named by
// their digest), tmp/, trash/, locks/KEY.lock, layers/{current,new-*,retired-*}. The checks here
// are written from the OCI image-layout rules, not from the action's code: a blob is whole when
// its sha256 is its name.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface EntryCheck {
  key: string;
  record: Record<string, unknown> | null;   // entries/KEY.json, parsed, or null
  /** The image digest the record names (what a build is pinned to), or null. */
  digest: string | null;
  blobs: number;
  problems: string[];                       // why the entry is not whole; empty when it is
}

const ls = (d: string): string[] => { try { return fs.readdirSync(d).sort(); } catch { return []; } };
const recordOf = (cacheDir: string, key: string) => path.join(cacheDir, 'entries', `${key}.json`);
const blobOf = (cacheDir: string, digest: string) => path.join(cacheDir, 'oci', 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
const sha256Hex = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');

/** What the cache dir holds, by area; `entries` are keys (entries/KEY.json), `stray` anything else in entries/. */
export function cacheListing(cacheDir: string): Record<'entries' | 'stray' | 'blobs' | 'tmp' | 'trash' | 'locks' | 'layers', string[]> {
  const names = ls(path.join(cacheDir, 'entries'));
  return {
    entries: names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)),
    stray: names.filter((n) => !n.endsWith('.json')),
    blobs: ls(path.join(cacheDir, 'oci', 'blobs', 'sha256')),
    tmp: ls(path.join(cacheDir, 'tmp')),
    trash: ls(path.join(cacheDir, 'trash')),
    locks: ls(path.join(cacheDir, 'locks')),
    layers: ls(path.join(cacheDir, 'layers')),
  };
}

/**
 * Walks a tar archive's headers: each header's checksum must hold, each member's data must be
 * there, and the archive must end with its two zero blocks. Catches a truncated tar and a damaged
 * header; a flipped byte inside a member's data passes (only a checksum of the whole file sees it).
 */
export function tarIsWhole(buf: Buffer): boolean {
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) return off + 1024 <= buf.length;
    const stored = parseInt(header.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
    if (sum !== stored) return false;
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return false;
}

/**
 * Checks one entry as a reader would have to: the record parses and names this key; every blob it
 * names is in oci/ with its size and its sha256 as its name; the image manifest it is pinned to
 * names only blobs of the record.
 */
export function checkEntry(cacheDir: string, key: string): EntryCheck {
  const c: EntryCheck = { key, record: null, digest: null, blobs: 0, problems: [] };
  try {
    c.record = JSON.parse(fs.readFileSync(recordOf(cacheDir, key), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    c.problems.push(`entries/${key}.json: ${(e as Error).message}`);
    return c;
  }
  const r = c.record as { key?: unknown; target?: { digest?: string }; blobs?: { digest: string; size: number }[] };
  if (r.key !== key) c.problems.push(`entries/${key}.json names key ${String(r.key)}`);
  c.digest = r.target?.digest ?? null;
  const blobs = Array.isArray(r.blobs) ? r.blobs : [];
  c.blobs = blobs.length;
  if (!c.digest || !blobs.some((b) => b.digest === c.digest)) c.problems.push('the record names no image among its blobs');
  for (const b of blobs) {
    let data: Buffer;
    try {
      data = fs.readFileSync(blobOf(cacheDir, b.digest));
    } catch (e) {
      c.problems.push(`blob ${b.digest.slice(0, 19)}: ${(e as Error).message}`);
      continue;
    }
    if (data.length !== b.size) c.problems.push(`blob ${b.digest.slice(0, 19)} has ${data.length} bytes, the record says ${b.size}`);
    else if (`sha256:${sha256Hex(data)}` !== b.digest) c.problems.push(`blob ${b.digest.slice(0, 19)} does not match its digest`);
  }
  if (c.digest && !c.problems.length) {
    const m = JSON.parse(fs.readFileSync(blobOf(cacheDir, c.digest), 'utf8')) as { config?: { digest: string }; layers?: { digest: string }[] };
    for (const d of [m.config, ...(m.layers ?? [])]) if (d && !blobs.some((b) => b.digest === d.digest)) c.problems.push(`the manifest names ${d.digest.slice(0, 19)}, which the record lacks`);
  }
  return c;
}

/**
 * Checks every entry of the cache dir every `everyMs` until stop(); remembers each entry state it
 * ever saw that was not whole. An entry caught between its files' writes counts: a reader at that
 * moment would have seen it.
 */
export function watchCache(cacheDir: string, everyMs = 20): { stop: () => { rounds: number; partial: EntryCheck[]; whole: Set<string> } } {
  const partial: EntryCheck[] = [];
  const whole = new Set<string>();
  let rounds = 0;
  const timer = setInterval(() => {
    rounds += 1;
    for (const key of cacheListing(cacheDir).entries) {
      const c = checkEntry(cacheDir, key);
      if (c.problems.length === 0) whole.add(key);
      // an entry removed between listing and reading is not a partial one
      else if (fs.existsSync(recordOf(cacheDir, key))) partial.push(c);
    }
  }, everyMs);
  return { stop: () => { clearInterval(timer); return { rounds, partial, whole }; } };
}

// ---- damage on purpose ---------------------------------------------------------------------------

/** The file of the entry's largest blob: the env's layer. */
export function envLayerOf(cacheDir: string, key: string): string {
  const r = JSON.parse(fs.readFileSync(recordOf(cacheDir, key), 'utf8')) as { blobs: { digest: string; size: number }[] };
  const largest = [...r.blobs].sort((a, b) => b.size - a.size)[0];
  return blobOf(cacheDir, largest.digest);
}

/**
 * The blobs of the cache dir's layer caches (layers/current, new-*, retired-*) whose sha256 is not
 * their name, as `layers/DIR/HEX`: what a build given that layer cache would import as it is. The
 * caches share most blobs as hard links: each file is read once.
 */
export function damagedLayerCacheBlobs(cacheDir: string): string[] {
  const whole = new Map<string, boolean>(); // by inode and name
  return ls(path.join(cacheDir, 'layers')).flatMap((dir) => {
    const blobs = path.join(cacheDir, 'layers', dir, 'blobs', 'sha256');
    return ls(blobs)
      .filter((hex) => {
        const file = path.join(blobs, hex);
        const id = `${fs.statSync(file).ino}:${hex}`;
        if (!whole.has(id)) whole.set(id, sha256Hex(fs.readFileSync(file)) === hex);
        return !whole.get(id);
      })
      .map((hex) => `layers/${dir}/${hex}`);
  });
}

/** Whether layers/current holds `file` itself (the same inode), as a save that linked it leaves it. */
export function layerCacheHolds(cacheDir: string, file: string): boolean {
  const cached = fs.statSync(path.join(cacheDir, 'layers', 'current', 'blobs', 'sha256', path.basename(file)), { throwIfNoEntry: false });
  return cached?.ino === fs.statSync(file).ino;
}

/** Cuts the env layer to half. With `fixRecord`, the record's size for it is changed to match, as a torn write of both would. */
export function truncateLayer(cacheDir: string, key: string, fixRecord = false): void {
  const file = envLayerOf(cacheDir, key);
  const size = Math.floor(fs.statSync(file).size / 2);
  fs.truncateSync(file, size);
  if (fixRecord) {
    const r = JSON.parse(fs.readFileSync(recordOf(cacheDir, key), 'utf8')) as { blobs: { digest: string; size: number }[] };
    const digest = `sha256:${path.basename(file)}`;
    fs.writeFileSync(recordOf(cacheDir, key), JSON.stringify({ ...r, blobs: r.blobs.map((b) => (b.digest === digest ? { ...b, size } : b)) }));
  }
}

/** Inverts `count` bytes of `file` at `offset`; the size stays the same. */
export function flipBytes(file: string, offset: number, count = 1): void {
  const fd = fs.openSync(file, 'r+');
  try {
    const buf = Buffer.alloc(count);
    fs.readSync(fd, buf, 0, count, offset);
    for (let i = 0; i < count; i++) buf[i] ^= 0xff;
    fs.writeSync(fd, buf, 0, count, offset);
  } finally {
    fs.closeSync(fd);
  }
}

/** The byte offset of a member's data in a tar file (a layer: to damage a file's content, not a header). */
export function memberDataOffset(tarFile: string, member: RegExp): number {
  const buf = fs.readFileSync(tarFile);
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    if (member.test(name) && size > 0) return off + 512;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member matching ${member} with data in ${tarFile}`);
}

/** Breaks the record: not JSON at all, cut in the middle, or valid JSON of the wrong shape. */
export function breakRecord(cacheDir: string, key: string, how: 'garbage' | 'truncated' | 'wrong-shape'): void {
  const file = recordOf(cacheDir, key);
  const text = fs.readFileSync(file, 'utf8');
  const broken = how === 'garbage' ? '\u0000\u0001not json' : how === 'truncated' ? text.slice(0, Math.floor(text.length / 2)) : JSON.stringify({ schema: 2, key, blobs: 'many' });
  fs.writeFileSync(file, broken);
}

/** Resolves when a save has begun: a directory for `key` appears under CACHE_DIR/tmp (polled every `everyMs`). */
export async function saveStarted(cacheDir: string, key: string | RegExp, timeoutMs = 300_000, everyMs = 5): Promise<string> {
  const match = (n: string) => (typeof key === 'string' ? n.startsWith(`${key}.`) : key.test(n));
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const found = ls(path.join(cacheDir, 'tmp')).find(match);
    if (found) return path.join(cacheDir, 'tmp', found);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`no save of ${String(key)} began under ${cacheDir}/tmp within ${timeoutMs} ms`);
}

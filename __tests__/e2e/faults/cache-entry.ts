// The local env cache seen from outside the action: what is in a cache dir, whether an entry is
// whole, a watcher that checks every entry again and again while jobs run (so that a partial
// entry, however briefly visible, is caught), and the ways to damage an entry on purpose.
//
// Layout (src/env-cache/local.ts): CACHE_DIR/entries/KEY/{env.tar,environment.lock,entry.json},
// tmp/, trash/, locks/KEY.lock, layers/{current,new-*,retired-*}.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface EntryCheck {
  key: string;
  files: string[];
  meta: Record<string, unknown> | null;   // entry.json, parsed, or null
  tarBytes: number | null;
  tarSha256: string | null;
  tarIsWhole: boolean;                    // every tar header checks out and the archive ends with its zero blocks
  problems: string[];                     // why the entry is not whole; empty when it is
}

const ls = (d: string): string[] => { try { return fs.readdirSync(d).sort(); } catch { return []; } };

/** What the cache dir holds, by area. */
export function cacheListing(cacheDir: string): Record<'entries' | 'tmp' | 'trash' | 'locks' | 'layers', string[]> {
  return {
    entries: ls(path.join(cacheDir, 'entries')),
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

/** Checks one entry as a reader would have to: entry.json parses and agrees with env.tar, and env.tar is a whole archive. */
export function checkEntry(cacheDir: string, key: string): EntryCheck {
  const dir = path.join(cacheDir, 'entries', key);
  const c: EntryCheck = { key, files: ls(dir), meta: null, tarBytes: null, tarSha256: null, tarIsWhole: false, problems: [] };
  try {
    c.meta = JSON.parse(fs.readFileSync(path.join(dir, 'entry.json'), 'utf8')) as Record<string, unknown>;
  } catch (e) {
    c.problems.push(`entry.json: ${(e as Error).message}`);
  }
  try {
    const tar = fs.readFileSync(path.join(dir, 'env.tar'));
    c.tarBytes = tar.length;
    c.tarSha256 = crypto.createHash('sha256').update(tar).digest('hex');
    c.tarIsWhole = tarIsWhole(tar);
    if (!c.tarIsWhole) c.problems.push('env.tar is not a whole tar archive');
  } catch (e) {
    c.problems.push(`env.tar: ${(e as Error).message}`);
  }
  if (c.meta && c.tarBytes !== null && c.meta.sizeBytes !== c.tarBytes) c.problems.push(`entry.json says ${String(c.meta.sizeBytes)} bytes, env.tar has ${c.tarBytes}`);
  if (c.meta && typeof c.meta.sha256 === 'string' && c.tarSha256 !== null && c.meta.sha256 !== c.tarSha256) c.problems.push('env.tar does not match the sha256 in entry.json');
  if (c.meta && c.meta.key !== key) c.problems.push(`entry.json names key ${String(c.meta.key)}`);
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
    for (const key of ls(path.join(cacheDir, 'entries'))) {
      const c = checkEntry(cacheDir, key);
      if (c.problems.length === 0) whole.add(key);
      // an entry removed between listing and reading is not a partial one
      else if (fs.existsSync(path.join(cacheDir, 'entries', key))) partial.push(c);
    }
  }, everyMs);
  return { stop: () => { clearInterval(timer); return { rounds, partial, whole }; } };
}

// ---- damage on purpose ---------------------------------------------------------------------------

const tarOf = (cacheDir: string, key: string) => path.join(cacheDir, 'entries', key, 'env.tar');
const metaOf = (cacheDir: string, key: string) => path.join(cacheDir, 'entries', key, 'entry.json');

/** Cuts env.tar to `keepBytes` (default: half). With `fixMeta`, entry.json's size is changed to match, as a torn write of both would. */
export function truncateTar(cacheDir: string, key: string, keepBytes?: number, fixMeta = false): void {
  const file = tarOf(cacheDir, key);
  const size = keepBytes ?? Math.floor(fs.statSync(file).size / 2);
  fs.truncateSync(file, size);
  if (fixMeta) {
    const meta = JSON.parse(fs.readFileSync(metaOf(cacheDir, key), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(metaOf(cacheDir, key), JSON.stringify({ ...meta, sizeBytes: size }));
  }
}

/** Inverts `count` bytes of env.tar at `offset` (negative: from the end); the size stays the same. */
export function flipBytes(cacheDir: string, key: string, offset: number, count = 1): void {
  const file = tarOf(cacheDir, key);
  const fd = fs.openSync(file, 'r+');
  try {
    const at = offset >= 0 ? offset : fs.fstatSync(fd).size + offset;
    const buf = Buffer.alloc(count);
    fs.readSync(fd, buf, 0, count, at);
    for (let i = 0; i < count; i++) buf[i] ^= 0xff;
    fs.writeSync(fd, buf, 0, count, at);
  } finally {
    fs.closeSync(fd);
  }
}

/** The byte offset of a member's data in env.tar (to damage a file's content, not a header). */
export function memberDataOffset(cacheDir: string, key: string, member: RegExp): number {
  const buf = fs.readFileSync(tarOf(cacheDir, key));
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    if (member.test(name) && size > 0) return off + 512;
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member matching ${member} with data in ${tarOf(cacheDir, key)}`);
}

/** Breaks entry.json: not JSON at all, cut in the middle, or valid JSON of the wrong shape. */
export function breakMeta(cacheDir: string, key: string, how: 'garbage' | 'truncated' | 'wrong-shape'): void {
  const file = metaOf(cacheDir, key);
  const text = fs.readFileSync(file, 'utf8');
  const broken = how === 'garbage' ? '\u0000\u0001not json' : how === 'truncated' ? text.slice(0, Math.floor(text.length / 2)) : JSON.stringify({ schema: 1, key, sizeBytes: 'many' });
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

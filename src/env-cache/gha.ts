import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as cache from '@actions/cache';
import { readRecordIn, type EntryRecord, type Staged } from './entry.js';

/**
 * The `gha` backend: GitHub's cache (@actions/cache) holds one directory per key, the entry's OCI
 * layout with its record (entry.json) beside it. The layout is checked against the record before
 * a build reads it, as a local entry is.
 */

/** GitHub's cache holds at most 10 GB per repository; warn from this size on. */
export const GHA_WARN_BYTES = 8 * 1024 ** 3;

/**
 * The path handed to @actions/cache. It must be the same string on every run (the cache version is a
 * hash of the paths), so it depends on the key's hash only, never on a per-run temp dir.
 */
export function ghaCachePath(key: string): string {
  const base = process.env.RUNNER_TEMP || os.tmpdir();
  const hash = key.slice(-16);
  return path.join(base, 'pointcept-env-cache', hash);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function sizeWarning(sizeBytes: number): string | undefined {
  if (sizeBytes < GHA_WARN_BYTES) return undefined;
  const gb = (sizeBytes / 1024 ** 3).toFixed(1);
  return `env cache: the environment is ${gb} GB, near GitHub's 10 GB cache limit per repository; it will evict other caches or fail to save (consider cache-backend: local or registry)`;
}

export interface GhaRestore {
  hit: boolean;
  matchedKey: string;
  /** The restored layout with its record (a hit of a real run). */
  dir: string | null;
  record: EntryRecord | null;
  warning?: string;
}

/**
 * Exact-key restore only: an entry of another key is another environment and must not be fed to the
 * build. With lookupOnly (a dry run) the cache service is asked whether the entry exists; nothing is
 * downloaded.
 */
export async function ghaRestore(key: string, lookupOnly = false): Promise<GhaRestore> {
  const dir = ghaCachePath(key);
  const miss = { hit: false, matchedKey: '', dir: null, record: null };
  try {
    if (lookupOnly) {
      const matched = await cache.restoreCache([dir], key, [], { lookupOnly: true }, false);
      return matched === key ? { hit: true, matchedKey: key, dir, record: null } : miss;
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const matched = await cache.restoreCache([dir], key, [], {}, false);
    if (matched !== key) return miss;
    const record = readRecordIn(dir, key);
    if (!record) return { ...miss, warning: `env cache: the GitHub cache's entry ${key} has no readable entry.json; building the environment instead` };
    return { hit: true, matchedKey: matched, dir, record };
  } catch (e) {
    return { ...miss, warning: `env cache: restore from the GitHub cache failed, building the environment instead: ${message(e)}` };
  }
}

export interface GhaSave {
  saved: boolean;
  sizeBytes: number | null;
  warning?: string;
}

/** Archives the staged layout (at ghaCachePath(key)) with its record under KEY; any cache error becomes a warning. */
export async function ghaSave(key: string, staged: Staged, record: EntryRecord): Promise<GhaSave> {
  const warnings: string[] = [];
  const sw = sizeWarning(record.sizeBytes);
  if (sw) warnings.push(sw);
  try {
    // only the image's blobs travel: not BuildKit's ingest/ dir, not docker save's extra files
    const keep = new Set(staged.blobs.map((b) => b.digest.slice('sha256:'.length)));
    const blobs = path.join(staged.dir, 'blobs', 'sha256');
    for (const n of fs.readdirSync(blobs)) if (!keep.has(n)) fs.rmSync(path.join(blobs, n), { force: true });
    fs.rmSync(path.join(staged.dir, 'ingest'), { recursive: true, force: true });
    fs.writeFileSync(path.join(staged.dir, 'entry.json'), JSON.stringify(record));
    const id = await cache.saveCache([staged.dir], key, {}, false);
    if (id === -1) {
      warnings.push('env cache: the GitHub cache did not save the environment (see the warning above)');
      return { saved: false, sizeBytes: record.sizeBytes, warning: warnings.join('\n') };
    }
    return { saved: true, sizeBytes: record.sizeBytes, warning: warnings.length ? warnings.join('\n') : undefined };
  } catch (e) {
    warnings.push(`env cache: saving to the GitHub cache failed (the build is not affected): ${message(e)}`);
    return { saved: false, sizeBytes: record.sizeBytes, warning: warnings.join('\n') };
  }
}

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as cache from '@actions/cache';

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
  return `env cache: the packed environment is ${gb} GB, near GitHub's 10 GB cache limit per repository; it will evict other caches or fail to save (consider cache-backend: local or registry)`;
}

export interface GhaRestore {
  hit: boolean;
  matchedKey: string;
  sizeBytes: number | null;
  contextDir: string | null;
  warning?: string;
}

/**
 * Exact-key restore only: an entry of another key is another environment and must not be fed to the
 * build. With lookupOnly (a dry run) the cache service is asked whether the entry exists; nothing is
 * downloaded.
 */
export async function ghaRestore(key: string, lookupOnly = false): Promise<GhaRestore> {
  const dir = ghaCachePath(key);
  try {
    if (lookupOnly) {
      const matched = await cache.restoreCache([dir], key, [], { lookupOnly: true }, false);
      return matched === key ? { hit: true, matchedKey: key, sizeBytes: null, contextDir: dir } : { hit: false, matchedKey: '', sizeBytes: null, contextDir: null };
    }
    fs.mkdirSync(dir, { recursive: true });
    const matched = await cache.restoreCache([dir], key, [], {}, false);
    const tar = path.join(dir, 'env.tar');
    if (matched === key && fs.existsSync(tar)) {
      return { hit: true, matchedKey: matched, sizeBytes: fs.statSync(tar).size, contextDir: dir };
    }
    return { hit: false, matchedKey: '', sizeBytes: null, contextDir: null };
  } catch (e) {
    return { hit: false, matchedKey: '', sizeBytes: null, contextDir: null, warning: `env cache: restore from the GitHub cache failed, building the environment instead: ${message(e)}` };
  }
}

export interface GhaSave {
  saved: boolean;
  sizeBytes: number | null;
  warning?: string;
}

/** Saves EXPORTDIR (env.tar + environment.lock) under KEY; any cache error becomes a warning. */
export async function ghaSave(key: string, exportDir: string): Promise<GhaSave> {
  const tar = path.join(exportDir, 'env.tar');
  if (!fs.existsSync(tar)) return { saved: false, sizeBytes: null, warning: `env cache: nothing to save, no env.tar in ${exportDir}` };
  const size = fs.statSync(tar).size;
  const warnings: string[] = [];
  const sw = sizeWarning(size);
  if (sw) warnings.push(sw);
  // The archive must be made from the same path string the restore uses.
  const dir = ghaCachePath(key);
  try {
    if (path.resolve(dir) !== path.resolve(exportDir)) {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(path.dirname(dir), { recursive: true });
      try {
        fs.renameSync(exportDir, dir);
      } catch {
        fs.cpSync(exportDir, dir, { recursive: true });
      }
    }
    const id = await cache.saveCache([dir], key, {}, false);
    if (id === -1) {
      warnings.push('env cache: the GitHub cache did not save the environment (see the warning above)');
      return { saved: false, sizeBytes: size, warning: warnings.join('\n') };
    }
    return { saved: true, sizeBytes: size, warning: warnings.length ? warnings.join('\n') : undefined };
  } catch (e) {
    warnings.push(`env cache: saving to the GitHub cache failed (the build is not affected): ${message(e)}`);
    return { saved: false, sizeBytes: size, warning: warnings.join('\n') };
  }
}

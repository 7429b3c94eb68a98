/**
 * The cached conda environment: restore (or, in a dry run, look up) before the build, save after it.
 * src/pipeline.ts calls what this file exports; src/env-cache/action.ts holds the glue to the inputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { ghaCachePath, ghaRestore, ghaSave } from './gha.js';
import { finishLocalLayers, freeBytes, inspectEntry, localLayerCache, localRestore, localSave } from './local.js';
import { installerArch, prepareMiniforge } from './miniforge.js';
import { registryImage, registryOutput, registryProbe } from './registry.js';
import { registryTag } from './key.js';
import type { EnvCacheSession, EnvCacheSettings, EnvExport, SaveResult } from './types.js';

export type { EnvCacheSession, EnvCacheSettings, EnvExport, KeyInputs, SaveResult } from './types.js';
export { computeEnvCacheKey, normaliseEnvFile, condaEnvStage, keyMaterial } from './key.js';

const GB = 1024 ** 3;

function seconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 10) / 100;
}

function layerDefaults(s: EnvCacheSettings): { from: string[]; to: string[] } {
  switch (s.backend) {
    case 'local': {
      const l = localLayerCache(s.cacheDir);
      return { from: l.from, to: l.to };
    }
    case 'registry': {
      const ref = `${s.cacheRef}:${registryTag(`${s.keyPrefix}-buildcache`)}`;
      return { from: [`type=registry,ref=${ref}`], to: [`type=registry,ref=${ref},mode=max,ignore-error=true`] };
    }
    default:
      // gha: the env layers alone would fill GitHub's 10 GB; the env cache already covers the slow part.
      return { from: [], to: [] };
  }
}

export interface RestoreOptions {
  /** A dry run: look the key up, but link, download and record nothing. */
  lookupOnly?: boolean;
  /** false when the builder takes no named build contexts: none are made (the plan only gets here with backend none). */
  namedContexts?: boolean;
  /** false when the builder ignores oci-mediatypes and compression in an image output (the docker
   *  driver with the classic image store): the registry env image asks for neither. */
  imageOutputOptions?: boolean;
}

/** Looks the key up in the backend: the entry's build context on a hit, or null and a warning. */
async function lookUp(s: EnvCacheSettings, key: string, workDir: string, lookupOnly: boolean): Promise<{ context: string | null; matchedKey: string; sizeBytes: number | null; warning?: string }> {
  const miss = { context: null, matchedKey: '', sizeBytes: null };
  if (s.backend === 'local') {
    const damaged = (problem: string, done: string) => `env cache: the entry ${key} in ${s.cacheDir} is damaged (${problem}); ${done}`;
    if (lookupOnly) {
      const e = inspectEntry(s.cacheDir, key);
      if (e.state === 'damaged') return { ...miss, warning: damaged(e.problem, 'a real run removes it and builds the environment') };
      return e.state === 'whole' ? { context: path.join(workDir, 'env-cache'), matchedKey: key, sizeBytes: e.meta.sizeBytes } : miss;
    }
    const r = await localRestore(s.cacheDir, key, workDir);
    if (r.damaged) return { ...miss, warning: damaged(r.damaged, 'it was removed, and the environment is built instead') };
    return r.hit && r.contextDir ? { context: r.contextDir, matchedKey: key, sizeBytes: r.sizeBytes } : miss;
  }
  if (s.backend === 'gha') {
    const r = await ghaRestore(key, lookupOnly);
    return r.hit ? { context: r.contextDir ?? ghaCachePath(key), matchedKey: r.matchedKey, sizeBytes: r.sizeBytes, warning: r.warning } : { ...miss, warning: r.warning };
  }
  if (s.backend === 'registry') {
    const image = registryImage(s.cacheRef, key);
    const r = await registryProbe(image);
    return r.exists ? { context: `docker-image://${image}`, matchedKey: key, sizeBytes: r.sizeBytes, warning: r.warning } : { ...miss, warning: r.warning };
  }
  return miss;
}

/**
 * Looks the key up in the backend. On a hit, buildContexts feed the packed env to the build
 * (`env-cache=DIR` or `env-cache=docker-image://REF`); on a miss, the Miniforge installer from the
 * tool cache (`miniforge=DIR`) when available. The session also names the env builds to run
 * (exports). Never throws for a cache problem: it becomes a warning.
 */
export async function restoreEnvCache(s: EnvCacheSettings, key: string, workDir: string, opts: RestoreOptions = {}): Promise<EnvCacheSession> {
  const t0 = Date.now();
  const lookupOnly = opts.lookupOnly ?? false;
  fs.mkdirSync(workDir, { recursive: true });
  const warnings: string[] = [];
  const contexts: string[] = [];
  let found: Awaited<ReturnType<typeof lookUp>> = { context: null, matchedKey: '', sizeBytes: null };
  try {
    found = await lookUp(s, key, workDir, lookupOnly);
    if (found.warning) warnings.push(found.warning);
  } catch (e) {
    warnings.push(`env cache: restore failed, building the environment instead: ${(e as Error).message}`);
  }
  const hit = found.context !== null;
  if (opts.namedContexts !== false) {
    if (hit) {
      contexts.push('--build-context', `env-cache=${found.context}`);
      // The env comes from the cache: an empty miniforge context keeps the Dockerfile's default
      // miniforge stage (which may download the installer) from running at all.
      const empty = path.join(workDir, 'miniforge-unused');
      fs.mkdirSync(empty, { recursive: true });
      contexts.push('--build-context', `miniforge=${empty}`);
    } else {
      const arch = installerArch(s.platform);
      if (arch) {
        const mf = await prepareMiniforge(s.miniforgeVersion, arch, lookupOnly);
        core.info(mf.note);
        if (mf.dir) contexts.push('--build-context', `miniforge=${mf.dir}`);
      }
    }
  }
  let layers = { from: [] as string[], to: [] as string[] };
  try {
    layers = layerDefaults(s);
  } catch (e) {
    warnings.push(`env cache: no default layer cache: ${(e as Error).message}`);
  }
  core.info(`env cache (${s.backend}): ${hit ? 'hit' : 'miss'} for ${key}${lookupOnly ? ' (looked up only)' : ''}`);
  const exportDir = path.join(workDir, 'env-export');
  const lockPath = path.join(workDir, 'env-lock', 'environment.lock');
  return {
    key,
    platform: s.platform,
    hit,
    matchedKey: found.matchedKey,
    buildContexts: contexts,
    layerCacheFrom: layers.from,
    layerCacheTo: layers.to,
    restoreSeconds: seconds(t0),
    sizeBytes: found.sizeBytes,
    warnings,
    exports: envExports(s, key, hit, exportDir, lockPath, opts.imageOutputOptions !== false),
    exportDir,
    lockPath,
    lookupOnly,
  };
}

/**
 * The env builds to run after restore, each as `--target T --output O`: on a miss with a backend,
 * `env-export` (written to exportDir, or pushed as the cache image); always `env-lock` (its
 * environment.lock lands at lockPath).
 */
function envExports(s: EnvCacheSettings, key: string, hit: boolean, exportDir: string, lockPath: string, imageOutputOptions: boolean): EnvExport[] {
  const out: EnvExport[] = [];
  if (!hit) {
    if (s.backend === 'local' || s.backend === 'gha') out.push({ target: 'env-export', output: `type=local,dest=${exportDir}` });
    else if (s.backend === 'registry') out.push({ target: 'env-export', output: registryOutput(registryImage(s.cacheRef, key), imageOutputOptions) });
  }
  out.push({ target: 'env-lock', output: `type=local,dest=${path.dirname(lockPath)}` });
  return out;
}

/** Saves the exported env on a miss. A cache problem is a warning, never an exception. */
export async function saveEnvCache(s: EnvCacheSettings, session: EnvCacheSession, exportDir: string): Promise<SaveResult> {
  const t0 = Date.now();
  if (session.hit || s.backend === 'none') return { saved: false, seconds: 0, sizeBytes: session.sizeBytes };
  try {
    if (s.backend === 'local') {
      const r = await localSave(s.cacheDir, session.key, exportDir, s.maxSizeGb * GB);
      if (r.evicted.length) core.info(`env cache: evicted ${r.evicted.length} least recently used entr${r.evicted.length === 1 ? 'y' : 'ies'}: ${r.evicted.join(' ')}`);
      const why = !r.saved && r.reason ? `env cache: not saved: ${r.reason}` : undefined;
      return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, ...(r.raced ? { note: why } : { warning: why }) };
    }
    if (s.backend === 'gha') {
      const r = await ghaSave(session.key, exportDir);
      return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, warning: r.warning };
    }
    // registry: the env-export build pushed it; confirm it is there.
    const r = await registryProbe(registryImage(s.cacheRef, session.key));
    return {
      saved: r.exists,
      seconds: seconds(t0),
      sizeBytes: r.sizeBytes,
      warning: r.exists ? undefined : r.warning ?? `env cache: ${registryImage(s.cacheRef, session.key)} is not in the registry after the env-export push`,
    };
  } catch (e) {
    return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: saving failed (the build is not affected): ${(e as Error).message}` };
  }
}

/** After the main build: for `local`, swaps the freshly written layer cache in place of the old one. */
export async function finishLayerCache(s: EnvCacheSettings, session: EnvCacheSession): Promise<void> {
  if (s.backend !== 'local') return;
  for (const to of session.layerCacheTo) {
    const dest = /(?:^|,)dest=([^,]+)/.exec(to)?.[1];
    if (dest && to.startsWith('type=local')) {
      try {
        if (!finishLocalLayers(s.cacheDir, dest) && !fs.existsSync(path.join(s.cacheDir, 'layers', 'current', 'index.json'))) {
          // ignore-error=true let the build pass without it; say so, or the next build's misses go unexplained
          const free = freeBytes(s.cacheDir);
          core.warning(`env cache: BuildKit wrote no layer cache to ${path.join(s.cacheDir, 'layers')}${free === null ? '' : ` (${(free / 1024 ** 2).toFixed(1)} MiB free there)`}; the build is not affected, the next one starts without it`);
        }
      } catch (e) {
        core.warning(`env cache: could not swap in the new layer cache: ${(e as Error).message}`);
      }
    }
  }
}

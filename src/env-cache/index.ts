/**
 * The cached conda environment: key, restore before the build, export + save after it.
 * src/main.ts calls only what this file exports.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { seconds } from './exec.js';
import { ghaRestore, ghaSave } from './gha.js';
import { finishLocalLayers, localLayerCache, localRestore, localSave } from './local.js';
import { installerArch, prepareMiniforge } from './miniforge.js';
import { registryImage, registryOutput, registryProbe } from './registry.js';
import { registryTag } from './key.js';
import type { EnvCacheSession, EnvCacheSettings, SaveResult } from './types.js';

export type { EnvCacheSession, EnvCacheSettings, KeyInputs, SaveResult } from './types.js';
export { computeEnvCacheKey, normaliseEnvFile, condaEnvStage, keyMaterial } from './key.js';
export { validateEnvCacheSettings } from './validate.js';
export { MINIFORGE_SHA256 } from './miniforge.js';

const GB = 1024 ** 3;

/** The platform part of a key (`linux-amd64`), or ''. */
function keyPlatform(key: string): string {
  return /-v1-([a-z0-9_-]+)-[0-9a-f]{64}$/.exec(key)?.[1] ?? '';
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

/**
 * Looks the key up in the backend. On a hit, buildContexts feed the packed env to the build
 * (`env-cache=DIR` or `env-cache=docker-image://REF`); on a miss, the Miniforge installer from the
 * tool cache (`miniforge=DIR`) when available. Never throws for a cache problem: it becomes a warning.
 */
export async function restoreEnvCache(s: EnvCacheSettings, key: string, workDir: string): Promise<EnvCacheSession> {
  const t0 = Date.now();
  fs.mkdirSync(workDir, { recursive: true });
  const warnings: string[] = [];
  const contexts: string[] = [];
  let hit = false;
  let matchedKey = '';
  let sizeBytes: number | null = null;
  try {
    if (s.backend === 'local') {
      const r = localRestore(s.cacheDir, key, workDir);
      if (r.hit && r.contextDir) {
        hit = true;
        matchedKey = key;
        sizeBytes = r.sizeBytes;
        contexts.push('--build-context', `env-cache=${r.contextDir}`);
      }
    } else if (s.backend === 'gha') {
      const r = await ghaRestore(key);
      if (r.warning) warnings.push(r.warning);
      if (r.hit && r.contextDir) {
        hit = true;
        matchedKey = r.matchedKey;
        sizeBytes = r.sizeBytes;
        contexts.push('--build-context', `env-cache=${r.contextDir}`);
      }
    } else if (s.backend === 'registry') {
      const image = registryImage(s.cacheRef, key);
      const r = await registryProbe(image);
      if (r.warning) warnings.push(r.warning);
      if (r.exists) {
        hit = true;
        matchedKey = key;
        sizeBytes = r.sizeBytes;
        contexts.push('--build-context', `env-cache=docker-image://${image}`);
      }
    }
  } catch (e) {
    warnings.push(`env cache: restore failed, building the environment instead: ${(e as Error).message}`);
    hit = false;
    contexts.length = 0;
  }
  if (hit) {
    // The env comes from the cache: an empty miniforge context keeps the Dockerfile's default
    // miniforge stage (which may download the installer) from running at all.
    const empty = path.join(workDir, 'miniforge-unused');
    fs.mkdirSync(empty, { recursive: true });
    contexts.push('--build-context', `miniforge=${empty}`);
  } else {
    const arch = installerArch(keyPlatform(key));
    if (arch) {
      const mf = await prepareMiniforge(s.miniforgeVersion, arch);
      core.info(mf.note);
      if (mf.dir) contexts.push('--build-context', `miniforge=${mf.dir}`);
    }
  }
  let layers = { from: [] as string[], to: [] as string[] };
  try {
    layers = layerDefaults(s);
  } catch (e) {
    warnings.push(`env cache: no default layer cache: ${(e as Error).message}`);
  }
  core.info(`env cache (${s.backend}): ${hit ? 'hit' : 'miss'} for ${key}`);
  return {
    key,
    hit,
    matchedKey,
    buildContexts: contexts,
    layerCacheFrom: layers.from,
    layerCacheTo: layers.to,
    restoreSeconds: seconds(t0),
    sizeBytes,
    warnings,
    exportDir: path.join(workDir, 'env-export'),
    lockPath: path.join(workDir, 'env-lock', 'environment.lock'),
  };
}

/**
 * The env builds to run after restore, each as `--target T --output O` (plus the session's
 * buildContexts and the usual build args): on a miss with a backend, `env-export` (written to
 * session.exportDir, or pushed as the cache image); always `env-lock` (its environment.lock lands at
 * session.lockPath).
 */
export function envExportOutputs(s: EnvCacheSettings, session: EnvCacheSession, workDir: string): { target: 'env-export' | 'env-lock'; output: string }[] {
  const out: { target: 'env-export' | 'env-lock'; output: string }[] = [];
  if (!session.hit) {
    if (s.backend === 'local' || s.backend === 'gha') out.push({ target: 'env-export', output: `type=local,dest=${session.exportDir}` });
    else if (s.backend === 'registry') out.push({ target: 'env-export', output: registryOutput(registryImage(s.cacheRef, session.key)) });
  }
  out.push({ target: 'env-lock', output: `type=local,dest=${path.dirname(session.lockPath || path.join(workDir, 'env-lock', 'x'))}` });
  return out;
}

/** Saves the exported env on a miss. A cache problem is a warning, never an exception. */
export async function saveEnvCache(s: EnvCacheSettings, session: EnvCacheSession, exportDir: string): Promise<SaveResult> {
  const t0 = Date.now();
  if (session.hit || s.backend === 'none') return { saved: false, seconds: 0, sizeBytes: session.sizeBytes };
  try {
    if (s.backend === 'local') {
      const r = localSave(s.cacheDir, session.key, exportDir, s.maxSizeGb * GB);
      if (r.evicted.length) core.info(`env cache: evicted ${r.evicted.length} least recently used entr${r.evicted.length === 1 ? 'y' : 'ies'}: ${r.evicted.join(' ')}`);
      return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, warning: r.saved ? undefined : r.reason ? `env cache: not saved: ${r.reason}` : undefined };
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
        finishLocalLayers(s.cacheDir, dest);
      } catch (e) {
        core.warning(`env cache: could not swap in the new layer cache: ${(e as Error).message}`);
      }
    }
  }
}

// Glue between the action's inputs and the env-cache module (src/env-cache/): settings, key inputs,
// the env-spec build context.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
// Only the light parts of the env-cache module load at start (the same functions src/env-cache/index.ts
// re-exports); index.js itself, which pulls in @actions/cache and @actions/tool-cache, is imported when
// the cache is used (loadEnvCache), so that validation and dry-run start fast.
import { computeEnvCacheKey } from './env-cache/key.js';
import type { EnvCacheSettings } from './env-cache/types.js';
import { validateEnvCacheSettings } from './env-cache/validate.js';
import type { Inputs } from './inputs.js';

export type EnvCacheModule = typeof import('./env-cache/index.js');
/** The env-cache module's restore/export/save API, loaded on first use. */
export function loadEnvCache(): Promise<EnvCacheModule> {
  return import('./env-cache/index.js');
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.RUNNER_TOOL_CACHE || path.join(os.homedir(), '.cache'), 'pointcept-conda-build', 'env-cache');
}

export function envCacheSettings(i: Inputs, dockerfileArgs: Record<string, string | null>): EnvCacheSettings {
  return {
    backend: i.cacheBackend,
    keyPrefix: i.cacheKeyPrefix,
    cacheDir: i.cacheDir === '' ? defaultCacheDir() : path.resolve(i.cacheDir),
    cacheRef: i.cacheRef,
    maxSizeGb: i.cacheMaxSize,
    lockFile: i.lockFile,
    miniforgeVersion: i.miniforgeVersion || dockerfileArgs.MINIFORGE_VERSION || '',
  };
}

/** Input rule: the env-cache settings (checked by the env-cache module itself). */
export function envCacheRule(dockerfileArgs: () => Record<string, string | null>) {
  return (i: Inputs) => validateEnvCacheSettings(envCacheSettings(i, dockerfileArgs())).map((l) => `Input ${l.replace(/^([\w-]+):\s*/, '"$1": ')}`);
}

const readOrNull = (p: string) => (p && fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null);

/** The key of this run's environment. `envName` is hashed too: the cached tar holds the env under
 *  envs/<name>, so an entry made for another name cannot be restored for this one. */
export function envCacheKey(i: Inputs, s: EnvCacheSettings, dockerfileText: string, baseImage: string, envName: string): string {
  return computeEnvCacheKey({
    envName,
    envFileText: fs.readFileSync(i.environmentFile, 'utf8'),
    lockFileText: readOrNull(i.lockFile),
    baseImage,
    miniforgeVersion: s.miniforgeVersion,
    dockerfileText,
    createEnvScriptText: readOrNull(path.join(i.context, 'docker', 'create-env.sh')),
    platform: i.platforms[0] ?? 'linux/amd64',
    prefix: s.keyPrefix,
  });
}

/** The env-spec build context: environment.yml and, with lock-file, environment.lock. */
export function writeEnvSpec(i: Inputs, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(i.environmentFile, path.join(dir, 'environment.yml'));
  if (i.lockFile) fs.copyFileSync(i.lockFile, path.join(dir, 'environment.lock'));
}

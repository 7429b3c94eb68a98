// The env cache as the action drives it: the parsers of its inputs, the settings and key of one run,
// the env-spec build context, and the backends (src/env-cache/index.ts), loaded on first use.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rejection, notAccepted } from '../errors.js';
import type { At, Inputs } from '../inputs.js';
// Only the light parts load at start: index.js pulls in @actions/cache and @actions/tool-cache and
// is imported when the cache is used (loadEnvCache), so that validation and dry-run start fast.
import { computeEnvCacheKey, prefixProblem } from './key.js';
import { BACKENDS, type Backend, type EnvCacheSettings } from './types.js';

// An image repository without tag or digest: [host[:port]/]path, lower-case path components.
const REPO_RE = /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
export const MINIFORGE_RE = /^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?$/;

const reject = (input: string, value: string, accepted: string) => new Rejection([notAccepted(input, value, accepted)]);

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.RUNNER_TOOL_CACHE || path.join(os.homedir(), '.cache'), 'pointcept-conda-build', 'env-cache');
}

/** The parsers of the env cache's inputs (src/inputs.ts runs them with every other input's). */
export const ENV_CACHE_PARSERS = {
  'cache-backend': (v: string) => ((BACKENDS as readonly string[]).includes(v) ? (v as Backend) : reject('cache-backend', v, `use ${BACKENDS.join(', ')}`)),
  'cache-key-prefix': (v: string) => {
    const problem = prefixProblem(v);
    return problem ? reject('cache-key-prefix', v, problem) : v;
  },
  'cache-dir': (v: string, at: At) => {
    const dir = v === '' ? defaultCacheDir() : path.resolve(at.workspace, v);
    return dir.includes(',') ? reject('cache-dir', v, 'use a directory path without a comma (it is passed to buildx --cache-to)') : dir;
  },
  'cache-ref': (v: string) => (v === '' || REPO_RE.test(v) ? v : reject('cache-ref', v, 'use an image repository without tag or digest, lower case, e.g. ghcr.io/org/pointcept-env-cache or 127.0.0.1:5000/env-cache')),
  'cache-max-size': (v: string) => (/^\d+(\.\d+)?$/.test(v) && Number(v) > 0 ? Number(v) : reject('cache-max-size', v, 'use a number of GB greater than 0, e.g. 50')),
  'miniforge-version': (v: string) => (v === '' || MINIFORGE_RE.test(v) ? v : reject('miniforge-version', v, 'use a Miniforge release such as 24.11.3-0, or leave it empty for the Dockerfile default')),
};

const registryNeedsRef = (i: Partial<Inputs>) => (i['cache-backend'] === 'registry' && i['cache-ref'] === ''
  ? [notAccepted('cache-ref', '', 'cache-backend: registry needs an image repository, e.g. ghcr.io/org/pointcept-env-cache')] : []);
export const ENV_CACHE_RULES = [registryNeedsRef];

export function envCacheSettings(i: Inputs, miniforgeVersion: string): EnvCacheSettings {
  return {
    backend: i['cache-backend'],
    keyPrefix: i['cache-key-prefix'],
    cacheDir: i['cache-dir'],
    cacheRef: i['cache-ref'],
    maxSizeGb: i['cache-max-size'],
    lockFile: i['lock-file'],
    miniforgeVersion,
    platform: i.platforms[0] ?? 'linux/amd64',
  };
}

const readOrNull = (p: string) => (p && fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : null);

/** The key of this run's environment. `envName` is hashed too: the cached image holds the env under
 *  envs/<name>, so an entry made for another name cannot be restored for this one. Throws
 *  KeyInputError naming the input that makes no key. */
export function envCacheKey(i: Inputs, s: EnvCacheSettings, k: { envFileText: string; dockerfileText: string; baseImage: string; envName: string }): string {
  return computeEnvCacheKey({
    envName: k.envName,
    envFileText: k.envFileText,
    lockFileText: readOrNull(i['lock-file']),
    baseImage: k.baseImage,
    miniforgeVersion: s.miniforgeVersion,
    dockerfileText: k.dockerfileText,
    createEnvScriptText: readOrNull(path.join(i.context, 'docker', 'create-env.sh')),
    platform: s.platform,
    prefix: s.keyPrefix,
  });
}

/** The env-spec build context: environment.yml and, with lock-file, environment.lock. */
export function writeEnvSpec(i: Inputs, dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(i['environment-file'], path.join(dir, 'environment.yml'));
  if (i['lock-file']) fs.copyFileSync(i['lock-file'], path.join(dir, 'environment.lock'));
}

export type EnvCacheModule = typeof import('./index.js');
/** The env-cache module's restore/save API, loaded on first use. */
export function loadEnvCache(): Promise<EnvCacheModule> {
  return import('./index.js');
}

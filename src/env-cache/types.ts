/** Settings of the environment cache for one run, made from the action's inputs by src/env-cache/action.ts. */
export interface EnvCacheSettings {
  /** Input `cache-backend`. */
  backend: Backend;
  /** Input `cache-key-prefix`. */
  keyPrefix: string;
  /** Input `cache-dir` (local backend), absolute. */
  cacheDir: string;
  /** Input `cache-ref` (registry backend): an image repository without tag. */
  cacheRef: string;
  /** Input `cache-max-size` in GB (local backend LRU cap). */
  maxSizeGb: number;
  /** Input `lock-file` (path of an explicit lock, or empty). */
  lockFile: string;
  /** Input `miniforge-version`, else the Dockerfile's MINIFORGE_VERSION default. */
  miniforgeVersion: string;
  /** The buildx platform the env is built for, such as `linux/amd64` (the first of `platforms`). */
  platform: string;
}

/** Everything that decides the conda environment, as text; hashed by computeEnvCacheKey. */
export interface KeyInputs {
  envFileText: string;
  lockFileText: string | null;
  baseImage: string;
  miniforgeVersion: string;
  /** The whole Dockerfile; only its `conda-env` stage is hashed. */
  dockerfileText: string;
  createEnvScriptText: string | null;
  /** A buildx platform such as `linux/amd64`. */
  platform: string;
  prefix: string;
}

/** One env build to run before the main build: `--target T --output O`. */
export interface EnvExport { target: 'env-export' | 'env-lock'; output: string }

export interface EnvCacheSession {
  key: string;
  platform: string;
  hit: boolean;
  /** The key of the entry that was restored, or '' on a miss. */
  matchedKey: string;
  /** Ready argv pieces for `docker buildx build` (empty when the builder takes no named contexts). */
  buildContexts: string[];
  /** Layer cache defaults (used when the user gave no cache-from / cache-to). */
  layerCacheFrom: string[];
  layerCacheTo: string[];
  restoreSeconds: number;
  sizeBytes: number | null;
  warnings: string[];
  /** The env builds to run, in order: `env-export` on a miss with a backend, then `env-lock`. */
  exports: EnvExport[];
  /** Where the `env-export` stage is written on a miss (local/gha): pass it to saveEnvCache. */
  exportDir: string;
  /** Where the `env-lock` build puts `environment.lock`. */
  lockPath: string;
  /** A dry run's session: looked up, nothing restored, downloaded or linked. */
  lookupOnly: boolean;
}

export interface SaveResult {
  saved: boolean;
  seconds: number;
  sizeBytes: number | null;
  warning?: string;
  /** Not saved because another job saved or is saving the same key: a harmless race, said as info. */
  note?: string;
}

export const BACKENDS = ['registry', 'gha', 'local', 'none'] as const;
export type Backend = (typeof BACKENDS)[number];

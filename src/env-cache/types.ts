/** Settings of the environment cache, resolved from the action's inputs by src/inputs.ts. */
export interface EnvCacheSettings {
  /** `registry` | `gha` | `local` | `none` (input `cache-backend`). */
  backend: string;
  /** Input `cache-key-prefix`. */
  keyPrefix: string;
  /** Input `cache-dir` (local backend). */
  cacheDir: string;
  /** Input `cache-ref` (registry backend): an image repository without tag. */
  cacheRef: string;
  /** Input `cache-max-size` in GB (local backend LRU cap). */
  maxSizeGb: number;
  /** Input `lock-file` (path of an explicit lock, or empty). */
  lockFile: string;
  /** Input `miniforge-version`. */
  miniforgeVersion: string;
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

export interface EnvCacheSession {
  key: string;
  hit: boolean;
  /** The key of the entry that was restored, or '' on a miss. */
  matchedKey: string;
  /** Ready argv pieces for `docker buildx build`. */
  buildContexts: string[];
  /** Layer cache defaults (used when the user gave no cache-from / cache-to). */
  layerCacheFrom: string[];
  layerCacheTo: string[];
  restoreSeconds: number;
  sizeBytes: number | null;
  warnings: string[];
  /** Where the `env-export` stage is written on a miss (local/gha): pass it to saveEnvCache. */
  exportDir: string;
  /** Where `envExportOutputs` puts `environment.lock` (the `env-lock` stage). */
  lockPath: string;
}

export interface SaveResult {
  saved: boolean;
  seconds: number;
  sizeBytes: number | null;
  warning?: string;
}

export const BACKENDS = ['registry', 'gha', 'local', 'none'] as const;
export type Backend = (typeof BACKENDS)[number];

import type { BaseImage } from './entry.js';

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

/** Where the builder takes a local or gha entry from: src/builder.ts decides it with the other capabilities. */
export type { EnvCacheStore } from '../builder.js';

/** One env build to run before the main build: `--target T --output O`. */
export interface EnvExport { target: 'env-lock'; output: string }

/** The build that writes a new entry on a miss (`--target conda-env`), run beside the smoke run. */
export interface EnvSave {
  /** Its --output values (several in one build: the Engine's image and the entry's layout). */
  outputs: string[];
  /** BuildKit writes the entry's OCI layout into `dir` (which can start as links to the layer
   *  cache's blobs); false: `docker save` streams the Engine's image into it. */
  layout: boolean;
  /** Where a local save is written before it is committed (under cache-dir/tmp), or the gha archive's dir. */
  dir: string | null;
  /** The docker driver: the image the save tags in the Engine, from which the cache dir's copy is made. */
  engineName: string | null;
  /** The cache image may carry the base image as OCI annotations (registry backend, on a builder that attaches them). */
  annotate: boolean;
}

export interface EnvCacheSession {
  key: string;
  platform: string;
  hit: boolean;
  /** The key of the entry that was restored, or '' on a miss. */
  matchedKey: string;
  /** Ready argv pieces for `docker buildx build`: `conda-env=...` on a hit, `miniforge=...` on a miss (none when the builder takes no named contexts). */
  buildContexts: string[];
  /** Layer cache defaults (used when the user gave no cache-from / cache-to). */
  layerCacheFrom: string[];
  layerCacheTo: string[];
  restoreSeconds: number;
  sizeBytes: number | null;
  warnings: string[];
  /** Where a hit came from, in words for the summary ('' on a miss). */
  source: string;
  /** The base image the cached env was built on (a hit), or null. */
  base: BaseImage | null;
  /** The env builds to run before the main build: `env-lock` (on a hit, the first build that reads the entry). */
  exports: EnvExport[];
  /** The build that saves the env on a miss (null: a hit, or no backend). */
  save: EnvSave | null;
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

/** What the save build reported: its exit code, a line about its failure, its metadata file. */
export interface SaveBuild { exitCode: number; failure: string; metadata: Record<string, unknown> | null }

export const BACKENDS = ['registry', 'gha', 'local', 'none'] as const;
export type Backend = (typeof BACKENDS)[number];

// What the image is made from, resolved once from the inputs and the Dockerfile before anything
// runs: the Dockerfile's facts; the base image, env name, Miniforge version and arch list (each an
// input, else the Dockerfile's ARG default); the CUDA release nvcc will be; the env cache's settings
// and key. Everything later reads these values instead of resolving them again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cudaLimits, cudaVersionOf, normaliseArchList, type CudaLimits } from './arch.js';
import { inputOrArg, readDockerfile, type Dockerfile } from './dockerfile.js';
import { MINIFORGE_RE, envCacheKey, envCacheSettings } from './env-cache/action.js';
import { KeyInputError } from './env-cache/key.js';
import type { EnvCacheSettings } from './env-cache/types.js';
import { notAccepted } from './errors.js';
import type { Inputs, RawInputs } from './inputs.js';

export interface Recipe {
  dockerfile: Dockerfile;
  baseImage: string;
  envName: string;
  miniforgeVersion: string;
  /** 'auto' (resolved from the GPUs in preflight), a normalised list, or '' when neither the input nor the Dockerfile names one. */
  archList: string;
  /** What nvcc of the build can target; null when neither the env file nor the base image says which CUDA. */
  cuda: CudaLimits | null;
  envCache: EnvCacheSettings;
  /** The env-cache key (an output even with cache-backend: none). */
  key: string;
}

/** Resolves the recipe; returns the input-error lines instead when a value the inputs lead to is not usable. */
export function resolveRecipe(i: Inputs, raw: RawInputs): Recipe | { errors: string[] } {
  const errors: string[] = [];
  const dockerfile = readDockerfile(i.file);
  const baseImage = inputOrArg(i['base-image'], dockerfile, 'BASE_IMAGE');
  const envName = inputOrArg(i['env-name'], dockerfile, 'ENV_NAME');
  const shown = path.relative(i.context, i.file) || i.file;

  const miniforgeVersion = inputOrArg(i['miniforge-version'], dockerfile, 'MINIFORGE_VERSION');
  if (!MINIFORGE_RE.test(miniforgeVersion)) {
    errors.push(notAccepted('miniforge-version', raw['miniforge-version'], `${shown} gives MINIFORGE_VERSION ${miniforgeVersion ? `the default "${miniforgeVersion}", which is not a Miniforge release` : 'no default'}; name a release such as 24.11.3-0`));
  }
  const archList = normaliseArchList(inputOrArg(i['torch-cuda-arch-list'], dockerfile, 'TORCH_CUDA_ARCH_LIST'));
  if (archList === undefined) {
    errors.push(notAccepted('torch-cuda-arch-list', raw['torch-cuda-arch-list'], `the default of TORCH_CUDA_ARCH_LIST in ${shown} is not an arch list; name the compute capabilities, e.g. "8.0;8.6;9.0+PTX"`));
  }
  const unknownStages = i['no-cache-filters'].filter((stage) => !dockerfile.stages.includes(stage.toLowerCase()));
  if (unknownStages.length) errors.push(notAccepted('no-cache-filters', unknownStages.join(','), `${shown} has no stage ${unknownStages.join(', ')}; its stages are ${dockerfile.stages.join(', ')}`));
  const envFileText = fs.readFileSync(i['environment-file'], 'utf8');
  const envCache = envCacheSettings(i, miniforgeVersion);
  let key = '';
  try {
    key = envCacheKey(i, envCache, { envFileText, dockerfileText: dockerfile.text, baseImage, envName });
  } catch (e) {
    if (!(e instanceof KeyInputError)) throw e;
    errors.push(notAccepted(e.input, raw[e.input], e.accepted));
  }
  if (errors.length) return { errors };
  return { dockerfile, baseImage, envName, miniforgeVersion, archList: archList!, cuda: cudaLimits(cudaVersionOf(envFileText, baseImage)), envCache, key };
}

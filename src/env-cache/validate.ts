import * as fs from 'node:fs';
import * as path from 'node:path';
import { prefixErrors } from './key.js';
import { BACKENDS, type Backend, type EnvCacheSettings } from './types.js';

// An image repository without tag or digest: [host[:port]/]path, lower-case path components.
const REPO_RE = /^(?:[A-Za-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const MINIFORGE_RE = /^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?$/;

export function isBackend(b: string): b is Backend {
  return (BACKENDS as readonly string[]).includes(b);
}

/** Error lines, each naming the input and what is accepted; [] when the settings are usable. */
export function validateEnvCacheSettings(s: EnvCacheSettings): string[] {
  const errors: string[] = [];
  if (!isBackend(s.backend)) {
    errors.push(`cache-backend: "${s.backend}" is not accepted (accepted: ${BACKENDS.join(', ')})`);
  }
  errors.push(...prefixErrors(s.keyPrefix));
  if (s.backend === 'local') {
    if (s.cacheDir.trim() === '') errors.push('cache-dir: must not be empty with cache-backend: local (accepted: a directory path)');
    else if (!path.isAbsolute(s.cacheDir)) errors.push(`cache-dir: "${s.cacheDir}" must be an absolute path`);
    else if (s.cacheDir.includes(',')) errors.push(`cache-dir: "${s.cacheDir}" must not contain a comma (it is passed to buildx --cache-to)`);
  }
  if (s.backend === 'local') {
    if (!Number.isFinite(s.maxSizeGb) || s.maxSizeGb <= 0) {
      errors.push(`cache-max-size: "${s.maxSizeGb}" is not accepted (accepted: a number of GB greater than 0, e.g. 50)`);
    }
  }
  if (s.backend === 'registry') {
    if (s.cacheRef.trim() === '') {
      errors.push('cache-ref: required with cache-backend: registry (accepted: an image repository without tag, e.g. ghcr.io/org/pointcept-env-cache)');
    } else if (!REPO_RE.test(s.cacheRef)) {
      errors.push(`cache-ref: "${s.cacheRef}" is not accepted (accepted: an image repository without tag or digest, lower case, e.g. ghcr.io/org/pointcept-env-cache or 127.0.0.1:5000/env-cache)`);
    }
  }
  if (s.lockFile !== '') {
    if (!fs.existsSync(s.lockFile)) errors.push(`lock-file: "${s.lockFile}" does not exist (accepted: an explicit lock written by an earlier run, or empty)`);
    else if (!fs.statSync(s.lockFile).isFile()) errors.push(`lock-file: "${s.lockFile}" is not a file`);
  }
  if (!MINIFORGE_RE.test(s.miniforgeVersion)) {
    errors.push(`miniforge-version: "${s.miniforgeVersion}" is not accepted (accepted: a Miniforge release such as 24.11.3-0)`);
  }
  return errors;
}

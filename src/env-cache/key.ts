import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { KeyInputs } from './types.js';

/** Schema part of the key: bump when the key formula or the cached entry's layout changes. */
export const KEY_SCHEMA = 'v1';
/** GitHub's cache keys: at most 512 characters, no commas. */
export const MAX_KEY_LENGTH = 512;
export const MAX_PREFIX_LENGTH = 200;
const PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PLATFORM_RE = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function unixText(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

/** Error lines for a cache-key-prefix, each naming the input; [] when valid. */
export function prefixErrors(prefix: string): string[] {
  if (prefix.length === 0) return ['cache-key-prefix: must not be empty (accepted: letters, digits, ".", "_", "-", e.g. "pointcept-env")'];
  if (prefix.length > MAX_PREFIX_LENGTH) {
    return [`cache-key-prefix: ${prefix.length} characters is too long (accepted: at most ${MAX_PREFIX_LENGTH})`];
  }
  if (!PREFIX_RE.test(prefix)) {
    return [`cache-key-prefix: "${prefix}" is not accepted (accepted: a letter or digit, then letters, digits, ".", "_", "-"; no commas, spaces or slashes)`];
  }
  return [];
}

/** Error lines for a single buildx platform such as linux/amd64; [] when valid. */
export function platformErrors(platform: string): string[] {
  if (!PLATFORM_RE.test(platform)) {
    return [`platforms: "${platform}" is not accepted by the env cache (accepted: one platform such as "linux/amd64"; the conda env is built for one platform)`];
  }
  return [];
}

type Yaml = string | null | Yaml[] | { [k: string]: Yaml };

function canonical(value: unknown): Yaml {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object') {
    const out: { [k: string]: Yaml } = {};
    for (const k of Object.keys(value as object).sort()) {
      out[k] = canonical((value as Record<string, unknown>)[k]);
    }
    return out;
  }
  // FAILSAFE schema: every scalar is a string; "3.10" stays "3.10".
  return String(value).trim().replace(/\s+/g, ' ');
}

/**
 * The environment file parsed and normalised: mapping keys sorted, list order kept (channel order is
 * conda's priority; dependency order is kept as written), scalars kept as written but trimmed with
 * inner whitespace collapsed. Comments and formatting do not survive parsing.
 */
export function normaliseEnvFile(text: string): string {
  let doc: unknown;
  try {
    doc = yaml.load(text, { schema: yaml.FAILSAFE_SCHEMA });
  } catch (e) {
    throw new Error(`environment-file: not valid YAML (${(e as Error).message.split('\n')[0]})`, { cause: e });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new Error('environment-file: must be a YAML mapping with "channels" and "dependencies" (a conda environment file)');
  }
  if (!('dependencies' in (doc as object))) {
    throw new Error('environment-file: has no "dependencies" list (accepted: a conda environment file)');
  }
  return JSON.stringify(canonical(doc));
}

const STAGE_FROM_RE = /^\s*FROM\s+(?:--\S+\s+)*\S+\s+AS\s+conda-env\s*$/i;
const ANY_FROM_RE = /^\s*FROM\s/i;

/**
 * The `conda-env` stage of a Dockerfile, from its FROM line up to the next FROM, with blank lines,
 * comment lines and trailing whitespace dropped (they do not change what the stage does).
 */
export function condaEnvStage(dockerfileText: string): string {
  const lines = unixText(dockerfileText).split('\n');
  const start = lines.findIndex((l) => STAGE_FROM_RE.test(l));
  if (start < 0) {
    throw new Error('file: the Dockerfile has no "FROM ... AS conda-env" stage, which the env cache needs (set cache-backend: none to build without it)');
  }
  const out: string[] = [lines[start].trim()];
  for (const line of lines.slice(start + 1)) {
    if (ANY_FROM_RE.test(line)) break;
    const t = line.replace(/\s+$/, '');
    if (t.trim() === '' || /^\s*#/.test(t)) continue;
    out.push(t);
  }
  return out.join('\n');
}

/** The parts that are hashed, as one canonical string (exported for tests and --dry-run). */
export function keyMaterial(k: KeyInputs & { envName?: string }): string {
  return JSON.stringify({
    schema: KEY_SCHEMA,
    env: normaliseEnvFile(k.envFileText),
    lock: k.lockFileText === null ? null : sha256(unixText(k.lockFileText)),
    baseImage: k.baseImage.trim(),
    miniforge: k.miniforgeVersion.trim(),
    condaEnvStage: condaEnvStage(k.dockerfileText),
    createEnvScript: k.createEnvScriptText === null ? null : sha256(unixText(k.createEnvScriptText)),
    platform: k.platform,
    envName: k.envName ?? null,
  });
}

/**
 * `${prefix}-v1-${os}-${arch}[-${variant}]-${sha256 of keyMaterial}`. Pure; throws an Error naming the
 * input when the prefix, platform or env file is not accepted. At most 512 characters, no commas.
 * `envName` (optional, additive) is hashed when given: the env directory inside the cached tar.
 */
export function computeEnvCacheKey(k: KeyInputs & { envName?: string }): string {
  const errors = [...prefixErrors(k.prefix), ...platformErrors(k.platform)];
  if (errors.length > 0) throw new Error(errors.join('\n'));
  const key = `${k.prefix}-${KEY_SCHEMA}-${k.platform.replace(/\//g, '-')}-${sha256(keyMaterial(k))}`;
  // Guaranteed by the prefix/platform rules; kept as a guard for future changes.
  if (key.length > MAX_KEY_LENGTH || key.includes(',')) {
    throw new Error(`cache-key-prefix: the resulting key is not accepted by the cache (at most ${MAX_KEY_LENGTH} characters, no commas): ${key}`);
  }
  return key;
}

/** A registry tag for a key: the key itself when it fits a tag (<=128), else its schema/platform/hash tail. */
export function registryTag(key: string): string {
  if (key.length <= 128 && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(key)) return key;
  const m = /-(v\d+-[a-z0-9_-]+-[0-9a-f]{64})$/.exec(key);
  if (m && m[1].length <= 128) return m[1];
  return `v1-${sha256(key)}`;
}

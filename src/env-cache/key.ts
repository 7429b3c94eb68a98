import { createHash } from 'node:crypto';
import yaml from 'js-yaml';
import type { KeyInputs } from './types.js';

/** Schema part of the key: bump when the key formula or the cached entry's layout changes. */
export const KEY_SCHEMA = 'v2';
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

/** An input that makes no key: which one, and what it accepts. */
export class KeyInputError extends Error {
  constructor(readonly input: 'cache-key-prefix' | 'platforms' | 'environment-file' | 'file', readonly accepted: string, value?: string, cause?: unknown) {
    super(`${input}: ${value === undefined ? '' : `${JSON.stringify(value)} is not accepted; `}${accepted}`, { cause });
    this.name = 'KeyInputError';
  }
}

/** What a cache-key-prefix must be, when this one is not; undefined when it is accepted. */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix.length > MAX_PREFIX_LENGTH) return `use at most ${MAX_PREFIX_LENGTH} characters (this one has ${prefix.length})`;
  if (!PREFIX_RE.test(prefix)) return 'use a letter or digit, then letters, digits, ".", "_" or "-" (no commas, spaces or slashes), e.g. pointcept-env';
  return undefined;
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
    throw new KeyInputError('environment-file', `it is not valid YAML (${(e as Error).message.split('\n')[0]})`, undefined, e);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new KeyInputError('environment-file', 'it must be a YAML mapping with "channels" and "dependencies" (a conda environment file)');
  }
  if (!('dependencies' in (doc as object))) {
    throw new KeyInputError('environment-file', 'it has no "dependencies" list (a conda environment file has one)');
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
    throw new KeyInputError('file', 'the Dockerfile has no "FROM ... AS conda-env" stage, which the env cache key hashes');
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
 * `${prefix}-${KEY_SCHEMA}-${os}-${arch}[-${variant}]-${sha256 of keyMaterial}`. Pure; throws an Error naming the
 * input when the prefix, platform or env file is not accepted. At most 512 characters, no commas.
 * `envName` (optional, additive) is hashed when given: the env directory inside the cached image.
 */
export function computeEnvCacheKey(k: KeyInputs & { envName?: string }): string {
  const problem = prefixProblem(k.prefix);
  if (problem) throw new KeyInputError('cache-key-prefix', problem, k.prefix);
  if (!PLATFORM_RE.test(k.platform)) throw new KeyInputError('platforms', 'the env cache builds one platform, such as "linux/amd64"', k.platform);
  const key = `${k.prefix}-${KEY_SCHEMA}-${k.platform.replace(/\//g, '-')}-${sha256(keyMaterial(k))}`;
  // Guaranteed by the prefix/platform rules; kept as a guard for future changes.
  if (key.length > MAX_KEY_LENGTH || key.includes(',')) throw new KeyInputError('cache-key-prefix', `the key must fit GitHub's cache (at most ${MAX_KEY_LENGTH} characters, no commas): ${key}`, k.prefix);
  return key;
}

/** A registry tag for a key: the key itself when it fits a tag (<=128), else its schema/platform/hash tail. */
export function registryTag(key: string): string {
  if (key.length <= 128 && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(key)) return key;
  const m = /-(v\d+-[a-z0-9_-]+-[0-9a-f]{64})$/.exec(key);
  if (m && m[1].length <= 128) return m[1];
  return `${KEY_SCHEMA}-${sha256(key)}`;
}

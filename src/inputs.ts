// Read and validate every input once. Validation rules are small functions that each return
// error lines naming the input, the value and what is accepted; all of them run before anything else.
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Every input of action.yml with its default (a unit test keeps the two in sync). */
export const INPUT_DEFAULTS = {
  context: '',
  file: 'docker/Dockerfile.gpu',
  'environment-file': 'environment.yml',
  tags: '',
  labels: '',
  'build-args': '',
  secrets: '',
  push: 'false',
  load: 'true',
  builder: '',
  target: '',
  platforms: 'linux/amd64',
  'cache-from': '',
  'cache-to': '',
  'base-image': '',
  'env-name': '',
  'torch-cuda-arch-list': '7.5;8.0;8.6;8.9;9.0',
  'max-jobs': 'auto',
  gpu: 'auto',
  'smoke-tests': 'true',
  'smoke-timeout': '900',
  'dry-run': 'false',
  'cache-backend': 'local',
  'cache-key-prefix': 'pointcept-env',
  'cache-dir': '',
  'cache-ref': '',
  'cache-max-size': '50',
  'lock-file': '',
  'miniforge-version': '',
} as const;

export type InputName = keyof typeof INPUT_DEFAULTS;
export type RawInputs = Record<InputName, string>;
export const INPUT_NAMES = Object.keys(INPUT_DEFAULTS) as InputName[];

/** Build args the action sets from its own inputs; users set them through those inputs. */
export const RESERVED_BUILD_ARGS: Record<string, InputName> = {
  BASE_IMAGE: 'base-image',
  TORCH_CUDA_ARCH_LIST: 'torch-cuda-arch-list',
  MAX_JOBS: 'max-jobs',
  MINIFORGE_VERSION: 'miniforge-version',
  ENV_NAME: 'env-name',
};

export interface KeyValue { name: string; value: string }

export interface Inputs {
  context: string;            // absolute directory
  file: string;               // absolute path of the Dockerfile
  environmentFile: string;    // absolute path
  tags: string[];
  labels: KeyValue[];
  buildArgs: KeyValue[];
  secrets: KeyValue[];
  push: boolean;
  load: boolean;
  builder: string;
  target: string;
  platforms: string[];
  cacheFrom: string[];
  cacheTo: string[];
  baseImage: string;
  envName: string;
  torchCudaArchList: string;  // 'auto' or 'a;b;c'
  maxJobs: number | 'auto';
  gpu: 'auto' | 'true' | 'false';
  smokeTests: boolean;
  smokeTimeoutSeconds: number;
  dryRun: boolean;
  cacheBackend: string;
  cacheKeyPrefix: string;
  cacheDir: string;
  cacheRef: string;
  cacheMaxSize: number;
  lockFile: string;           // absolute path or ''
  miniforgeVersion: string;
}

export class InputError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'InputError';
  }
}

/** Reads INPUT_<NAME> variables the way the runner sets them (upper case, hyphens kept). */
export function readRawInputs(env: NodeJS.ProcessEnv = process.env): RawInputs {
  const raw = {} as RawInputs;
  for (const name of INPUT_NAMES) {
    const v = env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`];
    raw[name] = v === undefined || v.trim() === '' ? INPUT_DEFAULTS[name] : v.trim();
  }
  return raw;
}

// ---- list parsing ---------------------------------------------------------------------------
/** Newline- or comma-separated list (tags, platforms). */
export function splitList(v: string): string[] {
  return v.split(/[\r\n,]+/).map((s) => s.trim()).filter((s) => s !== '');
}
/** Newline-separated only (values may hold commas: build-args, labels, cache-from/-to). */
export function splitLines(v: string): string[] {
  return v.split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('#'));
}
function keyValues(v: string): { kv: KeyValue[]; bad: string[] } {
  const kv: KeyValue[] = [];
  const bad: string[] = [];
  for (const line of splitLines(v)) {
    const i = line.indexOf('=');
    if (i <= 0) bad.push(line);
    else kv.push({ name: line.slice(0, i).trim(), value: line.slice(i + 1) });
  }
  return { kv, bad };
}

const TRUE = ['true', 'True', 'TRUE'];
const FALSE = ['false', 'False', 'FALSE'];
function bool(v: string): boolean | undefined {
  return TRUE.includes(v) ? true : FALSE.includes(v) ? false : undefined;
}

/** "900", "900s", "15m", "1h" -> seconds; undefined when not a duration. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return n >= 1 && n <= 86400 ? n : undefined;
}

const ARCH = /^\d+\.\d+[af]?(\+PTX)?$/;
/** '7.5;8.0 8.6,9.0+PTX' -> '7.5;8.0;8.6;9.0+PTX'; undefined when an entry is not an arch. */
export function normaliseArchList(v: string): string | undefined {
  if (v === 'auto') return 'auto';
  const parts = v.split(/[;,\s]+/).filter((s) => s !== '');
  if (parts.length === 0 || !parts.every((p) => ARCH.test(p))) return undefined;
  return [...new Set(parts)].join(';');
}

// A Docker image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
const REF = /^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::\d+)?\/|[a-zA-Z0-9-]+:\d+\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
export function isImageRef(v: string): boolean {
  return v.length <= 255 && REF.test(v);
}
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ID = /^[A-Za-z0-9_.-]+$/;

// ---- validation rules -----------------------------------------------------------------------
export type Rule = (raw: RawInputs, base: string) => string[];
const show = (v: string) => JSON.stringify(v);
const err = (name: string, value: string, accepted: string) => `Input "${name}": ${show(value)} is not accepted; ${accepted}.`;

function resolveIn(base: string, p: string) {
  return path.isAbsolute(p) ? p : path.resolve(base, p);
}
const contextDir = (raw: RawInputs, actionDir: string) => (raw.context === '' ? actionDir : resolveIn(process.env.GITHUB_WORKSPACE ?? process.cwd(), raw.context));

export const RULES: Rule[] = [
  (raw) => (['push', 'load', 'smoke-tests', 'dry-run'] as const).filter((n) => bool(raw[n]) === undefined).map((n) => err(n, raw[n], 'use true or false')),
  (raw) => (['auto', 'true', 'false'].includes(raw.gpu) ? [] : [err('gpu', raw.gpu, 'use auto, true or false')]),
  (raw) => (raw['max-jobs'] === 'auto' || (/^\d+$/.test(raw['max-jobs']) && +raw['max-jobs'] >= 1 && +raw['max-jobs'] <= 512) ? [] : [err('max-jobs', raw['max-jobs'], 'use auto or a whole number from 1 to 512')]),
  (raw) => (parseDuration(raw['smoke-timeout']) !== undefined ? [] : [err('smoke-timeout', raw['smoke-timeout'], 'use seconds (900) or a duration like 900s, 15m or 1h, at most 24h')]),
  (raw) => (normaliseArchList(raw['torch-cuda-arch-list']) !== undefined ? [] : [err('torch-cuda-arch-list', raw['torch-cuda-arch-list'], 'use auto or compute capabilities like "7.5;8.0;8.6;8.9;9.0" (optionally +PTX), separated by ";", "," or spaces')]),
  (raw) => splitList(raw.tags).filter((t) => !isImageRef(t)).map((t) => err('tags', t, 'each tag must be an image reference like registry.example.com/org/image:tag (lower-case repository, tag of letters, digits, "_", "." or "-")')),
  (raw) => (raw['base-image'] === '' || isImageRef(raw['base-image']) ? [] : [err('base-image', raw['base-image'], 'use an image reference like nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04, or leave it empty for the Dockerfile default')]),
  (raw) => splitList(raw.platforms).filter((p) => !PLATFORM.test(p)).map((p) => err('platforms', p, 'each platform looks like linux/amd64')),
  (raw) => {
    const n = splitList(raw.platforms).length;
    return n > 1 && bool(raw.load) !== false ? [err('platforms', raw.platforms, 'only one platform can be loaded into Docker for the smoke run; set load: false and smoke-tests: false for a multi-platform push')] : [];
  },
  (raw) => (raw.builder === '' || ID.test(raw.builder) ? [] : [err('builder', raw.builder, 'use a buildx builder name (letters, digits, "_", "." or "-") or leave it empty for the current builder')]),
  (raw) => (raw.target === '' || ID.test(raw.target) ? [] : [err('target', raw.target, 'use a stage name of the Dockerfile (letters, digits, "_", "." or "-")')]),
  (raw) => (raw['env-name'] === '' || ID.test(raw['env-name']) ? [] : [err('env-name', raw['env-name'], 'use a conda env name (letters, digits, "_", "." or "-")')]),
  (raw) => {
    const { kv, bad } = keyValues(raw['build-args']);
    return [
      ...bad.map((l) => err('build-args', l, 'write one NAME=VALUE per line')),
      ...kv.filter((a) => !NAME.test(a.name)).map((a) => err('build-args', a.name, 'a build-arg name is letters, digits and "_", not starting with a digit')),
      ...kv.filter((a) => a.name in RESERVED_BUILD_ARGS).map((a) => err('build-args', a.name, `the action sets ${a.name} itself; use the input "${RESERVED_BUILD_ARGS[a.name]}"`)),
    ];
  },
  (raw) => {
    const { kv, bad } = keyValues(raw.labels);
    return [...bad.map((l) => err('labels', l, 'write one key=value per line')), ...kv.filter((l) => /\s/.test(l.name)).map((l) => err('labels', l.name, 'a label key has no spaces'))];
  },
  (raw) => {
    const { kv, bad } = keyValues(raw.secrets);
    return [
      // a malformed line may hold a secret value: never echo it
      ...bad.map(() => `Input "secrets": a line is not accepted; write one id=value per line (the line is not shown because it may hold a secret).`),
      ...kv.filter((s) => !ID.test(s.name)).map((s) => err('secrets', s.name, 'a secret id is letters, digits, "_", "." or "-"')),
    ];
  },
  (raw) => (bool(raw.push) === true && splitList(raw.tags).length === 0 ? [err('tags', raw.tags, 'push: true needs at least one tag')] : []),
  (raw) => (bool(raw.load) === false && bool(raw['smoke-tests']) === true ? [err('load', raw.load, 'the smoke run needs the image loaded into Docker; keep load: true or set smoke-tests: false')] : []),
  (raw) => splitLines(raw['cache-from']).concat(splitLines(raw['cache-to'])).filter((c) => /\s/.test(c)).map((c) => err(splitLines(raw['cache-from']).includes(c) ? 'cache-from' : 'cache-to', c, 'one cache entry per line, like type=registry,ref=ghcr.io/org/cache (no spaces)')),
  (raw, actionDir) => {
    const ctx = contextDir(raw, actionDir);
    if (!isDir(ctx)) return [err('context', raw.context, `the directory ${ctx} does not exist; use a directory with the Dockerfile and environment file, or leave it empty for the action's own files`)];
    const out: string[] = [];
    for (const n of ['file', 'environment-file', 'lock-file'] as const) {
      if (raw[n] === '') continue;
      const p = resolveIn(ctx, raw[n]);
      if (!isFile(p)) out.push(err(n, raw[n], `the file ${p} does not exist; paths are relative to the context directory`));
    }
    return out;
  },
];

function isDir(p: string) {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}
function isFile(p: string) {
  try { return fs.statSync(p).isFile(); } catch { return false; }
}

/** Validates every input (all rules, all errors), then returns the typed inputs. */
export function parseInputs(raw: RawInputs, actionDir: string, extraRules: ((i: Inputs) => string[])[] = []): Inputs {
  const errors = RULES.flatMap((r) => r(raw, actionDir));
  if (errors.length) throw new InputError(errors);
  const ctx = contextDir(raw, actionDir);
  const inputs: Inputs = {
    context: ctx,
    file: resolveIn(ctx, raw.file),
    environmentFile: resolveIn(ctx, raw['environment-file']),
    tags: splitList(raw.tags),
    labels: keyValues(raw.labels).kv,
    buildArgs: keyValues(raw['build-args']).kv,
    secrets: keyValues(raw.secrets).kv,
    push: bool(raw.push)!,
    load: bool(raw.load)!,
    builder: raw.builder,
    target: raw.target,
    platforms: splitList(raw.platforms),
    cacheFrom: splitLines(raw['cache-from']),
    cacheTo: splitLines(raw['cache-to']),
    baseImage: raw['base-image'],
    envName: raw['env-name'],
    torchCudaArchList: normaliseArchList(raw['torch-cuda-arch-list'])!,
    maxJobs: raw['max-jobs'] === 'auto' ? 'auto' : Number(raw['max-jobs']),
    gpu: raw.gpu as Inputs['gpu'],
    smokeTests: bool(raw['smoke-tests'])!,
    smokeTimeoutSeconds: parseDuration(raw['smoke-timeout'])!,
    dryRun: bool(raw['dry-run'])!,
    cacheBackend: raw['cache-backend'],
    cacheKeyPrefix: raw['cache-key-prefix'],
    cacheDir: raw['cache-dir'],
    cacheRef: raw['cache-ref'],
    cacheMaxSize: Number(raw['cache-max-size']),
    lockFile: raw['lock-file'] === '' ? '' : resolveIn(ctx, raw['lock-file']),
    miniforgeVersion: raw['miniforge-version'],
  };
  const more = extraRules.flatMap((r) => r(inputs));
  if (more.length) throw new InputError(more);
  return inputs;
}

/** Names that look like credentials: their values are masked and never printed. */
export const CREDENTIAL_NAME = /(pass(word|wd)?|pwd|secret|token|credential|auth|api[_-]?key|access[_-]?key|private[_-]?key|(^|_)key$)/i;

/** Values to mask: every secret, and build-args whose names look like credentials. */
export function secretValues(i: Pick<Inputs, 'secrets' | 'buildArgs'>): string[] {
  return [...i.secrets.map((s) => s.value), ...i.buildArgs.filter((a) => CREDENTIAL_NAME.test(a.name)).map((a) => a.value)].filter((v) => v.length > 0);
}

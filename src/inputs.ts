// Every input of action.yml, read and checked in one pass. Each input has a named parser that turns
// the text the user typed into a typed value, or rejects it with lines in one style
// (Input "NAME": "VALUE" is not accepted; what is). List inputs follow build-push-action's CSV
// rules (src/lists.ts); provenance, sbom and annotations are parsed in src/attest.ts. Rules that
// join two inputs run after the parsers, on whatever parsed, so that one run reports every problem.
// Defaults come from action.yml, read here and nowhere else.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { normaliseArchList } from './arch.js';
import { ATTEST_PARSERS } from './attest.js';
import { ENV_CACHE_PARSERS, ENV_CACHE_RULES } from './env-cache/action.js';
import { InputError, Rejection, notAccepted } from './errors.js';
import { commaItems, joinedItems, lineItems, listItems } from './lists.js';

/** Where relative paths are resolved (the action's own files, the workspace, the context once known), and the environment secret-envs reads. */
export interface At { actionDir: string; workspace: string; contextDir: string | null; env: Record<string, string | undefined> }

export interface KeyValue { name: string; value: string }

const reject = (input: string, value: string, accepted: string) => new Rejection([notAccepted(input, value, accepted)]);

// ---- list and value helpers --------------------------------------------------------------------
type Items = (recs: string[][]) => string[];

/** "900", "900s", "15m", "1h" -> seconds; undefined when not a duration of 1 s to 24 h. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+)\s*(s|m|h)?$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return n >= 1 && n <= 86400 ? n : undefined;
}

// A Docker image reference: [registry[:port]/]path[:tag][@digest], lower-case path components.
const REF = /^(?:(?:localhost|[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+)(?::\d+)?\/|[a-zA-Z0-9-]+:\d+\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
export function isImageRef(v: string): boolean {
  return v.length <= 255 && REF.test(v);
}
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ID = /^[A-Za-z0-9_.-]+$/;

/** Build args the action sets from its own inputs; users set them through those inputs. */
export const RESERVED_BUILD_ARGS: Record<string, string> = {
  BASE_IMAGE: 'base-image',
  TORCH_CUDA_ARCH_LIST: 'torch-cuda-arch-list',
  MAX_JOBS: 'max-jobs',
  MINIFORGE_VERSION: 'miniforge-version',
  ENV_NAME: 'env-name',
};

// ---- parser makers -------------------------------------------------------------------------------
function bool(input: string) {
  return (v: string) => (['true', 'True', 'TRUE'].includes(v) ? true : ['false', 'False', 'FALSE'].includes(v) ? false : reject(input, v, 'use true or false'));
}
function oneOf<T extends string>(input: string, values: readonly T[]) {
  return (v: string) => ((values as readonly string[]).includes(v) ? (v as T) : reject(input, v, `use ${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`));
}
/** '' or a name of letters, digits, "_", "." and "-". */
function name(input: string, what: string) {
  return (v: string) => (v === '' || ID.test(v) ? v : reject(input, v, `use ${what} (letters, digits, "_", "." or "-")`));
}
/** A path relative to the context directory that must be a file. */
function fileInContext(input: string, optional = false) {
  return (v: string, at: At) => {
    if (optional && v === '') return '';
    if (at.contextDir === null) return v; // the context is rejected: nothing to look in
    const p = path.resolve(at.contextDir, v);
    return isFile(p) ? p : reject(input, v, `the file ${p} does not exist; paths are relative to the context directory`);
  };
}
/** Items split off "key=value" at the first "="; each item without one and each bad key rejected. */
function keyValues(input: string, items: Items, lineHint: string, keyOk: (k: string) => string | null, secret = false) {
  return (v: string) => {
    const list = listItems(input, v, items, secret);
    if (list instanceof Rejection) return list;
    const out: KeyValue[] = [];
    const bad: string[] = [];
    for (const item of list) {
      const n = item.indexOf('=');
      // a malformed secrets line may hold a secret value: never echo it
      if (n <= 0) bad.push(secret ? `Input "${input}": a line is not accepted; ${lineHint} (the line is not shown because it may hold a secret).` : notAccepted(input, item, lineHint));
      else {
        const kv = { name: item.slice(0, n).trim(), value: item.slice(n + 1) };
        const problem = keyOk(kv.name);
        if (problem) bad.push(notAccepted(input, kv.name, problem));
        else out.push(kv);
      }
    }
    return bad.length ? new Rejection(bad) : out;
  };
}
/** A list whose every item must pass `ok`. */
function listOf(input: string, items: Items, ok: (e: string) => boolean, accepted: string) {
  return (v: string) => {
    const list = listItems(input, v, items);
    if (list instanceof Rejection) return list;
    const bad = list.filter((e) => !ok(e));
    return bad.length ? new Rejection(bad.map((e) => notAccepted(input, e, accepted))) : list;
  };
}
/** '' or a value matching re. */
function optional(input: string, re: RegExp, accepted: string) {
  return (v: string) => (v === '' || re.test(v) ? v : reject(input, v, accepted));
}

function isDir(p: string) {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}
function isFile(p: string) {
  try { return fs.statSync(p).isFile(); } catch { return false; }
}

// ---- one parser per input ----------------------------------------------------------------------
/** A label key with a dot followed by "=": where metadata-action (sep-labels: ",") starts the next label on a line. */
const startsLabel = (field: string) => /^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)+=/i.test(field);
const ULIMITS = ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];
/** Build contexts the action passes itself (src/env-cache, plan.ts). */
export const RESERVED_CONTEXTS = ['env-spec', 'conda-env', 'miniforge'];
const secretId = (k: string) => (ID.test(k) ? null : 'a secret id is letters, digits, "_", "." or "-"');

const PARSERS = {
  context: (v: string, at: At) => {
    if (v === '') return at.actionDir;
    const dir = path.resolve(at.workspace, v);
    return isDir(dir) ? dir : reject('context', v, `the directory ${dir} does not exist; use a directory with the Dockerfile and environment file, or leave it empty for the action's own files`);
  },
  file: fileInContext('file'),
  'environment-file': fileInContext('environment-file'),
  tags: listOf('tags', commaItems, isImageRef, 'each tag must be an image reference like registry.example.com/org/image:tag (lower-case repository, tag of letters, digits, "_", "." or "-")'),
  labels: keyValues('labels', (r) => joinedItems(r, startsLabel), 'write one key=value per line', (k) => (/\s/.test(k) ? 'a label key has no spaces' : null)),
  ...ATTEST_PARSERS,
  'build-args': keyValues('build-args', lineItems, 'write one NAME=VALUE per line', (k) => (!NAME.test(k) ? 'a build-arg name is letters, digits and "_", not starting with a digit'
    : k in RESERVED_BUILD_ARGS ? `the action sets ${k} itself; use the input "${RESERVED_BUILD_ARGS[k]}"` : null)),
  'build-contexts': keyValues('build-contexts', lineItems, 'write one name=source per line, like alpine=docker-image://alpine:3.20 or src=./path', (k) => (/\s/.test(k) ? 'a build context name has no spaces'
    : RESERVED_CONTEXTS.includes(k) ? `the action passes the build context ${k} itself (see the env cache in the README)` : null)),
  secrets: keyValues('secrets', lineItems, 'write one id=value per line', secretId, true),
  'secret-files': (v: string, at: At) => {
    const list = keyValues('secret-files', lineItems, 'write one id=path per line', secretId)(v);
    if (list instanceof Rejection) return list;
    const files = list.map((s) => ({ name: s.name, value: path.resolve(at.workspace, s.value.trim()) }));
    const missing = files.filter((f) => !isFile(f.value));
    return missing.length ? new Rejection(missing.map((f) => notAccepted('secret-files', `${f.name}=${f.value}`, `the file ${f.value} does not exist; paths are relative to the workspace`))) : files;
  },
  'secret-envs': (v: string, at: At) => {
    const list = keyValues('secret-envs', commaItems, 'write id=ENV_VAR entries, separated by newlines or commas', secretId)(v);
    if (list instanceof Rejection) return list;
    const vars = list.map((s) => ({ name: s.name, value: s.value.trim() }));
    const problem = (e: KeyValue) => (!NAME.test(e.value) ? 'the part after "=" names an environment variable'
      : at.env[e.value] === undefined ? `the environment variable ${e.value} is not set; set it in the step's env:` : null);
    const bad = vars.filter((e) => problem(e));
    return bad.length ? new Rejection(bad.map((e) => notAccepted('secret-envs', `${e.name}=${e.value}`, problem(e)!))) : vars;
  },
  ssh: listOf('ssh', commaItems, (e) => /^[A-Za-z0-9_.-]+(=\S+)?$/.test(e), 'use default, or ID=PATH of an SSH agent socket or key'),
  push: bool('push'),
  load: bool('load'),
  'no-cache': bool('no-cache'),
  'no-cache-filters': listOf('no-cache-filters', commaItems, (e) => ID.test(e), 'each entry is a stage name of the Dockerfile'),
  pull: bool('pull'),
  builder: name('builder', 'a buildx builder name, or leave it empty for the current builder'),
  target: name('target', 'a stage name of the Dockerfile'),
  platforms: listOf('platforms', commaItems, (p) => PLATFORM.test(p), 'each platform looks like linux/amd64'),
  network: (v: string) => (['', 'default', 'host', 'none'].includes(v) ? v : reject('network', v, 'use default, host or none (the network of RUN steps), or leave it empty')),
  'shm-size': optional('shm-size', /^\d+(?:[bkmg]|[kmg]b)?$/i, 'use a size like 2g or 512m (bytes without a unit), or leave it empty'),
  ulimit: listOf('ulimit', lineItems, (e) => { const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(e); return !!m && ULIMITS.includes(m[1]); }, `use one name=soft[:hard] per line, name one of ${ULIMITS.join(', ')}`),
  'cache-from': listOf('cache-from', lineItems, (c) => !/\s/.test(c), 'one cache entry per line, like type=registry,ref=ghcr.io/org/cache (no spaces)'),
  'cache-to': listOf('cache-to', lineItems, (c) => !/\s/.test(c), 'one cache entry per line, like type=registry,ref=ghcr.io/org/cache,mode=max (no spaces)'),
  'base-image': (v: string) => (v === '' || isImageRef(v) ? v : reject('base-image', v, 'use an image reference like nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04, or leave it empty for the Dockerfile default')),
  'env-name': name('env-name', 'a conda env name, or leave it empty for the Dockerfile default'),
  'torch-cuda-arch-list': (v: string) => normaliseArchList(v) ?? reject('torch-cuda-arch-list', v, 'use auto, compute capabilities like "8.0;8.6;9.0+PTX" separated by ";", "," or spaces, or leave it empty for the Dockerfile default'),
  'max-jobs': (v: string) => (v === 'auto' ? ('auto' as const) : /^\d+$/.test(v) && +v >= 1 && +v <= 512 ? Number(v) : reject('max-jobs', v, 'use auto or a whole number from 1 to 512')),
  gpu: oneOf('gpu', ['auto', 'true', 'false'] as const),
  'smoke-tests': bool('smoke-tests'),
  'smoke-timeout': (v: string) => parseDuration(v) ?? reject('smoke-timeout', v, 'use seconds (900) or a duration like 900s, 15m or 1h, at most 24h'),
  'dry-run': bool('dry-run'),
  ...ENV_CACHE_PARSERS,
  'lock-file': fileInContext('lock-file', true),
} satisfies Record<string, (v: string, at: At) => unknown>;

export type InputName = keyof typeof PARSERS;
export const INPUT_NAMES = Object.keys(PARSERS) as InputName[];
/** The typed inputs, keyed by their names in action.yml. Paths are absolute. */
export type Inputs = { readonly [K in InputName]: Exclude<ReturnType<(typeof PARSERS)[K]>, Rejection> };
export type RawInputs = Record<InputName, string>;

// ---- rules that join inputs (each sees only the inputs that parsed) ---------------------------------
type Rule = (i: Partial<Inputs>, raw: RawInputs) => string[];
const pushNeedsTags: Rule = (i) => (i.push === true && i.tags?.length === 0 ? [notAccepted('tags', '', 'push: true needs at least one tag')] : []);
const smokeNeedsLoad: Rule = (i, raw) => (i.load === false && i['smoke-tests'] === true ? [notAccepted('load', raw.load, 'the smoke run needs the image loaded into Docker; keep load: true or set smoke-tests: false')] : []);
const oneLoadedPlatform: Rule = (i, raw) => ((i.platforms?.length ?? 0) > 1 && i.load !== false
  ? [notAccepted('platforms', raw.platforms, 'only one platform can be loaded into Docker for the smoke run; set load: false and smoke-tests: false for a multi-platform push')] : []);
// buildx refuses the pair ("cannot currently be used together")
const noCacheOrFilters: Rule = (i, raw) => (i['no-cache'] === true && (i['no-cache-filters']?.length ?? 0) > 0
  ? [notAccepted('no-cache-filters', raw['no-cache-filters'], 'no-cache: true already rebuilds every stage; set one of the two')] : []);
const uniqueSecretIds: Rule = (i) => {
  const ids = [...(i.secrets ?? []), ...(i['secret-files'] ?? []), ...(i['secret-envs'] ?? [])].map((s) => s.name);
  const twice = [...new Set(ids.filter((id, n) => ids.indexOf(id) !== n))];
  return twice.map((id) => notAccepted('secrets', id, 'each secret id is given once across secrets, secret-files and secret-envs'));
};
const RULES: Rule[] = [pushNeedsTags, smokeNeedsLoad, oneLoadedPlatform, noCacheOrFilters, uniqueSecretIds, ...ENV_CACHE_RULES];

// ---- reading ------------------------------------------------------------------------------------
/** The directory the action ships in: the nearest one above this module that holds action.yml. */
export function actionDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let n = 0; n < 4 && !fs.existsSync(path.join(dir, 'action.yml')); n++) dir = path.dirname(dir);
  return dir;
}

/** Every input's default, from action.yml (the one place defaults are written). */
export function actionDefaults(dir: string): RawInputs {
  const doc = yaml.load(fs.readFileSync(path.join(dir, 'action.yml'), 'utf8')) as { inputs: Record<string, { default?: unknown }> };
  return Object.fromEntries(Object.entries(doc.inputs).map(([k, v]) => [k, v.default === undefined ? '' : String(v.default)])) as RawInputs;
}

/** Reads INPUT_<NAME> variables the way the runner sets them (upper case, hyphens kept); empty means the default. */
export function readRawInputs(env: NodeJS.ProcessEnv, defaults: RawInputs): RawInputs {
  const raw = {} as RawInputs;
  for (const n of INPUT_NAMES) {
    const v = env[`INPUT_${n.replace(/ /g, '_').toUpperCase()}`];
    raw[n] = v === undefined || v.trim() === '' ? defaults[n] ?? '' : v.trim();
  }
  return raw;
}

/** Parses every input and applies every rule; throws one InputError with all the lines. */
export function parseInputs(raw: RawInputs, where: Omit<At, 'contextDir' | 'env'> & { env?: At['env'] }): Inputs {
  const lines: string[] = [];
  const env = where.env ?? process.env;
  const context = PARSERS.context(raw.context, { ...where, env, contextDir: null });
  const at: At = { ...where, env, contextDir: context instanceof Rejection ? null : context };
  const values: Record<string, unknown> = {};
  for (const n of INPUT_NAMES) {
    const v = n === 'context' ? context : PARSERS[n](raw[n], at);
    if (v instanceof Rejection) lines.push(...v.lines);
    else values[n] = v;
  }
  for (const rule of RULES) lines.push(...rule(values as Partial<Inputs>, raw));
  if (lines.length) throw new InputError(lines);
  return values as Inputs;
}

/** Names that look like credentials: their values are masked and never printed. */
export const CREDENTIAL_NAME = /(pass(word|wd)?|pwd|secret|token|credential|auth|api[_-]?key|access[_-]?key|private[_-]?key|(^|_)key$)/i;

/**
 * Values to mask: every secret (the secrets' values, the contents of secret-files, the variables
 * secret-envs names), and build-args whose names look like credentials (4 characters or more). A multi-line value is also
 * masked line by line (a log shows it one line at a time), lines of 6 characters or more.
 */
export function secretValues(i: Pick<Inputs, 'secrets' | 'build-args' | 'secret-files' | 'secret-envs'>, env: At['env'] = process.env): string[] {
  const values = [
    ...i.secrets.map((s) => s.value),
    ...i['secret-files'].map((f) => fs.readFileSync(f.value, 'utf8')),
    ...i['secret-envs'].map((s) => env[s.value] ?? ''),
    // a short value under a credential-looking name (SKIP_SECRET_SCAN=1) is no credential, and
    // masking it would turn every "1" of the log and the outputs (digests included) into ***
    ...i['build-args'].filter((a) => CREDENTIAL_NAME.test(a.name) && a.value.trim().length >= 4).map((a) => a.value),
  ];
  const lines = values.filter((v) => v.includes('\n')).flatMap((v) => v.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length >= 6));
  return [...new Set([...values.map((v) => v.trim()), ...values, ...lines])].filter((v) => v.length > 0);
}

// Talking to registries through the tools that hold the credentials (docker, buildx, BuildKit):
// image references, what a failed command's text says about the registry, and retries.
//
// The tools retry a little on their own (BuildKit: 5xx and resets after 1, 2, 4 s; containerd's
// resolver: 429 at once, five times; dockerd: layer uploads, never the manifest PUT), and none of
// them reports a Retry-After. Every registry operation of the publish path therefore runs through
// withRetries: a transient failure (5xx, 429, refused, reset, EOF, timeout) is retried with
// exponential backoff and full jitter; after a 429 the registry is asked once (HEAD, no
// credentials) for its Retry-After, which the wait then honours. 401, 403 and 404 are never
// retried. A registry that keeps failing ends the step with one line: the registry, the cause and
// the attempts.
import { StepError } from './errors.js';
import type { RunResult } from './exec.js';

// ---- references -----------------------------------------------------------------------------------
export interface Repository { repository: string; tags: string[] }

/** "reg:5000/org/img:tag" -> { repository: "reg:5000/org/img", tag: "tag" } (tag "latest" when none). */
export function splitTag(ref: string): { repository: string; tag: string } {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? { repository: name.slice(0, colon), tag: name.slice(colon + 1) } : { repository: name, tag: 'latest' };
}

/** The tags grouped by repository, in the order they were given. */
export function repositoriesOf(tags: string[]): Repository[] {
  const out: Repository[] = [];
  for (const t of tags) {
    const { repository } = splitTag(t);
    const found = out.find((r) => r.repository === repository);
    if (found) found.tags.push(t);
    else out.push({ repository, tags: [t] });
  }
  return out;
}

/** The registry host of a repository, as docker reads it (docker.io when the first part is no host). */
export function registryOf(repository: string): string {
  const first = repository.split('/')[0];
  return repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost') ? first : 'docker.io';
}

/** The repository's path on its registry ("ghcr.io/org/pc" -> "org/pc"; Docker Hub's "pc" -> "library/pc"). */
export function pathOnRegistry(repository: string): string {
  const registry = registryOf(repository);
  const rest = repository.startsWith(`${registry}/`) ? repository.slice(registry.length + 1) : repository;
  return registry === 'docker.io' && !rest.includes('/') ? `library/${rest}` : rest;
}

// ---- what a failure says ----------------------------------------------------------------------------
export interface RegistryFault { transient: boolean; cause: string }

const NOT_FOUND = '404 Not Found';

// Order matters: the first rule that matches names the cause. Refusals of the registry come first:
// a text that holds both "403" and "503" is a refusal, and is not retried.
const FAULTS: { re: RegExp; transient: boolean; cause: (m: RegExpExecArray) => string }[] = [
  { re: /\b401 Unauthorized|unauthorized: |authentication required|no basic auth credentials/i, transient: false, cause: () => '401 Unauthorized' },
  { re: /\b403 Forbidden|denied: |insufficient_scope|requested access to the resource is denied/i, transient: false, cause: () => '403 Forbidden' },
  { re: /\b404 Not Found|manifest unknown|name unknown|blob unknown|: not found\b/i, transient: false, cause: () => NOT_FOUND },
  { re: /\b429 Too Many Requests|toomanyrequests/i, transient: true, cause: () => '429 Too Many Requests' },
  { re: /\b(5\d\d) ([A-Z][A-Za-z ]*[a-z])/, transient: true, cause: (m) => `${m[1]} ${m[2]}` },
  { re: /\bunavailable: /i, transient: true, cause: () => 'service unavailable' },
  { re: /connection refused/i, transient: true, cause: () => 'connection refused' },
  { re: /connection reset by peer/i, transient: true, cause: () => 'connection reset' },
  { re: /broken pipe/i, transient: true, cause: () => 'broken pipe' },
  { re: /i\/o timeout|TLS handshake timeout|Client\.Timeout exceeded|context deadline exceeded|timeout awaiting response headers/i, transient: true, cause: () => 'timeout' },
  { re: /unexpected EOF|: EOF\b|\bEOF$/m, transient: true, cause: () => 'EOF (connection closed mid-answer)' },
];

/** What a failed registry operation's output says: the first known cause, transient or not; null when it names none. */
export function registryFault(text: string): RegistryFault | null {
  for (const f of FAULTS) {
    const m = f.re.exec(text);
    if (m) return { transient: f.transient, cause: f.cause(m) };
  }
  return null;
}

/** Whether a failed lookup says the registry has no such image, as against failing to answer. */
export function saysNotFound(text: string): boolean {
  return registryFault(text)?.cause === NOT_FOUND;
}

/** A Retry-After header: seconds, or an HTTP date; null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

// ---- retries --------------------------------------------------------------------------------------
export interface RetryPolicy {
  attempts: number;          // in all, the first one included
  baseMs: number;            // backoff before the 2nd attempt; doubles after each
  maxMs: number;             // cap of one wait
  maxRetryAfterS: number;    // a longer Retry-After is not waited for
  random: () => number;      // jitter source, [0, 1)
  sleep: (ms: number) => Promise<void>;
  probe: (registry: string, path: string) => Promise<number | null>;  // Retry-After after a 429
}

export const DEFAULT_POLICY: RetryPolicy = {
  attempts: 4,
  baseMs: 2000,
  maxMs: 30_000,
  maxRetryAfterS: 120,
  random: Math.random,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  probe: probeRetryAfter,
};

/** The wait before attempt n+1 (n >= 1): full jitter over base * 2^(n-1), at least Retry-After. */
export function backoffMs(n: number, policy: Pick<RetryPolicy, 'baseMs' | 'maxMs' | 'random'>, retryAfterS: number | null): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (n - 1));
  const jittered = Math.round(ceiling / 2 + (policy.random() * ceiling) / 2);
  return Math.max(jittered, (retryAfterS ?? 0) * 1000);
}

/** docker reaches loopback registries over plain HTTP; every other one over HTTPS. */
const scheme = (registry: string) => (/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(registry) ? 'http' : 'https');

/** Asks the registry for its Retry-After (HEAD of path, no credentials, 5 s); null when it sends none. */
export async function probeRetryAfter(registry: string, path: string): Promise<number | null> {
  try {
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    const res = await fetch(`${scheme(registry)}://${host}${path}`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    return res.status === 429 ? retryAfterSeconds(res.headers.get('retry-after')) : null;
  } catch {
    return null;
  }
}

/** The registry path a probe asks: the URL in the failure text when it names one on this registry, else `fallback`. */
function probePath(text: string, registry: string, fallback: string): string {
  const url = new RegExp(`https?://${registry.replace(/[.[\]]/g, '\\$&')}(/v2/[^\\s":]*)`).exec(text);
  return url ? url[1].replace(/\?.*$/, '') : fallback;
}

/** A registry that kept failing, or refused: the one line that ends the step (step "publish"). */
export class RegistryError extends StepError {
  constructor(readonly registry: string, readonly cause: string, readonly attempts: number, readonly what: string, output: string) {
    super('publish', attempts > 1
      ? `registry ${registry} kept failing: ${cause} on each of ${attempts} attempts of ${what}.`
      : `registry ${registry} refused ${what}: ${cause}.`, output);
    this.name = 'RegistryError';
  }
}

export interface RegistryOp {
  what: string;                              // for people: "docker push REF"
  registry: string | ((output: string) => string);
  probePath: string;                         // what a 429 probe asks when the failure names no URL
  attempt: () => Promise<RunResult>;
  /** Whether a failed attempt's output is the registry's failure at all (a build can fail in a RUN step). */
  isRegistryFailure?: (output: string) => boolean;
}

export interface Attempted { result: RunResult; attempts: number }

/**
 * Runs op, again after a transient registry failure. Returns the successful result; a failure that
 * is not the registry's comes back as is (the caller reports it); the registry's refusals, and
 * failures that outlast the attempts, throw RegistryError.
 */
export async function withRetries(op: RegistryOp, policy: RetryPolicy = DEFAULT_POLICY, log: (line: string) => void = () => {}): Promise<Attempted> {
  for (let n = 1; ; n++) {
    const result = await op.attempt();
    if (result.exitCode === 0) return { result, attempts: n };
    const output = `${result.stderr}\n${result.stdout}`;
    if (op.isRegistryFailure && !op.isRegistryFailure(output)) return { result, attempts: n };
    const fault = registryFault(output);
    if (!fault) return { result, attempts: n };
    const registry = typeof op.registry === 'string' ? op.registry : op.registry(output);
    if (!fault.transient) throw new RegistryError(registry, fault.cause, n, op.what, output);
    const retryAfter = fault.cause.startsWith('429') ? await policy.probe(registry, probePath(output, registry, op.probePath)) : null;
    if (n >= policy.attempts) throw new RegistryError(registry, fault.cause, n, op.what, output);
    if (retryAfter !== null && retryAfter > policy.maxRetryAfterS) throw new RegistryError(registry, `${fault.cause} with Retry-After ${retryAfter} s`, n, op.what, output);
    const wait = backoffMs(n, policy, retryAfter);
    log(`${op.what}: registry ${registry} answered ${fault.cause} (attempt ${n} of ${policy.attempts}); trying again in ${(wait / 1000).toFixed(1)} s${retryAfter !== null ? ` (its Retry-After: ${retryAfter} s)` : ''}`);
    await policy.sleep(wait);
  }
}

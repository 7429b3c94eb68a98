// What the fault tests look at after a job: what it left behind on the host (its processes, its
// smoke containers, its temp dirs, unfinished files in a local cache dir, BuildKit builds still
// running, registry tags that must not exist) and what it lost (outputs it knew, its summary, a
// cache entry that was whole before). Each returns a list of findings; empty means nothing.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheListing, checkEntry } from './cache-entry.js';
import { registryTag, runningBuilds, smokeContainersUnder } from './host.js';
import type { Job } from './job.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it holds; throws after timeoutMs naming `what`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000, everyMs = 200): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** The image digest of each whole entry, by key. */
export function wholeEntries(cacheDir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const key of cacheListing(cacheDir).entries) {
    const c = checkEntry(cacheDir, key);
    if (!c.problems.length && c.digest) out.set(key, c.digest);
  }
  return out;
}

export interface LeftoverScope {
  /** The Docker environment the job used (DOCKER_HOST of a private Engine). */
  env?: NodeJS.ProcessEnv;
  cacheDir?: string;
  /** BuildKit builds of this builder that carry this PCB_FAULT_NONCE (host.ts, slowBuildArgs). */
  builds?: { builder: string; nonce: string };
  /** registry, repo, tag that must not exist. */
  tagsThatMustNotExist?: [registry: string, repo: string, tag: string][];
}

/** What the job left on the host, one line each. */
export async function leftovers(job: Job, scope: LeftoverScope = {}): Promise<string[]> {
  const left: string[] = [];
  for (const p of job.processes()) left.push(`process ${p.args.slice(0, 70)} (pid ${p.pid})`);
  for (const c of await smokeContainersUnder(job.env.RUNNER_TEMP, scope.env)) left.push(`container ${c.name} (${c.state})`);
  for (const d of job.tempDirs()) left.push(`temp dir ${path.basename(d)}`);
  if (scope.cacheDir && fs.existsSync(scope.cacheDir)) {
    const l = cacheListing(scope.cacheDir);
    for (const n of l.tmp) left.push(`cache tmp/${n}`);
    for (const n of l.stray) left.push(`cache entries/${n}`);
    for (const n of l.trash) left.push(`cache trash/${n}`);
    for (const n of l.locks) left.push(`cache locks/${n}`);
    for (const n of l.layers.filter((x) => x.startsWith('new-'))) left.push(`cache layers/${n}`);
  }
  if (scope.builds) for (const ref of await runningBuilds(scope.builds.builder, scope.builds.nonce, scope.env)) left.push(`BuildKit build ${ref} still running`);
  for (const [registry, repo, tag] of scope.tagsThatMustNotExist ?? []) {
    const digest = await registryTag(registry, repo, tag);
    if (digest) left.push(`tag ${repo}:${tag} pushed (${digest.slice(0, 19)})`);
  }
  return left;
}

/** What the job lost: outputs it knew but did not set, its summary, cache entries that were whole before. */
export function lost(job: Job, knownOutputs: string[], cacheDir?: string, entriesBefore?: Map<string, string>): string[] {
  const out: string[] = [];
  const { outputs, summary } = job.files();
  for (const name of knownOutputs) if (!outputs[name]) out.push(`output ${name}`);
  if (!/<h2>Pointcept image /.test(summary)) out.push('the job summary');
  if (cacheDir && entriesBefore) {
    const now = wholeEntries(cacheDir);
    for (const [key, sha] of entriesBefore) if (now.get(key) !== sha) out.push(`cache entry ${key.slice(0, 40)}…`);
  }
  return out;
}

/** A tag of a random suffix, unique to one test. */
export const uniqueTag = () => crypto.randomBytes(4).toString('hex');

// The main build on the load path, when a builder with its own BuildKit fills the runner's Engine:
// the load sends the whole image (the env above all: gigabytes) on every run, even when nothing
// that reaches the image changed. With the plan's reuse check (plan.ts, ReuseCheck), the build
// runs first with the image kept in BuildKit; an Engine that already has an image of that config
// only gets the tags, and the load runs only for an image it does not have.
import * as core from '@actions/core';
import { buildx, type BuildResult, type StageTime } from './buildx.js';
import { engineImageId } from './env-cache/engine.js';
import { DOCKER_QUERY_TIMEOUT_MS, run } from './exec.js';
import type { Plan } from './plan.js';
import type { Redactor } from './redact.js';

/** The image id the classic store gives the image a build exported (its config digest), from buildx's metadata. */
export function configDigestOf(metadata: Record<string, unknown> | null): string | null {
  const d = metadata?.['containerimage.config.digest'];
  return typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d) ? d : null;
}

/**
 * Runs the main build (`build`, the plan's buildArgv). With the plan's reuse check, the check runs
 * first and `build`, the load, only when the Engine lacks the image; every step of it is cached
 * then: the result keeps the check's stage times (where the work was done) plus the load's, and
 * the load's exit code, log and metadata.
 */
export async function buildOrReuse(plan: Plan, build: () => Promise<BuildResult>, redactor: Redactor): Promise<BuildResult> {
  const check = plan.reuseCheck;
  if (!check) return build();
  const first = await buildx(check.argv, { logFile: plan.buildLog, env: plan.secretEnv, redactor, metadataFile: check.metadataFile });
  if (first.exitCode !== 0) return first;
  const id = configDigestOf(first.metadata);
  if (id && (await engineImageId(id)) === id) {
    for (const tag of plan.tags) {
      const t = await run('docker', ['tag', id, tag], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
      if (t.exitCode !== 0) return { ...first, exitCode: t.exitCode, log: `${first.log}\ndocker tag ${id} ${tag}: ${t.stderr.trim()}` };
    }
    core.info(`The Docker Engine already has this image (${id}): it is not loaded again.`);
    const named = plan.tags.length ? { 'image.name': plan.tags.join(',') } : {};
    return { ...first, imageId: id, metadata: { ...first.metadata, ...named } };
  }
  const loaded = await build();
  if (loaded.exitCode !== 0) return loaded;
  return { ...loaded, seconds: tenths(first.seconds + loaded.seconds), summary: { ...loaded.summary, stages: withTimesOf(first.summary.stages, loaded.summary.stages) } };
}

const tenths = (s: number) => Math.round(s * 10) / 10;

/** The check's stages (it did the work) with the seconds the load spent in each added (its export, the rest cached). */
function withTimesOf(check: StageTime[], load: StageTime[]): StageTime[] {
  return check.map((s) => ({ ...s, seconds: tenths(s.seconds + (load.find((l) => l.stage === s.stage)?.seconds ?? 0)) }));
}

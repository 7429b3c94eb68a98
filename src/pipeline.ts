// The stages of one run, in order; src/main.ts wires them. Each stage records what it learned in the
// Outcome, so that outputs and the summary can be written whatever happens later. Data flows one
// way: inputs -> recipe -> preflight -> env-cache session -> plan -> builds -> smoke -> push -> report.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import { buildx, type BuildResult } from './buildx.js';
import { CancelledError, cancellation, cancelMessage } from './cancel.js';
import { loadEnvCache, writeEnvSpec, type EnvCacheModule } from './env-cache/action.js';
import { removeLeftoversOf } from './env-cache/local.js';
import type { EnvCacheSession, SaveResult } from './env-cache/types.js';
import { InputError, PreflightError, StepError, classify, failureLine, tail } from './errors.js';
import { showArgv } from './exec.js';
import { actionDefaults, actionDir, parseInputs, readRawInputs, secretValues, type Inputs } from './inputs.js';
import { buildOrReuse } from './load.js';
import { LOCK_LABEL, makePlan, smokeArgvFor, withEnvBase, withLockLabel, type Plan, type RunFacts } from './plan.js';
import { preflight, type Finding, type Preflight } from './preflight.js';
import { buildPushingByDigest, newPublishOutcome, publishSteps, publishTested, pullPushed } from './publish.js';
import { resolveRecipe, type Recipe } from './recipe.js';
import { Redactor } from './redact.js';
import { outputsFrom, renderSummary, type Failure, type Outcome } from './report.js';
import { runSmoke } from './smoke.js';
import { STATE } from './state.js';

/** Everything one run carries from stage to stage. */
export interface Job {
  inputs: Inputs;
  recipe: Recipe;
  redactor: Redactor;
  outcome: Outcome;
  run: RunFacts;
  workDir: string;
  preflight: Preflight;
  session: EnvCacheSession;
  plan: Plan;
  ec: EnvCacheModule;
  /** The env cache's save on a miss, running beside the smoke run (startSave). */
  saving?: { done: Promise<SaveResult>; stop: AbortController };
}

/** How long the main step waits for the env cache's save after the smoke run before it stops it. */
export const SAVE_WAIT_MS = 10 * 60_000;

/** The env cache's restore options for this builder (src/builder.ts's capabilities). */
function restoreOptions(pf: Preflight, lookupOnly: boolean) {
  return { lookupOnly, namedContexts: pf.adaptation.namedContexts, imageOutputOptions: pf.caps.imageOutputOptions, store: pf.caps.envCacheStore, engineIdIsDigest: pf.caps.engineIdIsDigest, engineSaveLayout: pf.caps.engineSaveLayout };
}

/** Stage 1: every input and the recipe they lead to, secrets masked. Throws InputError before any command runs. */
export function readInputs(outcome: Outcome): { inputs: Inputs; recipe: Recipe; redactor: Redactor } {
  const dir = actionDir();
  const raw = readRawInputs(process.env, actionDefaults(dir));
  const inputs = parseInputs(raw, { actionDir: dir, workspace: process.env.GITHUB_WORKSPACE || process.cwd() });
  const secrets = secretValues(inputs);
  for (const s of secrets) core.setSecret(s);
  outcome.inputs = inputs;
  outcome.dryRun = inputs['dry-run'];
  const recipe = resolveRecipe(inputs, raw);
  if ('errors' in recipe) throw new InputError(recipe.errors);
  outcome.recipe = recipe;
  return { inputs, recipe, redactor: new Redactor(secrets) };
}

/** Each finding said once: errors and warnings as annotations, the rest in the log. */
function announce(findings: Finding[]): void {
  for (const f of findings) {
    if (f.level === 'error') core.error(`preflight: ${f.message}`);
    else if (f.level === 'warn') core.warning(`preflight: ${f.message}`);
    else if (f.level === 'notice') core.notice(`preflight: ${f.message}`);
    else core.info(`preflight ${f.check}: ${f.message}`);
  }
}

/**
 * Stage 2: preflight, the env-cache session and the one plan. A real run stops on a preflight error
 * before the env cache is touched; a dry run looks the env cache up (read-only), prints the plan,
 * and then fails on a preflight error.
 */
export async function planRun(inputs: Inputs, recipe: Recipe, redactor: Redactor, outcome: Outcome): Promise<Job> {
  const dryRun = inputs['dry-run'];
  const runId = `${process.env.GITHUB_RUN_ID ?? 'local'}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}-${crypto.randomBytes(4).toString('hex')}`;
  const workDir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'pcb-'));
  core.saveState(STATE.workDir, workDir);
  const pf = await preflight(inputs, recipe, workDir);
  outcome.preflight = pf;
  announce(pf.findings);
  const errors = pf.findings.filter((f) => f.level === 'error');
  if (errors.length && !dryRun) throw new PreflightError(errors);

  if (recipe.envCache.backend === 'local') core.saveState(STATE.cacheDir, recipe.envCache.cacheDir);
  const ec = await loadEnvCache();
  const session = await ec.restoreEnvCache(recipe.envCache, recipe.key, path.join(workDir, 'env-cache'), restoreOptions(pf, dryRun));
  for (const w of session.warnings) core.warning(w);
  outcome.cache = { backend: recipe.envCache.backend, key: session.key, hit: session.hit, matchedKey: session.matchedKey, lookupOnly: session.lookupOnly, source: session.source, base: session.base, lockFile: '', lockSha256: null, restoreSeconds: session.restoreSeconds, sizeBytes: session.sizeBytes, saved: null, saveSeconds: 0, saveWaitSeconds: 0, warnings: [...session.warnings] };
  const run: RunFacts = { runId, workDir, builderId: workflowRunUrl(process.env) };
  const plan = makePlan(inputs, recipe, pf, run, session);
  outcome.plan = plan;
  for (const n of plan.notices) core.notice(n);
  const job: Job = { inputs, recipe, redactor, outcome, run, workDir, preflight: pf, session, plan, ec };
  if (dryRun) {
    printPlan(job);
    if (errors.length) throw new PreflightError(errors);
  }
  return job;
}

/** The workflow run as provenance's builder-id (build-push-action's form); null outside Actions. */
function workflowRunUrl(env: NodeJS.ProcessEnv): string | null {
  if (!env.GITHUB_REPOSITORY || !env.GITHUB_RUN_ID) return null;
  return `${env.GITHUB_SERVER_URL || 'https://github.com'}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT || '1'}`;
}

function printPlan(job: Job): void {
  const { inputs: i, plan, redactor } = job;
  const shown = { ...i, secrets: i.secrets.map((s) => `${s.name}=***`) };
  const argv = (a: string[]) => showArgv('docker', a, redactor);
  core.info('Dry run: nothing is built, run or pushed.');
  core.info(`Resolved inputs:\n${redactor.text(JSON.stringify(shown, null, 2))}`);
  core.info(`Preflight:\n${job.preflight.findings.map((f) => `  [${f.level}] ${f.check}: ${f.message}`).join('\n')}`);
  for (const n of plan.notes) core.info(n);
  core.info(`Env cache: backend ${job.recipe.envCache.backend}, key ${job.session.key}: ${job.session.hit ? 'hit' : 'miss'} (looked up, nothing restored)`);
  for (const b of plan.envBuilds) core.info(`Env build: ${argv(b.argv)}`);
  core.info(`Build: ${argv(plan.buildArgv)}`);
  if (plan.envSave) core.info(`Env cache save (beside the smoke run): ${argv(plan.envSave.argv)}`);
  core.info(`  (after the env-lock build, the real run adds --label ${LOCK_LABEL}=<sha256 of the env lock>)`);
  core.info(plan.smoke ? `Smoke: ${argv(plan.smokeArgv)} (timeout ${i['smoke-timeout']} s)` : 'Smoke: off (smoke-tests: false)');
  for (const line of publishSteps(plan)) core.info(line);
}

function failTail(log: string, stepTail: string, error: string | null): string {
  return [stepTail || tail(log, 30), error ?? ''].filter((s) => s).join('\n');
}

/** The env builds in order, up to the first that fails. */
async function runEnvBuilds(job: Job): Promise<{ target: string; res: BuildResult }[]> {
  const done: { target: string; res: BuildResult }[] = [];
  for (const b of job.plan.envBuilds) {
    core.startGroup(`Env build: ${b.target}`);
    const res = await buildx(b.argv, { logFile: path.join(job.workDir, `${b.target}.log`), env: { ...job.plan.secretEnv, BUILDX_METADATA_PROVENANCE: 'min' }, redactor: job.redactor, metadataFile: b.metadataFile });
    core.endGroup();
    done.push({ target: b.target, res });
    if (res.exitCode !== 0) break;
  }
  return done;
}

const failedOf = (builds: { target: string; res: BuildResult }[]) => builds.find((b) => b.res.exitCode !== 0);

/**
 * Stage 3: the env builds (env-lock), then the lock's label on the plan. On a hit, env-lock is the
 * first build that reads the cached env: when it fails (BuildKit found a blob that does not match
 * its digest, a registry blob does not download), the run goes on as a miss, with a warning.
 */
export async function envStage(job: Job): Promise<void> {
  const { outcome } = job;
  if (job.plan.envSpecDir) writeEnvSpec(job.inputs, job.plan.envSpecDir);
  let builds = await runEnvBuilds(job);
  let failed = failedOf(builds);
  if (failed && job.session.hit && !cancellation()) {
    const why = failed.res.summary.failedError ?? `docker buildx build --target ${failed.target} exited with ${failed.res.exitCode}`;
    job.session = await job.ec.missAfterAll(job.recipe.envCache, job.session, path.join(job.workDir, 'env-cache'), restoreOptions(job.preflight, false), why);
    core.warning(job.session.warnings[job.session.warnings.length - 1]);
    Object.assign(outcome.cache!, { hit: false, matchedKey: '', source: '', base: null, sizeBytes: null, warnings: [...job.session.warnings] });
    job.plan = makePlan(job.inputs, job.recipe, job.preflight, job.run, job.session);
    outcome.plan = job.plan;
    builds = await runEnvBuilds(job);
    failed = failedOf(builds);
  }
  if (failed) {
    const { target, res } = failed;
    throw new StepError(`env build (${target})`, `docker buildx build --target ${target} failed (exit code ${res.exitCode}).`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  // the base image: on a hit the entry says what the env was built on; on a miss the env-lock build resolved it
  const lockBuild = builds.find((b) => b.target === 'env-lock');
  const base = job.session.base ?? job.ec.baseOf(lockBuild?.res.metadata ?? null, job.recipe.baseImage);
  outcome.cache!.base = base;
  job.plan = withEnvBase(job.plan, job.session, base);
  if (fs.existsSync(job.session.lockPath)) {
    const sha = crypto.createHash('sha256').update(fs.readFileSync(job.session.lockPath)).digest('hex');
    Object.assign(outcome.cache!, { lockFile: job.session.lockPath, lockSha256: sha });
    job.plan = withLockLabel(job.plan, sha);
  }
  outcome.plan = job.plan;
}

/**
 * The env cache's save on a miss, started once the main build has built the env: it runs beside
 * the smoke run (its build output goes to env-save.log, not the job log), and envSaveStage waits
 * for it.
 */
function startSave(job: Job): void {
  const { plan, session } = job;
  if (!plan.envSave || !session.save) return;
  const stop = new AbortController();
  const pf = job.preflight;
  core.info(`env cache: saving ${session.key} beside the smoke run (log: env-save.log)`);
  const build = async () => {
    const res = await buildx(plan.envSave!.argv, { logFile: path.join(job.workDir, 'env-save.log'), env: plan.secretEnv, redactor: job.redactor, quiet: true, signal: stop.signal });
    return { exitCode: res.exitCode, failure: res.summary.failedError ?? tail(res.log, 3), metadata: res.metadata };
  };
  // the Engine image a local save makes: the post step removes it when the main step died before the entry was written
  const claimed = (name: string) => core.saveState(STATE.envImage, JSON.stringify({ name, key: session.key }));
  const done = job.ec.saveEnvCache(job.recipe.envCache, session, { build, base: job.outcome.cache!.base ?? { image: job.recipe.baseImage, digest: null }, store: pf.caps.envCacheStore, engineIdIsDigest: pf.caps.engineIdIsDigest, signal: stop.signal, claimed, layerCacheTo: plan.cacheTo });
  job.saving = { done, stop };
}

/**
 * Stage 6: waits for the env cache's save, at most SAVE_WAIT_MS after the smoke run (then stops
 * it: nothing half is kept), and reports how long it took. Also runs after a failed smoke run; a
 * cancelled job stops it at once.
 */
export async function envSaveStage(job: Job): Promise<void> {
  const saving = job.saving;
  if (!saving) return;
  job.saving = undefined;
  const t0 = Date.now();
  if (cancellation()) saving.stop.abort();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), SAVE_WAIT_MS); });
  let r = await Promise.race([saving.done, late]);
  clearTimeout(timer);
  let warning: string | undefined;
  if (r === null) {
    saving.stop.abort();
    r = await saving.done;
    warning = `env cache: not saved: the save did not finish within ${SAVE_WAIT_MS / 1000} s after the smoke run, so it was stopped (the build is not affected)`;
  }
  warning ??= r.warning;
  const c = job.outcome.cache!;
  Object.assign(c, { saved: r.saved, saveSeconds: r.seconds, saveWaitSeconds: Math.round((Date.now() - t0) / 100) / 10, sizeBytes: r.sizeBytes ?? c.sizeBytes });
  core.saveState(STATE.envImage, ''); // the save ended: its Engine image is the entry's, or removed
  if (r.note) core.info(r.note);
  if (warning && !cancellation()) {
    core.warning(warning);
    c.warnings.push(warning);
  }
}

/** Stage 4: the main build (loaded, or pushed by digest), the env cache's save started on a miss, then the by-digest image pulled for the smoke run. */
export async function buildStage(job: Job): Promise<void> {
  const { plan, outcome, session } = job;
  if (plan.publish) outcome.publish = newPublishOutcome(plan.publish);
  const build = () => buildx(plan.buildArgv, { logFile: plan.buildLog, env: plan.secretEnv, redactor: job.redactor, iidFile: plan.iidFile, metadataFile: plan.metadataFile });
  job.ec.prepareLayerCache(job.recipe.envCache, session, plan.cacheTo);
  core.startGroup('Build');
  const res = plan.publish?.way === 'by-digest'
    ? await buildPushingByDigest(build, (b) => { outcome.build = b; }, outcome.publish!).finally(() => core.endGroup())
    : await buildOrReuse(plan, build, job.redactor).finally(() => core.endGroup());
  outcome.build = res;
  if (res.exitCode !== 0) {
    const step = res.summary.failedStep ? `build step ${res.summary.failedStep}` : 'build';
    throw new StepError('build', `docker buildx build failed (exit code ${res.exitCode}) at ${step}.`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  if (!session.hit) startSave(job);
  if (plan.publish?.way === 'by-digest') await pullPushed(plan, res, outcome.publish!);
}

/** Stage 5: the smoke run in the loaded image. The container stays in the state until it is removed. */
export async function smokeStage(job: Job): Promise<void> {
  const { plan, outcome, inputs } = job;
  if (!plan.smoke) return;
  const imageId = outcome.publish?.imageId ?? outcome.build!.imageId;
  if (!imageId) throw new StepError('smoke', 'The build reported no image id (was the image loaded?).');
  core.saveState(STATE.containers, JSON.stringify([plan.smokeContainer]));
  core.startGroup('Smoke tests');
  const res = await runSmoke(smokeArgvFor(plan, imageId), plan.smokeContainer, plan.reportDir, inputs['smoke-timeout'], path.join(job.workDir, 'smoke.log'), job.redactor);
  core.endGroup();
  outcome.smoke = res;
  if (res.leftBecause === null) core.saveState(STATE.containers, '[]');
  else if (!res.engineGone) core.info(`The smoke container ${plan.smokeContainer} could not be removed yet (${res.leftBecause}); the post step tries again.`);
  if (res.passed || cancellation()) return;
  const failed = res.report?.checks.filter((c) => c.required && !c.ok) ?? [];
  const what = res.timedOut ? `smoke run timed out after ${inputs['smoke-timeout']} s.`
    : failed.length ? `Smoke check${failed.length > 1 ? 's' : ''} failed: ${failed.map((c) => `${c.name} (${c.detail.split('\n')[0].slice(0, 160)})`).join(', ')}.`
    : `The smoke run failed: ${res.reportError ?? `exit code ${res.exitCode}`}.`;
  const detail = [...failed.map((c) => c.detail), tail(res.output, 30)].join('\n');
  throw new StepError('smoke tests', what, detail, classify(`${what}\n${detail}`));
}

/** Stage 7: the tags move to the tested image (src/publish.ts). */
export async function pushStage(job: Job): Promise<void> {
  const { plan, outcome } = job;
  if (!plan.publish) return;
  core.startGroup('Publish');
  try {
    await publishTested(plan, outcome.build!, outcome.publish!);
  } finally {
    core.endGroup();
  }
}

/** Stage 8: for the local backend, the freshly written layer cache replaces the old one. */
export async function finishStage(job: Job): Promise<void> {
  await job.ec.finishLayerCache(job.recipe.envCache, job.session, job.plan.cacheTo);
}

function failureOf(error: unknown, redactor: Redactor, outcome: Outcome): Failure {
  if (error instanceof CancelledError) return { step: error.cancel.stage, message: cancelMessage(error.cancel, outcome.publish?.moved.map((m) => m.tag)), tail: '' };
  if (error instanceof InputError) return { step: 'inputs', message: error.lines.join(' '), lines: error.lines, tail: '' };
  if (error instanceof PreflightError) return { step: 'preflight', message: error.message, tail: '' };
  if (error instanceof StepError) return { step: error.step, message: error.message, diagnosis: error.diagnosis, tail: error.log ? redactor.text(tail(error.log, 40)) : '' };
  const message = error instanceof Error ? error.message : String(error);
  return { step: 'action', message, diagnosis: classify(message), tail: '' };
}

/** The end of every run: what it left in a local cache dir is removed, then the outputs and the summary are written. */
export async function finish(outcome: Outcome, error: unknown, redactor: Redactor, job: Job | null): Promise<void> {
  if (job?.recipe.envCache.backend === 'local') {
    const removed = removeLeftoversOf(job.recipe.envCache.cacheDir, process.pid);
    if (removed.length) core.info(`env cache: removed what this run did not finish: ${removed.join(' ')}`);
  }
  await report(outcome, error, redactor);
}

/** Outputs and summary from whatever is known; marks the step failed on an error (each line annotated once). */
export async function report(outcome: Outcome, error: unknown, redactor: Redactor): Promise<void> {
  if (error instanceof CancelledError) outcome.cancelled = error.cancel;
  if (error) outcome.failure = failureOf(error, redactor, outcome);
  for (const [k, v] of Object.entries(outputsFrom(outcome))) core.setOutput(k, redactor.text(v));
  const summary = renderSummary(outcome, redactor);
  if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(summary).write();
  const f = outcome.failure;
  if (!f) return;
  if (error instanceof InputError) for (const l of error.lines) core.error(l);
  if (error instanceof InputError || error instanceof PreflightError) process.exitCode = core.ExitCode.Failure; // already annotated, line by line
  else core.setFailed(redactor.text(failureLine(f.step, f.message, f.diagnosis)));
}

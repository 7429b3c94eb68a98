// The stages of one run, in order; src/main.ts wires them. Each stage records what it learned in the
// Outcome, so that outputs and the summary can be written whatever happens later. Data flows one
// way: inputs -> recipe -> preflight -> env-cache session -> plan -> builds -> smoke -> push -> report.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as core from '@actions/core';
import { buildx } from './buildx.js';
import { CancelledError, cancellation, cancelMessage } from './cancel.js';
import { loadEnvCache, writeEnvSpec, type EnvCacheModule } from './env-cache/action.js';
import { removeLeftoversOf } from './env-cache/local.js';
import type { EnvCacheSession } from './env-cache/types.js';
import { InputError, PreflightError, StepError, classify, failureLine, tail } from './errors.js';
import { showArgv } from './exec.js';
import { actionDefaults, actionDir, parseInputs, readRawInputs, secretValues, type Inputs } from './inputs.js';
import { LOCK_LABEL, makePlan, smokeArgvFor, withLockLabel, type Plan } from './plan.js';
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
  runId: string;
  workDir: string;
  preflight: Preflight;
  session: EnvCacheSession;
  plan: Plan;
  ec: EnvCacheModule;
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
  const session = await ec.restoreEnvCache(recipe.envCache, recipe.key, path.join(workDir, 'env-cache'), { lookupOnly: dryRun, namedContexts: pf.adaptation.namedContexts, imageOutputOptions: pf.caps.imageOutputOptions });
  for (const w of session.warnings) core.warning(w);
  outcome.cache = { backend: recipe.envCache.backend, key: session.key, hit: session.hit, matchedKey: session.matchedKey, lookupOnly: session.lookupOnly, lockFile: '', lockSha256: null, restoreSeconds: session.restoreSeconds, sizeBytes: session.sizeBytes, saved: null, saveSeconds: 0, warnings: [...session.warnings] };
  const plan = makePlan(inputs, recipe, pf, { runId, workDir, builderId: workflowRunUrl(process.env) }, session);
  outcome.plan = plan;
  for (const n of plan.notices) core.notice(n);
  const job: Job = { inputs, recipe, redactor, outcome, runId, workDir, preflight: pf, session, plan, ec };
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
  core.info(`  (after the env-lock build, the real run adds --label ${LOCK_LABEL}=<sha256 of the env lock>)`);
  core.info(plan.smoke ? `Smoke: ${argv(plan.smokeArgv)} (timeout ${i['smoke-timeout']} s)` : 'Smoke: off (smoke-tests: false)');
  for (const line of publishSteps(plan)) core.info(line);
}

function failTail(log: string, stepTail: string, error: string | null): string {
  return [stepTail || tail(log, 30), error ?? ''].filter((s) => s).join('\n');
}

/** A Dockerfile step's vertex ("[conda-env 3/5] RUN …"); other vertices (exporting, pushing, [internal]) are BuildKit's own work. */
const DOCKERFILE_STEP = /^\[[^\]\s]+ \d+\/\d+\]/;

/**
 * Stage 3: the env builds (env-export on a miss, env-lock), then the lock's label on the plan. The
 * env-export build only writes the cache: when it fails after the env was made (a full disk, a
 * registry that refuses the push) the cache is not saved and the job goes on, as a cache must.
 */
export async function envStage(job: Job): Promise<void> {
  const { plan, outcome } = job;
  if (plan.envSpecDir) writeEnvSpec(job.inputs, plan.envSpecDir);
  for (const b of plan.envBuilds) {
    core.startGroup(`Env build: ${b.target}`);
    const res = await buildx(b.argv, { logFile: path.join(job.workDir, `${b.target}.log`), env: plan.secretEnv, redactor: job.redactor });
    core.endGroup();
    if (res.exitCode !== 0 && b.target === 'env-export' && !cancellation() && !DOCKERFILE_STEP.test(res.summary.failedStep ?? '')) {
      const cause = (res.summary.failedError ?? `exit code ${res.exitCode}`).split('\n')[0].slice(0, 300);
      const warning = `env cache: not saved: writing the env-export output failed (${cause}); the job goes on without saving`;
      core.warning(warning);
      Object.assign(outcome.cache!, { saved: false, warnings: [...outcome.cache!.warnings, warning] });
      fs.rmSync(job.session.exportDir, { recursive: true, force: true });
      continue;
    }
    if (res.exitCode !== 0) throw new StepError(`env build (${b.target})`, `docker buildx build --target ${b.target} failed (exit code ${res.exitCode}).`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  if (fs.existsSync(job.session.lockPath)) {
    const sha = crypto.createHash('sha256').update(fs.readFileSync(job.session.lockPath)).digest('hex');
    Object.assign(outcome.cache!, { lockFile: job.session.lockPath, lockSha256: sha });
    job.plan = withLockLabel(plan, sha);
    outcome.plan = job.plan;
  }
}

/** Stage 4: the main build (loaded, or pushed by digest), the env cache save on a miss, then the by-digest image pulled for the smoke run. */
export async function buildStage(job: Job): Promise<void> {
  const { plan, outcome, session } = job;
  if (plan.publish) outcome.publish = newPublishOutcome(plan.publish);
  const build = () => buildx(plan.buildArgv, { logFile: plan.buildLog, env: plan.secretEnv, redactor: job.redactor, iidFile: plan.iidFile, metadataFile: plan.metadataFile });
  core.startGroup('Build');
  const res = plan.publish?.way === 'by-digest'
    ? await buildPushingByDigest(build, (b) => { outcome.build = b; }, outcome.publish!).finally(() => core.endGroup())
    : await build().finally(() => core.endGroup());
  outcome.build = res;
  if (res.exitCode !== 0) {
    const step = res.summary.failedStep ? `build step ${res.summary.failedStep}` : 'build';
    throw new StepError('build', `docker buildx build failed (exit code ${res.exitCode}) at ${step}.`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  if (!session.hit && job.recipe.envCache.backend !== 'none' && outcome.cache!.saved === null) {
    const saved = await job.ec.saveEnvCache(job.recipe.envCache, session, session.exportDir);
    Object.assign(outcome.cache!, { saved: saved.saved, saveSeconds: saved.seconds, sizeBytes: saved.sizeBytes ?? outcome.cache!.sizeBytes });
    if (saved.note) core.info(saved.note);
    if (saved.warning) {
      core.warning(saved.warning);
      outcome.cache!.warnings.push(saved.warning);
    }
  }
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

/** Stage 6: the tags move to the tested image (src/publish.ts). */
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

/** Stage 7: for the local backend, the freshly written layer cache replaces the old one. */
export async function finishStage(job: Job): Promise<void> {
  await job.ec.finishLayerCache(job.recipe.envCache, job.session);
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

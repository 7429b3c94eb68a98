// The stages of one run, in order. src/main.ts wires them; each stage records what it learned in
// the Outcome so that outputs and the summary can be written whatever happens later.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { buildx } from './buildx.js';
import type { EnvCacheSession, EnvCacheSettings } from './env-cache/types.js';
import { envCacheKey, envCacheRule, envCacheSettings, loadEnvCache, writeEnvSpec, type EnvCacheModule } from './envcache.js';
import { StepError, classify, failureLine, tail } from './errors.js';
import { addRedactions, redact, showArgv } from './exec.js';
import { parseInputs, readRawInputs, secretValues, type Inputs } from './inputs.js';
import { makePlan, readDockerfile, smokeArgvFor, type Facts, type Plan } from './plan.js';
import { preflight } from './preflight.js';
import { pushTested } from './push.js';
import { outputsFrom, renderSummary, type Outcome } from './report.js';
import { runSmoke } from './smoke.js';
import { STATE } from './state.js';


/** The directory the action ships in (two levels above dist/main/index.js). */
export function actionDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export interface Run { inputs: Inputs; outcome: Outcome; workDir: string; runId: string; settings: EnvCacheSettings; key: string; dockerfileText: string; ec: EnvCacheModule }

/** Stage 1: read and validate every input; mask secrets. Throws InputError before anything runs. */
export function getInputs(): Inputs {
  let dockerfileArgs: Record<string, string | null> = {};
  const argsOf = () => dockerfileArgs;
  const inputs = parseInputs(readRawInputs(), actionDir(), [
    (i) => { dockerfileArgs = readDockerfile(fs.readFileSync(i.file, 'utf8')).args; return []; },
    envCacheRule(argsOf),
  ]);
  const secrets = secretValues(inputs);
  for (const s of secrets) core.setSecret(s);
  addRedactions(secrets);
  return inputs;
}

/** Stage 2: work dir, preflight, env-cache key, plan; in dry-run, print it all and stop. */
export async function prepare(inputs: Inputs, outcome: Outcome): Promise<Run | null> {
  const runId = `${process.env.GITHUB_RUN_ID ?? 'local'}-${process.env.GITHUB_RUN_ATTEMPT ?? '1'}-${crypto.randomBytes(4).toString('hex')}`;
  const workDir = fs.mkdtempSync(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'pcb-'));
  core.saveState(STATE.workDir, workDir);
  const pf = await preflight(inputs, workDir);
  outcome.preflight = pf;
  const settings = envCacheSettings(inputs, pf.dockerfileArgs);
  const baseImage = inputs.baseImage || pf.dockerfileArgs.BASE_IMAGE || '';
  const envName = inputs.envName || pf.dockerfileArgs.ENV_NAME || '';
  const key = envCacheKey(inputs, settings, pf.dockerfileText, baseImage, envName);
  const run: Run = { inputs, outcome, workDir, runId, settings, key, dockerfileText: pf.dockerfileText, ec: await loadEnvCache() };
  if (inputs.dryRun) {
    outcome.dryRun = true;
    const session = { key, hit: false, matchedKey: '', buildContexts: [], layerCacheFrom: [], layerCacheTo: [], restoreSeconds: 0, sizeBytes: null, warnings: [], exportDir: path.join(workDir, 'env-export'), lockPath: path.join(workDir, 'env-lock', 'environment.lock') };
    outcome.plan = makePlan(inputs, facts(run, session, null));
    printPlan(run, outcome.plan);
    fs.rmSync(workDir, { recursive: true, force: true });
    return null;
  }
  const errors = pf.findings.filter((f) => f.level === 'error');
  for (const f of pf.findings) (f.level === 'ok' ? core.info : core.warning)(`preflight ${f.check}: ${f.message}`);
  if (errors.length) {
    const text = errors.map((f) => `${f.check}: ${f.message}`).join('\n');
    throw new StepError('preflight', errors.map((f) => f.message).join(' '), text);
  }
  return run;
}

function facts(r: Run, session: EnvCacheSession, lockSha256: string | null): Facts {
  const pf = r.outcome.preflight!;
  return {
    runId: r.runId, workDir: r.workDir, cpus: pf.cpus, memoryGiB: pf.memoryGiB, gpus: pf.gpus, dockerfileArgs: pf.dockerfileArgs,
    envCache: { key: session.key, buildContexts: session.buildContexts, cacheFrom: session.layerCacheFrom, cacheTo: session.layerCacheTo, exports: r.ec.envExportOutputs(r.settings, session, r.workDir) },
    lockSha256,
  };
}

function printPlan(r: Run, plan: Plan): void {
  const shown = { ...r.inputs, secrets: r.inputs.secrets.map((s) => `${s.name}=***`), buildArgs: r.inputs.buildArgs.map((a) => `${a.name}=${redact(a.value)}`) };
  core.info('Dry run: nothing is built, run or pushed.');
  core.info(`Resolved inputs:\n${redact(JSON.stringify(shown, null, 2))}`);
  core.info(`Preflight:\n${r.outcome.preflight!.findings.map((f) => `  [${f.level}] ${f.check}: ${f.message}`).join('\n')}`);
  for (const n of plan.notes) core.info(n);
  core.info(`Env cache: backend ${r.settings.backend}, key ${r.key} (looked up only in a real run)`);
  for (const a of plan.envArgvs) core.info(`Env build: ${showArgv('docker', a)}`);
  core.info(`Build: ${showArgv('docker', plan.buildArgv)}`);
  core.info(plan.smoke ? `Smoke: ${showArgv('docker', plan.smokeArgv)} (timeout ${r.inputs.smokeTimeoutSeconds} s)` : 'Smoke: off (smoke-tests: false)');
  core.info(plan.push ? `Push: docker tag <image-id> + docker push, for ${plan.tags.join(', ')}${plan.smoke ? ' (only if the smoke run passes)' : ''}` : 'Push: off');
}

/** Stage 3: restore the env cache, run the env builds, read the lock, then plan the main build. */
export async function envStage(r: Run): Promise<{ session: EnvCacheSession; plan: Plan }> {
  const session = await r.ec.restoreEnvCache(r.settings, r.key, path.join(r.workDir, 'env-cache'));
  for (const w of session.warnings) core.warning(w);
  r.outcome.cache = { backend: r.settings.backend, key: session.key, hit: session.hit, matchedKey: session.matchedKey, lockFile: '', lockSha256: null, restoreSeconds: session.restoreSeconds, sizeBytes: session.sizeBytes, saved: null, saveSeconds: 0, warnings: [...session.warnings] };
  let plan = makePlan(r.inputs, facts(r, session, null));
  r.outcome.plan = plan;
  writeEnvSpec(r.inputs, plan.envSpecDir);
  for (const argv of plan.envArgvs) {
    const target = argv[argv.indexOf('--target') + 1];
    core.startGroup(`Env build: ${target}`);
    const res = await buildx(argv, { logFile: path.join(r.workDir, `${target}.log`), env: plan.secretEnv });
    core.endGroup();
    if (res.exitCode !== 0) throw new StepError(`env build (${target})`, `docker buildx build --target ${target} failed (exit code ${res.exitCode}).`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  if (session.lockPath && fs.existsSync(session.lockPath)) {
    const lock = fs.readFileSync(session.lockPath);
    r.outcome.cache.lockFile = session.lockPath;
    r.outcome.cache.lockSha256 = crypto.createHash('sha256').update(lock).digest('hex');
  }
  plan = makePlan(r.inputs, facts(r, session, r.outcome.cache.lockSha256));
  r.outcome.plan = plan;
  return { session, plan };
}

function failTail(log: string, stepTail: string, error: string | null): string {
  return [stepTail || tail(log, 30), error ?? ''].filter((s) => s).join('\n');
}

/** Stage 4: the main build (loaded), then the env cache save on a miss. */
export async function buildStage(r: Run, session: EnvCacheSession, plan: Plan): Promise<void> {
  core.startGroup('Build');
  const res = await buildx(plan.buildArgv, { logFile: plan.buildLog, env: plan.secretEnv, iidFile: plan.iidFile, metadataFile: plan.metadataFile });
  core.endGroup();
  r.outcome.build = res;
  if (res.exitCode !== 0) {
    const step = res.summary.failedStep ? `build step ${res.summary.failedStep}` : 'build';
    throw new StepError('build', `docker buildx build failed (exit code ${res.exitCode}) at ${step}.`, failTail(res.log, res.summary.failedTail, res.summary.failedError));
  }
  if (!session.hit && r.settings.backend !== 'none') {
    const saved = await r.ec.saveEnvCache(r.settings, session, session.exportDir);
    Object.assign(r.outcome.cache!, { saved: saved.saved, saveSeconds: saved.seconds, sizeBytes: saved.sizeBytes ?? r.outcome.cache!.sizeBytes });
    if (saved.warning) { core.warning(saved.warning); r.outcome.cache!.warnings.push(saved.warning); }
  }
}

/** Stage 5: the smoke run in the loaded image. */
export async function smokeStage(r: Run, plan: Plan): Promise<void> {
  if (!plan.smoke) return;
  const imageId = r.outcome.build!.imageId;
  if (!imageId) throw new StepError('smoke', 'The build reported no image id (was the image loaded?).');
  core.saveState(STATE.containers, JSON.stringify([plan.smokeContainer]));
  core.startGroup('Smoke tests');
  const res = await runSmoke(smokeArgvFor(plan, imageId), plan.smokeContainer, plan.reportDir, r.inputs.smokeTimeoutSeconds, path.join(r.workDir, 'smoke.log'));
  core.endGroup();
  r.outcome.smoke = res;
  if (res.passed) return;
  const failed = res.report?.checks.filter((c) => c.required && !c.ok) ?? [];
  const what = res.timedOut ? `smoke run timed out after ${r.inputs.smokeTimeoutSeconds} s.`
    : failed.length ? `Smoke check${failed.length > 1 ? 's' : ''} failed: ${failed.map((c) => `${c.name} (${c.detail.split('\n')[0].slice(0, 160)})`).join(', ')}.`
    : `The smoke run failed: ${res.reportError ?? `exit code ${res.exitCode}`}.`;
  const detail = [...failed.map((c) => c.detail), tail(res.output, 30)].join('\n');
  throw new StepError('smoke tests', what, detail, classify(`${what}\n${detail}`));
}

/** Stage 6: push the tested image. */
export async function pushStage(r: Run, plan: Plan): Promise<void> {
  if (!plan.push || !r.inputs.load) {
    if (plan.push && r.outcome.build?.metadata) r.outcome.pushed = { digest: String(r.outcome.build.metadata['containerimage.digest'] ?? ''), tags: plan.tags };
    return;
  }
  const res = await pushTested(r.outcome.build!.imageId, plan.tags);
  r.outcome.pushed = { digest: res.digest, tags: plan.tags };
}

export async function finishStage(r: Run, session: EnvCacheSession): Promise<void> {
  await r.ec.finishLayerCache(r.settings, session);
}

/** Outputs and summary from whatever is known; marks the step failed on an error. */
export async function report(outcome: Outcome, error: unknown): Promise<void> {
  if (error) {
    const e = error as Error & { step?: string; log?: string; diagnosis?: ReturnType<typeof classify>; lines?: string[] };
    outcome.failure = { step: e.step ?? (e.lines ? 'inputs' : 'action'), message: e.lines ? e.lines.join(' ') : e.message, diagnosis: e.diagnosis ?? (e.lines ? undefined : classify(e.message)), tail: e.log ? redact(tail(e.log, 40)) : '' };
  }
  for (const [k, v] of Object.entries(outputsFrom(outcome))) core.setOutput(k, redact(v));
  const md = renderSummary(outcome);
  if (outcome.dryRun && !outcome.failure) return;
  if (process.env.GITHUB_STEP_SUMMARY) fs.appendFileSync(process.env.GITHUB_STEP_SUMMARY, md);
  else if (!outcome.dryRun) core.info(md);
  if (outcome.failure) {
    const e = error as { lines?: string[] };
    if (e.lines) for (const l of e.lines) core.error(l);
    core.setFailed(redact(failureLine(outcome.failure.step, outcome.failure.message, outcome.failure.diagnosis)));
  }
}

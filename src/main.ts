// Entry point of the action: the stages of src/pipeline.ts in order. Outputs and the job summary are
// written from whatever is known, also when a stage fails or the job is cancelled (src/cancel.ts).
import * as core from '@actions/core';
import { CancelledError, cancellation, enterStage, watchForCancel } from './cancel.js';
import { buildStage, envStage, finish, finishStage, planRun, pushStage, readInputs, smokeStage, type Job } from './pipeline.js';
import { NO_SECRETS } from './redact.js';
import type { Outcome } from './report.js';
import { STATE } from './state.js';

const STAGES: [name: string, stage: (job: Job) => Promise<void>][] = [
  ['env builds', envStage],     // env-export on a miss, env-lock; the lock label
  ['build', buildStage],        // the main build (loaded), env cache save on a miss
  ['smoke tests', smokeStage],  // smoke tests in the built image, on the GPU
  ['push', pushStage],          // only reached when the smoke run passed, and never after a cancel
  ['layer cache', finishStage], // the new layer cache replaces the old one
];

export async function main(): Promise<void> {
  const outcome: Outcome = {};
  let redactor = NO_SECRETS;
  let job: Job | null = null;
  let reported: Promise<void> | null = null;
  // once: at the end of the pipeline, or at the cancel deadline if that comes first
  const end = (error: unknown) => (reported ??= finish(outcome, error, redactor, job));
  const runMark = watchForCancel(async () => {
    await end(new CancelledError(cancellation()!));
    process.exit();
  });
  core.saveState(STATE.runMark, runMark);
  core.saveState(STATE.pid, String(process.pid));
  let error: unknown = null;
  try {
    const read = readInputs(outcome); // every input and the recipe, before any command runs
    redactor = read.redactor;
    job = await planRun(read.inputs, read.recipe, redactor, outcome); // preflight, env cache lookup, the plan
    if (!job.inputs['dry-run']) {
      for (const [name, stage] of STAGES) {
        enterStage(name);
        await stage(job);
      }
    }
  } catch (e) {
    error = e;
  }
  const cancelled = cancellation();
  // a stage that failed because its commands were stopped failed because of the cancel
  await end(cancelled && error ? new CancelledError(cancelled) : error);
  if (cancelled) process.exit();
}

await main();

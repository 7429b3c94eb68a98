// Entry point of the action: the stages of src/pipeline.ts in order. Outputs and the job summary are
// written from whatever is known, also when a stage fails.
import { buildStage, envStage, finishStage, planRun, pushStage, readInputs, report, smokeStage } from './pipeline.js';
import { NO_SECRETS } from './redact.js';
import type { Outcome } from './report.js';

export async function main(): Promise<void> {
  const outcome: Outcome = {};
  let redactor = NO_SECRETS;
  let error: unknown = null;
  try {
    const read = readInputs(outcome); // every input and the recipe, before any command runs
    redactor = read.redactor;
    const job = await planRun(read.inputs, read.recipe, redactor, outcome); // preflight, env cache lookup, the plan
    if (!job.inputs['dry-run']) {
      await envStage(job); // env builds (env-export on a miss, env-lock), the lock label
      await buildStage(job); // the main build (loaded), env cache save on a miss
      await smokeStage(job); // smoke tests in the built image, on the GPU
      await pushStage(job); // only reached when the smoke run passed
      await finishStage(job); // the new layer cache replaces the old one
    }
  } catch (e) {
    error = e;
  }
  await report(outcome, error, redactor);
}

await main();

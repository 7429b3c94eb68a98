// Entry point of the action: wires the stages of src/pipeline.ts in order. Outputs and the job
// summary are written from whatever is known, also when a stage fails.
import { buildStage, envStage, finishStage, getInputs, prepare, pushStage, report, smokeStage } from './pipeline.js';
import type { Outcome } from './report.js';

export async function main(): Promise<void> {
  const outcome: Outcome = {};
  let error: unknown = null;
  try {
    const inputs = getInputs(); // every input validated before any command runs
    const run = await prepare(inputs, outcome); // preflight + plan; null after a dry run
    if (run) {
      const { session, plan } = await envStage(run); // env cache restore, env builds, lock
      await buildStage(run, session, plan); // main build (loaded), env cache save on a miss
      await smokeStage(run, plan); // smoke tests in the built image, on the GPU
      await pushStage(run, plan); // only reached when the smoke run passed
      await finishStage(run, session);
    }
  } catch (e) {
    error = e;
  }
  await report(outcome, error);
}

await main();

// A cancelled job. The runner cancels a step by sending SIGINT to the step's process alone; 7.5 s
// later SIGTERM, 2.5 s after that SIGKILL; the post step runs afterwards. Its children get no
// signal, so without this module a build, a smoke container or a push would outlive the job (and
// a push could still move a tag). On the first signal:
//   - no further command starts, except cleanup (src/exec.ts refuses them);
//   - every running command's process group gets SIGINT (buildx cancels the build in BuildKit,
//     docker push drops its request), and SIGKILL GRACE_MS later if it is still there;
//   - the running stage's own cleanup runs (the smoke container is removed: docker run passes
//     SIGINT on to the container's PID 1 only, which ignores it);
//   - the pipeline stops before its next stage, above all before the push, and src/main.ts
//     writes the outputs known so far and a "cancelled during <stage>" summary.
// At DEADLINE_MS, or at a second signal (the runner's SIGTERM), whatever is still running is
// killed, the report is written and the process exits, before the runner's SIGKILL.
// Each command carries RUN_MARK in its environment, so that the post step can find and stop a
// survivor (when this process was killed before it could stop them itself).
import * as crypto from 'node:crypto';
import { markCommands, refuseNewCommands, signalRunning } from './exec.js';

export const GRACE_MS = 5000;
export const DEADLINE_MS = 6500;
export const RUN_MARK = 'POINTCEPT_CONDA_BUILD_RUN';

export interface Cancellation { signal: NodeJS.Signals; stage: string }

let stage = 'preflight';
let cancelled: Cancellation | null = null;
const cleanups = new Set<() => Promise<void>>();

/** The cancellation, once a signal came: the signal and the stage it interrupted. */
export function cancellation(): Cancellation | null {
  return cancelled;
}

/** Thrown where the pipeline stops because the job was cancelled. */
export class CancelledError extends Error {
  constructor(readonly cancel: Cancellation) {
    super(`cancelled (${cancel.signal}) during ${cancel.stage}`);
    this.name = 'CancelledError';
  }
}

/** Marks the start of a stage; throws CancelledError when the job was cancelled before it. */
export function enterStage(name: string): void {
  if (cancelled) throw new CancelledError(cancelled);
  stage = name;
}

/** Runs `fn` with `cleanup` to be run if the job is cancelled meanwhile (e.g. removing a container). */
export async function withCancelCleanup<T>(cleanup: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  cleanups.add(cleanup);
  try {
    return await fn();
  } finally {
    cleanups.delete(cleanup);
  }
}

/**
 * Installs the SIGINT/SIGTERM handlers; returns the mark every command carries (saved for the post
 * step). `atDeadline` writes the report and exits; it is called at DEADLINE_MS after the first
 * signal, or at once on a second one, unless the pipeline has reported by then.
 */
export function watchForCancel(atDeadline: () => Promise<void>): string {
  const mark = crypto.randomBytes(8).toString('hex');
  markCommands(RUN_MARK, mark);
  let deadline: NodeJS.Timeout | undefined;
  const end = () => {
    clearTimeout(deadline);
    signalRunning('SIGKILL');
    void atDeadline();
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (cancelled) return end();
    cancelled = { signal, stage };
    process.stdout.write(`Cancelled (${signal}) during ${stage}: stopping the commands this job started.\n`);
    refuseNewCommands(`the job was cancelled (${signal})`);
    signalRunning('SIGINT');
    for (const c of cleanups) void c();
    setTimeout(() => signalRunning('SIGKILL'), GRACE_MS).unref();
    deadline = setTimeout(end, DEADLINE_MS);
    deadline.unref();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return mark;
}

/** What a cancel during each stage of src/main.ts stopped, and what it left as it was. */
const AFTER_CANCEL: Record<string, string> = {
  preflight: 'nothing was built or pushed',
  'env builds': 'the build was stopped; nothing was pushed',
  build: 'the build was stopped; nothing was pushed',
  'smoke tests': 'the smoke run was stopped and its container removed; nothing was pushed',
  push: 'the push was stopped (a tag it moved before the cancel points at the tested image)',
  'layer cache': 'the image was built, tested and pushed; the new layer cache was not kept',
};

/** The failure message of a cancelled run (the failure line puts the stage before it); `moved`: the tags known to have moved. */
export function cancelMessage(c: Cancellation, moved: string[] = []): string {
  const after = moved.length ? `the push was stopped; ${moved.join(', ')} had moved to the tested image before the cancel` : AFTER_CANCEL[c.stage] ?? 'nothing was pushed';
  return `Cancelled by the runner (${c.signal}): ${after}.`;
}

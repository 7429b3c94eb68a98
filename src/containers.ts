// The smoke container on the Docker Engine, seen after the smoke run: whether the Engine still
// answers, the state the container ended in, and its removal with bounded retries (a daemon that
// is busy, or still removing the container, answers with an error for a while). Every call has a
// timeout: a frozen daemon accepts the connection and never answers.
import { run } from './exec.js';

/** How long one docker query may take before the Engine counts as not answering. */
export const QUERY_TIMEOUT_MS = 10_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Does the Engine answer `docker version` within timeoutMs? */
export async function engineAnswers(timeoutMs = QUERY_TIMEOUT_MS): Promise<boolean> {
  const r = await run('docker', ['version', '--format', '{{.Server.Version}}'], { quiet: true, cleanup: true, timeoutMs });
  return r.exitCode === 0;
}

/** Asks the Engine again and again until it answers or withinMs have passed. */
export async function waitForEngine(withinMs: number): Promise<boolean> {
  const end = Date.now() + withinMs;
  for (;;) {
    const left = end - Date.now();
    if (await engineAnswers(Math.max(1000, Math.min(QUERY_TIMEOUT_MS, left)))) return true;
    if (Date.now() + 1000 >= end) return false;
    await sleep(1000);
  }
}

export interface ContainerState { status: string; exitCode: number; oomKilled: boolean; error: string }

/** The state a container is in (docker container inspect), or null when the Engine does not say. */
export async function containerState(name: string): Promise<ContainerState | null> {
  const r = await run('docker', ['container', 'inspect', '--format', '{{json .State}}', name], { quiet: true, cleanup: true, timeoutMs: QUERY_TIMEOUT_MS });
  if (r.exitCode !== 0) return null;
  try {
    const s = JSON.parse(r.stdout) as { Status?: string; ExitCode?: number; OOMKilled?: boolean; Error?: string };
    return { status: s.Status ?? '', exitCode: s.ExitCode ?? -1, oomKilled: s.OOMKilled === true, error: s.Error ?? '' };
  } catch {
    return null;
  }
}

/** True when a container that `docker rm` was asked to remove is gone (or never existed). */
const gone = (r: { exitCode: number; stderr: string }) => r.exitCode === 0 || /No such container/i.test(r.stderr);

/**
 * Removes a container with its anonymous volumes, retrying with backoff (0.5 s, 1 s, 2 s, 4 s,
 * then every 5 s) for up to withinMs. Returns null once it is gone, else the daemon's last answer.
 */
export async function removeContainer(name: string, withinMs: number): Promise<string | null> {
  const end = Date.now() + withinMs;
  let pause = 500;
  for (;;) {
    const left = end - Date.now();
    const r = await run('docker', ['rm', '--force', '--volumes', name], { quiet: true, cleanup: true, timeoutMs: Math.max(1000, Math.min(QUERY_TIMEOUT_MS, left)) });
    if (gone(r)) return null;
    const error = (r.stderr.trim() || `docker rm exited ${r.exitCode}`).split('\n').filter((l) => l.trim()).slice(-2).join(' ');
    if (Date.now() + pause >= end) return error;
    await sleep(pause);
    pause = Math.min(pause * 2, 5000);
  }
}

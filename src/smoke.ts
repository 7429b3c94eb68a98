// The smoke run: docker run of the image's smoke tests, a timeout that kills the container, the
// container's end told apart (OOM, an Engine that went away), the container removed on every path,
// and the JSON report read and checked.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cancellation, withCancelCleanup } from './cancel.js';
import { containerState, engineAnswers, QUERY_TIMEOUT_MS, removeContainer, type ContainerState } from './containers.js';
import { run, type RunResult } from './exec.js';
import type { Redactor } from './redact.js';

export interface SmokeCheck { name: string; ok: boolean; required: boolean; seconds: number; detail: string; skipped?: boolean }
export interface SmokeReport {
  schema: 1;
  ok: boolean;
  versions: Record<string, string | null>;
  gpu: { name: string; capability: string; driver: string; memory_gib: number } | null;
  checks: SmokeCheck[];
}

export class ReportError extends Error {}

/** Parses and checks a smoke report; throws ReportError naming every field that is wrong. */
export function parseReport(text: string): SmokeReport {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch (e) {
    throw new ReportError(`the smoke report is not JSON: ${(e as Error).message}`);
  }
  const bad: string[] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObj(o)) throw new ReportError('the smoke report is not a JSON object');
  if (o.schema !== 1) bad.push(`schema is ${JSON.stringify(o.schema)}, expected 1`);
  if (typeof o.ok !== 'boolean') bad.push('ok is not a boolean');
  if (!isObj(o.versions)) bad.push('versions is not an object');
  else for (const [k, v] of Object.entries(o.versions)) if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) bad.push(`versions.${k} is neither a string, a number, a boolean nor null`);
  if (o.gpu !== null && o.gpu !== undefined) {
    if (!isObj(o.gpu)) bad.push('gpu is neither an object nor null');
    else {
      for (const k of ['name', 'capability', 'driver']) if (typeof o.gpu[k] !== 'string') bad.push(`gpu.${k} is not a string`);
      if (typeof o.gpu.memory_gib !== 'number') bad.push('gpu.memory_gib is not a number');
    }
  }
  if (!Array.isArray(o.checks)) bad.push('checks is not an array');
  else o.checks.forEach((c, n) => {
    if (!isObj(c)) return bad.push(`checks[${n}] is not an object`);
    if (typeof c.name !== 'string' || c.name === '') bad.push(`checks[${n}].name is not a non-empty string`);
    for (const k of ['ok', 'required']) if (typeof c[k] !== 'boolean') bad.push(`checks[${n}].${k} is not a boolean`);
    if (typeof c.seconds !== 'number') bad.push(`checks[${n}].seconds is not a number`);
    if (c.detail !== undefined && c.detail !== null && typeof c.detail !== 'string') bad.push(`checks[${n}].detail is not a string`);
  });
  if (bad.length) throw new ReportError(`the smoke report does not follow schema 1: ${bad.join('; ')}`);
  const r = o as unknown as SmokeReport;
  r.gpu = r.gpu ?? null;
  // a flag such as torch_cxx11_abi may be a boolean or a number: outputs are strings
  r.versions = Object.fromEntries(Object.entries(r.versions).map(([k, v]) => [k, v === null ? null : String(v)]));
  r.checks = r.checks.map((c) => ({ ...c, detail: c.detail ?? '' }));
  const requiredFailed = r.checks.some((c) => c.required && !c.ok);
  if (r.ok && requiredFailed) throw new ReportError('the smoke report says ok: true but a required check failed');
  return r;
}

export interface SmokeResult {
  exitCode: number;
  timedOut: boolean;
  report: SmokeReport | null;
  reportError: string | null;
  output: string;
  passed: boolean;
  seconds: number;
  /** The Docker Engine did not answer after the run failed: it stopped, crashed or froze during the run. */
  engineGone: boolean;
  /** null once the container is removed, else why it is still there (the post step tries again). */
  leftBecause: string | null;
}

/** How long after smoke-timeout the `docker run` client itself is killed when `docker kill` gets no answer. */
export const KILL_WAIT_MS = 15_000;
/** How long the main step tries to remove the container; the post step tries again for longer. */
export const REMOVE_MS = 5_000;

/** Why a run that wrote no report ended, in words (exit code and the container's state). */
export function noReportReason(exitCode: number, state: ContainerState | null): string {
  if (state?.oomKilled) return `the smoke container ran out of memory and the kernel killed it (OOMKilled, exit code ${state.exitCode})`;
  if (state?.error) return `the smoke container failed: ${state.error} (exit code ${exitCode})`;
  if (exitCode === 137) return 'the smoke run wrote no report: the container was killed (exit code 137, SIGKILL; not by the out-of-memory killer)';
  return `the smoke run wrote no report (exit code ${exitCode})`;
}

/**
 * Runs the smoke argv (which names the container) with a timeout. On timeout the container is
 * killed; a cancelled job removes it at once. After the run, the container's state tells an OOM
 * kill apart, and when the run failed, an Engine that no longer answers is named as the cause.
 * The container is then removed (retried for REMOVE_MS).
 */
export async function runSmoke(argv: string[], container: string, reportDir: string, timeoutSeconds: number, logFile: string, redactor: Redactor): Promise<SmokeResult> {
  fs.mkdirSync(reportDir, { recursive: true });
  fs.chmodSync(reportDir, 0o777); // the image may run as a non-root user
  const reportPath = path.join(reportDir, 'report.json');
  fs.rmSync(reportPath, { force: true });
  const t0 = Date.now();
  let timedOut = false;
  let retry: NodeJS.Timeout | undefined;
  // On timeout, kill the container; again every 2 s in case it was still being created.
  const kill = () => { void run('docker', ['kill', container], { quiet: true, cleanup: true, timeoutMs: QUERY_TIMEOUT_MS }); };
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
    retry = setInterval(kill, 2000);
  }, timeoutSeconds * 1000);
  // a cancel removes the container at once: docker run passes SIGINT only to its PID 1
  let removing: Promise<unknown> = Promise.resolve();
  const removeNow = async () => { removing = removeContainer(container, REMOVE_MS); await removing; };
  let res: RunResult;
  try {
    res = await withCancelCleanup(removeNow, () => run('docker', argv, { logFile, redactor, timeoutMs: timeoutSeconds * 1000 + KILL_WAIT_MS }));
  } finally {
    clearTimeout(timer);
    if (retry) clearInterval(retry);
    await removing;
  }
  const seconds = (Date.now() - t0) / 1000;
  const output = res.stdout + res.stderr;
  const cancelled = cancellation() !== null;
  const failed = res.exitCode !== 0 && !cancelled;
  const engineGone = failed && !(await engineAnswers());
  const state = failed && !engineGone ? await containerState(container) : null;
  // removed after the run, also after a cancel's removal: the daemon may have made the container just after it
  const leftBecause = engineGone ? 'the Docker Engine does not answer' : await removeContainer(container, REMOVE_MS);
  let report: SmokeReport | null = null;
  let reportError: string | null = null;
  if (timedOut) {
    reportError = `smoke run timed out after ${timeoutSeconds} s (the container was killed)`;
  } else if (engineGone) {
    // the CLI's last words, without a logrus prefix (time="..." level=error msg="...")
    const said = res.stderr.trim().split('\n').filter((l) => l.trim()).pop()?.replace(/^time="[^"]*" level=\w+ msg="(.*)"$/, '$1');
    reportError = `the Docker Engine stopped answering during the smoke run (docker run exited ${res.exitCode}${said ? `: ${said.trim()}` : ''})`;
  } else if (fs.existsSync(reportPath)) {
    try {
      report = parseReport(fs.readFileSync(reportPath, 'utf8'));
    } catch (e) {
      reportError = (e as Error).message;
    }
  } else {
    reportError = noReportReason(res.exitCode, state);
  }
  const passed = !timedOut && !cancelled && res.exitCode === 0 && report !== null && report.ok;
  return { exitCode: res.exitCode, timedOut, report, reportError, output, passed, seconds, engineGone, leftBecause };
}

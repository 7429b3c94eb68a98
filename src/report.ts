// Step outputs and the job summary, both computed from what the run learned. The summary is built
// with core.summary's heading, table, list and details builders; every text put into it is escaped,
// and the whole is redacted.
import * as core from '@actions/core';
import type { BuildResult } from './buildx.js';
import type { Cancellation } from './cancel.js';
import { describeBuilder } from './builder.js';
import { failureLine, type Diagnosis } from './errors.js';
import { showArgv } from './exec.js';
import type { Inputs } from './inputs.js';
import { planForPeople, type Plan } from './plan.js';
import type { Preflight } from './preflight.js';
import { leftInRegistry, type PublishOutcome } from './publish.js';
import type { Recipe } from './recipe.js';
import type { Redactor } from './redact.js';
import type { SmokeCheck, SmokeResult } from './smoke.js';

export interface CacheOutcome { backend: string; key: string; hit: boolean; matchedKey: string; lookupOnly: boolean; lockFile: string; lockSha256: string | null; restoreSeconds: number; sizeBytes: number | null; saved: boolean | null; saveSeconds: number; warnings: string[] }
/** lines: one per bad input, when the inputs failed. */
export interface Failure { step: string; message: string; diagnosis?: Diagnosis; tail: string; lines?: string[] }

export interface Outcome {
  inputs?: Inputs;
  recipe?: Recipe;
  preflight?: Preflight;
  plan?: Plan;
  cache?: CacheOutcome;
  build?: BuildResult;
  smoke?: SmokeResult;
  publish?: PublishOutcome;
  failure?: Failure;
  cancelled?: Cancellation;
  dryRun?: boolean;
}

/** Output name -> key of the report's versions object. */
export const VERSION_OUTPUTS: Record<string, string> = {
  'python-version': 'python',
  'torch-version': 'torch',
  'cuda-version': 'torch_cuda',
  'cudnn-version': 'cudnn',
  'spconv-version': 'spconv',
  'cumm-version': 'cumm',
  'torch-geometric-version': 'torch_geometric',
  'flash-attn-version': 'flash_attn',
  'pointops-version': 'pointops',
  'pointgroup-ops-version': 'pointgroup_ops',
};

/** Did the smoke run's GPU checks run (a GPU was asked for and the report saw one)? */
export function gpuChecksRan(o: Outcome): boolean {
  return !!(o.plan?.gpu && o.smoke?.report?.gpu);
}

/** The tested (or, with smoke-tests false, built) image passed what it had to pass. */
const cleared = (o: Outcome) => !!o.plan && (!o.plan.smoke || !!o.smoke?.passed);

/**
 * buildx's metadata file, consistent with what was published: image.name lists the tags that
 * moved, and where docker push made another manifest than the build's (the classic store compresses
 * again), containerimage.digest is the pushed one and the loaded export's descriptor is dropped.
 */
export function publishedMetadata(meta: Record<string, unknown> | null | undefined, p: PublishOutcome | undefined): Record<string, unknown> | null {
  if (!meta) return null;
  if (!p?.moved.length || !p.digest) return meta;
  const out: Record<string, unknown> = { ...meta, 'image.name': p.moved.map((m) => m.tag).join(',') };
  if (out['containerimage.digest'] !== p.digest) {
    out['containerimage.digest'] = p.digest;
    delete out['containerimage.descriptor'];
  }
  return out;
}

/** Every output the action sets; only known values appear (unknown ones are left unset). */
export function outputsFrom(o: Outcome): Record<string, string> {
  const out: Record<string, string> = {};
  const b = o.build;
  const p = o.publish;
  const imageId = p?.imageId ?? b?.imageId;
  if (imageId) out['image-id'] = out.imageid = imageId;
  const builtDigest = typeof b?.metadata?.['containerimage.digest'] === 'string' ? (b.metadata['containerimage.digest'] as string) : '';
  // with push, digest is only ever what the moved tags point at: never an untagged or unpushed digest
  if (o.plan?.push) {
    if (p?.moved.length && p.digest) out.digest = p.digest;
  } else if (builtDigest) out.digest = builtDigest;
  if (p?.testedManifest && p.moved.length && cleared(o)) out['tested-manifest'] = p.testedManifest;
  const tags = o.plan?.tags ?? o.inputs?.tags;
  if (tags) out.tags = tags.join('\n');
  const labels = o.plan?.labels ?? o.inputs?.labels.map((l) => `${l.name}=${l.value}`);
  if (labels) out.labels = labels.join('\n');
  if (o.plan) out.plan = JSON.stringify(planForPeople(o.plan));
  if (o.preflight) out['preflight-ok'] = String(!o.preflight.findings.some((f) => f.level === 'error'));
  const metadata = publishedMetadata(b?.metadata, p);
  if (metadata) out.metadata = JSON.stringify(metadata);
  if (b) out['build-seconds'] = String(b.seconds);
  const r = o.smoke?.report;
  if (r) {
    out.versions = JSON.stringify(r.versions);
    for (const [name, key] of Object.entries(VERSION_OUTPUTS)) out[name] = r.versions[key] ?? '';
    out['gpu-name'] = r.gpu?.name ?? '';
    out['driver-version'] = r.gpu?.driver ?? '';
    out['smoke-report'] = JSON.stringify(r);
  }
  if (o.smoke) out['smoke-passed'] = String(o.smoke.passed);
  if (o.plan) out['gpu-checks-ran'] = String(gpuChecksRan(o));
  const key = o.cache?.key ?? o.recipe?.key;
  if (key) out['cache-key'] = key;
  if (o.cache) {
    out['cache-hit'] = String(o.cache.hit);
    out['cache-matched-key'] = o.cache.matchedKey;
    if (o.cache.lockFile) out['lock-file'] = o.cache.lockFile;
  }
  if (o.failure) out.error = failureLine(o.failure.step, o.failure.message, o.failure.diagnosis);
  return out;
}

// ---- the summary ------------------------------------------------------------------------------------
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const code = (s: string) => (s ? `<code>${esc(s)}</code>` : '—');
const pre = (s: string) => `<pre>${esc(s)}</pre>`;
const th = (data: string) => ({ data, header: true });
const bytes = (n: number | null) => (n === null ? '' : n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/** The smoke checks in the order that reads best: failed required, failed optional, then the rest. */
export function orderChecks(checks: SmokeCheck[]): SmokeCheck[] {
  const rank = (c: SmokeCheck) => (c.ok || c.skipped ? 2 : c.required ? 0 : 1);
  return checks.map((c, n) => ({ c, n })).sort((a, b) => rank(a.c) - rank(b.c) || a.n - b.n).map((x) => x.c);
}

/** "19 checks, 17 required: all passed" / "19 checks, 17 required: 1 required failed, 3 skipped". */
export function checkCount(checks: SmokeCheck[]): string {
  const failedRequired = checks.filter((c) => c.required && !c.ok && !c.skipped).length;
  const failedOptional = checks.filter((c) => !c.required && !c.ok && !c.skipped).length;
  const skipped = checks.filter((c) => c.skipped).length;
  const parts = [failedRequired && `${failedRequired} required failed`, failedOptional && `${failedOptional} optional failed`, skipped && `${skipped} skipped`].filter((p) => p);
  return `${checks.length} check${checks.length === 1 ? '' : 's'}, ${checks.filter((c) => c.required).length} required: ${parts.length ? parts.join(', ') : 'all passed'}`;
}

const result = (c: SmokeCheck) => (c.skipped ? '⏭️ skipped' : c.ok ? '✅ pass' : c.required ? '❌ fail' : '⚠️ fail');

/** The summary's first line: the outcome, and "GPU checks skipped" whenever they were. */
export function headline(o: Outcome): string {
  if (o.dryRun) return `Pointcept image: dry run, ${!o.failure ? '✅ preflight passed' : o.failure.step === 'preflight' ? '❌ preflight failed' : `❌ failed at ${o.failure.step}`}`;
  const smokeRan = !!o.smoke?.report;
  const gpuSkipped = smokeRan && !gpuChecksRan(o);
  if (o.cancelled) return `Pointcept image ⏹️ cancelled during ${o.cancelled.stage}`;
  if (o.failure) return `Pointcept image ❌ failed at ${o.failure.step}${gpuSkipped ? '; GPU checks skipped' : ''}`;
  if (o.plan && !o.plan.smoke) return 'Pointcept image ✅ built; smoke tests off, GPU checks skipped';
  if (gpuSkipped) return 'Pointcept image ✅ built; GPU checks skipped';
  return `Pointcept image ✅ built and tested on ${o.smoke?.report?.gpu?.name ?? 'the GPU'}`;
}

type Row = (string | { data: string; header: boolean })[];

/** The key/value overview: each row's key is its header cell (no empty header row). */
function overviewRows(o: Outcome): Row[] {
  const rows: Row[] = [];
  const row = (k: string, v: string) => rows.push([th(esc(k)), v]);
  const p = o.plan;
  const imageId = o.publish?.imageId ?? o.build?.imageId;
  if (imageId) row('Image ID', code(imageId));
  if (p) row('Tags', p.tags.length ? p.tags.map(code).join('<br>') : '—');
  const pushed = o.publish?.moved.length ? o.publish.digest : null;
  if (pushed) row('Pushed digest', code(pushed));
  else if (p?.push) row('Pushed', o.dryRun ? 'no (dry run); a real run pushes after the smoke run passes'
    : o.cancelled ? (o.cancelled.stage === 'push' ? 'not confirmed (cancelled during the push)' : 'no (cancelled)') : 'no');
  if (p) {
    row('Base image', code(p.baseImage));
    row('CUDA arch list', code(p.torchCudaArchList));
    row('Max jobs', String(p.maxJobs));
    if (o.dryRun) row('Smoke run', p.smoke ? (p.gpu ? 'on the GPU (--gpus all)' : 'without the GPU (--no-gpu)') : 'off');
  }
  if (o.preflight?.builder.driver) row('Builder', `${esc(describeBuilder(o.preflight.builder))}, buildx ${esc(o.preflight.builder.buildx ?? '?')}`);
  if (o.build) row('Build time', `${o.build.seconds} s`);
  const c = o.cache;
  if (c) {
    const saved = c.saved ? ` (saved in ${c.saveSeconds.toFixed(1)} s${c.sizeBytes ? `, ${bytes(c.sizeBytes)}` : ''})` : c.saved === false ? ' (not saved)' : '';
    const state = c.backend === 'none' ? 'off' : c.lookupOnly ? (c.hit ? 'hit (looked up only)' : 'miss (looked up only)')
      : c.hit ? `hit (restored in ${c.restoreSeconds.toFixed(1)} s${c.sizeBytes ? `, ${bytes(c.sizeBytes)}` : ''})` : `miss${saved}`;
    row(`Env cache (${c.backend})`, state);
    row('Env cache key', code(c.key));
    if (c.matchedKey && c.matchedKey !== c.key) row('Matched key', code(c.matchedKey));
    if (c.lockSha256) row('Env lock sha256', code(c.lockSha256));
  }
  return rows;
}

const PREDICATES: Record<string, string> = {
  'https://slsa.dev/provenance/v1': 'provenance (SLSA v1)',
  'https://slsa.dev/provenance/v0.2': 'provenance (SLSA v0.2)',
  'https://spdx.dev/Document': 'SBOM (SPDX)',
  'https://cyclonedx.org/bom': 'SBOM (CycloneDX)',
};

/** The registry's side: each tag with the digest it points at, what was tested, the attestations and annotations found, and what a failure left. */
function addPublished(s: typeof core.summary, o: Outcome): void {
  const p = o.publish;
  if (!p || o.dryRun) return;
  const tested = o.plan?.smoke ? 'tested' : 'pushed (smoke tests off)';
  s.addHeading('Published', 3);
  if (p.moved.length || p.notMoved.length) {
    s.addTable([[th('Tag'), th('Points at')], ...p.moved.map((m) => [code(m.tag), code(m.digest)]), ...p.notMoved.map((t) => [code(t), 'not moved'])]);
  }
  const lines: string[] = [];
  if (p.testedManifest) lines.push(`<b>Platform manifest ${tested}:</b> ${code(p.testedManifest)} (${esc(o.plan?.publish?.platform ?? '')}, config ${code(p.configDigest ?? '')}) in the ${p.digest && p.testedManifest !== p.digest ? `index ${code(p.digest)}` : 'registry'}`);
  if (p.testedManifest) {
    const found = p.attestations.map((t) => PREDICATES[t] ?? t);
    const asked = o.plan?.publish?.attests ?? [];
    lines.push(`<b>Attestations:</b> ${found.length ? found.map(esc).join(', ') : 'none'}${asked.length ? ` (asked for: ${asked.map(code).join(', ')})` : found.length ? " (buildx's default)" : ''}`);
    lines.push(`<b>Annotations:</b> ${p.annotations.length ? p.annotations.map((a) => `${esc(a.level)}: ${code(`${a.key}=${a.value}`)}`).join(', ') : 'none'}`);
  }
  const left = leftInRegistry(p, !!o.smoke);
  if (left) lines.push(`<b>In the registry:</b> ${esc(left)}`);
  for (const l of lines) s.addRaw(`<p>${l}</p>`, true);
}

function addFailure(s: typeof core.summary, f: Failure, cancelled: boolean): void {
  if (f.step === 'preflight') return; // its errors are the Preflight list below
  const d = f.diagnosis;
  if (f.lines?.length) s.addList(f.lines.map(esc));
  else s.addRaw(`<p><b>${cancelled ? 'Cancelled during' : 'Failed at'} ${esc(f.step)}:</b> ${esc(d ? d.title : f.message)}</p>`, true);
  if (d) s.addRaw(`<p><b>Hint:</b> ${esc(d.hint)}</p>`, true);
  if (d && f.message && !f.message.includes(d.title)) s.addQuote(esc(f.message));
  if (f.tail) s.addDetails(`Last lines of the ${esc(f.step)} log`, pre(f.tail));
}

function addSmoke(s: typeof core.summary, o: Outcome): void {
  const smoke = o.smoke;
  const r = smoke?.report;
  if (r) {
    const versions = Object.entries(r.versions);
    if (versions.length) s.addHeading('Versions', 3).addTable([[th('Package'), th('Version')], ...versions.map(([k, v]) => [esc(k), v === null ? '—' : code(v)])]);
    s.addRaw(r.gpu ? `<p><b>GPU:</b> ${esc(r.gpu.name)} (compute capability ${esc(r.gpu.capability)}, ${r.gpu.memory_gib} GiB, driver ${esc(r.gpu.driver)})</p>` : '<p><b>GPU:</b> none (GPU checks skipped)</p>', true);
    if (r.checks.length) {
      s.addHeading('Smoke checks', 3).addRaw(`<p>${esc(checkCount(r.checks))}</p>`, true);
      s.addTable([[th('Check'), th('Result'), th('Required'), th('Seconds'), th('Detail')],
        ...orderChecks(r.checks).map((c) => [esc(c.name), result(c), c.required ? 'yes' : 'no', c.seconds.toFixed(2), esc(c.detail.slice(0, 200))])]);
    }
  }
  if (smoke && (!smoke.passed || !r)) {
    s.addRaw(`<p><b>Smoke run:</b> ${smoke.timedOut ? 'timed out' : `exit code ${smoke.exitCode}`}${smoke.reportError ? ` — ${esc(smoke.reportError)}` : ''}</p>`, true);
    if (smoke.output.trim() && !o.failure?.tail) s.addDetails('Last lines of the smoke run', pre(smoke.output.trim().split('\n').slice(-30).join('\n')));
  }
}

function addPlanCommands(s: typeof core.summary, p: Plan, redactor: Redactor): void {
  const lines = [
    ...p.envBuilds.map((b) => `# env build: ${b.target}\n${showArgv('docker', b.argv, redactor)}`),
    `# build\n${showArgv('docker', p.buildArgv, redactor)}`,
    p.smoke ? `# smoke run\n${showArgv('docker', p.smokeArgv, redactor)}` : '# smoke run: off',
  ];
  s.addDetails('Commands', pre(lines.join('\n\n')));
}

/** The job summary (HTML through core.summary). Secret values never appear (redacted on the way out). */
export function renderSummary(o: Outcome, redactor: Redactor): string {
  const s = core.summary.emptyBuffer();
  s.addHeading(esc(headline(o)), 2);
  if (o.failure) addFailure(s, o.failure, !!o.cancelled);
  const rows = overviewRows(o);
  if (rows.length) s.addTable(rows);
  const notes = [...(o.plan?.notices ?? []), ...(o.cache?.warnings ?? [])];
  if (notes.length) s.addList(notes.map((n) => `⚠️ ${esc(n)}`));
  addSmoke(s, o);
  addPublished(s, o);
  const stages = o.build?.summary.stages ?? [];
  if (stages.length) {
    s.addHeading('Build stages', 3).addTable([[th('Stage'), th('Seconds'), th('Steps'), th('Cached')], ...stages.map((x) => [esc(x.stage), x.seconds.toFixed(1), String(x.steps), String(x.cached)])]);
  }
  const findings = o.preflight?.findings.filter((f) => f.level !== 'ok') ?? [];
  if (findings.length) s.addHeading('Preflight', 3).addList(findings.map((f) => `${f.level === 'error' ? '❌' : f.level === 'warn' ? '⚠️' : 'ℹ️'} <b>${esc(f.check)}</b>: ${esc(f.message)}`));
  if (o.dryRun && o.plan) addPlanCommands(s, o.plan, redactor);
  const text = redactor.text(s.stringify());
  s.emptyBuffer();
  return text;
}

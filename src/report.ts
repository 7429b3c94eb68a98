// Step outputs and the job summary, both computed from what the run learned (pure functions).
import type { BuildResult } from './buildx.js';
import { failureLine, type Diagnosis } from './errors.js';
import { redact } from './exec.js';
import type { Plan } from './plan.js';
import type { Preflight } from './preflight.js';
import type { SmokeResult } from './smoke.js';

export interface CacheOutcome { backend: string; key: string; hit: boolean; matchedKey: string; lockFile: string; lockSha256: string | null; restoreSeconds: number; sizeBytes: number | null; saved: boolean | null; saveSeconds: number; warnings: string[] }
export interface Failure { step: string; message: string; diagnosis?: Diagnosis; tail: string }

export interface Outcome {
  plan?: Plan;
  preflight?: Preflight;
  cache?: CacheOutcome;
  build?: BuildResult;
  smoke?: SmokeResult;
  pushed?: { digest: string; tags: string[] };
  failure?: Failure;
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

/** Every output the action sets; only known values appear (unknown ones are left unset). */
export function outputsFrom(o: Outcome): Record<string, string> {
  const out: Record<string, string> = {};
  const b = o.build;
  if (b?.imageId) out['image-id'] = b.imageId;
  const builtDigest = typeof b?.metadata?.['containerimage.digest'] === 'string' ? (b.metadata['containerimage.digest'] as string) : '';
  if (o.pushed?.digest || builtDigest) out.digest = o.pushed?.digest || builtDigest;
  if (o.plan) out.tags = o.plan.tags.join('\n');
  if (b?.metadata) out.metadata = JSON.stringify(b.metadata);
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
  if (o.cache) {
    out['cache-hit'] = String(o.cache.hit);
    out['cache-key'] = o.cache.key;
    out['cache-matched-key'] = o.cache.matchedKey;
    if (o.cache.lockFile) out['lock-file'] = o.cache.lockFile;
  }
  if (o.failure) out.error = failureLine(o.failure.step, o.failure.message, o.failure.diagnosis);
  return out;
}

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const code = (s: string) => (s ? `\`${s.replace(/`/g, "'")}\`` : '—');
const fence = (s: string) => '```text\n' + s.replace(/```/g, "'''") + '\n```';
function details(title: string, body: string) {
  return `<details><summary>${title}</summary>\n\n${fence(body)}\n\n</details>\n`;
}
const bytes = (n: number | null) => (n === null ? '' : n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`);

/** The job summary, markdown. Secret values never appear (redacted on the way out). */
export function renderSummary(o: Outcome): string {
  const L: string[] = [];
  const ok = !o.failure;
  const smoke = o.smoke;
  L.push(`## Pointcept image ${ok ? '✅ built and tested' : '❌ failed'}${o.plan?.smoke === false && ok ? ' (smoke tests off)' : ''}`, '');
  if (o.failure) {
    const d = o.failure.diagnosis;
    L.push(`**Failed at ${o.failure.step}:** ${esc(d ? d.title : o.failure.message)}`, '');
    if (d) L.push(`**Hint:** ${esc(d.hint)}`, '');
    if (d && o.failure.message && !o.failure.message.includes(d.title)) L.push(`> ${esc(o.failure.message)}`, '');
    if (o.failure.tail) L.push(details(`Last lines of the ${o.failure.step} log`, o.failure.tail));
  }
  L.push('| | |', '|---|---|');
  if (o.build?.imageId) L.push(`| Image ID | ${code(o.build.imageId)} |`);
  if (o.plan) L.push(`| Tags | ${o.plan.tags.length ? o.plan.tags.map(code).join('<br>') : '—'} |`);
  if (o.pushed) L.push(`| Pushed digest | ${code(o.pushed.digest)} |`);
  else if (o.plan?.push) L.push(`| Pushed | no${smoke && !smoke.passed ? ' (smoke tests failed: nothing was pushed)' : ''} |`);
  if (o.plan) {
    L.push(`| Base image | ${code(o.plan.baseImage)} |`);
    L.push(`| CUDA arch list | ${code(o.plan.torchCudaArchList)} |`);
    L.push(`| Max jobs | ${o.plan.maxJobs} |`);
  }
  if (o.preflight) L.push(`| Builder | ${code(o.preflight.builder)} (${o.preflight.builderDriver || '?'}), buildx ${o.preflight.buildxVersion || '?'}, Docker ${o.preflight.dockerVersion || '?'} |`);
  if (o.build) L.push(`| Build time | ${o.build.seconds} s |`);
  if (o.cache) {
    const c = o.cache;
    const state = c.backend === 'none' ? 'off' : c.hit ? `hit (restored in ${c.restoreSeconds.toFixed(1)} s${c.sizeBytes ? `, ${bytes(c.sizeBytes)}` : ''})` : `miss${c.saved ? ` (saved in ${c.saveSeconds.toFixed(1)} s${c.sizeBytes ? `, ${bytes(c.sizeBytes)}` : ''})` : c.saved === false ? ' (not saved)' : ''}`;
    L.push(`| Env cache (${c.backend}) | ${state} |`, `| Env cache key | ${code(c.key)} |`);
    if (c.matchedKey && c.matchedKey !== c.key) L.push(`| Matched key | ${code(c.matchedKey)} |`);
    if (c.lockSha256) L.push(`| Env lock sha256 | ${code(c.lockSha256)} |`);
  }
  L.push('');
  if (o.cache?.warnings.length) L.push(...o.cache.warnings.map((w) => `> ⚠️ ${esc(w)}`), '');

  const r = smoke?.report;
  if (r) {
    L.push('### Versions', '', '| Package | Version |', '|---|---|');
    for (const [k, v] of Object.entries(r.versions)) L.push(`| ${esc(k)} | ${v === null ? '—' : code(v)} |`);
    L.push('');
    L.push(r.gpu ? `**GPU:** ${esc(r.gpu.name)} (compute capability ${esc(r.gpu.capability)}, ${r.gpu.memory_gib} GiB, driver ${esc(r.gpu.driver)})` : '**GPU:** none (GPU checks skipped)', '');
    L.push('### Smoke checks', '', '| Check | Result | Required | Seconds | Detail |', '|---|---|---|---|---|');
    for (const c of r.checks) L.push(`| ${esc(c.name)} | ${c.skipped ? '⏭️ skipped' : c.ok ? '✅ pass' : '❌ fail'} | ${c.required ? 'yes' : 'no'} | ${c.seconds.toFixed(2)} | ${esc(c.detail).slice(0, 200)} |`);
    L.push('');
  }
  if (smoke && (!smoke.passed || !r)) {
    L.push(`**Smoke run:** ${smoke.timedOut ? 'timed out' : `exit code ${smoke.exitCode}`}${smoke.reportError ? ` — ${esc(smoke.reportError)}` : ''}`, '');
    if (smoke.output.trim() && !o.failure?.tail) L.push(details('Last lines of the smoke run', smoke.output.trim().split('\n').slice(-30).join('\n')));
  }
  const stages = o.build?.summary.stages ?? [];
  if (stages.length) {
    L.push('### Build stages', '', '| Stage | Seconds | Steps | Cached |', '|---|---|---|---|');
    for (const s of stages) L.push(`| ${esc(s.stage)} | ${s.seconds.toFixed(1)} | ${s.steps} | ${s.cached} |`);
    L.push('');
  }
  const warn = o.preflight?.findings.filter((f) => f.level !== 'ok') ?? [];
  if (warn.length) L.push('### Preflight', '', ...warn.map((f) => `- ${f.level === 'error' ? '❌' : '⚠️'} **${f.check}**: ${esc(f.message)}`), '');
  return redact(L.join('\n') + '\n');
}

// docker buildx build: run an argv from the plan with --progress plain captured to a log, then
// read what BuildKit reported: per-stage times, the failing step and its last log lines, the
// metadata file and the image id.
import * as fs from 'node:fs';
import { run } from './exec.js';
import type { Redactor } from './redact.js';

export interface StageTime { stage: string; seconds: number; steps: number; cached: number }
export interface BuildLogSummary {
  stages: StageTime[];
  failedStep: string | null;   // e.g. "[extensions 2/4] RUN pip wheel ..."
  failedError: string | null;  // BuildKit's ERROR line
  failedTail: string;          // last lines the failing step printed
}

/** The Dockerfile stage a BuildKit vertex name belongs to: "[linux/amd64 conda-env 2/3] RUN ..." -> conda-env. */
export function stageOf(vertex: string): string {
  const m = /^\[(?:[a-z0-9]+\/[a-z0-9_]+(?:\/\w+)?\s+)?([\w.-]+)(?:\s+\d+\/\d+)?\]/.exec(vertex);
  if (m) return m[1];
  if (/^exporting|^writing image|^naming to|^sending tarball|^importing to docker|^unpacking/.test(vertex)) return 'export';
  return 'other';
}

/** Parses BuildKit's plain progress output. */
export function parsePlainProgress(log: string, tailLines = 30): BuildLogSummary {
  const names = new Map<string, string>();
  const lines = new Map<string, string[]>();
  const byStage = new Map<string, StageTime>();
  let failedId: string | null = null;
  let failedError: string | null = null;
  const stage = (id: string) => {
    const s = stageOf(names.get(id) ?? '');
    if (!byStage.has(s)) byStage.set(s, { stage: s, seconds: 0, steps: 0, cached: 0 });
    return byStage.get(s)!;
  };
  for (const line of log.split(/\r?\n/)) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, id, rest] = m;
    if (!names.has(id)) {
      names.set(id, rest);
      continue;
    }
    const done = /^DONE (\d+(?:\.\d+)?)s$/.exec(rest);
    if (done) {
      const s = stage(id);
      s.seconds += Number(done[1]);
      s.steps += 1;
    } else if (rest === 'CACHED') {
      const s = stage(id);
      s.steps += 1;
      s.cached += 1;
    } else if (rest.startsWith('ERROR')) {
      if (failedId === null || !/^\[internal\]/.test(names.get(id) ?? '')) {
        failedId = id;
        failedError = rest.replace(/^ERROR:?\s*/, '');
      }
    } else {
      const out = /^\d+(?:\.\d+)? (.*)$/.exec(rest);
      if (out) (lines.get(id) ?? lines.set(id, []).get(id)!).push(out[1]);
    }
  }
  // a final "ERROR: failed to solve: ..." line without a vertex
  const solve = /^(?:ERROR: )?failed to solve: (.*)$/m.exec(log);
  if (!failedError && solve) failedError = solve[1];
  const stages = [...byStage.values()].filter((s) => s.stage !== 'other' || s.seconds >= 0.05).map((s) => ({ ...s, seconds: Math.round(s.seconds * 10) / 10 }));
  return {
    stages,
    failedStep: failedId ? names.get(failedId) ?? null : null,
    failedError,
    failedTail: failedId ? (lines.get(failedId) ?? []).slice(-tailLines).join('\n') : '',
  };
}

export interface BuildResult {
  exitCode: number;
  seconds: number;
  log: string;
  summary: BuildLogSummary;
  imageId: string;
  metadata: Record<string, unknown> | null;
}

/** Runs docker with a buildx argv; --progress plain output goes to the log file and (unless quiet) the job log. */
export async function buildx(argv: string[], opts: { logFile: string; env: Record<string, string>; redactor: Redactor; iidFile?: string; metadataFile?: string; quiet?: boolean; signal?: AbortSignal }): Promise<BuildResult> {
  const t0 = Date.now();
  fs.writeFileSync(opts.logFile, '');
  const res = await run('docker', argv, { logFile: opts.logFile, env: opts.env, redactor: opts.redactor, quiet: opts.quiet, signal: opts.signal });
  const seconds = Math.round((Date.now() - t0) / 100) / 10;
  const log = fs.readFileSync(opts.logFile, 'utf8');
  const read = (f?: string) => (f && fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim() : '');
  let metadata: Record<string, unknown> | null = null;
  const metaText = read(opts.metadataFile);
  if (metaText) {
    try { metadata = JSON.parse(metaText) as Record<string, unknown>; } catch { metadata = null; }
  }
  return { exitCode: res.exitCode, seconds, log, summary: parsePlainProgress(log), imageId: read(opts.iidFile), metadata };
}

/**
 * The images a build read, from BuildKit's provenance in the metadata file
 * (`buildx.build.provenance`, whose materials name each as a purl with the digest it resolved to):
 * `pkg:docker/127.0.0.1:5000/base@busybox?platform=...` -> 127.0.0.1:5000/base:busybox.
 */
export function imageMaterials(metadata: Record<string, unknown> | null): { ref: string; digest: string }[] {
  const prov = metadata?.['buildx.build.provenance'] as { materials?: { uri?: string; digest?: { sha256?: string } }[] } | undefined;
  const out: { ref: string; digest: string }[] = [];
  for (const m of prov?.materials ?? []) {
    const purl = /^pkg:docker\/([^?]+)/.exec(m.uri ?? '')?.[1];
    if (!purl || !m.digest?.sha256) continue;
    const text = decodeURIComponent(purl);
    const at = text.lastIndexOf('@');
    const [name, version] = at < 0 ? [text, 'latest'] : [text.slice(0, at), text.slice(at + 1)];
    out.push({ ref: version.startsWith('sha256:') ? `${name}@${version}` : `${name}:${version}`, digest: `sha256:${m.digest.sha256}` });
  }
  return out;
}

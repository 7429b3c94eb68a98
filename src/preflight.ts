// Read-only checks of the runner before anything is built: the Dockerfile, the Docker Engine, buildx
// and the builder (src/builder.ts) and how the plan adapts to it, nvidia-smi and the GPU gate, the
// arch list against the GPUs and the image's CUDA, free disk. Every check becomes a finding; an
// error stops a real run before the env cache is touched, and fails a dry run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { archFindings, autoArchList, type Gpu } from './arch.js';
import { capabilities, compareVersions, inspectBuilder, type BuilderFacts, type Capabilities } from './builder.js';
import { run } from './exec.js';
import type { Inputs } from './inputs.js';
import { adaptToBuilder, usesGpu, type Adaptation } from './plan.js';
import type { Recipe } from './recipe.js';

export const MIN_DRIVER = '550.54.14'; // CUDA 12.4 on Linux
export const MIN_FREE_GIB = 40;

export interface Finding { level: 'ok' | 'notice' | 'warn' | 'error'; check: string; message: string }

/** What the run learned about the runner, read by the plan and the report. */
export interface Preflight {
  findings: Finding[];
  builder: BuilderFacts;
  caps: Capabilities;
  adaptation: Adaptation;
  gpus: Gpu[];
  /** The arch list the build uses: the recipe's, with auto made from the GPUs ('' when it cannot be). */
  archList: string;
  cpus: number;
  memoryGiB: number;
}

/** nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits */
export function parseNvidiaSmi(text: string): Gpu[] {
  return text.split(/\r?\n/).map((l) => l.split(',').map((s) => s.trim())).filter((p) => p.length >= 4 && p[0] !== '')
    .map(([name, capability, driver, mem]) => ({ name, capability, driver, memoryGiB: Math.round((Number(mem) / 1024) * 10) / 10 }));
}

/**
 * The GPU gate and the driver check (pure). With gpu: auto the smoke run must find a GPU: a runner
 * whose NVIDIA stack is broken fails here, before any build or push, instead of shipping an image
 * whose GPU checks were skipped.
 */
export function gpuFindings(i: Pick<Inputs, 'gpu' | 'smoke-tests'>, gpus: Gpu[], smiError: string): Finding[] {
  const out: Finding[] = [];
  if (gpus.length === 0) {
    const seen = `nvidia-smi: ${smiError || 'no GPU listed'}`;
    if (i.gpu === 'true') out.push({ level: 'warn', check: 'gpu', message: `nvidia-smi found no GPU on the runner (${seen}); gpu: true passes --gpus all and relies on the NVIDIA Container Toolkit` });
    else if (i.gpu === 'auto' && i['smoke-tests']) out.push({ level: 'error', check: 'gpu', message: `gpu: auto found no GPU on this runner (${seen}); fix the NVIDIA driver and Container Toolkit so that nvidia-smi lists the GPU, or set gpu: false to build and test without the GPU checks` });
    return out;
  }
  for (const g of gpus) {
    out.push({ level: 'ok', check: 'gpu', message: `${g.name}, compute capability ${g.capability}, ${g.memoryGiB} GiB, driver ${g.driver}` });
    if (compareVersions(g.driver, MIN_DRIVER) < 0) out.push({ level: 'error', check: 'driver', message: `driver ${g.driver} is older than ${MIN_DRIVER}, which CUDA 12.4 needs; update the driver` });
  }
  return out;
}

/** The arch list the build uses, and what is wrong with it (pure). */
export function resolveArch(i: Pick<Inputs, 'gpu' | 'smoke-tests'>, r: Pick<Recipe, 'archList' | 'cuda'>, gpus: Gpu[]): { archList: string; findings: Finding[] } {
  if (r.archList === 'auto') {
    const list = autoArchList(gpus, r.cuda);
    if (!list) return { archList: '', findings: [{ level: 'error', check: 'arch', message: 'torch-cuda-arch-list: auto needs a GPU on the runner; name the compute capabilities instead, e.g. "8.0;8.6;9.0+PTX"' }] };
    return { archList: list, findings: [{ level: 'ok', check: 'arch', message: `torch-cuda-arch-list: auto -> ${list}` }, ...archFindings(list, gpus, r.cuda, false)] };
  }
  if (r.archList === '') return { archList: '', findings: [] };
  return { archList: r.archList, findings: archFindings(r.archList, gpus, r.cuda, i['smoke-tests'] && usesGpu(i, gpus)) };
}

function diskFinding(dir: string): Finding[] {
  try {
    const s = fs.statfsSync(dir);
    const free = (s.bavail * s.bsize) / 2 ** 30;
    return [{ level: free < MIN_FREE_GIB ? 'warn' : 'ok', check: 'disk', message: `${free.toFixed(1)} GiB free under ${dir}${free < MIN_FREE_GIB ? ` (the full image and its build cache need about ${MIN_FREE_GIB} GiB)` : ''}` }];
  } catch {
    return []; // statfs unsupported: nothing to say
  }
}

async function probeGpus(): Promise<{ gpus: Gpu[]; smiError: string }> {
  const smi = await run('nvidia-smi', ['--query-gpu=name,compute_cap,driver_version,memory.total', '--format=csv,noheader,nounits'], { quiet: true });
  if (smi.exitCode === 0) return { gpus: parseNvidiaSmi(smi.stdout), smiError: '' };
  return { gpus: [], smiError: ((smi.stderr || smi.stdout).trim().split('\n')[0] ?? '').replace(/^(Unable to locate executable file: nvidia-smi)\..*$/, '$1') };
}

export async function preflight(i: Inputs, r: Recipe, workDir: string): Promise<Preflight> {
  const findings: Finding[] = [];
  const missing = r.dockerfile.missing;
  findings.push(missing.length
    ? { level: 'error', check: 'dockerfile', message: `${i.file} lacks what the action relies on: ${missing.join(', ')} (see "Bring your own Dockerfile" in the README)` }
    : { level: 'ok', check: 'dockerfile', message: 'all stages and ARGs the action uses are present' });

  const builder = await inspectBuilder(i.builder);
  findings.push(...builder.findings);
  const caps = capabilities(builder.facts);
  const adaptation = adaptToBuilder(i, r.dockerfile, builder.facts, caps);
  findings.push(...adaptation.findings);

  const { gpus, smiError } = i.gpu !== 'false' || r.archList === 'auto' ? await probeGpus() : { gpus: [], smiError: '' };
  findings.push(...gpuFindings(i, gpus, smiError));
  const arch = resolveArch(i, r, gpus);
  findings.push(...arch.findings, ...diskFinding(workDir));
  return {
    // one cause can fail two checks with the same words (a missing docker fails docker and buildx): say it once
    findings: findings.filter((f, n) => findings.findIndex((g) => g.level === f.level && g.message === f.message) === n),
    builder: builder.facts, caps, adaptation, gpus, archList: arch.archList,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
  };
}

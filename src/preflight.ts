// Read-only checks of the runner before anything is built: docker, buildx, the builder and its
// driver, nvidia-smi and the driver version, GPU capability against the arch list, free disk,
// and the Dockerfile's stages and ARGs. Every check becomes a finding; errors stop a real run.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { run } from './exec.js';
import { classify } from './errors.js';
import type { Inputs } from './inputs.js';
import { archCovers, missingFromDockerfile, readDockerfile, resolveArchList, type Gpu } from './plan.js';

export const MIN_DRIVER = '550.54.14'; // CUDA 12.4 on Linux
export const MIN_FREE_GIB = 40;

export interface Finding { level: 'ok' | 'warn' | 'error'; check: string; message: string }
export interface Preflight {
  findings: Finding[];
  dockerVersion: string;
  buildxVersion: string;
  builder: string;
  builderDriver: string;
  gpus: Gpu[];
  cpus: number;
  memoryGiB: number;
  dockerfileText: string;
  dockerfileArgs: Record<string, string | null>;
}

/** -1, 0, 1 for dotted numeric versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let n = 0; n < Math.max(pa.length, pb.length); n++) {
    const d = (pa[n] ?? 0) - (pb[n] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits */
export function parseNvidiaSmi(text: string): Gpu[] {
  return text.split(/\r?\n/).map((l) => l.split(',').map((s) => s.trim())).filter((p) => p.length >= 4 && p[0] !== '')
    .map(([name, capability, driver, mem]) => ({ name, capability, driver, memoryGiB: Math.round((Number(mem) / 1024) * 10) / 10 }));
}

/** docker buildx inspect output -> builder name and driver. */
export function parseBuildxInspect(text: string): { name: string; driver: string } {
  return { name: /^Name:\s*(\S+)/m.exec(text)?.[1] ?? '', driver: /^Driver:\s*(\S+)/m.exec(text)?.[1] ?? '' };
}

/** Findings about GPUs, drivers and the arch list (pure). */
export function gpuFindings(i: Pick<Inputs, 'gpu' | 'torchCudaArchList' | 'smokeTests'>, gpus: Gpu[], smiError: string): Finding[] {
  const out: Finding[] = [];
  if (gpus.length === 0) {
    if (i.gpu === 'true') out.push({ level: 'warn', check: 'gpu', message: `nvidia-smi found no GPU on the runner (${smiError || 'no output'}); gpu: true passes --gpus all and relies on the NVIDIA Container Toolkit` });
    else if (i.gpu === 'auto') out.push({ level: 'warn', check: 'gpu', message: 'nvidia-smi found no GPU; the smoke run will skip GPU checks (gpu: auto)' });
    if (i.torchCudaArchList === 'auto') out.push({ level: 'error', check: 'arch', message: 'torch-cuda-arch-list: auto needs a GPU on the runner; name the compute capabilities instead, e.g. "8.0;8.6;9.0"' });
    return out;
  }
  for (const g of gpus) {
    out.push({ level: 'ok', check: 'gpu', message: `${g.name}, compute capability ${g.capability}, ${g.memoryGiB} GiB, driver ${g.driver}` });
    if (compareVersions(g.driver, MIN_DRIVER) < 0) out.push({ level: 'error', check: 'driver', message: `driver ${g.driver} is older than ${MIN_DRIVER}, which CUDA 12.4 needs; update the driver` });
  }
  const list = resolveArchList(i.torchCudaArchList, gpus) ?? '';
  for (const g of gpus) {
    if (i.gpu !== 'false' && i.smokeTests && !archCovers(list, g.capability)) {
      out.push({ level: 'error', check: 'arch', message: `torch-cuda-arch-list "${list}" has no kernels for ${g.name} (compute capability ${g.capability}); the GPU checks would fail with "no kernel image is available". Add ${g.capability} or use auto` });
    }
  }
  return out;
}

export async function preflight(i: Inputs, workDir: string): Promise<Preflight> {
  const findings: Finding[] = [];
  const add = (level: Finding['level'], check: string, message: string) => findings.push({ level, check, message });
  const fail = (text: string) => { const d = classify(text); return d ? `${d.title} ${d.hint}` : text.trim().split('\n').slice(-3).join(' '); };

  const dockerfileText = fs.readFileSync(i.file, 'utf8');
  const missing = missingFromDockerfile(dockerfileText);
  if (missing.length) add('error', 'dockerfile', `${i.file} lacks what the action relies on: ${missing.join(', ')} (see "Bring your own Dockerfile" in the README)`);
  else add('ok', 'dockerfile', 'all stages and ARGs the action uses are present');

  const dv = await run('docker', ['version', '--format', '{{.Server.Version}}'], { quiet: true });
  const dockerVersion = dv.exitCode === 0 ? dv.stdout.trim() : '';
  if (dv.exitCode === 0) add('ok', 'docker', `Docker Engine ${dockerVersion}`);
  else add('error', 'docker', fail(dv.stderr + dv.stdout));

  const bv = await run('docker', ['buildx', 'version'], { quiet: true });
  const buildxVersion = bv.exitCode === 0 ? (/v\d+\.\d+\.\d+\S*/.exec(bv.stdout)?.[0] ?? bv.stdout.trim()) : '';
  if (bv.exitCode === 0) add('ok', 'buildx', `buildx ${buildxVersion}`);
  else add('error', 'buildx', fail(bv.stderr + bv.stdout));

  let builder = i.builder;
  let builderDriver = '';
  if (bv.exitCode === 0) {
    const bi = await run('docker', ['buildx', 'inspect', ...(i.builder ? [i.builder] : [])], { quiet: true });
    if (bi.exitCode === 0) {
      ({ name: builder, driver: builderDriver } = parseBuildxInspect(bi.stdout));
      add('ok', 'builder', `builder ${builder} (driver ${builderDriver})`);
    } else add('error', 'builder', fail(bi.stderr + bi.stdout));
  }

  let gpus: Gpu[] = [];
  let smiError = '';
  if (i.gpu !== 'false' || i.torchCudaArchList === 'auto') {
    const smi = await run('nvidia-smi', ['--query-gpu=name,compute_cap,driver_version,memory.total', '--format=csv,noheader,nounits'], { quiet: true });
    if (smi.exitCode === 0) gpus = parseNvidiaSmi(smi.stdout);
    else smiError = ((smi.stderr || smi.stdout).trim().split('\n')[0] ?? '').replace(/^(Unable to locate executable file: nvidia-smi)\..*$/, '$1');
  }
  findings.push(...gpuFindings(i, gpus, smiError));

  for (const dir of [workDir]) {
    try {
      const s = fs.statfsSync(dir);
      const free = (s.bavail * s.bsize) / 2 ** 30;
      add(free < MIN_FREE_GIB ? 'warn' : 'ok', 'disk', `${free.toFixed(1)} GiB free under ${dir}${free < MIN_FREE_GIB ? ` (the full image and its build cache need about ${MIN_FREE_GIB} GiB)` : ''}`);
    } catch { /* statfs unsupported: nothing to say */ }
  }
  return {
    findings, dockerVersion, buildxVersion, builder, builderDriver, gpus,
    cpus: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: os.totalmem() / 2 ** 30,
    dockerfileText, dockerfileArgs: readDockerfile(dockerfileText).args,
  };
}

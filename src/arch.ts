// CUDA architecture lists: what the input accepts, what nvcc of each CUDA release can compile, which
// list runs on which GPU, and the list `auto` makes from the runner's GPUs.
import yaml from 'js-yaml';
import type { Finding } from './preflight.js';

export interface Gpu { name: string; capability: string; driver: string; memoryGiB: number }

// From NVIDIA's CUDA release notes: the newest real architecture (sm_XX) nvcc of a release compiles,
// and the oldest one it still supports. A release not listed takes the row of the one before it.
const NEWEST_SM: [cuda: number, sm: number][] = [[11.0, 8.0], [11.1, 8.6], [11.4, 8.7], [11.8, 9.0], [12.8, 12.0], [12.9, 12.1]];
const OLDEST_SM: [cuda: number, sm: number][] = [[11.0, 3.5], [12.0, 5.0], [13.0, 7.5]];

/** What the CUDA the extensions compile with can target. */
export interface CudaLimits { cuda: string; oldest: string; newest: string }

const fixed = (n: number) => n.toFixed(1);
const rowFor = (rows: [number, number][], v: number) => rows.filter(([c]) => c <= v + 1e-9).pop();

export function cudaLimits(cuda: string | null): CudaLimits | null {
  const v = cuda === null ? NaN : Number(cuda);
  const newest = rowFor(NEWEST_SM, v);
  const oldest = rowFor(OLDEST_SM, v);
  return newest && oldest ? { cuda: cuda!, oldest: fixed(oldest[1]), newest: fixed(newest[1]) } : null;
}

/**
 * The CUDA version nvcc will have in the build: the env file's CUDA pin (the extensions compile with
 * the env's nvcc), else the base image's nvidia/cuda tag; null when neither says.
 */
export function cudaVersionOf(envFileText: string, baseImage: string): string | null {
  let deps: unknown[] = [];
  try {
    const doc = yaml.load(envFileText, { schema: yaml.FAILSAFE_SCHEMA }) as { dependencies?: unknown } | null;
    if (doc && Array.isArray(doc.dependencies)) deps = doc.dependencies;
  } catch {
    // not YAML: the env cache key reports it; the image tag may still say
  }
  for (const d of deps) {
    if (typeof d !== 'string') continue;
    const m = /^(?:cuda|cuda-version|cuda-nvcc|cuda-toolkit|cudatoolkit|pytorch-cuda)(?:\s*==?\s*|\s+)(\d+\.\d+)/.exec(d.replace(/^.*::/, '').trim());
    if (m) return m[1];
  }
  return /(?:^|\/)cuda:(\d+\.\d+)/.exec(baseImage)?.[1] ?? null;
}

const ARCH = /^\d+\.\d+[af]?(\+PTX)?$/;
/** '7.5;8.0 8.6,9.0+PTX' -> '7.5;8.0;8.6;9.0+PTX'; 'auto' and '' (the Dockerfile's default) stay; undefined when an entry is not an arch. */
export function normaliseArchList(v: string): string | undefined {
  if (v === 'auto' || v === '') return v;
  const parts = v.split(/[;,\s]+/).filter((s) => s !== '');
  if (parts.length === 0 || !parts.every((p) => ARCH.test(p))) return undefined;
  return [...new Set(parts)].join(';');
}

/** The number of an entry: '9.0a+PTX' -> 9. */
const archNumber = (a: string) => Number(a.replace(/\+PTX$/, '').replace(/[af]$/, ''));

/** Does an arch list run on a GPU of this capability (an exact SASS, or PTX of a lower one)? */
export function archCovers(list: string, capability: string): boolean {
  const cap = Number(capability);
  return list.split(';').some((a) => archNumber(a) === cap || (a.endsWith('+PTX') && archNumber(a) <= cap));
}

/** torch-cuda-arch-list: auto -> the runner's GPUs; a GPU newer than the CUDA compiles for gets PTX of the newest it can. */
export function autoArchList(gpus: Gpu[], limits: CudaLimits | null): string | undefined {
  const caps = [...new Set(gpus.map((g) => g.capability).filter((c) => /^\d+\.\d+$/.test(c)))];
  const entries = new Set(caps.map((c) => (limits && Number(c) > Number(limits.newest) ? `${limits.newest}+PTX` : c)));
  // X+PTX holds the SASS of X too
  const sorted = [...entries].filter((e) => !entries.has(`${e}+PTX`)).sort((a, b) => archNumber(a) - archNumber(b));
  return sorted.length ? sorted.join(';') : undefined;
}

/** The arch list against the CUDA release and the GPUs the smoke run will use. */
export function archFindings(list: string, gpus: Gpu[], limits: CudaLimits | null, gpuChecks: boolean): Finding[] {
  const out: Finding[] = [];
  const shown = `torch-cuda-arch-list "${list}"`;
  if (limits) {
    for (const a of list.split(';')) {
      if (archNumber(a) > Number(limits.newest)) out.push({ level: 'error', check: 'arch', message: `${shown} has ${a}, which CUDA ${limits.cuda} cannot compile (its nvcc goes up to ${limits.newest}); use ${limits.newest}+PTX, which newer GPUs JIT-compile` });
      else if (archNumber(a) < Number(limits.oldest)) out.push({ level: 'error', check: 'arch', message: `${shown} has ${a}, which CUDA ${limits.cuda} no longer compiles (it starts at ${limits.oldest}); remove it` });
    }
  }
  if (!gpuChecks) return out;
  for (const g of gpus) {
    if (archCovers(list, g.capability)) continue;
    const fix = limits && Number(g.capability) > Number(limits.newest)
      ? `CUDA ${limits.cuda} compiles up to ${limits.newest}: add ${limits.newest}+PTX, which the driver JIT-compiles for this GPU`
      : `add ${g.capability} or use auto`;
    out.push({ level: 'error', check: 'arch', message: `${shown} has no kernels for ${g.name} (compute capability ${g.capability}); the GPU checks would fail with "no kernel image is available". ${fix[0].toUpperCase()}${fix.slice(1)}` });
  }
  return out;
}

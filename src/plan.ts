// Pure: inputs + facts about the runner -> every command the action will run. Dry-run prints this
// object; unit tests assert on it.
import * as path from 'node:path';
import type { Inputs } from './inputs.js';

export const REQUIRED_STAGES = ['env-spec', 'env-cache', 'miniforge', 'conda-env', 'env-lock', 'env-export', 'extensions', 'runtime'];
export const REQUIRED_ARGS = ['BASE_IMAGE', 'TORCH_CUDA_ARCH_LIST', 'MAX_JOBS', 'MINIFORGE_VERSION', 'ENV_NAME'];
export const LOCK_LABEL = 'org.pointcept.env.lock.sha256';
export const SMOKE_SCRIPT = '/opt/pointcept/smoke_tests.py';

/** Stage names (FROM ... AS name) and ARG defaults declared in a Dockerfile. */
export function readDockerfile(text: string): { stages: string[]; args: Record<string, string | null> } {
  const stages: string[] = [];
  const args: Record<string, string | null> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    const from = /^FROM\s+(?:--platform=\S+\s+)?\S+\s+AS\s+([\w.-]+)\s*$/i.exec(line);
    if (from) stages.push(from[1].toLowerCase());
    const arg = /^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(line);
    if (arg && !(arg[1] in args && args[arg[1]] !== null)) args[arg[1]] = arg[2] === undefined ? null : arg[2].trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return { stages, args };
}

/** Stages and ARGs the action relies on that a Dockerfile lacks. */
export function missingFromDockerfile(text: string): string[] {
  const { stages, args } = readDockerfile(text);
  return [...REQUIRED_STAGES.filter((s) => !stages.includes(s)).map((s) => `stage ${s}`), ...REQUIRED_ARGS.filter((a) => !(a in args)).map((a) => `ARG ${a}`)];
}

/** The text of the conda-env stage: from its FROM line up to the next FROM. */
export function stageText(dockerfileText: string, stage: string): string {
  const lines = dockerfileText.split(/\r?\n/);
  const start = lines.findIndex((l) => new RegExp(`^\\s*FROM\\s+.*\\s+AS\\s+${stage.replace(/[.-]/g, '\\$&')}\\s*$`, 'i').test(l));
  if (start < 0) return '';
  let end = lines.findIndex((l, i) => i > start && /^\s*FROM\s/i.test(l));
  if (end < 0) end = lines.length;
  return lines.slice(start, end).join('\n');
}

export interface Gpu { name: string; capability: string; driver: string; memoryGiB: number }

export interface Facts {
  runId: string;              // unique per run: names the smoke container
  workDir: string;            // temp dir of this run
  cpus: number;
  memoryGiB: number;
  gpus: Gpu[];                // from nvidia-smi; empty when none was found
  dockerfileArgs: Record<string, string | null>;
  envCache: {
    key: string;
    buildContexts: string[];  // from the env-cache session
    cacheFrom: string[];      // defaults when the user gave none
    cacheTo: string[];
    exports: { target: string; output: string }[];
  };
  lockSha256: string | null;  // of the env lock, once known
}

export interface Plan {
  context: string;
  dockerfile: string;
  environmentFile: string;
  baseImage: string;
  envName: string;
  miniforgeVersion: string;
  torchCudaArchList: string;
  maxJobs: number;
  gpu: boolean;
  smoke: boolean;
  push: boolean;
  tags: string[];
  envSpecDir: string;
  metadataFile: string;
  iidFile: string;
  buildLog: string;
  buildArgs: Record<string, string>;
  secretEnv: Record<string, string>;  // env vars that carry --secret values to buildx
  envArgvs: string[][];               // docker argv of the env-cache builds (env-lock / env-export)
  buildArgv: string[];                // docker argv of the main build
  smokeContainer: string;
  reportDir: string;
  smokeArgv: string[];                // docker argv of the smoke run
  notes: string[];
}

/** max-jobs auto: one compile job per CPU, at most one per 4 GiB of memory (nvcc needs ~2-4 GiB each). */
export function autoMaxJobs(cpus: number, memoryGiB: number): number {
  return Math.max(1, Math.min(cpus, Math.floor(memoryGiB / 4)));
}

/** The arch list for torch-cuda-arch-list: auto = the capabilities of the runner's GPUs. */
export function resolveArchList(value: string, gpus: Gpu[]): string | undefined {
  if (value !== 'auto') return value;
  const caps = [...new Set(gpus.map((g) => g.capability).filter((c) => /^\d+\.\d+$/.test(c)))].sort((a, b) => Number(a) - Number(b));
  return caps.length ? caps.join(';') : undefined;
}

/** Does an arch list run on a GPU of this capability (an exact SASS, or PTX of a lower one)? */
export function archCovers(list: string, capability: string): boolean {
  const cap = Number(capability);
  return list.split(';').some((a) => {
    const n = Number(a.replace(/\+PTX$/, '').replace(/[af]$/, ''));
    return n === cap || (a.endsWith('+PTX') && n <= cap);
  });
}

export function makePlan(i: Inputs, f: Facts): Plan {
  const notes: string[] = [];
  const gpu = i.gpu === 'true' || (i.gpu === 'auto' && f.gpus.length > 0);
  if (i.gpu === 'auto') notes.push(gpu ? `gpu: auto -> true (${f.gpus.length} GPU(s) found)` : 'gpu: auto -> false (no GPU found by nvidia-smi); the smoke run skips GPU checks');
  const arch = resolveArchList(i.torchCudaArchList, f.gpus) ?? '';
  const maxJobs = i.maxJobs === 'auto' ? autoMaxJobs(f.cpus, f.memoryGiB) : i.maxJobs;
  const baseImage = i.baseImage || f.dockerfileArgs.BASE_IMAGE || '';
  const envName = i.envName || f.dockerfileArgs.ENV_NAME || '';
  const miniforgeVersion = i.miniforgeVersion || f.dockerfileArgs.MINIFORGE_VERSION || '';

  const buildArgs: Record<string, string> = { TORCH_CUDA_ARCH_LIST: arch, MAX_JOBS: String(maxJobs) };
  if (i.baseImage) buildArgs.BASE_IMAGE = i.baseImage;
  if (i.miniforgeVersion) buildArgs.MINIFORGE_VERSION = i.miniforgeVersion;
  if (i.envName) buildArgs.ENV_NAME = i.envName;
  for (const a of i.buildArgs) buildArgs[a.name] = a.value;

  const secretEnv: Record<string, string> = {};
  const secretArgs: string[] = [];
  i.secrets.forEach((s, n) => {
    secretEnv[`PCB_SECRET_${n}`] = s.value;
    secretArgs.push('--secret', `id=${s.name},env=PCB_SECRET_${n}`);
  });

  const envSpecDir = path.join(f.workDir, 'env-spec');
  const common = [
    'buildx', 'build',
    ...(i.builder ? ['--builder', i.builder] : []),
    '--file', i.file,
    '--progress', 'plain',
    ...i.platforms.flatMap((p) => ['--platform', p]),
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    '--build-context', `env-spec=${envSpecDir}`,
    ...f.envCache.buildContexts,
    ...secretArgs,
  ];
  const cacheFrom = i.cacheFrom.length ? i.cacheFrom : f.envCache.cacheFrom;
  const cacheTo = i.cacheTo.length ? i.cacheTo : f.envCache.cacheTo;
  const envArgvs = f.envCache.exports.map((e) => [...common, ...cacheFrom.flatMap((c) => ['--cache-from', c]), '--target', e.target, '--output', e.output, i.context]);

  const metadataFile = path.join(f.workDir, 'metadata.json');
  const iidFile = path.join(f.workDir, 'iid.txt');
  const labels = [...i.labels.map((l) => `${l.name}=${l.value}`), ...(f.lockSha256 ? [`${LOCK_LABEL}=${f.lockSha256}`] : [])];
  // The image is loaded for the smoke run and pushed afterwards with docker push (see push.ts);
  // only without load (and so without smoke tests) does buildx push by itself.
  const output = i.load ? ['--load'] : i.push ? ['--push'] : [];
  const buildArgv = [
    ...common,
    '--metadata-file', metadataFile,
    '--iidfile', iidFile,
    ...(i.target ? ['--target', i.target] : []),
    ...labels.flatMap((l) => ['--label', l]),
    ...i.tags.flatMap((t) => ['--tag', t]),
    ...cacheFrom.flatMap((c) => ['--cache-from', c]),
    ...cacheTo.flatMap((c) => ['--cache-to', c]),
    ...output,
    i.context,
  ];

  const smokeContainer = `pcb-smoke-${f.runId}`;
  const reportDir = path.join(f.workDir, 'report');
  const smokeArgv = [
    'run', '--rm', '--name', smokeContainer,
    ...(gpu ? ['--gpus', 'all'] : []),
    '--network', 'none',
    '-v', `${reportDir}:/pcb-report`,
    '<image-id>',
    'python', SMOKE_SCRIPT, '--json', '/pcb-report/report.json',
    ...(gpu ? [] : ['--no-gpu']),
  ];

  return {
    context: i.context, dockerfile: i.file, environmentFile: i.environmentFile, baseImage, envName, miniforgeVersion,
    torchCudaArchList: arch, maxJobs, gpu, smoke: i.smokeTests, push: i.push, tags: i.tags,
    envSpecDir, metadataFile, iidFile, buildLog: path.join(f.workDir, 'build.log'), buildArgs, secretEnv,
    envArgvs, buildArgv, smokeContainer, reportDir, smokeArgv, notes,
  };
}

/** The smoke argv with the built image in place of the placeholder. */
export function smokeArgvFor(plan: Plan, imageId: string): string[] {
  return plan.smokeArgv.map((a) => (a === '<image-id>' ? imageId : a));
}

// The Docker Engines of the runner-setup matrix, as .ci/engines.sh starts them and .ci/.env names
// them (PCB_ENGINES, PCB_ENGINE_<ID>, PCB_ENGINE_<ID>_CLI, PCB_ENGINE_<ID>_HOOK_LOG), and a
// runner on each: the bundled action (dist/) run through run-dist.ts with DOCKER_HOST pointing at
// the Engine, the docker CLI released with that Engine, and a buildx state of its own (a fresh
// runner's: the current builder is the Engine's default one, the docker driver). The action's
// `docker` is a shim that records each call and runs that CLI (run-dist.ts dockerShim), so a test
// can tell which builds ran, with which flags.
//
// STAND-INS (named here as the tests rely on them):
// - `nvidia-smi` on the runner's PATH (gpu: 'stand-in') answers as one GPU would; the Engine's
//   `--gpus all` path then reaches the stand-in nvidia-container-runtime-hook that .ci/engines.sh
//   puts on each dockerd's PATH (it records the call in the Engine's hook log, exposes no device).
//   gpu: 'broken' puts an nvidia-smi there that fails as it does when the driver is not loaded.
// - RUNNER_TOOL_CACHE is left empty: the runner is offline, and with a tool cache the action would
//   try to prefetch Miniforge from github.com first. Tests name the env-cache directory themselves
//   (`cache-dir: runner.cacheDir`), which keeps the cache between the runs of one runner.
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerShim, runMain, runPost, type StepRun } from '../run-dist.js';

export interface Engine {
  /** The name .ci/engines.sh gives it: debian12, 26-classic, 26-containerd, 28-classic, 29-containerd. */
  id: string;
  /** Its DOCKER_HOST. */
  host: string;
  /** The directory of the docker CLI released with the Engine; null: the system's docker. */
  cliDir: string | null;
  /** Where the Engine's stand-in nvidia hook records each `--gpus` container (time, id, NVIDIA_* variables). */
  hookLog: string;
}

/** What the Engine says it is. */
export interface EngineFacts {
  version: string;
  /** The Engine API version, which tells the release line where the version is no release number (a source build). */
  api: string;
  major: number;
  minor: number;
  store: 'classic' | 'containerd';
  /** The driver of the current buildx builder as this runner sees it (its default builder). */
  builderDriver: string;
}

const envName = (id: string) => `PCB_ENGINE_${id.toUpperCase().replace(/-/g, '_')}`;

/** The Engines named by PCB_ENGINES. One named without its variables is an error, never skipped. */
export function matrixEngines(env: NodeJS.ProcessEnv = process.env): Engine[] {
  const ids = (env.PCB_ENGINES ?? '').split(',').map((s) => s.trim()).filter((s) => s);
  return ids.map((id) => {
    const name = envName(id);
    const host = env[name];
    const hookLog = env[`${name}_HOOK_LOG`];
    if (!host || !hookLog) throw new Error(`PCB_ENGINES names ${id}, but ${name} or ${name}_HOOK_LOG is not set (run .ci/setup, then source .ci/.env)`);
    return { id, host, cliDir: env[`${name}_CLI`] || null, hookLog };
  });
}

/** The Engine .ci/setup starts first (no network namespace, --bridge=none): where the remote builder's images are loaded. */
export function mainEngine(env: NodeJS.ProcessEnv = process.env): Engine {
  if (!env.PCB_GPU_HOOK_LOG) throw new Error('PCB_GPU_HOOK_LOG is not set (run .ci/setup, then source .ci/.env)');
  return { id: 'main', host: env.DOCKER_HOST || 'unix:///var/run/docker.sock', cliDir: null, hookLog: env.PCB_GPU_HOOK_LOG };
}

/** The Engine with this id; throws when .ci/setup did not start it. */
export function matrixEngine(id: string, env: NodeJS.ProcessEnv = process.env): Engine {
  const found = matrixEngines(env).find((e) => e.id === id);
  if (!found) throw new Error(`engine ${id} is not in PCB_ENGINES (${env.PCB_ENGINES ?? 'unset'}); .ci/engines.sh starts it`);
  return found;
}

/** The manifest digest the registry serves for REGISTRY/REPO:TAG (HEAD, Docker-Content-Digest), or null. */
export async function servedDigest(ref: string): Promise<string | null> {
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(ref);
  if (!m) throw new Error(`servedDigest takes REGISTRY/REPO:TAG, got ${ref}`);
  const accept = ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'];
  const res = await fetch(`http://${m[1]}/v2/${m[2]}/manifests/${m[3]}`, { method: 'HEAD', headers: { Accept: accept.join(', ') } });
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`registry answered ${res.status} for ${ref}`);
  return res.headers.get('docker-content-digest');
}

export type RunnerGpu = 'stand-in' | 'broken';

const NVIDIA_SMI: Record<RunnerGpu, string> = {
  // name, compute_cap, driver_version, memory.total (MiB), as --format=csv,noheader,nounits prints them
  'stand-in': '#!/bin/sh\n# STAND-IN nvidia-smi: one GPU, as the real one reports it\necho "Stand-in GPU, 9.0, 570.86.15, 143771"\n',
  broken: '#!/bin/sh\n# STAND-IN nvidia-smi of a runner whose NVIDIA driver is not loaded\necho "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." >&2\nexit 9\n',
};

export interface RunnerOptions {
  gpu?: RunnerGpu;
  /** A docker-buildx plugin binary that this runner uses in place of the machine's (its own DOCKER_CONFIG/cli-plugins). */
  buildxPlugin?: string;
}

/** A self-hosted runner whose Docker Engine is one of the matrix Engines (or the main one). */
export class EngineRunner {
  /** This runner's own files: buildx state, env cache, stand-in nvidia-smi. */
  readonly dir: string;
  /** A local env-cache directory that the runs of this runner share. */
  readonly cacheDir: string;
  /** Its GITHUB_RUN_ID: its smoke containers are pcb-smoke-<runId>-..., told apart from other runners' on a shared Engine. */
  readonly runId = `matrix${crypto.randomBytes(4).toString('hex')}`;
  private readonly images = new Set<string>();
  private readonly shim: ReturnType<typeof dockerShim>;
  private readonly dockerConfig: string | null = null;

  constructor(readonly engine: Engine, opts: RunnerOptions = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `pcb-runner-${engine.id}-`));
    this.cacheDir = path.join(this.dir, 'env-cache');
    fs.mkdirSync(path.join(this.dir, 'buildx'));
    fs.mkdirSync(path.join(this.dir, 'bin'));
    fs.writeFileSync(path.join(this.dir, 'bin', 'nvidia-smi'), NVIDIA_SMI[opts.gpu ?? 'stand-in'], { mode: 0o755 });
    this.shim = dockerShim(engine.cliDir ? path.join(engine.cliDir, 'docker') : execFileSync('sh', ['-c', 'command -v docker'], { encoding: 'utf8' }).trim());
    if (opts.buildxPlugin) {
      this.dockerConfig = path.join(this.dir, 'docker-config');
      fs.mkdirSync(path.join(this.dockerConfig, 'cli-plugins'), { recursive: true });
      fs.symlinkSync(opts.buildxPlugin, path.join(this.dockerConfig, 'cli-plugins', 'docker-buildx'));
    }
  }

  /** The environment the action sees on this runner (extraEnv of runMain). Its nvidia-smi comes before the shim's. */
  env(): Record<string, string> {
    const dirs = [path.join(this.dir, 'bin'), this.shim.dir, process.env.PATH ?? ''];
    return {
      DOCKER_HOST: this.engine.host, PATH: dirs.join(':'), BUILDX_CONFIG: path.join(this.dir, 'buildx'), RUNNER_TOOL_CACHE: '', GITHUB_RUN_ID: this.runId,
      ...(this.dockerConfig ? { DOCKER_CONFIG: this.dockerConfig } : {}),
    };
  }

  /** docker ARGS on this runner (not recorded); its stdout, trimmed. */
  docker(...args: string[]): string {
    const env = { ...process.env, ...this.env(), PATH: [...(this.engine.cliDir ? [this.engine.cliDir] : []), process.env.PATH ?? ''].join(':') };
    return execFileSync('docker', args, { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  }

  /** The docker calls the action's runs made so far ('docker buildx build ...', one string each), until resetCalls(). */
  calls(): string[] {
    return this.shim.calls();
  }

  /** `docker buildx build` calls so far. */
  builds(): string[] {
    return this.calls().filter((c) => c.startsWith('docker buildx build '));
  }

  /** Forgets the recorded calls (between the runs of one test). */
  resetCalls(): void {
    fs.rmSync(path.join(this.shim.dir, 'calls.log'), { force: true });
  }

  facts(): EngineFacts {
    const version = this.docker('version', '--format', '{{.Server.Version}}');
    const api = this.docker('version', '--format', '{{.Server.APIVersion}}');
    const [major, minor] = version.split('.').map((n) => parseInt(n, 10));
    const driverType = this.docker('info', '--format', '{{range .DriverStatus}}{{if eq (index . 0) "driver-type"}}{{index . 1}}{{end}}{{end}}');
    const driver = /^Driver:\s*(\S+)/m.exec(this.docker('buildx', 'inspect'))?.[1] ?? '';
    return { version, api, major, minor, store: driverType === 'io.containerd.snapshotter.v1' ? 'containerd' : 'classic', builderDriver: driver };
  }

  /**
   * This runner's smoke containers started since SINCE (unix seconds) that went through the Engine's
   * --gpus path: the Engine's start events name them, the stand-in hook's log holds their ids.
   */
  gpuSmokeContainers(since: number): string[] {
    const started = this.docker('events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1),
      '--filter', 'type=container', '--filter', 'event=start', '--format', '{{.Actor.ID}} {{index .Actor.Attributes "name"}}');
    const hook = fs.existsSync(this.engine.hookLog) ? fs.readFileSync(this.engine.hookLog, 'utf8') : '';
    return started.split('\n').map((l) => l.split(' ')).filter(([id, name]) => name?.startsWith(`pcb-smoke-${this.runId}-`) && new RegExp(`id=${id} NVIDIA_VISIBLE_DEVICES=all`).test(hook)).map(([, name]) => name);
  }

  /** This runner's smoke containers present on the Engine. */
  smokeContainers(): string[] {
    return this.docker('ps', '--all', '--quiet', '--filter', `name=pcb-smoke-${this.runId}-`).split('\n').filter((l) => l);
  }

  /** The main step, then the post step, as a runner runs them; the images it puts into the Engine are removed by cleanup(). */
  async run(inputs: Record<string, string>): Promise<{ main: StepRun; post: { code: number; stdout: string }; gpuSmokeContainers: string[] }> {
    const since = Math.floor(Date.now() / 1000) - 1;
    const main = await runMain(inputs, this.env());
    for (const ref of [...(main.outputs.tags ?? '').split('\n'), main.outputs['image-id'] ?? '']) if (ref) this.images.add(ref);
    // the docker driver also keeps an image it pushes as the registry env cache
    const envBuilds = main.outputs.plan ? (JSON.parse(main.outputs.plan) as { envBuilds: { argv: string[] }[] }).envBuilds : [];
    for (const a of envBuilds.flatMap((b) => b.argv)) {
      const name = /^type=image,name=([^,]+)/.exec(a)?.[1];
      if (name) this.images.add(name);
    }
    const post = await runPost(main);
    return { main, post, gpuSmokeContainers: this.gpuSmokeContainers(since) };
  }

  /** Removes the images the runs put into the Engine (the registry keeps what was pushed) and this runner's files. */
  cleanup(): void {
    for (const ref of this.images) {
      try { this.docker('image', 'rm', '--force', ref); } catch { /* not there, or already gone */ }
    }
    this.images.clear();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

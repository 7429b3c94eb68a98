// Helpers for the env-cache end-to-end tests: a private buildkitd + buildx `remote` builder that a
// test can wipe completely (stop, delete its state, start again) without touching the shared
// builder other tests use, and docker buildx builds of the fixture.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const E2E = process.env.PCB_E2E === '1';
export const REGISTRY = process.env.PCB_REGISTRY ?? '127.0.0.1:5000';
export const BASE_IMAGE = process.env.PCB_BASE_IMAGE ?? `${REGISTRY}/pcb-base:busybox`;
const REPO = path.join(__dirname, '../..');

function findBuildkitd(): string {
  const ciBin = process.env.PCB_CI_BIN ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pointcept-conda-build', 'ci', 'bin');
  for (const d of [...(process.env.PATH ?? '').split(':'), ciBin]) {
    if (d && fs.existsSync(path.join(d, 'buildkitd'))) return path.join(d, 'buildkitd');
  }
  throw new Error('buildkitd not found on PATH nor in the CI bin dir (run .ci/setup)');
}

export function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, input: opts.input, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

export async function shAsync(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (out += b));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

/** A buildkitd of this test's own (OCI worker, host network) behind a buildx remote builder. */
export class PrivateBuilder {
  readonly name: string;
  private readonly dir: string;
  private pid = 0;
  constructor(label: string) {
    this.name = `pcb-envcache-${label}-${process.pid}`;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `pcb-bk-${label}-`));
  }
  get sock(): string {
    return path.join(this.dir, 'buildkitd.sock');
  }
  async start(): Promise<void> {
    const root = path.join(this.dir, 'root');
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(this.dir, 'buildkitd.toml'), [
      `root = "${root}"`,
      '[grpc]',
      `  address = ["unix://${this.sock}"]`,
      '[worker.oci]',
      '  enabled = true',
      '  snapshotter = "overlayfs"',
      '[worker.containerd]',
      '  enabled = false',
      `[registry."${REGISTRY}"]`,
      '  http = true',
      '  insecure = true',
      '',
    ].join('\n'));
    const log = fs.openSync(path.join(this.dir, 'buildkitd.log'), 'a');
    const p = spawn(findBuildkitd(), ['--config', path.join(this.dir, 'buildkitd.toml'), '--oci-worker-net=host'], { detached: true, stdio: ['ignore', log, log] });
    p.unref();
    this.pid = p.pid ?? 0;
    for (let i = 0; i < 60; i++) {
      if (fs.existsSync(this.sock)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    sh('docker', ['buildx', 'rm', this.name]);
    const c = sh('docker', ['buildx', 'create', '--name', this.name, '--driver', 'remote', `unix://${this.sock}`]);
    if (c.code !== 0) throw new Error(`docker buildx create failed: ${c.out}`);
    for (let i = 0; i < 60; i++) {
      if (sh('docker', ['buildx', 'inspect', '--bootstrap', this.name]).code === 0) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`builder ${this.name} did not come up:\n${fs.readFileSync(path.join(this.dir, 'buildkitd.log'), 'utf8').slice(-2000)}`);
  }
  /** Stops buildkitd (the process this object started, by its pid). */
  async stop(): Promise<void> {
    sh('docker', ['buildx', 'rm', this.name]);
    if (!this.pid) return;
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      this.pid = 0;
      return;
    }
    for (let i = 0; i < 60; i++) {
      try {
        process.kill(this.pid, 0);
      } catch {
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    this.pid = 0;
  }
  /** A cold builder: buildkitd stopped, its whole state (layers, cache mounts) deleted, started again. */
  async wipe(): Promise<void> {
    await this.stop();
    fs.rmSync(path.join(this.dir, 'root'), { recursive: true, force: true });
    await this.start();
  }
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A build context: the fixture project plus the real docker/create-env.sh. */
export function makeContext(dir: string): string {
  fs.cpSync(path.join(__dirname, 'fixture'), dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'docker'), { recursive: true });
  fs.copyFileSync(path.join(REPO, 'docker', 'create-env.sh'), path.join(dir, 'docker', 'create-env.sh'));
  return dir;
}

export interface Build {
  builder: string;
  context: string;
  target: string;
  /** one --output, or several in one build */
  output: string | string[];
  buildContexts: string[];
  envSpecDir: string;
  extra?: string[];
}

export function buildArgv(b: Build): string[] {
  return [
    'buildx', 'build', '--builder', b.builder, '--progress', 'plain',
    '--build-arg', `BASE_IMAGE=${BASE_IMAGE}`,
    '--build-context', `env-spec=${b.envSpecDir}`,
    ...b.buildContexts,
    '--target', b.target, ...[b.output].flat().flatMap((o) => ['--output', o]),
    ...(b.extra ?? []),
    b.context,
  ];
}

export async function build(b: Build): Promise<string> {
  const r = await shAsync('docker', buildArgv(b));
  if (r.code !== 0) throw new Error(`docker ${buildArgv(b).join(' ')} failed:\n${r.out.slice(-4000)}`);
  return r.out;
}

const ENV_STAGES = `FROM \${BASE_IMAGE} AS conda-env
ARG MINIFORGE_VERSION
ARG ENV_NAME
ARG MINIFORGE_SHA256=
RUN --mount=type=bind,from=env-spec,target=/pcb/env-spec \\
    --mount=type=bind,from=miniforge,target=/pcb/miniforge \\
    --mount=type=cache,target=/pcb/pkgs,sharing=locked \\
    --mount=type=bind,source=docker/create-env.sh,target=/pcb/create-env.sh \\
    ENV_NAME="\${ENV_NAME}" MINIFORGE_VERSION="\${MINIFORGE_VERSION}" \\
    MINIFORGE_SHA256="\${MINIFORGE_SHA256}" CONDA_PKGS_DIRS=/pcb/pkgs \\
    sh /pcb/create-env.sh create
ENV PATH=/opt/conda/envs/\${ENV_NAME}/bin:/opt/conda/bin:/usr/local/bin:/usr/bin:/bin

FROM scratch AS env-lock
COPY --from=conda-env /opt/conda/pcb-env.lock /environment.lock
`;

/**
 * The action's fixture project (__tests__/fixtures/project) with its env stages replaced by the real
 * ones: the real docker/create-env.sh, and the STAND-IN Miniforge installer in the miniforge stage.
 */
export function makeActionContext(dir: string): string {
  fs.cpSync(path.join(REPO, '__tests__', 'fixtures', 'project'), dir, { recursive: true });
  fs.copyFileSync(path.join(REPO, 'docker', 'create-env.sh'), path.join(dir, 'docker', 'create-env.sh'));
  fs.cpSync(path.join(__dirname, 'fixture', 'standin'), path.join(dir, 'standin'), { recursive: true });
  const file = path.join(dir, 'docker', 'Dockerfile.gpu');
  let df = fs.readFileSync(file, 'utf8');
  const start = df.search(/^FROM \S+ AS conda-env$/m);
  const end = df.search(/^FROM \S+ AS extensions$/m);
  if (start < 0 || end < start) throw new Error('the fixture Dockerfile no longer has conda-env before extensions');
  df = `${df.slice(0, start)}${ENV_STAGES}\n${df.slice(end)}`;
  df = df.replace(/^FROM scratch AS miniforge$/m, 'FROM scratch AS miniforge\nCOPY standin/Miniforge3-0.0.1-standin-Linux-x86_64.sh /');
  fs.writeFileSync(file, df);
  return dir;
}

export interface ActionRun { code: number; log: string; outputs: Record<string, string>; summary: string }

/** Runs dist/main then dist/post like a runner: INPUT_* (hyphens kept), GITHUB_OUTPUT/STATE/STEP_SUMMARY. */
export async function runAction(inputs: Record<string, string>, dir: string): Promise<ActionRun> {
  const gh = (await import(path.join(REPO, 'scripts', 'gh-files.mjs'))) as {
    inputEnv: (i: Record<string, string>) => Record<string, string>;
    parseCommandFile: (f: string) => Record<string, string>;
    stateEnv: (f: string) => Record<string, string>;
  };
  fs.mkdirSync(dir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...gh.inputEnv(inputs), RUNNER_TEMP: path.join(dir, 'runner-temp'), GITHUB_WORKSPACE: dir };
  fs.mkdirSync(env.RUNNER_TEMP!, { recursive: true });
  for (const [k, f] of Object.entries({ GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary.md', GITHUB_STATE: 'state' })) {
    env[k] = path.join(dir, f);
    fs.writeFileSync(env[k]!, '');
  }
  const main = await shAsyncEnv(process.execPath, [path.join(REPO, 'dist', 'main', 'index.js')], env);
  const post = await shAsyncEnv(process.execPath, [path.join(REPO, 'dist', 'post', 'index.js')], { ...env, ...gh.stateEnv(env.GITHUB_STATE!) });
  return {
    code: main.code,
    log: main.out + post.out,
    outputs: gh.parseCommandFile(env.GITHUB_OUTPUT!),
    summary: fs.readFileSync(env.GITHUB_STEP_SUMMARY!, 'utf8'),
  };
}

async function shAsyncEnv(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (out += b));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

// What a job can leave on a shared host, looked up from outside the action: smoke containers,
// builds still running in BuildKit, local tags, tags in a registry. The fixture project with a
// build step slow enough to cancel a job in the middle of it, and a container made impossible to
// remove.
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIXTURE } from '../../helpers.js';

export interface Cmd { code: number | null; out: string; seconds: number }

/** Runs a command without blocking the event loop (a FaultProxy in this process must keep answering). */
export function cmd(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Cmd> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const p = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    p.on('error', (e) => resolve({ code: 127, out: e.message, seconds: 0 }));
    p.on('close', (code) => resolve({ code, out: out.trim(), seconds: (Date.now() - t0) / 1000 }));
  });
}

/**
 * The fixture project copied to `dir` (its basename names the builds in BuildKit's history), with
 * - a step in the `extensions` stage that sleeps PCB_FAULT_BUILD_SLEEP seconds and is never cached
 *   (PCB_FAULT_NONCE), so that a job can be cancelled while its build runs;
 * - PCB_FAULT_ENV_MB MiB of random bytes in the env (the stand-in create-env.sh writes them), so
 *   that packing and saving the env takes long enough to act while a job saves it.
 */
export function slowFixture(dir: string): string {
  fs.cpSync(FIXTURE, dir, { recursive: true });
  const file = path.join(dir, 'docker', 'Dockerfile.gpu');
  const text = fs.readFileSync(file, 'utf8');
  const anchor = /^COPY libs \/src\/libs$/m;
  if (!anchor.test(text)) throw new Error(`the fixture Dockerfile no longer has "COPY libs /src/libs" in its extensions stage: ${file}`);
  const envStep = /^ENV ENV_NAME=\$\{ENV_NAME\} MINIFORGE_VERSION=\$\{MINIFORGE_VERSION\}$/m;
  if (!envStep.test(text)) throw new Error(`the fixture Dockerfile no longer sets ENV_NAME in its conda-env stage: ${file}`);
  fs.writeFileSync(file, text
    .replace(anchor, (m) => `${m}\nARG PCB_FAULT_BUILD_SLEEP=0\nARG PCB_FAULT_NONCE=\nRUN echo "fault fixture: sleeping $PCB_FAULT_BUILD_SLEEP s ($PCB_FAULT_NONCE)" && sleep "$PCB_FAULT_BUILD_SLEEP"`)
    .replace(envStep, (m) => `${m}\nARG PCB_FAULT_ENV_MB=0\nENV PCB_FAULT_ENV_MB=\${PCB_FAULT_ENV_MB}`));
  const script = path.join(dir, 'docker', 'create-env.sh');
  fs.appendFileSync(script, '# fault fixture: ballast that makes the env PCB_FAULT_ENV_MB MiB larger\nif [ "${PCB_FAULT_ENV_MB:-0}" -gt 0 ] && [ ! -f /pcb/env-cache/env.tar ]; then head -c "$((PCB_FAULT_ENV_MB * 1048576))" /dev/urandom > "$env_dir/pcb-fault-ballast"; fi\n');
  return dir;
}

/** Build args for slowFixture: sleep that long in the extensions stage, uncached. */
export function slowBuildArgs(seconds: number): string {
  return `PCB_FAULT_BUILD_SLEEP=${seconds}\nPCB_FAULT_NONCE=${crypto.randomBytes(6).toString('hex')}`;
}

/** Smoke containers (pcb-smoke-*) that mount something under `dir` (a job's RUNNER_TEMP), any state. */
export async function smokeContainersUnder(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<{ name: string; state: string }[]> {
  const ps = await cmd('docker', ['ps', '--all', '--filter', 'name=pcb-smoke-', '--format', '{{.Names}}'], env);
  if (ps.code !== 0) throw new Error(`docker ps failed: ${ps.out}`);
  const found: { name: string; state: string }[] = [];
  for (const name of ps.out.split('\n').filter((n) => n)) {
    const ins = await cmd('docker', ['container', 'inspect', '--format', '{{.State.Status}}{{range .Mounts}} {{.Source}}{{end}}', name], env);
    if (ins.code !== 0) continue; // removed meanwhile
    const [state, ...sources] = ins.out.split(' ');
    if (sources.some((s) => s === dir || s.startsWith(`${dir}/`))) found.push({ name, state });
  }
  return found;
}

/** The nonce in slowBuildArgs' text: the build arg that tells one job's builds from every other. */
export function nonceOf(buildArgs: string): string {
  const m = /PCB_FAULT_NONCE=(\w+)/.exec(buildArgs);
  if (!m) throw new Error(`no PCB_FAULT_NONCE in ${buildArgs}`);
  return m[1];
}

/**
 * BuildKit builds of `builder` that are still running and carry the build arg PCB_FAULT_NONCE=nonce
 * (buildx names a build after its context, or after its Dockerfile with the docker driver, so the
 * name cannot tell one job's build from another's: its build args can).
 */
export async function runningBuilds(builder: string, nonce: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const ls = await cmd('docker', ['buildx', 'history', 'ls', '--builder', builder, '--format', 'json'], env);
  if (ls.code !== 0) throw new Error(`docker buildx history ls failed: ${ls.out}`);
  const running = ls.out.split('\n').filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { status: string; ref: string })
    .filter((b) => !['Completed', 'Error', 'Canceled'].includes(b.status));
  const found: string[] = [];
  for (const b of running) {
    const ins = await cmd('docker', ['buildx', 'history', 'inspect', '--builder', builder, '--format', 'json', b.ref.split('/').pop()!], env);
    if (ins.code !== 0) continue; // finished and gone meanwhile
    const rec = JSON.parse(ins.out) as { Status?: string; BuildArgs?: { Name: string; Value: string }[] };
    if (rec.Status === 'running' && rec.BuildArgs?.some((a) => a.Name === 'PCB_FAULT_NONCE' && a.Value === nonce)) found.push(b.ref);
  }
  return found;
}

/** The image id a local tag points at, or null. */
export async function localTag(tag: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const r = await cmd('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], env);
  return r.code === 0 ? r.out : null;
}

/** The manifest digest a registry serves for repo:tag, or null when it has no such tag. */
export async function registryTag(registry: string, repo: string, tag: string): Promise<string | null> {
  const res = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: { Accept: ['application/vnd.oci.image.index.v1+json', 'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json', 'application/vnd.docker.distribution.manifest.v2+json'].join(', ') },
  });
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`HEAD ${registry}/${repo}:${tag} answered ${res.status}`);
  return res.headers.get('docker-content-digest');
}

/**
 * Makes a running container impossible to remove, with the daemon's own error: a file in its
 * writable layer gets the immutable attribute (chattr +i, root on ext4/xfs), so overlay2 cannot
 * delete the layer ("driver overlay2 failed to remove root filesystem ... operation not
 * permitted") until the returned function clears it. The container must use overlay2.
 */
export async function pinContainer(name: string, env: NodeJS.ProcessEnv = process.env): Promise<() => Promise<void>> {
  const touch = await cmd('docker', ['exec', name, 'touch', '/.pcb-flt-pinned'], env);
  if (touch.code !== 0) throw new Error(`docker exec ${name} touch failed: ${touch.out}`);
  const upper = await cmd('docker', ['container', 'inspect', '--format', '{{.GraphDriver.Name}} {{.GraphDriver.Data.UpperDir}}', name], env);
  const [driver, dir] = upper.out.split(' ');
  if (upper.code !== 0 || driver !== 'overlay2' || !dir) throw new Error(`cannot find the writable layer of ${name}: ${upper.out}`);
  const file = path.join(dir, '.pcb-flt-pinned');
  const pin = await cmd('chattr', ['+i', file]);
  if (pin.code !== 0) throw new Error(`chattr +i ${file} failed: ${pin.out}`);
  return async () => {
    if (fs.existsSync(file)) await cmd('chattr', ['-i', file]);
  };
}

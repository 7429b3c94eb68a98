// A Docker Engine of the test's own, to stop and start while a job uses it: its own socket,
// data-root, exec-root and pidfile, and the containerd dockerd starts for itself. The shared
// Engine (/var/run/docker.sock) is never touched. Like the CI's Engine it runs without a bridge
// or iptables rules (containers use --network none or host), with the stand-in GPU hook on its
// PATH when .ci/setup installed one, so `--gpus all` takes dockerd's GPU path here too.
//
// A job uses it through DOCKER_HOST=engine.host (the docker CLI, and buildx's --load, follow
// DOCKER_HOST; a `remote` builder is reached directly and does not care).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cmd } from './host.js';

function hookDir(): string | null {
  const cache = process.env.PCB_CI_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'pointcept-conda-build');
  const dir = process.env.PCB_CI_HOOK_DIR ?? path.join(cache, 'ci', 'hook-bin');
  return fs.existsSync(path.join(dir, 'nvidia-container-runtime-hook')) ? dir : null;
}

export class PrivateDockerd {
  private pid = 0;
  private constructor(readonly dir: string) {}

  /** Creates the engine's directories (short paths: unix sockets allow 107 bytes) and starts it. */
  static async start(label = 'dockerd'): Promise<PrivateDockerd> {
    const d = new PrivateDockerd(fs.mkdtempSync(path.join('/tmp', `pcb-flt-${label}-`)));
    await d.up();
    return d;
  }

  get host(): string {
    return `unix://${path.join(this.dir, 'docker.sock')}`;
  }

  /** The environment a job or a docker command needs to use this engine. */
  env(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...base, DOCKER_HOST: this.host };
  }

  get log(): string {
    const f = path.join(this.dir, 'dockerd.log');
    return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
  }

  /** Starts dockerd (again, on the same state) and waits until it answers. */
  async up(): Promise<void> {
    if (this.pid) throw new Error('this dockerd is already running');
    this.forgetDeadContainerd();
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    const hook = hookDir();
    const p = spawn('dockerd', [
      '--host', this.host,
      '--data-root', path.join(this.dir, 'data'),
      '--exec-root', path.join(this.dir, 'exec'),
      '--pidfile', path.join(this.dir, 'dockerd.pid'),
      '--bridge=none', '--iptables=false', '--ip-masq=false', '--ip6tables=false',
    ], { detached: true, stdio: ['ignore', log, log], env: { ...process.env, PATH: `${hook ? `${hook}:` : ''}${process.env.PATH}` } });
    fs.closeSync(log);
    p.unref();
    this.pid = p.pid ?? 0;
    for (let i = 0; i < 120; i++) {
      if ((await cmd('docker', ['version', '--format', '{{.Server.Version}}'], this.env())).code === 0) return;
      if (!this.alive()) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`the private dockerd did not come up:\n${this.log.slice(-3000)}`);
  }

  /**
   * After a crash, dockerd's containerd dies with it but may stay a zombie until init reaps it;
   * dockerd would take the zombie for a running containerd (kill(pid, 0) succeeds) and wait for
   * it in vain. Its pid file goes when the process is gone or a zombie.
   */
  private forgetDeadContainerd(): void {
    const pidFile = path.join(this.dir, 'exec', 'containerd', 'containerd.pid');
    if (!fs.existsSync(pidFile)) return;
    const pid = fs.readFileSync(pidFile, 'utf8').trim();
    let stat = '';
    try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1'); } catch { /* gone */ }
    if (!stat || /^\d+ \(.*\) Z /.test(stat)) fs.rmSync(pidFile, { force: true });
  }

  alive(): boolean {
    if (!this.pid) return false;
    try {
      process.kill(this.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Stops dockerd: SIGTERM is a clean shutdown (it stops its containers first, then containerd);
   * SIGKILL is a crash (the containers' shims outlive it). Waits until the process is gone.
   */
  async down(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (!this.alive()) { this.pid = 0; return; }
    process.kill(this.pid, signal);
    for (let i = 0; i < 240 && this.alive(); i++) await new Promise((r) => setTimeout(r, 250));
    if (this.alive()) throw new Error(`dockerd ${this.pid} did not exit after ${signal}`);
    this.pid = 0;
  }

  /** Freezes dockerd (SIGSTOP): its socket accepts connections but nothing answers, like a daemon stuck on a lock. */
  freeze(): void {
    if (this.pid) process.kill(this.pid, 'SIGSTOP');
  }

  thaw(): void {
    if (this.pid) process.kill(this.pid, 'SIGCONT');
  }

  /** Removes every container, stops the engine and deletes its state. */
  async dispose(): Promise<void> {
    this.thaw();
    if (!this.alive()) await this.up().catch(() => undefined);
    if (this.alive()) {
      const ids = (await cmd('docker', ['ps', '--all', '--quiet'], this.env())).out.split('\n').filter((x) => x);
      if (ids.length) await cmd('docker', ['rm', '--force', ...ids], this.env());
      await this.down('SIGTERM');
    }
    // containerd's shims of this engine, if a crash left any, are children of nobody we know:
    // they are found by the engine's own exec-root in their command line, and only those.
    for (const name of fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        const args = fs.readFileSync(`/proc/${name}/cmdline`, 'latin1');
        if (args.startsWith('/usr/bin/containerd-shim') && args.includes(path.join(this.dir, 'exec'))) process.kill(Number(name), 'SIGKILL');
      } catch {
        // gone
      }
    }
    spawnUmountAll(this.dir);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** dockerd leaves mounts (overlay, shm, netns) under its roots when it dies; unmount them, deepest first. */
function spawnUmountAll(dir: string): void {
  const mounts = fs.readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && (m === dir || m.startsWith(`${dir}/`)));
  for (const m of mounts.sort((a, b) => b.length - a.length)) {
    spawnSync('umount', ['--lazy', m], { stdio: 'ignore' });
  }
}

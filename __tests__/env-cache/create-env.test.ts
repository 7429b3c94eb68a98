// docker/create-env.sh run directly (no Docker) under busybox sh and the system sh, with the fixture's
// STAND-IN Miniforge installer (a stand-in mamba/conda: no conda channel is reachable in tests).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const repo = path.join(__dirname, '../..');
const script = path.join(repo, 'docker/create-env.sh');
const fixture = path.join(__dirname, 'fixture');
const busybox = ['busybox', '/bin/busybox', '/usr/bin/busybox'].find((b) => spawnSync(b, ['true']).status === 0);
const shells: string[][] = [['sh'], ...(busybox ? [[busybox, 'sh']] : [])];

let t: string;
beforeEach(() => {
  t = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-create-env-'));
  for (const d of ['spec', 'mf', 'root']) fs.mkdirSync(path.join(t, d));
  fs.copyFileSync(path.join(fixture, 'environment.yml'), path.join(t, 'spec', 'environment.yml'));
  fs.copyFileSync(path.join(fixture, 'standin', 'Miniforge3-0.0.1-standin-Linux-x86_64.sh'), path.join(t, 'mf', 'Miniforge3-0.0.1-standin-Linux-x86_64.sh'));
});
afterEach(() => fs.rmSync(t, { recursive: true, force: true }));

function run(shell: string[], args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(shell[0], [...shell.slice(1), script, ...args], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CONDA_ROOT: path.join(t, 'root', 'conda'),
      PCB_ENV_SPEC_DIR: path.join(t, 'spec'),
      PCB_MINIFORGE_DIR: path.join(t, 'mf'),
      CONDA_PKGS_DIRS: path.join(t, 'pkgs'),
      MINIFORGE_VERSION: '0.0.1-standin',
      ENV_NAME: 'pointcept-standin',
      ...env,
    },
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
const conda = (...p: string[]) => path.join(t, 'root', 'conda', ...p);

describe.each(shells)('create-env.sh under %s', { timeout: 60_000 }, (...shell) => {
  it('creates the env and writes the lock', () => {
    const c = run(shell, ['create']);
    expect(c.code, c.out).toBe(0);
    expect(c.out).toContain('PCB-STANDIN-MINIFORGE: installing into');
    expect(c.out).toContain('PCB-STANDIN-MAMBA: solving and creating env pointcept-standin');
    expect(c.out).toMatch(/left out of the pip section[^\n]*\n\s*- \.\/libs\/pointops/);
    const lock = fs.readFileSync(conda('pcb-env.lock'), 'utf8');
    expect(lock).toMatch(/^@EXPLICIT$/m);
    expect(lock).toMatch(/^https:\/\/conda\.anaconda\.org\/conda-forge\/linux-64\/numpy-1\.26\.4-0\.conda#[0-9a-f]{32}$/m);
    expect(lock.split('# pip:\n')[1]).toBe('addict==2.4.0\n');
    expect(lock).not.toContain('libs/pointops');
    expect(fs.existsSync(conda('envs', 'pointcept-standin', 'conda-meta', 'standin-list'))).toBe(true);
  });

  it('installs an explicit lock without solving, pip section included', () => {
    fs.writeFileSync(path.join(t, 'spec', 'environment.lock'), [
      '@EXPLICIT',
      'https://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-h0_0.conda#00000000000000000000000000000001',
      'https://conda.anaconda.org/conda-forge/linux-64/standin-payload-2-0.conda#00000000000000000000000000000002',
      '# pip:',
      'addict==2.3.0',
      '',
    ].join('\n'));
    const c = run(shell, ['create']);
    expect(c.code, c.out).toBe(0);
    expect(c.out).toContain('installing the explicit lock (no solve)');
    expect(c.out).not.toContain('solving and creating');
    const lock = fs.readFileSync(conda('pcb-env.lock'), 'utf8');
    expect(lock).toContain('/python-3.11.9-h0_0.conda#');
    expect(lock.split('# pip:\n')[1]).toBe('addict==2.3.0\n');
    expect(fs.statSync(conda('envs', 'pointcept-standin', 'lib', 'payload', 'blob0')).size).toBe(2 * 1024 * 1024);
  });

  it('fails clearly without Miniforge offline', () => {
    const m = run(shell, ['create'], { MINIFORGE_VERSION: '24.11.3-0', MINIFORGE_SHA256: '' });
    expect(m.code).not.toBe(0);
    expect(m.out).toContain('create-env: error: MINIFORGE_SHA256 is not set and no Miniforge3-24.11.3-0-Linux-x86_64.sh is in the miniforge build context');
  });

  it('rejects a wrong Miniforge sha256 and an unknown command', () => {
    const c = run(shell, ['create'], { MINIFORGE_SHA256: '0'.repeat(64) });
    expect(c.code).not.toBe(0);
    expect(c.out).toContain(`sha256`);
    expect(c.out).toContain(`expected ${'0'.repeat(64)} (MINIFORGE_SHA256)`);
    expect(run(shell, ['frobnicate']).out).toContain("unknown command 'frobnicate' (accepted: create)");
  });
});

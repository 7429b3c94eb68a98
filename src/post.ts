// Post step: remove the smoke containers and the temp dir recorded in the state.
import * as fs from 'node:fs';
import * as core from '@actions/core';
import { run } from './exec.js';
import { STATE } from './state.js';

export async function post(): Promise<void> {
  let containers: string[];
  try {
    containers = JSON.parse(core.getState(STATE.containers) || '[]') as string[];
  } catch {
    containers = [];
  }
  for (const name of containers.filter((n) => /^pcb-smoke-[\w.-]+$/.test(n))) {
    const ps = await run('docker', ['ps', '--all', '--quiet', '--filter', `name=^${name}$`], { quiet: true });
    if (ps.exitCode === 0 && ps.stdout.trim()) {
      core.info(`Removing leftover container ${name}`);
      await run('docker', ['rm', '--force', '--volumes', name], { quiet: true });
    }
  }
  const dir = core.getState(STATE.workDir);
  if (dir && fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    core.info(`Removed ${dir}`);
  }
}

try {
  await post();
} catch (e) {
  core.warning(`cleanup: ${(e as Error).message}`);
}

import * as fs from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { run, showArgv } from '../src/exec.js';
import { Redactor } from '../src/redact.js';

describe('run: argv only, never a shell', () => {
  it('passes ;, $(), backticks and newlines to the program as data', async () => {
    const args = ['a;b', '$(touch /tmp/pcb-should-not-exist)', '`id`', 'x\ny', "it's"];
    const r = await run('printf', ['%s|', ...args], { quiet: true });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(args.map((a) => `${a}|`).join(''));
  });
  it('returns the exit code and stderr of a failing command', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err >&2; exit 3'], { quiet: true });
    expect(r).toEqual({ exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
  });
  it('a missing program is exit code 127 with a message', async () => {
    const r = await run('pcb-no-such-program', [], { quiet: true });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toContain('Unable to locate executable file');
  });
});

describe('showArgv', () => {
  it('quotes what a shell would split and hides secrets', () => {
    expect(showArgv('docker', ['build', '--build-arg', 'A=1;2', '--build-arg', 'T=s3cr3t', "it's"], new Redactor(['s3cr3t']))).toBe("docker build --build-arg 'A=1;2' --build-arg T=*** 'it'\\''s'");
    expect(showArgv('docker', ['--build-arg', 'T=s3cr3t'])).toBe('docker --build-arg T=s3cr3t');
  });
});

describe('Redactor', () => {
  it('replaces every secret, the longest first, and holds no state between instances', () => {
    const r = new Redactor(['abc', 'abcdef', '']);
    expect(r.text('x abcdef y abc z')).toBe('x *** y *** z');
    expect(new Redactor().text('abcdef')).toBe('abcdef');
  });
  it('a command echo hides the secret (run prints the argv)', async () => {
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { out.push(String(s)); return true; }) as typeof process.stdout.write;
    try {
      await run('printf', ['%s', 'tok-999'], { redactor: new Redactor(['tok-999']) });
    } finally {
      process.stdout.write = write;
    }
    expect(out.join('')).toContain('[command] printf %s ***');
    expect(out.join('')).not.toContain('tok-999');
  });
});

describe('run: process groups, timeouts, cancel', () => {
  // a fresh module each time: the refusal and the mark are the module's state
  const fresh = async () => {
    vi.resetModules();
    return import('../src/exec.js');
  };
  // running, not a zombie waiting for init to reap it
  const alive = (pid: number) => { try { return !/^\d+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'latin1')); } catch { return false; } };
  // SIGKILL is delivered at once but a loaded kernel may take a moment to end the process
  const endsWithin = async (pid: number, ms: number) => {
    for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 20))) if (!alive(pid)) return true;
    return !alive(pid);
  };

  it('a timeout kills the whole process group, grandchildren too, and says so', async () => {
    const ex = await fresh();
    const t0 = Date.now();
    const r = await ex.run('sh', ['-c', 'sleep 30 & echo $!; wait'], { quiet: true, timeoutMs: 500 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.exitCode).toBe(124);
    expect(r.timedOut).toBe(true);
    expect(r.stderr).toContain('sh -c did not finish within 0.5 s and was killed');
    expect(await endsWithin(Number(r.stdout.trim()), 2000)).toBe(true);
  });

  it('signalRunning reaches every running command\'s group; runningCommands lists them until they end', async () => {
    const ex = await fresh();
    const p = ex.run('sh', ['-c', 'trap "echo got INT; exit 7" INT; sleep 30 & wait'], { quiet: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(ex.runningCommands().map((c) => c.argv[0])).toEqual(['sh']);
    ex.signalRunning('SIGINT');
    const r = await p;
    expect(r.stdout).toContain('got INT');
    expect(r.exitCode).toBe(7);
    expect(ex.runningCommands()).toEqual([]);
  });

  it('after refuseNewCommands only cleanup commands start', async () => {
    const ex = await fresh();
    ex.refuseNewCommands('the job was cancelled (SIGINT)');
    expect(await ex.run('true', [], { quiet: true })).toMatchObject({ exitCode: 130, refused: true, stderr: 'not started: the job was cancelled (SIGINT)' });
    expect(await ex.run('true', [], { quiet: true, cleanup: true })).toMatchObject({ exitCode: 0 });
  });

  it('every command carries the mark in its environment', async () => {
    const ex = await fresh();
    ex.markCommands('POINTCEPT_CONDA_BUILD_RUN', 'abc123');
    const r = await ex.run('sh', ['-c', 'echo "$POINTCEPT_CONDA_BUILD_RUN"'], { quiet: true, env: { OTHER: '1' } });
    expect(r.stdout).toBe('abc123\n');
  });

  it('a killed command reports 128 + the signal number', async () => {
    const ex = await fresh();
    const r = await ex.run('sh', ['-c', 'kill -TERM $$'], { quiet: true });
    expect(r.exitCode).toBe(143);
  });
});

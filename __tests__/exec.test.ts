import { describe, expect, it } from 'vitest';
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

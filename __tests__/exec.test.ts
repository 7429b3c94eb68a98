import { describe, expect, it } from 'vitest';
import { addRedactions, run, showArgv } from '../src/exec.js';

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
    addRedactions(['s3cr3t']);
    expect(showArgv('docker', ['build', '--build-arg', 'A=1;2', '--build-arg', 'T=s3cr3t', "it's"])).toBe("docker build --build-arg 'A=1;2' --build-arg T=*** 'it'\\''s'");
  });
});

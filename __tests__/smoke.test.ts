import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SMOKE_SCRIPT } from '../src/plan.js';
import { ReportError, noReportReason, parseReport } from '../src/smoke.js';
import { FIXTURE, ROOT } from './helpers.js';

const GOOD = {
  schema: 1, ok: true,
  versions: { python: '3.11.10', torch: '2.5.0', torch_cuda: '12.4', flash_attn: null },
  gpu: { name: 'NVIDIA H200', capability: '9.0', driver: '570.86.15', memory_gib: 139.8 },
  checks: [{ name: 'imports', ok: true, required: true, seconds: 0.1, detail: '' }, { name: 'open3d', ok: false, required: false, seconds: 0, detail: 'missing' }],
};
const mod = (f: (o: Record<string, unknown>) => void) => { const o = structuredClone(GOOD) as unknown as Record<string, unknown>; f(o); return JSON.stringify(o); };

describe('parseReport', () => {
  it('keeps extra fields and turns scalar versions into strings', () => {
    const r = parseReport(mod((o) => { o.complete = true; (o.versions as Record<string, unknown>).torch_cxx11_abi = false; (o.checks as Record<string, unknown>[])[1].skipped = true; }));
    expect(r.versions.torch_cxx11_abi).toBe('false');
    expect(r.versions.flash_attn).toBeNull();
    expect(r.checks[1].skipped).toBe(true);
  });
  it('accepts schema 1 with a GPU or with gpu null', () => {
    expect(parseReport(JSON.stringify(GOOD)).gpu?.name).toBe('NVIDIA H200');
    expect(parseReport(mod((o) => { o.gpu = null; })).gpu).toBeNull();
    expect(parseReport(mod((o) => { delete o.gpu; })).gpu).toBeNull();
  });
  it.each([
    ['not JSON', '{"schema": 1, "ok": tru', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['schema 2', mod((o) => { o.schema = 2; }), /schema is 2/],
    ['ok missing', mod((o) => { delete o.ok; }), /ok is not a boolean/],
    ['versions a list', mod((o) => { o.versions = []; }), /versions is not an object/],
    ['a version an object', mod((o) => { (o.versions as Record<string, unknown>).torch = { v: 2 }; }), /versions.torch/],
    ['gpu memory a string', mod((o) => { (o.gpu as Record<string, unknown>).memory_gib = '80'; }), /gpu.memory_gib/],
    ['check without required', mod((o) => { delete (o.checks as Record<string, unknown>[])[0].required; }), /checks\[0\].required/],
    ['check seconds a string', mod((o) => { (o.checks as Record<string, unknown>[])[1].seconds = '1'; }), /checks\[1\].seconds/],
    ['ok true with a failed required check', mod((o) => { (o.checks as Record<string, unknown>[])[0].ok = false; }), /ok: true but a required check failed/],
  ])('rejects %s', (_n, text, re) => {
    expect(() => parseReport(text)).toThrow(ReportError);
    expect(() => parseReport(text)).toThrow(re);
  });
});

describe("the fixture's smoke script writes reports that parse", () => {
  // The fixture smoke script is a shell script (the fixture image's "python" is a stand-in that runs sh).
  const script = path.join(FIXTURE, 'docker', 'smoke_tests.py');
  const runScript = (mode: string, args: string[]) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-smoke-'));
    const out = path.join(dir, 'report.json');
    let code = 0;
    try {
      execFileSync('sh', [script, '--json', out, ...args], { env: { ...process.env, PCB_FIXTURE_SMOKE: mode, ENV_NAME: 'e' }, stdio: 'pipe' });
    } catch (e) {
      code = (e as { status: number }).status;
    }
    const text = fs.existsSync(out) ? fs.readFileSync(out, 'utf8') : null;
    fs.rmSync(dir, { recursive: true, force: true });
    return { code, text };
  };
  it.each([
    ['pass', [], 0, true, 'Stand-in GPU'],
    ['pass', ['--no-gpu'], 0, true, null],
    ['fail', [], 1, false, 'Stand-in GPU'],
    ['slow1', [], 0, true, 'Stand-in GPU'],
  ] as const)('%s %j', (mode, args, code, ok, gpu) => {
    const r = runScript(mode, [...args]);
    expect(r.code).toBe(code);
    const rep = parseReport(r.text!);
    expect(rep.ok).toBe(ok);
    expect(rep.gpu?.name ?? null).toBe(gpu);
    expect(rep.versions.env_name).toBe('e');
  });
  it('badjson writes a report that is rejected; crash writes none', () => {
    expect(() => parseReport(runScript('badjson', []).text!)).toThrow(ReportError);
    expect(runScript('crash', [])).toEqual({ code: 139, text: null });
  });
  it('a report of the real docker/smoke_tests.py (--no-gpu, recorded on a CPU machine) parses', () => {
    // __tests__/fixtures/smoke-report.no-gpu.json: written by docker/smoke_tests.py --no-gpu --json, with the
    // interpreter path rewritten to the image's env path
    const r = parseReport(fs.readFileSync(path.join(ROOT, '__tests__', 'fixtures', 'smoke-report.no-gpu.json'), 'utf8'));
    expect(r.gpu).toBeNull();
    expect(r.versions.torch).toBe('2.5.0+cu124');
    expect(r.checks.some((c) => c.skipped)).toBe(true);
  });
  it('the image runs the real smoke tests at the path the plan calls, and they take --json', () => {
    expect(fs.readFileSync(path.join(ROOT, 'docker', 'Dockerfile.gpu'), 'utf8')).toContain(SMOKE_SCRIPT);
    const help = execFileSync('python3', [path.join(ROOT, 'docker', 'smoke_tests.py'), '--help'], { encoding: 'utf8' });
    expect(help).toContain('--json PATH');
    expect(help).toContain('--no-gpu');
  });
});

describe('noReportReason: why a run that wrote no report ended', () => {
  const state = (over: Partial<{ status: string; exitCode: number; oomKilled: boolean; error: string }> = {}) => ({ status: 'exited', exitCode: 137, oomKilled: false, error: '', ...over });
  it.each([
    ['an OOM kill', 137, state({ oomKilled: true }), 'the smoke container ran out of memory and the kernel killed it (OOMKilled, exit code 137)'],
    ['a runtime error', 127, state({ exitCode: 127, error: 'failed to create task' }), 'the smoke container failed: failed to create task (exit code 127)'],
    ['a SIGKILL that was no OOM kill', 137, state(), 'the smoke run wrote no report: the container was killed (exit code 137, SIGKILL; not by the out-of-memory killer)'],
    ['a crash', 139, state({ exitCode: 139 }), 'the smoke run wrote no report (exit code 139)'],
    ['no state at all', 139, null, 'the smoke run wrote no report (exit code 139)'],
  ] as const)('%s', (_n, code, st, text) => {
    expect(noReportReason(code, st)).toBe(text);
  });
});

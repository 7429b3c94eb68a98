// The load path's reuse check (src/load.ts), with docker at the src/exec.ts boundary: a STAND-IN
// docker that plays BuildKit (it writes the plain progress log and the metadata file a build
// names) and the Engine (image inspect, tag). The real builder and Engine run it in
// __tests__/e2e/matrix.test.ts (remote builder row).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import * as exec from '../src/exec.js';
import { buildx, type BuildResult } from '../src/buildx.js';
import { buildOrReuse, configDigestOf } from '../src/load.js';
import type { Plan } from '../src/plan.js';
import { Redactor } from '../src/redact.js';

vi.mock('../src/exec.js', async (real) => ({ ...(await real<typeof import('../src/exec.js')>()), run: vi.fn() }));
const run = vi.mocked(exec.run);

const CONFIG = `sha256:${'c'.repeat(64)}`;
const MANIFEST = `sha256:${'d'.repeat(64)}`;
let dir: string;
let plan: Plan;
let calls: string[][];
let engineImages: Set<string>;
let tagFails: boolean;

/** BuildKit's plain progress of a build whose steps took these seconds. */
const progress = (steps: [string, number][]) => steps.map(([name, s], n) => `#${n + 1} ${name}\n#${n + 1} DONE ${s}s\n`).join('\n');

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-load-'));
  calls = [];
  engineImages = new Set();
  tagFails = false;
  const checkMeta = path.join(dir, 'reuse-check-metadata.json');
  plan = {
    buildLog: path.join(dir, 'build.log'), secretEnv: {}, tags: ['r.example/a:1', 'r.example/a:latest'],
    reuseCheck: { argv: ['buildx', 'build', '--metadata-file', checkMeta, '--output', 'type=image', '/ctx'], metadataFile: checkMeta },
  } as unknown as Plan;
  run.mockImplementation(async (_cmd, args, opts) => {
    calls.push(args);
    if (args[0] === 'buildx') {
      const meta = args[args.indexOf('--metadata-file') + 1];
      const loads = args.includes('type=docker');
      fs.writeFileSync(opts!.logFile!, progress(loads ? [['[extensions 1/2] RUN build', 0], ['sending tarball', 9]] : [['[extensions 1/2] RUN build', 30], ['exporting to image', 2]]));
      if (meta) fs.writeFileSync(meta, JSON.stringify({ 'containerimage.config.digest': CONFIG, 'containerimage.digest': MANIFEST }));
      if (loads) engineImages.add(CONFIG);
      return { exitCode: 0, stdout: '', stderr: '' };
    }
    if (args[0] === 'image' && args[1] === 'inspect') {
      const id = args.at(-1)!;
      return engineImages.has(id) ? { exitCode: 0, stdout: `${id}\n`, stderr: '' } : { exitCode: 1, stdout: '', stderr: `Error: No such image: ${id}` };
    }
    if (args[0] === 'tag') return tagFails ? { exitCode: 1, stdout: '', stderr: 'Error response from daemon: refusing' } : { exitCode: 0, stdout: '', stderr: '' };
    throw new Error(`unexpected docker ${args.join(' ')}`);
  });
});
afterEach(() => {
  run.mockReset();
  fs.rmSync(dir, { recursive: true, force: true });
});

const loadMeta = () => path.join(dir, 'metadata.json');
const load = (): Promise<BuildResult> => buildx(['buildx', 'build', '--metadata-file', loadMeta(), '--output', 'type=docker', '/ctx'], { logFile: plan.buildLog, env: {}, redactor: new Redactor(), metadataFile: loadMeta() });
const builds = () => calls.filter((c) => c[0] === 'buildx').map((c) => c[c.indexOf('--output') + 1]);

describe('buildOrReuse', () => {
  it('an image the Engine lacks: the check builds, then the load sends it; the stage times are the check\'s plus the load\'s', async () => {
    const res = await buildOrReuse(plan, load, new Redactor());
    expect(builds()).toEqual(['type=image', 'type=docker']);
    expect(res.exitCode).toBe(0);
    expect(res.metadata).toMatchObject({ 'containerimage.config.digest': CONFIG });
    expect(res.summary.stages.find((s) => s.stage === 'extensions')?.seconds).toBe(30);
    expect(res.summary.stages.find((s) => s.stage === 'export')?.seconds).toBe(11);
    expect(calls.filter((c) => c[0] === 'tag')).toEqual([]);
  });
  it('an image the Engine has: no load; the tags are put on it and the id is its config digest', async () => {
    engineImages.add(CONFIG);
    const res = await buildOrReuse(plan, load, new Redactor());
    expect(builds()).toEqual(['type=image']);
    expect(res).toMatchObject({ exitCode: 0, imageId: CONFIG, metadata: { 'containerimage.digest': MANIFEST, 'image.name': 'r.example/a:1,r.example/a:latest' } });
    expect(calls.filter((c) => c[0] === 'tag')).toEqual([['tag', CONFIG, 'r.example/a:1'], ['tag', CONFIG, 'r.example/a:latest']]);
  });
  it('a check that fails is the build\'s failure: no load', async () => {
    run.mockImplementationOnce(async (_cmd, args, opts) => {
      calls.push(args);
      fs.writeFileSync(opts!.logFile!, '#1 [extensions 1/2] RUN build\n#1 ERROR: process "/bin/sh -c build" did not complete successfully: exit code: 1\n');
      return { exitCode: 1, stdout: '', stderr: '' };
    });
    const res = await buildOrReuse(plan, load, new Redactor());
    expect(builds()).toEqual(['type=image']);
    expect(res.exitCode).toBe(1);
    expect(res.summary.failedStep).toBe('[extensions 1/2] RUN build');
  });
  it('a tag the Engine refuses fails the build with its message', async () => {
    engineImages.add(CONFIG);
    tagFails = true;
    const res = await buildOrReuse(plan, load, new Redactor());
    expect(res.exitCode).toBe(1);
    expect(res.log).toContain(`docker tag ${CONFIG} r.example/a:1: Error response from daemon: refusing`);
  });
  it('without a reuse check: the load alone', async () => {
    const res = await buildOrReuse({ ...plan, reuseCheck: null }, load, new Redactor());
    expect(builds()).toEqual(['type=docker']);
    expect(res.exitCode).toBe(0);
  });
});

describe('configDigestOf', () => {
  it('reads a sha256 config digest from the metadata, nothing else', () => {
    expect(configDigestOf({ 'containerimage.config.digest': CONFIG })).toBe(CONFIG);
    expect(configDigestOf({ 'containerimage.config.digest': 'sha256:short' })).toBeNull();
    expect(configDigestOf({})).toBeNull();
    expect(configDigestOf(null)).toBeNull();
  });
});

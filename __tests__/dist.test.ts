// The committed bundle, run as a runner runs it, on any machine (no Docker needed): dry-run prints
// the plan and changes nothing; a bad input fails before any docker command runs.
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE } from './helpers.js';
import { dockerShim, removeTempDirs, runMain, runPost } from './run-dist.js';

afterAll(removeTempDirs);

describe('dist/main with dry-run', () => {
  it('prints the plan, sets known outputs and leaves nothing behind', async () => {
    const shim = dockerShim(null);
    const r = await runMain({ context: FIXTURE, 'dry-run': 'true', tags: '127.0.0.1:5000/pcb/dry:1', 'build-args': 'NOTE=a;b $(id)\nGH_TOKEN=ghp_dontshowme', push: 'true' }, { PATH: `${shim.dir}:/usr/bin:/bin` });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('Dry run: nothing is built, run or pushed.');
    expect(r.stdout).toMatch(/Build: docker buildx build .*--build-arg 'NOTE=a;b \$\(id\)'.* --tag 127\.0\.0\.1:5000\/pcb\/dry:1 --load /);
    expect(r.stdout).toMatch(/Smoke: docker run --rm --name pcb-smoke-\S+ .*--network none/);
    expect(r.stdout).toContain('Push: docker tag <image-id> + docker push, for 127.0.0.1:5000/pcb/dry:1 (only if the smoke run passes)');
    expect(r.stdout).toContain('::add-mask::ghp_dontshowme');
    expect(r.stdout.replace('::add-mask::ghp_dontshowme', '')).not.toContain('ghp_dontshowme');
    expect(r.outputs.tags).toBe('127.0.0.1:5000/pcb/dry:1');
    // only read-only commands reached the shims
    const calls = shim.calls();
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c).toMatch(/^(docker version|docker buildx (version|inspect)|nvidia-smi --query-gpu)/);
    const post = await runPost(r);
    expect(post.code).toBe(0);
    expect(fs.existsSync(r.state['pcb-work-dir'])).toBe(false);
  });
});

describe('dist/main with bad inputs', () => {
  it('fails with one line per bad input before any docker command runs', async () => {
    const shim = dockerShim(null);
    const r = await runMain({ context: FIXTURE, push: 'yes', gpu: 'sometimes', tags: 'Not A;Tag', 'smoke-timeout': '-1' }, { PATH: `${shim.dir}:/usr/bin:/bin` });
    expect(r.code).toBe(1);
    for (const name of ['push', 'gpu', 'tags', 'smoke-timeout']) expect(r.stdout).toContain(`::error::Input "${name}"`);
    expect(r.stdout).toContain('"Not A;Tag" is not accepted');
    expect(shim.calls()).toEqual([]);
    expect(r.outputs.error).toContain('Input "push"');
    expect(r.state['pcb-work-dir']).toBeUndefined();
  });
});

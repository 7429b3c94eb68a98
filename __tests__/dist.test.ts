// The committed bundle, run as a runner runs it, on any machine (no Docker needed): a dry run prints
// the plan, sets the outputs it knows and changes nothing; a bad input fails before any docker
// command runs.
//
// STAND-IN: a `docker` script that answers the read-only questions preflight asks (version, buildx
// version, buildx inspect, info) as Debian 13's Engine 26.1 with the docker driver and the classic
// image store would, and fails anything else. The real Engines are in the end-to-end tests.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIXTURE } from './helpers.js';
import { dockerShim, removeTempDirs, runMain, runPost } from './run-dist.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-dist-'));
afterAll(() => {
  removeTempDirs();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The stand-in docker (see the header), logging each call. */
function standInDocker(): { dir: string; calls: () => string[] } {
  const dir = fs.mkdtempSync(path.join(tmp, 'bin-'));
  const log = path.join(dir, 'calls.log');
  fs.writeFileSync(path.join(dir, 'docker'), `#!/bin/sh
printf '%s\\n' "docker $*" >> '${log}'
case "$*" in
  "version --format {{json .Server}}") echo '{"Version":"26.1.5+dfsg1","ApiVersion":"1.45"}' ;;
  "buildx version") echo 'github.com/docker/buildx 0.38.2 stand-in' ;;
  "buildx inspect") printf 'Name:   default\\nDriver: docker\\n\\nNodes:\\nName:             default\\nEndpoint:         default\\nStatus:           running\\nBuildKit version: v0.0.0+unknown\\n' ;;
  "info --format {{json .DriverStatus}}") echo '[["Backing Filesystem","extfs"],["Supports d_type","true"]]' ;;
  *) echo "stand-in docker: not a read-only question: $*" >&2; exit 1 ;;
esac
`, { mode: 0o755 });
  return { dir, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter((l) => l) : []) };
}

const READ_ONLY = /^docker (version|buildx (version|inspect)|info)|^nvidia-smi --query-gpu/;

describe('dist/main with dry-run', () => {
  it('on an Engine with the docker driver: prints the argv a real run uses, one notice, the outputs and a summary', async () => {
    const docker = standInDocker();
    const cacheDir = path.join(tmp, 'cache');
    const r = await runMain({ context: FIXTURE, 'dry-run': 'true', gpu: 'false', 'cache-dir': cacheDir, tags: '127.0.0.1:5000/pcb/dry:1', labels: 'org.example.a=b', 'build-args': 'NOTE=a;b $(id)\nGH_TOKEN=ghp_dontshowme', push: 'true' }, { PATH: `${docker.dir}:/usr/bin:/bin` });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('Dry run: nothing is built, run or pushed.');
    expect(r.stdout).toMatch(/Env build: docker buildx build .* --target env-lock --output type=local,dest=\S+\/env-cache\/env-lock /);
    // the docker driver: a miss saves the conda-env stage as an image of the Engine's own store, beside the smoke run
    expect(r.stdout).toMatch(/Env cache save \(beside the smoke run\): docker buildx build .* --provenance=false --target conda-env --output type=image,name=pcb-env-cache:pointcept-env-v2-linux-amd64-[0-9a-f]{64} /);
    expect(r.stdout).toMatch(/Build: docker buildx build .*--build-arg 'NOTE=a;b \$\(id\)'.* --tag 127\.0\.0\.1:5000\/pcb\/dry:1 --load /);
    expect(r.stdout).not.toMatch(/Build: .*--cache-to/); // the docker driver without the containerd store cannot export it
    // one notice for both things the classic store leaves out: the layer cache, the attestations
    expect(r.stdout.match(/^::notice::/gm)).toHaveLength(1);
    expect(r.stdout).toContain('::notice::builder "default" (docker driver, Docker Engine 26.1.5+dfsg1, BuildKit 0.13, classic image store) cannot export a layer cache, so the build runs without --cache-to and reuses only the Engine\'s own build cache (the env cache works as usual), and pushes the tested image with docker push, which carries no provenance, SBOM or annotations');
    expect(r.stdout).toMatch(/Smoke: docker run --name pcb-smoke-\S+ --network none .* --no-gpu/);
    expect(r.stdout).toContain('Publish (loaded-image): docker tag <image-id> TAG, then docker push TAG, for 127.0.0.1:5000/pcb/dry:1, only after the smoke run passed');
    expect(r.stdout).toContain('::add-mask::ghp_dontshowme');
    expect(r.stdout.replace('::add-mask::ghp_dontshowme', '')).not.toContain('ghp_dontshowme');
    // the outputs a dry run knows
    expect(r.outputs).toMatchObject({ tags: '127.0.0.1:5000/pcb/dry:1', labels: 'org.example.a=b', 'preflight-ok': 'true', 'cache-hit': 'false', 'cache-matched-key': '', 'gpu-checks-ran': 'false' });
    expect(r.outputs['cache-key']).toMatch(/^pointcept-env-v2-linux-amd64-[0-9a-f]{64}$/);
    const plan = JSON.parse(r.outputs.plan);
    expect(plan.buildArgv).toContain('--load');
    expect(plan.envBuilds.map((b: { target: string }) => b.target)).toEqual(['env-lock']);
    expect(r.outputs.plan).not.toContain('ghp_dontshowme');
    for (const k of ['image-id', 'digest', 'smoke-passed', 'error']) expect(r.outputs[k], k).toBeUndefined();
    // the summary says what would happen
    expect(r.summary).toContain('<h2>Pointcept image: dry run, ✅ preflight passed</h2>');
    expect(r.summary).toContain('<tr><th>Env cache (local)</th><td>miss (looked up only)</td></tr>');
    expect(r.summary).toContain('<details><summary>Commands</summary>');
    expect(r.summary).not.toContain('ghp_dontshowme');
    // only read-only questions reached docker, and the env cache was not written
    expect(docker.calls().length).toBeGreaterThan(0);
    for (const c of docker.calls()) expect(c).toMatch(READ_ONLY);
    expect(fs.existsSync(cacheDir)).toBe(false);
    const post = await runPost(r);
    expect(post.code).toBe(0);
    expect(fs.existsSync(r.state['pcb-work-dir'])).toBe(false);
  }, 60_000);

  it('fails when preflight finds errors, annotating each once, and still prints the plan and sets the outputs', async () => {
    const shim = dockerShim(null); // docker and nvidia-smi missing
    const r = await runMain({ context: FIXTURE, 'dry-run': 'true', tags: '127.0.0.1:5000/pcb/dry:1' }, { PATH: `${shim.dir}:/usr/bin:/bin` });
    expect(r.code).toBe(1);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error::'));
    expect(errors).toContain('::error::preflight: gpu: auto found no GPU on this runner (nvidia-smi: shim: no real nvidia-smi); fix the NVIDIA driver and Container Toolkit so that nvidia-smi lists the GPU, or set gpu: false to build and test without the GPU checks');
    expect(errors.some((l) => /^::error::preflight: .*docker/i.test(l))).toBe(true);
    expect(new Set(errors).size).toBe(errors.length);
    expect(r.stdout).toContain('Build: docker buildx build');
    expect(r.outputs).toMatchObject({ 'preflight-ok': 'false', tags: '127.0.0.1:5000/pcb/dry:1' });
    expect(r.outputs['cache-key']).toMatch(/^pointcept-env-/);
    expect(r.outputs.error).toMatch(/^preflight: /);
    expect(r.summary).toContain('<h2>Pointcept image: dry run, ❌ preflight failed</h2>');
    for (const c of shim.calls()) expect(c).toMatch(READ_ONLY);
    expect((await runPost(r)).code).toBe(0);
  }, 60_000);
});

describe('dist/main with bad inputs', () => {
  it('fails with one line per bad input, each annotated once, before any docker command runs', async () => {
    const shim = dockerShim(null);
    const r = await runMain({ context: FIXTURE, push: 'yes', gpu: 'sometimes', tags: 'Not A;Tag', 'smoke-timeout': '-1', 'cache-backend': 's3', 'cache-max-size': 'abc' }, { PATH: `${shim.dir}:/usr/bin:/bin` });
    expect(r.code).toBe(1);
    const errors = r.stdout.split('\n').filter((l) => l.startsWith('::error::'));
    expect(errors.map((l) => /^::error::Input "([\w-]+)"/.exec(l)?.[1]).sort()).toEqual(['cache-backend', 'cache-max-size', 'gpu', 'push', 'smoke-timeout', 'tags']);
    expect(r.stdout).toContain('::error::Input "cache-max-size": "abc" is not accepted; use a number of GB greater than 0, e.g. 50.');
    expect(r.stdout).toContain('"Not A;Tag" is not accepted');
    expect(shim.calls()).toEqual([]);
    expect(r.outputs.error).toContain('Input "push"');
    expect(r.summary).toContain('<h2>Pointcept image ❌ failed at inputs</h2>');
    expect(r.state['pcb-work-dir']).toBeUndefined();
  }, 60_000);
});

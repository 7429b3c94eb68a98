// Faults of a shared self-hosted runner, injected into the bundled action (dist/) run as the runner
// runs it, on the real Engine, buildx with the `remote` builder, BuildKit and the registry of
// .ci/setup: a cancelled job (during the build, the smoke run, the push; the main step killed
// outright) and several jobs at once on one Engine, builder and cache dir. Each test adds its row to
// the fault table (faults/table.ts). Skipped unless PCB_E2E=1.
//
// STAND-INS: the fixture project (busybox; its "conda env" and "python" are stand-ins) with a
// build step that sleeps and a smoke run that hangs or sleeps, so that a fault can land inside them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheListing, checkEntry, watchCache } from './faults/cache-entry.js';
import { leftovers, lost, sleep, uniqueTag, until, wholeEntries } from './faults/checks.js';
import { cmd, nonceOf, registryTag, runningBuilds, slowBuildArgs, slowFixture, smokeContainersUnder } from './faults/host.js';
import { Job, removeJobs } from './faults/job.js';
import { EngineRunner, matrixEngine } from './engines.js';
import { FaultProxy } from './faults/registry-proxy.js';
import { outcomeOf, recordFault } from './faults/table.js';
import { BASE, BUILDER, E2E, REGISTRY } from './services.js';

const RUN = uniqueTag();

describe.skipIf(!E2E)('faults: a cancelled job, several jobs at once (real dockerd, buildx, BuildKit, registry)', () => {
  let tmp = '';
  let ctx = '';
  let cacheDir = '';
  const jobs: Job[] = [];
  let proxy: FaultProxy;
  const inputs = (over: Record<string, string> = {}) => ({
    context: ctx, builder: BUILDER, 'base-image': BASE, gpu: 'false', 'torch-cuda-arch-list': '9.0', 'max-jobs': '1',
    'smoke-timeout': '300', 'cache-backend': 'local', 'cache-dir': cacheDir, 'cache-key-prefix': `pcb-flt-${RUN}`, ...over,
  });
  const start = (i: Record<string, string>, env: Record<string, string> = {}) => {
    const j = new Job(i, env);
    jobs.push(j);
    return j;
  };
  const scope = { get cacheDir() { return cacheDir; } };

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-flt-e2e-'));
    ctx = slowFixture(path.join(tmp, 'project'));
    cacheDir = path.join(tmp, 'cache');
    proxy = await FaultProxy.start(REGISTRY);
  });
  afterAll(async () => {
    await proxy?.close();
    await removeJobs(jobs);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('cancel during the build: BuildKit stops the build, nothing is pushed or saved half', async () => {
    const repo = 'pcb-flt/cancel-build';
    const args = slowBuildArgs(300);
    const builds = { builder: BUILDER, nonce: nonceOf(args) };
    const job = start(inputs({ push: 'true', tags: `${REGISTRY}/${repo}:${RUN}`, 'build-args': args }));
    await job.waitFor(/fault fixture: sleeping 300 s/);
    expect(await runningBuilds(BUILDER, builds.nonce), 'BuildKit runs the build (the check below can see it)').not.toEqual([]);
    const before = wholeEntries(cacheDir);
    const t0 = Date.now();
    const end = await job.cancel();
    const seconds = (Date.now() - t0) / 1000;
    const atExit = job.processes();
    const post = await job.post();
    await until('BuildKit to record the cancel', async () => (await runningBuilds(BUILDER, builds.nonce)).length === 0, 10_000).catch(() => undefined);
    const left = await leftovers(job, { ...scope, builds, tagsThatMustNotExist: [[REGISTRY, repo, RUN]] });
    const { outcome, line } = outcomeOf(end.code, job.output, [/^build: Cancelled by the runner \(SIGINT\)/, /nothing was pushed/]);
    recordFault({ fault: 'cancel during the build', injected: 'SIGINT to the main step (the runner\'s cancel), 300 s build step running', times: end.after === 'SIGINT' ? 1 : 2, outcome, line, lost: lost(job, ['cache-key', 'plan'], cacheDir, before), left, seconds });
    expect(end.after, job.output.slice(-3000)).toBe('SIGINT');
    expect(seconds).toBeLessThan(7.5);
    expect(atExit.map((p) => p.args), 'no process of the job outlives the main step').toEqual([]);
    expect(outcome, line).toBe('failed clearly');
    expect(job.files().summary).toContain('<h2>Pointcept image ⏹️ cancelled during build</h2>');
    expect(post.code, post.output).toBe(0);
    expect(left).toEqual([]);
    expect(cacheListing(cacheDir).entries, 'no entry: the build did not finish').toEqual([]);
  });

  it('cancel during the smoke run: the smoke container is removed at once, nothing is pushed', async () => {
    const repo = 'pcb-flt/cancel-smoke';
    const job = start(inputs({ push: 'true', tags: `${REGISTRY}/${repo}:${RUN}`, 'build-args': 'PCB_FIXTURE_SMOKE=hang' }));
    await job.waitFor(/\[command\] docker run (?:--rm )?--name pcb-smoke-/);
    await until('the smoke container to run', async () => (await smokeContainersUnder(job.env.RUNNER_TEMP)).some((c) => c.state === 'running'));
    const before = wholeEntries(cacheDir);
    const t0 = Date.now();
    const end = await job.cancel();
    const seconds = (Date.now() - t0) / 1000;
    const atExit = { processes: job.processes(), containers: await smokeContainersUnder(job.env.RUNNER_TEMP) };
    const post = await job.post();
    const left = await leftovers(job, { ...scope, tagsThatMustNotExist: [[REGISTRY, repo, RUN]] });
    const { outcome, line } = outcomeOf(end.code, job.output, [/^smoke tests: Cancelled by the runner \(SIGINT\)/, /container removed/, /nothing was pushed/]);
    recordFault({ fault: 'cancel during the smoke run', injected: 'SIGINT to the main step, smoke container running (its PID 1 ignores SIGINT)', times: end.after === 'SIGINT' ? 1 : 2, outcome, line, lost: lost(job, ['image-id', 'cache-key'], cacheDir, before), left, seconds });
    expect(end.after, job.output.slice(-3000)).toBe('SIGINT');
    expect(atExit.processes.map((p) => p.args)).toEqual([]);
    expect(atExit.containers, 'the main step removed its container before it exited').toEqual([]);
    expect(outcome, line).toBe('failed clearly');
    expect(job.files().outputs['image-id']).toMatch(/^sha256:/);
    expect(post.code, post.output).toBe(0);
    expect(left).toEqual([]);
    // the save ran beside the smoke run: the cancel stopped it, or it had finished; either way no entry is partial
    for (const key of cacheListing(cacheDir).entries) expect(checkEntry(cacheDir, key).problems).toEqual([]);
  });

  it('cancel during the push (the tag\'s manifest PUT held on the way to the registry): the tag never moves', async () => {
    // On this runner (remote builder, classic image store) the build pushed the image by digest
    // and the push stage moves the tag with `buildx imagetools create` (README, Publishing): one
    // manifest PUT per tag. The proxy holds it as a slow link would; the cancel must stop the
    // client, so that the request never reaches the registry. Without the fix the orphaned client
    // waited and moved the tag after the job had ended.
    const repo = 'pcb-flt/cancel-push';
    const hold = 8000;
    const rule = proxy.inject({ fault: { kind: 'delay', ms: hold }, method: 'PUT', path: new RegExp(`/${repo}/manifests/${RUN}$`), times: 1 });
    const job = start(inputs({ push: 'true', tags: `${proxy.address}/${repo}:${RUN}`, 'build-args': `PCB_FIXTURE_SMOKE=pass\nPCB_FIXTURE_NOTE=${RUN}` }));
    await until('the tag\'s manifest PUT to be held', () => rule.hits > 0, 300_000, 50);
    const heldAt = Date.now();
    const before = wholeEntries(cacheDir);
    const end = await job.cancel();
    const seconds = (Date.now() - heldAt) / 1000;
    const atExit = job.processes();
    const post = await job.post();
    await sleep(Math.max(0, heldAt + hold + 3000 - Date.now())); // the held request would have reached the registry by now
    rule.off();
    const left = await leftovers(job, { ...scope, tagsThatMustNotExist: [[REGISTRY, repo, RUN]] });
    const held = proxy.requests('PUT', rule.path!).map((e) => e.fault ?? `forwarded (${e.status})`);
    const { outcome, line } = outcomeOf(end.code, job.output, [/^push: Cancelled by the runner \(SIGINT\)/]);
    recordFault({ fault: 'cancel during the push', injected: `SIGINT to the main step while the tag's manifest PUT was held on its way to the registry (${hold / 1000} s)`, times: end.after === 'SIGINT' ? 1 : 2, outcome, line, lost: lost(job, ['image-id', 'smoke-passed', 'versions'], cacheDir, before), left, seconds });
    expect(end.after, job.output.slice(-3000)).toBe('SIGINT');
    expect(atExit.map((p) => p.args), 'the publishing client does not outlive the main step').toEqual([]);
    expect(held, 'the client gave the held request up').toEqual([expect.stringMatching(/dropped: the client had closed the connection/)]);
    expect(outcome, line).toBe('failed clearly');
    expect(job.files().outputs['smoke-passed']).toBe('true');
    expect(post.code, post.output).toBe(0);
    expect(left).toEqual([]);
  });

  it('the main step killed outright during the build (SIGKILL): the post step stops what it left running', async () => {
    const args = slowBuildArgs(300);
    const builds = { builder: BUILDER, nonce: nonceOf(args) };
    const job = start(inputs({ 'build-args': args }));
    await job.waitFor(/fault fixture: sleeping 300 s/);
    const before = wholeEntries(cacheDir);
    process.kill(job.pid, 'SIGKILL');
    await job.exited;
    await sleep(500);
    const orphans = job.processes();
    const t0 = Date.now();
    const post = await job.post();
    const seconds = (Date.now() - t0) / 1000;
    await until('BuildKit to record the cancel', async () => (await runningBuilds(BUILDER, builds.nonce)).length === 0, 10_000).catch(() => undefined);
    const left = await leftovers(job, { ...scope, builds });
    const gone = lost(job, [], cacheDir, before).filter((l) => l !== 'the job summary'); // a killed step writes none
    recordFault({ fault: 'main step killed (SIGKILL) during the build', injected: 'SIGKILL to the main step (the runner\'s last resort; the OOM killer)', times: 1, outcome: post.code === 0 && left.length === 0 ? `the post step stopped ${orphans.length} orphaned processes and cleaned up` : `post step exit ${post.code}`, line: post.output.split('\n').find((l) => l.startsWith('Stopping what the main step left running'))?.replace(/\/tmp\/\S+/g, '…') ?? '', lost: gone, left, seconds, handled: post.code === 0 && orphans.length > 0 && !left.length && !gone.length });
    expect(orphans.length, 'the fault is real: the build outlived the killed main step').toBeGreaterThan(0);
    expect(post.code, post.output).toBe(0);
    expect(post.output).toContain('Stopping what the main step left running');
    expect(left).toEqual([]);
    expect(seconds).toBeLessThan(15);
  });

  it('cancel during the build and during the smoke run on Engine 26 with its default builder (docker driver, docker CLI 26)', async () => {
    const runner = new EngineRunner(matrixEngine('26-containerd'));
    try {
      const env = { ...process.env, ...runner.env() };
      const ctx26 = slowFixture(path.join(tmp, 'project26'));
      const slow = slowBuildArgs(300);
      // the Engine's own base image (pcb-base:busybox, the fixture's default) and BuildKit
      const in26 = (over: Record<string, string>) => ({ context: ctx26, gpu: 'false', 'smoke-timeout': '300', 'cache-dir': runner.cacheDir, ...over });
      for (const [what, over, ready] of [
        ['build', { 'build-args': slow }, (j: Job) => j.waitFor(/fault fixture: sleeping 300 s/)],
        ['smoke tests', { 'build-args': 'PCB_FIXTURE_SMOKE=hang' }, async (j: Job) => {
          await j.waitFor(/\[command\] docker run (?:--rm )?--name pcb-smoke-/);
          await until('the smoke container to run', async () => (await smokeContainersUnder(j.env.RUNNER_TEMP, env)).some((c) => c.state === 'running'));
        }],
      ] as const) {
        const job = start(in26(over), runner.env());
        await ready(job);
        if (what === 'build') expect(await runningBuilds('default', nonceOf(slow), env), 'the Engine\'s BuildKit runs the build').not.toEqual([]);
        const t0 = Date.now();
        const end = await job.cancel();
        const seconds = (Date.now() - t0) / 1000;
        const atExit = [...job.processes().map((p) => `process ${p.args.slice(0, 60)}`), ...(await smokeContainersUnder(job.env.RUNNER_TEMP, env)).map((c) => `container ${c.name}`)];
        const post = await job.post();
        const builds = { builder: 'default', nonce: nonceOf(slow) }; // the smoke job's builds had finished before
        await until('BuildKit to record the cancel', async () => (await runningBuilds('default', builds.nonce, env)).length === 0, 10_000).catch(() => undefined);
        const left = await leftovers(job, { env, cacheDir: runner.cacheDir, builds });
        const { outcome, line } = outcomeOf(end.code, job.output, [new RegExp(`^${what}: Cancelled by the runner \\(SIGINT\\)`), /nothing was pushed/]);
        recordFault({ fault: `cancel during the ${what === 'build' ? 'build' : 'smoke run'} (Engine 26, docker driver)`, injected: `SIGINT to the main step on Engine 26.1 (containerd image store, its BuildKit, docker CLI 26), ${what === 'build' ? '300 s build step running' : 'smoke container running'}`, times: end.after === 'SIGINT' ? 1 : 2, outcome, line, lost: lost(job, what === 'build' ? ['cache-key'] : ['image-id', 'cache-key']), left: [...atExit.map((l) => `${l} at the main step's exit`), ...left], seconds });
        expect(end.after, job.output.slice(-3000)).toBe('SIGINT');
        expect(atExit).toEqual([]);
        expect(outcome, line).toBe('failed clearly');
        expect(post.code, post.output).toBe(0);
        expect(left).toEqual([]);
      }
    } finally {
      const images = jobs.map((j) => j.files().outputs['image-id']).filter((id) => id);
      if (images.length) await cmd('docker', ['image', 'rm', '--force', ...images], { ...process.env, ...runner.env() });
      runner.cleanup();
    }
  });

  it('after the cancels, the next job on the same host builds, tests, saves and pushes', async () => {
    const repo = 'pcb-flt/after-cancels';
    const job = start(inputs({ push: 'true', tags: `${REGISTRY}/${repo}:${RUN}`, 'build-args': slowBuildArgs(0) }));
    const end = await job.exited;
    const post = await job.post();
    expect(end.code, job.output.slice(-3000)).toBe(0);
    expect(post.code).toBe(0);
    const o = job.files().outputs;
    expect(o.digest).toBe(await registryTag(REGISTRY, repo, RUN));
    expect(await leftovers(job, scope)).toEqual([]);
    const entries = cacheListing(cacheDir).entries;
    expect(entries).toEqual([o['cache-key']]);
    expect(checkEntry(cacheDir, entries[0]).problems).toEqual([]);
  });

  it('four jobs at once on one Engine, builder and cache dir: nothing crosses, each entry is written once and whole', async () => {
    const dir = path.join(tmp, 'cache-shared');
    const prefix = `pcb-flt-two-${RUN}`;
    const repo = 'pcb-flt/at-once';
    const shared = (note: string, over: Record<string, string> = {}) => inputs({
      'cache-dir': dir, 'cache-key-prefix': prefix, push: 'true', tags: `${REGISTRY}/${repo}:${RUN}-${note}`,
      'build-args': `PCB_FIXTURE_NOTE=${note}\nPCB_FAULT_ENV_MB=48`, ...over,
    });
    const watcher = watchCache(dir, 100);
    // A and B: the same env (one key), different images; C: another key
    const a = start(shared('a'));
    const b = start(shared('b'));
    // (C without the ballast: the watcher hashes every entry, and a big one would hold up the poll below)
    const c = start(shared('c', { 'cache-key-prefix': `${prefix}-c`, 'build-args': 'PCB_FIXTURE_NOTE=c' }));
    // the first save of the shared key: its job takes the key's lock (locks/KEY.lock, its pid
    // inside), then its save build writes the layout under tmp/, whose blobs are renamed into oci/
    // and whose record is renamed into entries/ last. Freeze that job there and start D,
    // which must not see a partial entry.
    const keyRe = new RegExp(`^${prefix}-v2-`);
    let saver: Job | null = null;
    let dBefore = 'after the save';
    await until('a save of the shared key', () => {
      const l = cacheListing(dir);
      const lock = l.locks.find((n) => keyRe.test(n) && n.endsWith('.lock'));
      let pid = 0;
      try { pid = lock ? (JSON.parse(fs.readFileSync(path.join(dir, 'locks', lock), 'utf8')) as { pid: number }).pid : 0; } catch { /* being written */ }
      saver = [a, b].find((j) => j.pid === pid) ?? null;
      if (saver) {
        saver.freeze();
        dBefore = cacheListing(dir).entries.some((n) => keyRe.test(n)) ? 'after the save' : 'while the first job was saving (frozen there)';
        return true;
      }
      return l.entries.some((n) => keyRe.test(n));
    }, 300_000, 1);
    const d = start(shared('d'));
    const dEnd = await d.exited;
    (saver as Job | null)?.thaw();
    const ends = await Promise.all([a.exited, b.exited, c.exited]);
    const posts = await Promise.all([a, b, c, d].map((j) => j.post()));
    const seen = watcher.stop();
    const all = [a, b, c, d];
    const files = all.map((j) => j.files());
    const left = (await Promise.all(all.map((j) => leftovers(j, { cacheDir: dir })))).flat();
    const crossed: string[] = [];
    for (const [n, f] of files.entries()) {
      const note = 'abcd'[n];
      if (f.outputs.tags !== `${REGISTRY}/${repo}:${RUN}-${note}`) crossed.push(`job ${note}: tags ${f.outputs.tags}`);
      if (f.outputs.digest !== (await registryTag(REGISTRY, repo, `${RUN}-${note}`))) crossed.push(`job ${note}: its tag is not its digest`);
      const label = await cmd('docker', ['image', 'inspect', '--format', '{{ index .Config.Labels "org.pointcept.fixture.note" }}', f.outputs['image-id'] ?? 'none']);
      if (label.out !== note) crossed.push(`job ${note}: its image-id is job ${label.out}'s`);
    }
    const containers = new Set(all.map((j) => /\[command\] docker run --name (pcb-smoke-\S+)/.exec(j.output)?.[1]));
    const saved = files.filter((f, n) => n !== 2 && /miss \(saved in/.test(f.summary)).length;
    const warnings = all.flatMap((j) => j.output.split('\n').filter((l) => l.startsWith('::warning::env cache')));
    const codes = [...ends.map((e) => e.code), dEnd.code];
    const entries = cacheListing(dir).entries;
    const problems = [...seen.partial.map((p) => `partial entry seen: ${p.problems.join('; ')}`), ...entries.flatMap((k) => checkEntry(dir, k).problems)];
    const dHit = files[3].outputs['cache-hit'];
    recordFault({
      fault: 'jobs at once on one host',
      injected: `4 jobs on one Engine, builder and cache dir: 2 with one env, 1 with another at the same time, 1 more started ${dBefore}`,
      times: 4,
      outcome: codes.every((x) => x === 0) && !crossed.length && saved === 1 ? `survived (all 4 passed; the shared entry saved once; the 4th job: ${dHit === 'true' ? 'hit' : 'clean miss'})` : `exit codes ${codes.join(', ')}; ${crossed.join('; ')}; saved ${saved} times`,
      line: all.map((j) => j.output.split('\n').find((l) => /^env cache: not saved/.test(l))).find((l) => l) ?? '',
      lost: [...problems, ...crossed],
      left,
      seconds: Math.max(...ends.map((e) => e.seconds), dEnd.seconds),
    });
    expect(codes, all.map((j) => j.output.slice(-1500)).join('\n-----\n')).toEqual([0, 0, 0, 0]);
    expect(posts.map((p) => p.code)).toEqual([0, 0, 0, 0]);
    expect(crossed).toEqual([]);
    expect(containers.size, 'each job had its own smoke container').toBe(4);
    expect(saved, 'the shared entry was written once').toBe(1);
    expect(warnings, 'a lost race is not a warning').toEqual([]);
    expect(seen.rounds).toBeGreaterThan(10);
    expect(problems).toEqual([]);
    expect(entries.sort()).toEqual([files[0].outputs['cache-key'], files[2].outputs['cache-key']].sort());
    expect(left).toEqual([]);
    if (saver) expect(dHit, 'D started while the entry was being written: a clean miss').toBe('false');
  });
});

// Faults of the env cache, injected into the bundled action (dist/) run as the runner runs it, on the
// real Engine, buildx with the `remote` builder, BuildKit and the registry of .ci/setup: a damaged
// local entry, a cache dir on a full disk, and a registry cache that refuses connections or every
// upload. A cache must never fail a job: each job here must pass, say what happened in one warning,
// and leave no partial entry. Each test adds its row to the fault table (faults/table.ts). Skipped
// unless PCB_E2E=1.
//
// STAND-INS: the fixture project (busybox; its "conda env" and "python" are stand-ins), with
// PCB_FAULT_ENV_MB MiB of random bytes in the env where a test needs an env layer of some size.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { breakRecord, cacheListing, checkEntry, damagedLayerCacheBlobs, envLayerOf, flipBytes, layerCacheHolds, memberDataOffset, truncateLayer } from './faults/cache-entry.js';
import { leftovers, uniqueTag } from './faults/checks.js';
import { slowFixture } from './faults/host.js';
import { Job, removeJobs } from './faults/job.js';
import { FaultProxy, PATHS } from './faults/registry-proxy.js';
import { SmallFs } from './faults/small-fs.js';
import { outcomeOf, recordFault, warningLines } from './faults/table.js';
import { BASE, BUILDER, E2E, REGISTRY } from './services.js';

const RUN = uniqueTag();

describe.skipIf(!E2E)('faults of the env cache: a damaged entry, a full disk, a failing registry (real dockerd, buildx, BuildKit, registry)', () => {
  let tmp = '';
  let ctx = '';
  const jobs: Job[] = [];
  let proxy: FaultProxy;
  const inputs = (over: Record<string, string>) => ({
    context: ctx, builder: BUILDER, 'base-image': BASE, gpu: 'false', 'torch-cuda-arch-list': '9.0', 'max-jobs': '1', ...over,
  });
  /** Runs one job to its end, post step included. */
  const runJob = async (i: Record<string, string>) => {
    const job = new Job(i);
    jobs.push(job);
    const end = await job.exited;
    const post = await job.post();
    return { job, end, post, outputs: job.files().outputs };
  };
  /** The main build's argv as the job printed it. */
  const mainBuild = (job: Job) => job.output.split('\n').find((l) => /^\[command\].* buildx build /.test(l) && !/--target env-/.test(l)) ?? '';

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-flt-cache-e2e-'));
    ctx = slowFixture(path.join(tmp, 'project'));
    proxy = await FaultProxy.start(REGISTRY);
  });
  afterAll(async () => {
    await proxy?.close();
    await removeJobs(jobs);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('a damaged local entry (a changed byte of the env layer, the layer cut short with its size fixed up, the record cut short) is found before use, reported and rebuilt', async () => {
    const cacheDir = path.join(tmp, 'cache-damaged');
    const local = inputs({ 'cache-backend': 'local', 'cache-dir': cacheDir, 'cache-key-prefix': `pcb-flt-dmg-${RUN}`, 'build-args': 'PCB_FAULT_ENV_MB=4' });
    const first = await runJob(local);
    expect(first.end.code, first.job.output.slice(-3000)).toBe(0);
    const key = first.outputs['cache-key'];
    expect(checkEntry(cacheDir, key).problems).toEqual([]);
    // the entry's env layer is the layer cache's file: damaging one damages both
    expect(layerCacheHolds(cacheDir, envLayerOf(cacheDir, key)), 'the save linked the layer cache\'s env layer').toBe(true);
    const damages: [string, () => void, RegExp][] = [
      ['one byte of a file in the env layer changed (same size)', () => flipBytes(envLayerOf(cacheDir, key), memberDataOffset(envLayerOf(cacheDir, key), /pcb-fault-ballast$/) + 1000), /does not match its checksums \(.*the [\d.]+ MiB at byte \d+ do not match their checksum\)/],
      ['the env layer cut to half, the record\'s size changed to match', () => truncateLayer(cacheDir, key, true), /does not match its checksums/],
      ['the record (entries/KEY.json) cut in the middle', () => breakRecord(cacheDir, key, 'truncated'), /is damaged \(entries\/\S+\.json does not parse/],
    ];
    const seen: { what: string; code: number | null; line: string; hit: string; fed: boolean; problems: string[]; left: string[]; damagedLayers: string[]; seconds: number }[] = [];
    for (const [what, damage, says] of damages) {
      damage();
      const r = await runJob(local);
      const line = warningLines(r.job.output).find((l) => l.startsWith(`env cache: the entry ${key}`)) ?? '';
      seen.push({
        what, code: r.end.code, line, hit: r.outputs['cache-hit'],
        fed: /--build-context conda-env=/.test(mainBuild(r.job)),
        problems: checkEntry(cacheDir, key).problems,
        left: await leftovers(r.job, { cacheDir }),
        damagedLayers: damagedLayerCacheBlobs(cacheDir),
        seconds: r.end.seconds,
      });
      expect(r.end.code, r.job.output.slice(-3000)).toBe(0);
      expect(line).toMatch(says);
      expect(line).toMatch(/it was removed, and the environment is built instead$/);
    }
    const after = await runJob(local);
    const bad = seen.filter((s) => s.code !== 0 || !s.line || s.hit !== 'false' || s.fed);
    recordFault({
      fault: 'corrupt cache entry',
      injected: `local entry damaged 3 ways in turn: ${damages.map(([w]) => w).join('; ')}`,
      times: damages.length,
      outcome: bad.length ? `not handled: ${bad.map((s) => s.what).join('; ')}` : 'survived (each damage caught before use, one warning; the env rebuilt and saved again; the next job hit)',
      line: seen[0]?.line ?? '',
      lost: [...seen.flatMap((s) => [...s.problems, ...s.damagedLayers.map((b) => `${b} damaged`)]), ...(after.outputs['cache-hit'] === 'true' ? [] : ['the re-saved entry did not restore'])],
      left: seen.flatMap((s) => s.left),
      seconds: Math.max(...seen.map((s) => s.seconds)),
    });
    for (const s of seen) {
      expect(s.hit, s.what).toBe('false');
      expect(s.fed, `${s.what}: the damaged entry reached the build`).toBe(false);
      expect(s.problems, `${s.what}: the entry saved again is whole`).toEqual([]);
      expect(s.left).toEqual([]);
      expect(s.damagedLayers, `${s.what}: no layer cache keeps the damaged bytes`).toEqual([]);
    }
    expect(after.end.code).toBe(0);
    expect(after.outputs['cache-hit'], 'the entry saved after the last damage restores').toBe('true');
  });

  it('the cache dir on a full disk (no room for the env layer; no room at all): the build and smoke run pass, the save warns, nothing partial is left', async () => {
    // the env carries 8 MiB of ballast: its layer cannot fit in 2 MiB, and with the disk filled up
    // not even the key's lock file can be written
    const cases: [string, (d: SmallFs) => void][] = [['2 MiB free', () => undefined], ['0 bytes free', (d) => d.fill(0)]];
    const seen: { what: string; code: number | null; smoke: string; hit: string; line: string; left: string[]; sized: string[]; seconds: number }[] = [];
    for (const [what, prepare] of cases) {
      const disk = SmallFs.mount(2 * 1024 * 1024, 'full');
      try {
        prepare(disk);
        const cacheDir = path.join(disk.dir, 'cache');
        const r = await runJob(inputs({ 'cache-backend': 'local', 'cache-dir': cacheDir, 'cache-key-prefix': `pcb-flt-full-${RUN}`, 'build-args': 'PCB_FAULT_ENV_MB=8' }));
        seen.push({
          what, code: r.end.code, smoke: r.outputs['smoke-passed'], hit: r.outputs['cache-hit'],
          line: warningLines(r.job.output).find((l) => l.startsWith('env cache: not saved')) ?? warningLines(r.job.output).join(' | '),
          left: [...await leftovers(r.job, { cacheDir }), ...cacheListing(cacheDir).entries.map((e) => `cache entries/${e}.json`), ...cacheListing(cacheDir).blobs.map((b) => `cache oci/blobs/sha256/${b}`)],
          sized: disk.files().filter((f) => f.bytes > 0 && f.file !== '.pcb-flt-filler').map((f) => `${f.file} (${f.bytes} bytes)`),
          seconds: r.end.seconds,
        });
      } finally {
        disk.unmount();
      }
    }
    const says = /^env cache: not saved: no space left in the cache dir \S+ \(\d+\.\d MiB free\); the build is not affected, and nothing of the save was kept$/;
    const bad = seen.filter((s) => s.code !== 0 || s.smoke !== 'true' || !says.test(s.line));
    recordFault({
      fault: 'disk full (cache dir)',
      injected: `cache dir on a 2 MiB tmpfs (the kernel answers ENOSPC), an env layer of 8 MiB; ${cases.map(([w]) => w).join(', then ')}`,
      times: cases.length,
      outcome: bad.length ? `not handled: ${bad.map((s) => `${s.what}: exit ${s.code}, smoke-passed ${s.smoke}`).join('; ')}` : 'survived (built and tested; the save warned)',
      line: seen[0]?.line ?? '',
      lost: [],
      left: seen.flatMap((s) => [...s.left, ...s.sized]),
      seconds: Math.max(...seen.map((s) => s.seconds)),
    });
    for (const s of seen) {
      expect(s.code, s.what).toBe(0);
      expect(s.smoke, s.what).toBe('true');
      expect(s.hit, s.what).toBe('false');
      expect(s.line, s.what).toMatch(says);
      expect(s.left, `${s.what}: no partial entry, no temp file, no lock`).toEqual([]);
      expect(s.sized, `${s.what}: nothing of size on the full disk`).toEqual([]);
    }
  });

  /** A job with the registry backend behind the proxy: its end, its warnings and the one its save ended with. */
  const registryCacheJob = async (repo: string) => {
    const r = await runJob(inputs({ 'cache-backend': 'registry', 'cache-ref': `${proxy.address}/pcb-flt-cache-${RUN}/${repo}` }));
    const warnings = warningLines(r.job.output);
    const save = warnings.find((l) => l.startsWith('env cache: not saved (the build is not affected): the push of')) ?? '';
    return { r, warnings, save, outcome: outcomeOf(r.end.code, r.job.output).outcome };
  };

  it('the registry cache refuses connections for the whole job: restore and save degrade to warnings, the job passes', async () => {
    await proxy.refuse();
    try {
      // "404" in the repository: the refused lookup's text then holds it whatever port the proxy
      // drew, and a refusal must still not pass for "not found" (a plain miss, with no warning)
      const { r, warnings, save, outcome } = await registryCacheJob('env404');
      const lookup = warnings.find((l) => l.startsWith('env cache: could not look up')) ?? '';
      recordFault({
        fault: 'registry cache down', injected: 'cache-backend registry behind a proxy that refuses every connection for the whole job', times: 1,
        outcome: outcome === 'survived' && lookup && save ? 'survived (built and tested; lookup and save each one warning)' : `${outcome}; warnings: ${warnings.join(' | ')}`,
        line: save, lost: [], left: await leftovers(r.job), seconds: r.end.seconds,
      });
      expect(r.end.code, r.job.output.slice(-3000)).toBe(0);
      expect(r.outputs['smoke-passed']).toBe('true');
      expect(lookup, warnings.join('\n')).toContain(proxy.address);
      expect(save, warnings.join('\n')).toContain(proxy.address);
      expect(r.job.files().summary).toMatch(/miss \(not saved\)/);
    } finally {
      await proxy.accept();
    }
  });

  it('the registry cache answers 503 to every blob upload: the save degrades to a warning, the job passes', async () => {
    const rule = proxy.inject({ fault: { kind: 'status', status: 503 }, path: PATHS.blobUpload });
    try {
      const { r, warnings, save, outcome } = await registryCacheJob('env503');
      recordFault({
        fault: 'registry cache refuses uploads', injected: 'cache-backend registry: 503 to every blob upload, for the whole job', times: rule.hits,
        outcome: outcome === 'survived' && save ? 'survived (built and tested; the save warned)' : `${outcome}; warnings: ${warnings.join(' | ')}`,
        line: save, lost: [], left: await leftovers(r.job), seconds: r.end.seconds,
      });
      expect(r.end.code, r.job.output.slice(-3000)).toBe(0);
      expect(r.outputs['smoke-passed']).toBe('true');
      expect(rule.hits, 'the uploads reached the proxy').toBeGreaterThan(0);
      expect(save, warnings.join('\n')).toMatch(/503|Service Unavailable|UNAVAILABLE/i);
    } finally {
      rule.off();
    }
  });
});

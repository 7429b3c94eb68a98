// The fault tools checked against the real parts they fool: each fault the registry proxy injects
// is what docker push, BuildKit and buildx imagetools see; the small filesystem answers ENOSPC;
// the cache-entry checks tell a whole entry from a damaged one; the private Engine stops, crashes
// and comes back; a job's processes are found by their marker. Skipped unless PCB_E2E=1 (root,
// with the services of .ci/setup). The action's own handling of these faults is tested elsewhere.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../env-cache/oci-fixture.js';
import { breakRecord, cacheListing, checkEntry, envLayerOf, flipBytes, memberDataOffset, tarIsWhole, truncateLayer } from './cache-entry.js';
import { cmd, pinContainer, registryTag } from './host.js';
import { processesWithEnv } from './job.js';
import { PrivateDockerd } from './private-dockerd.js';
import { FaultProxy, PATHS } from './registry-proxy.js';
import { SmallFs } from './small-fs.js';

const E2E = process.env.PCB_E2E === '1';
const REGISTRY = process.env.PCB_REGISTRY ?? '127.0.0.1:5000';
const BUILDER = process.env.PCB_BUILDER ?? 'pcb-remote';
const BASE = process.env.PCB_BASE_IMAGE ?? `${REGISTRY}/pcb-base:busybox`;
const RUN = crypto.randomBytes(3).toString('hex');

describe.skipIf(!E2E)('fault tools (real docker, BuildKit, registry)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-flt-tools-'));
  let proxy: FaultProxy;
  const localTags: string[] = [];
  beforeAll(async () => { proxy = await FaultProxy.start(REGISTRY); });
  afterAll(async () => {
    await proxy.close();
    if (localTags.length) await cmd('docker', ['image', 'rm', ...localTags]);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** A build context whose one layer is fresh random bytes, so that a push must upload it. */
  function freshContext(name: string, bytes: number): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'blob.bin'), crypto.randomBytes(bytes));
    fs.writeFileSync(path.join(dir, 'Dockerfile'), 'FROM scratch\nCOPY blob.bin /\n');
    return dir;
  }
  const bkPush = (ctx: string, ref: string) => cmd('docker', ['buildx', 'build', '--builder', BUILDER, '--progress', 'plain', '--output', `type=image,name=${ref},push=true`, ctx]);

  it('passes a docker push through unchanged, upload Locations included', async () => {
    const tag = `${proxy.address}/pcb-flt/tools-pass:${RUN}`;
    localTags.push(tag);
    expect((await cmd('docker', ['tag', BASE, tag])).code).toBe(0);
    const r = await cmd('docker', ['push', tag]);
    expect(r.code, r.out).toBe(0);
    expect(await registryTag(REGISTRY, 'pcb-flt/tools-pass', RUN)).toMatch(/^sha256:/);
    expect(proxy.requests('PUT', PATHS.manifest).at(-1)?.status).toBe(201);
  });

  it('503 on every request: imagetools inspect fails with that status', async () => {
    const rule = proxy.inject({ fault: { kind: 'status', status: 503 }, path: PATHS.any });
    const r = await cmd('docker', ['buildx', 'imagetools', 'inspect', '--raw', `${proxy.address}/pcb-base:busybox`]);
    rule.off();
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('503 Service Unavailable');
    expect(rule.hits).toBeGreaterThan(0);
    expect((await cmd('docker', ['buildx', 'imagetools', 'inspect', '--raw', `${proxy.address}/pcb-base:busybox`])).code).toBe(0);
  });

  it('429 with Retry-After on manifest PUTs: BuildKit gives up and names the status', async () => {
    const rule = proxy.inject({ fault: { kind: 'status', status: 429, retryAfter: 1 }, method: 'PUT', path: PATHS.manifest });
    const r = await bkPush(freshContext('t429', 4096), `${proxy.address}/pcb-flt/tools-429:${RUN}`);
    rule.off();
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('toomanyrequests');
    expect(proxy.requests('PUT', PATHS.manifest).filter((e) => e.status === 429).every((e) => e.fault === 'status 429')).toBe(true);
  });

  it('cuts a blob upload after N bytes, once: BuildKit retries the blob and the push succeeds', async () => {
    const rule = proxy.inject({ fault: { kind: 'cut', afterBytes: 100_000 }, method: 'PUT', path: PATHS.blobUpload, times: 1 });
    const r = await bkPush(freshContext('tcut', 1 << 20), `${proxy.address}/pcb-flt/tools-cut:${RUN}`);
    rule.off();
    expect(r.code, r.out).toBe(0);
    expect(rule.hits).toBe(1);
    const cut = proxy.log.find((e) => e.fault === 'cut after 100000 bytes');
    expect(cut?.bodyBytes).toBe(100_000);
    expect(cut?.status).toBeNull();
  });

  it('refuses connections until accept()', async () => {
    await proxy.refuse();
    const r = await cmd('docker', ['buildx', 'imagetools', 'inspect', '--raw', `${proxy.address}/pcb-base:busybox`]);
    await proxy.accept();
    expect(r.out).toContain('connection refused');
    expect((await cmd('docker', ['buildx', 'imagetools', 'inspect', '--raw', `${proxy.address}/pcb-base:busybox`])).code).toBe(0);
  });

  it('a small tmpfs answers ENOSPC where its space ends', () => {
    const fsys = SmallFs.mount(64 * 1024, 'tools');
    try {
      fsys.fill(8192);
      expect(fsys.free()).toBeLessThanOrEqual(8192);
      expect(() => fs.writeFileSync(path.join(fsys.dir, 'big'), Buffer.alloc(64 * 1024))).toThrow(/ENOSPC/);
    } finally {
      fsys.unmount();
    }
    expect(fs.existsSync(fsys.dir)).toBe(false);
  });

  it('tells a whole cache entry from a truncated, altered or unreadable one', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const key = 'pcb-flt-tools-v2-linux-amd64-0';
    const src = path.join(tmp, 'envsrc');
    fs.mkdirSync(path.join(src, 'conda', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(src, 'conda', 'bin', 'python'), '#!/bin/sh\nexec sh "$@"\n');
    fs.writeFileSync(path.join(src, 'conda', 'payload'), crypto.randomBytes(64 * 1024)); // half the layer is inside it
    const layerTar = path.join(tmp, 'layer.tar');
    expect((await cmd('tar', ['-C', src, '-cf', layerTar, 'conda'])).code).toBe(0);
    // an entry as the OCI image-layout rules have it: blobs named by their sha256, a record naming them
    const make = () => {
      fs.rmSync(cacheDir, { recursive: true, force: true });
      const img = writeImage(path.join(cacheDir, 'oci'), [fs.readFileSync(layerTar)]);
      const size = (d: string) => fs.statSync(path.join(cacheDir, 'oci', 'blobs', 'sha256', d.slice(7))).size;
      const blobs = [img.target.digest, img.config, ...img.layers].map((digest) => ({ digest, size: size(digest) }));
      fs.mkdirSync(path.join(cacheDir, 'entries'), { recursive: true });
      fs.writeFileSync(path.join(cacheDir, 'entries', `${key}.json`), JSON.stringify({ schema: 2, key, target: img.target, blobs }));
    };
    make();
    expect(checkEntry(cacheDir, key).problems).toEqual([]);
    expect(cacheListing(cacheDir).entries).toEqual([key]);
    truncateLayer(cacheDir, key, true);
    expect(tarIsWhole(fs.readFileSync(envLayerOf(cacheDir, key)))).toBe(false);
    expect(checkEntry(cacheDir, key).problems.join()).toMatch(/does not match its digest/);
    make();
    truncateLayer(cacheDir, key);
    expect(checkEntry(cacheDir, key).problems.join()).toMatch(/has \d+ bytes, the record says \d+/);
    make();
    const layer = envLayerOf(cacheDir, key);
    flipBytes(layer, memberDataOffset(layer, /bin\/python$/) + 2);
    expect(tarIsWhole(fs.readFileSync(layer))).toBe(true); // a data byte: only the digest sees it
    expect(checkEntry(cacheDir, key).problems).toEqual([expect.stringMatching(/^blob sha256:[0-9a-f]{12} does not match its digest$/)]);
    make();
    breakRecord(cacheDir, key, 'truncated');
    expect(checkEntry(cacheDir, key).problems.join()).toMatch(/^entries\/\S+\.json: /);
  });

  it('finds a process by the marker in its environment, and only while it runs', async () => {
    const marker = `PCB_FAULT_JOB=tools-${RUN}`;
    const sleeper = cmd('sh', ['-c', 'sleep 30 & wait'], { ...process.env, PCB_FAULT_JOB: `tools-${RUN}` });
    await new Promise((r) => setTimeout(r, 300));
    const found = processesWithEnv(marker);
    expect(found.map((p) => p.args).sort()).toEqual(['sh -c sleep 30 & wait', 'sleep 30']);
    for (const p of found) process.kill(p.pid, 'SIGKILL');
    await sleeper;
    expect(processesWithEnv(marker)).toEqual([]);
  });

  it('a private Engine stops, crashes and comes back; a pinned container cannot be removed until unpinned', async () => {
    const engine = await PrivateDockerd.start('tools');
    try {
      const env = engine.env();
      expect((await cmd('docker', ['pull', '--quiet', BASE], env)).code).toBe(0);
      const name = `pcb-flt-tools-${RUN}`;
      expect((await cmd('docker', ['run', '--detach', '--network', 'none', '--name', name, BASE, 'sleep', '300'], env)).code).toBe(0);
      const unpin = await pinContainer(name, env);
      const rm = await cmd('docker', ['rm', '--force', name], env);
      expect(rm.code).not.toBe(0);
      expect(rm.out).toContain('failed to remove root filesystem');
      await unpin();
      await engine.down('SIGKILL');
      expect((await cmd('docker', ['ps'], env)).out).toMatch(/Cannot connect to the Docker daemon/);
      await engine.up();
      expect((await cmd('docker', ['rm', '--force', name], env)).code).toBe(0);
      engine.freeze();
      const frozen = await Promise.race([cmd('docker', ['ps'], env).then(() => 'answered'), new Promise((r) => setTimeout(() => r('no answer'), 3000))]);
      engine.thaw();
      expect(frozen).toBe('no answer');
    } finally {
      await engine.dispose();
    }
    expect(fs.existsSync(engine.dir)).toBe(false);
  });
});

// End to end with a real Docker Engine, buildx and BuildKit (services from .ci/setup; skipped unless
// PCB_E2E=1). The env-cache module is driven the way src/pipeline.ts drives it: key -> restore ->
// env builds (session.exports) -> a build that reads the env -> on a miss, the save build
// (`--target conda-env`, session.save) -> save, with real `docker buildx build` runs of the fixture
// project (__tests__/env-cache/fixture + the real docker/create-env.sh). A hit hands the entry to
// the build as the named context `conda-env`, which replaces the whole stage.
//
// STAND-IN: no conda channel is reachable here, so the fixture's Miniforge installer is a stand-in
// whose `mamba env create` makes the env from the environment file's lines without downloading, and
// prints "PCB-STANDIN-MAMBA" into the build log. Everything else (create-env.sh, the build contexts,
// BuildKit, the cache backends, the registry) is real.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeEnvCacheKey, restoreEnvCache, saveEnvCache, type EnvCacheSession, type EnvCacheSettings, type SaveResult,
} from '../../src/env-cache/index.js';
import { readEntry, storeDir } from '../../src/env-cache/local.js';
import { BASE_IMAGE, E2E, PrivateBuilder, REGISTRY, build, makeContext, sh, shAsync, buildArgv } from './e2e-helpers.js';

const MARKER = 'PCB-STANDIN-MAMBA: solving and creating env';
const BASE = { image: BASE_IMAGE, digest: null };

interface RunResult { session: EnvCacheSession; log: string; list: string; lock: string; save: SaveResult | null }

let tmp: string;
let ctx: string;

function keyOf(s: EnvCacheSettings, envFileText: string): string {
  return computeEnvCacheKey({
    envFileText,
    lockFileText: null,
    baseImage: BASE_IMAGE,
    miniforgeVersion: '0.0.1-standin',
    dockerfileText: fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8'),
    createEnvScriptText: fs.readFileSync(path.join(ctx, 'docker', 'create-env.sh'), 'utf8'),
    platform: 'linux/amd64',
    prefix: s.keyPrefix,
  });
}

/** The env builds of a session, then a build of what later stages see of the env (env-view). */
async function buildWith(builder: string, session: EnvCacheSession, envFileText: string, work: string): Promise<{ log: string; list: string; envSpecDir: string }> {
  const envSpecDir = path.join(work, 'env-spec');
  fs.mkdirSync(envSpecDir, { recursive: true });
  fs.writeFileSync(path.join(envSpecDir, 'environment.yml'), envFileText);
  let log = '';
  for (const o of session.exports) log += await build({ builder, context: ctx, target: o.target, output: o.output, buildContexts: session.buildContexts, envSpecDir });
  const seen = path.join(work, 'seen');
  log += await build({ builder, context: ctx, target: 'env-view', output: `type=local,dest=${seen}`, buildContexts: session.buildContexts, envSpecDir });
  return { log, list: fs.readFileSync(path.join(seen, 'standin-list'), 'utf8'), envSpecDir };
}

/** The save of a miss, with the real save build (`--target conda-env --output <each of session.save.outputs>`). */
function saveOf(builder: string, s: EnvCacheSettings, session: EnvCacheSession, envSpecDir: string): Promise<SaveResult> {
  return saveEnvCache(s, session, {
    base: BASE,
    build: async () => {
      const argv = buildArgv({ builder, context: ctx, target: 'conda-env', output: session.save!.outputs, buildContexts: session.buildContexts, envSpecDir, extra: ['--provenance=false'] });
      const r = await shAsync('docker', argv);
      return { exitCode: r.code, failure: r.out.slice(-500), metadata: null };
    },
  });
}

/** One action run's env-cache part: restore, the builds, and on a miss the save. */
async function runOnce(builder: string, s: EnvCacheSettings, envFileText: string, label: string): Promise<RunResult> {
  const work = path.join(tmp, `work-${label}`);
  fs.mkdirSync(work, { recursive: true });
  const session = await restoreEnvCache(s, keyOf(s, envFileText), path.join(work, 'env-cache'));
  const b = await buildWith(builder, session, envFileText, work);
  const save = session.hit ? null : await saveOf(builder, s, session, b.envSpecDir);
  return { session, log: b.log, list: b.list, save, lock: fs.readFileSync(session.lockPath, 'utf8') };
}

const ENV = fs.readFileSync(path.join(__dirname, 'fixture', 'environment.yml'), 'utf8');

describe.skipIf(!E2E)('env cache end to end: local backend', () => {
  let builder: PrivateBuilder;
  let s: EnvCacheSettings;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-envcache-e2e-'));
    ctx = makeContext(path.join(tmp, 'ctx'));
    builder = new PrivateBuilder('local');
    await builder.start();
    s = { backend: 'local', keyPrefix: 'pcb-e2e', cacheDir: path.join(tmp, 'cache'), cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
  }, 120_000);
  afterAll(async () => {
    await builder?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  let first: RunResult;
  it('run 1 on a cold builder creates the env and saves the conda-env stage image as an entry', async () => {
    first = await runOnce(builder.name, s, ENV, '1');
    expect(first.session.hit).toBe(false);
    expect(first.log).toContain(MARKER);
    expect(first.save).toMatchObject({ saved: true });
    const entry = readEntry(s.cacheDir, first.session.key);
    expect(entry?.sizeBytes).toBeGreaterThan(1024 * 1024); // the 1 MiB stand-in payload and more
    expect(entry?.base).toEqual(BASE);
    expect(fs.readdirSync(path.join(s.cacheDir, 'tmp'))).toEqual([]);
    expect(first.lock).toMatch(/^@EXPLICIT$/m);
    expect(first.lock).toContain('# pip:\naddict==2.4.0\n');
  }, 300_000);

  it('run 2 on a wiped builder takes the env from the entry: the conda-env stage is replaced, nothing is created', async () => {
    await builder.wipe();
    const second = await runOnce(builder.name, s, ENV, '2');
    const entry = readEntry(s.cacheDir, first.session.key)!;
    expect(second.session).toMatchObject({ hit: true, key: first.session.key, matchedKey: first.session.key });
    expect(second.session.buildContexts).toEqual(['--build-context', `conda-env=oci-layout://${path.join(tmp, 'work-2', 'env-cache', 'entry')}@${entry.target.digest}`]);
    expect(second.log).not.toContain(MARKER);
    expect(second.log).not.toContain('PCB-STANDIN-MINIFORGE');
    expect(second.list).toBe(first.list);
    expect(second.lock).toBe(first.lock);
  }, 300_000);

  it('a blob of the entry damaged on disk is caught before the build: a warning, the entry removed, the env created again', async () => {
    const entry = readEntry(s.cacheDir, first.session.key)!;
    const layer = [...entry.blobs].sort((a, b) => b.size - a.size)[0];
    const file = path.join(storeDir(s.cacheDir), 'blobs', 'sha256', layer.digest.slice(7));
    const fd = fs.openSync(file, 'r+');
    const buf = Buffer.alloc(1);
    fs.readSync(fd, buf, 0, 1, Math.floor(layer.size / 2));
    buf[0] ^= 0xff;
    fs.writeSync(fd, buf, 0, 1, Math.floor(layer.size / 2));
    fs.closeSync(fd);
    const again = await runOnce(builder.name, s, ENV, '2d');
    expect(again.session.hit).toBe(false);
    expect(again.session.warnings).toEqual([expect.stringMatching(/does not match its checksums .*; it was removed, and the environment is built instead$/)]);
    expect(again.log).toContain(MARKER);
    expect(again.save).toMatchObject({ saved: true });
    expect(readEntry(s.cacheDir, first.session.key)).not.toBeNull();
  }, 300_000);

  it('run 3 with a changed pin misses and creates the env; the base layers its entry shares are stored once', async () => {
    const changed = ENV.replace('numpy=1.26.4', 'numpy=1.26.3');
    expect(changed).not.toBe(ENV);
    const third = await runOnce(builder.name, s, changed, '3');
    expect(third.session.hit).toBe(false);
    expect(third.session.key).not.toBe(first.session.key);
    expect(third.log).toContain(MARKER);
    expect(third.lock).toContain('/numpy-1.26.3-0.conda#');
    expect(third.save).toMatchObject({ saved: true });
    const [a, b] = [readEntry(s.cacheDir, first.session.key)!, readEntry(s.cacheDir, third.session.key)!];
    const shared = a.blobs.filter((x) => b.blobs.some((y) => y.digest === x.digest));
    expect(shared.length).toBeGreaterThan(0); // the base image's layer
    const stored = fs.readdirSync(path.join(storeDir(s.cacheDir), 'blobs', 'sha256'));
    expect(stored.length).toBe(new Set([...a.blobs, ...b.blobs].map((x) => x.digest)).size);
  }, 300_000);

  it('two runs saving the same key at once leave one valid entry, which a later run restores', async () => {
    const env = ENV.replace('addict==2.4.0', 'addict==2.3.0');
    // both runs miss and build the env with real builds, then save at the same time
    const runs = await Promise.all(['4a', '4b'].map(async (label) => {
      const work = path.join(tmp, `work-${label}`);
      const session = await restoreEnvCache(s, keyOf(s, env), path.join(work, 'env-cache'));
      const b = await buildWith(builder.name, session, env, work);
      return { session, envSpecDir: b.envSpecDir };
    }));
    expect(runs[0].session.key).toBe(runs[1].session.key);
    const saved = await Promise.all(runs.map((r) => saveOf(builder.name, s, r.session, r.envSpecDir)));
    expect(saved.filter((r) => r.saved)).toHaveLength(1);
    expect(saved.find((r) => !r.saved)).toMatchObject({ note: expect.stringMatching(/^env cache: not saved: (another job is saving this key now|the entry already exists|another job saved this key first)$/) });
    expect(saved.some((r) => r.warning)).toBe(false);
    expect(fs.readdirSync(path.join(s.cacheDir, 'entries')).filter((k) => k === `${runs[0].session.key}.json`)).toHaveLength(1);
    expect(readEntry(s.cacheDir, runs[0].session.key)).not.toBeNull();
    expect(fs.readdirSync(path.join(s.cacheDir, 'tmp'))).toEqual([]);
    expect(fs.readdirSync(path.join(s.cacheDir, 'locks')).filter((n) => n.endsWith('.lock'))).toEqual([]);
    // the entry is usable: a cold builder restores it
    await builder.wipe();
    const after = await runOnce(builder.name, s, env, '5');
    expect(after.session.hit).toBe(true);
    expect(after.log).not.toContain(MARKER);
    expect(after.list).toContain('addict 2.3.0 pypi_0 pypi');
  }, 600_000);
});

describe.skipIf(!E2E)('env cache end to end: registry backend against the local registry', () => {
  let one: PrivateBuilder;
  let two: PrivateBuilder;
  let s: EnvCacheSettings;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-envcache-reg-'));
    ctx = makeContext(path.join(tmp, 'ctx'));
    one = new PrivateBuilder('reg1');
    two = new PrivateBuilder('reg2');
    await one.start();
    await two.start();
    s = { backend: 'registry', keyPrefix: `pcb-e2e-${process.pid}-${Date.now()}`, cacheDir: '', cacheRef: `${REGISTRY}/pcb-env-cache-e2e`, maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
  }, 180_000);
  afterAll(async () => {
    await one?.dispose();
    await two?.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('saves from one builder and restores into a fresh one, pinned to the digest the registry has', async () => {
    const a = await runOnce(one.name, s, ENV, 'r1');
    expect(a.session.hit).toBe(false);
    expect(a.log).toContain(MARKER);
    expect(a.save).toMatchObject({ saved: true });
    const image = `${s.cacheRef}:${a.session.key}`;
    const raw = sh('docker', ['buildx', 'imagetools', 'inspect', '--raw', image]);
    expect(raw.code).toBe(0);
    const digest = /^Digest:\s+(\S+)/m.exec(sh('docker', ['buildx', 'imagetools', 'inspect', image]).out)?.[1];

    const b = await runOnce(two.name, s, ENV, 'r2');
    expect(b.session.hit).toBe(true);
    expect(b.session.buildContexts).toEqual(['--build-context', `conda-env=docker-image://${image}@${digest}`]);
    expect(b.session.sizeBytes).toBeGreaterThan(0);
    expect(b.log).not.toContain(MARKER);
    expect(b.list).toBe(a.list);
    expect(b.lock).toBe(a.lock);
  }, 600_000);
});

// End to end with a real Docker Engine, buildx and BuildKit (services from .ci/setup; skipped unless
// PCB_E2E=1). The env-cache module is driven the way src/pipeline.ts drives it: key -> restore ->
// env builds (session.exports) -> save, with real `docker buildx build` runs of the fixture
// project (__tests__/env-cache/fixture + the real docker/create-env.sh).
//
// STAND-IN: no conda channel is reachable here, so the fixture's Miniforge installer is a stand-in
// whose `mamba env create` makes the env from the environment file's lines without downloading, and
// prints "PCB-STANDIN-MAMBA" into the build log. Everything else (create-env.sh, the build contexts,
// BuildKit, the cache backends, the registry) is real.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  computeEnvCacheKey, restoreEnvCache, saveEnvCache, type EnvCacheSession, type EnvCacheSettings,
} from '../../src/env-cache/index.js';
import { entryDir, readEntry } from '../../src/env-cache/local.js';
import { BASE_IMAGE, E2E, PrivateBuilder, REGISTRY, build, makeContext, sh } from './e2e-helpers.js';

const MARKER = 'PCB-STANDIN-MAMBA: solving and creating env';

interface RunResult { session: EnvCacheSession; log: string; source: string; lock: string; saved: boolean | null }

let tmp: string;
let ctx: string;

/** One action run's env-cache part, then a build of the image's view of /opt/conda (env-source stage). */
async function runOnce(builder: string, s: EnvCacheSettings, envFileText: string, label: string): Promise<RunResult> {
  const work = path.join(tmp, `work-${label}`);
  fs.mkdirSync(work, { recursive: true });
  const key = computeEnvCacheKey({
    envFileText,
    lockFileText: null,
    baseImage: BASE_IMAGE,
    miniforgeVersion: '0.0.1-standin',
    dockerfileText: fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8'),
    createEnvScriptText: fs.readFileSync(path.join(ctx, 'docker', 'create-env.sh'), 'utf8'),
    platform: 'linux/amd64',
    prefix: s.keyPrefix,
  });
  const session = await restoreEnvCache(s, key, path.join(work, 'env-cache'));
  const envSpecDir = path.join(work, 'env-spec');
  fs.mkdirSync(envSpecDir, { recursive: true });
  fs.writeFileSync(path.join(envSpecDir, 'environment.yml'), envFileText);
  let log = '';
  for (const o of session.exports) {
    log += await build({ builder, context: ctx, target: o.target, output: o.output, buildContexts: session.buildContexts, envSpecDir });
  }
  const seen = path.join(work, 'seen');
  log += await build({ builder, context: ctx, target: 'env-source', output: `type=local,dest=${seen}`, buildContexts: session.buildContexts, envSpecDir });
  let saved: boolean | null = null;
  if (!session.hit) saved = (await saveEnvCache(s, session, session.exportDir)).saved;
  return {
    session, log, saved,
    source: fs.readFileSync(path.join(seen, '.pcb-env-source'), 'utf8').trim(),
    lock: fs.readFileSync(session.lockPath, 'utf8'),
  };
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
  it('run 1 on a cold builder creates the env and saves it', async () => {
    first = await runOnce(builder.name, s, ENV, '1');
    expect(first.session.hit).toBe(false);
    expect(first.log).toContain(MARKER);
    expect(first.source).toBe('created');
    expect(first.saved).toBe(true);
    const entry = readEntry(s.cacheDir, first.session.key);
    expect(entry?.sizeBytes).toBeGreaterThan(1024 * 1024); // the 1 MiB stand-in payload and more
    expect(first.lock).toMatch(/^@EXPLICIT$/m);
    expect(first.lock).toContain('# pip:\naddict==2.4.0\n');
  }, 300_000);

  it('run 2 on a wiped builder restores the env and does not create it', async () => {
    await builder.wipe();
    const second = await runOnce(builder.name, s, ENV, '2');
    expect(second.session).toMatchObject({ hit: true, key: first.session.key, matchedKey: first.session.key });
    expect(second.session.buildContexts).toEqual(['--build-context', `env-cache=${path.join(tmp, 'work-2', 'env-cache', 'env-cache')}`, '--build-context', `miniforge=${path.join(tmp, 'work-2', 'env-cache', 'miniforge-unused')}`]);
    expect(second.log).toContain('create-env: restoring the environment from the env cache');
    expect(second.log).not.toContain(MARKER);
    expect(second.log).not.toContain('PCB-STANDIN-MINIFORGE');
    expect(second.source).toBe('restored');
    expect(second.lock).toBe(first.lock);
  }, 300_000);

  it('run 3 with a changed pin misses and creates the env', async () => {
    const changed = ENV.replace('numpy=1.26.4', 'numpy=1.26.3');
    expect(changed).not.toBe(ENV);
    const third = await runOnce(builder.name, s, changed, '3');
    expect(third.session.hit).toBe(false);
    expect(third.session.key).not.toBe(first.session.key);
    expect(third.log).toContain(MARKER);
    expect(third.source).toBe('created');
    expect(third.lock).toContain('/numpy-1.26.3-0.conda#');
  }, 300_000);

  it('two runs saving the same key at once leave one valid entry, which a later run restores', async () => {
    const env = ENV.replace('addict==2.4.0', 'addict==2.3.0');
    // both runs miss and export the env with real builds, at the same time
    const runs = await Promise.all(['4a', '4b'].map(async (label) => {
      const work = path.join(tmp, `work-${label}`);
      const key = computeEnvCacheKey({ envFileText: env, lockFileText: null, baseImage: BASE_IMAGE, miniforgeVersion: '0.0.1-standin', dockerfileText: fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8'), createEnvScriptText: fs.readFileSync(path.join(ctx, 'docker', 'create-env.sh'), 'utf8'), platform: 'linux/amd64', prefix: s.keyPrefix });
      const session = await restoreEnvCache(s, key, path.join(work, 'env-cache'));
      const envSpecDir = path.join(work, 'env-spec');
      fs.mkdirSync(envSpecDir, { recursive: true });
      fs.writeFileSync(path.join(envSpecDir, 'environment.yml'), env);
      const exp = session.exports.find((o) => o.target === 'env-export')!;
      await build({ builder: builder.name, context: ctx, target: exp.target, output: exp.output, buildContexts: session.buildContexts, envSpecDir });
      return session;
    }));
    expect(runs[0].key).toBe(runs[1].key);
    // then save from two separate processes released at the same moment (local.ts transpiled for node)
    const mod = path.join(tmp, 'local.mjs');
    fs.writeFileSync(mod, ts.transpileModule(fs.readFileSync(path.join(__dirname, '../../src/env-cache/local.ts'), 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText);
    const worker = path.join(tmp, 'save.mjs');
    fs.writeFileSync(worker, `import * as fs from 'node:fs'; import { localSave } from ${JSON.stringify(mod)};
      const [dir, key, exp, go] = process.argv.slice(2); while (!fs.existsSync(go)) await new Promise((r) => setTimeout(r, 2));
      process.stdout.write(JSON.stringify(await localSave(dir, key, exp, 50 * 1024 ** 3)));`);
    const go = path.join(tmp, 'go');
    const results = runs.map((r) => new Promise<{ saved: boolean }>((resolve, reject) => {
      const p = spawn(process.execPath, [worker, s.cacheDir, r.key, r.exportDir, go], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      p.stdout.on('data', (b) => (out += b));
      p.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out)) : reject(new Error(`save worker exit ${c}`))));
    }));
    await new Promise((r) => setTimeout(r, 300));
    fs.writeFileSync(go, '');
    const saved = await Promise.all(results);
    expect(saved.filter((r) => r.saved)).toHaveLength(1);
    expect(fs.readdirSync(path.join(s.cacheDir, 'entries')).filter((k) => k === runs[0].key)).toHaveLength(1);
    expect(readEntry(s.cacheDir, runs[0].key)).not.toBeNull();
    expect(fs.readdirSync(path.join(s.cacheDir, 'tmp'))).toEqual([]);
    expect(sh('tar', ['-tf', path.join(entryDir(s.cacheDir, runs[0].key), 'env.tar')]).out).toContain('conda/envs/pointcept-standin/conda-meta/standin-list');
    // the entry is usable: a cold builder restores it
    await builder.wipe();
    const after = await runOnce(builder.name, s, env, '5');
    expect(after.session.hit).toBe(true);
    expect(after.log).not.toContain(MARKER);
    expect(after.source).toBe('restored');
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

  it('saves from one builder and restores into a fresh one', async () => {
    const a = await runOnce(one.name, s, ENV, 'r1');
    expect(a.session.hit).toBe(false);
    expect(a.log).toContain(MARKER);
    expect(a.saved).toBe(true);
    const image = `${s.cacheRef}:${a.session.key}`;
    expect(sh('docker', ['buildx', 'imagetools', 'inspect', image]).code).toBe(0);

    const b = await runOnce(two.name, s, ENV, 'r2');
    expect(b.session.hit).toBe(true);
    expect(b.session.buildContexts).toEqual(['--build-context', `env-cache=docker-image://${image}`, '--build-context', `miniforge=${path.join(tmp, 'work-r2', 'env-cache', 'miniforge-unused')}`]);
    expect(b.session.sizeBytes).toBeGreaterThan(0);
    expect(b.log).not.toContain(MARKER);
    expect(b.log).toContain('create-env: restoring the environment from the env cache');
    expect(b.source).toBe('restored');
    expect(b.lock).toBe(a.lock);
  }, 600_000);
});

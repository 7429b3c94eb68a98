// Benchmark of the env cache (run by scripts/bench-env-cache.sh; needs the services of .ci/setup).
// The fixture env holds PCB_BENCH_MB MiB (default 2048) of incompressible files that the STAND-IN
// mamba writes from /dev/urandom; the stand-in makes them in seconds, where a real solve + download
// of the Pointcept env takes 15-30 minutes, so the "no cache" time here is only a lower bound.
// Measured, all on a cold builder (buildkitd state deleted before each timed build):
//   A. no env cache: build the image (runtime stage, cache-only output)
//   B. warm local env cache: restore (link + checksums) + env-lock build + the same image build, the
//      entry handed over as the named context conda-env=oci-layout://DIR@DIGEST
//   plus the save path on a miss: the save build (--target conda-env, an uncompressed OCI layout
//   written into the cache dir's tmp/) and its commit (blobs checked against their digests, renamed).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeEnvCacheKey, restoreEnvCache, saveEnvCache, type EnvCacheSettings } from '../../../src/env-cache/index.js';
import { BASE_IMAGE, PrivateBuilder, build, makeContext } from '../e2e-helpers.js';

const MB = Number(process.env.PCB_BENCH_MB ?? '2048');

function stepSeconds(log: string, re: RegExp): number {
  // BuildKit plain progress: "#N [stage k/n] RUN ..." then "#N DONE 12.3s"
  const ids = [...log.matchAll(/^#(\d+) (.*)$/gm)].filter((m) => re.test(m[2])).map((m) => m[1]);
  let total = 0;
  for (const id of new Set(ids)) {
    const done = new RegExp(`^#${id} DONE (\\d+(?:\\.\\d+)?)s$`, 'm').exec(log);
    if (done) total += Number(done[1]);
  }
  return Math.round(total * 10) / 10;
}

const secs = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;

describe.skipIf(process.env.PCB_BENCH !== '1')('env cache benchmark', () => {
  it(`cold builder: no cache vs warm local cache, ${MB} MiB env`, async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-envcache-bench-'));
    const ctx = makeContext(path.join(tmp, 'ctx'));
    const env = fs.readFileSync(path.join(ctx, 'environment.yml'), 'utf8').replace('standin-payload=1', `standin-payload=${MB}`);
    fs.writeFileSync(path.join(ctx, 'environment.yml'), env);
    const specDir = path.join(tmp, 'spec');
    fs.mkdirSync(specDir);
    fs.writeFileSync(path.join(specDir, 'environment.yml'), env);
    const builder = new PrivateBuilder('bench');
    const rows: [string, number, string][] = [];
    try {
      await builder.start();
      const s: EnvCacheSettings = { backend: 'local', keyPrefix: 'pcb-bench', cacheDir: path.join(tmp, 'cache'), cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
      const key = computeEnvCacheKey({ envFileText: env, lockFileText: null, baseImage: BASE_IMAGE, miniforgeVersion: '0.0.1-standin', dockerfileText: fs.readFileSync(path.join(ctx, 'Dockerfile'), 'utf8'), createEnvScriptText: fs.readFileSync(path.join(ctx, 'docker', 'create-env.sh'), 'utf8'), platform: 'linux/amd64', prefix: 'pcb-bench' });
      const image = { context: ctx, target: 'runtime', output: 'type=cacheonly', envSpecDir: specDir };

      // A. cold builder, no env cache
      let t0 = Date.now();
      const logA = await build({ ...image, builder: builder.name, buildContexts: [] });
      const a = secs(t0);
      expect(logA).toContain('PCB-STANDIN-MAMBA');
      rows.push(['A. cold builder, no env cache: image build', a, `of which creating the env (stand-in mamba) ${stepSeconds(logA, /conda-env .*RUN/)} s`]);

      // Save path on a miss (same builder, env layers present as after the main build)
      const w1 = path.join(tmp, 'w1');
      const miss = await restoreEnvCache(s, key, path.join(w1, 'env-cache'));
      let logE = '';
      let buildS = 0;
      t0 = Date.now();
      const saved = await saveEnvCache(s, miss, {
        base: { image: BASE_IMAGE, digest: null },
        build: async () => {
          const t = Date.now();
          logE = await build({ ...image, builder: builder.name, buildContexts: miss.buildContexts, target: 'conda-env', output: miss.save!.outputs, extra: ['--provenance=false'] });
          buildS = secs(t);
          return { exitCode: 0, failure: '', metadata: null };
        },
      });
      const saveS = secs(t0);
      expect(saved.saved).toBe(true);
      const gib = (saved.sizeBytes! / 1024 ** 3).toFixed(2);
      rows.push(['save on a miss: save build (conda-env as an uncompressed OCI layout into the cache dir)', buildS, `of which exporting the layers ${stepSeconds(logE, /^exporting to oci/)} s; entry ${gib} GiB`]);
      rows.push(['save on a miss: commit (digests checked, blobs renamed into oci/, record written)', Math.round((saveS - buildS) * 10) / 10, `${(saved.sizeBytes! / 1024 ** 2 / Math.max(saveS, 0.1)).toFixed(0)} MiB/s for the whole save`]);

      // B. cold builder, warm local env cache
      await builder.wipe();
      const w2 = path.join(tmp, 'w2');
      t0 = Date.now();
      const hit = await restoreEnvCache(s, key, path.join(w2, 'env-cache'));
      const restoreS = secs(t0);
      expect(hit.hit).toBe(true);
      const t1 = Date.now();
      let envLog = '';
      for (const o of hit.exports) envLog += await build({ ...image, builder: builder.name, buildContexts: hit.buildContexts, target: o.target, output: o.output });
      const envBuildS = secs(t1);
      const logB = await build({ ...image, builder: builder.name, buildContexts: hit.buildContexts });
      const b = secs(t0);
      if (process.env.PCB_BENCH_LOG) fs.writeFileSync(process.env.PCB_BENCH_LOG, `${envLog}\n==== image build ====\n${logB}`);
      expect(envLog + logB).not.toContain('PCB-STANDIN-MAMBA');
      rows.push(['B. cold builder, warm local env cache: restore + env-lock + image build', b, `restoreEnvCache ${restoreS} s; env-lock build ${envBuildS} s; image build ${Math.round((b - restoreS - envBuildS) * 10) / 10} s`]);
      rows.push(['restore: link the entry + check its piece checksums (restoreEnvCache)', restoreS, `${(hit.sizeBytes! / 1024 ** 2 / Math.max(restoreS, 0.1)).toFixed(0)} MiB/s`]);
      rows.push(['restore: env-lock build on the cold builder (layout sent to BuildKit, layers unpacked)', envBuildS, `${(hit.sizeBytes! / 1024 ** 2 / Math.max(envBuildS, 0.1)).toFixed(0)} MiB/s`]);
    } finally {
      await builder.dispose();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const table = ['| measurement | seconds | notes |', '|---|---:|---|', ...rows.map(([n, v, note]) => `| ${n} | ${v} | ${note} |`)].join('\n');
    console.log(`\nenv cache benchmark (${MB} MiB env, ${os.cpus().length} CPUs)\n${table}\n`);
    if (process.env.PCB_BENCH_OUT) fs.writeFileSync(process.env.PCB_BENCH_OUT, `${table}\n`);
  });
});

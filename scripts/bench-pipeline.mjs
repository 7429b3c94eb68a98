// The runs of scripts/bench-pipeline.sh (read its header first): the bundled action, main then post
// like a runner, five or six times in a row on one copy of the fixture project, on the setup that
// PCB_BENCH_SETUP names (a private buildkitd that can be wiped, or the docker driver of one of
// .ci/engines.sh's Engines). Prints the markdown table.
//
//   node scripts/bench-pipeline.mjs WORK_DIR MIB
//
// The context, the stand-in env and the private builder are the env-cache e2e tests' own
// (__tests__/env-cache/e2e-helpers.ts: makeActionContext, PrivateBuilder), loaded through Vite's
// module runner, which compiles TypeScript on the fly.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runnerImport } from 'vite';
import { inputEnv, parseCommandFile, stateEnv } from './gh-files.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const [work, mibArg] = process.argv.slice(2);
const MIB = Number(mibArg);
if (!work || !(MIB > 0)) {
  console.error('usage: node scripts/bench-pipeline.mjs WORK_DIR MIB (MIB: the stand-in env payload, a positive number)');
  process.exit(2);
}

// e2e-helpers.ts is a CommonJS-style module (it reads __dirname); the module runner runs it as ESM.
globalThis.__dirname = path.join(root, '__tests__', 'env-cache');
const { module: helpers } = await runnerImport(path.join(root, '__tests__', 'env-cache', 'e2e-helpers.ts'), { logLevel: 'error' });

const ctx = helpers.makeActionContext(path.join(work, 'ctx'));
// The STAND-IN env's size: the stand-in mamba writes `standin-payload=N` as N MiB of incompressible
// 64 MiB files (a real env also has ~100k small files, which make tar slower per byte).
const envFile = path.join(ctx, 'environment.yml');
fs.writeFileSync(envFile, fs.readFileSync(envFile, 'utf8').replace(/^(\s*)- pip$/m, `$1- standin-payload=${MIB}\n$&`));
if (!fs.readFileSync(envFile, 'utf8').includes('standin-payload')) throw new Error(`${envFile}: no "- pip" line to put the stand-in payload before`);

// The STAND-IN wheels carry a checksum of the libs sources, as real wheels change with their
// sources: a libs change then gives a new image, which has to reach the Engine.
const dockerfile = path.join(ctx, 'docker', 'Dockerfile.gpu');
const wheelLine = '"$MAX_JOBS" > "/wheels/$lib-1.0.0-fixture.whl"; \\';
if (!fs.readFileSync(dockerfile, 'utf8').includes(wheelLine)) throw new Error(`${dockerfile}: the stand-in wheel line changed; update this script`);
fs.writeFileSync(dockerfile, fs.readFileSync(dockerfile, 'utf8').replace(wheelLine, wheelLine.replace('; \\', '; find /src/libs -type f | sort | xargs cat | sha256sum >> "/wheels/$lib-1.0.0-fixture.whl"; \\')));

// docker-classic and docker-containerd are Engine 26's; docker-ID names any Engine of .ci/engines.sh.
const ENGINE_OF_SETUP = { 'docker-classic': '26-classic', 'docker-containerd': '26-containerd' };
const engineIds = (process.env.PCB_ENGINES ?? '').split(',').map((s) => s.trim()).filter((s) => s);
const SETUPS = ['remote', ...Object.keys(ENGINE_OF_SETUP), ...engineIds.map((id) => `docker-${id}`)];
const BACKENDS = ['local', 'registry'];
const setupName = process.env.PCB_BENCH_SETUP || 'remote';
const backend = process.env.PCB_BENCH_BACKEND || 'local';
/** A setting this script cannot run with: one line, exit 2. */
function refuse(line) {
  console.error(`bench-pipeline: ${line}`);
  process.exit(2);
}
if (!SETUPS.includes(setupName)) refuse(`PCB_BENCH_SETUP: "${setupName}" is not accepted; use one of ${SETUPS.join(', ')}`);
if (!BACKENDS.includes(backend)) refuse(`PCB_BENCH_BACKEND: "${backend}" is not accepted; use one of ${BACKENDS.join(', ')}`);

/** Runs docker with ENV over this process's environment; its stdout, trimmed (throws on failure). */
function docker(env, ...args) {
  const r = spawnSync('docker', args, { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/**
 * The `remote` setup: a private buildkitd (host network, reaches the test registry) that "wiped"
 * deletes entirely; the image is loaded into the Engine of DOCKER_HOST.
 */
function remoteSetup() {
  const b = new helpers.PrivateBuilder('bench-pipeline');
  return {
    env: {}, builder: b.name, start: () => b.start(), wipe: () => b.wipe(), dispose: () => b.dispose(),
    // PrivateBuilder keeps the buildkitd pid it started in a TS-private field
    buildkitPids: () => [b.pid],
    describe: () => `the \`remote\` driver to a private buildkitd (BuildKit ${spawnSync('buildkitd', ['--version'], { encoding: 'utf8' }).stdout.split(' ')[2]}),`
      + ` the image loaded into Docker Engine ${docker({}, 'version', '--format', '{{.Server.Version}}')}`,
  };
}

/**
 * The `docker-*` setups: a runner whose Engine is one of .ci/engines.sh's Docker 26 Engines (classic
 * or containerd image store), with a buildx state of its own whose current builder is the Engine's
 * default one (the docker driver), as on a fresh self-hosted runner. "Wiped" prunes the Engine's
 * build cache; the env cache's entry image stays in the Engine's store, which is that backend's
 * cache, as it would on a runner. BuildKit runs inside dockerd: its reads and writes are those of
 * dockerd and its containerd.
 */
function engineSetup(id) {
  const name = `PCB_ENGINE_${id.toUpperCase().replace(/-/g, '_')}`;
  const host = process.env[name];
  const hookLog = process.env[`${name}_HOOK_LOG`];
  if (!host || !hookLog) refuse(`PCB_BENCH_SETUP=${setupName}: ${name} is not set (run .ci/setup, which starts the Engines and writes .ci/.env)`);
  const cli = process.env[`${name}_CLI`];
  const buildxConfig = path.join(work, 'buildx');
  fs.mkdirSync(buildxConfig, { recursive: true });
  const env = { DOCKER_HOST: host, BUILDX_CONFIG: buildxConfig, PATH: [...(cli ? [cli] : []), process.env.PATH].join(':') };
  const dockerdPid = Number(fs.readFileSync(path.join(path.dirname(hookLog), 'dockerd.pid'), 'utf8'));
  const pruneBuildCache = async () => { docker(env, 'buildx', 'prune', '--all', '--force'); };
  const cacheImages = () => new Set(docker(env, 'image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', 'pcb-env-cache').split('\n').filter((l) => l));
  const before = cacheImages();
  // the entry images this benchmark put into the Engine's store
  const forgetEntries = () => { const made = [...cacheImages()].filter((r) => !before.has(r)); if (made.length) docker(env, 'image', 'rm', ...made); };
  return {
    env, builder: 'default', start: pruneBuildCache, wipe: pruneBuildCache,
    forgetEntries,
    dispose: async () => forgetEntries(),
    buildkitPids: () => [dockerdPid, ...spawnSync('pgrep', ['-P', String(dockerdPid), 'containerd'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l).map(Number)],
    describe: () => `the \`docker\` driver of Docker Engine ${docker(env, 'version', '--format', '{{.Server.Version}}')}`
      + ` (${/io\.containerd\.snapshotter/.test(docker(env, 'info', '--format', '{{json .DriverStatus}}')) ? 'containerd' : 'classic'} image store)`,
  };
}

const setup = setupName === 'remote' ? remoteSetup() : engineSetup(ENGINE_OF_SETUP[setupName] ?? setupName.slice('docker-'.length));
const cacheDir = path.join(work, 'cache');
const runnerTemp = path.join(work, 'runner-temp'); // one per runner, like a runner's _work/_temp
fs.mkdirSync(runnerTemp, { recursive: true });
const images = new Set();
const inputs = {
  context: ctx, 'base-image': helpers.BASE_IMAGE, 'cache-backend': backend, 'cache-dir': cacheDir,
  ...(backend === 'registry' ? { 'cache-ref': `${helpers.REGISTRY}/pcb-bench-pipeline/env-${process.pid}` } : {}),
  'cache-key-prefix': `pcb-bench-pipeline-${process.pid}`, 'miniforge-version': '0.0.1-standin',
  gpu: 'true', 'torch-cuda-arch-list': '9.0', 'max-jobs': '2', 'smoke-timeout': '300',
};
process.env.GITHUB_RUN_ID = `bench${process.pid}`; // names the smoke containers

/** /proc/PID/io as numbers (rchar, wchar, read_bytes, write_bytes, ...). */
function procIo(file) {
  return Object.fromEntries(fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)]));
}

/** Every file under dir with its size and mtime, to tell what a run wrote into the cache dir. */
function snapshot(dir, out = new Map()) {
  if (!fs.existsSync(dir)) return out;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) snapshot(p, out);
    else if (e.isFile()) {
      const st = fs.statSync(p);
      out.set(p, `${st.size}:${st.mtimeMs}:${st.ino}`);
    }
  }
  return out;
}
const sizeOf = (entry) => Number(entry.split(':')[0]);

/**
 * Runs one step (dist/STEP/index.js) with every output line stamped with its second since the start.
 * The step runs under bash, which prints its own /proc/self/io after the step ended: that counts the
 * bytes read and written by the step and every process it waited for (docker, buildx). Not sh: dash
 * drops the INPUT_* variables whose names have a hyphen.
 */
function runStep(step, env, logFile) {
  return new Promise((resolve) => {
    const ioFile = `${logFile}.io`;
    const t0 = Date.now();
    const p = spawn('bash', ['-c', '"$0" "$1"; rc=$?; cat /proc/$$/io > "$2"; exit $rc', process.execPath, path.join(root, 'dist', step, 'index.js'), ioFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = [];
    let rest = '';
    const take = (chunk) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop();
      for (const l of parts) lines.push([(Date.now() - t0) / 1000, l]);
    };
    p.stdout.on('data', take);
    p.stderr.on('data', take);
    p.on('close', (code) => {
      if (rest) lines.push([(Date.now() - t0) / 1000, rest]);
      fs.writeFileSync(logFile, lines.map(([t, l]) => `${t.toFixed(1).padStart(7)} ${l}`).join('\n'));
      resolve({ code, seconds: (Date.now() - t0) / 1000, lines, io: fs.existsSync(ioFile) ? procIo(ioFile) : {} });
    });
  });
}

/** Seconds spent in each ::group:: of the log (a group ends at ::endgroup:: or at the next group). */
function groups(lines) {
  const out = [];
  let open = null;
  for (const [t, l] of lines) {
    const g = /^::group::(.*)$/.exec(l);
    if ((g || l === '::endgroup::') && open) {
      out.push({ name: open.name, start: open.start, seconds: t - open.start });
      open = null;
    }
    if (g) open = { name: g[1], start: t };
  }
  return out;
}

/**
 * BuildKit's plain progress of every build in the log, one build per `docker buildx build` line:
 * the steps that took 1 s or more ("target: step s") and the bytes buildx reported sending for the
 * env cache's named context (`conda-env`; buildx prints no transfer line for an oci-layout context,
 * whose blobs go through the session's content store: then 0, and buildkitd's reads tell the bytes).
 */
function buildkitSteps(lines) {
  const UNIT = { B: 1, kB: 1e3, KB: 1e3, MB: 1e6, GB: 1e9 };
  const steps = [];
  let target = '';
  let names = new Map();
  let envCacheSent = 0;
  for (const [, l] of lines) {
    const cmd = /\[command\]\s*\S*docker buildx build .*--target (\S+)/.exec(l) ?? (/\[command\]\s*\S*docker buildx build /.test(l) ? [l, 'image'] : null);
    if (cmd) {
      target = cmd[1];
      names = new Map();
      continue;
    }
    const m = /^#(\d+) (.*)$/.exec(l);
    if (!m) continue;
    const [, id, rest] = m;
    if (!names.has(id)) names.set(id, rest.replace(/\s+/g, ' ').slice(0, 48));
    const sent = /^transferring (?:env-cache|conda-env): ([\d.]+)([kKMG]?B) .*done$/.exec(rest);
    if (sent) envCacheSent += Number(sent[1]) * UNIT[sent[2]];
    const part = /^(exporting layers|sending tarball|exporting to client directory|writing layer \S+|extracting \S+|preparing layers for inline cache) ([\d.]+)s done$/.exec(rest);
    if (part && Number(part[2]) >= 1) steps.push(`${target}: ${part[1].replace(/sha256:\w+/, 'layer')} ${part[2]}`);
    const done = /^DONE ([\d.]+)s$/.exec(rest);
    if (done && Number(done[1]) >= 1) steps.push(`${target}: ${names.get(id)} ${done[1]}`);
  }
  return { steps, envCacheSent };
}

/** The "Build stages" table of the job summary: stage -> seconds (BuildKit's step times, summed). */
function buildStages(summary) {
  const table = summary.split('Build stages')[1] ?? '';
  return Object.fromEntries([...table.matchAll(/<tr><td>([\w.-]+)<\/td><td>([\d.]+)<\/td>/g)].map((m) => [m[1], Number(m[2])]));
}

const MB = (n) => (n / 1e6).toFixed(0);
const s1 = (n) => (n === undefined || n === null ? '-' : n.toFixed(1));

async function run(name) {
  const dir = path.join(work, 'runs', name.replace(/\W+/g, '-'));
  fs.mkdirSync(dir, { recursive: true });
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_'))), ...setup.env, ...inputEnv({ ...inputs, builder: setup.builder }), RUNNER_TEMP: runnerTemp, GITHUB_WORKSPACE: ctx };
  for (const [k, f] of Object.entries({ GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary.md', GITHUB_STATE: 'state' })) {
    env[k] = path.join(dir, f);
    fs.writeFileSync(env[k], '');
  }
  const bkPids = setup.buildkitPids();
  const bkIo = () => bkPids.map((p) => procIo(`/proc/${p}/io`)).reduce((a, io) => ({ rchar: a.rchar + io.rchar, write_bytes: a.write_bytes + io.write_bytes }), { rchar: 0, write_bytes: 0 });
  const bkBefore = bkIo();
  const cacheBefore = snapshot(cacheDir);
  console.error(`bench-pipeline: ${name} ...`);
  const main = await runStep('main', env, path.join(dir, 'main.log'));
  const bkAfter = bkIo();
  const cacheAfter = snapshot(cacheDir);
  const outputs = parseCommandFile(env.GITHUB_OUTPUT);
  const summary = fs.readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8');
  if (outputs['image-id']) images.add(outputs['image-id']);
  const post = await runStep('post', { ...env, ...stateEnv(env.GITHUB_STATE) }, path.join(dir, 'post.log'));
  if (main.code !== 0 || post.code !== 0) {
    console.error(main.lines.slice(-40).map(([, l]) => l).join('\n'));
    throw new Error(`${name}: main exit code ${main.code}, post exit code ${post.code} (logs in ${dir})`);
  }
  const g = groups(main.lines);
  const sum = (re) => g.filter((x) => re.test(x.name)).reduce((a, x) => a + x.seconds, 0);
  const smoke = g.find((x) => x.name === 'Smoke tests');
  // written: files that were not there before under any name (the layer cache renames its old
  // directory to retired-*, which moves files without writing them)
  const before = new Set(cacheBefore.values());
  const changed = [...cacheAfter].filter(([, v]) => !before.has(v));
  const under = (sub) => changed.filter(([p]) => p.startsWith(path.join(cacheDir, sub) + path.sep));
  // a save links the layer cache's blobs into the entry (the same file under two names): counted once, as the layer cache's
  const layerFiles = new Set(under('layers').map(([, v]) => v));
  const writtenUnder = (sub) => under(sub).filter(([, v]) => sub === 'layers' || !layerFiles.has(v)).reduce((a, [, v]) => a + sizeOf(v), 0);
  const bk = buildkitSteps(main.lines);
  const record = [...cacheAfter.keys()].find((p) => p.startsWith(path.join(cacheDir, 'entries') + path.sep) && p.endsWith('.json'));
  const entryBytes = record ? JSON.parse(fs.readFileSync(record, 'utf8')).sizeBytes : 0;
  const stages = buildStages(summary);
  const restored = /hit from [^<]*? \(([\d.]+) s/.exec(summary);
  const saved = /saved in ([\d.]+) s beside the smoke run[^;]*; waited ([\d.]+) s after it/.exec(summary);
  const row = {
    name, hit: outputs['cache-hit'], main: main.seconds, toSmoke: smoke?.start, restore: restored ? Number(restored[1]) : 0,
    envBuilds: sum(/^Env build: /), envBuildNames: g.filter((x) => /^Env build: /.test(x.name)).map((x) => `${x.name.slice(11)} ${s1(x.seconds)}`).join(', '),
    build: sum(/^Build$/), stages, save: saved ? Number(saved[1]) : 0, saveWait: saved ? Number(saved[2]) : 0, smoke: smoke?.seconds, post: post.seconds,
    entriesWritten: writtenUnder('oci') + writtenUnder('entries'), layersWritten: writtenUnder('layers'), envCacheSent: bk.envCacheSent, steps: bk.steps, entryBytes,
    bkRead: bkAfter.rchar - bkBefore.rchar, bkDiskWrite: bkAfter.write_bytes - bkBefore.write_bytes,
    clientRead: main.io.rchar ?? 0, clientWrite: main.io.wchar ?? 0,
  };
  fs.writeFileSync(path.join(dir, 'row.json'), JSON.stringify(row, null, 1));
  console.error(`bench-pipeline: ${name}: main ${s1(row.main)} s, smoke start at ${s1(row.toSmoke)} s`);
  return row;
}

/** A change of the build context between runs. */
function edit(what) {
  if (what === 'libs') fs.writeFileSync(path.join(ctx, 'libs', 'pointgroup_ops', 'bench-added.txt'), `added ${new Date().toISOString()}\n`);
  if (what === 'one-file') fs.appendFileSync(path.join(ctx, 'libs', 'pointops', 'README.md'), `\n<!-- bench edit ${Date.now()} -->\n`);
}

const rows = [];
try {
  await setup.start();
  rows.push(await run('cold: empty env cache, wiped builder'));
  await setup.wipe();
  rows.push(await run('warm env cache (and its layer cache), wiped builder'));
  if (setup.forgetEntries) {
    // a runner whose Engine lost its images (an `image prune`, a new disk): the restore loads the entry from the cache dir
    setup.forgetEntries();
    await setup.wipe();
    rows.push(await run('warm env cache, entry image gone from the Engine, wiped builder'));
  }
  edit('libs');
  rows.push(await run('libs-only change (a file added to libs/), warm builder'));
  edit('one-file');
  rows.push(await run('one-file change (libs/pointops/README.md), warm builder'));
  rows.push(await run('nothing changed, warm builder'));
} finally {
  if (images.size) spawnSync('docker', ['image', 'rm', '--force', ...images], { stdio: 'ignore', env: { ...process.env, ...setup.env } });
  await setup.dispose();
}

const stage = (r, s) => s1(r.stages[s]);
const table = [
  `Setup: ${setup.describe()}; env cache backend \`${backend}\`${backend === 'registry' ? ` (${inputs['cache-ref']}, the registry of .ci/setup on loopback)` : ''}.`,
  '',
  '| run | env cache | main step s | to smoke-run start s | env builds s | main build s | its conda-env / extensions / runtime / export s | smoke s | env save s (waited after the smoke run) | post s | env context sent by buildx MB | cache dir written: env entry / layer cache MB (a file in both counted once, under the layer cache) | buildkitd read / wrote to disk MB | action + docker CLIs read / wrote MB |',
  '|---|---|---:|---:|---|---:|---|---:|---|---:|---:|---|---|---|',
  ...rows.map((r) => `| ${r.name} | ${r.hit === 'true' ? 'hit' : 'miss'} | ${s1(r.main)} | ${s1(r.toSmoke)} | ${s1(r.envBuilds)}${r.envBuildNames ? ` (${r.envBuildNames})` : ''} | ${s1(r.build)} | ${stage(r, 'conda-env')} / ${stage(r, 'extensions')} / ${stage(r, 'runtime')} / ${stage(r, 'export')} | ${s1(r.smoke)} | ${r.save ? `${s1(r.save)} (${s1(r.saveWait)})` : '-'} | ${s1(r.post)} | ${MB(r.envCacheSent)} | ${MB(r.entriesWritten)} / ${MB(r.layersWritten)} | ${MB(r.bkRead)} / ${MB(r.bkDiskWrite)} | ${MB(r.clientRead)} / ${MB(r.clientWrite)} |`),
  '',
  backend === 'registry'
    ? `The env cache entry is the conda-env stage image in the registry, pushed by the save build (whose layer the main build's registry layer cache had pushed already); a hit pulls it as the \`docker-image://\` context. The lookups took ${rows.map((r) => s1(r.restore)).join(', ')} s in the ${rows.length} runs.`
    : `The env cache entry (the conda-env stage image): ${MB(rows[0].entryBytes)} MB. The restores (links into the job's layout + piece checksums; on the docker driver, the image's id checked in the Engine, or a \`docker load\` when it is gone) took ${rows.map((r) => s1(r.restore)).join(', ')} s in the ${rows.length} runs; the save (its build, the digests checked, the commit) ran beside the smoke run.`,
  '',
  'BuildKit steps of 1 s or more (build target: step seconds):',
  '',
  ...rows.map((r) => `- ${r.name}: ${r.steps.join('; ') || 'none'}`),
];
console.log(table.join('\n'));

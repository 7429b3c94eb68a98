// Overhead benchmark of the action itself (not of docker or the smoke run):
//   - node:       `node -e ""`, the floor of any Node program here
//   - start:      `node dist/main/index.js` with an invalid input: loading the bundle + reading inputs
//   - dry-run:    inputs, preflight, env-cache key, plan, printing (docker/nvidia-smi shims)
//   - full run:   every stage of a real run, with a docker shim that answers each command at once
//                 (build writes the iid/metadata/lock files, run writes a passing smoke report, push
//                 prints a digest), then the post step
// Usage: npm run bench [-- --runs N]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inputEnv, stateEnv } from './gh-files.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 10;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-bench-'));
const shims = path.join(tmp, 'bin');
fs.mkdirSync(shims);

const REPORT = JSON.stringify({
  schema: 1, ok: true, versions: { python: '3.11.10', torch: '2.5.0', torch_cuda: '12.4' },
  gpu: { name: 'Bench GPU', capability: '9.0', driver: '570.86.15', memory_gib: 80 },
  checks: [{ name: 'imports', ok: true, required: true, seconds: 0.1, detail: '' }],
});
fs.writeFileSync(path.join(shims, 'docker'), `#!/bin/sh
# bench shim: answers like docker, at once
case "$1 $2" in
  "version "*) echo '{"Version":"28.0.0","ApiVersion":"1.48"}' ;;
  "buildx version") echo "github.com/docker/buildx v0.19.0 bench" ;;
  "buildx inspect") printf 'Name:   bench\\nDriver: remote\\n' ;;
  "buildx build")
    prev=""
    for a in "$@"; do
      case "$prev" in
        --iidfile) echo sha256:1111111111111111111111111111111111111111111111111111111111111111 > "$a" ;;
        --metadata-file) echo '{"containerimage.digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222"}' > "$a" ;;
        --output) d=\${a#*dest=}; mkdir -p "$d"; echo '@EXPLICIT' > "$d/environment.lock" ;;
      esac
      prev=$a
    done
    printf '#1 [conda-env 1/2] FROM base\\n#1 DONE 0.1s\\n' >&2 ;;
  "run "*)
    prev=""
    for a in "$@"; do [ "$prev" = -v ] && d=\${a%%:/pcb-report}; prev=$a; done
    printf '%s' '${REPORT}' > "$d/report.json" ;;
  "push "*) echo "latest: digest: sha256:3333333333333333333333333333333333333333333333333333333333333333 size: 1" ;;
  "image inspect") echo '[]' ;;
  *) : ;;
esac
`, { mode: 0o755 });
fs.writeFileSync(path.join(shims, 'nvidia-smi'), '#!/bin/sh\necho "Bench GPU, 9.0, 570.86.15, 81920"\n', { mode: 0o755 });

const fixture = path.join(root, '__tests__', 'fixtures', 'project');
function envFor(inputs) {
  const dir = fs.mkdtempSync(path.join(tmp, 'run-'));
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('INPUT_'))), PATH: `${shims}:${process.env.PATH}`, RUNNER_TEMP: dir, GITHUB_OUTPUT: path.join(dir, 'out'), GITHUB_STEP_SUMMARY: path.join(dir, 'sum'), GITHUB_STATE: path.join(dir, 'state'), ...inputEnv(inputs) };
  for (const f of ['out', 'sum', 'state']) fs.writeFileSync(path.join(dir, f), '');
  return env;
}
// CPU time (user+sys) of the node processes, through GNU time when it is installed: on a loaded
// machine it says more than wall time.
const GNU_TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const cpuFile = path.join(tmp, 'cpu');
let cpu = 0;
function time(fn) {
  const t = [];
  const c = [];
  for (let n = 0; n < runs; n++) {
    cpu = 0;
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    c.push(cpu);
  }
  const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  return { median: med(t), min: Math.min(...t), max: Math.max(...t), cpu: GNU_TIME ? med(c) : null };
}
function node(script, env, want) {
  const argv = script ? [path.join(root, 'dist', script, 'index.js')] : ['-e', ''];
  const r = GNU_TIME
    ? spawnSync(GNU_TIME, ['-f', '%U %S', '-o', cpuFile, process.execPath, ...argv], { env, encoding: 'utf8' })
    : spawnSync(process.execPath, argv, { env, encoding: 'utf8' });
  if (want !== undefined && r.status !== want) throw new Error(`${script} exited ${r.status}, expected ${want}:\n${r.stdout}\n${r.stderr}`);
  if (GNU_TIME) cpu += fs.readFileSync(cpuFile, 'utf8').trim().split('\n').pop().split(' ').reduce((a, b) => a + Number(b) * 1000, 0);
  return r;
}

const base = { context: fixture, 'cache-backend': 'none', 'torch-cuda-arch-list': '9.0', tags: '127.0.0.1:5000/bench/x:1' };
const results = {
  'node -e ""': time(() => node(null, process.env, 0)),
  'bundle start (invalid input, exits after validation)': time(() => node('main', envFor({ ...base, push: 'maybe' }), 1)),
  'dry-run (inputs, preflight, key, plan)': time(() => node('main', envFor({ ...base, 'dry-run': 'true' }), 0)),
  'full run with a docker shim, + post step': time(() => {
    const env = envFor({ ...base, push: 'true', gpu: 'true' });
    node('main', env, 0);
    node('post', { ...env, ...stateEnv(env.GITHUB_STATE) }, 0);
  }),
};
fs.rmSync(tmp, { recursive: true, force: true });

const cpuModel = os.cpus()[0]?.model ?? 'unknown CPU';
const lines = [
  `Node ${process.version}, ${os.cpus().length} CPUs (${cpuModel}), load average ${os.loadavg()[0].toFixed(1)}, ${runs} runs each, in ms:`,
  '',
  '| What | wall median | wall min | wall max | CPU (user+sys) median |',
  '|---|---|---|---|---|',
  ...Object.entries(results).map(([k, v]) => `| ${k} | ${v.median.toFixed(0)} | ${v.min.toFixed(0)} | ${v.max.toFixed(0)} | ${v.cpu === null ? 'n/a' : v.cpu.toFixed(0)} |`),
];
console.log(lines.join('\n'));

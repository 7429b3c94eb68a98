// Runs the action on a workstation the way a runner does: dist/main/index.js with INPUT_* variables
// and fresh GITHUB_OUTPUT / GITHUB_STEP_SUMMARY / GITHUB_STATE files, then dist/post/index.js with
// the STATE_* variables the main step saved. Prints the outputs and the summary; exits with the
// main step's exit code.
//
//   npm run local-action -- [--inputs FILE.yml] [--input NAME=VALUE ...] [--keep DIR]
//
// FILE.yml is a map of inputs like a workflow's `with:` (${VAR} is taken from the environment).
// When .ci/.env exists (written by .ci/setup), its variables (DOCKER_HOST, PCB_*) are loaded first.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import yaml from 'js-yaml';
import { inputEnv, parseCommandFile, stateEnv } from './gh-files.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const inputs = {};
let keep = '';
const expand = (v) => String(v).replace(/\$\{(\w+)\}/g, (_, n) => process.env[n] ?? '');

const dotenv = path.join(root, '.ci', '.env');
if (fs.existsSync(dotenv)) {
  for (const line of fs.readFileSync(dotenv, 'utf8').split('\n')) {
    const m = /^(?:export\s+)?([A-Za-z_]\w*)=(.*)$/.exec(line.trim());
    if (m && process.env[m[1]] === undefined) process.env[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
}
for (let n = 0; n < args.length; n++) {
  if (args[n] === '--inputs') {
    const map = yaml.load(fs.readFileSync(args[++n], 'utf8')) ?? {};
    for (const [k, v] of Object.entries(map)) inputs[k] = expand(v);
  } else if (args[n] === '--input') {
    const kv = args[++n];
    const i = kv.indexOf('=');
    if (i <= 0) throw new Error(`--input takes NAME=VALUE, got ${JSON.stringify(kv)}`);
    inputs[kv.slice(0, i)] = kv.slice(i + 1);
  } else if (args[n] === '--keep') {
    keep = args[++n];
  } else {
    console.error(`unknown argument ${args[n]}; use --inputs FILE, --input NAME=VALUE, --keep DIR`);
    process.exit(2);
  }
}

const dir = keep || fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-local-action-'));
fs.mkdirSync(dir, { recursive: true });
const files = { GITHUB_OUTPUT: 'output', GITHUB_STEP_SUMMARY: 'summary.md', GITHUB_STATE: 'state' };
const env = { ...process.env, ...inputEnv(inputs), RUNNER_TEMP: process.env.RUNNER_TEMP || dir, GITHUB_WORKSPACE: process.env.GITHUB_WORKSPACE || process.cwd() };
for (const [k, f] of Object.entries(files)) {
  env[k] = path.join(dir, f);
  fs.writeFileSync(env[k], '');
}

const main = spawnSync(process.execPath, [path.join(root, 'dist', 'main', 'index.js')], { env, stdio: 'inherit' });
const post = spawnSync(process.execPath, [path.join(root, 'dist', 'post', 'index.js')], { env: { ...env, ...stateEnv(env.GITHUB_STATE) }, stdio: 'inherit' });
console.log('\n==== outputs ====');
for (const [k, v] of Object.entries(parseCommandFile(env.GITHUB_OUTPUT))) console.log(`${k}: ${v.length > 200 ? `${v.slice(0, 200)}...` : v}`);
console.log('\n==== summary ====');
console.log(fs.readFileSync(env.GITHUB_STEP_SUMMARY, 'utf8'));
console.log(`main exit code ${main.status}, post exit code ${post.status}; files in ${dir}`);
if (!keep && main.status === 0) fs.rmSync(dir, { recursive: true, force: true });
process.exit(main.status ?? 1);

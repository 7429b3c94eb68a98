// The fault table: runs the fault tests, then renders the rows they wrote as the README's table.
//
//   npm run fault-table                              run the fault tests (needs bash .ci/setup's
//                                                    services, as root), then write README.md's table
//   node scripts/fault-table.mjs --render FILE       print FILE's table (.ci/run does, after e2e)
//   node scripts/fault-table.mjs --render FILE --readme   ... and write it into README.md
//
// Each fault test (__tests__/e2e/faults*.test.ts, any file under __tests__/e2e/ whose name holds
// "faults", and the "registry faults" tests of __tests__/e2e/release.test.ts) appends one JSON line per fault to $PCB_FAULT_TABLE (__tests__/e2e/faults/table.ts):
// fault, injected, times, outcome, line, lost[], left[], seconds, handled. "Took" is the seconds
// from the fault to the end of the step that dealt with it. A fault measured twice keeps its
// last row. The README's table sits between <!-- faults:start --> and <!-- faults:end -->.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const valueOf = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

function readRows(file) {
  const rows = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim())) {
    const row = JSON.parse(line);
    rows.delete(row.fault); // the last measurement, in the order of the last run
    rows.set(row.fault, row);
  }
  return [...rows.values()];
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const list = (xs) => (xs.length ? xs.map(cell).join('; ') : 'nothing');
const short = (s, n = 240) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const good = (r) => r.handled === true;

function render(rows) {
  const when = rows.map((r) => r.at).filter((a) => a).sort().pop() ?? '';
  const out = [
    '| Fault | Injected | Times | Outcome | Took | Lost | Left behind | The line the job ended with |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${cell(r.fault)} | ${cell(r.injected)} | ${r.times} | ${cell(r.outcome)} | ${r.seconds.toFixed(1)} s | ${list(r.lost)} | ${list(r.left)} | ${r.line ? `\`${short(cell(r.line).replace(/`/g, "'"))}\`` : ''} |`),
    '',
    `${rows.length} faults: ${rows.filter(good).length} handled as they must be (survived, or failed with one clear line; nothing lost)${rows.some((r) => !good(r)) ? `; NOT handled: ${rows.filter((r) => !good(r)).map((r) => r.fault).join(', ')}` : ''}. Measured ${when.slice(0, 10)} by the fault tests (\`npm run fault-table\`, or the e2e stage of \`.ci/run\`).`,
  ];
  return out.join('\n');
}

function writeReadme(table) {
  const file = path.join(root, 'README.md');
  const text = fs.readFileSync(file, 'utf8');
  const re = /(<!-- faults:start -->\n)[\s\S]*?(<!-- faults:end -->)/;
  if (!re.test(text)) throw new Error('README.md lacks the <!-- faults:start --> / <!-- faults:end --> markers');
  fs.writeFileSync(file, text.replace(re, `$1${table}\n$2`));
  console.log('README.md: fault table written');
}

let file = valueOf('--render');
if (!file) {
  file = path.join(root, '.out', 'faults.jsonl');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  const env = { ...process.env, PCB_FAULT_TABLE: file };
  const r = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.e2e.config.ts', '__tests__/e2e/faults'], { cwd: root, env, stdio: 'inherit' });
  // the registry faults of a push live with the other publishing tests
  const reg = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.e2e.config.ts', '__tests__/e2e/release.test.ts', '-t', 'registry faults'], { cwd: root, env, stdio: 'inherit' });
  if (!fs.existsSync(file)) {
    console.error(`the fault tests wrote no rows to ${file} (is PCB_E2E=1 set, and are the services of .ci/setup up?)`);
    process.exit(1);
  }
  const table = render(readRows(file));
  console.log(table);
  writeReadme(table);
  process.exit(r.status || reg.status || 0);
}
if (!fs.existsSync(file)) {
  console.error(`no fault rows in ${file}`);
  process.exit(1);
}
const table = render(readRows(file));
console.log(table);
if (flag('--readme')) writeReadme(table);

// Writes the inputs and outputs tables of README.md from action.yml (between the
// <!-- inputs:start/end --> and <!-- outputs:start/end --> markers). A unit test checks they agree.
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const action = yaml.load(fs.readFileSync(path.join(root, 'action.yml'), 'utf8'));
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const inputs = ['| Input | Default | Description |', '|---|---|---|',
  ...Object.entries(action.inputs).map(([k, v]) => `| \`${k}\` | ${v.default === '' ? '' : `\`${cell(v.default)}\``} | ${cell(v.description)} |`)];
const outputs = ['| Output | Description |', '|---|---|', ...Object.entries(action.outputs).map(([k, v]) => `| \`${k}\` | ${cell(v.description)} |`)];
const file = path.join(root, 'README.md');
let text = fs.readFileSync(file, 'utf8');
for (const [name, rows] of [['inputs', inputs], ['outputs', outputs]]) {
  const re = new RegExp(`(<!-- ${name}:start -->\\n)[\\s\\S]*?(<!-- ${name}:end -->)`);
  if (!re.test(text)) throw new Error(`README.md lacks the <!-- ${name}:start --> / <!-- ${name}:end --> markers`);
  text = text.replace(re, `$1${rows.join('\n')}\n$2`);
}
fs.writeFileSync(file, text);

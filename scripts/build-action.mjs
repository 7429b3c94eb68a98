// Bundles the action with ncc: src/main.ts -> dist/main/index.js, src/post.ts -> dist/post/index.js
// (ES modules, runnable on Node 20 and 24). With --check, builds into a temp dir and fails when the
// committed dist/ differs from a fresh build.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const check = process.argv.includes('--check');
const out = check ? fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-dist-')) : path.join(root, 'dist');
const ncc = path.join(root, 'node_modules', '@vercel', 'ncc', 'dist', 'ncc', 'cli.js');

for (const entry of ['main', 'post']) {
  const dest = path.join(out, entry);
  fs.rmSync(dest, { recursive: true, force: true });
  execFileSync(process.execPath, [ncc, 'build', path.join(root, 'src', `${entry}.ts`), '-o', dest, '--license', 'licenses.txt', '--target', 'es2022', '--quiet'], { cwd: root, stdio: 'inherit' });
  // ncc marks ESM output with its own package.json; keep it so Node loads index.js as a module
  fs.writeFileSync(path.join(dest, 'package.json'), '{ "type": "module" }\n');
}

if (check) {
  const diffs = [];
  const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  const fresh = walk(out).map((f) => path.relative(out, f)).sort();
  const committed = fs.existsSync(path.join(root, 'dist')) ? walk(path.join(root, 'dist')).map((f) => path.relative(path.join(root, 'dist'), f)).sort() : [];
  for (const f of new Set([...fresh, ...committed])) {
    const a = path.join(out, f);
    const b = path.join(root, 'dist', f);
    if (!fs.existsSync(a) || !fs.existsSync(b) || !fs.readFileSync(a).equals(fs.readFileSync(b))) diffs.push(f);
  }
  fs.rmSync(out, { recursive: true, force: true });
  if (diffs.length) {
    console.error(`dist/ does not match a fresh build (run npm run build and commit dist/): ${diffs.join(', ')}`);
    process.exit(1);
  }
  console.log('dist/ matches a fresh build');
}

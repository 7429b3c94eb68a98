// README's "Runner setups" table and the end-to-end matrix cover the same setups: each row names the
// describe blocks of __tests__/e2e/matrix.test.ts that test it (separated by "; "), and each block is
// named by a row. A block made by describe.each takes its name from the first string of each of its
// rows (`  ['NAME', ...`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const matrix = fs.readFileSync(path.join(ROOT, '__tests__', 'e2e', 'matrix.test.ts'), 'utf8');

it('every row of the Runner setups table names its end-to-end case, and every case has a row', () => {
  const section = readme.split('\n## Runner setups\n')[1]?.split('\n## ')[0] ?? '';
  const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Runner setup:'));
  const named = rows.flatMap((r) => r.split('|').at(-2)!.split('; ').map((n) => n.trim()));
  const cases = [...matrix.matchAll(/^describe\.skipIf\(!E2E\)\('([^']+)'|^ {2}\['([^']+)'/gm)].map((m) => m[1] ?? m[2]);
  expect(rows.length).toBeGreaterThanOrEqual(6);
  expect(named).toEqual(cases);
});

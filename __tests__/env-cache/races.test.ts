// Two jobs of one host saving the same key: the one that loses says so as info, never as a warning
// (a warning on every second job of a busy runner would teach people to ignore warnings).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import * as api from '../../src/env-cache/index.js';
import { acquireLock } from '../../src/env-cache/local.js';
import type { EnvCacheSettings } from '../../src/env-cache/index.js';

const KEY = `pointcept-env-v1-linux-amd64-${'c'.repeat(64)}`;
let tmp: string;
let s: EnvCacheSettings;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-races-'));
  s = { backend: 'local', keyPrefix: 'pointcept-env', cacheDir: path.join(tmp, 'cache'), cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function missWithExport(name: string) {
  const session = await api.restoreEnvCache(s, KEY, path.join(tmp, name));
  fs.mkdirSync(session.exportDir, { recursive: true });
  fs.writeFileSync(path.join(session.exportDir, 'env.tar'), Buffer.alloc(1024, name.charCodeAt(0)));
  return session;
}

it('the second saver of a key gets a note, not a warning; so does one that finds the key being saved', async () => {
  const a = await missWithExport('a');
  const b = await missWithExport('b');
  expect(await api.saveEnvCache(s, a, a.exportDir)).toMatchObject({ saved: true });
  const second = await api.saveEnvCache(s, b, b.exportDir);
  expect(second).toMatchObject({ saved: false, note: 'env cache: not saved: the entry already exists' });
  expect(second.warning).toBeUndefined();

  fs.rmSync(path.join(s.cacheDir, 'entries'), { recursive: true });
  const release = acquireLock(s.cacheDir, KEY); // a job saving it right now (this process: alive)
  const c = await missWithExport('c');
  const busy = await api.saveEnvCache(s, c, c.exportDir);
  release?.();
  expect(busy).toMatchObject({ saved: false, note: 'env cache: not saved: another job is saving this key now' });
  expect(busy.warning).toBeUndefined();
});

it('a save that fails for a real reason is still a warning', async () => {
  const session = await api.restoreEnvCache(s, KEY, path.join(tmp, 'w'));
  const r = await api.saveEnvCache(s, session, session.exportDir); // env-export wrote nothing
  expect(r.warning).toMatch(/^env cache: not saved: no env\.tar in /);
  expect(r.note).toBeUndefined();
});

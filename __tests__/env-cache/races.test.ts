// Two jobs of one host saving the same key: the one that loses says so as info, never as a warning
// (a warning on every second job of a busy runner would teach people to ignore warnings).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import * as api from '../../src/env-cache/index.js';
import { acquireLock } from '../../src/env-cache/local.js';
import type { EnvCacheSettings } from '../../src/env-cache/index.js';
import { writeImage } from './oci-fixture.js';

const KEY = `pointcept-env-v2-linux-amd64-${'c'.repeat(64)}`;
let tmp: string;
let s: EnvCacheSettings;
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-races-'));
  s = { backend: 'local', keyPrefix: 'pointcept-env', cacheDir: path.join(tmp, 'cache'), cacheRef: '', maxSizeGb: 50, lockFile: '', miniforgeVersion: '0.0.1-standin', platform: 'linux/amd64' };
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

const BASE = { image: 'pcb-base:busybox', digest: null };
const miss = (name: string) => api.restoreEnvCache(s, KEY, path.join(tmp, name));
/** A save whose build writes an image of one layer (its fill byte from `name`) where the session says. */
const saveOf = (session: api.EnvCacheSession, name: string) =>
  api.saveEnvCache(s, session, { build: async () => { writeImage(session.save!.dir!, [Buffer.alloc(1024, name.charCodeAt(0))]); return { exitCode: 0, failure: '', metadata: null }; }, base: BASE });

it('the second saver of a key gets a note, not a warning; so does one that finds the key being saved', async () => {
  const a = await miss('a');
  const b = await miss('b');
  expect(await saveOf(a, 'a')).toMatchObject({ saved: true });
  const second = await saveOf(b, 'b');
  expect(second).toMatchObject({ saved: false, note: 'env cache: not saved: the entry already exists' });
  expect(second.warning).toBeUndefined();

  fs.rmSync(path.join(s.cacheDir, 'entries'), { recursive: true });
  const release = acquireLock(s.cacheDir, KEY); // a job saving it right now (this process: alive)
  const c = await miss('c');
  const busy = await saveOf(c, 'c');
  release?.();
  expect(busy).toMatchObject({ saved: false, note: 'env cache: not saved: another job is saving this key now' });
  expect(busy.warning).toBeUndefined();
  // the one saver's build never ran: nothing of it is left
  expect(fs.readdirSync(path.join(s.cacheDir, 'tmp'))).toEqual([]);
});

it('a save that fails for a real reason is still a warning', async () => {
  const session = await miss('w');
  const r = await api.saveEnvCache(s, session, { build: async () => ({ exitCode: 0, failure: '', metadata: null }), base: BASE }); // the build wrote nothing
  expect(r.warning).toMatch(/^env cache: not saved \(the build is not affected\): .*index\.json/);
  expect(r.note).toBeUndefined();
});

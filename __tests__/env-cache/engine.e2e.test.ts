// The Engine side of the env cache (src/env-cache/engine.ts) on Engine 20.10, the .ci/setup Engine,
// whose `docker save` writes Docker's own archive format (manifest.json, <config>.json,
// <id>/layer.tar) as every Engine before 25.0 does: the durable copy of an entry must come out of
// that format whole, and `docker load` must bring back the very same image. Engines 25+ (the OCI
// format) are covered by the 26.1.5 rows of __tests__/e2e/matrix.test.ts. Skipped unless PCB_E2E=1.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineImageId, loadIntoEngine, removeEngineImage, stageFromEngine } from '../../src/env-cache/engine.js';
import { makeRecord } from '../../src/env-cache/entry.js';
import { BASE_IMAGE, E2E, sh } from './e2e-helpers.js';

describe.skipIf(!E2E)('the Engine store of the env cache on an Engine that saves in Docker\'s own format', () => {
  let tmp = '';
  const loaded = `pcb-env-cache:e2e-legacy-${process.pid}`;
  beforeAll(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-engine-e2e-')); });
  afterAll(async () => {
    await removeEngineImage(loaded);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('docker save of Docker\'s own format becomes a checked OCI layout, and docker load gives back the same image', async () => {
    const members = sh('sh', ['-c', `docker save ${BASE_IMAGE} | tar -t`]).out.split('\n');
    expect(members, 'this Engine writes the old format (else this test proves nothing)').toContain('manifest.json');
    expect(members).not.toContain('index.json');
    const id = await engineImageId(BASE_IMAGE);
    const layers = JSON.parse(sh('docker', ['image', 'inspect', '--format', '{{json .RootFS.Layers}}', BASE_IMAGE]).out) as string[];

    const staged = await stageFromEngine(BASE_IMAGE, path.join(tmp, 'layout'));
    expect(staged.config, 'the config blob is the image id of the classic store').toBe(id);
    expect(staged.blobs.filter((b) => b.mediaType === 'application/vnd.oci.image.layer.v1.tar').map((b) => b.digest)).toEqual(layers);
    for (const b of staged.blobs) expect(fs.statSync(path.join(tmp, 'layout', 'blobs', 'sha256', b.digest.slice(7))).size).toBe(b.size);
    expect(fs.readdirSync(path.join(tmp, 'layout')).sort(), 'nothing of the archive is left but the layout').toEqual(['blobs', 'index.json', 'oci-layout']);

    const record = makeRecord('e2e-legacy', staged, { image: BASE_IMAGE, digest: null });
    expect(await loadIntoEngine(path.join(tmp, 'layout'), record, loaded)).toBeNull();
    expect(await engineImageId(loaded)).toBe(id);
  });
});

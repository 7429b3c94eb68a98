// The action's glue to the env-cache module: which facts of a run go into the env cache key.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envCacheKey, envCacheSettings } from '../src/envcache.js';
import { parseInputs } from '../src/inputs.js';
import { FIXTURE, ROOT, raw } from './helpers.js';

const inputs = parseInputs(raw(), ROOT);
const dockerfile = fs.readFileSync(path.join(FIXTURE, 'docker', 'Dockerfile.gpu'), 'utf8');
const settings = envCacheSettings(inputs, {});
const keyFor = (envName: string, baseImage = 'base:1') => envCacheKey(inputs, settings, dockerfile, baseImage, envName);

describe('envCacheKey', () => {
  it('is stable for the same run facts', () => {
    expect(keyFor('pointcept')).toBe(keyFor('pointcept'));
  });
  it.each([
    ['the env name (the cached tar holds envs/<name>)', keyFor('other-env')],
    ['the base image', keyFor('pointcept', 'base:2')],
  ])('changes with %s', (_what, changed) => {
    expect(changed).not.toBe(keyFor('pointcept'));
  });
});

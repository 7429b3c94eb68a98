// The recipe: every value the inputs and the Dockerfile lead to, resolved once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveRecipe, type Recipe } from '../src/recipe.js';
import { FIXTURE, ROOT, inputs, raw } from './helpers.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-recipe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const resolve = (over: Parameters<typeof raw>[0] = {}) => resolveRecipe(inputs(over), raw(over));
const recipe = (over: Parameters<typeof raw>[0] = {}) => {
  const r = resolve(over);
  if ('errors' in r) throw new Error(r.errors.join('\n'));
  return r as Recipe;
};
/** A copy of the fixture project with one file replaced. */
function projectWith(file: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, 'ctx-'));
  fs.cpSync(FIXTURE, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, file), text);
  return dir;
}

describe('resolveRecipe', () => {
  it('an empty input takes the Dockerfile default; a given one wins', () => {
    expect(recipe()).toMatchObject({ baseImage: 'pcb-base:busybox', envName: 'pointcept-fixture', miniforgeVersion: '24.11.3-0', archList: '7.5;8.0;8.6;8.9;9.0+PTX', cuda: null });
    expect(recipe({ 'base-image': 'nvidia/cuda:12.4.1-devel-ubuntu22.04', 'env-name': 'e', 'miniforge-version': '24.9.0-0', 'torch-cuda-arch-list': '9.0 8.0' }))
      .toMatchObject({ baseImage: 'nvidia/cuda:12.4.1-devel-ubuntu22.04', envName: 'e', miniforgeVersion: '24.9.0-0', archList: '9.0;8.0', cuda: { cuda: '12.4', newest: '9.0' } });
  });
  it("the action's own recipe: CUDA 12.4 from the env file's pin", () => {
    expect(recipe({ context: '' })).toMatchObject({ cuda: { cuda: '12.4', oldest: '5.0', newest: '9.0' }, archList: '7.5;8.0;8.6;8.9;9.0+PTX' });
  });
  it('the env-cache key is stable and changes with what decides the env', () => {
    const k = recipe().key;
    expect(k).toMatch(/^pointcept-env-v2-linux-amd64-[0-9a-f]{64}$/);
    expect(recipe().key).toBe(k);
    expect(recipe({ 'env-name': 'other' }).key).not.toBe(k); // the cached tar holds envs/<name>
    expect(recipe({ 'base-image': 'base:2' }).key).not.toBe(k);
    expect(recipe({ 'cache-key-prefix': 'p' }).key).toMatch(/^p-v2-/);
    expect(recipe({ 'cache-backend': 'none' }).key).toBe(k);
  });
  it('an env file that makes no key is an input error in the one style', () => {
    const ctx = projectWith('environment.yml', 'dependencies: [a\n');
    const r = resolve({ context: ctx });
    expect(r).toEqual({ errors: [expect.stringMatching(/^Input "environment-file": "environment.yml" is not accepted; it is not valid YAML \(.*\)\.$/)] });
  });
  it('a Dockerfile without a MINIFORGE_VERSION default and no input is an input error', () => {
    const text = fs.readFileSync(path.join(FIXTURE, 'docker', 'Dockerfile.gpu'), 'utf8').replace('ARG MINIFORGE_VERSION=24.11.3-0', 'ARG MINIFORGE_VERSION');
    const r = resolve({ context: projectWith('docker/Dockerfile.gpu', text) });
    expect(r).toEqual({ errors: ['Input "miniforge-version": "" is not accepted; docker/Dockerfile.gpu gives MINIFORGE_VERSION no default; name a release such as 24.11.3-0.'] });
  });
  it('a Dockerfile arch default that is no arch list is named', () => {
    const text = fs.readFileSync(path.join(FIXTURE, 'docker', 'Dockerfile.gpu'), 'utf8').replace('ARG TORCH_CUDA_ARCH_LIST="7.5;8.0;8.6;8.9;9.0+PTX"', 'ARG TORCH_CUDA_ARCH_LIST=sm_90');
    const r = resolve({ context: projectWith('docker/Dockerfile.gpu', text) });
    expect(r).toEqual({ errors: [expect.stringMatching(/^Input "torch-cuda-arch-list": "" is not accepted; the default of TORCH_CUDA_ARCH_LIST in docker\/Dockerfile.gpu is not an arch list/)] });
  });
  it('reads the files it needs once, from the context', () => {
    expect(recipe().dockerfile.path).toBe(path.join(FIXTURE, 'docker', 'Dockerfile.gpu'));
    expect(recipe({ context: '' }).dockerfile.path).toBe(path.join(ROOT, 'docker', 'Dockerfile.gpu'));
  });
  it('no-cache-filters names stages of the Dockerfile; a stage it lacks is one error naming the stages it has', () => {
    expect('errors' in resolve({ 'no-cache-filters': 'extensions,runtime' })).toBe(false);
    expect(resolve({ 'no-cache-filters': 'extensions,runtim' })).toEqual({ errors: [
      'Input "no-cache-filters": "runtim" is not accepted; docker/Dockerfile.gpu has no stage runtim; its stages are env-spec, miniforge, conda-env, env-lock, extensions, runtime.',
    ] });
  });
});

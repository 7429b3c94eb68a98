// action.yml, src/inputs.ts, src/report.ts and README.md describe the same inputs and outputs.
// action.yml is the one place defaults are written: src/inputs.ts reads them from it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { INPUT_NAMES, actionDefaults } from '../src/inputs.js';
import { VERSION_OUTPUTS, outputsFrom } from '../src/report.js';
import { ROOT } from './helpers.js';

interface ActionYml { name: string; description: string; author: string; branding: { icon: string; color: string }; inputs: Record<string, { description: string; required?: boolean; default?: string }>; outputs: Record<string, { description: string }>; runs: { using: string; main: string; post: string } }
const action = yaml.load(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')) as ActionYml;
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('action.yml', () => {
  it('is marketplace-ready and runs the bundles on node20', () => {
    expect(action.name).toBeTruthy();
    expect(action.description.length).toBeLessThanOrEqual(125);
    expect(action.author).toBeTruthy();
    expect(action.branding.icon && action.branding.color).toBeTruthy();
    expect(action.runs).toEqual({ using: 'node20', main: 'dist/main/index.js', post: 'dist/post/index.js' });
  });
  it('has exactly the inputs src/inputs.ts parses, each with a default and documented', () => {
    expect(Object.keys(action.inputs).sort()).toEqual([...INPUT_NAMES].sort());
    const defaults = actionDefaults(ROOT);
    for (const [name, spec] of Object.entries(action.inputs)) {
      expect(spec.default, `${name} has a default`).toBeDefined();
      expect(defaults[name as keyof typeof defaults], name).toBe(String(spec.default));
      expect(spec.description.length, name).toBeGreaterThan(10);
      expect(spec.required, name).toBe(false);
    }
  });
  it('documents every output the action can set', () => {
    const full = outputsFrom({
      plan: { tags: [], labels: [], gpu: false, push: true, smoke: true } as never,
      publish: { digest: 'd', testedManifest: 'm', imageId: 'i', moved: [{ tag: 't', digest: 'd' }], notMoved: [] } as never,
      preflight: { findings: [] } as never,
      build: { imageId: 'i', metadata: { 'containerimage.digest': 'd' }, seconds: 1 } as never,
      smoke: { passed: true, report: { schema: 1, ok: true, versions: {}, gpu: null, checks: [] } } as never,
      cache: { key: 'k', hit: false, matchedKey: '', lockFile: '/l' } as never,
      failure: { step: 's', message: 'm', tail: '' },
    });
    expect(Object.keys(action.outputs).sort()).toEqual(Object.keys(full).sort());
    for (const name of Object.keys(VERSION_OUTPUTS)) expect(action.outputs[name]).toBeDefined();
  });
});

describe('README tables match action.yml', () => {
  it('lists every input with its default', () => {
    for (const [name, spec] of Object.entries(action.inputs)) {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
      expect(row, `README row for input ${name}`).toBeDefined();
      expect(row!.split('|')[2].trim(), name).toBe(spec.default === '' ? '' : `\`${spec.default}\``);
    }
  });
  it('lists every output', () => {
    for (const name of Object.keys(action.outputs)) expect(readme, name).toContain(`| \`${name}\` |`);
  });
});

describe('the release workflow (.github/workflows/release.yml)', () => {
  interface Workflow { jobs: Record<string, { steps: { uses?: string; with?: Record<string, unknown> }[] }> }
  const workflow = yaml.load(fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8')) as Workflow;
  const build = Object.values(workflow.jobs).flatMap((j) => j.steps).find((s) => s.uses === './')!;
  const fixture = yaml.load(fs.readFileSync(path.join(ROOT, '__tests__', 'fixtures', 'release-inputs.yml'), 'utf8')) as Record<string, unknown>;
  const LOCAL = ['builder', 'base-image', 'gpu', 'torch-cuda-arch-list', 'max-jobs']; // the fixture's last block
  const STAND_INS = ['context', 'sbom']; // named in the fixture's header
  it('its build step runs this action with metadata-action\'s outputs, provenance and sbom on', () => {
    expect(build.with).toMatchObject({ push: true, tags: '${{ steps.meta.outputs.tags }}', labels: '${{ steps.meta.outputs.labels }}', annotations: '${{ steps.meta.outputs.annotations }}', provenance: 'mode=max', sbom: true });
  });
  it('the local-action fixture gives the same inputs, its literal values alike', () => {
    expect(Object.keys(fixture).filter((k) => !LOCAL.includes(k)).sort()).toEqual(Object.keys(build.with!).sort());
    for (const [k, v] of Object.entries(build.with!)) {
      if (typeof v === 'string' && v.includes('${{')) continue;
      if (!STAND_INS.includes(k)) expect(String(fixture[k]), k).toBe(String(v));
    }
  });
  it('is the README\'s release example (with the published action in place of ./)', () => {
    const text = fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'release.yml'), 'utf8');
    const body = text.slice(text.indexOf('name: release')).replace('uses: ./\n', 'uses: org/pointcept-conda-build@v1\n');
    expect(readme).toContain(body);
  });
});

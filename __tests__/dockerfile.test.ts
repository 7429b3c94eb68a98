import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REQUIRED_ARGS, REQUIRED_STAGES, inputOrArg, parseDockerfile, readDockerfile } from '../src/dockerfile.js';
import { FIXTURE, ROOT } from './helpers.js';

describe('the Dockerfiles hold every stage and ARG the action relies on', () => {
  it.each([path.join(ROOT, 'docker', 'Dockerfile.gpu'), path.join(FIXTURE, 'docker', 'Dockerfile.gpu')])('%s', (f) => {
    expect(fs.existsSync(f), `${f} must exist`).toBe(true);
    const d = readDockerfile(f);
    expect(d.missing).toEqual([]);
    expect(d.stages[d.stages.length - 1]).toBe('runtime');
  });
  it('the action and the Dockerfile have one default arch list: the Dockerfile ARG (the fixture says the same)', () => {
    const want = '7.5;8.0;8.6;8.9;9.0+PTX';
    expect(readDockerfile(path.join(ROOT, 'docker', 'Dockerfile.gpu')).args.TORCH_CUDA_ARCH_LIST).toBe(want);
    expect(readDockerfile(path.join(FIXTURE, 'docker', 'Dockerfile.gpu')).args.TORCH_CUDA_ARCH_LIST).toBe(want);
    // the documents that name it say the same
    expect(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toContain(want);
    expect(fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8')).toContain(want);
  });
});

describe('parseDockerfile', () => {
  it('reports what is missing', () => {
    expect(parseDockerfile('ARG BASE_IMAGE=x\nFROM ${BASE_IMAGE} AS conda-env\nFROM conda-env AS runtime\n').missing).toEqual([
      ...REQUIRED_STAGES.filter((s) => !['conda-env', 'runtime'].includes(s)).map((s) => `stage ${s}`),
      ...REQUIRED_ARGS.filter((a) => a !== 'BASE_IMAGE').map((a) => `ARG ${a}`),
    ]);
  });
  it('reads stages and ARG defaults (quotes removed, the first default kept)', () => {
    const d = parseDockerfile('ARG A="x;y"\nARG B\nFROM ${A} AS One\nRUN a\nARG A\nARG B=late\nFROM --platform=linux/amd64 scratch AS two\nRUN b\n');
    expect(d.args).toEqual({ A: 'x;y', B: 'late' });
    expect(d.stages).toEqual(['one', 'two']);
  });
  it('names the syntax an old built-in frontend cannot parse, unless a # syntax line picks the frontend', () => {
    expect(readDockerfile(path.join(ROOT, 'docker', 'Dockerfile.gpu')).syntax).toEqual([{ feature: 'ADD --checksum', syntax: '1.6', buildkit: '0.12' }]);
    expect(readDockerfile(path.join(FIXTURE, 'docker', 'Dockerfile.gpu')).syntax).toEqual([]);
    const text = 'FROM scratch AS miniforge\nADD --checksum=sha256:00 https://example.com/x /x\n';
    expect(parseDockerfile(text).syntax).toHaveLength(1);
    expect(parseDockerfile(`# syntax=docker/dockerfile:1.6\n${text}`).syntax).toEqual([]);
    expect(parseDockerfile(`# check=error=true\n# syntax=docker/dockerfile:1\n${text}`).syntax).toEqual([]);
    expect(parseDockerfile(`# a comment\n# syntax=docker/dockerfile:1\n${text}`).syntax).toHaveLength(1); // not a directive after a comment
  });
  it('an empty input takes the ARG default', () => {
    const d = parseDockerfile('ARG BASE_IMAGE=nvidia/cuda:12.4.1\n');
    expect(inputOrArg('', d, 'BASE_IMAGE')).toBe('nvidia/cuda:12.4.1');
    expect(inputOrArg('mine:1', d, 'BASE_IMAGE')).toBe('mine:1');
    expect(inputOrArg('', d, 'ENV_NAME')).toBe('');
  });
});

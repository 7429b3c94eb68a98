// The list inputs read metadata-action's outputs the way docker/build-push-action does (CSV rules of
// @docker/actions-toolkit), and metadata-action's comma-joined labels and annotations
// (sep-labels / sep-annotations: ",") read as several entries instead of one.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commaItems, joinedItems, lineItems, records } from '../src/lists.js';
import { inputErrors, inputs } from './helpers.js';

const recs = (v: string) => {
  const r = records(v);
  if (!Array.isArray(r)) throw new Error(`unclosed quote at line ${r.unclosedQuoteLine}`);
  return r;
};
const errorsOf = inputErrors;

// What metadata-action 5 writes (its README's examples, with values holding commas and spaces)
const META = {
  tags: 'ghcr.io/org/pc:1.2.3\nghcr.io/org/pc:1.2\nghcr.io/org/pc:latest',
  tagsComma: 'ghcr.io/org/pc:1.2.3,docker.io/org/pc:1.2.3',
  labels: 'org.opencontainers.image.created=2026-12-04T18:00:00.000Z\norg.opencontainers.image.description=Point clouds, fast\norg.opencontainers.image.licenses=MIT\norg.opencontainers.image.revision=0123abcd\norg.opencontainers.image.source=https://github.com/org/pc\norg.opencontainers.image.title=pc\norg.opencontainers.image.url=https://github.com/org/pc\norg.opencontainers.image.version=1.2.3',
  annotations: 'manifest:org.opencontainers.image.description=Point clouds, fast\nindex:org.opencontainers.image.description=Point clouds, fast\nmanifest:org.opencontainers.image.version=1.2.3',
};

describe('the CSV rules (src/lists.ts)', () => {
  it.each([
    ['a,b\nc', ['a', 'b', 'c']],
    ['  a  \n\n , b,', ['a', 'b']],
    ['"a,b",c', ['a,b', 'c']],
    ['"a,b"', ['a', 'b']], // one quoted field on a line is split again, as build-push-action does
    ['', []],
  ])('comma list %j', (v, want) => expect(commaItems(recs(v))).toEqual(want));
  it.each([
    ['type=registry,ref=x,mode=max\n# comment\ntype=local,src=/c', ['type=registry,ref=x,mode=max', 'type=local,src=/c']],
    ['A=1,2\r\nB=3', ['A=1,2', 'B=3']],
    ['"KEY=-----BEGIN-----\nabc\n-----END-----"\nTOKEN=t0k,en', ['KEY=-----BEGIN-----\nabc\n-----END-----', 'TOKEN=t0k,en']],
    ['"say ""hi"", then go"', ['say "hi", then go']],
    ['a=#not a comment', ['a=#not a comment']],
  ])('line list %j', (v, want) => expect(lineItems(recs(v))).toEqual(want));
  it('joinedItems splits only where a field starts an entry', () => {
    const startsKey = (f: string) => /^[a-z]+\.[a-z]+=/.test(f);
    expect(joinedItems(recs('a.b=Point clouds, fast,c.d=MIT'), startsKey)).toEqual(['a.b=Point clouds, fast', 'c.d=MIT']);
    expect(joinedItems(recs('"a.b=x,c.d=y"'), startsKey)).toEqual(['a.b=x,c.d=y']);
  });
  it('an unclosed quote names the line that opens it', () => {
    expect(records('a=1\n"b=2\nc=3')).toEqual({ unclosedQuoteLine: 2 });
  });
});

describe("metadata-action's outputs as inputs", () => {
  it('tags, one per line (its default) and joined by "," (sep-tags)', () => {
    expect(inputs({ tags: META.tags }).tags).toEqual(['ghcr.io/org/pc:1.2.3', 'ghcr.io/org/pc:1.2', 'ghcr.io/org/pc:latest']);
    expect(inputs({ tags: META.tagsComma }).tags).toEqual(['ghcr.io/org/pc:1.2.3', 'docker.io/org/pc:1.2.3']);
  });
  it('labels, one per line: a description with a comma stays one label', () => {
    const labels = inputs({ labels: META.labels }).labels;
    expect(labels).toHaveLength(8);
    expect(labels[1]).toEqual({ name: 'org.opencontainers.image.description', value: 'Point clouds, fast' });
  });
  it('labels joined by "," (sep-labels: ","): each label is its own, the comma in a value kept', () => {
    const labels = inputs({ labels: META.labels.replace(/\n/g, ',') }).labels;
    expect(labels.map((l) => l.name)).toEqual(inputs({ labels: META.labels }).labels.map((l) => l.name));
    expect(labels[1].value).toBe('Point clouds, fast');
    expect(labels[4].value).toBe('https://github.com/org/pc');
  });
  it('a quoted label keeps everything in one value', () => {
    expect(inputs({ labels: '"org.example.note=a, b,org.example.x=1"\norg.example.y=2' }).labels).toEqual([
      { name: 'org.example.note', value: 'a, b,org.example.x=1' }, { name: 'org.example.y', value: '2' },
    ]);
  });
  it('annotations, one per line, with levels', () => {
    expect(inputs({ annotations: META.annotations }).annotations.map((a) => [a.levels, a.key, a.value])).toEqual([
      [['manifest'], 'org.opencontainers.image.description', 'Point clouds, fast'],
      [['index'], 'org.opencontainers.image.description', 'Point clouds, fast'],
      [['manifest'], 'org.opencontainers.image.version', '1.2.3'],
    ]);
  });
  it('annotations joined by "," (sep-annotations: ","): split at each level prefix', () => {
    const a = inputs({ annotations: 'manifest:org.opencontainers.image.title=pc,manifest:org.opencontainers.image.version=1.2.3,index:org.opencontainers.image.description=Point clouds, fast' }).annotations;
    expect(a.map((x) => x.text)).toEqual(['manifest:org.opencontainers.image.title=pc', 'manifest:org.opencontainers.image.version=1.2.3', 'index:org.opencontainers.image.description=Point clouds, fast']);
  });
  it('annotations without a level, with several levels and a platform', () => {
    expect(inputs({ annotations: 'org.example.a=1\nmanifest,index:org.example.b=2\nmanifest[linux/amd64]:org.example.c=3' }).annotations.map((x) => [x.levels, x.platform, x.key])).toEqual([
      [[], null, 'org.example.a'], [['manifest', 'index'], null, 'org.example.b'], [['manifest'], 'linux/amd64', 'org.example.c'],
    ]);
  });
  it('cache-to with its commas is one entry', () => {
    expect(inputs({ 'cache-to': 'type=registry,ref=ghcr.io/org/cache,mode=max' })['cache-to']).toEqual(['type=registry,ref=ghcr.io/org/cache,mode=max']);
  });
  it('secrets: a quoted multi-line value, and a comma in a value', () => {
    expect(inputs({ secrets: '"KEY=-----BEGIN-----\nabc\n-----END-----"\nTOKEN=t0k,en' }).secrets).toEqual([
      { name: 'KEY', value: '-----BEGIN-----\nabc\n-----END-----' }, { name: 'TOKEN', value: 't0k,en' },
    ]);
  });
  it('secret-envs joined by ","', () => {
    const i = inputs({ 'secret-envs': 'GH=PCB_TEST_GH,NPM=PCB_TEST_NPM' }, { PCB_TEST_GH: 'g', PCB_TEST_NPM: 'n' });
    expect(i['secret-envs']).toEqual([{ name: 'GH', value: 'PCB_TEST_GH' }, { name: 'NPM', value: 'PCB_TEST_NPM' }]);
  });
  describe('secret-files with a comma in a quoted path', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pcb-lists-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    it('reads both', () => {
      fs.writeFileSync(path.join(dir, 'npmrc'), 'x');
      fs.writeFileSync(path.join(dir, 'a,b.pem'), 'y');
      expect(inputs({ 'secret-files': `npmrc=${dir}/npmrc\n"cert=${dir}/a,b.pem"` })['secret-files']).toEqual([
        { name: 'npmrc', value: `${dir}/npmrc` }, { name: 'cert', value: `${dir}/a,b.pem` },
      ]);
    });
  });
  it('an unclosed quote is one line naming the input and the line; never the line of a secret', () => {
    expect(errorsOf({ labels: 'org.a=1\n"org.b=2' })).toEqual(['Input "labels": "\\"org.b=2" is not accepted; line 2 opens a quote that is never closed; close it, or write "" for a quote inside a quoted value.']);
    const secret = errorsOf({ secrets: 'A=1\n"B=hunter2' });
    expect(secret).toEqual(['Input "secrets": line 2 opens a quote that is never closed; close it, or write "" for a quote inside a quoted value (the line is not shown because it may hold a secret).']);
  });
});

// The builder's capabilities: a pure table from the facts docker and buildx report.
import { describe, expect, it } from 'vitest';
import { buildxFinding, capabilities, compareVersions, describeBuilder, engineBuildkit, parseBuildxInspect, parseContainerdStore, versionIn, type BuilderFacts } from '../src/builder.js';

const docker = (engine: string, store: boolean, api: string | null = null): BuilderFacts => ({
  name: 'default', driver: 'docker', buildx: '0.38.2', buildkit: engineBuildkit(engine, api), engine, engineApi: api, containerdStore: store,
});
const own = (driver: string, buildkit: string | null, store = false): BuilderFacts => ({ name: 'b', driver, buildx: '0.38.2', buildkit, engine: '28.2.2', engineApi: '1.50', containerdStore: store });

describe('capabilities: the runner setups', () => {
  // a builder with its own BuildKit, Engine with the classic store: push by digest, then pull
  const FULL = { namedContexts: true, cacheExport: true, inlineCache: true, localOutput: true, imageTarOutput: true, load: true, pushByDigest: true, attestations: true, imageOutputOptions: true, loadKeepsIndex: false, publish: 'by-digest', envCacheStore: 'oci-layout', engineIdIsDigest: false, engineSaveLayout: false };
  // the docker driver on the classic store: load, docker push, no attestations
  const CLASSIC = { namedContexts: true, cacheExport: false, inlineCache: true, localOutput: true, imageTarOutput: false, load: true, pushByDigest: false, attestations: false, imageOutputOptions: false, loadKeepsIndex: false, publish: 'loaded-image', envCacheStore: 'engine', engineIdIsDigest: false, engineSaveLayout: false };
  // the containerd store: the loaded index carries everything; the docker driver cannot push by digest
  // (the env cache lives in the Engine's own store; only the containerd store resolves NAME:TAG@DIGEST there;
  // from BuildKit 0.13 its save writes the Engine's image and the entry's layout in one build)
  const CONTAINERD = { ...FULL, pushByDigest: false, loadKeepsIndex: true, publish: 'loaded-index', envCacheStore: 'engine', engineIdIsDigest: true, engineSaveLayout: true };
  it.each([
    ["Debian 12's Engine 20.10, docker driver", docker('20.10.24+dfsg1', false), { ...CLASSIC, namedContexts: false, envCacheStore: 'none' }],
    ['Engine 23.0, docker driver, classic store', docker('23.0.6', false), CLASSIC],
    ['Engine 24.0, docker driver, classic store', docker('24.0.9', false), CLASSIC],
    ['Engine 25.0, docker driver, classic store', docker('25.0.5', false), CLASSIC],
    ["Debian 13's Engine 26.1, docker driver, classic store", docker('26.1.5+dfsg1', false), CLASSIC],
    ['Engine 27.5, docker driver, classic store', docker('27.5.1', false), CLASSIC],
    ['Engine 28.2, docker driver, classic store', docker('28.2.2', false), CLASSIC],
    ["Debian 13's Engine 26.1, docker driver, containerd store", docker('26.1.5+dfsg1', true), CONTAINERD],
    ['moby v2 built from source (version "dev", API 1.52), containerd store', docker('dev', true, '1.52'), CONTAINERD],
    ['Engine 23.0, docker driver, containerd store (BuildKit 0.11: attestations, one output per build)', docker('23.0.6', true), { ...CONTAINERD, engineSaveLayout: false }],
    ['Engine 25.0, docker driver, containerd store (BuildKit 0.12: one output per build)', docker('25.0.5', true), { ...CONTAINERD, engineSaveLayout: false }],
    ['docker-container builder (setup-buildx-action)', own('docker-container', '0.26.3'), FULL],
    ['docker-container builder not started yet (BuildKit unknown)', own('docker-container', null), FULL],
    ['remote builder', own('remote', '0.34.2'), FULL],
    ['kubernetes builder', own('kubernetes', '0.23.2'), FULL],
    ['remote builder with an old buildkitd: no attestations, so the loaded image is pushed', own('remote', '0.9.3'), { ...FULL, namedContexts: false, attestations: false, pushByDigest: false, publish: 'loaded-image', envCacheStore: 'none' }],
    ['remote builder, Engine with the containerd store: the loaded index is pushed', own('remote', '0.34.2', true), { ...FULL, loadKeepsIndex: true, publish: 'loaded-index' }],
    ['docker-container builder, Engine store unknown (docker info failed): push by digest', { ...own('docker-container', '0.26.3'), containerdStore: null }, FULL],
  ])('%s', (_name, facts, want) => {
    expect(capabilities(facts)).toEqual(want);
  });
});

describe('the docker driver learns its BuildKit from the Engine version where buildx inspect cannot tell it', () => {
  it.each([
    ['20.10.24+dfsg1', null, '0.8'], ['23.0.6', null, '0.11'], ['24.0.9', null, '0.11'], ['25.0.5', null, '0.12'],
    ['26.1.5+dfsg1', null, '0.13'], ['27.0.3', null, '0.14'], ['27.2.1', null, '0.15'], ['27.5.1', null, '0.16'], ['28.2.2', null, '0.20'], ['29.1.0', null, '0.25'],
    ['19.03.15', null, '0.6'], ['18.09.9', null, '0.6'],
    ['dev', '1.41', '0.8'], ['library-import', '1.45', '0.13'], ['2.0.0-beta.24', '1.52', '0.25'], ['dev', '1.60', '0.25'],
    ['dev', null, null], [null, null, null],
  ])('Engine %s (API %s) -> BuildKit %s', (engine, api, want) => {
    expect(engineBuildkit(engine, api)).toBe(want);
    expect(engineBuildkit(engine, api, '0.0.0'), 'Debian\'s builds report v0.0.0+unknown').toBe(want);
  });

  it.each([
    ['28.5.2', '0.25.2', '0.25.2', 'an Engine built with its module versions (Docker CE) reports its BuildKit'],
    ['20.10.24+dfsg1', '0.8', '0.8', 'Debian 12 reports v0.8+unknown'],
    ['20.10.24+dfsg1', '20.10.24', '0.8', 'buildx before 0.11 shows the Engine version in that line'],
    ['26.1.5+dfsg1', null, '0.13', 'no BuildKit line'],
  ])('Engine %s, buildx inspect says %s -> BuildKit %s (%s)', (engine, reported, want, _why) => {
    expect(engineBuildkit(engine, null, reported)).toBe(want);
  });
});

describe('parsing what docker and buildx print', () => {
  it('buildx inspect: name, driver and BuildKit of the first node (old and new buildx)', () => {
    expect(parseBuildxInspect('Name:          pcb-remote\nDriver:        remote\nLast Activity: 2026-01-01\n\nNodes:\nName:             pcb-remote0\nEndpoint:         unix:///run/x.sock\nStatus:           running\nBuildKit version: v0.34.2\n'))
      .toEqual({ name: 'pcb-remote', driver: 'remote', buildkit: '0.34.2' });
    expect(parseBuildxInspect('Name:   default\nDriver: docker\n\nNodes:\nName:      default\nEndpoint:  default\nStatus:    running\nBuildkit:  20.10.24+dfsg1\n').driver).toBe('docker');
    expect(parseBuildxInspect('Name:   c\nDriver: docker-container\n\nNodes:\nName:   c0\nStatus: inactive\n').buildkit).toBeNull();
  });
  it.each([
    ['github.com/docker/buildx v0.38.2 ', '0.38.2'],
    ['github.com/docker/buildx 0.10.5+ds1 0.10.5+ds1-1', '0.10.5'],
    ['github.com/docker/buildx v0.13.1 788433953af10f2a698f5c07611dcf1a5c2c1a4f', '0.13.1'],
    ['nothing', null],
  ])('versionIn(%j) = %j', (text, want) => expect(versionIn(text)).toBe(want));
  it('docker info DriverStatus: driver-type io.containerd.snapshotter.v1 is the containerd store', () => {
    expect(parseContainerdStore('[["driver-type","io.containerd.snapshotter.v1"]]')).toBe(true);
    expect(parseContainerdStore('[["Backing Filesystem","extfs"],["Supports d_type","true"],["Native Overlay Diff","true"],["userxattr","false"]]')).toBe(false);
    expect(parseContainerdStore('null')).toBe(false);
    expect(parseContainerdStore('not json')).toBeNull();
  });
  it.each([
    ['0.10.5', '0.13.0', -1], ['0.13.0', '0.13.0', 0], ['0.38.2', '0.13.0', 1], ['0.8', '0.10', -1], ['550.100', '550.54.14', 1],
  ])('compareVersions(%s, %s) = %i', (a, b, want) => expect(compareVersions(a, b)).toBe(want));
});

describe('buildxFinding: the oldest buildx the plan needs', () => {
  it.each([
    ['github.com/docker/buildx 0.10.5+ds1 0.10.5+ds1-1', 'error', 'buildx 0.10.5 is older than 0.13.0, the oldest this action supports; install a newer docker-buildx-plugin, or run docker/setup-buildx-action before this step'],
    ['github.com/docker/buildx v0.12.1 30feaa1', 'error', 'buildx 0.12.1 is older than 0.13.0, the oldest this action supports; install a newer docker-buildx-plugin, or run docker/setup-buildx-action before this step'],
    ['github.com/docker/buildx v0.13.0 0de5f1c', 'ok', 'buildx 0.13.0'],
    ['github.com/docker/buildx v0.38.2 ', 'ok', 'buildx 0.38.2'],
  ])('%s', (text, level, message) => expect(buildxFinding(text)).toEqual({ level, check: 'buildx', message }));
});

describe('describeBuilder: one way to name a builder in every message', () => {
  it.each([
    [docker('20.10.24+dfsg1', false), 'builder "default" (docker driver, Docker Engine 20.10.24+dfsg1, BuildKit 0.8, classic image store)'],
    [docker('26.1.5+dfsg1', true), 'builder "default" (docker driver, Docker Engine 26.1.5+dfsg1, BuildKit 0.13, containerd image store)'],
    [own('remote', '0.34.2'), 'builder "b" (remote driver, BuildKit 0.34.2)'],
    [own('kubernetes', null), 'builder "b" (kubernetes driver)'],
  ])('%#', (facts, want) => expect(describeBuilder(facts)).toBe(want));
});

// What the buildx builder can do, learned before anything runs: its driver, its BuildKit and the
// buildx version, the Engine version and whether the Engine's containerd image store is on (the
// Engine --load fills and the smoke run uses). A pure table turns those facts into the capabilities
// the plan may use, the way a tested image can be published among them.
import { classify } from './errors.js';
import { DOCKER_QUERY_TIMEOUT_MS, run } from './exec.js';
import type { Finding } from './preflight.js';

/** The oldest buildx the action supports (README, "Runner requirements"). */
export const MIN_BUILDX = '0.13.0';
/** Named build contexts (--build-context) came with Dockerfile frontend 1.4, built into BuildKit 0.10. */
export const NAMED_CONTEXTS_BUILDKIT = '0.10';
/** Attestations (provenance, SBOM) and annotations came with BuildKit 0.11. */
export const ATTESTATIONS_BUILDKIT = '0.11';
/** oci-layout:// named contexts came with BuildKit 0.11 (and buildx 0.10). */
export const OCI_LAYOUT_BUILDKIT = '0.11';
/** One build with several --output (an image and an OCI layout) came with BuildKit 0.13 (and buildx 0.13). */
export const MULTIPLE_OUTPUTS_BUILDKIT = '0.13';

// The BuildKit built into each Docker Engine line, the lowest of the line, from the Engine release
// notes: the docker driver's BuildKit when `buildx inspect` cannot tell it. An Engine built with
// its module versions (Docker CE's, or one built from Moby's source) reports its BuildKit there
// (v0.25.2 on 28.5.2, where this table says 0.20); Debian's do not (v0.8+unknown on 20.10,
// v0.0.0+unknown on 26), and buildx before 0.11 shows the Engine's version there instead.
const ENGINE_BUILDKIT: [engine: string, buildkit: string][] = [
  ['19.03', '0.6'], ['20.10', '0.8'], ['23.0', '0.11'], ['24.0', '0.11'], ['25.0', '0.12'], ['26.0', '0.13'],
  ['27.0', '0.14'], ['27.1', '0.15'], ['27.3', '0.16'], ['28.0', '0.20'], ['29.0', '0.25'],
];
// The Engine release of each Engine API version, for an Engine whose version string is not a
// release number (built from source, e.g. moby v2).
const API_ENGINE: [api: string, engine: string][] = [
  ['1.40', '19.03'], ['1.41', '20.10'], ['1.42', '23.0'], ['1.43', '24.0'], ['1.44', '25.0'], ['1.45', '26.0'], ['1.46', '27.0'],
  ['1.47', '27.3'], ['1.48', '28.0'], ['1.49', '28.1'], ['1.50', '28.2'], ['1.51', '28.3'], ['1.52', '29.0'],
];

/** -1, 0, 1 for dotted numeric versions. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let n = 0; n < Math.max(pa.length, pb.length); n++) {
    const d = (pa[n] ?? 0) - (pb[n] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The leading X.Y[.Z] of a version text ('v0.38.2', '20.10.24+dfsg1', '0.10.5+ds1'), or null. */
export function versionIn(text: string): string | null {
  return /\bv?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1] ?? null;
}

/** The row of a version table that holds for v: the last whose first column is <= v. */
function rowFor(rows: [string, string][], v: string): [string, string] | undefined {
  return rows.filter(([k]) => compareVersions(k, v) <= 0).pop();
}

/**
 * The docker driver's BuildKit: the version `buildx inspect` reports when it is one (not 0.0.x,
 * not the Engine's own version), else the table's, from the Engine version (or, when that is no
 * release number, its API version).
 */
export function engineBuildkit(engine: string | null, api: string | null, reported: string | null = null): string | null {
  if (reported && compareVersions(reported, '0.1') >= 0 && reported !== (engine && versionIn(engine))) return reported;
  const m = engine ? /^v?(\d+)\.(\d+)/.exec(engine) : null;
  let release = m && Number(m[1]) >= 17 ? `${m[1]}.${m[2]}` : null;
  if (!release && api) release = rowFor(API_ENGINE, api)?.[1] ?? null;
  if (!release) return null;
  return (rowFor(ENGINE_BUILDKIT, release) ?? ENGINE_BUILDKIT[0])[1];
}

export interface BuilderFacts {
  name: string;
  driver: string;                  // docker | docker-container | remote | kubernetes | ...
  buildx: string | null;           // buildx version
  buildkit: string | null;         // the builder's BuildKit (the Engine's for the docker driver); null: not known
  engine: string | null;           // the Docker Engine's version (the Engine that --load fills and the smoke run uses)
  engineApi: string | null;
  containerdStore: boolean | null; // the Engine stores images in containerd (docker info: driver-type io.containerd.snapshotter.v1)
}

/**
 * How an image that passed the smoke run reaches the registry with its attestations (README,
 * "Publishing"; measured in scripts/bench-publish.sh):
 *   loaded-index  the Engine keeps images in containerd: --load brings the whole image index
 *                 (attestations, annotations), the smoke run tests it, docker push sends it byte for byte
 *   by-digest     a builder with its own BuildKit, classic image store: push by digest (untagged),
 *                 pull that digest, smoke-test the pulled image, then tag it with imagetools create
 *   loaded-image  the docker driver on the classic image store: --load of one image, docker push of
 *                 the tested image id; no attestations or annotations can travel this way
 */
export type PublishWay = 'loaded-index' | 'by-digest' | 'loaded-image';

/**
 * Where the env cache hands an entry to the builder (src/env-cache/types.ts, EnvCacheStore):
 * the docker driver resolves `docker-image://` contexts from the Engine's own image store first
 * (checked on Engine 26.1.5 with both stores), so an entry kept there costs nothing to use; a
 * builder with its own BuildKit takes an OCI layout that buildx sends (`oci-layout://`), which the
 * docker driver's BuildKit does not know in the classic store. No loopback registry: a
 * docker-container builder cannot reach the runner's 127.0.0.1, a remote one never.
 */
export type EnvCacheStore = 'engine' | 'oci-layout' | 'none';

export interface Capabilities {
  namedContexts: boolean;   // --build-context NAME=...
  cacheExport: boolean;     // --cache-to type=local|registry|gha
  inlineCache: boolean;     // --cache-to type=inline
  localOutput: boolean;     // --output type=local|tar
  imageTarOutput: boolean;  // --output type=oci|docker
  load: boolean;            // --load
  pushByDigest: boolean;    // --output type=image,push-by-digest=true
  attestations: boolean;    // --attest type=provenance|sbom, --annotation
  imageOutputOptions: boolean; // --output type=image,oci-mediatypes=true,compression=zstd is honoured
  loadKeepsIndex: boolean;  // --load brings an image index with its attestations into the Engine
  publish: PublishWay;
  envCacheStore: EnvCacheStore; // where a local or gha env-cache entry is handed to the build
  engineIdIsDigest: boolean; // the Engine's image id is the image's digest (the containerd store), not its config's (classic)
  engineSaveLayout: boolean; // the env save on the docker driver writes the Engine's image and the entry's OCI layout in one build
}

/**
 * What a builder can do (pure). The docker driver exports a layer cache other than inline, writes
 * image tarballs and attaches attestations only with the containerd image store, and never pushes
 * by digest ("push-by-digest is currently not implemented for docker driver"); the other drivers
 * run their own BuildKit, which does all of it. With the classic store, an image output always
 * becomes Docker media types with gzip layers, whatever it asks for: buildx hands the push to the
 * Engine (`docker push`). Named contexts need BuildKit 0.10. An unknown BuildKit version (a
 * builder not started yet) is taken as current.
 */
export function capabilities(b: BuilderFacts): Capabilities {
  const buildkitAtLeast = (v: string) => b.buildkit === null || compareVersions(b.buildkit, v) >= 0;
  const fullExporters = b.driver !== 'docker' || b.containerdStore === true;
  const attestations = fullExporters && buildkitAtLeast(ATTESTATIONS_BUILDKIT);
  const pushByDigest = b.driver !== 'docker' && attestations;
  const loadKeepsIndex = b.containerdStore === true && attestations;
  return {
    namedContexts: buildkitAtLeast(NAMED_CONTEXTS_BUILDKIT),
    cacheExport: fullExporters,
    inlineCache: true,
    localOutput: true,
    imageTarOutput: fullExporters,
    load: true,
    pushByDigest,
    attestations,
    imageOutputOptions: fullExporters,
    loadKeepsIndex,
    publish: loadKeepsIndex ? 'loaded-index' : pushByDigest ? 'by-digest' : 'loaded-image',
    envCacheStore: !buildkitAtLeast(NAMED_CONTEXTS_BUILDKIT) ? 'none' : b.driver === 'docker' ? 'engine' : buildkitAtLeast(OCI_LAYOUT_BUILDKIT) ? 'oci-layout' : 'none',
    engineIdIsDigest: b.driver === 'docker' && b.containerdStore === true,
    // the layout's manifest is then the image the Engine keeps (its id in this store); the classic store writes no OCI layout
    engineSaveLayout: b.driver === 'docker' && b.containerdStore === true && buildkitAtLeast(MULTIPLE_OUTPUTS_BUILDKIT),
  };
}

/** 'builder "default" (docker driver, Docker Engine 26.1.5, BuildKit 0.13, classic image store)', one way everywhere. */
export function describeBuilder(b: BuilderFacts): string {
  const parts = [`${b.driver || 'unknown'} driver`];
  if (b.driver === 'docker') {
    if (b.engine) parts.push(`Docker Engine ${b.engine}`);
    if (b.buildkit) parts.push(`BuildKit ${b.buildkit}`);
    parts.push(b.containerdStore ? 'containerd image store' : 'classic image store');
  } else if (b.buildkit) parts.push(`BuildKit ${b.buildkit}`);
  return `builder "${b.name}" (${parts.join(', ')})`;
}

// ---- reading the facts (read-only commands) --------------------------------------------------------

/** docker buildx inspect output -> builder name, driver and the first node's BuildKit version. */
export function parseBuildxInspect(text: string): { name: string; driver: string; buildkit: string | null } {
  const bk = /^\s*Build[Kk]it(?: version)?:\s*(\S+)/m.exec(text)?.[1] ?? '';
  return { name: /^Name:\s*(\S+)/m.exec(text)?.[1] ?? '', driver: /^Driver:\s*(\S+)/m.exec(text)?.[1] ?? '', buildkit: versionIn(bk) };
}

/** docker info's DriverStatus (JSON) -> whether images live in the containerd image store. */
export function parseContainerdStore(driverStatusJson: string): boolean | null {
  try {
    const pairs = JSON.parse(driverStatusJson) as [string, string][] | null;
    return (pairs ?? []).some(([k, v]) => k === 'driver-type' && v === 'io.containerd.snapshotter.v1');
  } catch {
    return null;
  }
}

/** `docker buildx version` output -> ok, or an error naming both versions when it is older than MIN_BUILDX. */
export function buildxFinding(versionText: string): Finding {
  const v = versionIn(versionText);
  if (v && compareVersions(v, MIN_BUILDX) < 0) {
    return { level: 'error', check: 'buildx', message: `buildx ${v} is older than ${MIN_BUILDX}, the oldest this action supports; install a newer docker-buildx-plugin, or run docker/setup-buildx-action before this step` };
  }
  return { level: 'ok', check: 'buildx', message: `buildx ${v ?? versionText.trim()}` };
}

const why = (text: string) => {
  const d = classify(text);
  return d ? `${d.title} ${d.hint}` : text.trim().split('\n').slice(-3).join(' ');
};

/** Asks docker and buildx about the Engine and the builder (`name`, or the current one). */
export async function inspectBuilder(name: string): Promise<{ facts: BuilderFacts; findings: Finding[] }> {
  const findings: Finding[] = [];
  const facts: BuilderFacts = { name, driver: '', buildx: null, buildkit: null, engine: null, engineApi: null, containerdStore: null };

  const dv = await run('docker', ['version', '--format', '{{json .Server}}'], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
  if (dv.exitCode === 0) {
    try {
      const server = JSON.parse(dv.stdout) as { Version?: string; ApiVersion?: string };
      facts.engine = server.Version ?? null;
      facts.engineApi = server.ApiVersion ?? null;
    } catch { /* an old CLI without JSON: the version stays unknown */ }
    findings.push({ level: 'ok', check: 'docker', message: `Docker Engine ${facts.engine ?? 'of unknown version'}` });
  } else {
    findings.push({ level: 'error', check: 'docker', message: why(dv.stderr + dv.stdout) });
    if (dv.exitCode === 127) return { facts, findings }; // no docker CLI: nothing more to ask
  }

  const bv = await run('docker', ['buildx', 'version'], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
  if (bv.exitCode !== 0) {
    findings.push({ level: 'error', check: 'buildx', message: why(bv.stderr + bv.stdout) });
    return { facts, findings };
  }
  facts.buildx = versionIn(bv.stdout);
  findings.push(buildxFinding(bv.stdout));

  const bi = await run('docker', ['buildx', 'inspect', ...(name ? [name] : [])], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
  if (bi.exitCode !== 0) {
    findings.push({ level: 'error', check: 'builder', message: why(bi.stderr + bi.stdout) });
    return { facts, findings };
  }
  const inspected = parseBuildxInspect(bi.stdout);
  Object.assign(facts, { name: inspected.name || name, driver: inspected.driver, buildkit: inspected.buildkit });
  if (facts.driver === 'docker') facts.buildkit = engineBuildkit(facts.engine, facts.engineApi, inspected.buildkit);
  // every driver: --load fills this Engine, and how it stores images decides the way to publish
  const info = await run('docker', ['info', '--format', '{{json .DriverStatus}}'], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
  facts.containerdStore = info.exitCode === 0 ? parseContainerdStore(info.stdout.trim()) : null;
  findings.push({ level: 'ok', check: 'builder', message: describeBuilder(facts) });
  return { facts, findings };
}

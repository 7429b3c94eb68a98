// OCI image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md), the
// form every env-cache entry takes on disk: the blobs of one image (its manifest, config and
// layers) under blobs/sha256/<hex>, index.json naming the image. Here: the blobs an image needs,
// a job's own layout of hard links to a store's blobs (what the build reads; an eviction cannot
// take a hard link away), and that layout as the archive `docker load` takes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tarStream, type TarMember } from './tar.js';
import type { Readable } from 'node:stream';

export interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

const INDEX_TYPES = ['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'];
const MANIFEST_TYPES = ['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'];
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export const OCI_LAYOUT = '{"imageLayoutVersion":"1.0.0"}';

export function blobPath(layoutDir: string, digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return path.join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

/** The image a layout's index.json names (its first entry). */
export function layoutTarget(layoutDir: string): Descriptor {
  const index = readJson<{ manifests?: Descriptor[] }>(path.join(layoutDir, 'index.json'));
  const target = index.manifests?.[0];
  if (!target || !DIGEST_RE.test(target.digest)) throw new Error(`${layoutDir}/index.json names no image`);
  return { mediaType: target.mediaType, digest: target.digest, size: target.size };
}

/**
 * Every blob the image `target` needs, the target first: an index's manifests, each manifest's
 * config and layers. `read` gives a blob's bytes (from a layout, or a map of blobs just received).
 * Also returns the config of the first image manifest (the Engine's image id in the classic store).
 */
export function imageBlobs(target: Descriptor, read: (digest: string) => Buffer): { blobs: Descriptor[]; config: string } {
  const blobs: Descriptor[] = [];
  let config = '';
  const walk = (d: Descriptor) => {
    if (blobs.some((b) => b.digest === d.digest)) return;
    blobs.push({ mediaType: d.mediaType, digest: d.digest, size: d.size });
    const body = JSON.parse(read(d.digest).toString('utf8')) as { mediaType?: string; manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
    if (INDEX_TYPES.includes(d.mediaType) || body.manifests) {
      for (const m of body.manifests ?? []) walk(m);
      return;
    }
    if (!body.config) throw new Error(`${d.digest} is neither an image index nor an image manifest`);
    if (!config) config = body.config.digest;
    for (const b of [body.config, ...(body.layers ?? [])]) {
      if (!blobs.some((x) => x.digest === b.digest)) blobs.push({ mediaType: b.mediaType, digest: b.digest, size: b.size });
    }
  };
  walk(target);
  return { blobs, config };
}

/**
 * Every blob that index.json reaches: the indexes and manifests it names, and what they name in
 * turn (configs, layers). Only blobs whose media type says index or manifest are read, so it also
 * walks BuildKit's layer-cache layouts, whose indexes list layers and a cache config directly.
 */
export function reachableBlobs(layoutDir: string): Set<string> {
  const reached = new Set<string>();
  const walk = (d: Descriptor) => {
    if (reached.has(d.digest)) return;
    reached.add(d.digest);
    if (!INDEX_TYPES.includes(d.mediaType) && !MANIFEST_TYPES.includes(d.mediaType)) return;
    const body = readJson<{ manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] }>(blobPath(layoutDir, d.digest));
    for (const next of [...(body.manifests ?? []), ...(body.config ? [body.config] : []), ...(body.layers ?? [])]) walk(next);
  };
  for (const d of readJson<{ manifests?: Descriptor[] }>(path.join(layoutDir, 'index.json')).manifests ?? []) walk(d);
  return reached;
}

/** The layers of the image manifest `target` (an index: its first manifest), for docker load's manifest.json. */
function manifestOf(target: Descriptor, read: (digest: string) => Buffer): { config: string; layers: string[] } {
  let body = JSON.parse(read(target.digest).toString('utf8')) as { manifests?: Descriptor[]; config?: Descriptor; layers?: Descriptor[] };
  if (body.manifests?.length) body = JSON.parse(read(body.manifests[0].digest).toString('utf8')) as typeof body;
  return { config: body.config!.digest, layers: (body.layers ?? []).map((l) => l.digest) };
}

function linkOrCopy(src: string, dest: string): void {
  try {
    fs.linkSync(src, dest);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return;
    fs.copyFileSync(src, dest);
  }
}

/**
 * Makes jobDir an OCI layout of hard links (or copies, across file systems) to the blobs of
 * `target` in storeDir, with index.json naming it. Throws when a blob is missing.
 */
export function linkLayout(storeDir: string, jobDir: string, target: Descriptor, blobs: Descriptor[], name?: string): void {
  fs.mkdirSync(path.join(jobDir, 'blobs', 'sha256'), { recursive: true });
  for (const b of blobs) linkOrCopy(blobPath(storeDir, b.digest), blobPath(jobDir, b.digest));
  writeIndex(jobDir, target, name);
}

/** index.json (and oci-layout) naming `target`; with `name` (e.g. pcb-env-cache:TAG) the names docker load gives it. */
export function writeIndex(layoutDir: string, target: Descriptor, name?: string): void {
  const annotations = name ? { 'io.containerd.image.name': `docker.io/library/${name}`, 'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1) } : undefined;
  const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...target, ...(annotations ? { annotations } : {}) }] };
  fs.writeFileSync(path.join(layoutDir, 'oci-layout'), OCI_LAYOUT);
  fs.writeFileSync(path.join(layoutDir, 'index.json'), JSON.stringify(index));
}

/**
 * The layout as the archive `docker load` reads, naming the image `name` (REPO:TAG): the
 * containerd image store takes the name from index.json's annotation, the classic store from
 * manifest.json (Docker's own format, which it needs in the archive).
 */
export function loadArchive(layoutDir: string, target: Descriptor, blobs: Descriptor[], name: string): Readable {
  const read = (d: string) => fs.readFileSync(blobPath(layoutDir, d));
  const m = manifestOf(target, read);
  const rel = (d: string) => `blobs/sha256/${d.slice('sha256:'.length)}`;
  const annotations = { 'io.containerd.image.name': `docker.io/library/${name}`, 'org.opencontainers.image.ref.name': name.slice(name.lastIndexOf(':') + 1) };
  const members: TarMember[] = [
    { name: 'oci-layout', text: OCI_LAYOUT },
    { name: 'index.json', text: JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...target, annotations }] }) },
    { name: 'manifest.json', text: JSON.stringify([{ Config: rel(m.config), RepoTags: [name], Layers: m.layers.map(rel) }]) },
    { name: 'blobs', dir: true },
    { name: 'blobs/sha256', dir: true },
    ...blobs.map((b) => ({ name: rel(b.digest), file: blobPath(layoutDir, b.digest), size: b.size })),
  ];
  return tarStream(members);
}

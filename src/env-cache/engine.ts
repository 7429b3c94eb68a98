// The env cache in the Docker Engine's own image store, for the `docker` buildx driver: BuildKit
// inside the Engine resolves `docker-image://` contexts from that store first, so an entry that is
// there costs nothing to hand to a build (0.6-1.3 s for 6.6 GB, scripts/bench-env-transport.sh).
// The image is ENGINE_REPO:<tag of the key>. The cache dir keeps the durable copy: on the
// containerd store the save build writes it beside the image (one build, two outputs: the Engine's
// `docker save` streams through containerd's API at about 45 MB/s), elsewhere `docker save`
// streams the image into it; `docker load` refills an Engine that lost the image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DOCKER_QUERY_TIMEOUT_MS, run } from '../exec.js';
import { BlobHasher } from './checksum.js';
import { registryTag } from './key.js';
import { stageHashed, type EntryRecord, type Staged } from './entry.js';
import { loadArchive, writeIndex, type Descriptor } from './layout.js';
import { TarReader } from './tar.js';

export const ENGINE_REPO = 'pcb-env-cache';

/** The Engine's name for an entry's image. */
export function engineName(key: string): string {
  return `${ENGINE_REPO}:${registryTag(key)}`;
}

/**
 * The id the Engine gives the entry's image: the config digest in the classic image store, the
 * image's own digest (what index.json names) in the containerd image store.
 */
export function engineIdOf(r: Pick<EntryRecord, 'config' | 'target'>, containerdStore: boolean): string {
  return containerdStore ? r.target.digest : r.config;
}

/**
 * The build context for the Engine's image: by name, once its id was checked against the entry.
 * Not pinned by digest: the docker driver's BuildKit looks a NAME:TAG@DIGEST up in a registry, in
 * the containerd store too (Engine 26.1.5: "Head https://registry-1.docker.io/..."). Between the
 * check and the build only a save of the same key can retag the name: the same environment.
 */
export function engineContext(name: string): string {
  return `docker-image://docker.io/library/${name}`;
}

/** The id the Engine has under `name`, or null when it has none. */
export async function engineImageId(name: string): Promise<string | null> {
  const r = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { quiet: true, timeoutMs: DOCKER_QUERY_TIMEOUT_MS });
  return r.exitCode === 0 && /^sha256:[a-f0-9]{64}$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

/**
 * `docker save NAME` streamed into `dir` as an OCI layout: each blob is hashed as it arrives (its
 * digest checked, its piece checksums kept), nothing else of the archive is kept. Engines before
 * 25.0 write only Docker's own format (manifest.json, <config hex>.json, <id>/layer.tar): its
 * config and uncompressed layers are the same bytes as the image's blobs, so they are kept under
 * their digests and an OCI manifest is written for them. Throws with the reason when the save or a
 * write fails (a full disk: ENOSPC).
 */
export async function stageFromEngine(name: string, dir: string, signal?: AbortSignal): Promise<Staged> {
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobsDir, { recursive: true });
  const hashed = new Map<string, BlobHasher & { done: string }>();
  const legacy = new Map<string, { digest: string; size: number }>(); // Docker-format member -> its blob
  let index = '';
  let dockerManifest = '';
  let failure: Error | null = null;
  const stop = new AbortController();
  // a blob written under `file` and hashed as it arrives
  const blobSink = (file: string, onEnd: (h: BlobHasher & { done: string }) => void) => {
    const fd = fs.openSync(file, 'w');
    const h = Object.assign(new BlobHasher(), { done: '' });
    return {
      data: (b: Buffer) => {
        fs.writeSync(fd, b);
        h.update(b);
      },
      end: () => {
        fs.closeSync(fd);
        h.done = h.digest();
        onEnd(h);
      },
    };
  };
  let legacyCount = 0;
  const reader = new TarReader((member) => {
    if (member === 'index.json') return { data: (b) => { index += b.toString('utf8'); }, end: () => undefined };
    if (member === 'manifest.json') return { data: (b) => { dockerManifest += b.toString('utf8'); }, end: () => undefined };
    const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(member)?.[1];
    if (blob) return blobSink(path.join(blobsDir, blob), (h) => hashed.set(`sha256:${blob}`, h));
    if (!/^[a-f0-9]{64}\.json$/.test(member) && !/^[^/]+\/layer\.tar$/.test(member)) return null;
    // Docker's format: named by what it is, kept under the digest of what it holds
    const tmp = path.join(dir, `legacy-${legacyCount++}`);
    return blobSink(tmp, (h) => {
      fs.renameSync(tmp, path.join(blobsDir, h.done.slice('sha256:'.length)));
      hashed.set(h.done, h);
      legacy.set(member, { digest: h.done, size: h.size });
    });
  });
  const r = await run('docker', ['save', name], {
    quiet: true,
    signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
    onStdout: (chunk) => {
      if (failure) return;
      try {
        reader.push(chunk);
      } catch (e) {
        failure = e as Error;
        stop.abort();
      }
    },
  });
  if (failure) throw failure;
  if (r.exitCode !== 0) throw new Error(`docker save ${name} failed (exit code ${r.exitCode}): ${r.stderr.trim().split('\n').pop() ?? ''}`);
  if (!reader.ended || !(index || dockerManifest)) throw new Error(`docker save ${name} ended before its archive did`);
  const target = index ? (JSON.parse(index) as { manifests?: Descriptor[] }).manifests?.[0] : manifestFromDockerFormat(dir, dockerManifest, legacy, hashed);
  if (!target) throw new Error(`docker save ${name}: its index.json names no image`);
  const plain: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
  writeIndex(dir, plain);
  return stageHashed(dir, plain, hashed);
}

/**
 * The OCI image manifest of an image saved in Docker's own format (manifest.json naming the config
 * and the layer tars), written as a blob of `dir`: its config and layers are the blobs kept from
 * the archive, the layers uncompressed as the Engine stores them.
 */
function manifestFromDockerFormat(dir: string, text: string, kept: Map<string, { digest: string; size: number }>, hashed: Map<string, BlobHasher & { done: string }>): Descriptor {
  const entry = (JSON.parse(text) as { Config?: string; Layers?: string[] }[])[0];
  const blobOf = (member: string | undefined) => {
    const b = member ? kept.get(member) : undefined;
    if (!b) throw new Error(`docker save's manifest.json names ${member ?? 'no config'}, which the archive did not hold`);
    return b;
  };
  if (!entry?.Config) throw new Error("docker save's manifest.json names no image");
  const config = blobOf(entry.Config);
  const layers = (entry.Layers ?? []).map(blobOf);
  // the config is named by its digest, and lists the digests of the uncompressed layers: both must hold
  if (config.digest !== `sha256:${entry.Config.replace(/\.json$/, '')}`) throw new Error(`docker save's ${entry.Config} has the digest ${config.digest}`);
  const diffIds = (JSON.parse(fs.readFileSync(path.join(dir, 'blobs', 'sha256', config.digest.slice('sha256:'.length)), 'utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  if (diffIds.join() !== layers.map((l) => l.digest).join()) throw new Error(`docker save's layers are not the ones its config lists (${layers.length} layers, ${diffIds.length} in the config)`);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  }));
  const h = Object.assign(new BlobHasher(), { done: '' });
  h.update(manifest);
  h.done = h.digest();
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', h.done.slice('sha256:'.length)), manifest);
  hashed.set(h.done, h);
  return { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: h.done, size: manifest.length };
}

/** `docker load` of the entry from a layout holding its blobs, named `name`. Null, or why it failed. */
export async function loadIntoEngine(layoutDir: string, r: EntryRecord, name: string, signal?: AbortSignal): Promise<string | null> {
  const res = await run('docker', ['load', '--quiet'], { quiet: true, stdin: loadArchive(layoutDir, r.target, r.blobs, name), signal });
  return res.exitCode === 0 ? null : `docker load failed (exit code ${res.exitCode}): ${res.stderr.trim().split('\n').pop() ?? ''}`;
}

/** Removes the Engine's image `name` (best effort: an image a container uses stays); whether it was removed. */
export async function removeEngineImage(name: string, timeoutMs = DOCKER_QUERY_TIMEOUT_MS): Promise<boolean> {
  return (await run('docker', ['image', 'rm', name], { quiet: true, timeoutMs, cleanup: true })).exitCode === 0;
}

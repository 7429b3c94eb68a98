// The env cache in the Docker Engine's own image store, for the `docker` buildx driver: BuildKit
// inside the Engine resolves `docker-image://` contexts from that store first, so an entry that is
// there costs nothing to hand to a build (0.6-1.3 s for 6.6 GB, scripts/bench-env-transport.sh).
// The image is ENGINE_REPO:<tag of the key>. The cache dir keeps the durable copy: `docker save`
// streams the image into it, and `docker load` refills an Engine that lost the image.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../exec.js';
import { BlobHasher } from './checksum.js';
import { registryTag } from './key.js';
import { stageHashed, type EntryRecord, type Staged } from './entry.js';
import { loadArchive, writeIndex, type Descriptor } from './layout.js';
import { TarReader } from './tar.js';

export const ENGINE_REPO = 'pcb-env-cache';
/** How long a question to the Engine may take (a frozen daemon accepts and never answers). */
const QUERY_TIMEOUT_MS = 60_000;

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
  const r = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { quiet: true, timeoutMs: QUERY_TIMEOUT_MS });
  return r.exitCode === 0 && /^sha256:[a-f0-9]{64}$/.test(r.stdout.trim()) ? r.stdout.trim() : null;
}

/**
 * `docker save NAME` streamed into `dir` as an OCI layout: each blob is hashed as it arrives (its
 * digest checked, its piece checksums kept), nothing else of the archive is kept. Throws with the
 * reason when the save or a write fails (a full disk: ENOSPC).
 */
export async function stageFromEngine(name: string, dir: string, signal?: AbortSignal): Promise<Staged> {
  const blobsDir = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobsDir, { recursive: true });
  const hashed = new Map<string, BlobHasher & { done: string }>();
  let index = '';
  let failure: Error | null = null;
  const stop = new AbortController();
  const reader = new TarReader((member) => {
    const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(member)?.[1];
    if (member === 'index.json') {
      return { data: (b) => { index += b.toString('utf8'); }, end: () => undefined };
    }
    if (!blob) return null;
    const fd = fs.openSync(path.join(blobsDir, blob), 'w');
    const h = Object.assign(new BlobHasher(), { done: '' });
    return {
      data: (b) => {
        fs.writeSync(fd, b);
        h.update(b);
      },
      end: () => {
        fs.closeSync(fd);
        h.done = h.digest();
        hashed.set(`sha256:${blob}`, h);
      },
    };
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
  if (!reader.ended || !index) throw new Error(`docker save ${name} ended before its archive did`);
  const target = (JSON.parse(index) as { manifests?: Descriptor[] }).manifests?.[0];
  if (!target) throw new Error(`docker save ${name}: its index.json names no image`);
  const plain: Descriptor = { mediaType: target.mediaType, digest: target.digest, size: target.size };
  writeIndex(dir, plain);
  return stageHashed(dir, plain, hashed);
}

/** `docker load` of the entry from a layout holding its blobs, named `name`. Null, or why it failed. */
export async function loadIntoEngine(layoutDir: string, r: EntryRecord, name: string, signal?: AbortSignal): Promise<string | null> {
  const res = await run('docker', ['load', '--quiet'], { quiet: true, stdin: loadArchive(layoutDir, r.target, r.blobs, name), signal });
  return res.exitCode === 0 ? null : `docker load failed (exit code ${res.exitCode}): ${res.stderr.trim().split('\n').pop() ?? ''}`;
}

/** Removes the Engine's image `name` (best effort: an image a container uses stays). */
export async function removeEngineImage(name: string): Promise<void> {
  await run('docker', ['image', 'rm', name], { quiet: true, timeoutMs: QUERY_TIMEOUT_MS, cleanup: true });
}

// OCI image layouts made by hand for the env cache's unit tests: a config, layers of given bytes,
// a manifest and index.json, laid out as BuildKit's `type=oci,tar=false` output writes them (no
// Docker needed). The bytes are made up; the structure and the digests are real.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface FixtureImage { target: { mediaType: string; digest: string; size: number }; config: string; layers: string[] }

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function writeBlob(dir: string, data: Buffer): { digest: string; size: number } {
  const digest = sha(data);
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  // a blob that is there already is not written again, as BuildKit's exporters do
  if (!fs.existsSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)))) fs.writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)), data);
  return { digest, size: data.length };
}

/** Writes an image of `layers` into the layout at `dir` (index.json names it) and returns its digests. */
export function writeImage(dir: string, layers: Buffer[], note = ''): FixtureImage {
  const config = writeBlob(dir, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Env: [`NOTE=${note}`] }, rootfs: { type: 'layers', diff_ids: layers.map(sha) } })));
  const ls = layers.map((l) => writeBlob(dir, l));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: ls.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
  }));
  const m = writeBlob(dir, manifest);
  const target = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...m };
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...target, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return { target, config: config.digest, layers: ls.map((l) => l.digest) };
}

/** The path of a blob in a layout. */
export const blobFile = (dir: string, digest: string) => path.join(dir, 'blobs', 'sha256', digest.slice(7));

/** Layers of `n` bytes each, of a recognisable fill. */
export const layersOf = (...sizes: number[]) => sizes.map((n, i) => Buffer.alloc(n, 0x41 + i));

/**
 * A BuildKit layer cache (`--cache-to type=local`) of `layers`, in either of the shapes BuildKit
 * writes: `manifest` (BuildKit 0.12 and later: index.json names an image manifest whose config is
 * the cache config) or `index` (before: index.json names an index that lists the layers and the
 * cache config directly). Returns the digests of every blob written, index.json's target first.
 */
export function writeLayerCache(dir: string, layers: Buffer[], shape: 'manifest' | 'index'): string[] {
  const cacheConfig = { mediaType: 'application/vnd.buildkit.cacheconfig.v0', ...writeBlob(dir, Buffer.from(JSON.stringify({ layers: layers.map((_, i) => ({ blob: i })) }))) };
  const ls = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...writeBlob(dir, l) }));
  const body = shape === 'manifest'
    ? { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cacheConfig, layers: ls }
    : { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [...ls, cacheConfig] };
  const top = { mediaType: body.mediaType, ...writeBlob(dir, Buffer.from(JSON.stringify(body))) };
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  return [top.digest, cacheConfig.digest, ...ls.map((l) => l.digest)];
}

import { createHash } from 'node:crypto';
import { registryTag } from './key.js';
import { run } from '../exec.js';
import { saysNotFound } from '../registry.js';
import type { BaseImage } from './entry.js';

/** The image that holds one environment: CACHE_REF:<tag derived from the key>; it is the `conda-env` stage image. */
export function registryImage(cacheRef: string, key: string): string {
  return `${cacheRef}:${registryTag(key)}`;
}

/** buildx output that pushes the conda-env stage as that image: OCI with zstd layers (faster to
 *  unpack than gzip) where the builder honours that; without ociZstd, for a builder that would
 *  ignore it (the docker driver with the classic image store pushes Docker media types, gzip). */
export function registryOutput(image: string, ociZstd = true): string {
  return `type=image,name=${image},push=true${ociZstd ? ',oci-mediatypes=true,compression=zstd' : ''}`;
}

/** The OCI annotations that name the base image of the cache image (its manifest carries them). */
export const BASE_NAME = 'org.opencontainers.image.base.name';
export const BASE_DIGEST = 'org.opencontainers.image.base.digest';

export interface RegistryProbe {
  exists: boolean;
  /** The digest the registry serves for the tag now: a hit is pinned to it. */
  digest: string | null;
  sizeBytes: number | null;
  base: BaseImage | null;
  warning?: string;
}

interface Manifest {
  mediaType?: string;
  layers?: { size: number }[];
  annotations?: Record<string, string>;
  manifests?: { digest: string; platform?: { os?: string; architecture?: string }; annotations?: Record<string, string> }[];
}

async function rawManifest(ref: string): Promise<{ code: number; manifest: Manifest | null; digest: string | null; stderr: string }> {
  const r = await run('docker', ['buildx', 'imagetools', 'inspect', '--raw', ref], { quiet: true });
  if (r.exitCode !== 0) return { code: r.exitCode, manifest: null, digest: null, stderr: r.stderr.trim() };
  try {
    // --raw prints the manifest's bytes as the registry served them: their sha256 is its digest
    return { code: 0, manifest: JSON.parse(r.stdout) as Manifest, digest: `sha256:${createHash('sha256').update(r.stdout, 'utf8').digest('hex')}`, stderr: '' };
  } catch {
    return { code: 0, manifest: null, digest: null, stderr: '' };
  }
}

/** Whether the image exists (`docker buildx imagetools inspect`), its digest, the size of its layers and its base image. */
export async function registryProbe(image: string): Promise<RegistryProbe> {
  const top = await rawManifest(image);
  if (top.code !== 0) {
    // the text names the reference and the registry's port, so "404" alone would also match
    // 127.0.0.1:40463 refusing the connection
    return saysNotFound(top.stderr)
      ? { exists: false, digest: null, sizeBytes: null, base: null }
      : { exists: false, digest: null, sizeBytes: null, base: null, warning: `env cache: could not look up ${image} (treated as a miss): ${top.stderr.split('\n').pop() ?? ''}` };
  }
  let m = top.manifest;
  if (m?.manifests) {
    // an index (e.g. with attestations): take the image manifest, not the attestation one
    const img = m.manifests.find((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    const repo = image.replace(/:[^:/]+$/, '');
    m = img ? (await rawManifest(`${repo}@${img.digest}`)).manifest : null;
  }
  const size = m?.layers ? m.layers.reduce((n, l) => n + (l.size || 0), 0) : null;
  const a = m?.annotations ?? {};
  return { exists: top.digest !== null, digest: top.digest, sizeBytes: size, base: a[BASE_NAME] ? { image: a[BASE_NAME], digest: a[BASE_DIGEST] ?? null } : null };
}

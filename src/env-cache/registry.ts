import { registryTag } from './key.js';
import { run } from '../exec.js';

/** The image that holds one environment: CACHE_REF:<tag derived from the key>; its only content is /env.tar (+ /environment.lock). */
export function registryImage(cacheRef: string, key: string): string {
  return `${cacheRef}:${registryTag(key)}`;
}

/** buildx output that packs the env-export stage into that image and pushes it: OCI with zstd layers
 *  (faster to unpack than gzip) where the builder honours that; without ociZstd, for a builder that
 *  would ignore it (the docker driver with the classic image store pushes Docker media types, gzip). */
export function registryOutput(image: string, ociZstd = true): string {
  return `type=image,name=${image},push=true${ociZstd ? ',oci-mediatypes=true,compression=zstd' : ''}`;
}

export interface RegistryProbe {
  exists: boolean;
  sizeBytes: number | null;
  warning?: string;
}

interface Manifest {
  mediaType?: string;
  layers?: { size: number }[];
  manifests?: { digest: string; platform?: { os?: string; architecture?: string }; annotations?: Record<string, string> }[];
}

async function rawManifest(ref: string): Promise<{ code: number; manifest: Manifest | null; stderr: string }> {
  const r = await run('docker', ['buildx', 'imagetools', 'inspect', '--raw', ref], { quiet: true });
  if (r.exitCode !== 0) return { code: r.exitCode, manifest: null, stderr: r.stderr.trim() };
  try {
    return { code: 0, manifest: JSON.parse(r.stdout) as Manifest, stderr: '' };
  } catch {
    return { code: 0, manifest: null, stderr: '' };
  }
}

/** Whether the image exists (`docker buildx imagetools inspect`), and the size of its layers. */
export async function registryProbe(image: string): Promise<RegistryProbe> {
  const top = await rawManifest(image);
  if (top.code !== 0) {
    const notFound = /not found|manifest unknown|404/i.test(top.stderr);
    return notFound
      ? { exists: false, sizeBytes: null }
      : { exists: false, sizeBytes: null, warning: `env cache: could not look up ${image} (treated as a miss): ${top.stderr.split('\n').pop() ?? ''}` };
  }
  let m = top.manifest;
  if (m?.manifests) {
    // an index (e.g. with attestations): take the image manifest, not the attestation one
    const img = m.manifests.find((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
    const repo = image.replace(/:[^:/]+$/, '');
    m = img ? (await rawManifest(`${repo}@${img.digest}`)).manifest : null;
  }
  const size = m?.layers ? m.layers.reduce((n, l) => n + (l.size || 0), 0) : null;
  return { exists: true, sizeBytes: size };
}

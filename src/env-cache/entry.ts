// One env-cache entry: the `conda-env` stage image as an OCI layout, and its record (what image it
// is, every blob with its size and piece checksums, the base image it was built on). A record is
// made from a layout whose blobs were checked against their digests (stageLayout), and an entry is
// checked against its record before any build reads it (checkEntry). The local backend keeps
// records as entries/<key>.json; the gha backend keeps one next to the layout it archives.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BlobHasher, checkBlobs, hashFile } from './checksum.js';
import { blobPath, imageBlobs, layoutTarget, type Descriptor } from './layout.js';

export const ENTRY_SCHEMA = 2;

export interface EntryBlob extends Descriptor { chunks: string[] }
export interface BaseImage { image: string; digest: string | null }

/** A blob whose bytes are not those its digest names. */
export class DamagedBlob extends Error {
  constructor(readonly file: string, readonly digest: string, message: string) {
    super(message);
  }
}

export interface EntryRecord {
  schema: typeof ENTRY_SCHEMA;
  key: string;
  /** The image: what index.json names, and what a build context is pinned to. */
  target: Descriptor;
  /** Its config digest: the Engine's image id in the classic image store. */
  config: string;
  blobs: EntryBlob[];
  sizeBytes: number;
  /** The base image the env was built on, with the digest the build resolved it to. */
  base: BaseImage;
  createdAt: number;
  lastUsed: number;
}

/** A layout whose blobs were checked against their digests, with the record parts that follow from it. */
export interface Staged { dir: string; target: Descriptor; config: string; blobs: EntryBlob[] }

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HEX_RE = /^[a-f0-9]{64}$/;

/** Why `v` is not a record of `key` (null: it is one). */
export function recordProblem(v: unknown, key: string): string | null {
  const r = v as Partial<EntryRecord> | null;
  if (typeof r !== 'object' || r === null) return 'it is not a JSON object';
  if (r.schema !== ENTRY_SCHEMA) return `schema ${JSON.stringify(r.schema)}, not ${ENTRY_SCHEMA}`;
  if (r.key !== key) return `it names the key ${JSON.stringify(r.key)}`;
  if (!r.target || !DIGEST_RE.test(r.target.digest)) return 'no image digest';
  if (typeof r.config !== 'string' || !DIGEST_RE.test(r.config)) return 'no config digest';
  if (!Array.isArray(r.blobs) || !r.blobs.length) return 'no blobs';
  for (const b of r.blobs) {
    if (!DIGEST_RE.test(b?.digest) || !Number.isSafeInteger(b.size) || b.size < 0 || !Array.isArray(b.chunks) || !b.chunks.every((c) => HEX_RE.test(c))) return `a blob without digest, size or checksums (${JSON.stringify(b?.digest)})`;
  }
  if (!r.blobs.some((b) => b.digest === r.target!.digest)) return 'the image manifest is not among its blobs';
  if (typeof r.lastUsed !== 'number' || typeof r.sizeBytes !== 'number') return 'no size or last use';
  return null;
}

/** The record of a staged layout. */
export function makeRecord(key: string, staged: Staged, base: BaseImage, now = Date.now()): EntryRecord {
  return {
    schema: ENTRY_SCHEMA, key, target: staged.target, config: staged.config, blobs: staged.blobs,
    sizeBytes: staged.blobs.reduce((n, b) => n + b.size, 0), base, createdAt: now, lastUsed: now,
  };
}

/**
 * Hashes the blobs of the image a layout's index.json names (as BuildKit's `type=oci,tar=false`
 * output writes it) and checks each against its digest. Throws naming a blob that does not match.
 */
export async function stageLayout(dir: string): Promise<Staged> {
  const target = layoutTarget(dir);
  const { blobs, config } = imageBlobs(target, (d) => fs.readFileSync(blobPath(dir, d)));
  const hashed: EntryBlob[] = [];
  for (const b of blobs) {
    const h = await hashFile(blobPath(dir, b.digest));
    if (h.digest !== b.digest || h.size !== b.size) throw new DamagedBlob(blobPath(dir, b.digest), b.digest, `${blobPath(dir, b.digest)} is not the blob ${b.digest} of ${b.size} bytes (it has ${h.size} bytes, digest ${h.digest})`);
    hashed.push({ ...b, chunks: h.chunks });
  }
  return { dir, target, config, blobs: hashed };
}

/** A staged layout from blobs hashed as they arrived (docker save): checks what `target` needs. */
export function stageHashed(dir: string, target: Descriptor, hashed: Map<string, BlobHasher & { done: string }>): Staged {
  const { blobs, config } = imageBlobs(target, (d) => fs.readFileSync(blobPath(dir, d)));
  return {
    dir, target, config,
    blobs: blobs.map((b) => {
      const h = hashed.get(b.digest);
      if (!h) throw new Error(`the archive lacks the blob ${b.digest}`);
      if (h.done !== b.digest || h.size !== b.size) throw new Error(`the archive's blob ${b.digest} has ${h.size} bytes and digest ${h.done}`);
      return { ...b, chunks: h.chunks };
    }),
  };
}

/**
 * Checks a layout holding the entry's blobs (sizes and piece checksums, on every core) before a
 * build reads it: null, or what is wrong and the blob it is wrong with.
 */
export async function checkLayout(dir: string, r: EntryRecord): Promise<{ problem: string; blob: string | null } | null> {
  const files = r.blobs.map((b) => ({ file: blobPath(dir, b.digest), size: b.size, chunks: b.chunks, digest: b.digest }));
  const res = await checkBlobs(files);
  if (res.ok) return null;
  return { problem: (res.problem ?? 'a blob does not match its checksum').replace(`${dir}/`, ''), blob: files.find((f) => f.file === res.file)?.digest ?? null };
}

/** The record kept next to a layout (gha), or null. */
export function readRecordIn(dir: string, key: string): EntryRecord | null {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, 'entry.json'), 'utf8')) as unknown;
    return recordProblem(r, key) === null ? (r as EntryRecord) : null;
  } catch {
    return null;
  }
}

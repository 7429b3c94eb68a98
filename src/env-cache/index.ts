/**
 * The cached conda environment: restore (or, in a dry run, look up) before the build, save after it.
 * An entry is the `conda-env` stage image itself; a hit hands it to every build as the named
 * context `conda-env`, which replaces the whole stage: no solve, no RUN, the env unpacked once.
 * src/pipeline.ts calls what this file exports; src/env-cache/action.ts holds the glue to the inputs.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as core from '@actions/core';
import { imageMaterials } from '../buildx.js';
import { DamagedBlob, checkLayout, makeRecord, stageLayout, type BaseImage, type EntryRecord, type Staged } from './entry.js';
import { engineContext, engineIdOf, engineImageId, engineName, loadIntoEngine, removeEngineImage, stageFromEngine } from './engine.js';
import { ghaCachePath, ghaRestore, ghaSave } from './gha.js';
import { acquireLock, cleanStale, commitEntry, currentLayers, dropEntry, finishLocalLayers, freeBytes, linkEntry, localLayerCache, lookupEntry, readEntry, dropDamagedLayerBlob, seedLayout, touchEntry } from './local.js';
import { installerArch, prepareMiniforge } from './miniforge.js';
import { registryImage, registryOutput, registryProbe } from './registry.js';
import { registryTag } from './key.js';
import type { EnvCacheSession, EnvCacheSettings, EnvCacheStore, EnvSave, SaveBuild, SaveResult } from './types.js';

export type { EnvCacheSession, EnvCacheSettings, EnvCacheStore, EnvExport, EnvSave, KeyInputs, SaveBuild, SaveResult } from './types.js';
export type { BaseImage } from './entry.js';
export { computeEnvCacheKey, normaliseEnvFile, condaEnvStage, keyMaterial } from './key.js';

const GB = 1024 ** 3;

function seconds(startMs: number): number {
  return Math.round((Date.now() - startMs) / 10) / 100;
}

function layerDefaults(s: EnvCacheSettings): { from: string[]; to: string[] } {
  switch (s.backend) {
    case 'local': {
      const l = localLayerCache(s.cacheDir);
      return { from: l.from, to: l.to };
    }
    case 'registry': {
      const ref = `${s.cacheRef}:${registryTag(`${s.keyPrefix}-buildcache`)}`;
      return { from: [`type=registry,ref=${ref}`], to: [`type=registry,ref=${ref},mode=max,ignore-error=true`] };
    }
    default:
      // gha: the env layers alone would fill GitHub's 10 GB; the env cache already covers the slow part.
      return { from: [], to: [] };
  }
}

export interface RestoreOptions {
  /** A dry run: look the key up, but link, download, load and record nothing. */
  lookupOnly?: boolean;
  /** false when the builder takes no named build contexts: none are made (the plan only gets here with backend none). */
  namedContexts?: boolean;
  /** false when the builder ignores oci-mediatypes and compression in an image output (the docker
   *  driver with the classic image store): the registry env image asks for neither. */
  imageOutputOptions?: boolean;
  /** Where the builder takes a local or gha entry from (src/builder.ts); default oci-layout. */
  store?: EnvCacheStore;
  /** The Engine's image id is the image's digest (the containerd store), not its config's (classic). */
  engineIdIsDigest?: boolean;
  /** The docker driver's save build writes the Engine's image and the entry's OCI layout at once
   *  (containerd store, BuildKit 0.13+), instead of a `docker save` afterwards. */
  engineSaveLayout?: boolean;
}

/** A hit: the context that replaces the conda-env stage, and what the summary says about it. */
interface Found { context: string; sizeBytes: number | null; base: BaseImage | null; source: string }
interface LookUp { found: Found | null; warnings: string[] }

const found = (context: string, sizeBytes: number | null, base: BaseImage | null, source: string): LookUp => ({ found: { context, sizeBytes, base, source }, warnings: [] });
const missBecause = (warning?: string): LookUp => ({ found: null, warnings: warning ? [warning] : [] });

/** The docker driver: the entry's image when the Engine has it under its name with the id the record says, else null. */
async function inEngine(key: string, r: EntryRecord, o: RestoreOptions): Promise<LookUp | null> {
  if (o.store !== 'engine') return null;
  const want = engineIdOf(r, o.engineIdIsDigest ?? false);
  return (await engineImageId(engineName(key))) === want ? found(engineContext(engineName(key)), r.sizeBytes, r.base, "the Docker Engine's image store") : null;
}

/**
 * Hands an entry whose blobs lie in `dir` to the builder, once the layout matched the record's
 * checksums: the OCI layout itself, or for the docker driver the Engine's image, loaded from `dir`.
 */
async function handOver(key: string, r: EntryRecord, dir: string, o: RestoreOptions, from: string): Promise<LookUp | { bad: { problem: string; blob: string | null } }> {
  const bad = await checkLayout(dir, r);
  if (bad) return { bad };
  if (o.store !== 'engine') return found(`oci-layout://${dir}@${r.target.digest}`, r.sizeBytes, r.base, from);
  const name = engineName(key);
  const want = engineIdOf(r, o.engineIdIsDigest ?? false);
  const t0 = Date.now();
  const failed = await loadIntoEngine(dir, r, name);
  const id = failed ? null : await engineImageId(name);
  if (id !== want) return missBecause(`env cache: could not put the entry into the Docker Engine (${failed ?? `it has ${id ?? 'no image'} under ${name}, not ${want}`}); building the environment instead`);
  return found(engineContext(name), r.sizeBytes, r.base, `${from}, loaded into the Docker Engine (docker load, ${seconds(t0).toFixed(1)} s)`);
}

/** Removes the local entry (with badBlob, that blob too) and, on the docker driver, its Engine image. */
async function removeLocalEntry(s: EnvCacheSettings, key: string, o: RestoreOptions, badBlob?: string): Promise<void> {
  await dropEntry(s.cacheDir, key, badBlob);
  if (o.store === 'engine') await removeEngineImage(engineName(key));
}

async function lookUpLocal(s: EnvCacheSettings, key: string, workDir: string, o: RestoreOptions): Promise<LookUp> {
  const l = lookupEntry(s.cacheDir, key);
  if (!l) return missBecause();
  const removed = async (why: string, blob?: string | null) => {
    await removeLocalEntry(s, key, o, blob ?? undefined);
    return missBecause(`env cache: the entry ${key} ${why}; it was removed, and the environment is built instead`);
  };
  if ('problem' in l) return o.lookupOnly ? missBecause(`env cache: the entry ${key} is damaged (${l.problem})`) : removed(`is damaged (${l.problem})`);
  const r = l.record;
  const dir = path.join(workDir, 'entry');
  if (o.lookupOnly) return found(o.store === 'engine' ? engineContext(engineName(key)) : `oci-layout://${dir}@${r.target.digest}`, r.sizeBytes, r.base, 'the cache dir (looked up only)');
  const engine = await inEngine(key, r, o);
  if (engine) {
    await touchEntry(s.cacheDir, key);
    return engine;
  }
  try {
    linkEntry(s.cacheDir, r, dir);
  } catch (e) {
    return removed(`lacks a blob (${(e as Error).message})`);
  }
  const h = await handOver(key, r, dir, o, 'the cache dir');
  if ('bad' in h) return removed(`does not match its checksums (${h.bad.problem})`, h.bad.blob);
  if (h.found) await touchEntry(s.cacheDir, key);
  return h;
}

async function lookUpGha(key: string, o: RestoreOptions): Promise<LookUp> {
  const g = await ghaRestore(key, o.lookupOnly ?? false);
  if (!g.hit || !g.dir) return missBecause(g.warning);
  if (!g.record) return found(`oci-layout://${g.dir}`, null, null, 'the GitHub cache (looked up only)');
  const h = (await inEngine(key, g.record, o)) ?? (await handOver(key, g.record, g.dir, o, 'the GitHub cache'));
  return 'bad' in h ? missBecause(`env cache: the GitHub cache's entry ${key} does not match its checksums (${h.bad.problem}); building the environment instead`) : h;
}

async function lookUpRegistry(s: EnvCacheSettings, key: string): Promise<LookUp> {
  const image = registryImage(s.cacheRef, key);
  const p = await registryProbe(image);
  if (!p.exists || !p.digest) return missBecause(p.warning);
  return found(`docker-image://${image}@${p.digest}`, p.sizeBytes, p.base, `the registry (pinned to ${p.digest})`);
}

/** Looks the key up in the backend. Never throws: a cache problem becomes a warning and a miss. */
async function lookUp(s: EnvCacheSettings, key: string, workDir: string, o: RestoreOptions): Promise<LookUp> {
  try {
    if (s.backend === 'local' && o.store !== 'none') return await lookUpLocal(s, key, workDir, o);
    if (s.backend === 'gha' && o.store !== 'none') return await lookUpGha(key, o);
    if (s.backend === 'registry') return await lookUpRegistry(s, key);
  } catch (e) {
    return missBecause(`env cache: restore failed, building the environment instead: ${(e as Error).message}`);
  }
  return missBecause();
}

/** What the save build of a miss writes, and where (null: nothing is saved). */
function saveFor(s: EnvCacheSettings, key: string, o: RestoreOptions): EnvSave | null {
  const engine = o.store === 'engine' ? engineName(key) : null;
  // uncompressed layers: the Engine and BuildKit unpack them at disk speed (GitHub's cache compresses the archive itself)
  const layout = (dir: string) => `type=oci,tar=false,dest=${dir},compression=uncompressed`;
  const entry = (dir: string): Omit<EnvSave, 'annotate'> => {
    if (!engine) return { outputs: [layout(dir)], dir, engineName: null, layout: true };
    // OCI media types: the image the Engine keeps is then the layout's manifest, byte for byte
    if (o.engineSaveLayout) return { outputs: [`type=image,name=${engine},compression=uncompressed,oci-mediatypes=true`, layout(dir)], dir, engineName: engine, layout: true };
    return { outputs: [`type=image,name=${engine}${o.imageOutputOptions !== false ? ',compression=uncompressed' : ''}`], dir, engineName: engine, layout: false };
  };
  if (s.backend === 'local' && o.store !== 'none') return { ...entry(path.join(s.cacheDir, 'tmp', `${key}.${process.pid}.${randomBytes(6).toString('hex')}`)), annotate: false };
  if (s.backend === 'gha' && o.store !== 'none') return { ...entry(ghaCachePath(key)), annotate: false };
  if (s.backend === 'registry') return { outputs: [registryOutput(registryImage(s.cacheRef, key), o.imageOutputOptions !== false)], dir: null, engineName: null, layout: false, annotate: o.imageOutputOptions !== false };
  return null;
}

async function session(s: EnvCacheSettings, key: string, workDir: string, o: RestoreOptions, l: LookUp, t0: number): Promise<EnvCacheSession> {
  const hit = l.found;
  const contexts: string[] = [];
  if (o.namedContexts !== false) {
    if (hit) contexts.push('--build-context', `conda-env=${hit.context}`);
    else {
      const arch = installerArch(s.platform);
      if (arch) {
        const mf = await prepareMiniforge(s.miniforgeVersion, arch, o.lookupOnly ?? false);
        core.info(mf.note);
        if (mf.dir) contexts.push('--build-context', `miniforge=${mf.dir}`);
      }
    }
  }
  const warnings = [...l.warnings];
  let layers = { from: [] as string[], to: [] as string[] };
  try {
    layers = layerDefaults(s);
  } catch (e) {
    warnings.push(`env cache: no default layer cache: ${(e as Error).message}`);
  }
  core.info(`env cache (${s.backend}): ${hit ? `hit from ${hit.source}` : 'miss'} for ${key}${o.lookupOnly ? ' (looked up only)' : ''}`);
  const lockPath = path.join(workDir, 'env-lock', 'environment.lock');
  return {
    key, platform: s.platform, hit: !!hit, matchedKey: hit ? key : '', buildContexts: contexts,
    layerCacheFrom: layers.from, layerCacheTo: layers.to, restoreSeconds: seconds(t0), sizeBytes: hit?.sizeBytes ?? null, warnings,
    source: hit?.source ?? '', base: hit?.base ?? null,
    exports: [{ target: 'env-lock', output: `type=local,dest=${path.dirname(lockPath)}` }],
    save: hit ? null : saveFor(s, key, o), lockPath, lookupOnly: o.lookupOnly ?? false,
  };
}

/**
 * Looks the key up in the backend. On a hit, buildContexts replace the conda-env stage with the
 * entry (`conda-env=oci-layout://DIR@DIGEST`, `docker-image://...`); on a miss, the Miniforge
 * installer from the tool cache (`miniforge=DIR`) when available, and the session names the save
 * build. Never throws for a cache problem: it becomes a warning.
 */
export async function restoreEnvCache(s: EnvCacheSettings, key: string, workDir: string, opts: RestoreOptions = {}): Promise<EnvCacheSession> {
  const t0 = Date.now();
  fs.mkdirSync(workDir, { recursive: true });
  return session(s, key, workDir, opts, await lookUp(s, key, workDir, opts), t0);
}

/**
 * A hit the builder could not use (the first build that reads the entry failed: BuildKit found a
 * blob whose digest does not match, a registry blob that does not download): the entry is removed
 * where it can be, and the run goes on as a miss, with a warning that says why.
 */
export async function missAfterAll(s: EnvCacheSettings, hit: EnvCacheSession, workDir: string, opts: RestoreOptions, why: string): Promise<EnvCacheSession> {
  const t0 = Date.now();
  let removed = '';
  if (s.backend === 'local') {
    try {
      await removeLocalEntry(s, hit.key, opts);
      removed = ' it was removed, and';
    } catch {
      // the next run finds it again and fails the same way: the warning says so now
    }
  }
  const warning = `env cache: the build could not use the cached environment (${why});${removed} the environment is built instead`;
  return session(s, hit.key, workDir, opts, { found: null, warnings: [...hit.warnings, warning] }, t0);
}

/** The base image a build resolved (the one docker material of the env-lock build's provenance that is `baseImage`), or null. */
export function baseOf(metadata: Record<string, unknown> | null, baseImage: string): BaseImage {
  const norm = (ref: string) => ref.replace(/^docker\.io\/(library\/)?/, '');
  const materials = imageMaterials(metadata);
  const m = materials.find((x) => norm(x.ref) === norm(baseImage)) ?? (materials.length === 1 ? materials[0] : undefined);
  return { image: baseImage, digest: m?.digest ?? null };
}

export interface SaveOptions {
  /** Runs the save build (plan.envSave). */
  build: () => Promise<SaveBuild>;
  /** The base image the env was built on (recorded in the entry). */
  base: BaseImage;
  /** The store the session was made for (restoreEnvCache's opts.store). */
  store?: EnvCacheStore;
  engineIdIsDigest?: boolean;
  /** Stops the save (the main step's wait ran out, or the job was cancelled). */
  signal?: AbortSignal;
  /** Told the Engine image a local save is about to make (it holds the key's lock), for the post step. */
  claimed?: (engineName: string) => void;
  /** The main build's --cache-to values: a `local` save starts from links to the layer cache's blobs. */
  layerCacheTo?: string[];
}

const notSaved = (why: string) => new Error(why);

/** Stages what the save build wrote: the OCI layout it wrote, or the Engine's image saved into the dir. */
async function stageSave(save: EnvSave, o: SaveOptions): Promise<Staged> {
  const staged = save.layout ? await stageLayout(save.dir!) : await stageFromEngine(save.engineName!, save.dir!, o.signal);
  if (!save.engineName) return staged;
  const id = await engineImageId(save.engineName);
  const want = engineIdOf(staged, o.engineIdIsDigest ?? false);
  if (id !== want) throw notSaved(`the Engine's ${save.engineName} is ${id ?? 'gone'} now, not the image saved (${want})`);
  return staged;
}

async function saveLocal(s: EnvCacheSettings, session: EnvCacheSession, save: EnvSave, o: SaveOptions): Promise<Omit<SaveResult, 'seconds'>> {
  // another job has saved or is saving the key: said as info, with the entry's size when it exists
  const raced = (why: string, existing = readEntry(s.cacheDir, session.key)) => ({ saved: false, sizeBytes: existing?.sizeBytes ?? null, note: `env cache: not saved: ${why}` });
  const before = readEntry(s.cacheDir, session.key);
  if (before) return raced('the entry already exists', before);
  fs.mkdirSync(path.join(s.cacheDir, 'tmp'), { recursive: true });
  const release = acquireLock(s.cacheDir, session.key);
  if (!release) return raced('another job is saving this key now');
  let saved = false;
  try {
    const locked = readEntry(s.cacheDir, session.key);
    if (locked) return raced('the entry already exists', locked);
    if (save.engineName) o.claimed?.(save.engineName);
    if (save.layout) {
      // the layer cache the main build just wrote holds the env layer uncompressed: the blob the save would write
      const linked = seedLayout(save.dir!, [...localLayerDests(s, session, o.layerCacheTo ?? []), currentLayers(s.cacheDir)]);
      if (linked) core.info(`env cache: the save starts with ${linked} blobs of the layer cache (linked, not copied)`);
    }
    const b = await o.build();
    if (b.exitCode !== 0) throw notSaved(`the save build failed: ${b.failure}`);
    const staged = await stageSave(save, o).catch((e: unknown) => {
      if (e instanceof DamagedBlob && dropDamagedLayerBlob(s.cacheDir, e.file, e.digest)) throw notSaved(`${e.message}: the layer cache's file, linked into the save; the layer cache was retired, and the next build writes a new one`);
      throw e;
    });
    const c = await commitEntry(s.cacheDir, session.key, staged, o.base, s.maxSizeGb * GB);
    saved = c.saved;
    if (c.evicted.length) {
      core.info(`env cache: evicted ${c.evicted.length} least recently used entr${c.evicted.length === 1 ? 'y' : 'ies'}: ${c.evicted.join(' ')}`);
      if (save.engineName) for (const k of c.evicted) await removeEngineImage(engineName(k));
    }
    return c.raced ? raced(c.reason!) : { saved: c.saved, sizeBytes: c.sizeBytes };
  } finally {
    fs.rmSync(save.dir!, { recursive: true, force: true });
    release();
    cleanStale(s.cacheDir);
    // no Engine image without its entry: the next run would trust nothing about it
    if (!saved && save.engineName) await removeEngineImage(save.engineName);
  }
}

async function saveGha(session: EnvCacheSession, save: EnvSave, o: SaveOptions): Promise<Omit<SaveResult, 'seconds'>> {
  fs.rmSync(save.dir!, { recursive: true, force: true });
  fs.mkdirSync(save.dir!, { recursive: true });
  const b = await o.build();
  if (b.exitCode !== 0) throw notSaved(`the save build failed: ${b.failure}`);
  const staged = await stageSave(save, o);
  return ghaSave(session.key, staged, makeRecord(session.key, staged, o.base));
}

async function saveRegistry(s: EnvCacheSettings, session: EnvCacheSession, o: SaveOptions): Promise<Omit<SaveResult, 'seconds'>> {
  const image = registryImage(s.cacheRef, session.key);
  const b = await o.build();
  if (b.exitCode !== 0) throw notSaved(`the push of ${image} failed: ${b.failure}`);
  const r = await registryProbe(image);
  return { saved: r.exists, sizeBytes: r.sizeBytes, warning: r.exists ? undefined : r.warning ?? `env cache: ${image} is not in the registry after its push` };
}

/** Saves the env on a miss: runs the save build, then keeps what it wrote. A cache problem is a warning, never an exception. */
export async function saveEnvCache(s: EnvCacheSettings, session: EnvCacheSession, o: SaveOptions): Promise<SaveResult> {
  const t0 = Date.now();
  const save = session.save;
  if (session.hit || !save) return { saved: false, seconds: 0, sizeBytes: session.sizeBytes };
  try {
    const r = s.backend === 'local' ? await saveLocal(s, session, save, o) : s.backend === 'gha' ? await saveGha(session, save, o) : await saveRegistry(s, session, o);
    return { ...r, seconds: seconds(t0) };
  } catch (e) {
    if (s.backend === 'local' && !o.signal?.aborted && noSpace(e)) {
      const free = freeBytes(s.cacheDir);
      return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: not saved: no space left in the cache dir ${s.cacheDir}${free === null ? '' : ` (${(free / 1024 ** 2).toFixed(1)} MiB free)`}; the build is not affected, and nothing of the save was kept` };
    }
    const why = o.signal?.aborted ? 'it was stopped' : (e as Error).message;
    return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: not saved (the build is not affected): ${why}` };
  }
}

/** A full disk: a write of this process (ENOSPC, EDQUOT), or the save build saying so (BuildKit or buildx wrote the layout). */
function noSpace(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT' || /no space left on device|disk quota exceeded/i.test((e as Error).message ?? '');
}

/**
 * The layer caches of the `local` backend that the build was given: `used` are its --cache-to
 * values (a builder that exports no layer cache, the docker driver on the classic store, was given
 * none, and a user's own cache-to is none of this cache's business). Their destination dirs.
 */
function localLayerDests(s: EnvCacheSettings, session: EnvCacheSession, used: string[]): string[] {
  if (s.backend !== 'local') return [];
  return session.layerCacheTo.filter((t) => used.includes(t) && t.startsWith('type=local')).flatMap((t) => /(?:^|,)dest=([^,]+)/.exec(t)?.[1] ?? []);
}

/** Before the main build: the new `local` layer cache starts with links to the current one's blobs, which BuildKit then does not write again. */
export function prepareLayerCache(s: EnvCacheSettings, session: EnvCacheSession, used: string[]): void {
  for (const dest of localLayerDests(s, session, used)) {
    try {
      const linked = seedLayout(dest, [currentLayers(s.cacheDir)]);
      if (linked) core.info(`env cache: the new layer cache starts with ${linked} blobs of the current one (linked, not copied)`);
    } catch (e) {
      core.info(`env cache: the new layer cache starts empty (${(e as Error).message})`);
    }
  }
}

/** After the main build: for `local`, swaps the freshly written layer cache in place of the old one. */
export async function finishLayerCache(s: EnvCacheSettings, session: EnvCacheSession, used: string[]): Promise<void> {
  for (const dest of localLayerDests(s, session, used)) {
    try {
      if (finishLocalLayers(s.cacheDir, dest) === 'not-written' && !fs.existsSync(path.join(currentLayers(s.cacheDir), 'index.json'))) {
        // ignore-error=true let the build pass without it; say so, or the next build's misses go unexplained
        const free = freeBytes(s.cacheDir);
        core.warning(`env cache: BuildKit wrote no layer cache to ${path.join(s.cacheDir, 'layers')}${free === null ? '' : ` (${(free / 1024 ** 2).toFixed(1)} MiB free there)`}; the build is not affected, the next one starts without it`);
      }
    } catch (e) {
      core.warning(`env cache: could not swap in the new layer cache: ${(e as Error).message}`);
    }
  }
}

export const id = 678;
export const ids = [678];
export const modules = {

/***/ 1678:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  baseOf: () => (/* binding */ baseOf),
  computeEnvCacheKey: () => (/* reexport */ key/* computeEnvCacheKey */.Ow),
  condaEnvStage: () => (/* reexport */ key/* condaEnvStage */.Lu),
  finishLayerCache: () => (/* binding */ finishLayerCache),
  keyMaterial: () => (/* reexport */ key/* keyMaterial */.vN),
  missAfterAll: () => (/* binding */ missAfterAll),
  normaliseEnvFile: () => (/* reexport */ key/* normaliseEnvFile */.EA),
  prepareLayerCache: () => (/* binding */ prepareLayerCache),
  restoreEnvCache: () => (/* binding */ restoreEnvCache),
  saveEnvCache: () => (/* binding */ saveEnvCache)
});

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 7 modules
var core = __webpack_require__(3838);
// EXTERNAL MODULE: ./src/buildx.ts
var buildx = __webpack_require__(9903);
// EXTERNAL MODULE: ./src/env-cache/entry.ts
var entry = __webpack_require__(7528);
// EXTERNAL MODULE: ./src/env-cache/engine.ts
var env_cache_engine = __webpack_require__(4128);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: ./node_modules/@actions/cache/lib/cache.js + 340 modules
var cache = __webpack_require__(1691);
;// CONCATENATED MODULE: ./src/env-cache/gha.ts





/**
 * The `gha` backend: GitHub's cache (@actions/cache) holds one directory per key, the entry's OCI
 * layout with its record (entry.json) beside it. The layout is checked against the record before
 * a build reads it, as a local entry is.
 */
/** GitHub's cache holds at most 10 GB per repository; warn from this size on. */
const GHA_WARN_BYTES = 8 * 1024 ** 3;
/**
 * The path handed to @actions/cache. It must be the same string on every run (the cache version is a
 * hash of the paths), so it depends on the key's hash only, never on a per-run temp dir.
 */
function ghaCachePath(key) {
    const base = process.env.RUNNER_TEMP || external_node_os_.tmpdir();
    const hash = key.slice(-16);
    return external_node_path_.join(base, 'pointcept-env-cache', hash);
}
function message(e) {
    return e instanceof Error ? e.message : String(e);
}
function sizeWarning(sizeBytes) {
    if (sizeBytes < GHA_WARN_BYTES)
        return undefined;
    const gb = (sizeBytes / 1024 ** 3).toFixed(1);
    return `env cache: the environment is ${gb} GB, near GitHub's 10 GB cache limit per repository; it will evict other caches or fail to save (consider cache-backend: local or registry)`;
}
/**
 * Exact-key restore only: an entry of another key is another environment and must not be fed to the
 * build. With lookupOnly (a dry run) the cache service is asked whether the entry exists; nothing is
 * downloaded.
 */
async function ghaRestore(key, lookupOnly = false) {
    const dir = ghaCachePath(key);
    const miss = { hit: false, matchedKey: '', dir: null, record: null };
    try {
        if (lookupOnly) {
            const matched = await cache/* restoreCache */.P3([dir], key, [], { lookupOnly: true }, false);
            return matched === key ? { hit: true, matchedKey: key, dir, record: null } : miss;
        }
        external_node_fs_.rmSync(dir, { recursive: true, force: true });
        external_node_fs_.mkdirSync(dir, { recursive: true });
        const matched = await cache/* restoreCache */.P3([dir], key, [], {}, false);
        if (matched !== key)
            return miss;
        const record = (0,entry/* readRecordIn */.RD)(dir, key);
        if (!record)
            return { ...miss, warning: `env cache: the GitHub cache's entry ${key} has no readable entry.json; building the environment instead` };
        return { hit: true, matchedKey: matched, dir, record };
    }
    catch (e) {
        return { ...miss, warning: `env cache: restore from the GitHub cache failed, building the environment instead: ${message(e)}` };
    }
}
/** Archives the staged layout (at ghaCachePath(key)) with its record under KEY; any cache error becomes a warning. */
async function ghaSave(key, staged, record) {
    const warnings = [];
    const sw = sizeWarning(record.sizeBytes);
    if (sw)
        warnings.push(sw);
    try {
        // only the image's blobs travel: not BuildKit's ingest/ dir, not docker save's extra files
        const keep = new Set(staged.blobs.map((b) => b.digest.slice('sha256:'.length)));
        const blobs = external_node_path_.join(staged.dir, 'blobs', 'sha256');
        for (const n of external_node_fs_.readdirSync(blobs))
            if (!keep.has(n))
                external_node_fs_.rmSync(external_node_path_.join(blobs, n), { force: true });
        external_node_fs_.rmSync(external_node_path_.join(staged.dir, 'ingest'), { recursive: true, force: true });
        external_node_fs_.writeFileSync(external_node_path_.join(staged.dir, 'entry.json'), JSON.stringify(record));
        const id = await cache/* saveCache */.Io([staged.dir], key, {}, false);
        if (id === -1) {
            warnings.push('env cache: the GitHub cache did not save the environment (see the warning above)');
            return { saved: false, sizeBytes: record.sizeBytes, warning: warnings.join('\n') };
        }
        return { saved: true, sizeBytes: record.sizeBytes, warning: warnings.length ? warnings.join('\n') : undefined };
    }
    catch (e) {
        warnings.push(`env cache: saving to the GitHub cache failed (the build is not affected): ${message(e)}`);
        return { saved: false, sizeBytes: record.sizeBytes, warning: warnings.join('\n') };
    }
}

// EXTERNAL MODULE: ./src/env-cache/local.ts
var local = __webpack_require__(1967);
// EXTERNAL MODULE: ./node_modules/@actions/tool-cache/lib/tool-cache.js + 2 modules
var tool_cache = __webpack_require__(9805);
;// CONCATENATED MODULE: ./src/env-cache/miniforge.ts




/**
 * sha256 of Miniforge installers this action accepts from the tool cache or a download.
 * A version not listed here is not prefetched: the Dockerfile's conda-env stage downloads it and
 * checks it against its own MINIFORGE_SHA256 build argument.
 */
const MINIFORGE_SHA256 = {
    '24.11.3-0/x86_64': '2e1ad2188fe69fcdd522c2b20c08c800a5c7411b775eca768318b1540ed32e53',
};
const TOOL_NAME = 'miniforge3';
function installerName(version, arch = 'x86_64') {
    return `Miniforge3-${version}-Linux-${arch}.sh`;
}
function installerUrl(version, arch = 'x86_64') {
    return `https://github.com/conda-forge/miniforge/releases/download/${version}/${installerName(version, arch)}`;
}
/** The installer's CPU name for a key platform part such as linux-amd64. */
function installerArch(platform) {
    if (/amd64$/.test(platform))
        return 'x86_64';
    if (/arm64/.test(platform))
        return 'aarch64';
    return null;
}
function fileSha256(file) {
    return (0,external_node_crypto_.createHash)('sha256').update(external_node_fs_.readFileSync(file)).digest('hex');
}
/**
 * Keeps the installer in the runner's tool cache: found there (sha256 re-checked), else downloaded
 * from the conda-forge/miniforge release, checked and cached. Offline runners are pre-seeded by
 * putting the installer at $RUNNER_TOOL_CACHE/miniforge3/<version>/x64/<installer> with an empty
 * $RUNNER_TOOL_CACHE/miniforge3/<version>/x64.complete next to that directory.
 * Never throws: on any problem the build downloads the installer itself. With lookupOnly (a dry
 * run) nothing is downloaded: the result names the directory a real run would use.
 */
async function prepareMiniforge(version, arch = 'x86_64', lookupOnly = false) {
    const want = MINIFORGE_SHA256[`${version}/${arch}`];
    if (!want)
        return { dir: null, source: 'none', note: `Miniforge ${version} (${arch}) has no pinned sha256 here; the build fetches the installer itself` };
    if (!process.env.RUNNER_TOOL_CACHE)
        return { dir: null, source: 'none', note: 'RUNNER_TOOL_CACHE is not set; the build fetches the Miniforge installer itself' };
    const name = installerName(version, arch);
    const toolArch = arch === 'x86_64' ? 'x64' : 'arm64';
    try {
        const found = tool_cache/* find */.I6(TOOL_NAME, version, toolArch);
        if (found && external_node_fs_.existsSync(external_node_path_.join(found, name))) {
            if (fileSha256(external_node_path_.join(found, name)) === want)
                return { dir: found, source: 'tool-cache', note: `Miniforge ${version} from the tool cache` };
        }
        if (lookupOnly) {
            // where tc.cacheFile puts it (the versions pinned above are their own clean semver)
            const dir = external_node_path_.join(process.env.RUNNER_TOOL_CACHE, TOOL_NAME, version, toolArch);
            return { dir, source: 'download', note: `Miniforge ${version} is not in the tool cache; a real run downloads it to ${dir}` };
        }
        const downloaded = await tool_cache/* downloadTool */.bq(installerUrl(version, arch));
        const got = fileSha256(downloaded);
        if (got !== want) {
            external_node_fs_.rmSync(downloaded, { force: true });
            return { dir: null, source: 'none', note: `miniforge-version: the downloaded ${name} has sha256 ${got}, expected ${want}; not used` };
        }
        const dir = await tool_cache/* cacheFile */.NJ(downloaded, name, TOOL_NAME, version, toolArch);
        external_node_fs_.rmSync(downloaded, { force: true });
        return { dir, source: 'download', note: `Miniforge ${version} downloaded, checked and kept in the tool cache` };
    }
    catch (e) {
        return { dir: null, source: 'none', note: `Miniforge ${version} could not be prefetched (${e.message}); the build fetches it itself` };
    }
}

// EXTERNAL MODULE: ./src/env-cache/registry.ts
var registry = __webpack_require__(8577);
// EXTERNAL MODULE: ./src/env-cache/key.ts
var key = __webpack_require__(4247);
;// CONCATENATED MODULE: ./src/env-cache/index.ts
/**
 * The cached conda environment: restore (or, in a dry run, look up) before the build, save after it.
 * An entry is the `conda-env` stage image itself; a hit hands it to every build as the named
 * context `conda-env`, which replaces the whole stage: no solve, no RUN, the env unpacked once.
 * src/pipeline.ts calls what this file exports; src/env-cache/action.ts holds the glue to the inputs.
 */













const GB = 1024 ** 3;
function seconds(startMs) {
    return Math.round((Date.now() - startMs) / 10) / 100;
}
function layerDefaults(s) {
    switch (s.backend) {
        case 'local': {
            const l = (0,local/* localLayerCache */.vJ)(s.cacheDir);
            return { from: l.from, to: l.to };
        }
        case 'registry': {
            const ref = `${s.cacheRef}:${(0,key/* registryTag */.Y8)(`${s.keyPrefix}-buildcache`)}`;
            return { from: [`type=registry,ref=${ref}`], to: [`type=registry,ref=${ref},mode=max,ignore-error=true`] };
        }
        default:
            // gha: the env layers alone would fill GitHub's 10 GB; the env cache already covers the slow part.
            return { from: [], to: [] };
    }
}
const found = (context, sizeBytes, base, source) => ({ found: { context, sizeBytes, base, source }, warnings: [] });
const missBecause = (warning) => ({ found: null, warnings: warning ? [warning] : [] });
/** The docker driver: the entry's image when the Engine has it under its name with the id the record says, else null. */
async function inEngine(key, r, o) {
    if (o.store !== 'engine')
        return null;
    const want = (0,env_cache_engine/* engineIdOf */.nm)(r, o.engineIdIsDigest ?? false);
    return (await (0,env_cache_engine/* engineImageId */.T$)((0,env_cache_engine/* engineName */.OC)(key))) === want ? found((0,env_cache_engine/* engineContext */.iv)((0,env_cache_engine/* engineName */.OC)(key)), r.sizeBytes, r.base, "the Docker Engine's image store") : null;
}
/**
 * Hands an entry whose blobs lie in `dir` to the builder, once the layout matched the record's
 * checksums: the OCI layout itself, or for the docker driver the Engine's image, loaded from `dir`.
 */
async function handOver(key, r, dir, o, from) {
    const bad = await (0,entry/* checkLayout */.HX)(dir, r);
    if (bad)
        return { bad };
    if (o.store !== 'engine')
        return found(`oci-layout://${dir}@${r.target.digest}`, r.sizeBytes, r.base, from);
    const name = (0,env_cache_engine/* engineName */.OC)(key);
    const want = (0,env_cache_engine/* engineIdOf */.nm)(r, o.engineIdIsDigest ?? false);
    const t0 = Date.now();
    const failed = await (0,env_cache_engine/* loadIntoEngine */.$n)(dir, r, name);
    const id = failed ? null : await (0,env_cache_engine/* engineImageId */.T$)(name);
    if (id !== want)
        return missBecause(`env cache: could not put the entry into the Docker Engine (${failed ?? `it has ${id ?? 'no image'} under ${name}, not ${want}`}); building the environment instead`);
    return found((0,env_cache_engine/* engineContext */.iv)(name), r.sizeBytes, r.base, `${from}, loaded into the Docker Engine (docker load, ${seconds(t0).toFixed(1)} s)`);
}
/** Removes the local entry (with badBlob, that blob too) and, on the docker driver, its Engine image. */
async function removeLocalEntry(s, key, o, badBlob) {
    await (0,local/* dropEntry */.sT)(s.cacheDir, key, badBlob);
    if (o.store === 'engine')
        await (0,env_cache_engine/* removeEngineImage */.au)((0,env_cache_engine/* engineName */.OC)(key));
}
async function lookUpLocal(s, key, workDir, o) {
    const l = (0,local/* lookupEntry */.Ne)(s.cacheDir, key);
    if (!l)
        return missBecause();
    const removed = async (why, blob) => {
        await removeLocalEntry(s, key, o, blob ?? undefined);
        return missBecause(`env cache: the entry ${key} ${why}; it was removed, and the environment is built instead`);
    };
    if ('problem' in l)
        return o.lookupOnly ? missBecause(`env cache: the entry ${key} is damaged (${l.problem})`) : removed(`is damaged (${l.problem})`);
    const r = l.record;
    const dir = external_node_path_.join(workDir, 'entry');
    if (o.lookupOnly)
        return found(o.store === 'engine' ? (0,env_cache_engine/* engineContext */.iv)((0,env_cache_engine/* engineName */.OC)(key)) : `oci-layout://${dir}@${r.target.digest}`, r.sizeBytes, r.base, 'the cache dir (looked up only)');
    const engine = await inEngine(key, r, o);
    if (engine) {
        await (0,local/* touchEntry */.CS)(s.cacheDir, key);
        return engine;
    }
    try {
        (0,local/* linkEntry */.zA)(s.cacheDir, r, dir);
    }
    catch (e) {
        return removed(`lacks a blob (${e.message})`);
    }
    const h = await handOver(key, r, dir, o, 'the cache dir');
    if ('bad' in h)
        return removed(`does not match its checksums (${h.bad.problem})`, h.bad.blob);
    if (h.found)
        await (0,local/* touchEntry */.CS)(s.cacheDir, key);
    return h;
}
async function lookUpGha(key, o) {
    const g = await ghaRestore(key, o.lookupOnly ?? false);
    if (!g.hit || !g.dir)
        return missBecause(g.warning);
    if (!g.record)
        return found(`oci-layout://${g.dir}`, null, null, 'the GitHub cache (looked up only)');
    const h = (await inEngine(key, g.record, o)) ?? (await handOver(key, g.record, g.dir, o, 'the GitHub cache'));
    return 'bad' in h ? missBecause(`env cache: the GitHub cache's entry ${key} does not match its checksums (${h.bad.problem}); building the environment instead`) : h;
}
async function lookUpRegistry(s, key) {
    const image = (0,registry/* registryImage */.$E)(s.cacheRef, key);
    const p = await (0,registry/* registryProbe */.kr)(image);
    if (!p.exists || !p.digest)
        return missBecause(p.warning);
    return found(`docker-image://${image}@${p.digest}`, p.sizeBytes, p.base, `the registry (pinned to ${p.digest})`);
}
/** Looks the key up in the backend. Never throws: a cache problem becomes a warning and a miss. */
async function lookUp(s, key, workDir, o) {
    try {
        if (s.backend === 'local' && o.store !== 'none')
            return await lookUpLocal(s, key, workDir, o);
        if (s.backend === 'gha' && o.store !== 'none')
            return await lookUpGha(key, o);
        if (s.backend === 'registry')
            return await lookUpRegistry(s, key);
    }
    catch (e) {
        return missBecause(`env cache: restore failed, building the environment instead: ${e.message}`);
    }
    return missBecause();
}
/** What the save build of a miss writes, and where (null: nothing is saved). */
function saveFor(s, key, o) {
    const engine = o.store === 'engine' ? (0,env_cache_engine/* engineName */.OC)(key) : null;
    // uncompressed layers: the Engine and BuildKit unpack them at disk speed (GitHub's cache compresses the archive itself)
    const layout = (dir) => `type=oci,tar=false,dest=${dir},compression=uncompressed`;
    const entry = (dir) => {
        if (!engine)
            return { outputs: [layout(dir)], dir, engineName: null, layout: true };
        // OCI media types: the image the Engine keeps is then the layout's manifest, byte for byte
        if (o.engineSaveLayout)
            return { outputs: [`type=image,name=${engine},compression=uncompressed,oci-mediatypes=true`, layout(dir)], dir, engineName: engine, layout: true };
        return { outputs: [`type=image,name=${engine}${o.imageOutputOptions !== false ? ',compression=uncompressed' : ''}`], dir, engineName: engine, layout: false };
    };
    if (s.backend === 'local' && o.store !== 'none')
        return { ...entry(external_node_path_.join(s.cacheDir, 'tmp', `${key}.${process.pid}.${(0,external_node_crypto_.randomBytes)(6).toString('hex')}`)), annotate: false };
    if (s.backend === 'gha' && o.store !== 'none')
        return { ...entry(ghaCachePath(key)), annotate: false };
    if (s.backend === 'registry')
        return { outputs: [(0,registry/* registryOutput */.JB)((0,registry/* registryImage */.$E)(s.cacheRef, key), o.imageOutputOptions !== false)], dir: null, engineName: null, layout: false, annotate: o.imageOutputOptions !== false };
    return null;
}
async function session(s, key, workDir, o, l, t0) {
    const hit = l.found;
    const contexts = [];
    if (o.namedContexts !== false) {
        if (hit)
            contexts.push('--build-context', `conda-env=${hit.context}`);
        else {
            const arch = installerArch(s.platform);
            if (arch) {
                const mf = await prepareMiniforge(s.miniforgeVersion, arch, o.lookupOnly ?? false);
                core/* info */.pq(mf.note);
                if (mf.dir)
                    contexts.push('--build-context', `miniforge=${mf.dir}`);
            }
        }
    }
    const warnings = [...l.warnings];
    let layers = { from: [], to: [] };
    try {
        layers = layerDefaults(s);
    }
    catch (e) {
        warnings.push(`env cache: no default layer cache: ${e.message}`);
    }
    core/* info */.pq(`env cache (${s.backend}): ${hit ? `hit from ${hit.source}` : 'miss'} for ${key}${o.lookupOnly ? ' (looked up only)' : ''}`);
    const lockPath = external_node_path_.join(workDir, 'env-lock', 'environment.lock');
    return {
        key, platform: s.platform, hit: !!hit, matchedKey: hit ? key : '', buildContexts: contexts,
        layerCacheFrom: layers.from, layerCacheTo: layers.to, restoreSeconds: seconds(t0), sizeBytes: hit?.sizeBytes ?? null, warnings,
        source: hit?.source ?? '', base: hit?.base ?? null,
        exports: [{ target: 'env-lock', output: `type=local,dest=${external_node_path_.dirname(lockPath)}` }],
        save: hit ? null : saveFor(s, key, o), lockPath, lookupOnly: o.lookupOnly ?? false,
    };
}
/**
 * Looks the key up in the backend. On a hit, buildContexts replace the conda-env stage with the
 * entry (`conda-env=oci-layout://DIR@DIGEST`, `docker-image://...`); on a miss, the Miniforge
 * installer from the tool cache (`miniforge=DIR`) when available, and the session names the save
 * build. Never throws for a cache problem: it becomes a warning.
 */
async function restoreEnvCache(s, key, workDir, opts = {}) {
    const t0 = Date.now();
    external_node_fs_.mkdirSync(workDir, { recursive: true });
    return session(s, key, workDir, opts, await lookUp(s, key, workDir, opts), t0);
}
/**
 * A hit the builder could not use (the first build that reads the entry failed: BuildKit found a
 * blob whose digest does not match, a registry blob that does not download): the entry is removed
 * where it can be, and the run goes on as a miss, with a warning that says why.
 */
async function missAfterAll(s, hit, workDir, opts, why) {
    const t0 = Date.now();
    let removed = '';
    if (s.backend === 'local') {
        try {
            await removeLocalEntry(s, hit.key, opts);
            removed = ' it was removed, and';
        }
        catch {
            // the next run finds it again and fails the same way: the warning says so now
        }
    }
    const warning = `env cache: the build could not use the cached environment (${why});${removed} the environment is built instead`;
    return session(s, hit.key, workDir, opts, { found: null, warnings: [...hit.warnings, warning] }, t0);
}
/** The base image a build resolved (the one docker material of the env-lock build's provenance that is `baseImage`), or null. */
function baseOf(metadata, baseImage) {
    const norm = (ref) => ref.replace(/^docker\.io\/(library\/)?/, '');
    const materials = (0,buildx/* imageMaterials */.cN)(metadata);
    const m = materials.find((x) => norm(x.ref) === norm(baseImage)) ?? (materials.length === 1 ? materials[0] : undefined);
    return { image: baseImage, digest: m?.digest ?? null };
}
const notSaved = (why) => new Error(why);
/** Stages what the save build wrote: the OCI layout it wrote, or the Engine's image saved into the dir. */
async function stageSave(save, o) {
    const staged = save.layout ? await (0,entry/* stageLayout */.nK)(save.dir) : await (0,env_cache_engine/* stageFromEngine */.Zb)(save.engineName, save.dir, o.signal);
    if (!save.engineName)
        return staged;
    const id = await (0,env_cache_engine/* engineImageId */.T$)(save.engineName);
    const want = (0,env_cache_engine/* engineIdOf */.nm)(staged, o.engineIdIsDigest ?? false);
    if (id !== want)
        throw notSaved(`the Engine's ${save.engineName} is ${id ?? 'gone'} now, not the image saved (${want})`);
    return staged;
}
async function saveLocal(s, session, save, o) {
    // another job has saved or is saving the key: said as info, with the entry's size when it exists
    const raced = (why, existing = (0,local/* readEntry */.hB)(s.cacheDir, session.key)) => ({ saved: false, sizeBytes: existing?.sizeBytes ?? null, note: `env cache: not saved: ${why}` });
    const before = (0,local/* readEntry */.hB)(s.cacheDir, session.key);
    if (before)
        return raced('the entry already exists', before);
    external_node_fs_.mkdirSync(external_node_path_.join(s.cacheDir, 'tmp'), { recursive: true });
    const release = (0,local/* acquireLock */.IZ)(s.cacheDir, session.key);
    if (!release)
        return raced('another job is saving this key now');
    let saved = false;
    try {
        const locked = (0,local/* readEntry */.hB)(s.cacheDir, session.key);
        if (locked)
            return raced('the entry already exists', locked);
        if (save.engineName)
            o.claimed?.(save.engineName);
        if (save.layout) {
            // the layer cache the main build just wrote holds the env layer uncompressed: the blob the save would write
            const linked = (0,local/* seedLayout */.Y2)(save.dir, [...localLayerDests(s, session, o.layerCacheTo ?? []), (0,local/* currentLayers */.yk)(s.cacheDir)]);
            if (linked)
                core/* info */.pq(`env cache: the save starts with ${linked} blobs of the layer cache (linked, not copied)`);
        }
        const b = await o.build();
        if (b.exitCode !== 0)
            throw notSaved(`the save build failed: ${b.failure}`);
        const staged = await stageSave(save, o).catch((e) => {
            if (e instanceof entry/* DamagedBlob */.bk && (0,local/* dropDamagedLayerBlob */.jQ)(s.cacheDir, e.file, e.digest))
                throw notSaved(`${e.message}: the layer cache's file, linked into the save; the layer cache was retired, and the next build writes a new one`);
            throw e;
        });
        const c = await (0,local/* commitEntry */.uc)(s.cacheDir, session.key, staged, o.base, s.maxSizeGb * GB);
        saved = c.saved;
        if (c.evicted.length) {
            core/* info */.pq(`env cache: evicted ${c.evicted.length} least recently used entr${c.evicted.length === 1 ? 'y' : 'ies'}: ${c.evicted.join(' ')}`);
            if (save.engineName)
                for (const k of c.evicted)
                    await (0,env_cache_engine/* removeEngineImage */.au)((0,env_cache_engine/* engineName */.OC)(k));
        }
        return c.raced ? raced(c.reason) : { saved: c.saved, sizeBytes: c.sizeBytes };
    }
    finally {
        external_node_fs_.rmSync(save.dir, { recursive: true, force: true });
        release();
        (0,local/* cleanStale */.n_)(s.cacheDir);
        // no Engine image without its entry: the next run would trust nothing about it
        if (!saved && save.engineName)
            await (0,env_cache_engine/* removeEngineImage */.au)(save.engineName);
    }
}
async function saveGha(session, save, o) {
    external_node_fs_.rmSync(save.dir, { recursive: true, force: true });
    external_node_fs_.mkdirSync(save.dir, { recursive: true });
    const b = await o.build();
    if (b.exitCode !== 0)
        throw notSaved(`the save build failed: ${b.failure}`);
    const staged = await stageSave(save, o);
    return ghaSave(session.key, staged, (0,entry/* makeRecord */.Uo)(session.key, staged, o.base));
}
async function saveRegistry(s, session, o) {
    const image = (0,registry/* registryImage */.$E)(s.cacheRef, session.key);
    const b = await o.build();
    if (b.exitCode !== 0)
        throw notSaved(`the push of ${image} failed: ${b.failure}`);
    const r = await (0,registry/* registryProbe */.kr)(image);
    return { saved: r.exists, sizeBytes: r.sizeBytes, warning: r.exists ? undefined : r.warning ?? `env cache: ${image} is not in the registry after its push` };
}
/** Saves the env on a miss: runs the save build, then keeps what it wrote. A cache problem is a warning, never an exception. */
async function saveEnvCache(s, session, o) {
    const t0 = Date.now();
    const save = session.save;
    if (session.hit || !save)
        return { saved: false, seconds: 0, sizeBytes: session.sizeBytes };
    try {
        const r = s.backend === 'local' ? await saveLocal(s, session, save, o) : s.backend === 'gha' ? await saveGha(session, save, o) : await saveRegistry(s, session, o);
        return { ...r, seconds: seconds(t0) };
    }
    catch (e) {
        if (s.backend === 'local' && !o.signal?.aborted && noSpace(e)) {
            const free = (0,local/* freeBytes */.go)(s.cacheDir);
            return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: not saved: no space left in the cache dir ${s.cacheDir}${free === null ? '' : ` (${(free / 1024 ** 2).toFixed(1)} MiB free)`}; the build is not affected, and nothing of the save was kept` };
        }
        const why = o.signal?.aborted ? 'it was stopped' : e.message;
        return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: not saved (the build is not affected): ${why}` };
    }
}
/** A full disk: a write of this process (ENOSPC, EDQUOT), or the save build saying so (BuildKit or buildx wrote the layout). */
function noSpace(e) {
    const code = e.code;
    return code === 'ENOSPC' || code === 'EDQUOT' || /no space left on device|disk quota exceeded/i.test(e.message ?? '');
}
/**
 * The layer caches of the `local` backend that the build was given: `used` are its --cache-to
 * values (a builder that exports no layer cache, the docker driver on the classic store, was given
 * none, and a user's own cache-to is none of this cache's business). Their destination dirs.
 */
function localLayerDests(s, session, used) {
    if (s.backend !== 'local')
        return [];
    return session.layerCacheTo.filter((t) => used.includes(t) && t.startsWith('type=local')).flatMap((t) => /(?:^|,)dest=([^,]+)/.exec(t)?.[1] ?? []);
}
/** Before the main build: the new `local` layer cache starts with links to the current one's blobs, which BuildKit then does not write again. */
function prepareLayerCache(s, session, used) {
    for (const dest of localLayerDests(s, session, used)) {
        try {
            const linked = (0,local/* seedLayout */.Y2)(dest, [(0,local/* currentLayers */.yk)(s.cacheDir)]);
            if (linked)
                core/* info */.pq(`env cache: the new layer cache starts with ${linked} blobs of the current one (linked, not copied)`);
        }
        catch (e) {
            core/* info */.pq(`env cache: the new layer cache starts empty (${e.message})`);
        }
    }
}
/** After the main build: for `local`, swaps the freshly written layer cache in place of the old one. */
async function finishLayerCache(s, session, used) {
    for (const dest of localLayerDests(s, session, used)) {
        try {
            if ((0,local/* finishLocalLayers */.b0)(s.cacheDir, dest) === 'not-written' && !external_node_fs_.existsSync(external_node_path_.join((0,local/* currentLayers */.yk)(s.cacheDir), 'index.json'))) {
                // ignore-error=true let the build pass without it; say so, or the next build's misses go unexplained
                const free = (0,local/* freeBytes */.go)(s.cacheDir);
                core/* warning */.$e(`env cache: BuildKit wrote no layer cache to ${external_node_path_.join(s.cacheDir, 'layers')}${free === null ? '' : ` (${(free / 1024 ** 2).toFixed(1)} MiB free there)`}; the build is not affected, the next one starts without it`);
            }
        }
        catch (e) {
            core/* warning */.$e(`env cache: could not swap in the new layer cache: ${e.message}`);
        }
    }
}


/***/ })

};

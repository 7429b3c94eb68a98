export const id = 977;
export const ids = [977];
export const modules = {

/***/ 1977:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  computeEnvCacheKey: () => (/* reexport */ env_cache_key/* computeEnvCacheKey */.Ow),
  condaEnvStage: () => (/* reexport */ env_cache_key/* condaEnvStage */.Lu),
  finishLayerCache: () => (/* binding */ finishLayerCache),
  keyMaterial: () => (/* reexport */ env_cache_key/* keyMaterial */.vN),
  normaliseEnvFile: () => (/* reexport */ env_cache_key/* normaliseEnvFile */.EA),
  restoreEnvCache: () => (/* binding */ restoreEnvCache),
  saveEnvCache: () => (/* binding */ saveEnvCache)
});

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./node_modules/@actions/core/lib/core.js + 7 modules
var core = __webpack_require__(3838);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __webpack_require__(8161);
// EXTERNAL MODULE: ./node_modules/@actions/cache/lib/cache.js + 340 modules
var cache = __webpack_require__(1691);
;// CONCATENATED MODULE: ./src/env-cache/gha.ts




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
    return `env cache: the packed environment is ${gb} GB, near GitHub's 10 GB cache limit per repository; it will evict other caches or fail to save (consider cache-backend: local or registry)`;
}
/**
 * Exact-key restore only: an entry of another key is another environment and must not be fed to the
 * build. With lookupOnly (a dry run) the cache service is asked whether the entry exists; nothing is
 * downloaded.
 */
async function ghaRestore(key, lookupOnly = false) {
    const dir = ghaCachePath(key);
    try {
        if (lookupOnly) {
            const matched = await cache/* restoreCache */.P3([dir], key, [], { lookupOnly: true }, false);
            return matched === key ? { hit: true, matchedKey: key, sizeBytes: null, contextDir: dir } : { hit: false, matchedKey: '', sizeBytes: null, contextDir: null };
        }
        external_node_fs_.mkdirSync(dir, { recursive: true });
        const matched = await cache/* restoreCache */.P3([dir], key, [], {}, false);
        const tar = external_node_path_.join(dir, 'env.tar');
        if (matched === key && external_node_fs_.existsSync(tar)) {
            return { hit: true, matchedKey: matched, sizeBytes: external_node_fs_.statSync(tar).size, contextDir: dir };
        }
        return { hit: false, matchedKey: '', sizeBytes: null, contextDir: null };
    }
    catch (e) {
        return { hit: false, matchedKey: '', sizeBytes: null, contextDir: null, warning: `env cache: restore from the GitHub cache failed, building the environment instead: ${message(e)}` };
    }
}
/** Saves EXPORTDIR (env.tar + environment.lock) under KEY; any cache error becomes a warning. */
async function ghaSave(key, exportDir) {
    const tar = external_node_path_.join(exportDir, 'env.tar');
    if (!external_node_fs_.existsSync(tar))
        return { saved: false, sizeBytes: null, warning: `env cache: nothing to save, no env.tar in ${exportDir}` };
    const size = external_node_fs_.statSync(tar).size;
    const warnings = [];
    const sw = sizeWarning(size);
    if (sw)
        warnings.push(sw);
    // The archive must be made from the same path string the restore uses.
    const dir = ghaCachePath(key);
    try {
        if (external_node_path_.resolve(dir) !== external_node_path_.resolve(exportDir)) {
            external_node_fs_.rmSync(dir, { recursive: true, force: true });
            external_node_fs_.mkdirSync(external_node_path_.dirname(dir), { recursive: true });
            try {
                external_node_fs_.renameSync(exportDir, dir);
            }
            catch {
                external_node_fs_.cpSync(exportDir, dir, { recursive: true });
            }
        }
        const id = await cache/* saveCache */.Io([dir], key, {}, false);
        if (id === -1) {
            warnings.push('env cache: the GitHub cache did not save the environment (see the warning above)');
            return { saved: false, sizeBytes: size, warning: warnings.join('\n') };
        }
        return { saved: true, sizeBytes: size, warning: warnings.length ? warnings.join('\n') : undefined };
    }
    catch (e) {
        warnings.push(`env cache: saving to the GitHub cache failed (the build is not affected): ${message(e)}`);
        return { saved: false, sizeBytes: size, warning: warnings.join('\n') };
    }
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
;// CONCATENATED MODULE: ./src/env-cache/local.ts




const ENTRY_FILE = 'entry.json';
const STALE_LOCK_MS = 6 * 3600 * 1000;
const STALE_TMP_MS = 24 * 3600 * 1000;
function rand() {
    return `${process.pid}.${(0,external_node_crypto_.randomBytes)(6).toString('hex')}`;
}
function entryDir(cacheDir, key) {
    return external_node_path_.join(cacheDir, 'entries', key);
}
function writeFileAtomic(file, data) {
    const tmp = `${file}.${rand()}.tmp`;
    external_node_fs_.writeFileSync(tmp, data);
    external_node_fs_.renameSync(tmp, file);
}
/** The entry's metadata when the entry is complete and consistent, else null. */
function readEntry(cacheDir, key) {
    const dir = entryDir(cacheDir, key);
    try {
        const meta = JSON.parse(external_node_fs_.readFileSync(external_node_path_.join(dir, ENTRY_FILE), 'utf8'));
        const st = external_node_fs_.statSync(external_node_path_.join(dir, 'env.tar'));
        if (meta.schema !== 1 || meta.key !== key || st.size !== meta.sizeBytes)
            return null;
        return meta;
    }
    catch {
        return null;
    }
}
/** Records a use of the entry (LRU order); best effort. */
function touchEntry(cacheDir, key, now = Date.now()) {
    const meta = readEntry(cacheDir, key);
    if (!meta)
        return;
    try {
        writeFileAtomic(external_node_path_.join(entryDir(cacheDir, key), ENTRY_FILE), JSON.stringify({ ...meta, lastUsed: now }));
    }
    catch {
        // evicted meanwhile: nothing to record
    }
}
/** Puts `src` at `dest` by hard link (same file system) or copy; the cache entry may be evicted afterwards. */
function linkOrCopy(src, dest) {
    external_node_fs_.rmSync(dest, { force: true });
    try {
        external_node_fs_.linkSync(src, dest);
    }
    catch {
        external_node_fs_.copyFileSync(src, dest);
    }
}
/**
 * On a hit, makes WORKDIR/env-cache/env.tar (hard link or copy, so a concurrent eviction cannot take it
 * away during the build) and records the use.
 */
function localRestore(cacheDir, key, workDir) {
    const meta = readEntry(cacheDir, key);
    if (!meta)
        return { hit: false, sizeBytes: null, contextDir: null };
    const ctx = external_node_path_.join(workDir, 'env-cache');
    external_node_fs_.mkdirSync(ctx, { recursive: true });
    try {
        linkOrCopy(external_node_path_.join(entryDir(cacheDir, key), 'env.tar'), external_node_path_.join(ctx, 'env.tar'));
    }
    catch {
        return { hit: false, sizeBytes: null, contextDir: null }; // evicted between the check and the link
    }
    if (external_node_fs_.statSync(external_node_path_.join(ctx, 'env.tar')).size !== meta.sizeBytes)
        return { hit: false, sizeBytes: null, contextDir: null };
    touchEntry(cacheDir, key);
    return { hit: true, sizeBytes: meta.sizeBytes, contextDir: ctx };
}
function pidAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (e) {
        return e.code === 'EPERM';
    }
}
/** Takes CACHE_DIR/locks/KEY.lock with O_EXCL; breaks a stale lock (dead holder on this host, or old). */
function acquireLock(cacheDir, key) {
    const dir = external_node_path_.join(cacheDir, 'locks');
    external_node_fs_.mkdirSync(dir, { recursive: true });
    const file = external_node_path_.join(dir, `${key}.lock`);
    for (let attempt = 0; attempt < 2; attempt++) {
        try {
            const fd = external_node_fs_.openSync(file, 'wx');
            external_node_fs_.writeSync(fd, JSON.stringify({ pid: process.pid, host: external_node_os_.hostname(), at: Date.now() }));
            external_node_fs_.closeSync(fd);
            return () => external_node_fs_.rmSync(file, { force: true });
        }
        catch (e) {
            if (e.code !== 'EEXIST')
                throw e;
            let stale;
            try {
                const info = JSON.parse(external_node_fs_.readFileSync(file, 'utf8'));
                stale = Date.now() - info.at > STALE_LOCK_MS || (info.host === external_node_os_.hostname() && !pidAlive(info.pid));
            }
            catch {
                // being written right now, or garbage: judge by age
                try {
                    stale = Date.now() - external_node_fs_.statSync(file).mtimeMs > STALE_LOCK_MS;
                }
                catch {
                    stale = true; // vanished: try again
                }
            }
            if (!stale)
                return null;
            // Break it by renaming it away first, so two breakers cannot both remove a fresh lock.
            try {
                external_node_fs_.renameSync(file, `${file}.stale.${rand()}`);
            }
            catch {
                // someone else broke it
            }
            for (const f of external_node_fs_.readdirSync(dir))
                if (f.startsWith(`${key}.lock.stale.`))
                    external_node_fs_.rmSync(external_node_path_.join(dir, f), { force: true });
        }
    }
    return null;
}
function moveOrCopy(src, dest) {
    try {
        external_node_fs_.renameSync(src, dest);
    }
    catch (e) {
        if (e.code !== 'EXDEV')
            throw e;
        external_node_fs_.copyFileSync(src, dest);
    }
}
/**
 * Saves EXPORTDIR/env.tar (+ environment.lock) as the entry KEY: written under tmp/ and renamed into
 * entries/ in one step. When another job holds the key's lock or the entry exists, nothing is written.
 */
function localSave(cacheDir, key, exportDir, capBytes) {
    const tar = external_node_path_.join(exportDir, 'env.tar');
    if (!external_node_fs_.existsSync(tar))
        return { saved: false, sizeBytes: null, reason: `no env.tar in ${exportDir} (the env-export stage did not run)`, evicted: [] };
    if (readEntry(cacheDir, key))
        return { saved: false, sizeBytes: readEntry(cacheDir, key)?.sizeBytes ?? null, reason: 'the entry already exists', evicted: [] };
    for (const d of ['entries', 'tmp', 'trash'])
        external_node_fs_.mkdirSync(external_node_path_.join(cacheDir, d), { recursive: true });
    const release = acquireLock(cacheDir, key);
    if (!release)
        return { saved: false, sizeBytes: null, reason: 'another job is saving this key now', evicted: [] };
    const tmp = external_node_path_.join(cacheDir, 'tmp', `${key}.${rand()}`);
    try {
        if (readEntry(cacheDir, key))
            return { saved: false, sizeBytes: readEntry(cacheDir, key)?.sizeBytes ?? null, reason: 'the entry already exists', evicted: [] };
        external_node_fs_.mkdirSync(tmp);
        moveOrCopy(tar, external_node_path_.join(tmp, 'env.tar'));
        const lock = external_node_path_.join(exportDir, 'environment.lock');
        if (external_node_fs_.existsSync(lock))
            external_node_fs_.copyFileSync(lock, external_node_path_.join(tmp, 'environment.lock'));
        const size = external_node_fs_.statSync(external_node_path_.join(tmp, 'env.tar')).size;
        const now = Date.now();
        const meta = { schema: 1, key, sizeBytes: size, createdAt: now, lastUsed: now };
        external_node_fs_.writeFileSync(external_node_path_.join(tmp, ENTRY_FILE), JSON.stringify(meta));
        const fd = external_node_fs_.openSync(external_node_path_.join(tmp, 'env.tar'), 'r');
        external_node_fs_.fsyncSync(fd);
        external_node_fs_.closeSync(fd);
        const dest = entryDir(cacheDir, key);
        // A leftover incomplete directory (none is ever made by this code) would block the rename.
        if (external_node_fs_.existsSync(dest) && !readEntry(cacheDir, key))
            removeDir(cacheDir, dest);
        try {
            external_node_fs_.renameSync(tmp, dest);
        }
        catch (e) {
            const code = e.code;
            if (code === 'ENOTEMPTY' || code === 'EEXIST') {
                return { saved: false, sizeBytes: size, reason: 'another job saved this key first', evicted: [] };
            }
            throw e;
        }
        const evicted = evictLru(cacheDir, capBytes, key);
        return { saved: true, sizeBytes: size, evicted };
    }
    finally {
        external_node_fs_.rmSync(tmp, { recursive: true, force: true });
        release();
        cleanStale(cacheDir);
    }
}
/** Removes a directory by renaming it into trash/ first, so it vanishes from entries/ in one step. */
function removeDir(cacheDir, dir) {
    const trash = external_node_path_.join(cacheDir, 'trash', `${external_node_path_.basename(dir)}.${rand()}`);
    try {
        external_node_fs_.mkdirSync(external_node_path_.dirname(trash), { recursive: true });
        external_node_fs_.renameSync(dir, trash);
    }
    catch {
        return false; // someone else removed it
    }
    external_node_fs_.rmSync(trash, { recursive: true, force: true });
    return true;
}
/** The complete entries. */
function listEntries(cacheDir) {
    let names;
    try {
        names = external_node_fs_.readdirSync(external_node_path_.join(cacheDir, 'entries'));
    }
    catch {
        return [];
    }
    const out = [];
    for (const n of names) {
        const m = readEntry(cacheDir, n);
        if (m)
            out.push(m);
    }
    return out;
}
/**
 * Least-recently-used eviction: while the complete entries exceed CAP bytes, removes the one used
 * longest ago (never `keep`, the entry just saved or restored). Returns the evicted keys.
 */
function evictLru(cacheDir, capBytes, keep) {
    const entries = listEntries(cacheDir).sort((a, b) => a.lastUsed - b.lastUsed);
    let total = entries.reduce((n, e) => n + e.sizeBytes, 0);
    const evicted = [];
    for (const e of entries) {
        if (total <= capBytes)
            break;
        if (e.key === keep)
            continue;
        if (removeDir(cacheDir, entryDir(cacheDir, e.key)))
            evicted.push(e.key);
        total -= e.sizeBytes;
    }
    return evicted;
}
/** Removes what crashed jobs left in tmp/ and trash/ long ago. */
function cleanStale(cacheDir, now = Date.now()) {
    for (const d of ['tmp', 'trash']) {
        let names;
        try {
            names = external_node_fs_.readdirSync(external_node_path_.join(cacheDir, d));
        }
        catch {
            continue;
        }
        for (const n of names) {
            const p = external_node_path_.join(cacheDir, d, n);
            try {
                if (now - external_node_fs_.statSync(p).mtimeMs > STALE_TMP_MS)
                    external_node_fs_.rmSync(p, { recursive: true, force: true });
            }
            catch {
                // gone
            }
        }
    }
}
/** buildx layer-cache defaults: read `current`, write a new directory that finishLocalLayers swaps in. */
function localLayerCache(cacheDir) {
    const layers = external_node_path_.join(cacheDir, 'layers');
    const current = external_node_path_.join(layers, 'current');
    const newDir = external_node_path_.join(layers, `new-${rand()}`);
    const from = external_node_fs_.existsSync(external_node_path_.join(current, 'index.json')) ? [`type=local,src=${current}`] : [];
    return { from, to: [`type=local,dest=${newDir},mode=max`], newDir };
}
/** How long a replaced layer cache is kept: a build that started on it may still read its blobs. */
const RETIRED_LAYERS_MS = 3 * 3600 * 1000;
/**
 * Swaps NEWDIR in as layers/current (when the build wrote it). The replaced directory is retired,
 * not deleted, because a concurrent job's build may still be reading it; retired directories older
 * than RETIRED_LAYERS_MS are removed here.
 */
function finishLocalLayers(cacheDir, newDir, now = Date.now()) {
    const layers = external_node_path_.join(cacheDir, 'layers');
    for (const n of external_node_fs_.existsSync(layers) ? external_node_fs_.readdirSync(layers) : []) {
        const m = /^retired-(\d+)-/.exec(n);
        if (m && now - Number(m[1]) > RETIRED_LAYERS_MS)
            removeDir(cacheDir, external_node_path_.join(layers, n));
    }
    if (!external_node_fs_.existsSync(external_node_path_.join(newDir, 'index.json'))) {
        external_node_fs_.rmSync(newDir, { recursive: true, force: true });
        return false;
    }
    const current = external_node_path_.join(layers, 'current');
    try {
        external_node_fs_.renameSync(current, external_node_path_.join(layers, `retired-${now}-${rand()}`));
    }
    catch {
        // no current yet, or another job moved it
    }
    try {
        external_node_fs_.renameSync(newDir, current);
        return true;
    }
    catch {
        external_node_fs_.rmSync(newDir, { recursive: true, force: true }); // another job swapped its own in first: keep theirs
        return false;
    }
}

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

// EXTERNAL MODULE: ./src/env-cache/key.ts
var env_cache_key = __webpack_require__(4247);
// EXTERNAL MODULE: ./src/exec.ts
var exec = __webpack_require__(3190);
;// CONCATENATED MODULE: ./src/env-cache/registry.ts


/** The image that holds one environment: CACHE_REF:<tag derived from the key>; its only content is /env.tar (+ /environment.lock). */
function registryImage(cacheRef, key) {
    return `${cacheRef}:${(0,env_cache_key/* registryTag */.Y8)(key)}`;
}
/** buildx output that packs the env-export stage into that image and pushes it: OCI with zstd layers
 *  (faster to unpack than gzip) where the builder honours that; without ociZstd, for a builder that
 *  would ignore it (the docker driver with the classic image store pushes Docker media types, gzip). */
function registryOutput(image, ociZstd = true) {
    return `type=image,name=${image},push=true${ociZstd ? ',oci-mediatypes=true,compression=zstd' : ''}`;
}
async function rawManifest(ref) {
    const r = await (0,exec/* run */.e)('docker', ['buildx', 'imagetools', 'inspect', '--raw', ref], { quiet: true });
    if (r.exitCode !== 0)
        return { code: r.exitCode, manifest: null, stderr: r.stderr.trim() };
    try {
        return { code: 0, manifest: JSON.parse(r.stdout), stderr: '' };
    }
    catch {
        return { code: 0, manifest: null, stderr: '' };
    }
}
/** Whether the image exists (`docker buildx imagetools inspect`), and the size of its layers. */
async function registryProbe(image) {
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

;// CONCATENATED MODULE: ./src/env-cache/index.ts
/**
 * The cached conda environment: restore (or, in a dry run, look up) before the build, save after it.
 * src/pipeline.ts calls what this file exports; src/env-cache/action.ts holds the glue to the inputs.
 */









const GB = 1024 ** 3;
function seconds(startMs) {
    return Math.round((Date.now() - startMs) / 10) / 100;
}
function layerDefaults(s) {
    switch (s.backend) {
        case 'local': {
            const l = localLayerCache(s.cacheDir);
            return { from: l.from, to: l.to };
        }
        case 'registry': {
            const ref = `${s.cacheRef}:${(0,env_cache_key/* registryTag */.Y8)(`${s.keyPrefix}-buildcache`)}`;
            return { from: [`type=registry,ref=${ref}`], to: [`type=registry,ref=${ref},mode=max,ignore-error=true`] };
        }
        default:
            // gha: the env layers alone would fill GitHub's 10 GB; the env cache already covers the slow part.
            return { from: [], to: [] };
    }
}
/** Looks the key up in the backend: the entry's build context on a hit, or null and a warning. */
async function lookUp(s, key, workDir, lookupOnly) {
    const miss = { context: null, matchedKey: '', sizeBytes: null };
    if (s.backend === 'local') {
        if (lookupOnly) {
            const meta = readEntry(s.cacheDir, key);
            return meta ? { context: external_node_path_.join(workDir, 'env-cache'), matchedKey: key, sizeBytes: meta.sizeBytes } : miss;
        }
        const r = localRestore(s.cacheDir, key, workDir);
        return r.hit && r.contextDir ? { context: r.contextDir, matchedKey: key, sizeBytes: r.sizeBytes } : miss;
    }
    if (s.backend === 'gha') {
        const r = await ghaRestore(key, lookupOnly);
        return r.hit ? { context: r.contextDir ?? ghaCachePath(key), matchedKey: r.matchedKey, sizeBytes: r.sizeBytes, warning: r.warning } : { ...miss, warning: r.warning };
    }
    if (s.backend === 'registry') {
        const image = registryImage(s.cacheRef, key);
        const r = await registryProbe(image);
        return r.exists ? { context: `docker-image://${image}`, matchedKey: key, sizeBytes: r.sizeBytes, warning: r.warning } : { ...miss, warning: r.warning };
    }
    return miss;
}
/**
 * Looks the key up in the backend. On a hit, buildContexts feed the packed env to the build
 * (`env-cache=DIR` or `env-cache=docker-image://REF`); on a miss, the Miniforge installer from the
 * tool cache (`miniforge=DIR`) when available. The session also names the env builds to run
 * (exports). Never throws for a cache problem: it becomes a warning.
 */
async function restoreEnvCache(s, key, workDir, opts = {}) {
    const t0 = Date.now();
    const lookupOnly = opts.lookupOnly ?? false;
    external_node_fs_.mkdirSync(workDir, { recursive: true });
    const warnings = [];
    const contexts = [];
    let found = { context: null, matchedKey: '', sizeBytes: null };
    try {
        found = await lookUp(s, key, workDir, lookupOnly);
        if (found.warning)
            warnings.push(found.warning);
    }
    catch (e) {
        warnings.push(`env cache: restore failed, building the environment instead: ${e.message}`);
    }
    const hit = found.context !== null;
    if (opts.namedContexts !== false) {
        if (hit) {
            contexts.push('--build-context', `env-cache=${found.context}`);
            // The env comes from the cache: an empty miniforge context keeps the Dockerfile's default
            // miniforge stage (which may download the installer) from running at all.
            const empty = external_node_path_.join(workDir, 'miniforge-unused');
            external_node_fs_.mkdirSync(empty, { recursive: true });
            contexts.push('--build-context', `miniforge=${empty}`);
        }
        else {
            const arch = installerArch(s.platform);
            if (arch) {
                const mf = await prepareMiniforge(s.miniforgeVersion, arch, lookupOnly);
                core/* info */.pq(mf.note);
                if (mf.dir)
                    contexts.push('--build-context', `miniforge=${mf.dir}`);
            }
        }
    }
    let layers = { from: [], to: [] };
    try {
        layers = layerDefaults(s);
    }
    catch (e) {
        warnings.push(`env cache: no default layer cache: ${e.message}`);
    }
    core/* info */.pq(`env cache (${s.backend}): ${hit ? 'hit' : 'miss'} for ${key}${lookupOnly ? ' (looked up only)' : ''}`);
    const exportDir = external_node_path_.join(workDir, 'env-export');
    const lockPath = external_node_path_.join(workDir, 'env-lock', 'environment.lock');
    return {
        key,
        platform: s.platform,
        hit,
        matchedKey: found.matchedKey,
        buildContexts: contexts,
        layerCacheFrom: layers.from,
        layerCacheTo: layers.to,
        restoreSeconds: seconds(t0),
        sizeBytes: found.sizeBytes,
        warnings,
        exports: envExports(s, key, hit, exportDir, lockPath, opts.imageOutputOptions !== false),
        exportDir,
        lockPath,
        lookupOnly,
    };
}
/**
 * The env builds to run after restore, each as `--target T --output O`: on a miss with a backend,
 * `env-export` (written to exportDir, or pushed as the cache image); always `env-lock` (its
 * environment.lock lands at lockPath).
 */
function envExports(s, key, hit, exportDir, lockPath, imageOutputOptions) {
    const out = [];
    if (!hit) {
        if (s.backend === 'local' || s.backend === 'gha')
            out.push({ target: 'env-export', output: `type=local,dest=${exportDir}` });
        else if (s.backend === 'registry')
            out.push({ target: 'env-export', output: registryOutput(registryImage(s.cacheRef, key), imageOutputOptions) });
    }
    out.push({ target: 'env-lock', output: `type=local,dest=${external_node_path_.dirname(lockPath)}` });
    return out;
}
/** Saves the exported env on a miss. A cache problem is a warning, never an exception. */
async function saveEnvCache(s, session, exportDir) {
    const t0 = Date.now();
    if (session.hit || s.backend === 'none')
        return { saved: false, seconds: 0, sizeBytes: session.sizeBytes };
    try {
        if (s.backend === 'local') {
            const r = localSave(s.cacheDir, session.key, exportDir, s.maxSizeGb * GB);
            if (r.evicted.length)
                core/* info */.pq(`env cache: evicted ${r.evicted.length} least recently used entr${r.evicted.length === 1 ? 'y' : 'ies'}: ${r.evicted.join(' ')}`);
            return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, warning: r.saved ? undefined : r.reason ? `env cache: not saved: ${r.reason}` : undefined };
        }
        if (s.backend === 'gha') {
            const r = await ghaSave(session.key, exportDir);
            return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, warning: r.warning };
        }
        // registry: the env-export build pushed it; confirm it is there.
        const r = await registryProbe(registryImage(s.cacheRef, session.key));
        return {
            saved: r.exists,
            seconds: seconds(t0),
            sizeBytes: r.sizeBytes,
            warning: r.exists ? undefined : r.warning ?? `env cache: ${registryImage(s.cacheRef, session.key)} is not in the registry after the env-export push`,
        };
    }
    catch (e) {
        return { saved: false, seconds: seconds(t0), sizeBytes: null, warning: `env cache: saving failed (the build is not affected): ${e.message}` };
    }
}
/** After the main build: for `local`, swaps the freshly written layer cache in place of the old one. */
async function finishLayerCache(s, session) {
    if (s.backend !== 'local')
        return;
    for (const to of session.layerCacheTo) {
        const dest = /(?:^|,)dest=([^,]+)/.exec(to)?.[1];
        if (dest && to.startsWith('type=local')) {
            try {
                finishLocalLayers(s.cacheDir, dest);
            }
            catch (e) {
                core/* warning */.$e(`env cache: could not swap in the new layer cache: ${e.message}`);
            }
        }
    }
}


/***/ })

};

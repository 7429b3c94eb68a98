export const id = 654;
export const ids = [654];
export const modules = {

/***/ 5654:
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

// EXTERNAL MODULE: ./src/env-cache/local.ts
var local = __webpack_require__(1967);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
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
// EXTERNAL MODULE: ./src/exec.ts + 1 modules
var exec = __webpack_require__(4981);
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
    const r = await (0,exec/* run */.eF)('docker', ['buildx', 'imagetools', 'inspect', '--raw', ref], { quiet: true });
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
            const l = (0,local/* localLayerCache */.vJ)(s.cacheDir);
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
        const damaged = (problem, done) => `env cache: the entry ${key} in ${s.cacheDir} is damaged (${problem}); ${done}`;
        if (lookupOnly) {
            const e = (0,local/* inspectEntry */.pg)(s.cacheDir, key);
            if (e.state === 'damaged')
                return { ...miss, warning: damaged(e.problem, 'a real run removes it and builds the environment') };
            return e.state === 'whole' ? { context: external_node_path_.join(workDir, 'env-cache'), matchedKey: key, sizeBytes: e.meta.sizeBytes } : miss;
        }
        const r = await (0,local/* localRestore */.U)(s.cacheDir, key, workDir);
        if (r.damaged)
            return { ...miss, warning: damaged(r.damaged, 'it was removed, and the environment is built instead') };
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
            const r = await (0,local/* localSave */.$h)(s.cacheDir, session.key, exportDir, s.maxSizeGb * GB);
            if (r.evicted.length)
                core/* info */.pq(`env cache: evicted ${r.evicted.length} least recently used entr${r.evicted.length === 1 ? 'y' : 'ies'}: ${r.evicted.join(' ')}`);
            const why = !r.saved && r.reason ? `env cache: not saved: ${r.reason}` : undefined;
            return { saved: r.saved, seconds: seconds(t0), sizeBytes: r.sizeBytes, ...(r.raced ? { note: why } : { warning: why }) };
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
                if (!(0,local/* finishLocalLayers */.b0)(s.cacheDir, dest) && !external_node_fs_.existsSync(external_node_path_.join(s.cacheDir, 'layers', 'current', 'index.json'))) {
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
}


/***/ })

};

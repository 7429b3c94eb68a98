// Pure: inputs, the recipe, the runner's facts and what the builder can do -> every command the
// action runs. How the plan adapts to the builder is decided in preflight (adaptToBuilder), before
// the env cache is touched; the plan is built once, after the env cache lookup, and the env lock's
// label is added after the env-lock build (withLockLabel). A dry run prints it; unit tests assert on it.
import * as path from 'node:path';
import type { Gpu } from './arch.js';
import { annotationArgs, asksFor, attestArgs, wantsIndex, type Annotation } from './attest.js';
import { compareVersions, describeBuilder, NAMED_CONTEXTS_BUILDKIT, type BuilderFacts, type Capabilities, type PublishWay } from './builder.js';
import type { Dockerfile } from './dockerfile.js';
import { BASE_DIGEST, BASE_NAME } from './env-cache/registry.js';
import type { EnvCacheSession } from './env-cache/types.js';
import { notAccepted } from './errors.js';
import type { Inputs } from './inputs.js';
import { csvField } from './lists.js';
import type { Finding, Preflight } from './preflight.js';
import type { Recipe } from './recipe.js';
import { repositoriesOf, type Repository } from './registry.js';

export const LOCK_LABEL = 'org.pointcept.env.lock.sha256';
export const SMOKE_SCRIPT = '/opt/pointcept/smoke_tests.py';

/** How the plan adapts to the builder. */
export interface Adaptation {
  namedContexts: boolean;    // --build-context may be used
  layerCacheExport: boolean; // the env cache's default --cache-to may be used
  publish: PublishWay;       // how a tested image reaches the registry (builder.ts)
  attach: boolean;           // the image this run makes can carry attestations and annotations
  uncompressedLoad: boolean; // a load may ask for uncompressed layers (the builder honours compression)
  findings: Finding[];       // errors: the inputs ask for what the builder cannot do
}

interface ContextNeed { why: string; optOut: string }

/** Why the build needs the env-spec build context: the Dockerfile's own env-spec stage copies the
 *  context's environment.yml, which serves unless the env file is another one or there is a lock. */
function envSpecNeeds(i: Pick<Inputs, 'context' | 'environment-file' | 'lock-file'>): ContextNeed[] {
  const out: ContextNeed[] = [];
  if (path.resolve(i['environment-file']) !== path.join(i.context, 'environment.yml')) {
    out.push({ why: `environment-file: ${path.relative(i.context, i['environment-file'])}`, optOut: 'keep the env file at environment.yml in the context' });
  }
  if (i['lock-file']) out.push({ why: 'lock-file', optOut: 'leave lock-file empty' });
  return out;
}

/** Why this run needs named build contexts, each with the input change that avoids it. */
export function namedContextNeeds(i: Pick<Inputs, 'context' | 'environment-file' | 'lock-file' | 'cache-backend'>): ContextNeed[] {
  return [...(i['cache-backend'] !== 'none' ? [{ why: `cache-backend: ${i['cache-backend']}`, optOut: 'set cache-backend: none' }] : []), ...envSpecNeeds(i)];
}

/** What the inputs and the Dockerfile ask of the builder that it cannot do (pure; run in preflight). */
export function adaptToBuilder(i: Inputs, d: Pick<Dockerfile, 'path' | 'syntax'>, b: BuilderFacts, caps: Capabilities): Adaptation {
  const findings: Finding[] = [];
  const who = describeBuilder(b);
  for (const x of d.syntax.filter((n) => b.buildkit !== null && compareVersions(b.buildkit, n.buildkit) < 0)) {
    findings.push({ level: 'error', check: 'builder', message: `${path.basename(d.path)} uses ${x.feature} (Dockerfile syntax ${x.syntax}), which the Dockerfile frontend built into ${who} cannot parse; upgrade Docker Engine to 25.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or make "# syntax=docker/dockerfile:${x.syntax}" the Dockerfile's first line` });
  }
  const needs = namedContextNeeds(i);
  if (!caps.namedContexts && needs.length) {
    findings.push({ level: 'error', check: 'builder', message: `${who} cannot take named build contexts (BuildKit ${NAMED_CONTEXTS_BUILDKIT} or newer can), which ${needs.map((n) => n.why).join(' and ')} ${needs.length > 1 ? 'need' : 'needs'}; upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or ${needs.map((n) => n.optOut).join(' and ')}` });
  } else if (!caps.namedContexts) {
    findings.push({ level: 'ok', check: 'builder', message: `${who} takes no named build contexts; the build uses the Dockerfile's own env-spec and miniforge stages` });
  }
  if (!caps.namedContexts && i['build-contexts'].length) {
    findings.push({ level: 'error', check: 'builder', message: notAccepted('build-contexts', i['build-contexts'].map((c) => c.name).join(', '), `${who} cannot take named build contexts (BuildKit ${NAMED_CONTEXTS_BUILDKIT} or newer can); upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one)`) });
  }
  if (!caps.cacheExport) {
    for (const c of i['cache-to'].filter((e) => !/(^|,)type=inline(,|$)/.test(e))) {
      findings.push({ level: 'error', check: 'cache-to', message: notAccepted('cache-to', c, `${who} can only export type=inline; turn on the containerd image store, or use a docker-container builder (docker/setup-buildx-action)`) });
    }
  }
  const attach = canAttach(i, caps);
  const asked = attachmentsAsked(i);
  if (asked.length && !attach) findings.push({ level: 'error', check: 'attestations', message: cannotAttach(i, b, asked) });
  if (['local', 'gha'].includes(i['cache-backend']) && caps.namedContexts && caps.envCacheStore === 'none') {
    findings.push({ level: 'error', check: 'builder', message: `${who} cannot take the env cache as an OCI layout (BuildKit 0.11 or newer can), which cache-backend: ${i['cache-backend']} needs; upgrade the builder's BuildKit, or set cache-backend: registry or none` });
  }
  return { namedContexts: caps.namedContexts, layerCacheExport: caps.cacheExport, publish: caps.publish, attach, uncompressedLoad: caps.imageOutputOptions, findings };
}

/** Can the image this run exports carry attestations and annotations? */
function canAttach(i: Pick<Inputs, 'push' | 'load'>, caps: Capabilities): boolean {
  if (i.push && i.load) return caps.publish !== 'loaded-image';
  if (i.push) return caps.attestations;      // buildx pushes the tags itself
  if (i.load) return caps.loadKeepsIndex;    // the loaded image is all there is
  return true;                               // nothing is exported: nothing to lose
}

/** The inputs that ask for attestations or annotations ("provenance: mode=max"); false and empty ask nothing. */
export function attachmentsAsked(i: Pick<Inputs, 'provenance' | 'sbom' | 'annotations'>): string[] {
  return [
    ...(asksFor(i.provenance) ? ['provenance'] : []),
    ...(asksFor(i.sbom) ? ['sbom'] : []),
    ...(i.annotations.length ? ['annotations'] : []),
  ];
}

const STORE_FIX = 'turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json), or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one)';

/** The preflight error when attestations or annotations were asked for and cannot travel. */
function cannotAttach(i: Pick<Inputs, 'push' | 'load'>, b: BuilderFacts, asked: string[]): string {
  const what = `${asked.join(' and ')} ${asked.length > 1 ? 'were' : 'was'} set, but`;
  const leave = `or leave ${asked.join(', ')} empty`;
  if (i.push && b.driver === 'docker') return `${what} ${describeBuilder(b)} loads one image into the classic image store and pushes it with docker push, which carries no attestations or annotations; ${STORE_FIX}, ${leave}`;
  if (i.push) return `${what} ${describeBuilder(b)} cannot attach attestations or annotations; name a builder with BuildKit 0.11 or newer in the input "builder", ${leave}`;
  return `${what} with push: false the image is only loaded into the Engine's classic image store, which keeps no attestations or annotations; set push: true to publish them with the tested image, or turn on the containerd image store, ${leave}`;
}

/**
 * The ONE notice for a builder that keeps the Engine's classic image store (the docker driver): what
 * this run leaves out because of it, and the one fix for all of it.
 */
export function classicStoreNotice(b: BuilderFacts, leftOut: { layerCache: boolean; attestations: boolean }): string {
  const parts = [
    ...(leftOut.layerCache ? ["cannot export a layer cache, so the build runs without --cache-to and reuses only the Engine's own build cache (the env cache works as usual)"] : []),
    ...(leftOut.attestations ? ['pushes the tested image with docker push, which carries no provenance, SBOM or annotations (and compresses every layer again)'] : []),
  ];
  const keep = [...(leftOut.layerCache ? ['the layer cache'] : []), ...(leftOut.attestations ? ['attested images'] : [])].join(' and ');
  return `${describeBuilder(b)} ${parts.join(', and ')}; for ${keep}, ${STORE_FIX} (see "Runner setups" and "Publishing" in the README)`;
}

export interface Plan {
  context: string;
  dockerfile: string;
  environmentFile: string;
  baseImage: string;
  envName: string;
  miniforgeVersion: string;
  torchCudaArchList: string;
  maxJobs: number;
  gpu: boolean;                       // the smoke run uses the GPU (--gpus all)
  smoke: boolean;
  push: boolean;
  load: boolean;
  tags: string[];
  labels: string[];
  publish: PublishPlan | null;        // null: push: false
  envSpecDir: string | null;          // null: the Dockerfile's own env-spec stage reads environment.yml from the context
  buildArgs: Record<string, string>;
  secretEnv: Record<string, string>;  // env vars that carry --secret values to buildx (never printed)
  envBuilds: { target: string; argv: string[]; metadataFile: string }[]; // the builds before the main one: env-lock (it tells the base image's digest)
  envSave: { argv: string[] } | null; // the env cache's save build on a miss (--target conda-env), run beside the smoke run
  buildArgv: string[];                // docker argv of the main build
  reuseCheck: ReuseCheck | null;      // a build before a load that may find the image in the Engine already
  cacheTo: string[];                  // the main build's --cache-to values (the user's, else the env cache's defaults the builder can export)
  metadataFile: string;
  iidFile: string;
  buildLog: string;
  smokeContainer: string;
  reportDir: string;
  smokeArgv: string[];                // docker argv of the smoke run ('<image-id>' until the build is done)
  notices: string[];                  // said once, as ::notice::
  notes: string[];                    // how inputs were resolved (printed with the plan)
}

/**
 * The main build run first without its load, where a load sends the whole image from the builder's
 * own BuildKit into the runner's Engine: a builder other than the docker driver, the classic image
 * store (which keeps no attestations), no no-cache. It is the same build and layer-cache export,
 * the image kept in BuildKit. Its config digest is the image id the classic store would give it:
 * when the Engine already has that image (nothing that reaches the image changed), the load is
 * skipped and the image tagged; else the main build loads it, every step cached. It costs a changed
 * build one more cached solve and saves an unchanged one the transfer of the whole env (src/load.ts).
 */
export interface ReuseCheck { argv: string[]; metadataFile: string }

/** How the tested image is published (push: true). */
export interface PublishPlan {
  /** builder.ts's way for a loaded image; buildx-push: load false, buildx pushes the tags itself (no smoke run). */
  way: PublishWay | 'buildx-push';
  repositories: Repository[];
  platform: string;                   // the platform whose manifest the smoke run tests
  builder: string;                    // for imagetools ('' = the current one)
  attests: string[];                  // the --attest values of the build
  annotations: Annotation[];          // the --annotation values of the build
}

/** Will the smoke run use the GPU (--gpus all)? */
export function usesGpu(i: Pick<Inputs, 'gpu'>, gpus: Gpu[]): boolean {
  return i.gpu === 'true' || (i.gpu === 'auto' && gpus.length > 0);
}

/** max-jobs auto: one compile job per CPU, at most one per 4 GiB of memory (nvcc needs ~2-4 GiB each). */
export function autoMaxJobs(cpus: number, memoryGiB: number): number {
  return Math.max(1, Math.min(cpus, Math.floor(memoryGiB / 4)));
}

/** builderId: the workflow run's URL, provenance's builder-id (null outside Actions). */
export interface RunFacts { runId: string; workDir: string; builderId: string | null }

/** Stages the env builds and the main build share: what the first build of a run made fresh serves the later ones. */
export const ENV_BASE_STAGES = ['env-spec', 'miniforge', 'conda-env'];

/**
 * no-cache and no-cache-filters, per build of the run. The first build (an env build, or the main
 * one) gets them as given; the later builds leave out the env stages the first one just rebuilt, so
 * that no-cache creates the env once per run, not once per build.
 */
export function noCacheArgs(i: Pick<Inputs, 'no-cache' | 'no-cache-filters'>, stages: string[], first: boolean): string[] {
  if (i['no-cache'] && first) return ['--no-cache'];
  const fresh = i['no-cache'] ? stages : i['no-cache-filters'];
  return fresh.filter((s) => first || !ENV_BASE_STAGES.includes(s)).flatMap((s) => ['--no-cache-filter', s]);
}

export function makePlan(i: Inputs, r: Recipe, pf: Pick<Preflight, 'builder' | 'adaptation' | 'gpus' | 'archList' | 'cpus' | 'memoryGiB'>, run: RunFacts, session: EnvCacheSession): Plan {
  const notes: string[] = [];
  const notices: string[] = [];
  const gpu = usesGpu(i, pf.gpus);
  if (i.gpu === 'auto') notes.push(gpu ? `gpu: auto -> true (${pf.gpus.length} GPU(s) found)` : 'gpu: auto -> false (no GPU found)');
  const maxJobs = i['max-jobs'] === 'auto' ? autoMaxJobs(pf.cpus, pf.memoryGiB) : i['max-jobs'];

  // only what the inputs set: an empty input keeps the Dockerfile's ARG default
  const buildArgs: Record<string, string> = { MAX_JOBS: String(maxJobs) };
  if (i['torch-cuda-arch-list']) buildArgs.TORCH_CUDA_ARCH_LIST = pf.archList;
  if (i['base-image']) buildArgs.BASE_IMAGE = i['base-image'];
  if (i['miniforge-version']) buildArgs.MINIFORGE_VERSION = i['miniforge-version'];
  if (i['env-name']) buildArgs.ENV_NAME = i['env-name'];
  for (const a of i['build-args']) buildArgs[a.name] = a.value;

  const secretEnv: Record<string, string> = {};
  const secretArgs: string[] = [];
  i.secrets.forEach((s, n) => {
    secretEnv[`PCB_SECRET_${n}`] = s.value;
    secretArgs.push('--secret', `id=${s.name},env=PCB_SECRET_${n}`);
  });
  for (const f of i['secret-files']) secretArgs.push('--secret', ['id=' + f.name, csvField(`src=${f.value}`)].join(','));
  for (const e of i['secret-envs']) secretArgs.push('--secret', `id=${e.name},env=${e.value}`);

  const envSpecDir = envSpecNeeds(i).length ? path.join(run.workDir, 'env-spec') : null;
  const common = [
    'buildx', 'build',
    ...(i.builder ? ['--builder', i.builder] : []),
    '--file', i.file,
    '--progress', 'plain',
    ...i.platforms.flatMap((p) => ['--platform', p]),
    ...Object.entries(buildArgs).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
    ...(pf.adaptation.namedContexts && envSpecDir ? ['--build-context', `env-spec=${envSpecDir}`] : []),
    ...(pf.adaptation.namedContexts ? session.buildContexts : []),
    ...(pf.adaptation.namedContexts ? i['build-contexts'].flatMap((c) => ['--build-context', `${c.name}=${c.value}`]) : []),
    ...secretArgs,
    ...i.ssh.flatMap((x) => ['--ssh', x]),
    ...(i.network ? ['--network', i.network] : []),
    ...(i['shm-size'] ? ['--shm-size', i['shm-size']] : []),
    ...i.ulimit.flatMap((u) => ['--ulimit', u]),
    ...(i.pull ? ['--pull'] : []),
  ];
  const stages = r.dockerfile.stages;
  const cacheFrom = i['cache-from'].length ? i['cache-from'] : session.layerCacheFrom;
  let cacheTo = i['cache-to'].length ? i['cache-to'] : session.layerCacheTo;
  const layerCacheLeftOut = !pf.adaptation.layerCacheExport && !i['cache-to'].length && cacheTo.length > 0;
  if (layerCacheLeftOut) cacheTo = [];
  const envBuilds = session.exports.map((e, n) => {
    const metadataFile = path.join(run.workDir, `${e.target}-metadata.json`);
    return { target: e.target, metadataFile, argv: [...common, ...noCacheArgs(i, stages, n === 0), ...cacheFrom.flatMap((c) => ['--cache-from', c]), '--metadata-file', metadataFile, '--target', e.target, '--output', e.output, i.context] };
  });
  // after the main build, which built conda-env: the save build only exports it (no attestation: it is a cache)
  const envSave = session.save ? { argv: [...common, ...noCacheArgs(i, stages, false), ...cacheFrom.flatMap((c) => ['--cache-from', c]), '--provenance=false', '--target', 'conda-env', ...session.save.outputs.flatMap((o) => ['--output', o]), i.context] } : null;

  const metadataFile = path.join(run.workDir, 'metadata.json');
  const iidFile = path.join(run.workDir, 'iid.txt');
  const labels = i.labels.map((l) => `${l.name}=${l.value}`);
  const publish = publishPlan(i, pf.adaptation);
  const attestationsLeftOut = publish?.way === 'loaded-image' && !attachmentsAsked(i).length;
  if (layerCacheLeftOut || attestationsLeftOut) notices.push(classicStoreNotice(pf.builder, { layerCache: layerCacheLeftOut, attestations: attestationsLeftOut }));
  const attach = pf.adaptation.attach && publish?.way !== 'loaded-image';
  const attachArgs = attach ? [...attestArgs(i.provenance, i.sbom, run.builderId), ...annotationArgs(i.annotations)] : [];
  const noCache = noCacheArgs(i, stages, envBuilds.length === 0);
  const uncompressedLoad = pf.adaptation.uncompressedLoad && publish?.way !== 'loaded-index';
  const image = [...(i.target ? ['--target', i.target] : []), ...labels.flatMap((l) => ['--label', l])];
  const layerCache = [...cacheFrom.flatMap((c) => ['--cache-from', c]), ...cacheTo.flatMap((c) => ['--cache-to', c])];
  const buildArgv = [
    ...common,
    ...noCache,
    '--metadata-file', metadataFile,
    '--iidfile', iidFile,
    ...image,
    ...attachArgs,
    ...outputArgs(i, publish, attach, uncompressedLoad),
    ...layerCache,
    i.context,
  ];
  const checkBeforeLoad = i.load && uncompressedLoad && (!publish || publish.way === 'loaded-image') && !noCache.length
    && pf.builder.driver !== 'docker' && pf.builder.containerdStore === false && i.platforms.length <= 1;
  const reuseMetadataFile = path.join(run.workDir, 'reuse-check-metadata.json');
  // the load's own export, kept in BuildKit: the same config and manifest digests (no provenance: the classic store keeps no attestations)
  const reuseCheck = checkBeforeLoad ? {
    metadataFile: reuseMetadataFile,
    argv: [...common, '--metadata-file', reuseMetadataFile, ...image, '--provenance=false', '--output', 'type=image,compression=uncompressed,oci-mediatypes=true', ...layerCache, i.context],
  } : null;
  if (publish) publish.attests = attachArgs.filter((_, n) => attachArgs[n - 1] === '--attest');

  const smokeContainer = `pcb-smoke-${run.runId}`;
  const reportDir = path.join(run.workDir, 'report');
  // no --rm: the container's state after the run tells an OOM kill apart; src/smoke.ts removes it
  const smokeArgv = [
    'run', '--name', smokeContainer,
    ...(gpu ? ['--gpus', 'all'] : []),
    '--network', 'none',
    '-v', `${reportDir}:/pcb-report`,
    '<image-id>',
    'python', SMOKE_SCRIPT, '--json', '/pcb-report/report.json',
    ...(gpu ? [] : ['--no-gpu']),
  ];

  return {
    context: i.context, dockerfile: i.file, environmentFile: i['environment-file'],
    baseImage: r.baseImage, envName: r.envName, miniforgeVersion: r.miniforgeVersion, torchCudaArchList: pf.archList, maxJobs,
    gpu, smoke: i['smoke-tests'], push: i.push, load: i.load, tags: i.tags, labels, publish,
    envSpecDir, buildArgs, secretEnv, envBuilds, envSave, buildArgv, reuseCheck, cacheTo, metadataFile, iidFile, buildLog: path.join(run.workDir, 'build.log'),
    smokeContainer, reportDir, smokeArgv, notices, notes,
  };
}

/** The publishing part of the plan (push: true). */
function publishPlan(i: Inputs, a: Adaptation): PublishPlan | null {
  if (!i.push) return null;
  return { way: i.load ? a.publish : 'buildx-push', repositories: repositoriesOf(i.tags), platform: i.platforms[0] ?? 'linux/amd64', builder: i.builder, attests: [], annotations: a.attach ? i.annotations : [] };
}

/**
 * The main build's output. Loaded ways: --tag and --load (the smoke run needs the image in the
 * Engine; the tags move only with docker push). by-digest: one push, untagged, to every repository
 * (a --tag would name the pushed image and move the tags before the smoke run), as an image index
 * even for one platform so that the shape is always index -> platform manifest (+ attestations).
 * A load skips gzip where the builder honours that (uncompressedLoad): compressing a multi-GB env
 * layer on one core is the slowest step of a warm run and buys nothing on the way into the
 * runner's own Engine. Not where the loaded image is the one docker push sends (the containerd
 * store pushes its layers as stored).
 */
function outputArgs(i: Inputs, p: PublishPlan | null, attach: boolean, uncompressedLoad: boolean): string[] {
  const index = attach && wantsIndex(i.annotations) ? ['--build-arg', 'BUILDKIT_MULTI_PLATFORM=1'] : [];
  const tags = i.tags.flatMap((t) => ['--tag', t]);
  if (p?.way === 'by-digest') {
    const names = csvField(`name=${p.repositories.map((r) => r.repository).join(',')}`);
    return ['--build-arg', 'BUILDKIT_MULTI_PLATFORM=1', '--output', `type=image,${names},push-by-digest=true,name-canonical=true,push=true`];
  }
  if (i.load) return [...index, ...tags, ...(uncompressedLoad ? ['--output', 'type=docker,compression=uncompressed'] : ['--load'])];
  if (i.push) return [...index, ...tags, '--push'];
  return tags;
}

/**
 * The plan with the base image the env was built on as OCI annotations of the registry cache image
 * (known after the env-lock build), so that a hit can tell it.
 */
export function withEnvBase(plan: Plan, session: Pick<EnvCacheSession, 'save'>, base: { image: string; digest: string | null }): Plan {
  if (!plan.envSave || !session.save?.annotate || !base.digest) return plan;
  const argv = plan.envSave.argv;
  const notes = [`manifest:${BASE_NAME}=${base.image}`, `manifest:${BASE_DIGEST}=${base.digest}`].flatMap((a) => ['--annotation', a]);
  return { ...plan, envSave: { argv: [...argv.slice(0, -1), ...notes, argv[argv.length - 1]] } };
}

/** The plan with the env lock's sha256 as an image label (known after the env-lock build). */
export function withLockLabel(plan: Plan, sha256: string): Plan {
  const label = `${LOCK_LABEL}=${sha256}`;
  const labelled = (argv: string[]) => [...argv.slice(0, -1), '--label', label, argv[argv.length - 1]];
  const reuseCheck = plan.reuseCheck && { ...plan.reuseCheck, argv: labelled(plan.reuseCheck.argv) };
  return { ...plan, labels: [...plan.labels, label], buildArgv: labelled(plan.buildArgv), reuseCheck };
}

/** The smoke argv with the built image in place of the placeholder. */
export function smokeArgvFor(plan: Plan, imageId: string): string[] {
  return plan.smokeArgv.map((a) => (a === '<image-id>' ? imageId : a));
}

/** The plan as the `plan` output and the dry run show it: no secret values, no temp-file bookkeeping. */
export function planForPeople(plan: Plan): Partial<Plan> {
  const shown: Partial<Plan> = { ...plan };
  for (const k of ['secretEnv', 'metadataFile', 'iidFile', 'buildLog', 'reportDir'] as const) delete shown[k];
  return shown;
}

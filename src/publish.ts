// Publishing the image that passed the smoke run, by the way builder.ts chose for the runner
// (README, "Publishing"):
//   loaded-index  (containerd image store) the loaded index is tested, then each tag: docker tag of
//                 the tested id + docker push, which sends that index byte for byte
//   by-digest     (a builder with its own BuildKit, classic store) the build pushed one index by
//                 digest, untagged, to every repository; here it is pulled, checked against the
//                 registry's platform manifest and handed to the smoke run; after it passed, the tags
//                 of each repository are made with imagetools create (manifest only)
//   loaded-image  (docker driver, classic store) docker tag + docker push of the tested id; the
//                 Engine compresses the layers again, so the pushed manifest is read back and its
//                 config checked against the tested image id
//   buildx-push   (load: false, no smoke run) buildx pushed the tags itself; they are read back
// Every registry operation runs through registry.ts's retries. Tags move one by one, each to a
// complete image; when one fails, the outcome says exactly which moved and which did not, and what
// is left in the registry.
import * as core from '@actions/core';
import type { BuildResult } from './buildx.js';
import { StepError } from './errors.js';
import { run, type RunResult } from './exec.js';
import type { Plan, PublishPlan } from './plan.js';
import { pathOnRegistry, registryOf, splitTag, withRetries, type Repository } from './registry.js';

export interface PublishOutcome {
  way: PublishPlan['way'];
  /** What the pushed tags point at (an index, or docker push's manifest); null until something was pushed. */
  digest: string | null;
  /** Repository@digest pushed and not (yet) tagged: what a failed run leaves behind. */
  untagged: string[];
  /** The platform manifest the smoke run tested, and its config. */
  testedManifest: string | null;
  configDigest: string | null;
  /** The image id docker run takes for the tested image (by-digest: the pulled one). */
  imageId: string | null;
  /** A push began: blobs may be in the registry even when no manifest is. */
  attempted: boolean;
  moved: { tag: string; digest: string }[];
  notMoved: string[];
  attestations: string[];        // predicate types found in the index, per attestation layer
  annotations: { level: 'index' | 'manifest'; key: string; value: string }[];
}

export function newPublishOutcome(p: PublishPlan): PublishOutcome {
  return { way: p.way, digest: null, untagged: [], testedManifest: null, configDigest: null, imageId: null, attempted: false, moved: [], notMoved: p.repositories.flatMap((r) => r.tags), attestations: [], annotations: [] };
}

const log = (line: string) => core.info(line);

// ---- reading the registry (through buildx imagetools, which has the credentials) -------------------
/** docker buildx imagetools ARGS, retried; `ref` is the reference whose registry answers, `what` names it for people. */
async function imagetools(args: string[], p: PublishPlan, ref: string, what: string): Promise<string> {
  const { repository, tag } = splitTag(ref);
  const builder = p.builder ? ['--builder', p.builder] : [];
  const { result } = await withRetries({
    what, registry: registryOf(repository), probePath: `/v2/${pathOnRegistry(repository)}/manifests/${ref.includes('@') ? ref.slice(ref.indexOf('@') + 1) : tag}`,
    attempt: () => run('docker', ['buildx', 'imagetools', args[0], ...builder, ...args.slice(1)], { quiet: true }),
  }, undefined, log);
  if (result.exitCode !== 0) throw new StepError('publish', `${what} failed.`, result.stderr + result.stdout);
  return result.stdout;
}

interface Descriptor { mediaType?: string; digest: string; size?: number; platform?: { os?: string; architecture?: string; variant?: string }; annotations?: Record<string, string> }
interface RawManifest { mediaType?: string; manifests?: Descriptor[]; config?: { digest: string }; layers?: Descriptor[]; annotations?: Record<string, string> }

const rawOf = async (ref: string, p: PublishPlan) => JSON.parse(await imagetools(['inspect', '--raw', ref], p, ref, `docker buildx imagetools inspect --raw ${ref}`)) as RawManifest;
const isAttestation = (d: Descriptor) => d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';

/** The index's manifest for platform ("linux/amd64"), attestation manifests aside. */
export function platformChild(index: RawManifest, platform: string): Descriptor | null {
  const [os, arch, variant] = platform.split('/');
  return index.manifests?.find((d) => !isAttestation(d) && d.platform?.os === os && d.platform?.architecture === arch && (!variant || d.platform?.variant === variant)) ?? null;
}

/** The digest a reference points at now (the registry's answer). */
async function digestOf(ref: string, p: PublishPlan): Promise<string> {
  const m = JSON.parse(await imagetools(['inspect', '--format', '{{json .Manifest}}', ref], p, ref, `docker buildx imagetools inspect ${ref}`)) as { digest?: string };
  return m.digest ?? '';
}

/**
 * What the registry holds at repository@digest: the tested platform manifest and its config, the
 * attestations attached to it and the annotations of the index and the manifest.
 */
async function readPublished(repository: string, digest: string, p: PublishPlan, o: PublishOutcome): Promise<void> {
  const top = await rawOf(`${repository}@${digest}`, p);
  const child = top.manifests ? platformChild(top, p.platform) : { digest };
  if (!child) throw new StepError('publish', `The index ${repository}@${digest} has no ${p.platform} manifest.`);
  const manifest = child.digest === digest ? top : await rawOf(`${repository}@${child.digest}`, p);
  o.testedManifest = child.digest;
  o.configDigest = manifest.config?.digest ?? null;
  o.annotations = [
    ...(top.manifests ? Object.entries(top.annotations ?? {}).map(([key, value]) => ({ level: 'index' as const, key, value })) : []),
    ...Object.entries(manifest.annotations ?? {}).map(([key, value]) => ({ level: 'manifest' as const, key, value })),
  ];
  const att = top.manifests?.find((d) => isAttestation(d) && d.annotations?.['vnd.docker.reference.digest'] === child.digest);
  o.attestations = att ? ((await rawOf(`${repository}@${att.digest}`, p)).layers ?? []).map((l) => l.annotations?.['in-toto.io/predicate-type'] ?? l.mediaType ?? '?') : [];
}

// ---- the build of the by-digest way, and the image it hands to the smoke run ----------------------
/**
 * Runs the by-digest build, again when its push failed for a transient registry reason (BuildKit
 * has the layers in its cache then, so an attempt is the export and the push). A failure in a RUN
 * step is the build's own and comes back as is.
 */
export async function buildPushingByDigest(build: () => Promise<BuildResult>, record: (b: BuildResult) => void, o: PublishOutcome): Promise<BuildResult> {
  let last: BuildResult | null = null;
  const pushFailed = (out: string) => /failed to push /.test(out);
  await withRetries({
    what: 'the push by digest (docker buildx build)',
    registry: (out) => /failed to push ([^/\s]+)\//.exec(out)?.[1] ?? 'of the tags',
    probePath: '/v2/',
    isRegistryFailure: pushFailed,
    attempt: async (): Promise<RunResult> => {
      last = await build();
      record(last);
      const tailText = last.log.split('\n').slice(-40).join('\n');
      if (last.exitCode === 0 || pushFailed(tailText)) o.attempted = true;
      return { exitCode: last.exitCode, stdout: last.summary.failedError ?? '', stderr: tailText };
    },
  }, undefined, log);
  return last!;
}

/** After a by-digest build: what was pushed, and (with a smoke run) the pulled image, checked against the registry's manifest. */
export async function pullPushed(plan: Plan, build: BuildResult, o: PublishOutcome): Promise<void> {
  const p = plan.publish!;
  const index = String(build.metadata?.['containerimage.digest'] ?? '');
  if (!/^sha256:[a-f0-9]{64}$/.test(index)) throw new StepError('publish', 'The push by digest reported no digest (containerimage.digest in the metadata file).');
  o.digest = index;
  o.untagged = p.repositories.map((r) => `${r.repository}@${index}`);
  const first = p.repositories[0].repository;
  await readPublished(first, index, p, o);
  o.imageId = build.imageId || index;
  if (!plan.smoke) return;
  const ref = `${first}@${index}`;
  const { result } = await withRetries({ what: `docker pull ${ref}`, registry: registryOf(first), probePath: `/v2/${pathOnRegistry(first)}/manifests/${index}`, attempt: () => run('docker', ['pull', '--quiet', ref]) }, undefined, log);
  if (result.exitCode !== 0) throw new StepError('publish', `docker pull ${ref} failed.`, result.stderr + result.stdout);
  const id = (await run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref], { quiet: true })).stdout.trim();
  // the pulled image is the registry's platform manifest: same config, so the same layers
  if (id !== o.configDigest) throw new StepError('publish', `The pulled image ${id || '(none)'} is not the config ${o.configDigest} of the pushed manifest ${o.testedManifest}; nothing was tagged.`);
  o.imageId = id;
}

// ---- moving the tags ----------------------------------------------------------------------------------
/** docker push's "TAG: digest: sha256:... size: N" line. */
export function digestFromPushOutput(text: string): string {
  const all = [...text.matchAll(/digest: (sha256:[a-f0-9]{64})/g)];
  return all.length ? all[all.length - 1][1] : '';
}

async function dockerPush(tag: string, imageId: string, o: PublishOutcome): Promise<string> {
  const tagged = await run('docker', ['tag', imageId, tag], { quiet: true });
  if (tagged.exitCode !== 0) throw new StepError('publish', `docker tag ${imageId} ${tag} failed.`, tagged.stderr);
  o.attempted = true;
  const { repository, tag: name } = splitTag(tag);
  const { result } = await withRetries({ what: `docker push ${tag}`, registry: registryOf(repository), probePath: `/v2/${pathOnRegistry(repository)}/manifests/${name}`, attempt: () => run('docker', ['push', tag]) }, undefined, log);
  if (result.exitCode !== 0) throw new StepError('publish', `docker push ${tag} failed.`, result.stderr + result.stdout);
  const digest = digestFromPushOutput(result.stdout);
  if (!digest) throw new StepError('publish', `docker push ${tag} reported no digest.`, result.stdout);
  return digest;
}

/** Records a tag that now points at digest (the registry's answer, not the tool's). */
function moved(o: PublishOutcome, tag: string, digest: string): void {
  o.moved.push({ tag, digest });
  o.notMoved = o.notMoved.filter((t) => t !== tag);
}

async function checkTag(tag: string, want: string, p: PublishPlan, o: PublishOutcome): Promise<void> {
  const now = await digestOf(tag, p);
  if (now !== want) throw new StepError('publish', `${tag} points at ${now || 'nothing'} after the push, not at ${want}.`);
  moved(o, tag, now);
}

async function tagRepository(r: Repository, p: PublishPlan, o: PublishOutcome): Promise<void> {
  const source = `${r.repository}@${o.digest}`;
  // the source lies in the same repository: the registry only writes a manifest, no blob moves
  const tags = r.tags.flatMap((t) => ['--tag', t]);
  await imagetools(['create', ...tags, source], p, r.tags[0], `docker buildx imagetools create ${tags.join(' ')}`);
  for (const t of r.tags) await checkTag(t, o.digest!, p, o);
}

/** Moves every tag to the tested image; throws (with o saying what moved) when one cannot be. */
export async function publishTested(plan: Plan, build: BuildResult, o: PublishOutcome): Promise<void> {
  const p = plan.publish!;
  const tags = p.repositories.flatMap((r) => r.tags);
  try {
    if (p.way === 'by-digest') {
      for (const r of p.repositories) await tagRepository(r, p, o);
    } else if (p.way === 'buildx-push') {
      o.attempted = true;
      o.digest = String(build.metadata?.['containerimage.digest'] ?? '') || null;
      if (!o.digest) throw new StepError('publish', 'buildx pushed the tags but reported no digest.');
      for (const t of tags) await checkTag(t, o.digest, p, o);
      await readPublished(p.repositories[0].repository, o.digest, p, o);
    } else {
      const imageId = o.imageId ?? build.imageId;
      if (!imageId) throw new StepError('publish', 'The build reported no image id; nothing to push.');
      for (const t of tags) {
        const digest = await dockerPush(t, imageId, o);
        moved(o, t, digest); // whatever it pushed, the tag points there now
        // loaded-index: the tested id is the index digest, and docker push sends that index unchanged
        if (p.way === 'loaded-index' && digest !== imageId) throw new StepError('publish', `docker push ${t} pushed ${digest}, not the tested image ${imageId}.`);
        if (o.digest && digest !== o.digest) throw new StepError('publish', `docker push ${t} pushed ${digest}, while the tags before it point at ${o.digest}.`);
        o.digest = digest;
      }
      await readPublished(p.repositories[0].repository, o.digest!, p, o);
      if (p.way === 'loaded-image' && o.configDigest !== imageId) throw new StepError('publish', `The pushed manifest ${o.testedManifest} has config ${o.configDigest}, not the tested image ${imageId}.`);
    }
    o.untagged = [];
  } catch (e) {
    if (o.moved.length && e instanceof StepError) {
      throw new StepError(e.step, `${e.message} Moved: ${o.moved.map((m) => `${m.tag} (${m.digest})`).join(', ')}; not moved: ${o.notMoved.join(', ') || 'none'}.`, e.log, e.diagnosis);
    }
    throw e;
  }
}

/** What a failed run leaves in the registry (the summary's line); null when every tag moved. */
export function leftInRegistry(o: PublishOutcome | undefined, smokeRan: boolean): string | null {
  if (!o || !o.notMoved.length) return null;
  const moved = o.moved.length ? `Moved: ${o.moved.map((m) => `${m.tag} -> ${m.digest}`).join(', ')}; not moved: ${o.notMoved.join(', ')}.` : 'No tag moved.';
  if (o.untagged.length) return `${moved} Left untagged: ${o.untagged.join(', ')} (the index, its platform and attestation manifests and their blobs${smokeRan ? ', pushed before the smoke run' : ''}); your registry's untagged-image cleanup removes them.`;
  if (!o.attempted) return `${moved} Nothing was pushed.`;
  return `${moved} ${o.moved.length ? 'Blobs uploaded for the others' : 'Blobs the push uploaded'} stay until the registry's garbage collection; no manifest of ${o.moved.length ? 'theirs' : 'this run'} was pushed.`;
}

/** The publishing commands in words, for the dry run. */
export function publishSteps(plan: Plan): string[] {
  const p = plan.publish;
  if (!p) return ['Publish: off (push: false)'];
  const tags = p.repositories.flatMap((r) => r.tags).join(', ');
  const after = plan.smoke ? ', only after the smoke run passed' : '';
  switch (p.way) {
    case 'loaded-index':
      return [`Publish (loaded-index): docker tag <image-id> TAG, then docker push TAG, for ${tags}${after}; the tested image id is the index digest, pushed byte for byte`];
    case 'loaded-image':
      return [`Publish (loaded-image): docker tag <image-id> TAG, then docker push TAG, for ${tags}${after}; the pushed manifest's config is checked against the tested image id`];
    case 'buildx-push':
      return [`Publish (buildx-push): the build pushes ${tags} itself (load: false, no smoke run); each tag is read back`];
    case 'by-digest':
      return [
        `Publish (by-digest): the build pushes one index by digest, untagged, to ${p.repositories.map((r) => r.repository).join(', ')}`,
        ...(plan.smoke ? [`  docker pull ${p.repositories[0].repository}@<index>; its image id must be the config of the registry's ${p.platform} manifest; the smoke run tests it`] : []),
        ...p.repositories.map((r) => `  docker buildx imagetools create ${r.tags.map((t) => `--tag ${t}`).join(' ')} ${r.repository}@<index>${after}`),
      ];
  }
}

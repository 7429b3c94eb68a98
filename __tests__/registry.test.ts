// Registry references, what failed commands say about the registry (texts dockerd 20.10, BuildKit
// 0.34 and buildx 0.38 printed against the fault proxy of __tests__/e2e/faults), and the retries.
import { describe, expect, it } from 'vitest';
import { leftInRegistry, newPublishOutcome, platformChild, type PublishOutcome } from '../src/publish.js';
import { RegistryError, backoffMs, pathOnRegistry, registryFault, registryOf, repositoriesOf, retryAfterSeconds, splitTag, withRetries, type RetryPolicy } from '../src/registry.js';

describe('references', () => {
  it.each([
    ['127.0.0.1:5000/pcb/img:1', '127.0.0.1:5000/pcb/img', '1'],
    ['127.0.0.1:5000/pcb/img', '127.0.0.1:5000/pcb/img', 'latest'],
    ['ghcr.io/org/pc:1.2.3', 'ghcr.io/org/pc', '1.2.3'],
    ['org/pc', 'org/pc', 'latest'],
  ])('splitTag(%s)', (ref, repository, tag) => expect(splitTag(ref)).toEqual({ repository, tag }));
  it.each([
    ['127.0.0.1:5000/pcb/img', '127.0.0.1:5000'], ['ghcr.io/org/pc', 'ghcr.io'], ['localhost/x', 'localhost'], ['org/pc', 'docker.io'], ['pc', 'docker.io'],
  ])('registryOf(%s) = %s', (repo, want) => expect(registryOf(repo)).toBe(want));
  it.each([
    ['127.0.0.1:5000/pcb/img', 'pcb/img'], ['ghcr.io/org/pc', 'org/pc'], ['docker.io/org/pc', 'org/pc'], ['org/pc', 'org/pc'], ['pc', 'library/pc'], ['docker.io/pc', 'library/pc'],
  ])('pathOnRegistry(%s) = %s', (repo, want) => expect(pathOnRegistry(repo)).toBe(want));
  it('repositoriesOf keeps the order and groups tags of one repository', () => {
    expect(repositoriesOf(['ghcr.io/o/pc:1', 'docker.io/o/pc:1', 'ghcr.io/o/pc:latest'])).toEqual([
      { repository: 'ghcr.io/o/pc', tags: ['ghcr.io/o/pc:1', 'ghcr.io/o/pc:latest'] }, { repository: 'docker.io/o/pc', tags: ['docker.io/o/pc:1'] },
    ]);
  });
});

describe('registryFault: the cause a failed command names', () => {
  it.each<[string, string, boolean | null, string | null]>([
    ['docker push, 503 on a blob PATCH', 'd49d738505c8: Preparing\nreceived unexpected HTTP status: 503 Service Unavailable', true, '503 Service Unavailable'],
    ['docker push, 500 on the manifest', 'received unexpected HTTP status: 500 Internal Server Error', true, '500 Internal Server Error'],
    ['docker push, 429 on the manifest', '4682ab1072ea: Pushed\ntoomanyrequests: injected by the fault proxy (429)', true, '429 Too Many Requests'],
    ['docker push, reset', 'Put "http://127.0.0.1:45235/v2/pcb/dp3/manifests/t": read tcp 127.0.0.1:40890->127.0.0.1:45235: read: connection reset by peer', true, 'connection reset'],
    ['docker push, refused', 'Get "http://127.0.0.1:46495/v2/": dial tcp 127.0.0.1:46495: connect: connection refused', true, 'connection refused'],
    ['BuildKit push, 429 after its own retries', 'ERROR: failed to build: failed to solve: failed to push 127.0.0.1:41701/pcb/g: toomanyrequests: injected by the fault proxy (429)', true, '429 Too Many Requests'],
    ['BuildKit push, 500', 'error: failed commit on ref "manifest-sha256:67": unexpected status from PUT request to http://127.0.0.1:41701/v2/pcb/g/manifests/sha256:67: 500 Internal Server Error', true, '500 Internal Server Error'],
    ['imagetools create, 503', 'ERROR: publish sha256:d7 to 127.0.0.1:41701/pcb/g:x: failed commit on ref "index-sha256:d7": unexpected status from PUT request to http://127.0.0.1:41701/v2/pcb/g/manifests/x: 503 Service Unavailable', true, '503 Service Unavailable'],
    ['imagetools create, 401', 'ERROR: publish sha256:d7 to r/g:x: unexpected status from PUT request to http://r/v2/g/manifests/x: 401 Unauthorized', false, '401 Unauthorized'],
    ['imagetools create, 403', 'unexpected status from PUT request to http://r/v2/g/manifests/x: 403 Forbidden', false, '403 Forbidden'],
    ['docker push, denied', 'denied: requested access to the resource is denied', false, '403 Forbidden'],
    ['docker pull, 404', 'Error response from daemon: manifest for r/x@sha256:00 not found: manifest unknown: manifest unknown', false, '404 Not Found'],
    ['imagetools inspect, 404', 'ERROR: 127.0.0.1:45235/pcb/nonexist@sha256:00: not found', false, '404 Not Found'],
    ['imagetools inspect, refused by a registry whose port holds "404"', 'ERROR: failed to do request: Head "http://127.0.0.1:40463/v2/c/env/manifests/t": dial tcp 127.0.0.1:40463: connect: connection refused', true, 'connection refused'],
    ['a timeout', 'Head "https://ghcr.io/v2/o/pc/manifests/1": net/http: TLS handshake timeout', true, 'timeout'],
    ['an EOF', 'Put "http://r/v2/x/blobs/uploads/1": EOF', true, 'EOF (connection closed mid-answer)'],
    ['a refusal that also mentions a 503 is still a refusal', '403 Forbidden (after an earlier 503 Service Unavailable)', false, '403 Forbidden'],
    ['a build step that failed', 'process "/bin/sh -c exit 1" did not complete successfully: exit code: 1', null, null],
  ])('%s', (_n, text, transient, cause) => {
    const f = registryFault(text);
    expect(f?.transient ?? null).toBe(transient);
    expect(f?.cause ?? null).toBe(cause);
  });
});

describe('backoff and Retry-After', () => {
  const policy = { baseMs: 2000, maxMs: 30_000 };
  it('full jitter over a doubling ceiling, capped', () => {
    expect([1, 2, 3].map((n) => backoffMs(n, { ...policy, random: () => 0 }, null))).toEqual([1000, 2000, 4000]);
    expect([1, 2, 3].map((n) => backoffMs(n, { ...policy, random: () => 0.999 }, null))).toEqual([1999, 3998, 7996]);
    expect(backoffMs(10, { ...policy, random: () => 0.999 }, null)).toBeLessThanOrEqual(30_000);
  });
  it('never shorter than Retry-After', () => {
    expect(backoffMs(1, { ...policy, random: () => 0.5 }, 7)).toBe(7000);
  });
  it.each([['5', 5], [' 12 ', 12], ['Fri, 04 Dec 2026 19:00:10 GMT', 10], ['soon', null], [null, null]] as const)('retryAfterSeconds(%j) = %j', (h, want) => {
    expect(retryAfterSeconds(h, Date.parse('Fri, 04 Dec 2026 19:00:00 GMT'))).toBe(want);
  });
});

describe('withRetries', () => {
  /** A policy that records its waits and probes instead of waiting. */
  function fake(retryAfter: number | null = null) {
    const waits: number[] = [];
    const probes: string[] = [];
    const policy: RetryPolicy = { attempts: 4, baseMs: 2000, maxMs: 30_000, maxRetryAfterS: 120, random: () => 0.5, sleep: async (ms) => { waits.push(ms); }, probe: async (r, p) => { probes.push(`${r}${p}`); return retryAfter; } };
    return { policy, waits, probes };
  }
  const answers = (...texts: (string | null)[]) => {
    let n = 0;
    return async () => {
      const t = texts[Math.min(n++, texts.length - 1)];
      return t === null ? { exitCode: 0, stdout: 'digest: sha256:aa', stderr: '' } : { exitCode: 1, stdout: '', stderr: t };
    };
  };
  const op = (attempt: () => Promise<{ exitCode: number; stdout: string; stderr: string }>) => ({ what: 'docker push r.example/a:1', registry: 'r.example', probePath: '/v2/a/manifests/1', attempt });

  it('a transient failure is retried, with backoff, until it passes', async () => {
    const f = fake();
    const r = await withRetries(op(answers('received unexpected HTTP status: 503 Service Unavailable', 'connection reset by peer', null)), f.policy);
    expect(r).toMatchObject({ attempts: 3, result: { exitCode: 0 } });
    expect(f.waits).toEqual([1500, 3000]);
    expect(f.probes).toEqual([]);
  });
  it('a 429 asks the registry for Retry-After (the URL the tool named) and waits that long', async () => {
    const f = fake(9);
    const r = await withRetries(op(answers('unexpected status from PUT request to http://r.example/v2/a/manifests/1?x=1: 429 Too Many Requests', null)), f.policy);
    expect(r.attempts).toBe(2);
    expect(f.probes).toEqual(['r.example/v2/a/manifests/1']);
    expect(f.waits).toEqual([9000]);
  });
  it('a 429 whose text names no URL probes the operation\'s own path', async () => {
    const f = fake(null);
    await withRetries(op(answers('toomanyrequests: slow down', null)), f.policy);
    expect(f.probes).toEqual(['r.example/v2/a/manifests/1']);
    expect(f.waits).toEqual([1500]);
  });
  it('a Retry-After beyond what is worth waiting fails at once, saying so', async () => {
    const f = fake(3600);
    await expect(withRetries(op(answers('toomanyrequests: slow down')), f.policy)).rejects.toThrow('registry r.example refused docker push r.example/a:1: 429 Too Many Requests with Retry-After 3600 s.');
    expect(f.waits).toEqual([]);
  });
  it('401, 403 and 404 are never retried', async () => {
    for (const text of ['unexpected status: 401 Unauthorized', 'denied: requested access to the resource is denied', 'manifest unknown']) {
      const f = fake();
      await expect(withRetries(op(answers(text)), f.policy)).rejects.toBeInstanceOf(RegistryError);
      expect(f.waits).toEqual([]);
    }
  });
  it('a registry that stays down: one line with the registry, the cause and the attempts', async () => {
    const f = fake();
    const e = await withRetries(op(answers('dial tcp 127.0.0.1:5000: connect: connection refused')), f.policy).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RegistryError);
    expect((e as RegistryError).message).toBe('registry r.example kept failing: connection refused on each of 4 attempts of docker push r.example/a:1.');
    expect((e as RegistryError).step).toBe('publish');
    expect(f.waits).toHaveLength(3);
  });
  it('a failure that is not the registry\'s comes back as is, unretried', async () => {
    const f = fake();
    const r = await withRetries({ ...op(answers('ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2')), isRegistryFailure: (t) => /failed to push /.test(t) }, f.policy);
    expect(r).toMatchObject({ attempts: 1, result: { exitCode: 1 } });
    expect(f.waits).toEqual([]);
  });
});

describe('publish: reading an index and saying what is left', () => {
  const index = {
    manifests: [
      { digest: 'sha256:att', platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': 'sha256:amd' } },
      { digest: 'sha256:arm', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { digest: 'sha256:amd', platform: { os: 'linux', architecture: 'amd64' } },
    ],
  };
  it('platformChild skips attestation manifests and matches the platform', () => {
    expect(platformChild(index, 'linux/amd64')?.digest).toBe('sha256:amd');
    expect(platformChild(index, 'linux/arm64/v8')?.digest).toBe('sha256:arm');
    expect(platformChild(index, 'linux/s390x')).toBeNull();
  });
  const base = (over: Partial<PublishOutcome>): PublishOutcome => ({
    ...newPublishOutcome({ way: 'by-digest', repositories: [{ repository: 'r/a', tags: ['r/a:1', 'r/a:2'] }, { repository: 'r/b', tags: ['r/b:1'] }], platform: 'linux/amd64', builder: '', attests: [], annotations: [] }), ...over,
  });
  it.each<[string, Partial<PublishOutcome>, boolean, string | null]>([
    ['every tag moved', { notMoved: [], moved: [{ tag: 'r/a:1', digest: 'sha256:i' }] }, true, null],
    ['by-digest, the smoke run failed', { digest: 'sha256:i', attempted: true, untagged: ['r/a@sha256:i', 'r/b@sha256:i'] }, true,
      'No tag moved. Left untagged: r/a@sha256:i, r/b@sha256:i (the index, its platform and attestation manifests and their blobs, pushed before the smoke run); your registry\'s untagged-image cleanup removes them.'],
    ['nothing was pushed (a loaded way, the smoke run failed)', { way: 'loaded-index' }, true, 'No tag moved. Nothing was pushed.'],
    ['the push failed before any manifest', { way: 'loaded-index', attempted: true }, false, 'No tag moved. Blobs the push uploaded stay until the registry\'s garbage collection; no manifest of this run was pushed.'],
    ['some tags moved', { way: 'loaded-index', attempted: true, digest: 'sha256:i', moved: [{ tag: 'r/a:1', digest: 'sha256:i' }], notMoved: ['r/a:2', 'r/b:1'] }, true,
      'Moved: r/a:1 -> sha256:i; not moved: r/a:2, r/b:1. Blobs uploaded for the others stay until the registry\'s garbage collection; no manifest of theirs was pushed.'],
  ])('%s', (_n, over, smokeRan, want) => expect(leftInRegistry(base(over), smokeRan)).toBe(want));
});

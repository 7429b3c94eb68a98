import { describe, expect, it } from 'vitest';
import { parsePlainProgress, stageOf } from '../src/buildx.js';

// Shaped like BuildKit's --progress plain output.
const OK_LOG = `#0 building with "pcb-remote" instance using remote driver

#1 [internal] load build definition from Dockerfile.gpu
#1 transferring dockerfile: 2.31kB done
#1 DONE 0.0s

#2 [internal] load metadata for docker.io/library/pcb-base:busybox
#2 DONE 0.2s

#5 [conda-env 1/3] FROM docker.io/library/pcb-base:busybox
#5 CACHED

#7 [conda-env 3/3] RUN --mount=type=bind,from=env-spec,target=/pcb/env-spec sh /pcb/create-env.sh
#7 0.101 solving
#7 DONE 12.5s

#8 [extensions 2/2] RUN mkdir -p /wheels
#8 DONE 3.1s

#9 [linux/amd64 runtime 4/5] RUN python /opt/pointcept/smoke_tests.py --no-gpu
#9 0.210 fixture smoke tests: mode=pass gpu=0
#9 DONE 0.4s

#10 exporting to docker image format
#10 exporting layers 0.3s done
#10 sending tarball 1.2s done
#10 DONE 1.6s
`;

const FAIL_LOG = `#1 [internal] load build definition from Dockerfile.gpu
#1 DONE 0.0s

#8 [extensions 2/3] RUN pip wheel --no-build-isolation ./libs/pointops
#8 1.20 building 'pointops._C' extension
#8 95.3 g++: fatal error: Killed signal terminated program cc1plus
#8 95.3 compilation terminated.
#8 ERROR: process "/bin/sh -c pip wheel --no-build-isolation ./libs/pointops" did not complete successfully: exit code: 1
------
 > [extensions 2/3] RUN pip wheel --no-build-isolation ./libs/pointops:
------
ERROR: failed to solve: process "/bin/sh -c pip wheel --no-build-isolation ./libs/pointops" did not complete successfully: exit code: 1
`;

describe('stageOf', () => {
  it.each([
    ['[conda-env 2/3] RUN x', 'conda-env'],
    ['[linux/amd64 runtime 4/5] COPY a b', 'runtime'],
    ['[linux/arm64/v8 extensions 1/2] RUN y', 'extensions'],
    ['[internal] load build context', 'internal'],
    ['[env-lock] COPY --from=conda-env /opt/conda/pcb-env.lock /environment.lock', 'env-lock'],
    ['exporting to docker image format', 'export'],
    ['resolve image config for docker-image://x', 'other'],
  ])('%s -> %s', (v, want) => expect(stageOf(v)).toBe(want));
});

describe('parsePlainProgress', () => {
  it('adds up seconds per stage and counts cached steps', () => {
    const s = parsePlainProgress(OK_LOG);
    const by = Object.fromEntries(s.stages.map((x) => [x.stage, x]));
    expect(by['conda-env']).toEqual({ stage: 'conda-env', seconds: 12.5, steps: 2, cached: 1 });
    expect(by.extensions.seconds).toBe(3.1);
    expect(by.runtime.seconds).toBe(0.4);
    expect(by.export.seconds).toBe(1.6);
    expect(s.failedStep).toBeNull();
  });
  it('names the failing step with its last lines and error', () => {
    const s = parsePlainProgress(FAIL_LOG);
    expect(s.failedStep).toBe('[extensions 2/3] RUN pip wheel --no-build-isolation ./libs/pointops');
    expect(s.failedTail).toContain('Killed signal terminated program cc1plus');
    expect(s.failedTail.split('\n')).toHaveLength(3);
    expect(s.failedError).toContain('did not complete successfully: exit code: 1');
  });
  it('keeps the solve error when no step failed', () => {
    const s = parsePlainProgress('#1 [internal] load\n#1 DONE 0.0s\nERROR: failed to solve: base: failed to resolve source metadata for x: not found\n');
    expect(s.failedStep).toBeNull();
    expect(s.failedError).toContain('failed to resolve source metadata');
  });
});

import { describe, expect, it } from 'vitest';
import { classify, tail } from '../src/errors.js';

// Texts as docker, buildx, BuildKit, the NVIDIA toolkit, compilers and PyTorch print them.
const CASES: [string, string | undefined][] = [
  ['Unable to locate executable file: docker. Please verify either the file path exists or the file can be found within a directory specified by the PATH environment variable.', 'docker-missing'],
  ["docker: 'buildx' is not a docker command.\nSee 'docker --help'", 'buildx-missing'],
  ["docker: unknown command: docker buildx\n\nRun 'docker --help' for more information", 'buildx-missing'],
  ['Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', 'daemon-unreachable'],
  ['permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version": dial unix /var/run/docker.sock: connect: permission denied', 'daemon-unreachable'],
  ['ERROR: no builder "pcb-missing" found', 'builder-missing'],
  ['docker: Error response from daemon: could not select device driver "" with capabilities: [[gpu]].', 'no-gpu'],
  ['ERROR: failed to solve: dockerfile parse error on line 38: Unknown flag: checksum', 'dockerfile-syntax'],
  ['docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: Auto-detected mode as \'legacy\'\nnvidia-container-cli: initialization error: nvml error: driver not loaded: unknown.', 'no-gpu'],
  ["NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.", 'no-gpu'],
  ['nvidia-container-cli: requirement error: unsatisfied condition: cuda>=12.4, please update your driver to a newer version, or use an earlier cuda container: unknown', 'driver-too-old'],
  ['RuntimeError: The NVIDIA driver on your system is too old (found version 11040). Please update your GPU driver', 'driver-too-old'],
  ['RuntimeError: CUDA error: no kernel image is available for execution on the device\nCUDA kernel errors might be asynchronously reported at some other API call', 'no-kernel-image'],
  ['RuntimeError: /io/build/temp.linux-x86_64-cpython-311/spconv/build/core_cc/src/cumm/common/CompileInfo/CompileInfo_arch_check.cc nvrtc: error: invalid value for --gpu-architecture (-arch)', 'nvrtc-jit'],
  ['cumm.nvrtc.NVRTCError: NVRTC_ERROR_COMPILATION', 'nvrtc-jit'],
  ['g++: fatal error: Killed signal terminated program cc1plus\ncompilation terminated.', 'compiler-killed'],
  ["nvcc error   : 'cicc' died due to signal 9 (Kill signal)", 'compiler-killed'],
  ['ERROR: failed to solve: nvidia/cuda:12.4.1-cudnn-devel-ubuntu99.04: failed to resolve source metadata for docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu99.04: docker.io/nvidia/cuda:12.4.1-cudnn-devel-ubuntu99.04: not found', 'base-image-missing'],
  ['ERROR: failed to solve: 127.0.0.1:5000/nope:1: failed to resolve source metadata for 127.0.0.1:5000/nope:1: 127.0.0.1:5000/nope:1: not found', 'base-image-missing'],
  ['denied: requested access to the resource is denied', 'registry-auth'],
  ['unauthorized: authentication required', 'registry-auth'],
  ['ERROR: failed to solve: failed to copy: write /var/lib/buildkit/x: no space left on device', 'disk-full'],
  ['LibMambaUnsatisfiableError: Encountered problems while solving:\n  - nothing provides cuda-version 99 needed by x', 'conda-solve'],
  ['ERROR: failed to solve: target stage "runtme" could not be found', 'target-missing'],
  ['smoke run timed out after 900 s.', 'smoke-timeout'],
  // src/smoke.ts's own words for an Engine that went away (the CLI's "Cannot connect" comes with it) and an OOM kill
  ['The smoke run failed: the Docker Engine stopped answering during the smoke run (docker run exited 125: error waiting for container: unexpected EOF).\ndocker: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?', 'engine-gone'],
  ['docker version did not finish within 60 s and was killed', 'docker-not-answering'],
  ['The smoke run failed: the smoke container ran out of memory and the kernel killed it (OOMKilled, exit code 137).', 'smoke-oom'],
  // the runner setups of the README's table: Engine 20.10's BuildKit, the docker driver's classic store,
  // an Engine without its bridge, a runc without time namespaces
  ['ERROR: failed to build: failed to solve: rpc error: code = Unknown desc = failed to solve with frontend dockerfile.v0: unsupported frontend capability moby.buildkit.frontend.contexts', 'named-contexts'],
  ['ERROR: failed to build: Cache export is not supported for the docker driver.\nSwitch to a different driver, or turn on the containerd image store, and try again.\nLearn more at https://docs.docker.com/go/build-cache-backends/', 'cache-export'],
  ['ERROR: Cache export feature is currently not supported for docker driver. Please switch to a different driver (eg. "docker buildx create --use")', 'cache-export'],
  ['#6 [conda-env 2/3] RUN sh /pcb/create-env.sh\n#6 ERROR: network bridge not found\nERROR: failed to solve: network bridge not found', 'bridge-missing'],
  ['ERROR: failed to solve: dockerfile parse error on line 38: Unknown flag: checksum', 'dockerfile-syntax'],
  ['docker: Error response from daemon: failed to create task for container: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: namespace {"time" ""} does not exist: unknown.', 'time-namespace'],
  ['sh: python: not found', undefined],
  ['all good', undefined],
];

describe('classify', () => {
  it.each(CASES)('%s', (text, id) => {
    expect(classify(text)?.id).toBe(id);
  });
  it('gives one line and a hint for every known failure', () => {
    for (const [text, id] of CASES) {
      if (!id) continue;
      const d = classify(text)!;
      expect(d.title).not.toContain('\n');
      expect(d.hint.length).toBeGreaterThan(10);
    }
  });
  it('names the fix of each runner setup', () => {
    expect(classify('unsupported frontend capability moby.buildkit.frontend.contexts')!.hint).toMatch(/Docker Engine to 23\.0 .*docker-container builder/);
    expect(classify('Cache export is not supported for the docker driver.')!.hint).toMatch(/containerd image store.*docker-container builder/);
    expect(classify('network bridge not found')!.hint).toContain('bridge');
    expect(classify('namespace {"time" ""} does not exist')!.hint).toMatch(/runc to 1\.2.*time-namespaces/);
  });
  it('points "no kernel image" at the arch list and the killed compiler at max-jobs', () => {
    expect(classify('no kernel image is available for execution on the device')!.hint).toContain('torch-cuda-arch-list');
    expect(classify('Killed signal terminated program cc1plus')!.hint).toContain('max-jobs');
    expect(classify('nvrtc: error: x')!.hint).toContain('SPCONV_DISABLE_JIT');
  });
});

describe('tail', () => {
  it('keeps the last non-empty lines', () => {
    expect(tail('a\n\nb\nc\n\n', 2)).toBe('b\nc');
  });
});

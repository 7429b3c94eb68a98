// The action's typed errors, and known failures -> one clear line and a hint. Each rule matches text
// that docker, buildx, BuildKit, runc, the NVIDIA container toolkit, nvcc or PyTorch really print.
import type { Finding } from './preflight.js';

export interface Diagnosis { id: string; title: string; hint: string; match: string }

interface Rule { id: string; re: RegExp; title: string; hint: string }

export const ERROR_RULES: Rule[] = [
  { id: 'docker-missing', re: /Unable to locate executable file: docker|docker: (command )?not found/i,
    title: 'The docker CLI is not installed on this runner.',
    hint: 'Install Docker Engine with the buildx plugin on the runner (see "Runner requirements" in the README).' },
  { id: 'buildx-missing', re: /'buildx' is not a docker command|unknown command: docker buildx|docker: unknown command.*buildx/i,
    title: 'docker buildx is not installed.',
    hint: 'Install the docker-buildx plugin (package docker-buildx-plugin or docker-buildx), or run docker/setup-buildx-action before this step.' },
  // before daemon-unreachable: the CLI's "Cannot connect" in the smoke log is the effect, not the cause
  { id: 'engine-gone', re: /Docker Engine stopped answering during the smoke run/,
    title: 'The daemon stopped, crashed or froze while the job ran.',
    hint: 'Check the Docker daemon on the runner (systemctl status docker; journalctl -u docker) for what stopped or restarted it (an upgrade, a restart, the OOM killer) and rerun the job; the post step removes the smoke container once the Engine answers again.' },
  { id: 'docker-not-answering', re: /docker \S+ did not finish within \d+(?:\.\d+)? s and was killed/,
    title: 'The Docker Engine did not answer.',
    hint: 'dockerd may be frozen or overloaded: check it (systemctl status docker; docker info) and restart it if it hangs.' },
  { id: 'smoke-oom', re: /smoke container ran out of memory/,
    title: 'The kernel\'s out-of-memory killer stopped the smoke run.',
    hint: 'Free memory on the runner (other jobs, a memory limit on the Engine or its cgroup) or give it more.' },
  { id: 'daemon-unreachable', re: /Cannot connect to the Docker daemon|permission denied while trying to connect to the Docker daemon|error during connect/i,
    title: 'The Docker daemon is not reachable.',
    hint: 'Start dockerd, check DOCKER_HOST, and add the runner user to the docker group.' },
  { id: 'builder-missing', re: /no builder "?[^"\s]*"? found|no builder .* found/i,
    title: 'The buildx builder named by the input "builder" does not exist.',
    hint: 'Create it (docker buildx create --name NAME ...) or leave "builder" empty to use the current one.' },
  { id: 'no-gpu', re: /could not select device driver "[^"]*" with capabilities: \[\[gpu\]\]|nvidia-container-cli: initialization error|NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver|no CUDA-capable device is detected|Found no NVIDIA driver on your system/i,
    title: 'No usable NVIDIA GPU reaches the container.',
    hint: 'Install the NVIDIA driver and the NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker; restart dockerd), or set gpu: false to skip the GPU checks.' },
  { id: 'driver-too-old', re: /CUDA driver version is insufficient for CUDA runtime version|The NVIDIA driver on your system is too old|unsatisfied condition: cuda>=|please update your driver to a newer version/i,
    title: 'The NVIDIA driver is too old for CUDA 12.4.',
    hint: 'Update the runner\'s driver to 550.54.14 or newer.' },
  { id: 'no-kernel-image', re: /no kernel image is available for execution on the device/i,
    title: 'The extensions were not compiled for this GPU ("no kernel image is available").',
    hint: 'Add the GPU\'s compute capability to torch-cuda-arch-list (or use torch-cuda-arch-list: auto on the runner that runs the image).' },
  { id: 'nvrtc-jit', re: /nvrtc(?:: error|\s+error|Error|_ERROR)|NVRTC_ERROR|cumm\.nvrtc|JIT compil\w* (failed|error)|CUDA_ERROR_(UNSUPPORTED_PTX_VERSION|INVALID_PTX|JIT_COMPILER)/i,
    title: 'spconv/cumm failed to JIT-compile a kernel with NVRTC.',
    hint: 'Run with SPCONV_DISABLE_JIT=1 so spconv uses its prebuilt kernels, and check that the driver supports the image\'s CUDA version.' },
  { id: 'compiler-killed', re: /Killed signal terminated program cc1plus|'cicc' died due to signal 9|died due to signal 9 \(Kill signal\)|c\+\+: fatal error: Killed|cc1plus: out of memory/i,
    title: 'The compiler was killed, most likely out of memory.',
    hint: 'Lower max-jobs (e.g. max-jobs: 2) or give the builder more memory.' },
  { id: 'base-image-missing', re: /failed to resolve source metadata for \S+.*not found|pull access denied for \S+, repository does not exist|manifest for \S+ not found/i,
    title: 'The base image was not found.',
    hint: 'Check the input base-image (or BASE_IMAGE in the Dockerfile) and that the runner can reach its registry; log in first with docker/login-action for private images.' },
  { id: 'registry-auth', re: /denied: requested access to the resource is denied|unauthorized: authentication required|no basic auth credentials|insufficient_scope/i,
    title: 'The registry refused the credentials.',
    hint: 'Log in before this step with docker/login-action (with packages: write for ghcr.io).' },
  { id: 'disk-full', re: /no space left on device/i,
    title: 'The runner ran out of disk space.',
    hint: 'Free space (docker system prune, docker buildx prune) or lower cache-max-size; the image with its build cache needs about 40 GB.' },
  { id: 'conda-solve', re: /LibMambaUnsatisfiableError|Could not solve for environment specs|PackagesNotFoundError|UnsatisfiableError/i,
    title: 'conda/mamba could not solve the environment.',
    hint: 'Check the packages and channels in environment-file; pin with lock-file to reuse a known-good solve.' },
  { id: 'target-missing', re: /target stage "?[^"\s]+"? could not be found/i,
    title: 'The target stage is not in the Dockerfile.',
    hint: 'Check the input target against the FROM ... AS names of the Dockerfile.' },
  { id: 'named-contexts', re: /unsupported frontend capability moby\.buildkit\.frontend\.contexts/,
    title: 'The builder\'s BuildKit cannot take named build contexts (Docker Engine before 23.0).',
    hint: 'Upgrade Docker Engine to 23.0 or newer, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one).' },
  { id: 'dockerfile-syntax', re: /Unknown flag: (?:checksum|chmod|link|exclude|parents)\b/,
    title: 'The builder\'s Dockerfile frontend is older than the syntax the Dockerfile uses.',
    hint: 'Upgrade Docker Engine, or name a docker-container builder in the input "builder" (docker/setup-buildx-action creates one), or make "# syntax=docker/dockerfile:1" the Dockerfile\'s first line.' },
  { id: 'cache-export', re: /Cache export is not supported for the docker driver|Cache export feature is currently not supported for docker driver/i,
    title: 'The docker driver cannot export a layer cache without the containerd image store.',
    hint: 'Turn on the containerd image store ("features": {"containerd-snapshotter": true} in daemon.json) or use a docker-container builder (docker/setup-buildx-action); or leave the input cache-to empty.' },
  { id: 'bridge-missing', re: /network bridge not found/i,
    title: 'The Docker Engine has no default bridge network for the build\'s RUN steps (dockerd runs with --bridge=none).',
    hint: 'Start dockerd with its default bridge, or build with a docker-container or remote builder.' },
  { id: 'time-namespace', re: /namespace \{"time" ""\} does not exist/,
    title: 'The container runtime (runc) is too old for the time namespace the Engine asks for.',
    hint: 'Upgrade runc to 1.2 or newer, or set "features": {"time-namespaces": false} in daemon.json and restart dockerd.' },
  { id: 'smoke-timeout', re: /smoke run timed out/i,
    title: 'The smoke tests did not finish within smoke-timeout.',
    hint: 'Raise smoke-timeout, or look at the last lines of the smoke log for the check that hangs (a GPU kernel waiting on a busy device is common).' },
];

/** The first known failure in text, or undefined. */
export function classify(text: string): Diagnosis | undefined {
  for (const r of ERROR_RULES) {
    const m = r.re.exec(text);
    if (m) return { id: r.id, title: r.title, hint: r.hint, match: m[0] };
  }
  return undefined;
}

/** The last n non-empty lines of a log. */
export function tail(text: string, n = 30): string {
  return text.split(/\r?\n/).filter((l) => l.trim() !== '').slice(-n).join('\n');
}

/** Bad inputs: one line each, all found in one pass, before any command runs. */
export class InputError extends Error {
  constructor(readonly lines: string[]) {
    super(lines.join('\n'));
    this.name = 'InputError';
  }
}

/** What an input parser returns instead of a value when the text is not accepted. */
export class Rejection {
  constructor(readonly lines: string[]) {}
}

/** The one style of every input error. */
export function notAccepted(input: string, value: string, accepted: string): string {
  return `Input "${input}": ${JSON.stringify(value)} is not accepted; ${accepted}.`;
}

/** Preflight found what would make the run fail (each finding is already annotated). */
export class PreflightError extends Error {
  constructor(readonly findings: Finding[]) {
    super(findings.map((f) => f.message).join('; '));
    this.name = 'PreflightError';
  }
}

/** A failure of one stage of the pipeline, with what the log said. */
export class StepError extends Error {
  constructor(readonly step: string, message: string, readonly log = '', readonly diagnosis = classify(`${message}\n${log}`)) {
    super(message);
    this.name = 'StepError';
  }
}

/** The one line a failed step ends with: what failed, the known cause and its hint. */
export function failureLine(step: string, message: string, d?: Diagnosis): string {
  return d ? `${step}: ${message} ${d.title} Hint: ${d.hint}` : `${step}: ${message}`;
}

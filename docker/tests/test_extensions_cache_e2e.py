"""docker/Dockerfile.gpu's `extensions` and `runtime` stages built for real on CI's BuildKit, one
change at a time: what each change re-runs, and what the compiler cache in its cache mount gives
back. What is real: BuildKit and its cache mounts, the text of both stages, docker/
build-extensions.sh, ccache, gcc, and the smoke tests' files where the image puts them.

STAND-INS (nothing can be pulled and there is no CUDA here): the base image (Debian 12 with gcc,
g++, ccache and python3, made by make_compiler_base.sh) replaces nvidia/cuda; the conda-env
stage's RUN is replaced by a COPY of the shell scripts in extensions_standin/ (the env's python,
nvcc, and apt-get); libs/ holds small C++ "extensions" with real compile time and no CUDA code,
whose sources carry a salt of this test session so that no other run's cache entries match them.
nvcc through ccache is measured on a GPU host instead (libs/bench/bench_compile_cache.sh).
"""
import hashlib
import re
import shutil
import subprocess
import uuid

import pytest

from docker_test_paths import DOCKER_DIR, REPO, require_services

pytestmark = pytest.mark.services

STANDIN = DOCKER_DIR / "tests" / "extensions_standin"
BASE_SCRIPT = DOCKER_DIR / "tests" / "make_compiler_base.sh"
LIBS = {"pointops": 6, "pointgroup_ops": 3}  # stand-in source files per library
SOURCES = sum(LIBS.values())
CONDA_ENV_RUN = re.compile(
    r"^RUN --mount=type=bind,from=env-spec.*?sh /pcb/create-env\.sh create\n", re.M | re.S)
STANDIN_ENV = """# STAND-IN (test_extensions_cache_e2e.py): the env's python and nvcc, and apt-get.
COPY standin/python standin/nvcc /opt/conda/envs/${ENV_NAME}/bin/
COPY standin/apt-get /usr/local/bin/apt-get
"""

# The steps of the two stages, found by their instruction text.
BUILD = "[extensions", "sh /pcb/build-extensions.sh"
APT = "[runtime", "apt-get update"
WHEELS = "[runtime", "pip install --no-deps"
SMOKE_COPY = "[runtime", "COPY docker/pcb_smoke/"
SMOKE_RUN = "[runtime", "smoke_tests.py --no-gpu"
ENTRYPOINT = "[runtime", "docker/entrypoint.sh"


def standin_dockerfile():
    """docker/Dockerfile.gpu with only the conda-env stage's RUN replaced by the stand-in."""
    text = (DOCKER_DIR / "Dockerfile.gpu").read_text()
    new, count = CONDA_ENV_RUN.subn(STANDIN_ENV, text)
    assert count == 1, "the conda-env stage's create-env RUN was not found in Dockerfile.gpu"
    return new


def source(lib, i, salt):
    # Standard-library templates give each file about a second of real compile time.
    return f"""// STAND-IN extension source {lib}/op{i}.cpp
#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

extern "C" const char* {lib}_salt{i}() {{ return "{salt}"; }}
// The arch list reaches the object as torch's -gencode flags reach nvcc's output.
extern "C" const char* {lib}_arch{i}() {{ return PCB_ARCH_LIST; }}

extern "C" int {lib}_op{i}(const char* text) {{
  std::istringstream words(text);
  std::map<std::string, int> seen;
  for (std::string w; words >> w;) seen[w] += 1;
  std::vector<int> counts;
  for (const auto& kv : seen) counts.push_back(kv.second);
  std::sort(counts.begin(), counts.end());
  return counts.empty() ? 0 : counts.back() + {i};
}}
"""


class Build:
    def __init__(self, proc):
        self.code = proc.returncode
        self.log = proc.stdout + proc.stderr
        names, cached, done = {}, set(), set()
        for line in self.log.splitlines():
            match = re.match(r"#(\d+) (.*)$", line)
            if not match:
                continue
            step, rest = match.groups()
            if rest.startswith("["):
                names.setdefault(step, rest)
            elif rest == "CACHED":
                cached.add(step)
            elif rest.startswith("DONE"):
                done.add(step)
        self.steps = {name: ("cached" if step in cached else "ran" if step in done else "?")
                      for step, name in names.items()}

    def executed(self):
        """The instructions of the Dockerfile's stages that ran (not the FROM lines, nor
        BuildKit's own [internal] steps, which run on every build)."""
        return [name for name, status in self.steps.items()
                if status != "cached" and re.match(r"\[[\w-]+ \d+/\d+\] (?!FROM )", name)]

    def status(self, step):
        stage, text = step
        found = [s for name, s in self.steps.items() if name.startswith(stage) and text in name]
        assert len(found) == 1, \
            f"step {step} is not in the log once: {list(self.steps)}\n{self.log}"
        return found[0]

    def cache_counts(self):
        """(hits, misses) that build-extensions.sh reported for this build."""
        found = re.findall(r"build-extensions: compiler cache: (\d+) hits, (\d+) misses", self.log)
        assert len(found) == 1, self.log
        return tuple(map(int, found[0]))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    builder, registry = require_services("PCB_BUILDER", "PCB_REGISTRY")
    tag = hashlib.sha256(BASE_SCRIPT.read_bytes()).hexdigest()[:12]
    base = f"{registry}/pcb-compiler-base:bookworm-{tag}"
    made = subprocess.run(["bash", str(BASE_SCRIPT), base], capture_output=True, text=True,
                          timeout=1800)
    assert made.returncode == 0, made.stdout + made.stderr

    ctx = tmp_path_factory.mktemp("extensions-ctx")
    (ctx / "docker").mkdir()
    (ctx / "docker" / "Dockerfile.gpu").write_text(standin_dockerfile())
    for name in ("Dockerfile.gpu.dockerignore", "build-extensions.sh", "smoke_tests.py",
                 "entrypoint.sh", "create-env.sh"):
        shutil.copy(DOCKER_DIR / name, ctx / "docker" / name)
    shutil.copytree(DOCKER_DIR / "pcb_smoke", ctx / "docker" / "pcb_smoke",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "environment.yml", ctx / "environment.yml")
    shutil.copytree(STANDIN, ctx / "standin")
    salt = uuid.uuid4().hex
    for lib, count in LIBS.items():
        (ctx / "libs" / lib / "src").mkdir(parents=True)
        (ctx / "libs" / lib / "README.md").write_text(f"stand-in library {lib}\n")
        for i in range(count):
            (ctx / "libs" / lib / "src" / f"op{i}.cpp").write_text(source(lib, i, salt))

    def build(*extra):
        cmd = ["docker", "buildx", "build", "--builder", builder, "--progress=plain",
               "-f", str(ctx / "docker" / "Dockerfile.gpu"), "--target", "runtime",
               "--build-arg", f"BASE_IMAGE={base}", "--output", "type=cacheonly", *extra,
               str(ctx)]
        return Build(subprocess.run(cmd, capture_output=True, text=True, timeout=900))

    return ctx, build, base


def edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


# The cases run in order, each one against the cache the ones before it left.

def test_cold_build_compiles_everything_and_derives_max_jobs(project):
    ctx, build, _ = project
    b = build()
    assert b.code == 0, b.log
    assert b.status(BUILD) == "ran" and b.cache_counts() == (0, SOURCES)
    # MAX_JOBS is empty by default: one job per CPU of the builder, at most one per 4 GiB.
    jobs, cpus, gib = map(int, re.search(
        r"build-extensions: MAX_JOBS=(\d+) \((\d+) CPUs, (\d+) GiB of memory\)", b.log).groups())
    assert jobs == max(1, min(cpus, gib // 4)), b.log
    assert "PCB-STANDIN-PIP-INSTALL: /pcb/wheels/pointgroup_ops-1.0.0-standin.whl " \
           "/pcb/wheels/pointops-1.0.0-standin.whl" in b.log
    # the smoke tests' command line imports its package where the image puts it
    assert "pointgroup_ops_gpu" in b.log and b.status(SMOKE_RUN) == "ran"


def test_nothing_changed_is_all_cache_hits(project):
    _, build, _ = project
    b = build()
    assert b.code == 0, b.log
    assert b.executed() == [], f"steps that ran with nothing changed: {b.executed()}"
    assert "build-extensions:" not in b.log


def test_a_smoke_test_change_reruns_only_the_smoke_layers(project):
    ctx, build, _ = project
    edit(ctx / "docker" / "pcb_smoke" / "report.py", "SCHEMA = 1\n", "SCHEMA = 1  # edited\n")
    b = build()
    assert b.code == 0, b.log
    assert [b.status(s) for s in (BUILD, APT, WHEELS)] == ["cached"] * 3
    assert [b.status(s) for s in (SMOKE_COPY, SMOKE_RUN)] == ["ran"] * 2


def test_an_entrypoint_change_reruns_no_check(project):
    ctx, build, _ = project
    edit(ctx / "docker" / "entrypoint.sh", "\n", "\n# edited\n")
    b = build()
    assert b.code == 0, b.log
    assert [b.status(s) for s in (BUILD, WHEELS, SMOKE_RUN)] == ["cached"] * 3
    assert b.status(ENTRYPOINT) == "ran"


def test_a_libs_change_that_builds_the_same_wheels_keeps_the_runtime_cached(project):
    ctx, build, _ = project
    edit(ctx / "libs" / "pointops" / "README.md", "\n", " (edited)\n")
    # A comment is a miss of ccache's direct mode and a hit of its preprocessor mode.
    edit(ctx / "libs" / "pointops" / "src" / "op2.cpp", "#include <algorithm>\n",
         "#include <algorithm>  // a comment\n")
    b = build()
    assert b.code == 0, b.log
    assert b.status(BUILD) == "ran" and b.cache_counts() == (SOURCES, 0)
    # SOURCE_DATE_EPOCH makes the wheels byte-identical; the runtime binds them by content.
    assert [b.status(s) for s in (WHEELS, SMOKE_RUN)] == ["cached"] * 2


def test_one_source_change_recompiles_that_file_only(project):
    ctx, build, _ = project
    edit(ctx / "libs" / "pointops" / "src" / "op1.cpp", "+= 1;", "+= 2;")
    b = build()
    assert b.code == 0, b.log
    assert b.status(BUILD) == "ran" and b.cache_counts() == (SOURCES - 1, 1)
    assert b.status(APT) == "cached"
    assert [b.status(s) for s in (WHEELS, SMOKE_RUN)] == ["ran"] * 2


def test_another_arch_list_misses_every_object(project):
    _, build, _ = project
    b = build("--build-arg", "TORCH_CUDA_ARCH_LIST=8.0;9.0")
    assert b.code == 0, b.log
    assert b.cache_counts() == (0, SOURCES)


def test_a_new_revision_label_reruns_nothing(project):
    _, build, _ = project
    b = build("--build-arg", "IMAGE_REVISION=0123456789abcdef")
    assert b.code == 0, b.log
    assert b.executed() == []


def test_max_jobs_given_is_used_and_checked(project):
    _, build, _ = project
    b = build("--build-arg", "MAX_JOBS=3")
    assert b.code == 0, b.log
    assert "build-extensions: MAX_JOBS=3 (" in b.log and b.cache_counts() == (SOURCES, 0)
    assert [b.status(s) for s in (WHEELS, SMOKE_RUN)] == ["cached"] * 2
    b = build("--build-arg", "MAX_JOBS=lots")
    assert b.code != 0
    assert ("build-extensions: error: MAX_JOBS='lots' is not accepted: a whole number from 1, "
            "or empty for one job per CPU (at most one per 4 GiB of memory)") in b.log


def test_another_compiler_misses_every_object(project, tmp_path):
    """The compiler identity reaches ccache's key: the same build in a container of the base
    image, again with CC naming a compiler whose banner differs (nvcc runs CC as its host
    compiler when it is set), then as before."""
    ctx, _, base = project
    other = tmp_path / "bin" / "other-gcc"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'other-gcc 99.1' && exit 0\n"
                     "exec gcc \"$@\"\n")
    other.chmod(0o755)
    script = ("set -e; export CCACHE_DIR=/cache PATH=/opt/env/bin:$PATH MAX_JOBS=2; "
              "run() { rm -rf /w && cp -r /ctx/libs /w && "
              "sh /ctx/docker/build-extensions.sh /w/wheels /w/pointgroup_ops 2>&1"
              " | grep 'compiler cache:'; }; "
              "run; CC=/tools/other-gcc run; run")
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{ctx}:/ctx:ro",
         "-v", f"{STANDIN}:/opt/env/bin:ro", "-v", f"{other.parent}:/tools:ro",
         "--tmpfs", "/cache", base, "sh", "-c", script],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = re.findall(r"compiler cache: (\d+) hits, (\d+) misses", proc.stdout)
    n = LIBS["pointgroup_ops"]
    assert counts == [("0", str(n)), ("0", str(n)), (str(n), "0")], proc.stdout

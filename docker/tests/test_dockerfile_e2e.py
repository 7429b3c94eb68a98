"""docker/Dockerfile.gpu built for real on CI's BuildKit, up to the env stages. Stand-ins (named
so): no conda channel and no Docker Hub are reachable from CI, so the base image is CI's busybox
image (PCB_BASE_IMAGE) and Miniforge is the env-cache fixture's stand-in installer, whose `mamba`
records the environment file's pins instead of downloading. What is real: BuildKit, the stages,
their mounts and build contexts, docker/create-env.sh and this repository's environment.yml."""
import hashlib
import json
import subprocess

import pytest

from docker_test_paths import DOCKER_DIR, REPO, require_services

pytestmark = pytest.mark.services

STANDIN_DIR = REPO / "__tests__" / "env-cache" / "fixture" / "standin"
STANDIN_VERSION = "0.0.1-standin"
STANDIN = STANDIN_DIR / f"Miniforge3-{STANDIN_VERSION}-Linux-x86_64.sh"


@pytest.fixture(scope="module")
def build():
    builder, base = require_services("PCB_BUILDER", "PCB_BASE_IMAGE")
    if not STANDIN.is_file():
        pytest.skip(f"the stand-in Miniforge installer {STANDIN} is missing")
    sha = hashlib.sha256(STANDIN.read_bytes()).hexdigest()

    def run(target, dest, *extra, output=None):
        cmd = ["docker", "buildx", "build", "--builder", builder, "--progress=plain",
               "-f", str(DOCKER_DIR / "Dockerfile.gpu"), "--target", target,
               "--build-arg", f"BASE_IMAGE={base}",
               "--build-arg", f"MINIFORGE_VERSION={STANDIN_VERSION}",
               "--build-arg", f"MINIFORGE_SHA256={sha}",
               "--build-context", f"miniforge={STANDIN_DIR}",
               "--output", output or f"type=local,dest={dest}", *extra, str(REPO)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr

    return run


def test_env_lock_then_the_saved_stage_replaces_conda_env(build, tmp_path):
    code, log = build("env-lock", tmp_path / "lock1", "--no-cache")
    assert code == 0, log
    lock = (tmp_path / "lock1" / "environment.lock").read_text()
    assert "@EXPLICIT" in lock and "\n# pip:\n" in lock
    pip = lock.split("\n# pip:\n", 1)[1].split()
    assert "spconv-cu124==2.3.8" in pip and "torch-scatter==2.1.2" in pip
    assert not [line for line in pip if "libs/" in line], "local libs/ must not be in the env"
    assert "left out of the pip section" in log

    # The env cache's save: the conda-env stage as an OCI layout (what a local entry holds).
    layout = tmp_path / "layout"
    code, log = build("conda-env", None, "--provenance=false",
                      output=f"type=oci,tar=false,dest={layout},compression=uncompressed")
    assert code == 0, log
    digest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]

    # A cold build given that image as the conda-env context takes the env from it: no installer, no solve.
    code, log = build("env-lock", tmp_path / "lock2", "--no-cache",
                      "--build-context", f"conda-env=oci-layout://{layout}@{digest}")
    assert code == 0, log
    assert "PCB-STANDIN-MINIFORGE" not in log and "PCB-STANDIN-MAMBA" not in log
    assert (tmp_path / "lock2" / "environment.lock").read_text() == lock


def test_wrong_miniforge_checksum_fails_closed(build, tmp_path):
    code, log = build("env-lock", tmp_path / "lock", "--no-cache",
                      "--build-arg", "MINIFORGE_SHA256=" + "0" * 64)
    assert code != 0
    assert "sha256" in log and "expected " + "0" * 64 in log

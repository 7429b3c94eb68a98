"""docker/Dockerfile.gpu built for real on CI's BuildKit, up to the env stages. Stand-ins (named
so): no conda channel and no Docker Hub are reachable from CI, so the base image is CI's busybox
image (PCB_BASE_IMAGE) and Miniforge is the env-cache fixture's stand-in installer, whose `mamba`
records the environment file's pins instead of downloading. What is real: BuildKit, the stages,
their mounts and build contexts, docker/create-env.sh and this repository's environment.yml."""
import hashlib
import shutil
import subprocess
import tarfile

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

    def run(target, dest, *extra):
        cmd = ["docker", "buildx", "build", "--builder", builder, "--progress=plain",
               "-f", str(DOCKER_DIR / "Dockerfile.gpu"), "--target", target,
               "--build-arg", f"BASE_IMAGE={base}",
               "--build-arg", f"MINIFORGE_VERSION={STANDIN_VERSION}",
               "--build-arg", f"MINIFORGE_SHA256={sha}",
               "--build-context", f"miniforge={STANDIN_DIR}",
               "--output", f"type=local,dest={dest}", *extra, str(REPO)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr

    return run


def test_env_lock_and_export_then_restore(build, tmp_path):
    code, log = build("env-export", tmp_path / "export", "--no-cache")
    assert code == 0, log
    lock = (tmp_path / "export" / "environment.lock").read_text()
    assert "@EXPLICIT" in lock and "\n# pip:\n" in lock
    pip = lock.split("\n# pip:\n", 1)[1].split()
    assert "spconv-cu124==2.3.8" in pip and "torch-scatter==2.1.2" in pip
    assert not [line for line in pip if "libs/" in line], "local libs/ must not be in the env"
    assert "left out of the pip section" in log
    with tarfile.open(tmp_path / "export" / "env.tar") as tar:
        names = tar.getnames()
    assert "conda/envs/pointcept-torch2.5.0-cu12.4" in names
    assert "conda/.pcb-env-source" in names

    # A cold build with the exported env.tar as env-cache restores it: no installer, no solve.
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(tmp_path / "export" / "env.tar", cache / "env.tar")
    code, log = build("env-lock", tmp_path / "lock", "--no-cache",
                      "--build-context", f"env-cache={cache}")
    assert code == 0, log
    assert "restoring the environment from the env cache" in log
    assert "PCB-STANDIN-MINIFORGE" not in log and "PCB-STANDIN-MAMBA" not in log
    assert (tmp_path / "lock" / "environment.lock").read_text() == lock


def test_wrong_miniforge_checksum_fails_closed(build, tmp_path):
    code, log = build("env-lock", tmp_path / "lock", "--no-cache",
                      "--build-arg", "MINIFORGE_SHA256=" + "0" * 64)
    assert code != 0
    assert "sha256" in log and "expected " + "0" * 64 in log

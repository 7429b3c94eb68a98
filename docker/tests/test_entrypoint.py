"""docker/entrypoint.sh: shellcheck, the driver check with a stand-in nvidia-smi on PATH (this
machine has no GPU), and running the given command or the default shell."""
import os
import shutil
import subprocess

import pytest

from docker_test_paths import DOCKER_DIR

ENTRYPOINT = DOCKER_DIR / "entrypoint.sh"


def test_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run(["shellcheck", str(ENTRYPOINT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def run_entrypoint(tmp_path, args, smi_output=None, smi_status=0, env=None, stdin=""):
    """Run entrypoint.sh with a stand-in nvidia-smi (printing smi_output) first on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if smi_output is not None:
        smi = bindir / "nvidia-smi"
        smi.write_text(f"#!/bin/sh\nprintf '%s\\n' '{smi_output}'\nexit {smi_status}\n")
        smi.chmod(0o755)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PCB_")}
    full_env["PATH"] = f"{bindir}:{os.environ['PATH']}"
    full_env["PCB_COMPAT_DIR"] = str(tmp_path / "compat")
    full_env.update(env or {})
    return subprocess.run(["sh", str(ENTRYPOINT), *args], capture_output=True, text=True,
                          env=full_env, input=stdin, timeout=60)


def test_new_driver_is_silent_and_runs_the_command(tmp_path):
    proc = run_entrypoint(tmp_path, ["echo", "ran", "two words"], smi_output="560.35.03")
    assert proc.returncode == 0 and proc.stdout == "ran two words\n" and proc.stderr == ""


def test_exact_minimum_driver_is_accepted(tmp_path):
    proc = run_entrypoint(tmp_path, ["true"], smi_output="550.54.14")
    assert proc.returncode == 0 and proc.stderr == ""


def test_old_driver_is_explained(tmp_path):
    proc = run_entrypoint(tmp_path, ["echo", "still runs"], smi_output="470.82.01")
    assert proc.returncode == 0 and proc.stdout == "still runs\n"
    assert "NVIDIA driver 470.82.01 is too old for CUDA 12.4: it needs >= 550.54.14" in proc.stderr
    assert "Upgrade the host's NVIDIA driver" in proc.stderr


def test_old_driver_strict_mode_stops(tmp_path):
    proc = run_entrypoint(tmp_path, ["echo", "never"], smi_output="470.82.01",
                          env={"PCB_DRIVER_CHECK": "strict"})
    assert proc.returncode == 3 and proc.stdout == ""
    assert "stopping: PCB_DRIVER_CHECK=strict" in proc.stderr


def test_old_driver_with_forward_compat_libs(tmp_path):
    compat = tmp_path / "compat"
    compat.mkdir()
    (compat / "libcuda.so.550.54.15").write_text("stand-in")
    proc = run_entrypoint(tmp_path, ["true"], smi_output="470.82.01")
    assert "forward-compatibility libraries are in" in proc.stderr
    assert "LD_LIBRARY_PATH=" + str(compat) in proc.stderr


def test_minor_version_compatible_driver_warns(tmp_path):
    proc = run_entrypoint(tmp_path, ["true"], smi_output="535.104.05")
    assert proc.returncode == 0
    assert "535.104.05 is older than 550.54.14" in proc.stderr
    assert "minor-version compatibility" in proc.stderr


def test_failing_nvidia_smi_is_reported(tmp_path):
    proc = run_entrypoint(tmp_path, ["true"], smi_status=18,
                          smi_output="Failed to initialize NVML: Driver/library version mismatch")
    assert proc.returncode == 0
    assert "nvidia-smi failed: Failed to initialize NVML" in proc.stderr


def test_unreadable_driver_version(tmp_path):
    proc = run_entrypoint(tmp_path, ["true"], smi_output="N/A")
    assert "could not read the NVIDIA driver version" in proc.stderr


def test_without_gpu_it_is_silent(tmp_path):
    if shutil.which("nvidia-smi"):
        pytest.skip("a real nvidia-smi is on PATH here")
    proc = run_entrypoint(tmp_path, ["echo", "cpu only"])
    assert proc.returncode == 0 and proc.stdout == "cpu only\n" and proc.stderr == ""


def test_no_command_starts_a_shell(tmp_path):
    proc = run_entrypoint(tmp_path, [], smi_output="560.35.03", stdin="echo from-the-shell $((6*7))\n")
    assert proc.returncode == 0 and proc.stdout == "from-the-shell 42\n"


def test_bad_mode_is_rejected(tmp_path):
    proc = run_entrypoint(tmp_path, ["true"], env={"PCB_DRIVER_CHECK": "loud"})
    assert proc.returncode == 2
    assert "PCB_DRIVER_CHECK='loud' is not one of warn, strict, off" in proc.stderr


def test_exit_status_of_the_command_is_kept(tmp_path):
    proc = run_entrypoint(tmp_path, ["sh", "-c", "exit 7"], smi_output="560.35.03")
    assert proc.returncode == 7

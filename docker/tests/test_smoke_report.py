"""smoke_tests.py run as the image runs it: report schema, --no-gpu, GPU checks without a GPU,
"not installed", crashes and hangs in child processes, --only/--skip/--optional, expectations."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import jsonschema  # a dependency of these tests (.ci/requirements.txt): missing is a failure
import pytest

from docker_test_paths import DOCKER_DIR, SCHEMA, SMOKE
from pcb_smoke.checks import CHECKS
from pcb_smoke.core import missing_modules

JIT_ENV = {"SPCONV_DISABLE_JIT": "1", "CUMM_DISABLE_JIT": "1"}


def validate(report):
    jsonschema.validate(report, json.loads(SCHEMA.read_text()))


def torch_has_gpu():
    import torch

    return torch.cuda.is_available()


def test_no_gpu_run_passes_for_what_is_installed(run_smoke):
    # Packages this machine lacks are skipped; everything else must pass, GPU checks are skipped.
    absent = [c.name for c in CHECKS if missing_modules(c.needs)]
    args = ["--no-gpu"] + (["--skip", ",".join(absent)] if absent else [])
    run = run_smoke(*args, env=JIT_ENV)
    assert run.report is not None, run.stderr
    validate(run.report)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.report["ok"] is True and run.report["complete"] is True
    assert run.report["mode"] == "no-gpu" and run.report["gpu"] is None
    names = [c["name"] for c in run.report["checks"]]
    assert names == [c.name for c in CHECKS if c.name not in absent]
    for check in CHECKS:
        if check.name in absent:
            continue
        result = run.check(check.name)
        if check.gpu:
            assert result["skipped"] is True and result["required"] is False
            assert result["detail"] == "skipped: --no-gpu"
        else:
            assert result["ok"] is True, result
            assert result["name"] in run.stdout
    import torch

    assert run.report["versions"]["torch"] == torch.__version__
    assert run.report["versions"]["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert run.stdout.strip().splitlines()[-1].startswith("OK:")


def test_gpu_checks_fail_with_a_reason_without_a_gpu(run_smoke):
    if torch_has_gpu():
        pytest.skip("a CUDA GPU is visible here; this test is for machines without one")
    run = run_smoke("--only", "python,torch,cuda,gpu_matmul,cudnn_conv_gpu", env=JIT_ENV)
    validate(run.report)
    assert run.returncode == 1
    assert run.report["ok"] is False and run.report["gpu"] is None
    for name in ("cuda", "gpu_matmul", "cudnn_conv_gpu"):
        result = run.check(name)
        assert result["ok"] is False and result["required"] is True
        assert result["detail"].startswith("needs a CUDA GPU: "), result["detail"]
        # torch's own reason is passed on ("Found no NVIDIA driver on your system", ...)
        assert "driver" in result["detail"].lower() or "no cuda" in result["detail"].lower()
    assert run.check("python")["ok"] and run.check("torch")["ok"]
    assert "FAILED" in run.stdout and "cuda" in run.stdout.splitlines()[-1]


def test_missing_package_is_reported_as_not_installed(run_smoke, extra_checks):
    env = extra_checks(
        "SMOKE_CHECKS = [{'name': 'standin_missing', 'func': lambda ctx: 'never runs',\n"
        "                 'needs': ('pcb_stand_in_module_that_does_not_exist',)}]\n")
    run = run_smoke("--only", "python,standin_missing", env=env)
    validate(run.report)
    assert run.returncode == 1
    result = run.check("standin_missing")
    assert result["ok"] is False and result["detail"] == "not installed"
    versions = run.report["versions"]
    for key, module in (("flash_attn", "flash_attn"), ("open3d", "open3d"),
                        ("pointops", "pointops"), ("pointgroup_ops", "pointgroup_ops"),
                        ("torch_scatter", "torch_scatter"), ("spconv", "spconv")):
        if importlib.util.find_spec(module) is None:
            assert versions[key] is None, (key, versions[key])
        else:
            assert isinstance(versions[key], str), (key, versions[key])


CRASHING_CHECKS = '''
import os, signal, time

def segv(ctx):
    os.kill(os.getpid(), signal.SIGSEGV)

def hang(ctx):
    time.sleep(300)

def after(ctx):
    ctx.versions["standin_version"] = "1.2.3"
    return "ran after the crash"

def boom(ctx):
    raise ValueError("boom")

SMOKE_CHECKS = [
    {"name": "standin_segv", "func": segv, "isolate": True},
    {"name": "standin_hang", "func": hang, "isolate": True},
    {"name": "standin_after", "func": after, "isolate": True},
    {"name": "standin_raises", "func": boom},
]
'''


def test_crash_and_hang_in_child_are_reported_and_report_survives(run_smoke, extra_checks):
    env = extra_checks(CRASHING_CHECKS)
    run = run_smoke("--only", "python,standin_segv,standin_hang,standin_after,standin_raises",
                    "--timeout", "5", env=env)
    assert run.report is not None, run.stderr
    validate(run.report)
    assert run.returncode == 1 and run.report["complete"] is True
    segv = run.check("standin_segv")
    assert segv["ok"] is False and "crashed: killed by SIGSEGV" in segv["detail"]
    hang = run.check("standin_hang")
    assert hang["ok"] is False and hang["detail"].startswith("timed out after 5 s")
    after = run.check("standin_after")
    assert after["ok"] is True and after["detail"] == "ran after the crash"
    assert run.report["versions"]["standin_version"] == "1.2.3"  # child versions come back
    raises = run.check("standin_raises")
    assert raises["ok"] is False and raises["detail"].startswith("ValueError: boom")
    assert run.check("python")["ok"] is True


def test_only_skip_and_unknown_names(run_smoke):
    run = run_smoke("--only", "env_name,python")
    assert [c["name"] for c in run.report["checks"]] == ["python", "env_name"]
    run = run_smoke("--only", "env_name,python", "--skip", "python")
    assert [c["name"] for c in run.report["checks"]] == ["env_name"]
    assert run.returncode == 0
    run = run_smoke("--only", "python,nope", json_report=False)
    assert run.returncode == 2
    assert "--only: unknown check(s) nope" in run.stderr and "known checks: python" in run.stderr
    run = run_smoke("--skip", "cuda,zzz", json_report=False)
    assert run.returncode == 2 and "--skip: unknown check(s) zzz" in run.stderr


def test_expectations_and_optional(run_smoke):
    env = {"PCB_EXPECT_PYTHON": "2.7", "PCB_ENV_NAME": "no-such-env"}
    run = run_smoke("--only", "python,env_name", env=env)
    validate(run.report)
    assert run.returncode == 1
    assert run.check("python")["ok"] is False and "expected 2.7" in run.check("python")["detail"]
    env_check = run.check("env_name")
    assert env_check["ok"] is False and env_check["required"] is False
    assert "expected 'no-such-env'" in env_check["detail"]
    run = run_smoke("--only", "python,env_name", "--optional", "python", env=env)
    assert run.returncode == 0 and run.report["ok"] is True
    assert run.check("python")["required"] is False
    run = run_smoke("--only", "python,env_name", "--require", "env_name",
                    env={"PCB_ENV_NAME": "no-such-env"})
    assert run.returncode == 1 and run.check("env_name")["required"] is True
    run = run_smoke("--optional", "python", "--require", "python", json_report=False)
    assert run.returncode == 2 and "both name python" in run.stderr


def test_bad_arguments_name_the_input(run_smoke, tmp_path):
    missing_dir = tmp_path / "no" / "such" / "dir" / "r.json"
    run = run_smoke("--json", str(missing_dir), json_report=False)
    assert run.returncode == 2 and str(missing_dir.parent) in run.stderr
    run = run_smoke("--timeout", "0", json_report=False)
    assert run.returncode == 2 and "--timeout" in run.stderr


def run_copied_script(directory, *args, env=None):
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(directory / "smoke_tests.py"), *args],
                          capture_output=True, text=True, env=full_env, cwd=directory.parent,
                          timeout=300)


def test_runs_where_the_image_puts_it_with_its_package(tmp_path, extra_checks):
    # The runtime stage copies smoke_tests.py and pcb_smoke/ into /opt/pointcept; the script must
    # find its package there, in its child processes too (an isolated check), from any cwd.
    dest = tmp_path / "opt" / "pointcept"
    dest.mkdir(parents=True)
    shutil.copy(SMOKE, dest / "smoke_tests.py")
    shutil.copytree(DOCKER_DIR / "pcb_smoke", dest / "pcb_smoke",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = extra_checks("import pcb_smoke\n"
                       "def where(ctx):\n"
                       "    return pcb_smoke.__file__\n"
                       "SMOKE_CHECKS = [{'name': 'standin_where', 'func': where,"
                       " 'isolate': True}]\n")
    report_path = tmp_path / "report.json"
    proc = run_copied_script(dest, "--only", "python,standin_where", "--json", str(report_path),
                             env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    validate(report)
    where = [c for c in report["checks"] if c["name"] == "standin_where"][0]
    assert where["ok"] and where["detail"] == str(dest / "pcb_smoke" / "__init__.py")


def test_a_copy_without_its_package_says_so(tmp_path):
    dest = tmp_path / "pointcept"
    dest.mkdir()
    shutil.copy(SMOKE, dest / "smoke_tests.py")
    proc = run_copied_script(dest, "--list")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot import the package pcb_smoke" in lines[0], proc.stderr
    assert "copy docker/pcb_smoke/ along with docker/smoke_tests.py" in lines[0]

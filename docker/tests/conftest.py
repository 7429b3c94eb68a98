"""Shared helpers for the tests of docker/ (smoke tests, entrypoint, Dockerfile, environment.yml)."""
import json
import os
import subprocess
import sys

import pytest

from docker_test_paths import SMOKE


def pytest_configure(config):
    config.addinivalue_line("markers", "services: builds with the CI services (BuildKit, registry); .ci/run runs these after the services are up")

# Environment variables that change what the smoke tests expect; tests start from none of them.
_SMOKE_VARS = ("PCB_ENV_NAME", "PCB_EXPECT_PYTHON", "PCB_EXPECT_TORCH", "PCB_EXPECT_TORCH_CUDA",
               "PCB_SMOKE_EXTRA_CHECKS", "SPCONV_DISABLE_JIT", "CUMM_DISABLE_JIT")


class SmokeRun:
    def __init__(self, proc, report):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.report = report

    def check(self, name):
        found = [c for c in self.report["checks"] if c["name"] == name]
        assert found, f"no check {name!r} in the report: {[c['name'] for c in self.report['checks']]}"
        return found[0]


@pytest.fixture
def run_smoke(tmp_path):
    """Run smoke_tests.py with this interpreter; returns a SmokeRun with the parsed --json report."""

    def run(*args, env=None, timeout=600, json_report=True):
        full_env = {k: v for k, v in os.environ.items() if k not in _SMOKE_VARS}
        full_env.update(env or {})
        report_path = tmp_path / "report.json"
        if report_path.exists():
            report_path.unlink()
        cmd = [sys.executable, str(SMOKE), *args]
        if json_report:
            cmd += ["--json", str(report_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
        report = json.loads(report_path.read_text()) if json_report and report_path.exists() else None
        return SmokeRun(proc, report)

    return run


@pytest.fixture
def extra_checks(tmp_path):
    """Write a PCB_SMOKE_EXTRA_CHECKS file; returns the env dict pointing at it."""

    def write(source):
        path = tmp_path / "extra_checks.py"
        path.write_text(source)
        return {"PCB_SMOKE_EXTRA_CHECKS": str(path)}

    return write

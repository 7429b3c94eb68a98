"""Paths and the CI-services rule used by the tests of docker/ (a uniquely named module: several conftest.py files exist
in this repository, so tests must not import names from `conftest`). Importing it also puts
docker/ on sys.path, so that the tests import the smoke tests' package `pcb_smoke` as the image
does (it sits next to smoke_tests.py)."""
import os
import shutil
import sys
from pathlib import Path

import pytest

DOCKER_DIR = Path(__file__).resolve().parents[1]
if str(DOCKER_DIR) not in sys.path:
    sys.path.insert(0, str(DOCKER_DIR))
REPO = DOCKER_DIR.parent
SMOKE = DOCKER_DIR / "smoke_tests.py"
SCHEMA = DOCKER_DIR / "smoke-report.schema.json"


def require_services(*names):
    """The values of the CI services' variables (PCB_BUILDER, PCB_REGISTRY, ...) for a test that
    builds with the real BuildKit. Without them the test skips, as on a developer machine; .ci/run
    runs these tests (marker `services`) once the services are up, with PCB_REQUIRE_SERVICES=1,
    where a missing service is a failure, never a skip."""
    values = [os.environ.get(n) for n in names]
    if os.environ.get("PCB_E2E") and all(values) and shutil.which("docker"):
        return values
    missing = f"needs the CI services (PCB_E2E, {', '.join(names)}) and a docker CLI"
    if os.environ.get("PCB_REQUIRE_SERVICES") == "1":
        pytest.fail(missing)
    pytest.skip(missing)

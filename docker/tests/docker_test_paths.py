"""Paths used by the tests of docker/ (a uniquely named module: several conftest.py files exist
in this repository, so tests must not import names from `conftest`). Importing it also puts
docker/ on sys.path, so that the tests import the smoke tests' package `pcb_smoke` as the image
does (it sits next to smoke_tests.py)."""
import sys
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parents[1]
if str(DOCKER_DIR) not in sys.path:
    sys.path.insert(0, str(DOCKER_DIR))
REPO = DOCKER_DIR.parent
SMOKE = DOCKER_DIR / "smoke_tests.py"
SCHEMA = DOCKER_DIR / "smoke-report.schema.json"

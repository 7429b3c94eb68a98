"""Paths used by the tests of docker/ (a uniquely named module: several conftest.py files exist
in this repository, so tests must not import names from `conftest`)."""
from pathlib import Path

DOCKER_DIR = Path(__file__).resolve().parents[1]
REPO = DOCKER_DIR.parent
SMOKE = DOCKER_DIR / "smoke_tests.py"
SCHEMA = DOCKER_DIR / "smoke-report.schema.json"

"""environment.yml parses, uses the agreed channels, pins the torch stack consistently with the
Dockerfile, and pins every pip requirement exactly."""
import re

import pytest
import yaml

from docker_test_paths import DOCKER_DIR, REPO
from test_dockerfile_contract import arg_defaults, body, parse_dockerfile

ENV_FILE = REPO / "environment.yml"

# torch -> (torchvision, torchaudio) released together (PyTorch's compatibility table).
TORCH_COMPANIONS = {"2.5.0": ("0.20.0", "2.5.0"), "2.5.1": ("0.20.1", "2.5.1"),
                    "2.4.1": ("0.19.1", "2.4.1"), "2.4.0": ("0.19.0", "2.4.0")}

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]+\])?==[0-9][0-9A-Za-z.+!-]*$")
URL_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]* @ https://\S+/[^/]+-[0-9][^/-]*-[^/]+\.whl$")


def pip_problems(lines):
    """The pip lines that are not exact pins (name==version, name @ URL of one wheel file,
    --find-links/--extra-index-url options or local ./paths). Returns error strings."""
    problems = []
    for line in lines:
        if line.startswith(("--find-links ", "--extra-index-url ")):
            continue
        if line.startswith(("./", "../")):
            continue
        if PIN.match(line) or URL_PIN.match(line):
            continue
        problems.append(f"pip requirement {line!r} is not pinned (name==version or name @ wheel URL)")
    return problems


@pytest.fixture(scope="module")
def env():
    data = yaml.safe_load(ENV_FILE.read_text())
    conda = [d for d in data["dependencies"] if isinstance(d, str)]
    pip = [d["pip"] for d in data["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "exactly one pip section"
    return {"data": data, "conda": conda, "pip": pip[0]}


def spec_of(conda, package):
    """The version pinned for a conda package, from 'channel::name=ver' or 'name=ver'."""
    for dep in conda:
        match = re.fullmatch(r"(?:(\S+)::)?([A-Za-z0-9_.-]+)\s*(?:=|==)?\s*([^\s,<>=]*)", dep)
        if match and match.group(2) == package:
            return match.group(1), match.group(3)
    raise AssertionError(f"{package} not in the conda dependencies")


def test_pin_checker_rejects_loose_requirements():
    bad = ["torch-geometric", "peft>=0.13", "spconv-cu124~=2.3", "git+https://github.com/x/y.git",
           "flash-attn @ https://github.com/x/y/archive/refs/heads/main.zip"]
    assert len(pip_problems(bad)) == len(bad)
    assert pip_problems(["ocnn==2.2.8", "--find-links https://x/y.html", "./libs/pointops",
                         "a-b @ https://e.org/d/a_b-1.0%2Bx-cp310-cp310-linux_x86_64.whl"]) == []


def test_name_and_channels(env):
    assert env["data"]["name"] == "pointcept-torch2.5.0-cu12.4"
    assert env["data"]["channels"] == ["pytorch", "nvidia/label/cuda-12.4.1", "nvidia", "conda-forge"]
    assert "defaults" not in env["data"]["channels"]
    assert not [d for d in env["conda"] if d.startswith("defaults::")]


def test_torch_stack_agrees(env):
    conda = env["conda"]
    assert spec_of(conda, "python")[1] == "3.10"
    torch = spec_of(conda, "pytorch")
    vision, audio = spec_of(conda, "torchvision"), spec_of(conda, "torchaudio")
    assert torch == ("pytorch", "2.5.0")
    assert (vision[1], audio[1]) == TORCH_COMPANIONS[torch[1]]
    assert vision[0] == audio[0] == "pytorch"
    assert spec_of(conda, "pytorch-cuda") == ("pytorch", "12.4")
    channel, cuda = spec_of(conda, "cuda")
    assert channel == "nvidia/label/cuda-12.4.1" and cuda == "12.4.1"
    assert cuda.startswith(spec_of(conda, "pytorch-cuda")[1] + ".")
    assert spec_of(conda, "gcc")[1] == spec_of(conda, "gxx")[1] == "13.2"
    assert spec_of(conda, "mkl")[1] == "2024.0"


def test_dockerfile_agrees_with_environment(env):
    global_args, stages = parse_dockerfile((DOCKER_DIR / "Dockerfile.gpu").read_text())
    args = arg_defaults(global_args)
    runtime = arg_defaults(body(next(s for s in stages if s["name"] == "runtime"), "ARG"))
    cuda = spec_of(env["conda"], "cuda")[1]
    assert f"nvidia/cuda:{cuda}-" in args["BASE_IMAGE"], "base image CUDA == env CUDA"
    assert args["ENV_NAME"] == env["data"]["name"]
    assert runtime["EXPECT_PYTHON"] == spec_of(env["conda"], "python")[1]
    assert runtime["EXPECT_TORCH"] == spec_of(env["conda"], "pytorch")[1]
    assert runtime["EXPECT_TORCH_CUDA"] == spec_of(env["conda"], "pytorch-cuda")[1]


def test_every_pip_requirement_is_pinned(env):
    assert pip_problems(env["pip"]) == []


def test_pip_wheels_match_the_stack(env):
    pip = env["pip"]
    pins = dict(line.split("==") for line in pip if "==" in line)
    assert "--find-links https://data.pyg.org/whl/torch-2.5.0+cu124.html" in pip
    for name in ("torch-scatter", "torch-cluster", "torch-sparse", "torch-geometric",
                 "spconv-cu124", "cumm-cu124", "peft", "ocnn", "clip-anytorch"):
        assert name in pins, name
    assert pins["spconv-cu124"] == "2.3.8" and pins["cumm-cu124"].startswith("0.7.")
    flash = [line for line in pip if line.startswith("flash-attn @ ")]
    assert len(flash) == 1
    assert re.search(r"/v(\d[\w.]+)/flash_attn-\1%2Bcu12torch2\.5cxx11abiFALSE-cp310-cp310-"
                     r"linux_x86_64\.whl$", flash[0]), flash[0]
    local = [line for line in pip if line.startswith("./")]
    assert local == ["./libs/pointops", "./libs/pointgroup_ops"]

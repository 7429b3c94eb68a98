"""The build rules shared by both libraries' setup.py (libs/common/ext_build.py)."""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

LIBS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIBRARIES = ["pointops", "pointgroup_ops"]


def load_rules():
    spec = importlib.util.spec_from_file_location("ext_build_under_test", os.path.join(LIBS, "common", "ext_build.py"))
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    return rules


@pytest.fixture
def rules(monkeypatch):
    monkeypatch.delenv("FORCE_CUDA", raising=False)
    monkeypatch.delenv("FORCE_CPU", raising=False)
    return load_rules()


@pytest.fixture
def toolkit(monkeypatch):
    """Pretend torch has CUDA and a toolkit was found; the test sets whether a GPU is seen."""
    import torch
    import torch.utils.cpp_extension as cpp_extension

    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", "/toolkit")
    return lambda gpu: monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)


@pytest.mark.parametrize(
    "force_cuda, force_cpu, gpu, expected",
    [
        (None, None, True, True),  # detected: a GPU and a toolkit
        (None, None, False, False),  # no GPU seen: CPU-only unless forced
        ("1", None, False, True),
        ("yes", None, False, True),  # any value but "" and "0" sets a flag
        ("0", None, False, False),
        ("", None, True, True),
        (None, "1", True, False),  # FORCE_CPU wins over detection
        ("0", "1", True, False),
    ],
)
def test_want_cuda(rules, toolkit, monkeypatch, force_cuda, force_cpu, gpu, expected):
    toolkit(gpu)
    if force_cuda is not None:
        monkeypatch.setenv("FORCE_CUDA", force_cuda)
    if force_cpu is not None:
        monkeypatch.setenv("FORCE_CPU", force_cpu)
    assert rules.want_cuda() is expected


def test_both_flags_set_is_one_clear_error(rules, monkeypatch):
    monkeypatch.setenv("FORCE_CUDA", "1")
    monkeypatch.setenv("FORCE_CPU", "1")
    with pytest.raises(SystemExit, match="FORCE_CUDA='1' and FORCE_CPU='1' are both set"):
        rules.want_cuda()


def test_force_cuda_without_cuda_torch_or_toolkit_says_which(rules, monkeypatch):
    import torch
    import torch.utils.cpp_extension as cpp_extension

    monkeypatch.setenv("FORCE_CUDA", "1")
    monkeypatch.setattr(torch.version, "cuda", None)
    with pytest.raises(SystemExit, match="built without CUDA"):
        rules.want_cuda()
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(cpp_extension, "CUDA_HOME", None)
    with pytest.raises(SystemExit, match="no CUDA toolkit was found"):
        rules.want_cuda()


def test_sources_are_relative_and_span_folders(rules, tmp_path):
    for rel in ("csrc/a.cpp", "csrc/cuda/b.cu", "csrc/cuda/search/c.cu", "csrc/cuda/search/d.cuh"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    assert rules.sources(str(tmp_path), "csrc/cuda/**/*.cu", "csrc/*.cpp") == [
        "csrc/cuda/b.cu",
        "csrc/cuda/search/c.cu",
        "csrc/a.cpp",
    ]


@pytest.mark.parametrize("lib", LIBRARIES)
def test_metadata_run_does_not_import_torch(lib, tmp_path):
    # pip's egg_info / dist_info runs must stay fast: setup.py may import torch only to compile.
    probe = (
        "import os, runpy, sys; sys.argv = ['setup.py', 'egg_info', '--egg-base', sys.argv[1]]; "
        "runpy.run_path('setup.py', run_name='__main__'); print('torch imported:', 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=os.path.join(LIBS, lib),
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "torch imported: False" in out.stdout
    assert list(tmp_path.glob("*.egg-info"))


@pytest.mark.parametrize("lib", LIBRARIES)
def test_setup_outside_the_libs_folder_names_what_is_missing(lib, tmp_path):
    shutil.copy(os.path.join(LIBS, lib, "setup.py"), tmp_path / "setup.py")
    out = subprocess.run([sys.executable, "setup.py", "egg_info"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0
    assert "libs/common/ext_build.py not found" in out.stderr


def test_cpp_objects_carry_no_debug_information(tmp_path):
    # Python's CFLAGS (and CFLAGS=-g here, so that the test does not depend on them) ask for
    # debug information; the rules' -g0 comes after them on the command line.
    (tmp_path / "probe.cpp").write_text("int probe(int x) { return x + 1; }\n")
    (tmp_path / "setup.py").write_text(
        "import os, sys\n"
        f"sys.path.insert(0, {os.path.join(LIBS, 'common')!r})\n"
        "import ext_build as rules\n"
        "from setuptools import setup\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "setup(name='probe', **rules.setup_args(sys.argv, lambda: rules.extension(\n"
        "    'probe', here, common=['probe.cpp'], cuda=[])))\n"
    )
    env = dict(os.environ, FORCE_CPU="1", CFLAGS="-g", MAX_JOBS="1")
    env.pop("FORCE_CUDA", None)
    out = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    (so,) = tmp_path.glob("probe*.so")
    sections = subprocess.run(["readelf", "-S", "-W", str(so)], capture_output=True, text=True, check=True).stdout
    assert ".text" in sections and ".debug_info" not in sections, sections

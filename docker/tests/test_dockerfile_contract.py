"""Static contract of docker/Dockerfile.gpu: the stages and ARGs the action relies on, the mounts
of the conda-env stage, layer order, runtime settings. Parsed here, no Docker needed."""
import re
import subprocess

import pytest
import yaml

from docker_test_paths import DOCKER_DIR, REPO, require_services

DOCKERFILE = DOCKER_DIR / "Dockerfile.gpu"


def parse_dockerfile(text):
    """Instructions as (KEYWORD, args) with continuations joined and comments dropped; plus the
    global ARGs (before the first FROM) and, per stage, its base, name and instructions."""
    instructions, current = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # comment lines inside a continuation are removed by the parser
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
        current = ""
    assert not current, "the Dockerfile ends inside a line continuation"
    global_args, stages = [], []
    for keyword, args in instructions:
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--platform=\S+ )?(\S+)(?: AS (\S+))?", args, re.I)
            assert match, f"cannot parse FROM {args}"
            stages.append({"base": match.group(1), "name": match.group(2), "body": []})
        elif not stages:
            assert keyword == "ARG", f"only ARG may come before the first FROM, got {keyword}"
            global_args.append(args)
        else:
            stages[-1]["body"].append((keyword, args))
    return global_args, stages


def arg_defaults(arg_lines):
    out = {}
    for line in arg_lines:
        name, _, default = line.partition("=")
        out[name] = default.strip('"') if default else None
    return out


@pytest.fixture(scope="module")
def dockerfile():
    text = DOCKERFILE.read_text()
    global_args, stages = parse_dockerfile(text)
    return {"text": text, "args": arg_defaults(global_args),
            "stages": {s["name"]: s for s in stages}, "order": [s["name"] for s in stages]}


def body(stage, keyword):
    return [args for kw, args in stage["body"] if kw == keyword]


def test_parser_rejects_what_it_cannot_read():
    with pytest.raises(AssertionError, match="only ARG may come before"):
        parse_dockerfile("RUN true\nFROM scratch AS x\n")
    with pytest.raises(AssertionError, match="continuation"):
        parse_dockerfile("FROM scratch AS x\nRUN a \\")


def test_no_syntax_directive(dockerfile):
    assert not re.search(r"^#\s*syntax\s*=", dockerfile["text"], re.M | re.I)


def test_stages_the_action_relies_on(dockerfile):
    stages = dockerfile["stages"]
    for name in ("env-spec", "miniforge", "conda-env", "env-lock", "extensions", "runtime"):
        assert name in stages, f"stage {name} missing; stages: {dockerfile['order']}"
    assert dockerfile["order"][-1] == "runtime", "runtime must be the last (default) stage"
    for name in ("env-spec", "miniforge", "env-lock"):
        assert stages[name]["base"] == "scratch", name
    assert body(stages["env-spec"], "COPY") == ["environment.yml /environment.yml"]
    assert stages["conda-env"]["base"] == "${BASE_IMAGE}"
    for name in ("extensions", "runtime"):
        assert stages[name]["base"] == "conda-env", name
    assert body(stages["env-lock"], "COPY") == [
        "--from=conda-env /opt/conda/pcb-env.lock /environment.lock"]
    # the env cache replaces the whole conda-env stage with its image: the stages it used to need are gone
    for gone in ("env-cache", "env-pack", "env-export"):
        assert gone not in stages, f"stage {gone} is left from the env.tar cache"


def test_args_the_action_sets(dockerfile):
    args = dockerfile["args"]
    assert args["BASE_IMAGE"] == "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"
    env_yml = yaml.safe_load((REPO / "environment.yml").read_text())
    assert args["ENV_NAME"] == env_yml["name"] == "pointcept-torch2.5.0-cu12.4"
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+", args["MINIFORGE_VERSION"])
    assert re.fullmatch(r"[0-9a-f]{64}", args["MINIFORGE_SHA256"])
    ext = arg_defaults(body(dockerfile["stages"]["extensions"], "ARG"))
    # MAX_JOBS is empty by default: docker/build-extensions.sh derives it from the builder.
    assert ext["TORCH_CUDA_ARCH_LIST"] and ext["MAX_JOBS"] == ""
    for name in ("ENV_NAME", "MINIFORGE_VERSION", "MINIFORGE_SHA256"):
        assert name in arg_defaults(body(dockerfile["stages"]["conda-env"], "ARG")), name


def test_miniforge_download_is_checksummed(dockerfile):
    adds = body(dockerfile["stages"]["miniforge"], "ADD")
    assert len(adds) == 1
    assert adds[0].startswith("--checksum=sha256:${MINIFORGE_SHA256} https://github.com/"
                              "conda-forge/miniforge/releases/download/${MINIFORGE_VERSION}/")
    assert adds[0].endswith("/Miniforge3-${MINIFORGE_VERSION}-Linux-x86_64.sh")


def test_conda_env_stage_mounts_and_script(dockerfile):
    runs = body(dockerfile["stages"]["conda-env"], "RUN")
    assert len(runs) == 1, "conda-env must create the env in exactly one RUN"
    run = runs[0]
    for mount in ("--mount=type=bind,from=env-spec,target=/pcb/env-spec",
                  "--mount=type=bind,from=miniforge,target=/pcb/miniforge",
                  "--mount=type=bind,source=docker/create-env.sh,target=/pcb/create-env.sh"):
        assert mount in run, mount
    assert re.search(r"--mount=type=cache,[^ ]*target=/pcb/pkgs", run)
    assert "CONDA_PKGS_DIRS=/pcb/pkgs" in run and run.endswith("sh /pcb/create-env.sh create")
    # Nothing from the build context is copied into the env stage: libs/ and docker/*.py
    # changes must not invalidate the env layer.
    assert body(dockerfile["stages"]["conda-env"], "COPY") == []
    assert body(dockerfile["stages"]["conda-env"], "ADD") == []


def index_of(stage, keyword, text):
    found = [i for i, (kw, a) in enumerate(stage["body"]) if kw == keyword and text in a]
    assert len(found) == 1, f"{keyword} ... {text} found {len(found)} times"
    return found[0]


def test_layer_order_keeps_env_cached(dockerfile):
    copies = [(s, a) for s in dockerfile["order"] for a in body(dockerfile["stages"][s], "COPY")]
    libs = [s for s, a in copies if a.split()[0].startswith("libs")]
    assert libs == ["extensions"], f"libs/ must be copied only in extensions, got {libs}"
    runtime = dockerfile["stages"]["runtime"]
    order = [index_of(runtime, "RUN", "apt-get install"),
             index_of(runtime, "RUN", "from=extensions"),
             index_of(runtime, "COPY", "docker/smoke_tests.py"),
             index_of(runtime, "COPY", "docker/pcb_smoke/"),
             index_of(runtime, "RUN", "/opt/pointcept/smoke_tests.py"),
             index_of(runtime, "COPY", "docker/entrypoint.sh")]
    assert order == sorted(order), \
        "runtime order: apt, wheels, smoke tests, the smoke run, then the entrypoint"


def test_args_come_just_before_the_runs_that_need_them(dockerfile):
    # BuildKit re-runs every RUN after an ARG whose value changed, whether the RUN uses it or not.
    runtime = dockerfile["stages"]["runtime"]
    last_run = max(i for i, (kw, _) in enumerate(runtime["body"]) if kw == "RUN")
    for name in ("BASE_IMAGE", "IMAGE_SOURCE", "IMAGE_REVISION", "IMAGE_VERSION"):
        arg = [i for i, (kw, a) in enumerate(runtime["body"])
               if kw == "ARG" and a.split("=")[0] == name]
        assert arg and arg[0] > last_run, f"ARG {name} must come after the runtime's last RUN"
    ext = dockerfile["stages"]["extensions"]
    max_jobs = [i for i, (kw, a) in enumerate(ext["body"])
                if kw == "ARG" and a.startswith("MAX_JOBS")]
    build = index_of(ext, "RUN", "build-extensions.sh")
    assert max_jobs == [build - 1], "ARG MAX_JOBS must come right before the build's RUN"
    assert index_of(ext, "COPY", "libs/") < build


def test_extensions_stage_builds_wheels_through_the_compiler_cache(dockerfile):
    ext = dockerfile["stages"]["extensions"]
    env = " ".join(body(ext, "ENV"))
    assert "FORCE_CUDA=1" in env and "TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST}" in env
    assert "MAX_JOBS" not in env, "MAX_JOBS reaches only the build's RUN (as a build arg)"
    build = [r for r in body(ext, "RUN") if "build-extensions.sh" in r]
    assert len(build) == 1
    run = build[0]
    assert "--mount=type=cache,id=pcb-ccache,target=/pcb/ccache" in run
    assert ("--mount=type=bind,source=docker/build-extensions.sh,"
            "target=/pcb/build-extensions.sh") in run
    assert run.endswith("sh /pcb/build-extensions.sh /pcb/wheels /pcb/libs/pointops "
                        "/pcb/libs/pointgroup_ops")
    script = (DOCKER_DIR / "build-extensions.sh").read_text()
    assert ('MAX_JOBS=$3 "$PYTHON" -m pip wheel --no-build-isolation --no-deps --wheel-dir "$2" "$1"'
            in script)


def test_runtime_settings(dockerfile):
    runtime = dockerfile["stages"]["runtime"]
    env = " ".join(body(runtime, "ENV"))
    for item in ("SPCONV_DISABLE_JIT=1", "CUMM_DISABLE_JIT=1", "PCB_ENV_NAME=${ENV_NAME}"):
        assert item in env, item
    conda_env = " ".join(body(dockerfile["stages"]["conda-env"], "ENV"))
    assert "PATH=/opt/conda/envs/${ENV_NAME}/bin:" in conda_env
    assert "CUDA_HOME=/opt/conda/envs/${ENV_NAME}" in conda_env
    copies = body(runtime, "COPY")
    # The smoke tests are a script and its package next to it (docker/pcb_smoke).
    assert "docker/smoke_tests.py /opt/pointcept/smoke_tests.py" in copies
    assert "docker/pcb_smoke/ /opt/pointcept/pcb_smoke/" in copies
    assert "docker/entrypoint.sh /usr/local/bin/entrypoint.sh" in " ".join(body(runtime, "COPY"))
    checks = [r for r in body(runtime, "RUN") if "/opt/pointcept/smoke_tests.py" in r]
    assert checks == ["python /opt/pointcept/smoke_tests.py --no-gpu --require flash_attn"]
    assert body(runtime, "ENTRYPOINT") == ['["/usr/local/bin/entrypoint.sh"]']
    labels = " ".join(body(runtime, "LABEL"))
    for key in ("org.opencontainers.image.source=", "org.opencontainers.image.revision=",
                "org.pointcept.torch.version="):
        assert key in labels, key
    apt = [r for r in body(runtime, "RUN") if "apt-get" in r][0]
    assert "--no-install-recommends" in apt
    assert "target=/var/lib/apt/lists" in apt, "apt lists must stay out of the layer"


def buildx_check(dockerfile, context):
    """`docker buildx build --check` on CI's BuildKit (PCB_BUILDER). --check resolves the base
    image's metadata and nvidia/cuda cannot be pulled here, so BASE_IMAGE is replaced by CI's
    stand-in busybox image from the local registry (PCB_BASE_IMAGE); only its metadata is read."""
    builder, base = require_services("PCB_BUILDER", "PCB_BASE_IMAGE")
    return subprocess.run(["docker", "buildx", "build", "--builder", builder, "--check",
                           "--build-arg", f"BASE_IMAGE={base}", "-f", str(dockerfile),
                           str(context)], capture_output=True, text=True, timeout=300)


@pytest.mark.services
def test_dockerfile_passes_buildx_check():
    proc = buildx_check(DOCKERFILE, REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Check complete, no warnings found" in proc.stdout + proc.stderr


@pytest.mark.services
def test_buildx_check_reports_lint_warnings(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE} as lower\nENV legacy format\n")
    proc = buildx_check(bad, tmp_path)
    assert proc.returncode != 0
    assert "LegacyKeyValueFormat" in proc.stdout + proc.stderr

#!/usr/bin/env python3
"""Smoke tests for the Pointcept GPU image.

Proves that the image's stack works on the GPU it runs on: PyTorch + CUDA + cuDNN, spconv (a
SubMConv3d forward and backward checked against a dense convolution), PyG and its compiled
companions, flash-attn, the image's own CUDA extensions (pointops, pointgroup_ops) and open3d.

Usage:
    python smoke_tests.py [--json PATH] [--no-gpu] [--only a,b] [--skip a,b]
                          [--optional a,b] [--require a,b] [--timeout SECONDS] [--list]

Only the standard library and what the image ships are used. A human-readable table goes to
stdout; `--json PATH` also writes the machine-readable report (schema 1):

    {"schema": 1, "ok": bool, "complete": bool, "seconds": float, "mode": "gpu" | "no-gpu",
     "versions": {"python", "torch", "torch_cuda", "cudnn", "nvcc", "spconv", ...: str | null},
     "gpu": {"name", "capability", "driver", "memory_gib", "count", "cuda_driver_api"} | null,
     "checks": [{"name", "ok", "required", "seconds", "detail", "skipped"}]}

Exit status: 0 when every required check passed, 1 when one failed, 2 on bad arguments.

Checks that load compiled extensions run in a child process of the same interpreter with a
timeout, so a segfault or a hang in an extension is reported as a failed check and the report is
still written. The report file is rewritten after every check (with "complete": false until the
end), so even a crash of this process itself leaves the results so far.

This file is the command line; the package `pcb_smoke` next to it holds the rest (it must be
copied along, as docker/Dockerfile.gpu does):
    pcb_smoke/checks/   the registry (checks/__init__.py) and the checks, one module per package
    pcb_smoke/core.py   Check, Context, CheckFailed and the comparison helpers checks share
    pcb_smoke/facts.py  versions, driver and GPU facts gathered without risky imports
    pcb_smoke/runner.py in-process and child-process runs, the loop over the selected checks
    pcb_smoke/report.py the JSON report (schema 1) and the printed table

Expectations come from the environment, so the same script serves the image and other machines:
    PCB_ENV_NAME            expected conda env name (check `env_name`, not required)
    PCB_EXPECT_PYTHON       e.g. 3.10: the Python version must start with it
    PCB_EXPECT_TORCH        e.g. 2.5.0: torch.__version__ without its local part must equal it
    PCB_EXPECT_TORCH_CUDA   e.g. 12.4: torch.version.cuda must equal it
    PCB_SMOKE_EXTRA_CHECKS  path of a Python file with a list SMOKE_CHECKS of extra checks
                            (dicts with name, func, required, gpu, isolate, needs, description);
                            a site hook for checks of your own.
"""
from __future__ import annotations

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # e.g. under PYTHONSAFEPATH=1, or when imported by path
    sys.path.insert(0, HERE)
try:
    from pcb_smoke.core import UsageError
    from pcb_smoke import runner
except ImportError as exc:  # an image that copied this file without its package
    sys.exit(f"smoke_tests.py: cannot import the package pcb_smoke that must sit next to it in "
             f"{HERE} ({exc}); copy docker/pcb_smoke/ along with docker/smoke_tests.py")

DEFAULT_TIMEOUT = 180.0


def split_names(value, known, flag):
    """The comma-separated check names of option `flag`; every one must be a known check."""
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"{flag}: unknown check(s) {', '.join(unknown)}; known checks: "
                         f"{', '.join(known)}")
    return names


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    parser.add_argument("--no-gpu", action="store_true",
                        help="skip the GPU checks (build time: no GPU is visible)")
    parser.add_argument("--only", metavar="A,B", help="run only these checks")
    parser.add_argument("--skip", metavar="A,B", help="do not run these checks")
    parser.add_argument("--optional", metavar="A,B",
                        help="treat these checks as not required for this run")
    parser.add_argument("--require", metavar="A,B",
                        help="treat these checks as required for this run (e.g. flash_attn at "
                             "build time, where a package that does not import is a build error)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"limit for each isolated check (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_result", help=argparse.SUPPRESS)
    parser.add_argument("--_device", default="cuda", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(parent):
            parser.error(f"--json {args.json}: directory {parent} does not exist")
    return args



def print_list(checks):
    for c in checks:
        kind = ("gpu" if c.gpu else "cpu") + (", child process" if c.isolate else "")
        print(f"{c.name:22s} {'required' if c.required else 'optional':9s} {kind:20s} "
              f"{c.description}")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args._child:
            return runner.child_main(args._child, args._result, args._device)
        checks = runner.all_checks()
        if args.list:
            print_list(checks)
            return 0
        known = [c.name for c in checks]
        only = split_names(args.only, known, "--only")
        skip = split_names(args.skip, known, "--skip") or []
        optional = set(split_names(args.optional, known, "--optional") or [])
        require = set(split_names(args.require, known, "--require") or [])
        if optional & require:
            raise UsageError(f"--optional and --require both name "
                             f"{', '.join(sorted(optional & require))}")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    selected = [c for c in checks if (only is None or c.name in only) and c.name not in skip]
    return runner.run(selected, require=require, optional=optional, no_gpu=args.no_gpu,
                      timeout=args.timeout, json_path=args.json,
                      script=os.path.abspath(__file__))


if __name__ == "__main__":
    sys.exit(main())

"""Running the checks: in this process, or in a child interpreter with a timeout (so a segfault or
a hang in a compiled extension becomes a failed check, not a lost report), and the loop that turns
the selected checks into report rows, rewriting the report file after each one."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback

from . import facts
from .checks import CHECKS
from .core import Check, CheckFailed, Context, UsageError, missing_modules, with_hint
from .report import build_report, print_table, write_json


def all_checks():
    """The registry plus the site's own checks from PCB_SMOKE_EXTRA_CHECKS (a Python file with a
    list SMOKE_CHECKS of dicts: name, func, required, gpu, isolate, needs, description)."""
    path = os.environ.get("PCB_SMOKE_EXTRA_CHECKS")
    if not path:
        return list(CHECKS)
    spec = importlib.util.spec_from_file_location("pcb_smoke_extra", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise UsageError(f"PCB_SMOKE_EXTRA_CHECKS={path!r} is not a readable Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    extra = [Check(item["name"], item["func"], item.get("required", True), item.get("gpu", False),
                   item.get("isolate", False), item.get("needs", ()), item.get("description", ""))
             for item in getattr(module, "SMOKE_CHECKS", [])]
    names = {c.name for c in CHECKS}
    clash = [c.name for c in extra if c.name in names]
    if clash:
        raise UsageError(f"PCB_SMOKE_EXTRA_CHECKS redefines checks {clash}")
    return list(CHECKS) + extra


def run_inline(check, ctx):
    """Run a check in this process. Returns (ok, detail)."""
    try:
        detail = check.func(ctx)
        return True, str(detail or "ok")
    except CheckFailed as exc:
        return False, with_hint(str(exc))
    except Exception as exc:  # any failure of the stack under test is a failed check
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return False, with_hint(f"{type(exc).__name__}: {msg}{where}")


def _signal_name(code):
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def run_isolated(check, ctx, timeout, script):
    """Run a check in a child interpreter (`script --_child NAME`). Returns (ok, detail); the
    child's versions are merged into ctx.versions."""
    fd, result_path = tempfile.mkstemp(prefix="pcb-smoke-", suffix=".json")
    os.close(fd)
    os.unlink(result_path)
    cmd = [sys.executable, script, "--_child", check.name, "--_result", result_path,
           "--_device", ctx.device]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              errors="replace")
    except subprocess.TimeoutExpired:
        if os.path.exists(result_path):
            os.unlink(result_path)
        return False, f"timed out after {timeout:g} s (child process killed)"
    try:
        with open(result_path, encoding="utf-8") as fh:
            result = json.load(fh)
    except (OSError, ValueError):
        result = None
    finally:
        try:
            os.unlink(result_path)
        except OSError:
            pass
    if result is None:
        tail = " | ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
        if proc.returncode < 0:
            how = f"crashed: killed by {_signal_name(-proc.returncode)}"
        else:
            how = f"child exited with status {proc.returncode} without a result"
        return False, with_hint(how + (f"; stderr: {tail}" if tail else ""))
    for key, value in (result.get("versions") or {}).items():
        if value is not None:
            ctx.versions[key] = value
    return bool(result.get("ok")), str(result.get("detail", ""))


def child_main(name, result_path, device):
    """The child side of run_isolated: run one check, write {ok, detail, versions it found}."""
    checks = {c.name: c for c in all_checks()}
    ctx = Context(device)
    ctx.versions.update(facts.distribution_versions())
    before = dict(ctx.versions)
    ok, detail = run_inline(checks[name], ctx)
    found = {k: v for k, v in ctx.versions.items() if before.get(k, object()) != v}
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump({"ok": ok, "detail": detail, "versions": found}, fh)
    return 0


def _outcome(check, ctx, no_gpu, no_cuda, timeout, script):
    """(ok, detail, skipped) of one check: skipped, not installed, no GPU, or its own result."""
    if check.gpu and no_gpu:
        return False, "skipped: --no-gpu", True
    missing = missing_modules(check.needs)
    if missing:
        return False, "not installed" + (f": {', '.join(missing)}" if len(check.needs) > 1
                                         else ""), False
    if check.gpu and no_cuda:
        return False, f"needs a CUDA GPU: {no_cuda}", False
    if check.isolate:
        return (*run_isolated(check, ctx, timeout, script), False)
    return (*run_inline(check, ctx), False)


def run(selected, *, require, optional, no_gpu, timeout, json_path, script):
    """Run the selected checks in order and report. `require`/`optional`: names whose required
    flag this run changes. Returns the exit status (0: every required check passed)."""
    started = time.monotonic()
    versions, torch = facts.parent_versions()
    mode = "no-gpu" if no_gpu else "gpu"
    gpu, no_cuda = None, None
    if not no_gpu and any(c.gpu for c in selected):
        gpu, no_cuda = facts.gpu_or_reason(torch)

    ctx = Context("cuda")
    ctx.versions = versions
    results = []
    for check in selected:
        t0 = time.monotonic()
        ok, detail, skipped = _outcome(check, ctx, no_gpu, no_cuda, timeout, script)
        required = ((check.required or check.name in require) and check.name not in optional
                    and not skipped)
        result = {"name": check.name, "ok": ok, "required": required,
                  "seconds": round(time.monotonic() - t0, 3), "detail": detail}
        if skipped:
            result["skipped"] = True
        results.append(result)
        if json_path:
            write_json(json_path, build_report(results, versions, gpu, mode, False, started))
    report = build_report(results, versions, gpu, mode, True, started)
    if json_path:
        write_json(json_path, report)
    print_table(report)
    return 0 if report["ok"] else 1

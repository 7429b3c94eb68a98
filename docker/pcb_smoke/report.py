"""The report: the JSON object of schema 1 (docker/smoke-report.schema.json), written atomically,
and the human-readable table printed at the end."""
from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time

SCHEMA = 1

# The versions the table's summary line shows, in this order (all of them are in the JSON).
TABLE_VERSIONS = ("python", "torch", "torch_cuda", "cudnn", "nvcc", "spconv", "torch_geometric",
                  "flash_attn", "pointops", "pointgroup_ops", "open3d")


def build_report(results, versions, gpu, mode, complete, started):
    ok = all(r["ok"] for r in results if r["required"]) and complete
    return {
        "schema": SCHEMA,
        "ok": ok,
        "complete": complete,
        "mode": mode,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.monotonic() - started, 3),
        "versions": versions,
        "gpu": gpu,
        "checks": results,
    }


def write_json(path, report):
    """Replace the file at path in one rename, so a reader never sees half a report."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def print_table(report, out=None):
    out = out or sys.stdout
    rows = [("check", "required", "result", "seconds", "detail")]
    for r in report["checks"]:
        result = "SKIP" if r.get("skipped") else ("PASS" if r["ok"] else "FAIL")
        rows.append((r["name"], "yes" if r["required"] else "no", result, f"{r['seconds']:.2f}",
                     r["detail"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4], file=out)
    v = report["versions"]
    shown = ", ".join(f"{k} {v[k]}" for k in TABLE_VERSIONS if k in v)
    print(f"versions: {shown}", file=out)
    gpu = report["gpu"]
    print("gpu: " + (f"{gpu['name']} (capability {gpu['capability']}, driver {gpu['driver']}, "
                     f"{gpu['memory_gib']} GiB)" if gpu else "none"), file=out)
    failed = [r["name"] for r in report["checks"] if r["required"] and not r["ok"]]
    print(f"{'OK' if report['ok'] else 'FAILED'}: {len(report['checks'])} checks in "
          f"{report['seconds']:.1f} s" + (f"; required checks failed: {', '.join(failed)}"
                                          if failed else ""), file=out)

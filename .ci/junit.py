#!/usr/bin/env python3
"""JUnit XML helpers for .ci/run (standard library only).

  junit.py write OUT.xml SUITE RESULTS.tsv
      RESULTS.tsv lines: name<TAB>status<TAB>seconds<TAB>message-file-or-empty
      status is pass, fail or skip; the message file's text goes into <failure>/<skipped>.
  junit.py count DIR
      Reads every *.xml under DIR, prints one line per file and the closing line
      "N passed, N failed, N skipped". Counts <testcase> elements: failed when it holds
      <failure> or <error>, skipped when it holds <skipped>, passed otherwise. A file that
      does not parse counts as one failure.
"""
import os
import sys
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr


def write(out, suite, results):
    cases = []
    fails = skips = 0
    total_time = 0.0
    with open(results, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            name, status = parts[0], parts[1]
            seconds = float(parts[2]) if len(parts) > 2 and parts[2] else 0.0
            msg = ""
            if len(parts) > 3 and parts[3] and os.path.exists(parts[3]):
                with open(parts[3], encoding="utf-8", errors="replace") as mf:
                    msg = mf.read()[-20000:]
            total_time += seconds
            body = ""
            if status == "fail":
                fails += 1
                first = (msg.strip().splitlines() or ["failed"])[-1][:200]
                body = "<failure message=%s>%s</failure>" % (quoteattr(first), escape(msg))
            elif status == "skip":
                skips += 1
                body = "<skipped message=%s/>" % quoteattr(msg.strip()[:200] or "skipped")
            elif status != "pass":
                raise SystemExit("junit.py: unknown status %r for %r (accepted: pass, fail, skip)" % (status, name))
            cases.append('  <testcase classname=%s name=%s time="%.3f">%s</testcase>'
                         % (quoteattr(suite), quoteattr(name), seconds, body))
    xml = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<testsuite name=%s tests="%d" failures="%d" errors="0" skipped="%d" time="%.3f">'
           % (quoteattr(suite), len(cases), fails, skips, total_time)]
    xml += cases
    xml.append("</testsuite>")
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(xml) + "\n")
    os.replace(tmp, out)


def count_file(path):
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if "failure" in tags or "error" in tags:
            failed += 1
        elif "skipped" in tags:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def count(directory):
    total = [0, 0, 0]
    files = []
    for base, _dirs, names in os.walk(directory):
        files += [os.path.join(base, n) for n in names if n.endswith(".xml")]
    for path in sorted(files):
        rel = os.path.relpath(path, directory)
        try:
            p, f, s = count_file(path)
        except (ET.ParseError, OSError) as exc:
            p, f, s = 0, 1, 0
            print("  %-40s unreadable (%s): counted as 1 failure" % (rel, exc))
        else:
            print("  %-40s %4d passed, %d failed, %d skipped" % (rel, p, f, s))
        total[0] += p
        total[1] += f
        total[2] += s
    if not files:
        print("  no junit XML files in %s" % directory)
    return total


def main(argv):
    if len(argv) >= 2 and argv[1] == "write" and len(argv) == 5:
        write(argv[2], argv[3], argv[4])
        return 0
    if len(argv) == 3 and argv[1] == "count":
        p, f, s = count(argv[2])
        line = "%d passed, %d failed" % (p, f)
        if s:
            line += ", %d skipped" % s
        print(line)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

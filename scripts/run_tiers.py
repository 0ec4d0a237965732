#!/usr/bin/python3
"""make test: runs every tier (a make target) even when one fails, each one's
output shown as it comes and kept in build/test-logs/TIER.log, then one
summary: each tier's passed, failed, skipped and time, and the closing
"N passed, N failed" line. Exits 1 when any tier failed.

    scripts/run_tiers.py TIER...        (make test passes them)

Counts come from the tier's own runner: pytest's closing line, cmocka's
[ PASSED ] / [ FAILED ] lines, the explorer's configurations; a tier with no
counts (the build, the format check, the relink) counts as one. A tier that
exits non-zero is failed whatever it counted."""
import os
import re
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LOGS = os.path.join(ROOT, "build", "test-logs")

PYTEST = re.compile(r"^=*\s*((?:\d+ (?:passed|failed|skipped|errors?|xfailed|xpassed|"
                    r"deselected|warnings?)(?:, )?)+) in [\d.]+s")
CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test")
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test\(s\), listed below")
CMOCKA_SKIPPED = re.compile(r"^\[  SKIPPED \] (\d+) test\(s\), listed below")
EXPLORE = re.compile(r"^explore: .* depth \d+")


def count(lines):
    """passed, failed, skipped, and whether anything was counted."""
    p = f = s = 0
    seen = False
    for line in lines:
        m = PYTEST.match(line)
        if m:
            seen = True
            for part in m.group(1).split(", "):
                n, word = part.split(" ", 1)
                if word == "passed":
                    p += int(n)
                elif word in ("failed", "error", "errors"):
                    f += int(n)
                elif word == "skipped":
                    s += int(n)
            continue
        m = CMOCKA_PASSED.match(line)
        if m:
            seen, p = True, p + int(m.group(1))
            continue
        m = CMOCKA_FAILED.match(line)
        if m:
            seen, f = True, f + int(m.group(1))
            continue
        m = CMOCKA_SKIPPED.match(line)
        if m:
            seen, s = True, s + int(m.group(1))
            continue
        if EXPLORE.match(line):
            seen = True
            if "RULE BROKEN" in line:
                f += 1
            else:
                p += 1
    return p, f, s, seen


def run_tier(tier):
    os.makedirs(LOGS, exist_ok=True)
    path = os.path.join(LOGS, f"{tier}.log")
    print(f"\n===== {tier} =====", flush=True)
    t0 = time.monotonic()
    lines = []
    with open(path, "w") as log:
        proc = subprocess.Popen(["make", "--no-print-directory", tier], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            log.write(line)
            lines.append(line.rstrip("\n"))
        rc = proc.wait()
    took = time.monotonic() - t0
    p, f, s, seen = count(lines)
    if not seen:
        p, f = (1, 0) if rc == 0 else (0, 1)
    elif rc != 0 and f == 0:
        f = 1  # it failed without a test saying so (a build, a crash)
    return {"tier": tier, "rc": rc, "passed": p, "failed": f, "skipped": s, "seconds": took}


def main(tiers):
    results = [run_tier(t) for t in tiers]
    width = max(len(r["tier"]) for r in results)
    print("\n===== make test: summary =====")
    print(f"{'tier':<{width}}  {'passed':>7} {'failed':>7} {'skipped':>7} {'time':>8}  result")
    for r in results:
        print(f"{r['tier']:<{width}}  {r['passed']:>7} {r['failed']:>7} {r['skipped']:>7} "
              f"{r['seconds']:>7.0f}s  {'ok' if r['rc'] == 0 else 'FAILED (exit %d)' % r['rc']}")
    total = {k: sum(r[k] for r in results) for k in ("passed", "failed", "skipped")}
    bad = [r["tier"] for r in results if r["rc"] != 0]
    print(f"logs: {os.path.relpath(LOGS, ROOT)}/TIER.log" +
          (f"; failed tiers: {' '.join(bad)}" if bad else ""))
    print(f"total: {total['passed']} passed, {total['failed']} failed, "
          f"{total['skipped']} skipped")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Counts one ctest run for scripts/test.sh: tests passed, failed and skipped (a skipped test is
never counted as passed), the reason each skipped test printed, and the test cases skipped
inside tests that ran (the `hone-test: cases: ...` lines of tests/main.cpp and
tests/cli/honetest.py).

Usage: ctest-summary.py CTEST_CONSOLE_LOG LAST_TEST_LOG
Prints a few lines for people, then `counts: PASSED FAILED SKIPPED CASES_SKIPPED` last."""

import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
RESULT = re.compile(r"^\s*\d+/\d+ Test +#\d+: (\S+) \.*\s*(\*\*\*)?(Passed|Skipped|\S.*?)\s+[0-9.]+ sec")
CASES = re.compile(r"^hone-test: cases: (\d+) passed, (\d+) failed, (\d+) skipped")
REASON = re.compile(r"(?:^skipped: (.*)|is skipped because (?:precondition failed: )?(.*))")


def outputs(last_test_log):
    """Each test's output in LastTest.log, by test name."""
    found, name, lines, inside = {}, None, [], False
    for raw in last_test_log.splitlines():
        line = ANSI.sub("", raw)
        m = re.match(r"^\d+/\d+ Test: (\S+)$", line)
        if m:
            name, lines, inside = m.group(1), [], False
        elif line == "Output:":
            inside = True
        elif line == "<end of output>":
            inside = False
            if name:
                found[name] = lines
        elif inside and not line.startswith("-------"):
            lines.append(line)
    return found


def main():
    console = open(sys.argv[1], errors="replace").read()
    try:
        last = open(sys.argv[2], errors="replace").read()
    except OSError:
        last = ""
    results = {}
    for line in console.splitlines():
        m = RESULT.match(ANSI.sub("", line))
        if m:
            results[m.group(1)] = m.group(3)
    out = outputs(last)
    passed = sum(1 for r in results.values() if r == "Passed")
    skipped = sorted(n for n, r in results.items() if r == "Skipped")
    failed = len(results) - passed - len(skipped)
    for name in skipped:
        reasons = []
        for line in out.get(name, []):
            m = REASON.search(line)
            if m:
                why = (m.group(1) or m.group(2)).strip()
                if why not in reasons:
                    reasons.append(why)
        print("skipped: %s: %s" % (name, "; ".join(reasons) or "(it printed no reason)"))
    cases_skipped = 0
    for name, lines in out.items():
        if results.get(name) != "Passed":
            continue
        for line in lines:
            m = CASES.match(line)
            if m and int(m.group(3)):
                cases_skipped += int(m.group(3))
                print("test cases skipped in %s: %s of %d" %
                      (name, m.group(3), sum(int(m.group(i)) for i in (1, 2, 3))))
    print("tests: %d passed, %d failed, %d skipped" % (passed, failed, len(skipped)))
    print("counts: %d %d %d %d" % (passed, failed, len(skipped), cases_skipped))


if __name__ == "__main__":
    main()

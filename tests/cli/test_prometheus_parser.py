#!/usr/bin/env python3
"""The strict Prometheus text-format parser of prometheus.py, on valid and malformed input: it
must accept a well-formed exposition and refuse each kind of mistake, or the /metrics tests
(test_monitoring.py) would prove nothing.

Usage: test_prometheus_parser.py [PATH/TO/hone] [unittest options] (the program is not run)"""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from prometheus import FormatError, parse, value

GOOD = """# HELP jobs_total Jobs run.
# TYPE jobs_total counter
jobs_total{operation="create",result="success"} 3
jobs_total{operation="create",result="failure"} 0
# A free comment.
# TYPE took_seconds histogram
# HELP took_seconds How long, with an escaped \\\\ and a \\n.
took_seconds_bucket{operation="create",le="0.5"} 1
took_seconds_bucket{operation="create",le="1"} 2
took_seconds_bucket{operation="create",le="+Inf"} 3
took_seconds_sum{operation="create"} 2.75
took_seconds_count{operation="create"} 3
took_seconds_bucket{operation="prune",le="1"} 0
took_seconds_bucket{operation="prune",le="+Inf"} 0
took_seconds_sum{operation="prune"} 0
took_seconds_count{operation="prune"} 0

# HELP stored_bytes Bytes.
# TYPE stored_bytes gauge
stored_bytes{location="a \\"quoted\\" \\\\ name",} 1.5e3 1700000000000
# HELP empty_family Nothing yet.
# TYPE empty_family gauge
# HELP info Build.
# TYPE info gauge
info 1
"""


def replace(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


class ParserAcceptsTest(unittest.TestCase):
    def test_a_well_formed_exposition(self):
        fams = parse(GOOD)
        self.assertEqual(sorted(fams), ["empty_family", "info", "jobs_total", "stored_bytes", "took_seconds"])
        self.assertEqual(fams["took_seconds"].type, "histogram")
        self.assertEqual(fams["took_seconds"].help, "How long, with an escaped \\ and a \n.")
        self.assertEqual(value(fams, "jobs_total", operation="create", result="success"), 3)
        self.assertEqual(value(fams, "took_seconds_count", operation="create"), 3)
        self.assertEqual(value(fams, "stored_bytes", location='a "quoted" \\ name'), 1500)
        self.assertEqual(value(fams, "info"), 1)
        self.assertIsNone(value(fams, "info", location="x"))
        self.assertEqual(fams["empty_family"].samples, [])

    def test_empty_text(self):
        self.assertEqual(parse(""), {})


class ParserRejectsTest(unittest.TestCase):
    CASES = [
        ("duplicate HELP", lambda t: replace(t, "# TYPE jobs_total counter\n",
                                              "# TYPE jobs_total counter\n# HELP jobs_total Again.\n"),
         "second HELP"),
        ("duplicate TYPE", lambda t: replace(t, "# TYPE jobs_total counter\n",
                                              "# TYPE jobs_total counter\n# TYPE jobs_total counter\n"),
         "second TYPE"),
        ("a sample before its TYPE", lambda t: replace(t, "# TYPE info gauge\ninfo 1\n", "info 1\n# TYPE info gauge\n"),
         "before its TYPE"),
        ("a sample of no family", lambda t: t + "unknown_metric 1\n", "before its TYPE"),
        ("no HELP", lambda t: replace(t, "# HELP info Build.\n", ""), "without a HELP"),
        ("no TYPE", lambda t: replace(t, "# TYPE empty_family gauge\n", ""), "lacks a TYPE"),
        ("a family's HELP again later", lambda t: t + "# HELP jobs_total More.\n", "after"),
        ("samples apart from their family",
         lambda t: t + 'jobs_total{operation="prune",result="success"} 1\n', "apart from the rest"),
        ("a series twice", lambda t: replace(t, "info 1\n", "info 1\ninfo 2\n"), "twice"),
        ("an unknown type", lambda t: replace(t, "# TYPE info gauge", "# TYPE info meter"), "bad TYPE"),
        ("bad label syntax: unquoted value", lambda t: replace(t, 'result="success"', "result=success"),
         "expected =\""),
        ("bad label syntax: unterminated value", lambda t: replace(t, 'result="success"}', 'result="success}'),
         "unterminated|expected"),
        ("bad label syntax: missing comma", lambda t: replace(t, '"create",result', '"create" result'),
         "expected , or }"),
        ("bad label syntax: bad name", lambda t: replace(t, 'result="success"', '1result="success"'),
         "bad label name"),
        ("bad label syntax: bad escape", lambda t: replace(t, '\\"quoted\\"', '\\qquoted'), "invalid escape"),
        ("a label twice", lambda t: replace(t, 'result="success"', 'result="success",result="x"'), "twice"),
        ("a reserved label", lambda t: replace(t, 'result="success"', '__name__="x"'), "reserved"),
        ("a value that is not a number", lambda t: replace(t, "info 1", "info one"), "not a number"),
        ("no space before the value", lambda t: replace(t, 'result="failure"} 0', 'result="failure"}0'),
         "space"),
        ("a bad timestamp", lambda t: replace(t, "1700000000000", "soon"), "timestamp"),
        ("a negative counter", lambda t: replace(t, 'result="success"} 3', 'result="success"} -3'), "counter"),
        ("no final newline", lambda t: t[:-1], "newline"),
        ("non-monotonic histogram buckets",
         lambda t: replace(t, 'le="1"} 2', 'le="1"} 0'), "not monotonic"),
        ("buckets out of order",
         lambda t: replace(replace(t, 'le="0.5"} 1', 'le="2"} 1'), 'le="1"} 2', 'le="1.5"} 2'), "not increasing"),
        ("a missing +Inf bucket",
         lambda t: replace(t, 'took_seconds_bucket{operation="create",le="+Inf"} 3\n', ""), "missing the \\+Inf"),
        ("_count != +Inf bucket",
         lambda t: replace(t, 'took_seconds_count{operation="create"} 3', 'took_seconds_count{operation="create"} 4'),
         "_count 4.0 != \\+Inf bucket 3.0"),
        ("a missing _sum",
         lambda t: replace(t, 'took_seconds_sum{operation="prune"} 0\n', ""), "missing _sum or _count"),
        ("a bucket without le",
         lambda t: replace(t, 'took_seconds_bucket{operation="prune",le="1"} 0', 'took_seconds_bucket{operation="prune"} 0'),
         "without le"),
        ("a histogram suffix on a gauge", lambda t: t.replace("info 1", "info_count 1"), "before its TYPE"),
    ]

    def test_each_malformed_input(self):
        for what, mutate, message in self.CASES:
            with self.subTest(what):
                bad = mutate(GOOD)
                self.assertNotEqual(bad, GOOD)
                with self.assertRaisesRegex(FormatError, message):
                    parse(bad)


if __name__ == "__main__":
    argv = [sys.argv[0]] + [a for a in sys.argv[1:] if not (os.path.isabs(a) and os.access(a, os.X_OK))]
    honetest.main(argv)

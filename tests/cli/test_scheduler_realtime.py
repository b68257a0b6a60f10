#!/usr/bin/env python3
"""The built-in scheduler in a real `hone serve`, in real time: HONE_BACKUP_SCHEDULE=0.0005
(1.8 s) and HONE_BACKUP_RETENTION=1 must create backups one interval apart (none at start-up)
and prune down to one.

Usage: test_scheduler_realtime.py PATH/TO/hone [unittest options]"""

import datetime
import os
import re
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from honetest import Sandbox, Server, assert_no_key_material, hone_exe, unittest_argv

CREATED = re.compile(r"scheduler: scheduled backup created: (\S+) \(\d+ bytes\) in (\d+\.\d+) s")
PRUNED = re.compile(r"scheduler: scheduled prune: deleted (\d+), kept (\d+)")
STAMP = re.compile(r"^(\S+Z) ")


def when(line):
    return datetime.datetime.strptime(STAMP.match(line).group(1), "%Y-%m-%dT%H:%M:%S.%fZ")


class SchedulerRealtimeTest(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox(tag="sched")

    def tearDown(self):
        self.sb.cleanup()

    def test_backups_every_interval_and_prunes_to_retention(self):
        r = self.sb.run("demo-db", "--transactions", "200")
        self.assertEqual(r.rc, 0, r)
        srv = Server(self.sb, env={"HONE_BACKUP_SCHEDULE": "0.0005", "HONE_BACKUP_RETENTION": "1"})
        try:
            self.assertIn("backup scheduler enabled: every 0.0005 h, keeping 1 backups", srv.log())
            # About 6 s on an idle machine; generous limits for a loaded CI machine.
            self.assertTrue(srv.wait_for(CREATED, count=2, timeout=120), srv.log())
            self.assertTrue(srv.wait_for(PRUNED, count=2, timeout=120), srv.log())
        finally:
            rc = srv.stop()
        log = srv.log()
        self.assertEqual(rc, 0, log)
        lines = log.splitlines()
        listening = [l for l in lines if "listening on" in l][0]
        created = [l for l in lines if CREATED.search(l)]
        pruned = [PRUNED.search(l) for l in lines if PRUNED.search(l)]
        self.assertGreaterEqual(len(created), 2, log)
        # Nothing at start-up: the first backup starts one interval (1.8 s) later, the next one
        # an interval after that. A line is logged when a backup is done and tells how long it
        # took, which gives when it started.
        def started(line):
            return when(line) - datetime.timedelta(seconds=float(CREATED.search(line).group(2)))
        first = (started(created[0]) - when(listening)).total_seconds()
        self.assertGreaterEqual(first, 1.7, log)
        for a, b in zip(created, created[1:]):
            gap = (started(b) - started(a)).total_seconds()
            self.assertGreaterEqual(gap, 1.7, log)
            self.assertLess(gap, 60, log)
        # Each cycle prunes to the retention: the second (and later) prunes delete one.
        self.assertTrue(all(int(m.group(2)) == 1 for m in pruned), log)
        self.assertTrue(any(int(m.group(1)) >= 1 for m in pruned), log)
        # The server stops only after a running cycle (create + prune) has finished, so exactly
        # the retention (1) remains: the newest backup.
        newest = CREATED.search(created[-1]).group(1)
        self.assertEqual(self.sb.backups(), [newest], log)
        self.assertEqual(len(pruned), len(created), "every scheduled backup is followed by a prune")
        self.assertNotIn("ERROR", log)
        assert_no_key_material(self, self.sb.transcript + [log])

    def test_disabled_reasons(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        for env, level, reason in (({}, "INFO", "HONE_BACKUP_SCHEDULE is not set"),
                                   ({"HONE_BACKUP_SCHEDULE": "0"}, "WARN", "is not positive"),
                                   ({"HONE_BACKUP_SCHEDULE": "-1"}, "WARN", "is not positive"),
                                   ({"HONE_BACKUP_SCHEDULE": "daily"}, "WARN", "is not a number of hours"),
                                   ({"HONE_BACKUP_SCHEDULE": "24", "HONE_BACKUP_RETENTION": "0"}, "WARN",
                                    "HONE_BACKUP_RETENTION='0'")):
            with self.subTest(env=env):
                srv = Server(self.sb, env=env)
                try:
                    self.assertRegex(srv.log(), r"%s\s+backup scheduler disabled: .*%s" % (level, re.escape(reason)))
                finally:
                    self.assertEqual(srv.stop(), 0)
        srv = Server(self.sb, env={"HONE_BACKUP_SCHEDULE": "24"})
        try:
            self.assertRegex(srv.log(), r"INFO\s+backup scheduler enabled: every 24 h, keeping 7 backups")
        finally:
            self.assertEqual(srv.stop(), 0, "a waiting scheduler stops at once")
        self.assertEqual(self.sb.backups(), [])


if __name__ == "__main__":
    hone_exe()
    unittest.main(argv=unittest_argv(), verbosity=2)

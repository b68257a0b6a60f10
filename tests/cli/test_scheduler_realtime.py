#!/usr/bin/env python3
"""The built-in scheduler in a real `hone serve`, in real time.

- With HONE_BACKUP_SCHEDULE=0.0167 (60.12 s, the shortest interval accepted) and a backup whose
  modification time makes the next one due about 10 s after start-up, the scheduled backup
  starts at that moment (not at start-up), prunes to HONE_BACKUP_RETENTION=1, and the next one
  is due one interval later.
- A backup dated in the future does not postpone the next one, and a warning names it.
- A misconfigured scheduler stops `hone serve` at start-up with exit code 2 and a message that
  names the variable and the rule; an unset schedule starts the server without a scheduler.

Usage: test_scheduler_realtime.py PATH/TO/hone [unittest options]"""

import datetime
import os
import re
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import Sandbox, Server, assert_no_key_material, hone_exe

CREATED = re.compile(r"scheduler: scheduled backup created: (\S+) \(\d+ bytes\) in (\d+\.\d+) s")
PRUNED = re.compile(r"scheduler: scheduled prune: deleted (\d+), kept (\d+)")
NEXT = re.compile(r"scheduler: next scheduled backup at (\S+Z)")
STAMP = re.compile(r"^(\S+Z) ")
INTERVAL = 0.0167 * 3600  # seconds


def when(line):
    """The time a log line was written (naive UTC)."""
    return datetime.datetime.strptime(STAMP.match(line).group(1), "%Y-%m-%dT%H:%M:%S.%fZ")


def utc(ts):
    """A POSIX timestamp as naive UTC."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(tzinfo=None)


def parse_due(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


class SchedulerRealtimeTest(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox(tag="sched")

    def tearDown(self):
        self.sb.cleanup()

    def test_backs_up_when_due_and_prunes_to_retention(self):
        r = self.sb.run("demo-db", "--transactions", "200")
        self.assertEqual(r.rc, 0, r)
        r = self.sb.run("backup", "create", "--name", "seed")
        self.assertEqual(r.rc, 0, r)
        seed = os.path.join(self.sb.backup_dir, "seed.db.gz")
        # A backup with a name of its own is dated by its modification time: 50 s ago makes the
        # next scheduled backup due about 10 s from now.
        seed_time = time.time() - 50
        os.utime(seed, (seed_time, seed_time))
        due = utc(seed_time + INTERVAL)
        srv = Server(self.sb, "--verbose", env={"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_BACKUP_RETENTION": "1"})
        try:
            self.assertTrue(srv.logged("backup scheduler enabled: every 0.0167 h, keeping 1 backups"), srv.log())
            self.assertTrue(srv.wait_for(CREATED, count=1, timeout=120), srv.log())
            self.assertTrue(srv.wait_for(PRUNED, count=1, timeout=120), srv.log())
            self.assertTrue(srv.wait_for(NEXT, count=2, timeout=60), srv.log())
        finally:
            rc = srv.stop()
        log = srv.log()
        self.assertEqual(rc, 0, "a waiting scheduler stops at once\n" + log)
        lines = log.splitlines()
        listening = when([l for l in lines if "listening on" in l][0])
        created = [l for l in lines if CREATED.search(l)]
        self.assertEqual(len(created), 1, log)
        nexts = [parse_due(NEXT.search(l).group(1)) for l in lines if NEXT.search(l)]

        # The first due time is one interval after the seed (logged to the second).
        self.assertTrue(0 <= (due - nexts[0]).total_seconds() < 1.01, "%s %s\n%s" % (due, nexts[0], log))
        # The backup starts at that time: not at start-up, not an interval after start-up. The
        # line is logged when the backup is done and says how long it took.
        started = when(created[0]) - datetime.timedelta(seconds=float(CREATED.search(created[0]).group(2)))
        self.assertGreaterEqual((started - due).total_seconds(), -0.05, log)
        self.assertLess((started - due).total_seconds(), 30, log)
        self.assertGreater((started - listening).total_seconds(), 1, "no backup at start-up\n" + log)
        # The next one is due one interval after this one (after its start, or after the time in
        # its name, which is taken while it runs; logged to the second).
        self.assertGreaterEqual((nexts[1] - started).total_seconds(), INTERVAL - 1.05, log)
        self.assertLessEqual((nexts[1] - when(created[0])).total_seconds(), INTERVAL + 0.05, log)

        # The prune kept the retention (1): the new backup; the seed is gone.
        m = PRUNED.search([l for l in lines if PRUNED.search(l)][0])
        self.assertEqual((m.group(1), m.group(2)), ("1", "1"), log)
        self.assertEqual(self.sb.backups(), [CREATED.search(created[0]).group(1)], log)
        self.assertNotIn("ERROR", log)
        assert_no_key_material(self, self.sb.transcript + [log])

    def test_a_backup_dated_in_the_future_does_not_postpone(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        r = self.sb.run("backup", "create", "--name", "copied-in")
        self.assertEqual(r.rc, 0, r)
        # one named in the future, one modified in the future
        os.rename(os.path.join(self.sb.backup_dir, "copied-in.db.gz"),
                  os.path.join(self.sb.backup_dir, "hone-2200-01-01-000000.db.gz"))
        r = self.sb.run("backup", "create", "--name", "copied-in")
        self.assertEqual(r.rc, 0, r)
        future = time.time() + 10 * 365 * 86400
        os.utime(os.path.join(self.sb.backup_dir, "copied-in.db.gz"), (future, future))
        before = utc(time.time())
        srv = Server(self.sb, "--verbose", env={"HONE_BACKUP_SCHEDULE": "24"})
        try:
            m = srv.wait_for(NEXT, timeout=60)
            self.assertTrue(m, srv.log())
        finally:
            rc = srv.stop()
        after = utc(time.time())
        log = srv.log()
        self.assertEqual(rc, 0, log)
        due = parse_due(m.group(1))
        self.assertGreaterEqual(due, (before + datetime.timedelta(hours=24)).replace(microsecond=0), log)
        self.assertLessEqual(due, after + datetime.timedelta(hours=24), log)
        self.assertRegex(log, r"WARN\s+scheduler: backup hone-2200-01-01-000000\.db\.gz is dated in the future "
                              r"\(2200-01-01T00:00:00Z\); counting the next backup from now")
        self.assertEqual(self.sb.backups(), ["copied-in.db.gz", "hone-2200-01-01-000000.db.gz"], "nothing at start-up")

    def test_misconfigured_scheduler_refuses_to_start(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        schedule_rule = ("is not valid (%s): give the interval in hours as a plain decimal number of at least "
                         "0.0167 (one minute) and at most 876000 (100 years), e.g. 24 for daily or 0.5 for every "
                         "30 minutes")
        retention_rule = ("is not valid: give the number of backups to keep as a whole number of at least 1 in "
                          "plain digits, e.g. 7")
        not_decimal, too_short = "not a plain decimal number", "under one minute"
        cases = [({"HONE_BACKUP_SCHEDULE": v}, "HONE_BACKUP_SCHEDULE='%s' %s" % (v, schedule_rule % why))
                 for v, why in (("1e-9", not_decimal), ("0.01", too_short), ("0x10", not_decimal),
                                ("24h", not_decimal), (" 24", not_decimal), ("0", too_short), ("-1", not_decimal),
                                ("daily", not_decimal))]
        cases += [({"HONE_BACKUP_SCHEDULE": "24", "HONE_BACKUP_RETENTION": v},
                   "HONE_BACKUP_RETENTION='%s' %s" % (v, retention_rule)) for v in ("abc", "0")]
        # a set retention must be valid even when the schedule is not set
        cases += [({"HONE_BACKUP_RETENTION": "-3"}, "HONE_BACKUP_RETENTION='-3' " + retention_rule)]
        for env, message in cases:
            with self.subTest(env=env):
                t0 = time.monotonic()
                srv = Server(self.sb, env=env, wait=False)
                rc = srv.exit_code()
                elapsed = time.monotonic() - t0
                log = srv.log()
                self.assertEqual(rc, 2, "exit code 2 at start-up\n" + log)
                self.assertLess(elapsed, 30, log)
                self.assertIn("error: " + message + "\n", log)
                self.assertNotIn("listening on", log)
        self.assertEqual(self.sb.backups(), [])

    def test_unset_schedule_starts_without_scheduler(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        for env in ({}, {"HONE_BACKUP_SCHEDULE": ""}, {"HONE_BACKUP_SCHEDULE": "", "HONE_BACKUP_RETENTION": ""}):
            with self.subTest(env=env):
                srv = Server(self.sb, env=env)
                try:
                    self.assertRegex(srv.log(), r"INFO\s+backup scheduler disabled: HONE_BACKUP_SCHEDULE is not set")
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
    honetest.main()

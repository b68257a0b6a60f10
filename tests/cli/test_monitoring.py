#!/usr/bin/env python3
"""Monitoring of the `hone` program (docs/hone/Monitoring.md):

- GET /metrics is the Prometheus text format (checked by the strict parser of prometheus.py)
  before and after a create, a failed create, a prune, a verify, a delete and a failed prune,
  with the counts, durations, sizes and times those operations should give; it needs the token.
- GET /api/backup/status and `hone backup status` report the newest backup, the counts, the
  last verify, and (from the server, or from the state file it writes in the backup folder)
  the scheduler's policy, last and next run; --max-age / ?max_age= decide staleness and the
  exit code (0 fine, 1 stale or no backup, 2 usage error).
- A failed scheduled backup runs HONE_BACKUP_ON_FAILURE with the failure in its environment and
  without the server's secrets; a failing, missing or hanging command is logged, never fatal; a
  malformed value stops `hone serve` with exit code 2.

Usage: test_monitoring.py PATH/TO/hone [unittest options]"""

import calendar
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import prometheus
import honetest  # noqa: E402
from honetest import (OTHER_PASSPHRASE, PASSPHRASE, Sandbox, Server, assert_no_key_material, file_mode, hone_exe)

TOKEN = "monitoring-token-0123456789abcdef"
R2_SECRET = "r2-secret-access-key-value-5521"
INTERVAL = 0.0167 * 3600  # the shortest schedule, in seconds
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
AUTH = {"Authorization": "Bearer " + TOKEN}


def iso_to_unix(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


class MonitoringCase(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox(tag="mon")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        assert_no_key_material(self, self.sb.transcript + [s.log() for s in self.servers])
        for s in self.servers:
            self.assertNotIn(TOKEN, s.log())
            self.assertNotIn(R2_SECRET, s.log())
        self.sb.cleanup()

    def start(self, *args, **kw):
        s = Server(self.sb, *args, **kw)
        self.servers.append(s)
        return s

    def metrics(self, srv, headers=AUTH):
        status, body, h = srv.get_text("/metrics", headers)
        self.assertEqual(status, 200, body)
        self.assertEqual(h.get("content-type"), CONTENT_TYPE)
        return prometheus.parse(body)

    def status(self, srv, query="", headers=AUTH):
        code, body, _ = srv.request("GET", "/api/backup/status" + query, headers=headers)
        self.assertEqual(code, 200, body)
        return body

    def cli_status(self, *args, env=None):
        r = self.sb.run("backup", "status", "--json", *args, env=env)
        return r.rc, (json.loads(r.out) if r.out.strip() else None), r

    def seed(self, due_in, name="seed"):
        """A backup dated so that the scheduler's next backup is due `due_in` seconds from now."""
        r = self.sb.run("backup", "create", "--name", name)
        self.assertEqual(r.rc, 0, r)
        path = os.path.join(self.sb.backup_dir, name + ".db.gz")
        t = time.time() - INTERVAL + due_in
        os.utime(path, (t, t))
        return name + ".db.gz"


def unreachable_bucket():
    """A complete offsite configuration (HONE_R2_*) whose endpoint is a loopback port nothing
    listens on: every upload fails with a connection error."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return {"HONE_R2_BUCKET": "backups", "HONE_R2_ACCESS_KEY_ID": "access-key-id-7731",
            "HONE_R2_SECRET_ACCESS_KEY": R2_SECRET, "HONE_R2_ENDPOINT": "http://127.0.0.1:%d" % port}


class MetricsTest(MonitoringCase):
    def test_metrics_follow_the_operations(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "50").rc, 0)
        version = re.search(r"hone (\S+)", self.sb.run("--version").out).group(1)
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})

        # The same authentication as the API.
        for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}):
            code, body, h = srv.get_text("/metrics", headers)
            self.assertEqual(code, 401, body)
            self.assertNotIn("hone_backup", body)
        self.assertEqual(srv.request("POST", "/metrics", headers=AUTH)[0], 405)

        m = self.metrics(srv)
        expected_types = {"hone_backup_runs_total": "counter", "hone_backup_duration_seconds": "histogram",
                          "hone_backup_last_success_timestamp_seconds": "gauge",
                          "hone_backup_last_size_bytes": "gauge", "hone_backup_stored_backups": "gauge",
                          "hone_backup_stored_bytes": "gauge", "hone_backup_build_info": "gauge"}
        for name, t in expected_types.items():
            self.assertIn(name, m)
            self.assertEqual(m[name].type, t, name)
            self.assertTrue(m[name].help, name)
        self.assertEqual(prometheus.value(m, "hone_backup_build_info", version=version), 1)
        for op in ("create", "verify", "restore", "prune", "remove"):
            for result in ("success", "failure"):
                self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation=op, result=result, location="local"), 0)
            self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_count", operation=op, location="local"), 0)
            self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_bucket", operation=op, le="+Inf", location="local"), 0)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 0)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_bytes", location="local"), 0)
        self.assertIsNone(prometheus.value(m, "hone_backup_last_size_bytes", location="local"))
        self.assertIsNone(prometheus.value(m, "hone_backup_last_success_timestamp_seconds", operation="create", location="local"))
        # Low cardinality: no backup names in any label.
        for f in m.values():
            for _, labels, _ in f.samples:
                self.assertLessEqual(set(labels), {"operation", "result", "le", "location", "version"})

        # A create.
        t0 = time.time()
        code, b1, _ = srv.request("POST", "/api/backup", {}, headers=AUTH)
        self.assertEqual(code, 201, b1)
        t1 = time.time()
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="failure", location="local"), 0)
        self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_count", operation="create", location="local"), 1)
        took = prometheus.value(m, "hone_backup_duration_seconds_sum", operation="create", location="local")
        self.assertGreater(took, 0)
        self.assertLessEqual(took, t1 - t0 + 0.01)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_bytes", location="local"), b1["size"])
        self.assertEqual(prometheus.value(m, "hone_backup_last_size_bytes", location="local"), b1["size"])
        self.assertEqual(b1["size"], os.path.getsize(os.path.join(self.sb.backup_dir, b1["name"])))
        last = prometheus.value(m, "hone_backup_last_success_timestamp_seconds", operation="create", location="local")
        self.assertTrue(t0 - 1 <= last <= t1 + 1, (t0, last, t1))
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", result="success", location="local"), 0)

        # A failed create (the database is gone).
        os.rename(self.sb.db, self.sb.db + ".away")
        code, body, _ = srv.request("POST", "/api/backup", {}, headers=AUTH)
        self.assertEqual(code, 500, body)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="failure", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_count", operation="create", location="local"), 2)
        self.assertEqual(prometheus.value(m, "hone_backup_last_success_timestamp_seconds", operation="create", location="local"), last)
        os.rename(self.sb.db + ".away", self.sb.db)

        # A second backup, a verify, a prune to one, a delete.
        time.sleep(1.1)  # another second: another automatic name
        code, b2, _ = srv.request("POST", "/api/backup", {}, headers=AUTH)
        self.assertEqual(code, 201, b2)
        code, v, _ = srv.request("POST", "/api/backup/verify", {"name": b2["name"]}, headers=AUTH)
        self.assertEqual((code, v["valid"]), (200, True), v)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 2)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_bytes", location="local"), b1["size"] + b2["size"])
        self.assertEqual(prometheus.value(m, "hone_backup_last_size_bytes", location="local"), b2["size"])
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="verify", result="success", location="local"), 1)
        code, p, _ = srv.request("POST", "/api/backup/prune", {"keep": 1}, headers=AUTH)
        self.assertEqual((code, p["deleted_count"]), (200, 1), p)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_count", operation="prune", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_bytes", location="local"), b2["size"])
        self.assertIsNotNone(prometheus.value(m, "hone_backup_last_success_timestamp_seconds", operation="prune", location="local"))
        code, body, _ = srv.request("DELETE", "/api/backup/" + b2["name"], headers=AUTH)
        self.assertEqual(code, 200, body)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="remove", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 0)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success", location="local"), 2)

        # A failed prune: the backup folder replaced by a file. The gauges of a folder that
        # cannot be listed are left out; the text stays well-formed.
        shutil.rmtree(self.sb.backup_dir)
        with open(self.sb.backup_dir, "w") as f:
            f.write("not a folder\n")
        code, body, _ = srv.request("POST", "/api/backup/prune", {"keep": 1}, headers=AUTH)
        self.assertGreaterEqual(code, 500, body)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", result="failure", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", result="success", location="local"), 1)
        self.assertIsNone(prometheus.value(m, "hone_backup_stored_backups", location="local"))
        s = self.status(srv)
        self.assertFalse(s["ok"])
        self.assertIn("error", s["locations"]["local"])
        rc, cli, r = self.cli_status()
        self.assertEqual(rc, 1, r)
        self.assertIn("error", cli["locations"]["local"])


class StatusTest(MonitoringCase):
    def test_status_and_max_age(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        # No backup: exit 1, with --max-age or without.
        for args in ((), ("--max-age", "26h")):
            rc, s, r = self.cli_status(*args)
            self.assertEqual(rc, 1, r)
            self.assertIsNone(s["newest"])
            self.assertFalse(s["ok"])
        r = self.sb.run("backup", "status")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("FAILED: no backup", r.out)
        # Usage errors: exit 2.
        for bad in ("", "26", "h", "-1h", "26x", "0h", "1.5h", "26 h", "99999999999d"):
            with self.subTest(max_age=bad):
                r = self.sb.run("backup", "status", "--max-age", bad)
                self.assertEqual(r.rc, 2, r)
                self.assertIn("is not a duration", r.err)

        # A backup three days old.
        old = self.seed(due_in=0, name="old")
        three_days_ago = time.time() - 3 * 86400
        os.utime(os.path.join(self.sb.backup_dir, old), (three_days_ago, three_days_ago))
        size = os.path.getsize(os.path.join(self.sb.backup_dir, old))
        rc, s, r = self.cli_status()
        self.assertEqual(rc, 0, r)
        self.assertNotIn("stale", s)
        self.assertEqual(s["newest"]["name"], old)
        self.assertEqual(s["newest"]["size"], size)
        self.assertAlmostEqual(s["newest"]["age_seconds"], 3 * 86400, delta=30)
        self.assertEqual((s["count"], s["bytes"]), (1, size))
        self.assertEqual(s["locations"], {"local": {"count": 1, "bytes": size}})
        self.assertIsNone(s["scheduler"], "no server has recorded anything")
        for max_age, stale in (("2d", True), ("71h", True), ("4d", False), ("1w", False), ("1d47h", True),
                               ("3d1h", False)):
            with self.subTest(max_age=max_age):
                rc, s, r = self.cli_status("--max-age", max_age)
                self.assertEqual(rc, 1 if stale else 0, r)
                self.assertEqual(s["stale"], stale)
                self.assertEqual(s["ok"], not stale)
        r = self.sb.run("backup", "status", "--max-age", "2d")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("STALE", r.out)

        # A fresh backup, verified by the CLI; then one verify that fails (another key).
        r = self.sb.run("backup", "create", "--json")
        self.assertEqual(r.rc, 0, r)
        fresh = r.json()
        rc, s, r = self.cli_status("--max-age", "2d")
        self.assertEqual(rc, 0, r)
        self.assertEqual(s["newest"]["name"], fresh["name"])
        self.assertLess(s["newest"]["age_seconds"], 60)
        self.assertEqual(s["count"], 2)
        self.assertEqual(s["bytes"], size + fresh["size"])
        self.assertIsNone(s["last_verify"])
        self.assertEqual(self.sb.run("backup", "verify", fresh["name"]).rc, 0)
        s = self.cli_status()[1]
        self.assertEqual(s["last_verify"]["name"], fresh["name"])
        self.assertIs(s["last_verify"]["valid"], True)
        self.assertLess(abs(iso_to_unix(s["last_verify"]["verified_at"]) - time.time()), 60)
        state = os.path.join(self.sb.backup_dir, ".hone-last-verify.json")
        self.assertEqual(file_mode(state), 0o600)
        r = self.sb.run("backup", "verify", fresh["name"], env={"HONE_DB_KEY": OTHER_PASSPHRASE})
        self.assertEqual(r.rc, 1, r)
        s = self.cli_status()[1]
        self.assertIs(s["last_verify"]["valid"], False)
        self.assertTrue(s["last_verify"]["message"])

        # The API: the same document, with the token.
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        code, body, _ = srv.request("GET", "/api/backup/status")
        self.assertEqual(code, 401, body)
        a = self.status(srv)
        self.assertTrue(a["ok"])
        self.assertEqual(a["newest"]["name"], fresh["name"])
        self.assertEqual(a["locations"]["local"], {"count": 2, "bytes": size + fresh["size"]})
        self.assertNotIn("stale", a)
        self.assertIs(a["last_verify"]["valid"], False)
        self.assertEqual(a["scheduler"]["enabled"], False)
        self.assertIs(a["scheduler"]["server_running"], True)
        self.assertIsNone(a["scheduler"]["next_run"])
        self.assertIs(self.status(srv, "?max_age=2d")["stale"], False)
        self.assertEqual(self.status(srv, "?max_age=2d")["max_age_seconds"], 2 * 86400)
        while time.time() - iso_to_unix(fresh["created_at"]) < 2.5:  # older than 1 s, to the second
            time.sleep(0.1)
        self.assertIs(self.status(srv, "?max_age=1s")["stale"], True)
        self.assertIs(self.status(srv, "?max_age=1s")["ok"], False)
        for bad in ("junk", "", "26"):
            code, body, _ = srv.request("GET", "/api/backup/status?max_age=" + bad, headers=AUTH)
            self.assertEqual(code, 400, body)
            self.assertIn("max_age", body["error"])
        code, v, _ = srv.request("POST", "/api/backup/verify", {"name": fresh["name"]}, headers=AUTH)
        self.assertEqual(code, 200, v)
        a = self.status(srv)
        self.assertIs(a["last_verify"]["valid"], True, "the API's verify is recorded too")
        # The CLI sees the running server's state file.
        s = self.cli_status()[1]
        self.assertEqual(s["scheduler"]["source"], "state_file")
        self.assertIs(s["scheduler"]["server_running"], True)
        self.assertIs(s["scheduler"]["enabled"], False)
        self.assertEqual(file_mode(os.path.join(self.sb.backup_dir, ".hone-status.json")), 0o600)
        # A second server that cannot listen (the port is taken) leaves the state alone.
        e = dict(self.sb.env, HONE_API_TOKEN=TOKEN)
        p = subprocess.run([hone_exe(), "serve", "--port", str(srv.port)], env=e, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"cannot listen", p.stderr)
        s = self.cli_status()[1]
        self.assertIs(s["scheduler"]["server_running"], True)
        self.assertEqual(s["scheduler"]["server_pid"], srv.proc.pid)
        self.assertEqual(srv.stop(), 0)
        s = self.cli_status()[1]
        self.assertIs(s["scheduler"]["server_running"], False)


class ScheduledRunsTest(MonitoringCase):
    def hook_script(self, body):
        path = self.sb.path("hook.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, 0o700)
        return path

    def test_a_scheduled_success_is_in_status_and_metrics(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        seed = self.seed(due_in=2)
        marker = self.sb.path("hook-ran")
        hook = self.hook_script("touch '%s'\n" % marker)
        srv = self.start(env={"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_BACKUP_RETENTION": "5",
                              "HONE_BACKUP_ON_FAILURE": hook})
        self.assertTrue(srv.wait_for("scheduler: scheduled prune:", timeout=120), srv.log())
        deadline = time.time() + 30
        while True:  # the cycle's record and the next run come right after the prune's log line
            s = self.status(srv)
            done = s["scheduler"]["last_run"] is not None and s["scheduler"]["next_run"]
            if done or time.time() > deadline:
                break
            time.sleep(0.1)
        sched = s["scheduler"]
        self.assertIs(sched["enabled"], True)
        self.assertEqual(sched["interval_seconds"], 60)
        self.assertEqual(sched["policy"]["keep_last"], 5)
        self.assertEqual(sched["policy"]["description"], "keep 5 last")
        run = sched["last_run"]
        self.assertEqual(run["outcome"], "success")
        self.assertIsNone(run["error"])
        self.assertIsNone(run["failed_operation"])
        self.assertNotEqual(run["backup"], seed)
        self.assertEqual(s["newest"]["name"], run["backup"])
        self.assertEqual(s["count"], 2)
        self.assertIsNotNone(sched["next_run"], s)
        self.assertAlmostEqual(iso_to_unix(sched["next_run"]), iso_to_unix(run["started_at"]) + INTERVAL, delta=3)
        self.assertIsNone(s["last_failure"])

        # Counted without any API request: the scheduler's runner feeds the metrics.
        m = self.metrics(srv, headers={})
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", result="success", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_stored_backups", location="local"), 2)
        self.assertAlmostEqual(prometheus.value(m, "hone_backup_next_run_timestamp_seconds"),
                               iso_to_unix(sched["next_run"]), delta=1)

        # The CLI reads the same from the state file.
        rc, c, r = self.cli_status("--max-age", "1h")
        self.assertEqual(rc, 0, r)
        self.assertEqual(c["scheduler"]["source"], "state_file")
        self.assertIs(c["scheduler"]["server_running"], True)
        self.assertEqual(c["scheduler"]["last_run"], run)
        self.assertEqual(c["scheduler"]["next_run"], sched["next_run"])
        self.assertEqual(c["scheduler"]["policy"], sched["policy"])
        self.assertEqual(srv.stop(), 0)
        c = self.cli_status()[1]
        self.assertIs(c["scheduler"]["server_running"], False)
        self.assertIsNone(c["scheduler"]["next_run"])
        self.assertEqual(c["scheduler"]["last_run"], run)
        self.assertFalse(os.path.exists(marker), "no hook after a success")
        self.assertEqual(srv.count("failure hook: started"), 0, srv.log())

    def test_a_failed_scheduled_backup_runs_the_hook_without_secrets(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        seed = self.seed(due_in=2)
        os.rename(self.sb.db, self.sb.db + ".away")  # the scheduled backup fails
        out = self.sb.path("hook-out.json")
        hook = self.hook_script(
            "exec python3 -c 'import json, os, sys; json.dump({\"argv\": sys.argv[1:], \"env\": dict(os.environ), "
            "\"pid\": os.getpid()}, open(sys.argv[1], \"w\"))' \"$@\"\n")
        env = {"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_API_TOKEN": TOKEN, **unreachable_bucket(),
               "HONE_TEST_MARKER": "passed on", "HONE_BACKUP_ON_FAILURE": "%s %s 'two words' \"x \\\"y\\\"\" plain" % (
                   hook, out)}
        t0 = time.time()
        srv = self.start(env=env)
        self.assertTrue(srv.wait_for(re.compile(r"failure hook: '.*hook\.sh' finished in"), timeout=120), srv.log())
        t1 = time.time()
        with open(out) as f:
            got = json.load(f)
        self.assertEqual(got["argv"], [out, "two words", 'x "y"', "plain"])
        e = got["env"]
        self.assertEqual(e["HONE_BACKUP_FAILED_OPERATION"], "create")
        self.assertIn("Database not found", e["HONE_BACKUP_FAILED_MESSAGE"])
        self.assertTrue(t0 - 1 <= iso_to_unix(e["HONE_BACKUP_FAILED_AT"]) <= t1 + 1, e["HONE_BACKUP_FAILED_AT"])
        self.assertEqual(e["HONE_TEST_MARKER"], "passed on")
        self.assertEqual(e["HOME"], self.sb.home)
        for secret in ("HONE_DB_KEY", "HONE_API_TOKEN", "HONE_R2_SECRET_ACCESS_KEY"):
            self.assertNotIn(secret, e)
        blob = json.dumps(got)
        for value in (PASSPHRASE, TOKEN, R2_SECRET):
            self.assertNotIn(value, blob)
        self.assertTrue(srv.logged("failure hook: started"), srv.log())

        s = self.status(srv)
        run = s["scheduler"]["last_run"]
        self.assertEqual(run["outcome"], "failure")
        self.assertEqual(run["failed_operation"], "create")
        self.assertIn("Database not found", run["error"])
        self.assertIsNone(run["backup"])
        self.assertEqual(s["last_failure"]["operation"], "create")
        self.assertEqual(s["last_failure"]["message"], run["error"])
        self.assertEqual(s["last_failure"]["at"], e["HONE_BACKUP_FAILED_AT"])
        self.assertEqual(s["newest"]["name"], seed)
        m = self.metrics(srv)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="failure", location="local"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success", location="local"), 0)
        rc, c, r = self.cli_status()
        self.assertEqual(rc, 0, "the newest backup is still fresh\n%r" % r)
        self.assertEqual(c["scheduler"]["last_run"], run)
        self.assertEqual(c["last_failure"], s["last_failure"])
        r = self.sb.run("backup", "status")
        self.assertIn("failure (create: ", r.out)
        self.assertEqual(srv.stop(), 0)
        # A new server keeps reporting the last run until it has one of its own.
        srv2 = self.start(env={"HONE_API_TOKEN": TOKEN})
        self.assertEqual(self.status(srv2)["scheduler"]["last_run"], run)
        self.assertEqual(self.status(srv2)["last_failure"], s["last_failure"])

    def run_failing_hook(self, hook_value, wait_for, extra_env=None):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        self.seed(due_in=1)
        os.rename(self.sb.db, self.sb.db + ".away")
        env = {"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_BACKUP_ON_FAILURE": hook_value}
        env.update(extra_env or {})
        srv = self.start(env=env)
        line = srv.wait_for(wait_for, timeout=120)
        self.assertTrue(line, srv.log())
        # Never fatal: the server still answers.
        code, body, _ = srv.request("GET", "/api/backup/status")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["scheduler"]["last_run"]["outcome"], "failure")
        self.assertIsNone(srv.proc.poll())
        return srv

    def test_a_failed_upload_runs_the_hook(self):
        # The scheduled backup succeeds in the local folder; its offsite copy cannot be uploaded,
        # nor can the bucket be pruned: two failures, two runs of the hook.
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        self.seed(due_in=2)
        out = self.sb.path("hook-out.jsonl")
        hook = self.hook_script(
            "exec python3 -c 'import json, os, sys; print(json.dumps(dict(os.environ)), file=open(sys.argv[1], \"a\"))' "
            "\"$@\"\n")
        srv = self.start(env={"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_BACKUP_RETENTION": "5", **unreachable_bucket(),
                              "HONE_BACKUP_ON_FAILURE": "%s %s" % (hook, out)})
        finished = re.compile(r"failure hook: '.*hook\.sh' finished in")
        deadline = time.time() + 120
        while len(finished.findall(srv.log())) < 2 and time.time() < deadline:
            time.sleep(0.2)
        with open(out) as f:
            runs = [json.loads(line) for line in f if line.strip()]
        self.assertEqual(sorted(e["HONE_BACKUP_FAILED_OPERATION"] for e in runs), ["prune", "upload"], srv.log())
        for e in runs:
            self.assertIn("127.0.0.1", e["HONE_BACKUP_FAILED_MESSAGE"])
            self.assertNotIn("HONE_R2_SECRET_ACCESS_KEY", e)
            self.assertNotIn(R2_SECRET, json.dumps(e))
        self.assertTrue(srv.logged("kept in the local folder only"), srv.log())
        deadline = time.time() + 60
        while True:  # the cycle is recorded when it ends (the hook may run before)
            s = self.status(srv)
            if s["scheduler"]["last_run"] is not None or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(s["last_failure"]["operation"], "prune", "the bucket's prune comes after the upload")
        self.assertEqual(s["scheduler"]["last_run"]["outcome"], "success", "the local backup is what the schedule guarantees")
        self.assertEqual(len(self.sb.backups()), 2, "the scheduled backup is kept locally")
        self.assertEqual(srv.stop(), 0)
        self.assertNotIn(R2_SECRET, srv.log())

    def test_a_failing_hook_is_logged(self):
        hook = self.hook_script("echo hook output >&2\nexit 3\n")
        srv = self.run_failing_hook(hook, "failed with exit status 3")
        self.assertRegex(srv.log(), r"ERROR\s+failure hook: '.*hook\.sh' failed with exit status 3")
        self.assertEqual(srv.stop(), 0)

    def test_a_missing_hook_is_logged(self):
        srv = self.run_failing_hook("no-such-hook-command --flag", "not found or not executable")
        self.assertRegex(srv.log(), r"ERROR\s+failure hook: cannot run 'no-such-hook-command' for the failed create")
        self.assertEqual(srv.stop(), 0)

    def test_a_hanging_hook_is_killed_after_its_timeout(self):
        pidfile = self.sb.path("hook.pid")
        hook = self.hook_script("echo $$ > '%s'\nexec sleep 300\n" % pidfile)
        t0 = time.monotonic()
        srv = self.run_failing_hook(hook, "did not finish within 2 s", {"HONE_BACKUP_ON_FAILURE_TIMEOUT": "2"})
        self.assertLess(time.monotonic() - t0, 60)
        with open(pidfile) as f:
            pid = int(f.read())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        self.assertRegex(srv.log(), r"ERROR\s+failure hook: '.*hook\.sh' did not finish within 2 s "
                                    r"\(HONE_BACKUP_ON_FAILURE_TIMEOUT\): killed")
        self.assertEqual(srv.stop(), 0)

    def test_a_malformed_hook_stops_the_server_with_exit_code_2(self):
        cases = [({"HONE_BACKUP_ON_FAILURE": "notify 'unterminated"}, "unterminated ' quote"),
                 ({"HONE_BACKUP_ON_FAILURE": 'notify "unterminated'}, 'unterminated " quote'),
                 ({"HONE_BACKUP_ON_FAILURE": ""}, "no command is given"),
                 ({"HONE_BACKUP_ON_FAILURE": "   "}, "no command is given"),
                 ({"HONE_BACKUP_ON_FAILURE": "notify \\"}, "ends in a backslash"),
                 ({"HONE_BACKUP_ON_FAILURE": "notify", "HONE_BACKUP_ON_FAILURE_TIMEOUT": "0"},
                  "HONE_BACKUP_ON_FAILURE_TIMEOUT='0' is not valid"),
                 ({"HONE_BACKUP_ON_FAILURE": "notify", "HONE_BACKUP_ON_FAILURE_TIMEOUT": "10s"},
                  "HONE_BACKUP_ON_FAILURE_TIMEOUT='10s' is not valid")]
        for env, message in cases:
            with self.subTest(env=env):
                srv = Server(self.sb, env=env, wait=False)
                rc = srv.exit_code()
                log = srv.log()
                self.assertEqual(rc, 2, log)
                self.assertIn("error: ", log)
                self.assertIn(message, log)
                self.assertNotIn("listening on", log)


if __name__ == "__main__":
    hone_exe()
    honetest.main()

#!/usr/bin/env python3
"""What operators and their monitoring rely on (docs/hone/Monitoring.md), with the real program:

- Metrics: a refused request (a name that exists, a backup not found) is counted as
  result="refused", never as result="failure" (which the documented alert watches); a real
  failure still is; the standard process_* metrics match /proc of the server; the read-only
  HONE_METRICS_TOKEN opens GET /metrics and GET /api/backup/status and nothing else;
  `promtool check metrics` accepts a live scrape (skipped with the reason without promtool).
- Logs: HONE_LOG_LEVEL / --log-level (and -v) choose the lowest level; scrapes and status polls
  are debug lines; under systemd (JOURNAL_STREAM naming stderr) every line starts with its
  syslog priority and carries no timestamp; HONE_LOG_FORMAT=json writes one JSON object per
  line. No format ever shows the key or a token.

Usage: test_operator.py PATH/TO/hone [unittest options]"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
import prometheus  # noqa: E402
from honetest import PASSPHRASE, ServersTestCase, assert_no_key_material, hone_exe  # noqa: E402

TOKEN = "operator-test-token-0123456789abcdef"
METRICS_TOKEN = "operator-metrics-token-0123456789"
AUTH = {"Authorization": "Bearer " + TOKEN}
READ_ONLY = {"Authorization": "Bearer " + METRICS_TOKEN}
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z ")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FileServer:
    """`hone serve` on a chosen port with stderr written to a file of its own (not a pipe), so a
    test can name that file in JOURNAL_STREAM, and so a level that hides the startup lines still
    finds the server: it is ready once its port accepts connections."""

    def __init__(self, sandbox, env, args=()):
        self.sandbox = sandbox
        self.port = free_port()
        self.host = "127.0.0.1"
        self.path = sandbox.path("serve-%d.log" % self.port)
        self.file = open(self.path, "wb")
        st = os.fstat(self.file.fileno())
        self.journal_stream = "%d:%d" % (st.st_dev, st.st_ino)
        e = dict(sandbox.env)
        e.update({k: (self.journal_stream if v == "SELF" else v) for k, v in env.items()})
        self.proc = subprocess.Popen([hone_exe(), "serve", "--port", str(self.port)] + list(args), env=e,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.file)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("server did not start:\n" + self.log())

    def log(self):
        with open(self.path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def lines(self):
        return [l for l in self.log().split("\n") if l]

    def wait_for(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return True
            time.sleep(0.05)
        return False

    def request(self, *args, **kw):
        return honetest.Server.request(self, *args, **kw)

    def connection(self, timeout=300):
        return honetest.Server.connection(self, timeout)

    def get_text(self, *args, **kw):
        return honetest.Server.get_text(self, *args, **kw)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.file.close()
        self.sandbox.transcript.append(self.log())


class OperatorCase(ServersTestCase):
    SANDBOX_TAG = "ops"

    def setUp(self):
        super().setUp()
        self.file_servers = []
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)

    def tearDown(self):
        for s in self.file_servers:
            s.stop()
        texts = [s.log() for s in self.file_servers] + [s.log() for s in self.servers]
        for t in texts:
            self.assertNotIn(TOKEN, t)
            self.assertNotIn(METRICS_TOKEN, t)
        super().tearDown()

    def file_server(self, env, args=()):
        s = FileServer(self.sb, env, args)
        self.file_servers.append(s)
        return s

    def metrics(self, srv, headers=AUTH):
        code, body, _ = srv.get_text("/metrics", headers)
        self.assertEqual(code, 200, body)
        return body


class MetricsTest(OperatorCase):
    def test_refusals_are_not_failures(self):
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        code, b, h = srv.request("POST", "/api/backup", {"name": "kept"}, headers=AUTH)
        self.assertEqual(code, 201, b)
        m = prometheus.parse(self.metrics(srv))
        count = prometheus.value(m, "hone_backup_duration_seconds_count", operation="create", location="local")
        # A name that exists: 409, refused before any export (no second create timed).
        code, body, _ = srv.request("POST", "/api/backup", {"name": "kept"}, headers=AUTH)
        self.assertEqual(code, 409, body)
        self.assertIn("already exists", body["error"])
        # Not found: the delete reaches the folder and is refused there.
        code, body, _ = srv.request("DELETE", "/api/backup/no-such-backup", headers=AUTH)
        self.assertEqual(code, 404, body)
        code, body, _ = srv.request("POST", "/api/backup/verify", {"name": "no-such"}, headers=AUTH)
        self.assertEqual(code, 404, body)
        m = prometheus.parse(self.metrics(srv))
        v = lambda op, result: prometheus.value(m, "hone_backup_runs_total", operation=op, result=result,
                                                location="local")
        for op in ("create", "remove", "verify", "restore", "prune"):
            self.assertEqual(v(op, "failure"), 0, op)
        self.assertEqual(v("create", "refused"), 1)
        self.assertEqual(v("remove", "refused"), 1)
        self.assertEqual(v("create", "success"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_duration_seconds_count", operation="create",
                                          location="local"), count)
        self.assertEqual(m["hone_backup_runs_total"].type, "counter")
        # A real failure still is one: the database is gone.
        os.rename(self.sb.db, self.sb.db + ".away")
        code, body, _ = srv.request("POST", "/api/backup", {}, headers=AUTH)
        self.assertEqual(code, 500, body)
        m = prometheus.parse(self.metrics(srv))
        self.assertEqual(v("create", "failure"), 1)
        self.assertEqual(v("create", "refused"), 1)

    def test_process_metrics_match_proc(self):
        t0 = time.time()
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        m = prometheus.parse(self.metrics(srv))
        pid = srv.proc.pid
        for name, kind in (("process_start_time_seconds", "gauge"), ("process_cpu_seconds_total", "counter"),
                           ("process_resident_memory_bytes", "gauge"), ("process_virtual_memory_bytes", "gauge"),
                           ("process_open_fds", "gauge"), ("process_max_fds", "gauge")):
            self.assertIn(name, m)
            self.assertEqual(m[name].type, kind, name)
            self.assertIsNotNone(prometheus.value(m, name), name)
        start = prometheus.value(m, "process_start_time_seconds")
        self.assertTrue(t0 - 2 <= start <= time.time() + 1, (t0, start))
        self.assertGreaterEqual(prometheus.value(m, "process_cpu_seconds_total"), 0)
        with open("/proc/%d/status" % pid) as f:
            rss_kb = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))
        rss = prometheus.value(m, "process_resident_memory_bytes")
        self.assertGreater(rss, 1 << 20)
        self.assertLess(abs(rss - rss_kb * 1024), 64 << 20, (rss, rss_kb))
        with open("/proc/%d/limits" % pid) as f:
            soft = re.search(r"Max open files\s+(\d+)", f.read()).group(1)
        self.assertEqual(prometheus.value(m, "process_max_fds"), int(soft))
        fds = len(os.listdir("/proc/%d/fd" % pid))
        self.assertLessEqual(abs(prometheus.value(m, "process_open_fds") - fds), 4, fds)
        # CPU time grows with work.
        for _ in range(3):
            self.assertEqual(srv.request("POST", "/api/backup", {}, headers=AUTH)[0], 201)
            time.sleep(1.05)
        m2 = prometheus.parse(self.metrics(srv))
        self.assertGreater(prometheus.value(m2, "process_cpu_seconds_total"),
                           prometheus.value(m, "process_cpu_seconds_total"))
        self.assertEqual(prometheus.value(m2, "process_start_time_seconds"), start)

    def test_the_metrics_token_reads_metrics_and_status_only(self):
        srv = self.start(env={"HONE_API_TOKEN": TOKEN, "HONE_METRICS_TOKEN": METRICS_TOKEN})
        self.assertIn("hone_backup_runs_total", self.metrics(srv, READ_ONLY))
        code, body, _ = srv.request("GET", "/api/backup/status", headers=READ_ONLY)
        self.assertEqual(code, 200, body)
        self.assertIn("ok", body)
        for method, path, body in (("GET", "/api/backup", None), ("POST", "/api/backup", {}),
                                   ("GET", "/api/backup/x.db.gz", None), ("DELETE", "/api/backup/x.db.gz", None),
                                   ("POST", "/api/backup/prune", {"keep": 1}),
                                   ("POST", "/api/backup/verify", {"name": "x"}), ("POST", "/metrics", None)):
            code, answer, _ = srv.request(method, path, body, headers=READ_ONLY)
            self.assertEqual(code, 403, (method, path, answer))
            self.assertIn("HONE_METRICS_TOKEN", answer["error"])
        self.assertEqual(self.sb.backups(), [], "nothing was created")
        # The full token still opens everything; no token or another one is 401.
        self.assertEqual(srv.request("GET", "/api/backup", headers=AUTH)[0], 200)
        self.assertEqual(srv.request("GET", "/metrics", headers={})[0], 401)
        self.assertEqual(srv.request("GET", "/metrics", headers={"Authorization": "Bearer nope"})[0], 401)
        self.assertTrue(srv.logged("read-only token"), srv.log())

    def test_a_metrics_token_needs_a_different_api_token(self):
        for env in ({"HONE_METRICS_TOKEN": METRICS_TOKEN},
                    {"HONE_METRICS_TOKEN": TOKEN, "HONE_API_TOKEN": TOKEN}):
            s = self.start(env=env, wait=False)
            self.assertEqual(s.exit_code(), 2, s.log())
            self.assertIn("HONE_METRICS_TOKEN", s.log())

    def test_promtool_accepts_a_live_scrape(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package prometheus)")
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        self.assertEqual(srv.request("POST", "/api/backup", {}, headers=AUTH)[0], 201)
        self.assertEqual(srv.request("DELETE", "/api/backup/none", headers=AUTH)[0], 404)
        text = self.metrics(srv)
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.assertEqual(p.stdout.decode().strip() + p.stderr.decode().strip(), "")


class LogTest(OperatorCase):
    def test_levels(self):
        # Default (info): requests at info, scrapes and status polls not at all.
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        self.metrics(srv)
        self.assertEqual(srv.request("GET", "/api/backup/status", headers=AUTH)[0], 200)
        self.assertEqual(srv.request("GET", "/api/backup", headers=AUTH)[0], 200)
        self.assertTrue(srv.logged(re.compile(r"INFO  http: GET /api/backup 200")), srv.log())
        self.assertNotIn("/metrics", srv.log())
        self.assertNotIn("/api/backup/status", srv.log())
        self.assertNotIn("DEBUG", srv.log())
        srv.stop()
        # debug, by each of its three spellings: the scrapes are there, as debug lines.
        for args, env in (((), {"HONE_LOG_LEVEL": "debug"}), (("--log-level", "debug"), {}), (("-v",), {})):
            srv = self.start(*args, env=dict(env, HONE_API_TOKEN=TOKEN))
            self.metrics(srv)
            self.assertEqual(srv.request("GET", "/api/backup/status", headers=AUTH)[0], 200)
            self.assertTrue(srv.logged(re.compile(r"DEBUG http: GET /api/backup/status 200")), srv.log())
            self.assertTrue(srv.logged(re.compile(r"DEBUG http: GET /metrics 200")), srv.log())
            srv.stop()
        # warn: no info line at all; a warning and an error still come.
        srv = self.file_server({"HONE_API_TOKEN": "short-token", "HONE_LOG_LEVEL": "warn"})
        os.rename(self.sb.db, self.sb.db + ".away")
        self.assertEqual(srv.request("POST", "/api/backup", {}, headers={"Authorization": "Bearer short-token"})[0],
                         500)
        self.assertTrue(srv.wait_for("ERROR http: POST /api/backup 500"), srv.log())
        self.assertIn("WARN  HONE_API_TOKEN is short", srv.log())
        self.assertNotIn("INFO", srv.log())
        os.rename(self.sb.db + ".away", self.sb.db)
        # --log-level over HONE_LOG_LEVEL; a wrong value is a usage error (exit 2).
        r = self.sb.run("--log-level", "debug", "backup", "create", env={"HONE_LOG_LEVEL": "error"})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("DEBUG", r.err)
        for args, env, shown in ((("backup", "list"), {"HONE_LOG_LEVEL": "loud"}, "HONE_LOG_LEVEL"),
                                 (("--log-level", "loud", "backup", "list"), {}, "--log-level"),
                                 (("backup", "list"), {"HONE_LOG_FORMAT": "xml"}, "HONE_LOG_FORMAT")):
            r = self.sb.run(*args, env=env)
            self.assertEqual(r.rc, 2, r)
            self.assertIn(shown, r.err)

    def journal_lines(self, srv):
        """(priority, text) of each line; fails on a line without a priority prefix."""
        out = []
        for line in srv.lines():
            m = re.match(r"<([0-7])>(.*)\Z", line)
            self.assertIsNotNone(m, "no priority prefix: %r" % line)
            out.append((int(m.group(1)), m.group(2)))
        return out

    def test_journald_priorities_without_timestamps(self):
        # JOURNAL_STREAM names the file stderr is: the journal format, chosen by itself.
        srv = self.file_server({"HONE_API_TOKEN": "short-token", "JOURNAL_STREAM": "SELF"}, ["--log-level", "debug"])
        auth = {"Authorization": "Bearer short-token"}
        self.assertEqual(srv.get_text("/metrics", auth)[0], 200)
        os.rename(self.sb.db, self.sb.db + ".away")
        self.assertEqual(srv.request("POST", "/api/backup", {}, headers=auth)[0], 500)
        self.assertTrue(srv.wait_for("http: POST /api/backup 500"), srv.log())
        os.rename(self.sb.db + ".away", self.sb.db)
        srv.stop()
        lines = self.journal_lines(srv)
        by = lambda needle: [p for p, t in lines if needle in t]
        self.assertEqual(by("listening on http://"), [6])
        self.assertEqual(by("HONE_API_TOKEN is short"), [4])
        self.assertEqual(by("http: GET /metrics 200"), [7])
        self.assertEqual(by("http: POST /api/backup 500"), [3])
        for _, text in lines:
            self.assertIsNone(STAMP.match(text), text)
        # `journalctl -p err` keeps what is logged as an error, and nothing logged lower.
        self.assertTrue(all("ERROR" in t for p, t in lines if p <= 3))
        # A JOURNAL_STREAM of another stream (stderr redirected since): the usual timestamps.
        other = self.file_server({"JOURNAL_STREAM": "1:2"})
        other.stop()
        self.assertTrue(other.lines())
        for line in other.lines():
            self.assertRegex(line, STAMP)
        # The CLI too.
        path = self.sb.path("cli.log")
        with open(path, "wb") as f:
            st = os.fstat(f.fileno())
            env = dict(self.sb.env, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
            p = subprocess.run([hone_exe(), "-v", "backup", "create"], env=env, stdout=subprocess.PIPE, stderr=f,
                               timeout=300)
        self.assertEqual(p.returncode, 0)
        with open(path) as f:
            text = f.read()
        self.sb.transcript.append(text)
        self.assertTrue(text)
        for line in text.splitlines():
            self.assertRegex(line, r"^<7>DEBUG ")

    def test_json_lines(self):
        srv = self.start(env={"HONE_API_TOKEN": TOKEN, "HONE_LOG_FORMAT": "json"})
        self.assertEqual(srv.request("POST", "/api/backup", {"name": "j"}, headers=AUTH)[0], 201)
        self.assertEqual(srv.request("GET", "/api/backup/%22quoted%0a", headers=AUTH)[0], 400)
        self.assertTrue(srv.logged("/api/backup/"), srv.log())
        self.assertTrue(srv.wait_for(re.compile(r"GET /api/backup/.*400"), timeout=30), srv.log())
        srv.stop()
        records = [json.loads(line) for line in srv.lines]  # each line one object
        self.assertGreaterEqual(len(records), 5)
        for r in records:
            self.assertEqual(set(r) >= {"time", "level", "message"}, True, r)
            self.assertIn(r["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(r["time"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
        created = [r for r in records if r.get("method") == "POST"]
        self.assertEqual(len(created), 1, records)
        c = created[0]
        self.assertEqual((c["path"], c["status"], c["level"]), ("/api/backup", 201, "info"))
        self.assertIsInstance(c["duration_ms"], (int, float))
        self.assertIn("created j.db.gz", c["note"])
        bad = [r for r in records if r.get("status") == 400][0]
        self.assertEqual(bad["path"], "/api/backup/%22quoted%0a")
        self.assertTrue(any(r["message"].startswith("listening on http://") for r in records))
        assert_no_key_material(self, [srv.log()])


if __name__ == "__main__":
    honetest.main()

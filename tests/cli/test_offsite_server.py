"""`hone serve` while its offsite bucket misbehaves (docs/hone/Offsite.md, docs/hone/REST-API.md), against the
small S3 server of drip_s3.py:

- SIGTERM ends the server in its documented time even while bucket calls hang (a scheduled
  upload, an API request's listing), exit 0, no temporary file left;
- the bucket's part of a scheduled cycle has a whole time limit (HONE_R2_CYCLE_TIMEOUT): past it
  the upload is abandoned and reported as a failure, the backup counts as created and the local
  prune runs; an API request waiting on the bucket meanwhile is not abandoned with it;
- whatever the bucket's answer makes fail (a Size no number holds), the cycle's create succeeds;
- an API request waits on the bucket no longer than its own limit (HONE_R2_API_TIMEOUT);
- while 130 clients wait on a listing that drips a byte a second, a restore of a local backup,
  GET /metrics and GET /api/backup/status each answer within 1 s (figures printed on lines
  starting with "offsite-server: ");
- a restore from the local folder and one from the bucket of the same database take the same
  lock: the second is refused with 409 (CLI: exit 1) naming the running one.

Usage: test_offsite_server.py PATH/TO/hone"""

import json
import os
import re
import threading
import time
import unittest

import prometheus
from drip_s3 import DripS3
import honetest  # noqa: E402
from honetest import PASSPHRASE, Sandbox, ServersTestCase, hone_exe

SECRET = "drip-secret-access-key-5521"
INTERVAL = 60  # HONE_BACKUP_SCHEDULE=0.0167


def timed(f):
    t0 = time.monotonic()
    r = f()
    return r, time.monotonic() - t0


class OffsiteServerCase(ServersTestCase):
    SANDBOX_TAG = "offsrv"
    PASSPHRASE = PASSPHRASE

    def setUp(self):
        self.sb = Sandbox(passphrase=self.PASSPHRASE, tag=self.SANDBOX_TAG)
        self.servers = []
        self.s3 = DripS3()
        self.addCleanup(self.s3.close)
        self.r2 = {"HONE_R2_BUCKET": "hone-test", "HONE_R2_ACCESS_KEY_ID": "drip-access-key",
                   "HONE_R2_SECRET_ACCESS_KEY": SECRET, "HONE_R2_ENDPOINT": self.s3.endpoint}
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)

    def tearDown(self):
        super().tearDown()
        for text in self.sb.transcript:
            self.assertNotIn(SECRET, text)

    def local_backup(self, name, age=None):
        """A backup in the local folder only (no bucket), dated `age` seconds ago when given."""
        r = self.sb.run("backup", "create", "--name", name)
        self.assertEqual(r.rc, 0, r)
        path = os.path.join(self.sb.backup_dir, name + ".db.gz")
        if age is not None:
            t = time.time() - age
            os.utime(path, (t, t))
        return name + ".db.gz"

    def serve(self, **env):
        e = dict(self.r2)
        e.update(env)
        return self.start(env=e)

    def leftovers(self):
        """Temporary files left anywhere the program writes them."""
        found = []
        for root, _, files in os.walk(self.sb.tmp):
            found += [os.path.join(root, f) for f in files]
        for folder in (self.sb.backup_dir, self.sb.data_dir):
            if os.path.isdir(folder):
                found += [n for n in os.listdir(folder) if n.startswith(".hone-tmp-") or ".restore-" in n]
        return found

    def in_thread(self, f):
        out = {}

        def run():
            try:
                out["result"] = f()
            except Exception as e:  # reported by the test that reads it
                out["error"] = e
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, out


class ShutdownTest(OffsiteServerCase):
    def test_sigterm_ends_hanging_bucket_calls_in_time(self):
        self.local_backup("seed", age=INTERVAL - 1)  # the first scheduled cycle is due in a second
        self.s3.modes["uploads"] = "hang"  # the scheduled upload's first request
        self.s3.modes["list"] = "hang"  # the API's listing
        srv = self.serve(HONE_BACKUP_SCHEDULE="0.0167", HONE_BACKUP_RETENTION="5")
        t, out = self.in_thread(lambda: srv.request("GET", "/api/backup"))
        self.assertTrue(self.s3.wait_for("uploads", in_progress=True), srv.log())
        self.assertTrue(self.s3.wait_for("list", in_progress=True), srv.log())

        t0 = time.monotonic()
        srv.proc.send_signal(15)
        try:
            rc = srv.proc.wait(timeout=30)
        except Exception:
            rc = None
        elapsed = time.monotonic() - t0
        print("offsite-server: SIGTERM with a scheduled upload and an API listing hanging: exit after %.2f s" % elapsed)
        self.assertEqual(rc, 0, srv.log())
        self.assertLess(elapsed, 10, srv.log())
        self.assertTrue(srv.logged("stopped"), srv.log())
        t.join(timeout=10)
        status, body, _ = out["result"]
        self.assertEqual(status, 502, body)  # the local backups, and why the bucket's are missing
        self.assertIn("stopping", body["error"])
        self.assertTrue(any(b["name"] == "seed.db.gz" for b in body["local_backups"]), body)
        # The scheduled backup was made; abandoning its upload at shutdown is no failure to report.
        self.assertTrue(srv.logged("scheduled backup created"), srv.log())
        with open(os.path.join(self.sb.backup_dir, ".hone-status.json")) as f:
            self.assertIsNone(json.load(f)["last_failure"])
        self.assertEqual(self.leftovers(), [])


class CycleDeadlineTest(OffsiteServerCase):
    def hook(self):
        out = self.sb.path("hook-out")
        path = self.sb.path("hook.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho \"$HONE_BACKUP_FAILED_OPERATION: $HONE_BACKUP_FAILED_MESSAGE\" >> '%s'\n" % out)
        os.chmod(path, 0o700)
        return path, out

    def wait_file(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                with open(path) as f:
                    return f.read()
            time.sleep(0.1)
        return ""

    def test_the_cycle_deadline_abandons_the_bucket_step_and_the_backup_stands(self):
        old = self.local_backup("old", age=3 * INTERVAL)
        seed = self.local_backup("seed", age=INTERVAL - 1)
        hook, hook_out = self.hook()
        self.s3.modes["put"] = "hang"  # the scheduled upload never completes
        self.s3.modes["list"] = "late:6"  # an API listing that takes longer than the cycle's limit
        srv = self.serve(HONE_BACKUP_SCHEDULE="0.0167", HONE_BACKUP_RETENTION="1", HONE_R2_CYCLE_TIMEOUT="3",
                         HONE_BACKUP_ON_FAILURE=hook)
        self.assertTrue(self.s3.wait_for("put", in_progress=True), srv.log())
        t0 = time.monotonic()
        # An API request made meanwhile has a limit of its own: the cycle's does not abandon it.
        api, out = self.in_thread(lambda: timed(lambda: srv.request("GET", "/api/backup")))
        m = srv.wait_for(re.compile(r"WARN.*scheduler: backup (\S+) is kept in the local folder only: .*"
                                    r"HONE_R2_CYCLE_TIMEOUT \(3 s\)"), timeout=30)
        self.assertIsNotNone(m, srv.log())
        abandoned_in = time.monotonic() - t0
        api.join(timeout=30)
        (code, body, _), listed_in = out["result"]
        print("offsite-server: cycle limit 3 s: upload abandoned (warning logged) %.2f s after it hung; "
              "an API listing of 6 s meanwhile answered %d after %.2f s" % (abandoned_in, code, listed_in))
        self.assertLess(abandoned_in, 10)
        self.assertEqual(code, 200, body)
        self.assertGreater(listed_in, abandoned_in)
        new = m.group(1)
        self.assertTrue(srv.wait_for("scheduler: scheduled prune:", timeout=30), srv.log())
        self.assertEqual(self.sb.backups(), [new], "the backup stands and the local prune ran")
        self.assertNotIn(old, self.sb.backups())
        self.assertNotIn(seed, self.sb.backups())

        deadline = time.monotonic() + 30
        while True:
            _, s, _ = srv.request("GET", "/api/backup/status")
            if s["scheduler"]["last_run"] and s["scheduler"]["last_run"]["backup"] == new or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        run = s["scheduler"]["last_run"]
        self.assertEqual(run["outcome"], "success", s)
        self.assertEqual(run["backup"], new)
        self.assertEqual(s["last_failure"]["operation"], "upload", s)
        self.assertIn("HONE_R2_CYCLE_TIMEOUT", s["last_failure"]["message"])
        text = self.wait_file(hook_out)
        self.assertRegex(text, r"^upload: .*HONE_R2_CYCLE_TIMEOUT")
        time.sleep(0.5)  # a second report (the bucket prune, failing for the same reason) would be here by now
        with open(hook_out) as f:
            self.assertEqual(len(f.read().splitlines()), 1, "the limit is reported once per cycle")
        m = prometheus.parse(srv.get_text("/metrics")[1])
        self.assertEqual(prometheus.value(m, "hone_backup_uploads_total", result="failure"), 1)
        self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="create", result="success",
                                          location="local"), 1)
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_an_unparsable_answer_fails_the_bucket_step_not_the_create(self):
        self.local_backup("old", age=3 * INTERVAL)
        self.local_backup("seed", age=INTERVAL - 1)
        self.s3.modes["list"] = "bad-size"  # every listing (sync, bucket prune) has a Size no number holds
        srv = self.serve(HONE_BACKUP_SCHEDULE="0.0167", HONE_BACKUP_RETENTION="1")
        m = srv.wait_for(re.compile(r"scheduler: scheduled backup created: (\S+)"), timeout=30)
        self.assertIsNotNone(m, srv.log())
        self.assertTrue(srv.wait_for("scheduler: scheduled prune:", timeout=30), srv.log())
        self.assertEqual(self.sb.backups(), [m.group(1)], srv.log())
        self.assertNotIn("scheduled backup failed", srv.log())
        self.assertEqual(srv.stop(), 0, srv.log())

    def test_bad_time_limits_stop_the_start_up(self):
        for var in ("HONE_R2_CYCLE_TIMEOUT", "HONE_R2_API_TIMEOUT"):
            for bad in ("0", "1e3", "86401", " 30"):
                with self.subTest(var=var, value=bad):
                    env = dict(self.r2)
                    env[var] = bad
                    s = self.start(env=env, wait=False)
                    self.assertEqual(s.exit_code(timeout=15), 2, s.log())
                    self.assertIn(var + "=", s.log())
                    self.assertIn("whole number from 1 to 86400", s.log())


class BusyBucketTest(OffsiteServerCase):
    CLIENTS = 130
    # Not encrypted, so that the restore's figure is the server's: SQLCipher's key derivation
    # costs about 0.3 s per open of an encrypted database, bucket or not.
    PASSPHRASE = None

    def test_the_api_answers_while_130_clients_wait_on_a_dripping_listing(self):
        name = self.local_backup("local-only")
        self.s3.modes["list"] = "drip"
        srv = self.serve()
        results = []
        lock = threading.Lock()

        def client():
            try:
                c = srv.connection(timeout=120)
                try:
                    c.request("GET", "/api/backup")
                    r = c.getresponse()
                    r.read()
                    res = (r.status, r.getheader("Retry-After"))
                finally:
                    c.close()
            except OSError as e:
                res = ("error", str(e))
            with lock:
                results.append(res)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.CLIENTS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        # The clients beyond those allowed to wait on the bucket are answered 503 at once.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with lock:
                if len(results) >= self.CLIENTS - 32:
                    break
            time.sleep(0.05)
        refused_in = time.monotonic() - t0
        self.assertTrue(self.s3.wait_for("list", in_progress=True, timeout=10), srv.log())

        def answer(method, path, body=None):
            """(status, JSON body, seconds); a request not answered within 10 s is (None, None, 10+)."""
            c = srv.connection(timeout=10)
            t = time.monotonic()
            try:
                status, parsed, _ = srv.request(method, path, body=body, conn=c)
            except OSError:
                status, parsed = None, None
            finally:
                c.close()
            return status, parsed, time.monotonic() - t

        rc, rbody, restore_s = answer("POST", "/api/backup/%s/restore" % name, {"force": True})
        mc, _, metrics_s = answer("GET", "/metrics")
        sc, sbody, status_s = answer("GET", "/api/backup/status")
        with lock:
            answered = list(results)
        busy = [r for r in answered if r[0] == 503]
        print("offsite-server: %d clients on a dripping listing: %d answered 503 within %.2f s (Retry-After %s), "
              "%d waiting; restore %.3f s, /metrics %.3f s, /api/backup/status %.3f s; bucket listings started: %d"
              % (self.CLIENTS, len(busy), refused_in, busy[0][1] if busy else "-", self.CLIENTS - len(answered),
                 restore_s, metrics_s, status_s, self.s3.received["list"]))
        self.assertEqual(rc, 200, rbody)
        self.assertEqual(mc, 200)
        self.assertEqual(sc, 200, sbody)
        self.assertLess(restore_s, 1.0)
        self.assertLess(metrics_s, 1.0)
        self.assertLess(status_s, 1.0)
        self.assertGreaterEqual(len(busy), self.CLIENTS - 32 - 2, answered)  # 2: refused at the connection limit
        self.assertTrue(all(r[1] for r in busy), "every 503 says when to retry")
        self.assertEqual(self.s3.received["list"], 1, "one listing in flight, the others wait for its result")
        r2 = sbody["locations"]["r2"]
        self.assertTrue(r2["listing_stale"], r2)
        self.assertIsNone(r2["listed_at"])
        self.assertIn("not been listed yet", r2["error"])
        self.assertFalse(sbody["ok"])
        self.assertEqual(sbody["locations"]["local"]["count"], 1)

        # SIGTERM abandons the listing: every waiting client gets its answer and the server exits.
        t1 = time.monotonic()
        self.assertEqual(srv.stop(), 0, srv.log())
        print("offsite-server: SIGTERM with %d clients waiting on the listing: exit after %.2f s"
              % (self.CLIENTS - len(answered), time.monotonic() - t1))
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(len(results), self.CLIENTS)
        self.assertEqual(self.leftovers(), [])


    def test_a_request_waits_on_the_bucket_no_longer_than_its_limit(self):
        name = self.local_backup("local-only")
        self.s3.modes["list"] = "drip"
        srv = self.serve(HONE_R2_API_TIMEOUT="2")
        (code, body, _), seconds = timed(lambda: srv.request("GET", "/api/backup"))
        print("offsite-server: HONE_R2_API_TIMEOUT=2: GET /api/backup on a dripping listing answered %d after %.2f s"
              % (code, seconds))
        self.assertEqual(code, 502, body)
        self.assertIn("HONE_R2_API_TIMEOUT (2 s)", body["error"])
        self.assertEqual([b["name"] for b in body["local_backups"]], [name])
        self.assertGreater(seconds, 1.5)
        self.assertLess(seconds, 6)


class RestoreLockTest(OffsiteServerCase):
    def test_a_local_and_a_bucket_restore_of_one_database_take_the_same_lock(self):
        r = self.sb.run("backup", "create", "--json", env=self.r2)
        self.assertEqual(r.rc, 0, r)
        name = r.json()["name"]
        self.assertIn(name, self.s3.keys())
        self.s3.modes["get"] = "late:3"  # the bucket's restore holds the lock while it downloads
        srv = self.serve()
        t, out = self.in_thread(lambda: srv.request("POST", "/api/backup/%s/restore" % name,
                                                    body={"force": True, "from": "r2"}))
        # Its temporary file beside the database exists while it downloads.
        deadline = time.monotonic() + 30
        while not [n for n in os.listdir(self.sb.data_dir) if n.startswith(".hone.db.restore-")]:
            self.assertLess(time.monotonic(), deadline, srv.log())
            time.sleep(0.02)
        code, body, _ = srv.request("POST", "/api/backup/%s/restore" % name, body={"force": True, "from": "local"})
        self.assertEqual(code, 409, body)
        self.assertIn("Another restore of %s is in progress (restore of backup %s" % (self.sb.db, name),
                      body["error"])
        cli = self.sb.run("backup", "restore", name, "--force", "--from", "local")
        self.assertEqual(cli.rc, 1, cli)
        self.assertIn("Another restore of", cli.err)
        self.assertIn("wait for it to finish", cli.err)
        t.join(timeout=60)
        status, body, _ = out["result"]
        self.assertEqual(status, 200, body)
        self.assertIs(body["restored"], True)
        # The database is the restored backup, whole: it verifies as a new backup of it.
        self.s3.modes["get"] = "ok"
        code, body, _ = srv.request("POST", "/api/backup/verify", body={"name": name, "from": "local"})
        self.assertEqual((code, body["valid"]), (200, True), body)
        c = self.sb.run("backup", "create", "--json")
        self.assertEqual(c.rc, 0, c)
        self.assertEqual(c.json()["transactions"], 20)
        self.assertEqual(self.leftovers(), [])


if __name__ == "__main__":
    hone_exe()
    honetest.main()

"""The offsite copy of the `hone` program (HONE_R2_*) against a real S3 server: the local
OpenStack Swift s3api of scripts/s3-server.sh, whose address scripts/test.sh exports as
HONE_TEST_S3_ENDPOINT (with HONE_TEST_S3_ACCESS_KEY_ID, HONE_TEST_S3_SECRET and
HONE_TEST_S3_REGION, as the S3 integration tests read them). Skipped with the reason when the
variable is not set or botocore (used to look into the bucket) is missing.

Every test uses its own backup folder and its own key prefix in one bucket."""

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import honetest  # noqa: E402
import prometheus  # noqa: E402
from honetest import Sandbox, Server, assert_no_key_material  # noqa: E402

ENDPOINT = os.environ.get("HONE_TEST_S3_ENDPOINT", "")
ACCESS_KEY_ID = os.environ.get("HONE_TEST_S3_ACCESS_KEY_ID", "test:tester")
SECRET = os.environ.get("HONE_TEST_S3_SECRET", "testing")
REGION = os.environ.get("HONE_TEST_S3_REGION", "auto")
BUCKET = "hone-cli-offsite"
R2_VARS = ("HONE_R2_BUCKET", "HONE_R2_ACCESS_KEY_ID", "HONE_R2_SECRET_ACCESS_KEY", "HONE_R2_ENDPOINT")

try:
    import botocore.session
    from botocore.config import Config
except ImportError:  # pragma: no cover
    botocore = None

S3_SERVER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "s3-server.sh")

SKIP_REASON = None
if not ENDPOINT:
    SKIP_REASON = "HONE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts scripts/s3-server.sh and sets it)"
elif botocore is None:
    SKIP_REASON = "botocore is not installed (scripts/setup.sh installs python3-botocore)"


def closed_port():
    """A loopback port nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@unittest.skipIf(SKIP_REASON, SKIP_REASON or "")
class OffsiteTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=ENDPOINT, aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET,
            region_name="us-east-1" if REGION == "auto" else REGION,
            config=Config(s3={"addressing_style": "path"}))
        try:
            cls.s3.create_bucket(Bucket=BUCKET)
        except cls.s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        except cls.s3.exceptions.BucketAlreadyExists:
            pass
        cls.sb = Sandbox(tag="offsite")
        r = cls.sb.run("demo-db", "--accounts", "2", "--transactions", "40", "--subscriptions", "3")
        assert r.rc == 0, r

    @classmethod
    def tearDownClass(cls):
        cls.sb.cleanup()

    def setUp(self):
        self.prefix = "t-" + uuid.uuid4().hex[:12]
        self.dir = self.sb.path("backups-" + self.prefix)
        self.env = {"HONE_R2_BUCKET": BUCKET, "HONE_R2_ACCESS_KEY_ID": ACCESS_KEY_ID,
                    "HONE_R2_SECRET_ACCESS_KEY": SECRET, "HONE_R2_ENDPOINT": ENDPOINT,
                    "HONE_R2_PREFIX": self.prefix, "HONE_R2_REGION": REGION,
                    "HONE_BACKUP_DIR": self.dir}

    def tearDown(self):
        assert_no_key_material(self, self.sb.transcript)

    # ---- helpers ----------------------------------------------------------------------------

    def hone(self, *args, **overrides):
        env = dict(self.env)
        env.update(overrides)
        return self.sb.run(*args, env=env)

    def ok(self, *args, **overrides):
        r = self.hone(*args, **overrides)
        self.assertEqual(r.rc, 0, r)
        return r

    def offline(self):
        return {"HONE_R2_ENDPOINT": "http://127.0.0.1:%d" % closed_port()}

    def bucket_names(self):
        """The backups in the bucket under this test's prefix (not the content markers)."""
        out = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=self.prefix + "/")
        keys = [o["Key"][len(self.prefix) + 1:] for o in out.get("Contents", [])]
        return sorted(k for k in keys if "/" not in k and not k.startswith("."))

    def object_bytes(self, name):
        return self.s3.get_object(Bucket=BUCKET, Key=self.prefix + "/" + name)["Body"].read()

    def local_names(self):
        return self.sb.backups(self.dir)

    def listing(self):
        return {b["name"]: b["locations"] for b in self.ok("backup", "list", "--json").json()}

    # ---- tests ------------------------------------------------------------------------------

    def test_create_uploads_and_list_says_where(self):
        c = self.ok("backup", "create", "--json").json()
        name = c["name"]
        self.assertEqual(c["offsite"]["uploaded"], True, c)
        self.assertIn("/%s/%s/%s" % (BUCKET, self.prefix, name), c["offsite"]["location"])
        self.assertEqual(self.bucket_names(), [name])
        with open(os.path.join(self.dir, name), "rb") as f:
            self.assertEqual(self.object_bytes(name), f.read(), "the bucket holds the local backup as it is")
        self.assertEqual(self.listing(), {name: ["local", "r2"]})
        text = self.ok("backup", "list").out
        self.assertRegex(text.splitlines()[0], r"NAME .*COMPRESSED\s+WHERE$")
        self.assertRegex(text, r"%s .* local, r2\n" % name.replace(".", r"\."))
        shown = self.ok("backup", "show", name, "--json").json()
        self.assertEqual(shown["locations"], ["local", "r2"])
        self.assertIn("offsite:       uploaded to", self.ok("backup", "create").out)

    def test_status_counts_each_place(self):
        first = self.ok("backup", "create", "--json").json()["name"]
        self.hone("backup", "create", "--json", **self.offline())  # kept in the local folder only
        os.remove(os.path.join(self.dir, first))  # now only in the bucket
        r = self.hone("backup", "status", "--json")
        self.assertEqual(r.rc, 0, r)
        s = r.json()
        self.assertEqual(s["locations"]["local"]["count"], 1, s)
        self.assertEqual(s["locations"]["r2"]["count"], 1, s)
        self.assertEqual(s["locations"]["r2"]["bytes"], len(self.object_bytes(first)))
        self.assertNotIn("error", s["locations"]["r2"])
        self.assertIn("Offsite:", self.ok("backup", "status").out)
        # A bucket that cannot be listed makes the status not ok (exit 13) and says why.
        r = self.hone("backup", "status", "--json", **self.offline())
        self.assertEqual(r.rc, 13, r)
        s = r.json()
        self.assertFalse(s["ok"])
        self.assertIn("127.0.0.1", s["locations"]["r2"]["error"])
        self.assertEqual(s["locations"]["local"]["count"], 1)
        self.assertNotIn(SECRET, r.out + r.err)

    def test_verify_and_restore_from_the_bucket(self):
        name = self.ok("backup", "create", "--json").json()["name"]
        # A damaged object in the bucket: verify reads the local copy unless told --from r2.
        key = self.prefix + "/" + name
        good = self.object_bytes(name)
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=good[:40] + b"\0" * 64)
        self.assertTrue(self.ok("backup", "verify", name, "--json").json()["valid"])
        self.assertTrue(self.ok("backup", "verify", name, "--from", "local", "--json").json()["valid"])
        bad = self.hone("backup", "verify", name, "--from", "r2")
        self.assertEqual(bad.rc, 1, bad)
        self.assertIn("failed verification", bad.err)
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=good)
        v = self.ok("backup", "verify", name, "--from", "r2", "--json").json()
        self.assertTrue(v["valid"], v)
        self.assertEqual(v["transactions"], 40)

        # Only the bucket has it: list says so, verify and restore download it.
        os.remove(os.path.join(self.dir, name))
        self.assertEqual(self.listing(), {name: ["r2"]})
        r = self.hone("backup", "verify", name, "--from", "local")
        self.assertEqual(r.rc, 10, r)
        self.assertIn("not found", r.err)
        self.assertTrue(self.ok("backup", "verify", name, "--json").json()["valid"])
        target = self.sb.path("restored-" + self.prefix, "hone.db")
        self.ok("backup", "restore", name, "--db", target)
        counts = self.ok("dashboard", "--db", target, "--json").json()
        self.assertEqual((counts["accounts"], counts["transactions"], counts["subscriptions"]), (2, 40, 3))
        self.assertEqual(self.local_names(), [], "restoring from the bucket leaves no copy in the backup folder")

    def test_prune_and_delete_act_on_both_places(self):
        names = [self.ok("backup", "create", "--json").json()["name"] for _ in range(3)]
        self.assertEqual(self.bucket_names(), sorted(names))
        p = self.ok("backup", "prune", "--keep", "2", "-y", "--json").json()
        self.assertEqual(p["deleted_count"], 1, p)
        self.assertEqual(p["deleted_names"], [names[0]])
        self.assertEqual(self.local_names(), sorted(names[1:]))
        self.assertEqual(self.bucket_names(), sorted(names[1:]))
        d = self.ok("backup", "delete", names[2], "--json").json()
        self.assertEqual(d, {"deleted": True, "name": names[2], "locations": ["local", "r2"]})
        self.assertEqual(self.local_names(), [names[1]])
        self.assertEqual(self.bucket_names(), [names[1]])
        os.remove(os.path.join(self.dir, names[1]))
        self.assertIn("(from: r2)", self.ok("backup", "delete", names[1]).out)
        self.assertEqual(self.bucket_names(), [])
        r = self.hone("backup", "delete", names[1])
        self.assertEqual(r.rc, 10, r)
        self.assertIn("Backup not found", r.err)

    def test_a_pinned_backup_is_kept_in_both_places(self):
        names = [self.ok("backup", "create", "--json").json()["name"] for _ in range(3)]
        self.assertIn("Pinned " + names[0], self.ok("backup", "pin", names[0]).out)
        # Only in the bucket: the pin still keeps it there.
        os.remove(os.path.join(self.dir, names[0]))
        self.assertEqual(self.listing()[names[0]], ["r2"])
        p = self.ok("backup", "prune", "--keep", "1", "-y", "--json").json()
        self.assertEqual(p["deleted_names"], [names[1]], p)
        self.assertEqual(self.local_names(), [names[2]])
        self.assertEqual(self.bucket_names(), sorted([names[0], names[2]]))
        self.ok("backup", "unpin", names[0])
        self.ok("backup", "prune", "--keep", "1", "-y")
        self.assertEqual(self.bucket_names(), [names[2]])

    def test_sync_uploads_what_an_outage_left_local(self):
        first = self.ok("backup", "create", "--json").json()["name"]
        offline = self.offline()
        r = self.hone("backup", "create", "--json", **offline)
        self.assertEqual(r.rc, 13, r)
        c = r.json()
        self.assertEqual(c["offsite"]["uploaded"], False, c)
        self.assertIn(offline["HONE_R2_ENDPOINT"], c["offsite"]["error"])
        self.assertIn("hone backup sync", r.err)
        r = self.hone("backup", "create", **offline)
        self.assertEqual(r.rc, 13, r)
        self.assertIn("upload to the offsite bucket failed", r.err)
        later = [n for n in self.local_names() if n != first]
        self.assertEqual(len(later), 2, "a failed upload keeps the local backup")
        self.assertEqual(self.bucket_names(), [first])
        self.assertEqual(self.listing(), {first: ["local", "r2"], later[0]: ["local"], later[1]: ["local"]})

        r = self.hone("backup", "sync", **offline)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("sync failed", r.err)
        s = self.ok("backup", "sync", "--json").json()
        self.assertEqual(s["uploaded_names"], later, "oldest first")
        self.assertEqual((s["uploaded_count"], s["already_offsite"], s["missing_names"]), (2, 1, []))
        self.assertEqual(self.bucket_names(), sorted([first] + later))
        self.assertEqual(set(map(tuple, self.listing().values())), {("local", "r2")})
        self.assertIn("0 backups uploaded, 3 already in the bucket.", self.ok("backup", "sync").out)

    def test_a_name_holding_other_bytes_is_a_conflict_never_overwritten(self):
        env = {k: "" for k in R2_VARS}
        name = self.ok("backup", "create", "--json", **env).json()["name"]  # local only
        with open(os.path.join(self.dir, name), "rb") as f:
            mine = f.read()
        other = bytes(b ^ 0x5A for b in mine)  # the same size, other bytes
        self.s3.put_object(Bucket=BUCKET, Key=self.prefix + "/" + name, Body=other)
        r = self.hone("backup", "list", "--json")
        self.assertEqual(r.rc, 13, r)
        self.assertEqual(r.json()["error"]["code"], "offsite_failed")  # the listing, with the error beside it
        self.assertEqual([(b["name"], b["locations"], b["offsite_conflict"]) for b in r.json()["backups"]],
                         [(name, ["local"], True)])
        self.assertIn("local, r2 (conflict)", self.hone("backup", "list").out)
        r = self.hone("backup", "sync", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual((r.json()["conflict_names"], r.json()["already_offsite"]), ([name], 0))
        s = self.hone("backup", "status", "--json")
        self.assertEqual(s.rc, 13, s)
        self.assertEqual(s.json()["locations"]["r2"]["conflicts"], [name])
        self.assertEqual(self.object_bytes(name), other, "nothing was overwritten")
        # The same bytes put there by another tool (no record of their SHA-256): read, and offsite.
        self.s3.put_object(Bucket=BUCKET, Key=self.prefix + "/" + name, Body=mine)
        self.assertEqual(self.listing(), {name: ["local", "r2"]})
        s = self.ok("backup", "sync", "--json").json()
        self.assertEqual((s["already_offsite"], s["conflict_names"]), (1, []))
        # A new backup whose name the bucket already holds with other bytes.
        self.s3.put_object(Bucket=BUCKET, Key=self.prefix + "/planted.db.gz", Body=b"not a backup of this machine")
        r = self.hone("backup", "create", "--name", "planted", "--json")
        self.assertEqual(r.rc, 13, r)
        self.assertEqual((r.json()["offsite"]["uploaded"], r.json()["offsite"]["conflict"]), (False, True))
        self.assertEqual(self.object_bytes("planted.db.gz"), b"not a backup of this machine")

    def test_partial_configuration_names_the_missing_variables(self):
        for missing in (("HONE_R2_ENDPOINT",), ("HONE_R2_SECRET_ACCESS_KEY", "HONE_R2_ACCESS_KEY_ID"),
                        ("HONE_R2_BUCKET", "HONE_R2_ACCESS_KEY_ID", "HONE_R2_ENDPOINT")):
            env = dict(self.env)
            for k in missing:
                env[k] = ""
            for args in (("backup", "list"), ("backup", "create"), ("serve", "--port", "0")):
                r = self.sb.run(*args, env=env, timeout=60)
                self.assertEqual(r.rc, 2, r)
                m = re.search(r"partly configured: (.*) (is|are) not set \(", r.err)
                self.assertTrue(m, r)
                self.assertEqual(set(re.findall(r"HONE_R2_\w+", m.group(1))), set(missing), r)
        self.assertEqual(self.local_names(), [], "nothing was backed up")

    def test_wrong_secret_is_a_clear_error_without_the_secret(self):
        wrong = "wrong-secret-" + uuid.uuid4().hex
        r = self.hone("--verbose", "backup", "create", HONE_R2_SECRET_ACCESS_KEY=wrong)
        self.assertEqual(r.rc, 13, r)
        self.assertIn("SignatureDoesNotMatch", r.err)
        self.assertIn("secret access key", r.err)
        self.assertEqual(len(self.local_names()), 1, "the local backup is kept")
        r2 = self.hone("backup", "list", HONE_R2_SECRET_ACCESS_KEY=wrong)
        self.assertEqual(r2.rc, 13, r2)
        self.assertIn("SignatureDoesNotMatch", r2.err)
        for text in (r.out, r.err, r2.out, r2.err):
            self.assertNotIn(wrong, text)

    def test_without_offsite_nothing_changes(self):
        env = {k: "" for k in R2_VARS}
        c = self.ok("backup", "create", "--json", **env).json()
        self.assertNotIn("offsite", c)
        listed = self.ok("backup", "list", "--json", **env).json()
        self.assertEqual([sorted(b) for b in listed],
                         [["compressed", "created_at", "deflated", "encrypted", "format", "name", "path", "pinned",
                           "size"]])
        self.assertNotIn("WHERE", self.ok("backup", "list", **env).out)
        for args in (("backup", "sync"), ("backup", "verify", c["name"], "--from", "r2")):
            r = self.hone(*args, **env)
            self.assertEqual(r.rc, 2, r)
            self.assertIn("HONE_R2_ENDPOINT", r.err)
        self.assertEqual(self.bucket_names(), [])

    def test_api_create_sync_verify_and_the_secret_out_of_the_environment(self):
        srv = Server(self.sb, env=self.env)
        try:
            with open("/proc/%d/environ" % srv.proc.pid, "rb") as f:
                environ = f.read()
            # The original environment block (/proc/PID/environ) keeps the name, the value is wiped.
            self.assertIn(b"HONE_R2_SECRET_ACCESS_KEY=\0", environ)
            self.assertNotIn(SECRET.encode(), environ)
            self.assertTrue(srv.logged("offsite copy: every backup is also uploaded to the bucket %s" % BUCKET), srv.log())
            status, body, _ = srv.request("POST", "/api/backup", body={})
            self.assertEqual(status, 201, body)
            self.assertEqual(body["offsite"]["uploaded"], True, body)
            name = body["name"]
            status, body, _ = srv.request("GET", "/api/backup")
            self.assertEqual((status, [(b["name"], b["locations"]) for b in body]), (200, [(name, ["local", "r2"])]))
            status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": name, "from": "r2"})
            self.assertEqual((status, body["valid"]), (200, True), body)
            status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": name, "from": "moon"})
            self.assertEqual(status, 400, body)
            status, body, _ = srv.request("POST", "/api/backup/sync")
            self.assertEqual(status, 200, body)
            self.assertEqual((body["uploaded_count"], body["already_offsite"]), (0, 1))
            # The metrics count each operation once in the place it ran: the prune ran in both.
            status, body, _ = srv.request("POST", "/api/backup/prune", body={"keep": 1})
            self.assertEqual((status, body["deleted_count"]), (200, 0), body)
            m = prometheus.parse(srv.get_text("/metrics")[1])
            runs = {(op, where): prometheus.value(m, "hone_backup_runs_total", operation=op, location=where,
                                                  result="success")
                    for op in ("create", "verify", "prune") for where in ("local", "r2")}
            self.assertEqual(runs, {("create", "local"): 1, ("create", "r2"): 0, ("verify", "local"): 0,
                                    ("verify", "r2"): 1, ("prune", "local"): 1, ("prune", "r2"): 1})
            self.assertEqual((prometheus.value(m, "hone_backup_uploads_total", result="success"),
                              prometheus.value(m, "hone_backup_uploads_total", result="failure")), (1, 0))
        finally:
            srv.stop()

        offline = dict(self.env)
        offline.update(self.offline())
        srv = Server(self.sb, env=offline)
        try:
            status, body, _ = srv.request("POST", "/api/backup", body={})
            self.assertEqual(status, 201, body)
            self.assertEqual(body["offsite"]["uploaded"], False, body)
            self.assertIn("ListMultipartUploads", body["offsite"]["error"])
            self.assertTrue(srv.wait_for("kept in the local folder only", timeout=10), srv.log())
            status, body, _ = srv.request("POST", "/api/backup/sync")
            self.assertEqual(status, 502, body)
            self.assertIn("Sync to the offsite bucket failed", body["error"])
        finally:
            srv.stop()

        srv = Server(self.sb, env=self.env)
        try:
            status, body, _ = srv.request("POST", "/api/backup/sync")
            self.assertEqual((status, body["uploaded_count"]), (200, 1), body)
            status, body, _ = srv.request("DELETE", "/api/backup/" + name)
            self.assertEqual((status, body["locations"]), (200, ["local", "r2"]), body)
        finally:
            srv.stop()
        self.assertEqual(len(self.bucket_names()), 1)

    def test_scheduler_uploads_and_syncs_each_cycle(self):
        # A backup left local by an outage, dated two minutes ago: the scheduler's first cycle is
        # due at once; it backs up, uploads, and syncs the older one.
        r = self.hone("backup", "create", "--name", "before-outage", **self.offline())
        self.assertEqual(r.rc, 13, r)
        old = os.path.join(self.dir, "before-outage.db.gz")
        t = os.path.getmtime(old) - 120
        os.utime(old, (t, t))
        env = dict(self.env, HONE_BACKUP_SCHEDULE="0.0167")
        srv = Server(self.sb, env=env)
        try:
            self.assertTrue(srv.wait_for("sync: uploaded 1 backup(s) the bucket lacked: before-outage.db.gz",
                                         timeout=30), srv.log())
            self.assertTrue(srv.wait_for("scheduled prune", timeout=30), srv.log())
        finally:
            srv.stop()
        self.assertEqual(self.bucket_names(), self.local_names())
        self.assertEqual(len(self.local_names()), 2)


def free_port_block(n=4):
    """`n` consecutive loopback ports nothing listens on (Swift's proxy and its three servers)."""
    for _ in range(200):
        base = random.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of %d ports" % n)


OUTAGE_SKIP = SKIP_REASON or (None if shutil.which("swift-proxy-server") else
                              "swift-proxy-server is not installed (scripts/setup.sh installs Swift)")


@unittest.skipIf(OUTAGE_SKIP, OUTAGE_SKIP or "")
class OutageTest(unittest.TestCase):
    """A real outage: the test's own Swift (scripts/s3-server.sh on ports of its own) is stopped and
    started again with its data while one `hone serve` keeps running through it."""

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(tag="outage")
        port = free_port_block()
        cls.endpoint = "http://127.0.0.1:%d" % port
        cls.script_env = dict(os.environ, HONE_S3_PORT=str(port), HONE_S3_DIR=cls.sb.path("swift"))
        cls.swift("start")
        cls.s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=cls.endpoint, aws_access_key_id="test:tester", aws_secret_access_key="testing",
            region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))
        cls.s3.create_bucket(Bucket=BUCKET)
        r = cls.sb.run("demo-db", "--transactions", "30")
        assert r.rc == 0, r

    @classmethod
    def tearDownClass(cls):
        try:
            cls.swift("stop")
        finally:
            cls.sb.cleanup()

    @classmethod
    def swift(cls, command):
        r = subprocess.run(["bash", S3_SERVER_SCRIPT, command], env=cls.script_env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, "s3-server.sh %s: %s%s" % (command, r.stdout, r.stderr)

    def test_sync_after_the_server_was_stopped_and_started(self):
        env = {"HONE_R2_BUCKET": BUCKET, "HONE_R2_ACCESS_KEY_ID": "test:tester",
               "HONE_R2_SECRET_ACCESS_KEY": "testing", "HONE_R2_ENDPOINT": self.endpoint,
               "HONE_BACKUP_DIR": self.sb.path("backups")}
        srv = Server(self.sb, env=env)
        try:
            # With an offsite copy, its series are there from the start, at zero.
            m = prometheus.parse(srv.get_text("/metrics")[1])
            self.assertEqual(prometheus.value(m, "hone_backup_runs_total", operation="prune", location="r2",
                                              result="success"), 0)
            self.assertEqual(prometheus.value(m, "hone_backup_uploads_total", result="success"), 0)
            status, body, _ = srv.request("POST", "/api/backup", body={"name": "before"})
            self.assertEqual((status, body["offsite"]["uploaded"]), (201, True), body)

            self.swift("stop")
            status, body, _ = srv.request("POST", "/api/backup", body={"name": "during"})
            self.assertEqual((status, body["offsite"]["uploaded"]), (201, False), body)
            self.assertIn(self.endpoint, body["offsite"]["error"])
            r = self.sb.run("backup", "create", "--name", "during-cli", env=env)
            self.assertEqual(r.rc, 13, r)
            self.assertIn("hone backup sync", r.err)
            status, body, _ = srv.request("POST", "/api/backup/sync")
            self.assertEqual(status, 502, body)
            # The local copies serve while the bucket is away; a listing of both places cannot be
            # made, but says what is local.
            status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": "during.db.gz"})
            self.assertEqual((status, body["valid"]), (200, True), body)
            status, body, _ = srv.request("GET", "/api/backup")
            self.assertEqual(status, 502, body)
            self.assertIn("Cannot list the offsite bucket", body["error"])
            self.assertIn(self.endpoint, body["error"])
            self.assertEqual({b["name"]: b["locations"] for b in body["local_backups"]},
                             {"before.db.gz": ["local"], "during.db.gz": ["local"], "during-cli.db.gz": ["local"]},
                             body)
            r = self.sb.run("backup", "list", env=env)
            self.assertEqual(r.rc, 13, r)
            self.assertIn("only the local backups are shown", r.err)
            self.assertEqual(sorted(re.findall(r"^(\S+\.db\.gz) .* local$", r.out, re.M)),
                             ["before.db.gz", "during-cli.db.gz", "during.db.gz"], r)
            r = self.sb.run("backup", "restore", "during-cli.db.gz", "--force", env=env)
            self.assertEqual(r.rc, 0, r)

            self.swift("restart")
            status, body, _ = srv.request("POST", "/api/backup/sync")
            self.assertEqual(status, 200, body)
            self.assertEqual((sorted(body["uploaded_names"]), body["already_offsite"]),
                             (["during-cli.db.gz", "during.db.gz"], 1), body)
            status, body, _ = srv.request("GET", "/api/backup")
            self.assertEqual({tuple(b["locations"]) for b in body}, {("local", "r2")}, body)
            for name in ("during.db.gz", "during-cli.db.gz"):
                status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": name, "from": "r2"})
                self.assertEqual((status, body["valid"]), (200, True), body)
            # This server's uploads: "before", then "during" failed, then the sync's two.
            m = prometheus.parse(srv.get_text("/metrics")[1])
            self.assertEqual((prometheus.value(m, "hone_backup_uploads_total", result="success"),
                              prometheus.value(m, "hone_backup_uploads_total", result="failure")), (3, 1), m)
        finally:
            srv.stop()
        keys = [o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
        self.assertEqual(sorted(k for k in keys if not k.startswith(".") and "/" not in k),
                         ["before.db.gz", "during-cli.db.gz", "during.db.gz"])
        self.assertEqual(self.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []), [])
        assert_no_key_material(self, self.sb.transcript)


if __name__ == "__main__":
    honetest.hone_exe()
    honetest.main()

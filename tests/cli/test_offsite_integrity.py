"""The offsite copy tells the truth and stays bounded (issue 19), against hostile_s3.py's S3-like
server: a backup counts as offsite only when the bucket holds the same bytes; a name holding
other bytes is a conflict that is reported and never overwritten; a mis-pointed endpoint, a
missing bucket and refused credentials are told apart; numbers the bucket sends are bucket
errors, never an internal error; prune, status and verify say what is true; and `list`,
`verify --from r2` and `sync` end by themselves, in bounded memory, against an endless listing,
an endless body and a dripping answer (their figures are printed on lines starting with
"offsite-bounds: ").

Every test has its own server and backup folder. Python 3 standard library only."""

import os
import re
import resource
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import honetest  # noqa: E402
from honetest import Sandbox, Server, assert_no_key_material, hone_exe  # noqa: E402
from hostile_s3 import HostileS3, altered  # noqa: E402

SECRET = "hostile-test-secret-5b1e"
R2_VARS = ("HONE_R2_BUCKET", "HONE_R2_ACCESS_KEY_ID", "HONE_R2_SECRET_ACCESS_KEY", "HONE_R2_ENDPOINT")
MIB = 1024 * 1024


class HostileCase(unittest.TestCase):
    """A sandbox with a demo database (shared by the class), and per test a fresh server and
    backup folder."""

    MODE = "s3"

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(tag="hostile")
        r = cls.sb.run("demo-db", "--accounts", "2", "--transactions", "30", "--subscriptions", "2")
        assert r.rc == 0, r

    @classmethod
    def tearDownClass(cls):
        cls.sb.cleanup()

    def setUp(self):
        self.s3 = HostileS3(mode=self.MODE).start()
        self.dir = self.sb.path("backups-%s-%d" % (self._testMethodName, time.monotonic_ns()))
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        self.s3.stop()
        assert_no_key_material(self, self.sb.transcript)
        for t in self.sb.transcript:
            self.assertNotIn(SECRET, t)

    # ---- helpers ---------------------------------------------------------------------------

    def env(self, **overrides):
        e = {"HONE_R2_BUCKET": self.s3.bucket, "HONE_R2_ACCESS_KEY_ID": "hostile-key-id",
             "HONE_R2_SECRET_ACCESS_KEY": SECRET, "HONE_R2_ENDPOINT": self.s3.endpoint, "HONE_R2_TIMEOUT": "2",
             "HONE_BACKUP_DIR": self.dir}
        e.update(overrides)
        return e

    def hone(self, *args, timeout=120, **overrides):
        return self.sb.run(*args, env=self.env(**overrides), timeout=timeout)

    def local_backup(self, name=None):
        """A backup in the local folder only (no bucket configured for its creation)."""
        args = ["backup", "create", "--json"] + (["--name", name] if name else [])
        r = self.sb.run(*args, env=self.env(**{k: "" for k in R2_VARS}))
        self.assertEqual(r.rc, 0, r)
        return r.json()["name"]

    def local_bytes(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return f.read()

    def local_names(self):
        return self.sb.backups(self.dir)

    def bucket_names(self):
        return sorted(k for k in self.s3.keys() if "/" not in k and not k.startswith("."))

    def serve(self, **overrides):
        s = Server(self.sb, env=self.env(**overrides))
        self.servers.append(s)
        return s

    def listing(self, r):
        return {b["name"]: (b["locations"], b["offsite_conflict"]) for b in r.json()}


class ConflictTest(HostileCase):
    """Point 1: same bytes, or not offsite."""

    def test_create_does_not_overwrite_a_name_holding_other_bytes(self):
        planted = b"another machine's object, not this backup"
        self.s3.plant("planted.db.gz", planted)
        r = self.hone("backup", "create", "--name", "planted", "--json")
        self.assertEqual(r.rc, 1, r)
        off = r.json()["offsite"]
        self.assertEqual((off["uploaded"], off["conflict"]), (False, True), off)
        self.assertIn("other bytes", off["error"])
        self.assertIn("other bytes", r.err)
        self.assertEqual(self.s3.get("planted.db.gz"), planted, "nothing was overwritten")
        self.assertEqual(self.local_names(), ["planted.db.gz"], "the local backup is kept")
        r = self.hone("backup", "list", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.listing(r), {"planted.db.gz": (["local"], True)})

    def test_list_show_and_status_mark_a_conflict_of_the_same_size(self):
        name = self.local_backup()
        self.s3.plant(name, altered(self.local_bytes(name)))  # same size, other bytes
        r = self.hone("backup", "list", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.listing(r), {name: (["local"], True)})
        r = self.hone("backup", "list")
        self.assertEqual(r.rc, 1, r)
        line = [l for l in r.out.splitlines() if l.startswith(name)][0]
        self.assertTrue(line.endswith("local, r2 (conflict)"), line)
        self.assertIn("conflict", r.err)
        shown = self.hone("backup", "show", name, "--json")
        self.assertEqual(shown.rc, 0, shown)
        self.assertEqual((shown.json()["locations"], shown.json()["offsite_conflict"]), (["local"], True))
        r = self.hone("backup", "status", "--json")
        self.assertEqual(r.rc, 1, r)
        s = r.json()
        self.assertFalse(s["ok"], s)
        self.assertEqual(s["locations"]["r2"]["conflicts"], [name], s)
        r = self.hone("backup", "status")
        self.assertEqual(r.rc, 1, r)
        self.assertRegex(r.out, r"Status:\s+FAILED.*conflict")
        self.assertEqual(self.s3.get(name), altered(self.local_bytes(name)))

    def test_an_object_without_a_record_is_read_never_assumed_equal(self):
        name = self.local_backup()
        self.s3.plant(name, self.local_bytes(name))  # the same bytes, no record of their SHA-256
        gets = self.s3.count("GET", "/%s/%s" % (self.s3.bucket, name))
        r = self.hone("backup", "list", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.listing(r), {name: (["local", "r2"], False)})
        read = self.s3.count("GET", "/%s/%s" % (self.s3.bucket, name))
        self.assertGreater(read, gets, "the object was read to compare it")
        r = self.hone("backup", "list", "--json")
        self.assertEqual(self.listing(r), {name: (["local", "r2"], False)})
        self.assertEqual(self.s3.count("GET", "/%s/%s" % (self.s3.bucket, name)), read,
                         "read once: its SHA-256 was recorded")
        s = self.hone("backup", "sync", "--json")
        self.assertEqual(s.rc, 0, s)
        self.assertEqual((s.json()["already_offsite"], s.json()["conflict_names"]), (1, []))

    def test_sync_reports_a_conflict_and_overwrites_nothing(self):
        first = self.local_backup("first")
        second = self.local_backup("second")
        other = altered(self.local_bytes(first))
        self.s3.plant(first, other)
        r = self.hone("backup", "sync", "--json")
        self.assertEqual(r.rc, 1, r)
        s = r.json()
        self.assertEqual((s["uploaded_names"], s["conflict_names"], s["already_offsite"]), ([second], [first], 0), s)
        self.assertIn("nothing was overwritten", r.err)
        self.assertEqual(self.s3.get(first), other)
        self.assertEqual(self.s3.get(second), self.local_bytes(second))
        r = self.hone("backup", "sync")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("Conflict %s" % first, r.out)
        self.assertIn("1 already in the bucket, 1 in conflict", r.out)

    def test_api_reports_conflicts(self):
        self.s3.plant("planted.db.gz", b"not this backup")
        srv = self.serve()
        status, body, _ = srv.request("POST", "/api/backup", body={"name": "planted"})
        self.assertEqual(status, 201, body)
        self.assertEqual((body["offsite"]["uploaded"], body["offsite"]["conflict"]), (False, True), body)
        status, body, _ = srv.request("GET", "/api/backup")
        self.assertEqual(status, 200, body)
        self.assertEqual([(b["name"], b["locations"], b["offsite_conflict"]) for b in body],
                         [("planted.db.gz", ["local"], True)])
        status, body, _ = srv.request("POST", "/api/backup/sync")
        self.assertEqual(status, 409, body)
        self.assertEqual(body["conflict_names"], ["planted.db.gz"], body)
        self.assertIn("error", body)
        status, body, _ = srv.request("GET", "/api/backup/status")
        self.assertEqual(status, 200, body)
        self.assertFalse(body["ok"], body)
        self.assertEqual(body["locations"]["r2"]["conflicts"], ["planted.db.gz"])
        self.assertEqual(self.s3.get("planted.db.gz"), b"not this backup")


class AlteredUploadTest(HostileCase):
    """Point 1: an upload the bucket stored with other bytes is not offsite, and not left there."""

    MODE = "alter"

    def test_an_upload_stored_with_other_bytes_fails_and_is_removed(self):
        r = self.hone("backup", "create", "--json")
        self.assertEqual(r.rc, 1, r)
        c = r.json()
        self.assertFalse(c["offsite"]["uploaded"], c)
        self.assertEqual(self.bucket_names(), [], "the altered object was deleted")
        self.s3.mode = "s3"
        r = self.hone("backup", "list", "--json")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.listing(r), {c["name"]: (["local"], False)})
        self.s3.mode = "alter"
        r = self.hone("backup", "sync", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(r.json()["missing_names"], [c["name"]])
        self.assertEqual(self.bucket_names(), [])


class MessagesTest(HostileCase):
    """Point 2: a wrong endpoint, a missing bucket and refused credentials are told apart, and
    none of them is an internal error."""

    def test_wrong_endpoint_missing_bucket_and_refused_credentials(self):
        name = self.local_backup()
        cases = {"wrong endpoint": ("html", {}), "missing bucket": ("s3", {"HONE_R2_BUCKET": "no-such-bucket"}),
                 "refused credentials": ("deny", {})}
        messages = {}
        for what, (mode, env) in cases.items():
            self.s3.mode = mode
            r = self.hone("backup", "list", **env)
            self.assertEqual(r.rc, 1, (what, r))
            self.assertIn(name, r.out, (what, r))
            self.assertIn("only the local backups are shown", r.err, (what, r))
            self.assertNotIn("Internal error", r.err)
            messages[what] = r.err
            srv = self.serve(**env)
            status, body, _ = srv.request("GET", "/api/backup")
            self.assertEqual(status, 502, (what, body))
            self.assertNotIn("Internal error", body["error"])
            self.assertEqual([b["name"] for b in body["local_backups"]], [name])
            srv.stop()
            self.servers.remove(srv)
        self.assertIn("no-such-bucket", messages["missing bucket"])
        self.assertRegex(messages["missing bucket"], r"does not exist|NoSuchBucket")
        self.assertRegex(messages["refused credentials"], r"(?i)secret access key|credentials|access key")
        self.assertRegex(messages["wrong endpoint"], r"(?i)S3")
        self.assertEqual(len(set(messages.values())), 3, messages)
        for m in (messages["wrong endpoint"], messages["refused credentials"]):
            self.assertNotIn("does not exist", m)


class NumbersTest(HostileCase):
    """Point 4: numbers from the bucket are bucket errors; the local folder is still listed and pruned."""

    def test_bad_numbers_are_bucket_errors_in_every_command(self):
        older = self.local_backup("older")
        newer = self.local_backup("newer")
        self.s3.plant(older, self.local_bytes(older))
        self.s3.mode = "bad-numbers"
        r = self.hone("backup", "list")
        self.assertEqual(r.rc, 1, r)
        self.assertIn(older, r.out)
        self.assertIn(newer, r.out)
        self.assertIn("cannot list the offsite bucket", r.err)
        for bad in ("stoull", "stod", "Internal error"):
            self.assertNotIn(bad, r.err)
        r = self.hone("backup", "status", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertFalse(r.json()["ok"])
        self.assertIn("error", r.json()["locations"]["r2"])
        target = self.sb.path("restored-%d" % time.monotonic_ns(), "hone.db")
        for args in (("backup", "verify", older, "--from", "r2"), ("backup", "restore", older, "--from", "r2",
                                                                   "--db", target), ("backup", "sync")):
            r = self.hone(*args)
            self.assertEqual(r.rc, 1, r)
            for bad in ("stoull", "stod", "Internal error"):
                self.assertNotIn(bad, r.err)
        self.assertFalse(os.path.exists(target))
        r = self.hone("backup", "prune", "--keep", "1", "-y", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("could not be pruned", r.err)
        self.assertEqual(self.local_names(), [newer], "the local folder was pruned")
        self.assertNotIn("stoull", r.err)

    def test_a_size_that_is_not_a_number_is_a_bucket_error(self):
        name = self.local_backup()
        self.s3.plant(name, self.local_bytes(name))
        self.s3.mode = "bad-size-text"
        r = self.hone("backup", "list")
        self.assertEqual(r.rc, 1, r)
        self.assertIn(name, r.out)
        self.assertIn("cannot list the offsite bucket", r.err)
        self.assertNotIn("Internal error", r.err)

    def test_bad_numbers_through_the_api(self):
        older = self.local_backup("older")
        newer = self.local_backup("newer")
        self.s3.plant(older, self.local_bytes(older))
        self.s3.mode = "bad-numbers"
        srv = self.serve()
        status, body, _ = srv.request("GET", "/api/backup")
        self.assertEqual(status, 502, body)
        self.assertEqual(sorted(b["name"] for b in body["local_backups"]), [newer, older])
        status, body, _ = srv.request("GET", "/api/backup/status")
        self.assertEqual(status, 200, body)
        self.assertFalse(body["ok"])
        status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": older, "from": "r2"})
        self.assertEqual(status, 502, body)
        self.assertNotIn("Internal error", body["error"])
        status, body, _ = srv.request("POST", "/api/backup/prune", body={"keep": 1})
        self.assertEqual(status, 502, body)
        self.assertIn(older, body["error"], "the 502 names what was deleted locally")
        self.assertEqual(body["local"]["deleted_names"], [older])
        self.assertEqual(self.local_names(), [newer])


class TruthTest(HostileCase):
    """Point 8: output tells the truth."""

    def test_status_text_says_ok_only_when_ok(self):
        self.local_backup()
        self.s3.mode = "deny"
        r = self.hone("backup", "status", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertFalse(r.json()["ok"])
        r = self.hone("backup", "status")
        self.assertEqual(r.rc, 1, r)
        verdict = re.search(r"^Status:\s+(.*)$", r.out, re.M).group(1)
        self.assertNotEqual(verdict, "OK", r)
        self.assertIn("offsite bucket cannot be listed", verdict)

    def test_prune_applies_the_policy_to_the_union_of_both_places(self):
        names = []
        for _ in range(5):
            r = self.hone("backup", "create", "--json")
            self.assertEqual(r.rc, 0, r)
            names.append(r.json()["name"])
        a, b, c, d, e = names
        self.assertEqual(self.bucket_names(), sorted(names))
        os.remove(os.path.join(self.dir, e))  # the newest is now only in the bucket
        r = self.hone("backup", "prune", "--keep", "3", "-y", "--json")
        self.assertEqual(r.rc, 0, r)
        p = r.json()
        self.assertEqual(sorted(p["deleted_names"]), sorted([a, b]), p)
        self.assertEqual(sorted(p["locations"]["local"]["deleted_names"]), sorted([a, b]), p)
        self.assertEqual(sorted(p["locations"]["r2"]["deleted_names"]), sorted([a, b]), p)
        self.assertEqual(sorted(p["locations"]["local"]["retained_names"]), sorted([c, d]), p)
        self.assertEqual(sorted(p["locations"]["r2"]["retained_names"]), sorted([c, d, e]), p)
        self.assertEqual(self.local_names(), sorted([c, d]))
        self.assertEqual(self.bucket_names(), sorted([c, d, e]))
        # Nothing pruned from one place comes back: sync has nothing to upload, prune nothing to delete.
        s = self.hone("backup", "sync", "--json")
        self.assertEqual((s.rc, s.json()["uploaded_names"]), (0, []), s)
        r = self.hone("backup", "prune", "--keep", "3", "-y")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("Deleted 0 backups", r.out)
        self.assertIn("In the local folder: deleted 0, kept 2", r.out)
        self.assertIn("In the offsite bucket: deleted 0, kept 3", r.out)

    def test_a_damaged_local_copy_names_the_bucket_copy(self):
        r = self.hone("backup", "create", "--json")
        self.assertEqual(r.rc, 0, r)
        name = r.json()["name"]
        path = os.path.join(self.dir, name)
        data = bytearray(self.local_bytes(name))
        for i in range(len(data) // 3, len(data) - 16):
            data[i] ^= 0xFF
        with open(path, "wb") as f:
            f.write(data)
        r = self.hone("backup", "verify", name)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("--from r2", r.err)
        target = self.sb.path("restored-%d" % time.monotonic_ns(), "hone.db")
        r = self.hone("backup", "restore", name, "--db", target)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("--from r2", r.err)
        r = self.hone("backup", "verify", name, "--from", "r2", "--json")
        self.assertEqual((r.rc, r.json()["valid"]), (0, True), r)
        srv = self.serve()
        status, body, _ = srv.request("POST", "/api/backup/verify", body={"name": name})
        self.assertEqual((status, body["valid"]), (200, False), body)
        self.assertIn("\"from\": \"r2\"", body["message"])


class SettingsTest(HostileCase):
    """HONE_R2_TIMEOUT: the whole deadline of one request to the bucket."""

    def test_timeout_is_validated(self):
        for bad in ("abc", "0", "-1", "1.5", "86401", " 5"):
            r = self.hone("backup", "list", HONE_R2_TIMEOUT=bad, timeout=60)
            self.assertEqual(r.rc, 2, (bad, r))
            self.assertIn("HONE_R2_TIMEOUT", r.err)
        r = self.sb.run("serve", "--port", "0", env=self.env(HONE_R2_TIMEOUT="soon"), timeout=60)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_R2_TIMEOUT", r.err)
        r = self.hone("backup", "list", HONE_R2_TIMEOUT="5", timeout=60)
        self.assertEqual(r.rc, 0, r)

    def test_the_deadline_ends_a_dripping_request(self):
        self.local_backup()
        self.s3.mode = "drip"
        t0 = time.monotonic()
        r = self.hone("backup", "list", HONE_R2_TIMEOUT="1", timeout=90)
        took = time.monotonic() - t0
        self.assertEqual(r.rc, 1, r)
        self.assertLess(took, 30, "4 attempts of at most 1 s each, and the waits between them")


def measured_run(args, env, deadline):
    """Runs hone with `args`; returns (exit code or None when it had to be killed, seconds, peak
    RSS in KiB) of that one child (wait4)."""
    def limit():
        # A safety net for the machine, far above the bound asserted.
        resource.setrlimit(resource.RLIMIT_DATA, (1 << 30, 1 << 30))

    t0 = time.monotonic()
    p = subprocess.Popen([hone_exe()] + list(args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, preexec_fn=limit)
    killed = []

    def kill():
        killed.append(True)
        p.kill()

    timer = threading.Timer(deadline, kill)
    timer.start()
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    timer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    took = time.monotonic() - t0
    return (None if killed else p.returncode), took, usage.ru_maxrss, err.decode("utf-8", "replace")


class BoundsTest(HostileCase):
    """Point 3 as the program sees it: against an endless listing, an endless body and a
    dripping answer, `list`, `verify NAME --from r2` and `sync` end by themselves with an error,
    with a peak RSS under 128 MiB. The figures are printed ("offsite-bounds: ...")."""

    DEADLINE = 75  # seconds before a run is called hung and killed

    def test_endless_listing_endless_body_and_drip(self):
        name = self.local_backup()
        data = self.local_bytes(name)
        servers = {}
        for mode in ("endless-list", "endless-body", "drip"):
            s = HostileS3(mode="s3").start()
            s.plant(name, data)
            s.mode = mode
            servers[mode] = s
        commands = {"list": ("backup", "list"), "verify --from r2": ("backup", "verify", name, "--from", "r2"),
                    "sync": ("backup", "sync")}
        results = {}

        def one(mode, what):
            env = dict(self.sb.env)
            env.update(self.env(HONE_R2_ENDPOINT=servers[mode].endpoint))
            results[(mode, what)] = measured_run(commands[what], env, self.DEADLINE)

        threads = [threading.Thread(target=one, args=(m, w)) for m in servers for w in commands]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            for s in servers.values():
                s.stop()
        failures = []
        for (mode, what), (rc, took, rss_kib, err) in sorted(results.items()):
            print("offsite-bounds: %-12s %-16s exit=%s time=%.1fs peak_rss=%.1fMiB" %
                  (mode, what, "killed" if rc is None else rc, took, rss_kib / 1024.0), flush=True)
            self.sb.transcript.append(err)
            # verify needs no listing of the backups (only, maybe, of one backup's records): against an
            # endless listing it has to end in bounds, with an error or not.
            touches = not (mode == "endless-list" and what == "verify --from r2")
            if rc is None:
                failures.append("%s, %s: still running after %d s (killed)" % (mode, what, self.DEADLINE))
            elif touches and rc == 0:
                failures.append("%s, %s: exit 0 against a hostile answer" % (mode, what))
            if rss_kib * 1024 >= 128 * MIB:
                failures.append("%s, %s: peak RSS %.1f MiB" % (mode, what, rss_kib / 1024.0))
            for bad in ("Internal error", "stoull", "bad_alloc"):
                if bad in err:
                    failures.append("%s, %s: %r in %s" % (mode, what, bad, err.strip()[-300:]))
        self.assertEqual(failures, [])


if __name__ == "__main__":
    honetest.hone_exe()
    honetest.main()

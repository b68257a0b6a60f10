#!/usr/bin/env python3
"""The `hone` program deployed as a service: what a container, a NAS folder, systemd and cron
rely on.

- GET /healthz answers without a token: 200 {"status": "ok"} when the database opens with the
  key and the last scheduled cycle succeeded, 503 with a reason word otherwise; it is not logged
  at the info level.
- `hone backup run` runs one scheduled cycle: create, prune by HONE_BACKUP_RETENTION, the
  status file and the failure hook; its exit code is 1 when any step failed (the upload
  included), and the prune runs even when the upload failed.
- Secrets come from files too (HONE_DB_KEY_FILE, HONE_API_TOKEN_FILE,
  HONE_R2_SECRET_ACCESS_KEY_FILE): one trailing newline is stripped, both forms at once are a
  usage error, a missing file is a clear error, a file others may read gets a warning.
- `hone serve` opens the database at start-up: a wrong or missing key exits 2; a database that
  does not exist yet is a warning. A bucket that cannot be reached at start-up is an ERROR line
  and an unhealthy /healthz, not a stop.
- NAS folders (tmpfs mounts with uid=, gid= and mode=, files chowned to 65534): with an
  encrypted database a share owned by another user and writable by all is accepted with a
  warning; with a plain one HONE_BACKUP_DIR_SHARED=1 accepts it. Another user's backup is never
  hidden: it is listed with its owner (and a problem when refused) and found by name. A
  scheduler whose folder cannot be written to refuses to start.
- A restore through a symbolically linked database path (app/hone.db -> ../data/real.db)
  replaces the file the link points to and keeps a real copy of it beside it; the link stays.

Usage: test_deploy.py PATH/TO/hone [unittest options]"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest
from honetest import ServersTestCase

TOKEN = "a-long-random-api-token-0123456789"


def wait_until(predicate, timeout=60, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


class HealthTest(ServersTestCase):
    SANDBOX_TAG = "health"

    def health(self, srv, method="GET", path="/healthz"):
        status, body, _ = srv.request(method, path)
        return status, body

    def test_ok_without_a_token_and_nothing_else_told(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start(env={"HONE_API_TOKEN": TOKEN})
        self.assertEqual(self.health(srv), (200, {"status": "ok"}))
        self.assertEqual(self.health(srv, path="/healthz?x=1"), (200, {"status": "ok"}))
        status, _, _ = srv.request("HEAD", "/healthz")
        self.assertEqual(status, 200)
        # Only the health check is open: the rest still needs the token.
        status, _, _ = srv.request("GET", "/api/backup")
        self.assertEqual(status, 401)
        status, _, _ = srv.request("GET", "/metrics")
        self.assertEqual(status, 401)
        status, _, _ = srv.request("POST", "/healthz")
        self.assertEqual(status, 401)
        # Not logged at the info level (a container runtime polls it every few seconds).
        self.assertTrue(srv.logged("POST /healthz 401"), srv.log())
        self.assertEqual(srv.count("GET /healthz"), 0, srv.log())
        self.assertEqual(srv.count("HEAD /healthz"), 0, srv.log())

    def test_logged_at_debug_level_with_verbose(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start("--verbose")
        self.assertEqual(self.health(srv)[0], 200)
        self.assertTrue(srv.logged("GET /healthz 200"), srv.log())

    def test_unavailable_until_the_database_appears(self):
        srv = self.start()
        self.assertEqual(self.health(srv), (503, {"status": "unavailable", "reason": "database"}))
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        self.assertEqual(self.health(srv), (200, {"status": "ok"}))

    def test_a_failed_scheduled_cycle_is_not_healthy(self):
        # A backup two days old makes a cycle due at start-up; the database is away, so it fails.
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        self.assertEqual(self.sb.run("backup", "create", "--name", "seed").rc, 0)
        old = time.time() - 2 * 86400
        os.utime(os.path.join(self.sb.backup_dir, "seed.db.gz"), (old, old))
        os.rename(self.sb.db, self.sb.db + ".away")
        srv = self.start(env={"HONE_BACKUP_SCHEDULE": "24"})
        self.assertTrue(srv.wait_for(re.compile(r"scheduler: scheduled backup failed"), timeout=120), srv.log())
        os.rename(self.sb.db + ".away", self.sb.db)
        # The database opens now, but the last cycle failed.
        self.assertEqual(self.health(srv), (503, {"status": "unavailable", "reason": "last_cycle"}))

    def test_a_key_that_no_longer_opens_the_database(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start()
        self.assertEqual(self.health(srv)[0], 200)
        # The database is replaced by one with another key while the server runs.
        for sfx in ("", "-wal", "-shm"):
            if os.path.exists(self.sb.db + sfx):
                os.remove(self.sb.db + sfx)
        r = self.sb.run("demo-db", "--transactions", "5", env={"HONE_DB_KEY": honetest.OTHER_PASSPHRASE})
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(self.health(srv), (503, {"status": "unavailable", "reason": "key"}))


def unreachable_bucket():
    """A complete offsite configuration whose endpoint is a loopback port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return {"HONE_R2_BUCKET": "backups", "HONE_R2_ACCESS_KEY_ID": "access-key-id-7731",
            "HONE_R2_SECRET_ACCESS_KEY": "r2-secret-value-5521", "HONE_R2_ENDPOINT": "http://127.0.0.1:%d" % port}


class BackupRunTest(unittest.TestCase):
    def setUp(self):
        self.sb = honetest.Sandbox(tag="run")
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)

    def tearDown(self):
        honetest.assert_no_key_material(self, self.sb.transcript)
        self.sb.cleanup()

    def seed(self, folder, count):
        """`count` backups, one hour apart, the newest an hour old."""
        for i in range(count):
            r = self.sb.run("backup", "create", "--dir", folder, "--name", "seed-%d" % i)
            self.assertEqual(r.rc, 0, r)
            t = time.time() - 3600 * (count - i)
            os.utime(os.path.join(folder, "seed-%d.db.gz" % i), (t, t))

    def hook(self):
        out = self.sb.path("hook-out.jsonl")
        path = self.sb.path("hook.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec python3 -c 'import json, os, sys; print(json.dumps("
                    "{k: v for k, v in os.environ.items() if k.startswith(\"HONE_BACKUP_FAILED\")}), "
                    "file=open(sys.argv[1], \"a\"))' %s\n" % out)
        os.chmod(path, 0o700)
        return path, out

    def hook_runs(self, out):
        if not os.path.exists(out):
            return []
        with open(out) as f:
            return [json.loads(l) for l in f if l.strip()]

    def test_one_cycle_creates_prunes_and_records(self):
        folder = self.sb.path("elsewhere")
        self.seed(folder, 3)
        hook, out = self.hook()
        r = self.sb.run("backup", "run", "--dir", folder,
                        env={"HONE_BACKUP_RETENTION": "2", "HONE_BACKUP_ON_FAILURE": hook})
        self.assertEqual(r.rc, 0, r)
        self.assertIn("scheduler: scheduled backup created: hone-", r.err)
        self.assertIn("scheduler: scheduled prune: deleted 2, kept 2", r.err)
        names = self.sb.backups(folder)
        self.assertEqual(len(names), 2, names)
        self.assertIn("seed-2.db.gz", names)
        self.assertEqual(self.hook_runs(out), [])
        self.assertEqual(self.sb.backups(), [])  # --dir, not the default folder
        s = self.sb.run("backup", "status", "--dir", folder, "--json")
        self.assertEqual(s.rc, 0, s)
        run = json.loads(s.out)["scheduler"]["last_run"]
        self.assertEqual(run["outcome"], "success")
        self.assertTrue(run["backup"].startswith("hone-"), run)
        # HONE_BACKUP_DIR as create reads it, and the calendar rules.
        r = self.sb.run("backup", "run", env={"HONE_BACKUP_DIR": folder, "HONE_BACKUP_KEEP_DAILY": "1"})
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(len(self.sb.backups(folder)), 1)

    def test_a_failed_create_fails_and_runs_the_hook(self):
        os.rename(self.sb.db, self.sb.db + ".away")
        hook, out = self.hook()
        r = self.sb.run("backup", "run", env={"HONE_BACKUP_ON_FAILURE": hook})
        self.assertEqual(r.rc, 1, r)
        runs = self.hook_runs(out)
        self.assertEqual(len(runs), 1, runs)
        self.assertEqual(runs[0]["HONE_BACKUP_FAILED_OPERATION"], "create")
        self.assertIn("Database not found", runs[0]["HONE_BACKUP_FAILED_MESSAGE"])

    def test_a_failed_upload_fails_the_run_but_the_prune_runs(self):
        self.seed(self.sb.backup_dir, 3)
        hook, out = self.hook()
        env = {"HONE_BACKUP_RETENTION": "1", "HONE_BACKUP_ON_FAILURE": hook, "HONE_R2_TIMEOUT": "5"}
        env.update(unreachable_bucket())
        r = self.sb.run("backup", "run", env=env, timeout=600)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("offsite copy failed", r.err)
        names = self.sb.backups()
        self.assertEqual(len(names), 1, names)  # the local prune ran
        self.assertTrue(names[0].startswith("hone-"), names)
        ops = [run["HONE_BACKUP_FAILED_OPERATION"] for run in self.hook_runs(out)]
        self.assertIn("upload", ops)
        self.assertIn("prune", ops)

    @unittest.skipIf(not os.environ.get("HONE_TEST_S3_ENDPOINT"),
                     "HONE_TEST_S3_ENDPOINT is not set (scripts/test.sh starts scripts/s3-server.sh and sets it)")
    def test_one_cycle_uploads_and_prunes_both_places(self):
        try:
            import botocore.session
            from botocore.config import Config
        except ImportError:
            self.skipTest("botocore is not installed (scripts/setup.sh installs python3-botocore)")
        endpoint = os.environ["HONE_TEST_S3_ENDPOINT"]
        key_id = os.environ.get("HONE_TEST_S3_ACCESS_KEY_ID", "test:tester")
        secret = os.environ.get("HONE_TEST_S3_SECRET", "testing")
        region = os.environ.get("HONE_TEST_S3_REGION", "auto")
        s3 = botocore.session.get_session().create_client(
            "s3", endpoint_url=endpoint, aws_access_key_id=key_id, aws_secret_access_key=secret,
            region_name="us-east-1" if region == "auto" else region, config=Config(s3={"addressing_style": "path"}))
        bucket = "hone-cli-deploy"
        try:
            s3.create_bucket(Bucket=bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
            pass
        prefix = "run-%d-%d" % (os.getpid(), int(time.time() * 1000))
        env = {"HONE_R2_BUCKET": bucket, "HONE_R2_ACCESS_KEY_ID": key_id, "HONE_R2_SECRET_ACCESS_KEY": secret,
               "HONE_R2_ENDPOINT": endpoint, "HONE_R2_PREFIX": prefix, "HONE_R2_REGION": region}
        for i in range(2):
            r = self.sb.run("backup", "create", "--name", "seed-%d" % i, env=env)
            self.assertEqual(r.rc, 0, r)
            t = time.time() - 3600 * (2 - i)
            os.utime(os.path.join(self.sb.backup_dir, "seed-%d.db.gz" % i), (t, t))
        # A local backup the bucket lacks: the cycle's sync uploads it.
        r = self.sb.run("backup", "create", "--name", "local-only")
        self.assertEqual(r.rc, 0, r)
        t = time.time() - 1800
        os.utime(os.path.join(self.sb.backup_dir, "local-only.db.gz"), (t, t))
        env["HONE_BACKUP_RETENTION"] = "2"
        r = self.sb.run("backup", "run", env=env, timeout=600)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("sync: uploaded 1 backup(s) the bucket lacked: local-only.db.gz", r.err)
        listed = {b["name"]: b["locations"] for b in json.loads(self.sb.run("backup", "list", "--json", env=env).out)}
        self.assertEqual(len(listed), 2, listed)
        self.assertEqual(listed.get("local-only.db.gz"), ["local", "r2"], listed)
        out = s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
        keys = sorted(o["Key"][len(prefix) + 1:] for o in out.get("Contents", []))
        self.assertEqual([k for k in keys if not k.startswith(".") and "/" not in k], sorted(listed), keys)

    def test_misconfigured_retention_is_a_usage_error(self):
        r = self.sb.run("backup", "run", env={"HONE_BACKUP_RETENTION": "0"})
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_BACKUP_RETENTION", r.err)
        self.assertEqual(self.sb.backups(), [])


class SecretFilesTest(ServersTestCase):
    SANDBOX_TAG = "secrets"

    def secret_file(self, name, content, mode=0o600):
        path = self.sb.path(name)
        with open(path, "w") as f:
            f.write(content)
        os.chmod(path, mode)
        return path

    def test_the_key_from_a_file(self):
        path = self.secret_file("key", honetest.PASSPHRASE + "\n")
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        # The key from the file opens the database made with HONE_DB_KEY: the newline is gone.
        r = self.sb.run("backup", "create", "--name", "from-file", env={"HONE_DB_KEY_FILE": path},
                        unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 0, r)
        self.assertNotIn("warning", r.err)
        r = self.sb.run("backup", "verify", "from-file")
        self.assertEqual(r.rc, 0, r)
        # Only one newline is stripped: a second one is part of the passphrase.
        other = self.secret_file("key2", honetest.PASSPHRASE + "\n\n")
        r = self.sb.run("backup", "verify", "from-file", env={"HONE_DB_KEY_FILE": other}, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 1, r)

    def test_both_forms_missing_files_and_loose_modes(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        path = self.secret_file("key", honetest.PASSPHRASE)
        r = self.sb.run("backup", "create", env={"HONE_DB_KEY_FILE": path})
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_DB_KEY and HONE_DB_KEY_FILE are both set", r.err)
        missing = self.sb.path("no-such-file")
        r = self.sb.run("backup", "create", env={"HONE_DB_KEY_FILE": missing}, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 2, r)
        self.assertIn("cannot read the secret file of HONE_DB_KEY_FILE (%s): No such file" % missing, r.err)
        empty = self.secret_file("empty", "\n")
        r = self.sb.run("backup", "create", env={"HONE_DB_KEY_FILE": empty}, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 2, r)
        self.assertIn("the file is empty", r.err)
        self.assertEqual(self.sb.backups(), [])
        loose = self.secret_file("loose", honetest.PASSPHRASE, 0o644)
        r = self.sb.run("backup", "create", env={"HONE_DB_KEY_FILE": loose}, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"WARN .*HONE_DB_KEY_FILE names %s, which group or others may read \(mode 0644\)"
                         % re.escape(loose))

    def test_the_api_token_from_a_file(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        path = self.secret_file("token", TOKEN + "\n")
        srv = self.start(env={"HONE_API_TOKEN_FILE": path})
        self.assertEqual(srv.request("GET", "/api/backup")[0], 401)
        status, _, _ = srv.request("GET", "/api/backup", headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual(status, 200)
        srv2 = self.start(env={"HONE_API_TOKEN_FILE": path, "HONE_API_TOKEN": TOKEN}, wait=False)
        self.assertEqual(srv2.exit_code(), 2, srv2.log())
        self.assertIn("HONE_API_TOKEN and HONE_API_TOKEN_FILE are both set", srv2.log())

    def test_the_bucket_secret_from_a_file(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        env = unreachable_bucket()
        secret = env.pop("HONE_R2_SECRET_ACCESS_KEY")
        path = self.secret_file("r2", secret + "\n")
        env.update({"HONE_R2_SECRET_ACCESS_KEY_FILE": path, "HONE_R2_TIMEOUT": "5"})
        # A complete configuration (not "partly configured"): the upload is tried and fails.
        r = self.sb.run("backup", "create", env=env, timeout=600)
        self.assertEqual(r.rc, 1, r)
        self.assertNotIn("partly configured", r.err)
        self.assertIn("upload to the offsite bucket failed", r.err)
        env["HONE_R2_SECRET_ACCESS_KEY"] = secret
        r = self.sb.run("backup", "list", env=env)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_R2_SECRET_ACCESS_KEY and HONE_R2_SECRET_ACCESS_KEY_FILE are both set", r.err)
        for t in self.sb.transcript:
            self.assertNotIn(secret, t, "the bucket secret was printed")


class FailFastTest(ServersTestCase):
    SANDBOX_TAG = "failfast"

    def test_a_wrong_key_stops_the_server(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start(env={"HONE_DB_KEY": honetest.OTHER_PASSPHRASE}, wait=False)
        self.assertEqual(srv.exit_code(), 2, srv.log())
        self.assertIn("HONE_DB_KEY does not match the database's key", srv.log())
        self.assertEqual(srv.count("listening on"), 0)

    def test_a_missing_key_stops_the_server(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start(unset=("HONE_DB_KEY",), wait=False)
        self.assertEqual(srv.exit_code(), 2, srv.log())
        self.assertIn("the database is encrypted, but HONE_DB_KEY is not set", srv.log())

    def test_a_missing_database_is_a_warning(self):
        srv = self.start()
        self.assertTrue(srv.logged(re.compile(r"WARN .*database not found at ")), srv.log())

    def test_an_unreachable_bucket_is_an_error_line_and_unhealthy(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        env = unreachable_bucket()
        env["HONE_R2_TIMEOUT"] = "5"
        srv = self.start(env=env)
        self.assertTrue(srv.wait_for(re.compile(r"ERROR offsite copy: the bucket cannot be used: "), timeout=120),
                        srv.log())
        status, body, _ = srv.request("GET", "/healthz")
        self.assertEqual((status, body), (503, {"status": "unavailable", "reason": "offsite"}))
        self.assertIsNone(srv.proc.poll())


class NasFolderTest(ServersTestCase):
    SANDBOX_TAG = "nas"

    def mount(self, options):
        """A tmpfs mounted with `options` at a new folder; the test is skipped (with the reason
        printed) where mounting is not permitted."""
        path = self.sb.path("nas-%d" % len(self.mounts))
        os.makedirs(path)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options + ",size=64m", "tmpfs", path],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            reason = "mounting a tmpfs is not permitted here: " + (r.stderr.strip() or "exit %d" % r.returncode)
            print("skipped: " + reason)
            self.skipTest(reason)
        self.mounts.append(path)
        return path

    def setUp(self):
        super().setUp()
        self.mounts = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        self.servers = []
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        super().tearDown()

    def listing(self, folder, **kw):
        r = self.sb.run("backup", "list", "--dir", folder, "--json", **kw)
        self.assertEqual(r.rc, 0, r)
        return {b["name"]: b for b in json.loads(r.out)}

    def test_an_encrypted_database_accepts_a_share(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "30").rc, 0)
        nas = self.mount("uid=1234,gid=1234,mode=0777")
        r = self.sb.run("backup", "create", "--dir", nas, "--name", "first")
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.err, r"WARN .*backup folder %s: it is owned by user id 1234, not by you or root; "
                                r"accepted, as the backups are encrypted" % re.escape(nas))
        # Another user's backup (the share maps every file to one uid): listed with its owner,
        # verified and restored by name.
        os.chown(os.path.join(nas, "first.db.gz"), 65534, 65534)
        b = self.listing(nas)["first.db.gz"]
        self.assertTrue(b["owner"].startswith("user id 65534"), b)
        self.assertNotIn("problem", b)
        r = self.sb.run("backup", "verify", "first", "--dir", nas)
        self.assertEqual(r.rc, 0, r)
        r = self.sb.run("backup", "restore", "first", "--dir", nas, "--force")
        self.assertEqual(r.rc, 0, r)
        # The scheduler starts on it (its newest backup two days old: one is due at once).
        old = time.time() - 2 * 86400
        os.utime(os.path.join(nas, "first.db.gz"), (old, old))
        srv = self.start("--dir", nas, env={"HONE_BACKUP_SCHEDULE": "24"})
        self.assertTrue(srv.wait_for("scheduler: scheduled backup created", timeout=120), srv.log())

    def test_a_plain_database_needs_the_setting(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "30", unset=("HONE_DB_KEY",)).rc, 0)
        nas = self.mount("uid=1234,gid=1234,mode=0777")
        r = self.sb.run("backup", "create", "--dir", nas, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 1, r)
        self.assertIn("Failed to access backup directory: %s: it is owned by user id 1234" % nas, r.err)
        srv = self.start("--dir", nas, env={"HONE_BACKUP_SCHEDULE": "24"}, unset=("HONE_DB_KEY",), wait=False)
        self.assertEqual(srv.exit_code(), 2, srv.log())
        self.assertIn("cannot write to its backup folder", srv.log())
        shared = {"HONE_BACKUP_DIR_SHARED": "1"}
        r = self.sb.run("backup", "create", "--dir", nas, "--name", "shared", env=shared, unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 0, r)
        self.assertIn("accepted, as HONE_BACKUP_DIR_SHARED=1 says", r.err)
        r = self.sb.run("backup", "create", "--dir", nas, env={"HONE_BACKUP_DIR_SHARED": "yes"},
                        unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_BACKUP_DIR_SHARED='yes' is not valid", r.err)

    def test_another_users_file_is_never_hidden(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "30", unset=("HONE_DB_KEY",)).rc, 0)
        folder = self.sb.path("private")
        for name in ("mine", "theirs"):
            r = self.sb.run("backup", "create", "--dir", folder, "--name", name, unset=("HONE_DB_KEY",))
            self.assertEqual(r.rc, 0, r)
        os.chown(os.path.join(folder, "theirs.db.gz"), 65534, 65534)
        listed = self.listing(folder, unset=("HONE_DB_KEY",))
        self.assertEqual(sorted(listed), ["mine.db.gz", "theirs.db.gz"])
        theirs = listed["theirs.db.gz"]
        self.assertTrue(theirs["owner"].startswith("user id 65534"), theirs)
        self.assertIn("it belongs to user id 65534", theirs["problem"])
        r = self.sb.run("backup", "list", "--dir", folder, unset=("HONE_DB_KEY",))
        self.assertIn("theirs.db.gz", r.out)
        self.assertIn("warning: theirs.db.gz: it belongs to user id 65534", r.err)
        for cmd in (("verify", "theirs"), ("restore", "theirs", "--force")):
            r = self.sb.run("backup", *cmd, "--dir", folder, unset=("HONE_DB_KEY",))
            self.assertEqual(r.rc, 1, r)
            self.assertIn("Backup theirs.db.gz is refused: it belongs to user id 65534", r.err)
            self.assertNotIn("not found", r.err)
        r = self.sb.run("backup", "verify", "theirs", "--dir", folder, env={"HONE_BACKUP_DIR_SHARED": "1"},
                        unset=("HONE_DB_KEY",))
        self.assertEqual(r.rc, 0, r)

    def test_a_scheduler_refuses_a_folder_it_cannot_write_to(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "30").rc, 0)
        ro = self.mount("ro,uid=0,gid=0,mode=0700")
        srv = self.start("--dir", ro, env={"HONE_BACKUP_SCHEDULE": "24"}, wait=False)
        self.assertEqual(srv.exit_code(), 2, srv.log())
        self.assertRegex(srv.log(), r"error: the built-in scheduler \(HONE_BACKUP_SCHEDULE\) cannot write to its "
                                    r"backup folder: Failed to access backup directory: %s: Read-only file system"
                         % re.escape(ro))
        # Without the scheduler the server starts (the API reports the folder's errors).
        srv = self.start("--dir", ro)
        self.assertIsNone(srv.proc.poll())


class SymlinkRestoreTest(unittest.TestCase):
    def setUp(self):
        self.sb = honetest.Sandbox(tag="link")

    def tearDown(self):
        honetest.assert_no_key_material(self, self.sb.transcript)
        self.sb.cleanup()

    def test_restore_replaces_the_file_the_link_points_to(self):
        data, app = self.sb.path("data"), self.sb.path("app")
        os.makedirs(data)
        os.makedirs(app)
        real, link = os.path.join(data, "real.db"), os.path.join(app, "hone.db")
        self.assertEqual(self.sb.run("demo-db", "--db", real, "--transactions", "30").rc, 0)
        os.symlink("../data/real.db", link)
        r = self.sb.run("backup", "create", "--db", link, "--name", "before")
        self.assertEqual(r.rc, 0, r)
        os.remove(real)
        r = self.sb.run("demo-db", "--db", real, "--transactions", "7")
        self.assertEqual(r.rc, 0, r)
        r = self.sb.run("backup", "restore", "before", "--db", link, "--force")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("Restored before.db.gz to %s" % os.path.realpath(real), r.out)
        self.assertTrue(os.path.islink(link))
        self.assertEqual(os.readlink(link), "../data/real.db")
        self.assertEqual(os.listdir(app), ["hone.db"])
        kept = [n for n in os.listdir(data) if n.startswith("real.db.pre-restore-")]
        self.assertEqual(len(kept), 1, os.listdir(data))
        self.assertFalse(os.path.islink(os.path.join(data, kept[0])))
        counts = json.loads(self.sb.run("dashboard", "--db", link, "--json").out)
        self.assertEqual(counts["transactions"], 30, counts)
        # The previous database is listed where restore kept it.
        r = self.sb.run("backup", "list", "--db", link)
        self.assertEqual(r.rc, 0, r)
        self.assertIn(kept[0], r.out)


if __name__ == "__main__":
    honetest.main()

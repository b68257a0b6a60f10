#!/usr/bin/env python3
"""The REST API of `hone serve`, spoken over real sockets (http.client) to the real program
started on a free loopback port in a scratch HOME.

Usage: test_rest.py PATH/TO/hone [unittest options]"""

import http.client
import json
import os
import shutil
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import (OTHER_PASSPHRASE, PASSPHRASE, Sandbox, Server, ServersTestCase, assert_no_key_material,
                      hone_exe)

BACKUP_FIELDS = ["name", "path", "size", "created_at", "encrypted", "compressed", "deflated", "format"]
LISTED_FIELDS = BACKUP_FIELDS + ["pinned"]  # a backup of GET /api/backup and GET /api/backup/NAME
CREATE_FIELDS = ["name", "path", "size", "created_at", "accounts", "transactions", "subscriptions", "encrypted",
                 "compressed", "deflated", "format"]
PRUNE_FIELDS = ["deleted_count", "deleted_names", "retained_count", "bytes_freed", "skipped_names", "retained_names",
                "dry_run"]
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
RESTORED_MESSAGE = "Database restored successfully. Server restart recommended."
JSON = {"Content-Type": "application/json"}  # for raw bodies (the server refuses other types)


def tree_snapshot(root, skip):
    """{path: (size, mtime_ns)} of every file under root except those under `skip`."""
    snap = {}
    for d, dirs, files in os.walk(root):
        if os.path.abspath(d).startswith(os.path.abspath(skip)):
            continue
        for f in files:
            p = os.path.join(d, f)
            st = os.lstat(p)
            snap[p] = (st.st_size, st.st_mtime_ns)
    return snap


class RestTest(unittest.TestCase):
    """One server for the whole class (the tests use distinct backup names)."""

    @classmethod
    def setUpClass(cls):
        cls.sb = Sandbox(tag="rest")
        r = cls.sb.run("demo-db", "--accounts", "5", "--transactions", "1234", "--subscriptions", "12")
        assert r.rc == 0, r
        cls.srv = Server(cls.sb)

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        log = cls.srv.log()
        cls.sb.cleanup()
        assert rc == 0, "graceful stop failed (rc=%s):\n%s" % (rc, log)
        assert "stopped" in log, log

    def tearDown(self):
        assert_no_key_material(self, self.sb.transcript + [self.srv.log()])

    def req(self, method, path, body=None, **kw):
        return self.srv.request(method, path, body, **kw)

    def assertError(self, status, method, path, body=None, contains=None, **kw):
        st, j, h = self.req(method, path, body, **kw)
        self.assertEqual(st, status, (method, path, j))
        self.assertIsInstance(j, dict, (method, path))
        self.assertEqual(list(j), ["error", "code"], j)  # the code: as in the CLI's --json errors
        self.assertIsInstance(j["error"], str)
        self.assertTrue(j["error"])
        self.assertEqual(h.get("content-type"), "application/json")
        if contains:
            self.assertIn(contains, j["error"])
        return j, h

    def create(self, name=None):
        st, j, _ = self.req("POST", "/api/backup", {"name": name} if name else None)
        self.assertEqual(st, 201, j)
        return j

    # -- endpoints -------------------------------------------------------------------------
    def test_create_auto_and_named(self):
        j = self.create()
        self.assertEqual(list(j), CREATE_FIELDS)
        self.assertRegex(j["name"], r"^hone-\d{4}-\d{2}-\d{2}-\d{6}(-\d+)?\.db\.gz$")
        self.assertEqual(j["path"], os.path.join(self.sb.backup_dir, j["name"]))
        self.assertEqual(j["size"], os.path.getsize(j["path"]))
        self.assertRegex(j["created_at"], ISO)
        self.assertEqual((j["accounts"], j["transactions"], j["subscriptions"]), (5, 1234, 12))
        self.assertIs(j["encrypted"], True)
        self.assertIs(j["compressed"], True)  # a gzip backup...
        self.assertIs(j["deflated"], False)  # ...whose ciphertext is stored, not deflated
        # {} and an empty body both mean "automatic name"
        st, j2, _ = self.req("POST", "/api/backup", {})
        self.assertEqual(st, 201)
        self.assertRegex(j2["name"], r"^hone-")
        st, j3, _ = self.req("POST", "/api/backup", {"name": None})
        self.assertEqual(st, 201)
        self.assertNotEqual(len({j["name"], j2["name"], j3["name"]}), 2)
        self.assertEqual(len({j["name"], j2["name"], j3["name"]}), 3, "same-second backups are all kept")
        named = self.create("rest-named")
        self.assertEqual(named["name"], "rest-named.db.gz")
        self.assertError(409, "POST", "/api/backup", {"name": "rest-named.db.gz"}, "already exists")
        self.assertError(409, "POST", "/api/backup", {"name": "rest-named"}, "already exists")

    def test_list_and_get(self):
        c = self.create("rest-list")
        st, arr, h = self.req("GET", "/api/backup")
        self.assertEqual(st, 200)
        self.assertEqual(h.get("content-type"), "application/json")
        self.assertIsInstance(arr, list)
        mine = [b for b in arr if b["name"] == "rest-list.db.gz"]
        self.assertEqual(len(mine), 1)
        b = mine[0]
        self.assertEqual(list(b), LISTED_FIELDS)
        self.assertEqual({k: b[k] for k in ("name", "path", "size", "encrypted", "compressed", "deflated")},
                         {k: c[k] for k in ("name", "path", "size", "encrypted", "compressed", "deflated")})
        self.assertRegex(b["created_at"], ISO)
        for x in arr:
            self.assertEqual(list(x), LISTED_FIELDS)
        # newest first
        stamps = [x["created_at"] for x in arr]
        self.assertEqual(stamps, sorted(stamps, reverse=True))
        st, g, _ = self.req("GET", "/api/backup/rest-list.db.gz")
        self.assertEqual(st, 200)
        self.assertEqual(g, b)
        # the CLI's `list --json` prints exactly the API's list
        cli = self.sb.run("backup", "list", "--json")
        self.assertEqual(cli.rc, 0, cli)
        st, again, _ = self.req("GET", "/api/backup")
        self.assertEqual(json.loads(cli.out), again)
        self.assertError(404, "GET", "/api/backup/nope.db.gz", contains="Backup not found: nope.db.gz")
        # a name with spaces, percent-encoded
        self.create("with space")
        st, g, _ = self.req("GET", "/api/backup/with%20space.db.gz")
        self.assertEqual((st, g["name"]), (200, "with space.db.gz"))

    def test_verify(self):
        self.create("rest-verify")
        st, v, _ = self.req("POST", "/api/backup/verify", {"name": "rest-verify.db.gz"})
        self.assertEqual(st, 200)
        self.assertEqual(v, {"valid": True, "name": "rest-verify.db.gz", "accounts": 5, "transactions": 1234,
                             "message": "Backup verified successfully"})
        self.assertEqual(list(v), ["valid", "name", "accounts", "transactions", "message"])
        self.assertError(404, "POST", "/api/backup/verify", {"name": "missing.db.gz"}, "Backup not found")
        self.assertError(400, "POST", "/api/backup/verify", {"name": 5}, "must be a string")
        self.assertError(400, "POST", "/api/backup/verify", {}, "required")
        self.assertError(400, "POST", "/api/backup/verify", None, "required")
        self.assertError(400, "POST", "/api/backup/verify", {"name": "../x"}, "Invalid backup name")
        # a damaged backup: 200 with valid false and the reason
        path = os.path.join(self.sb.backup_dir, "rest-verify.db.gz")
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\x00garbage\xff" * 8)
        st, v, _ = self.req("POST", "/api/backup/verify", {"name": "rest-verify.db.gz"})
        self.assertEqual(st, 200)
        self.assertIs(v["valid"], False)
        self.assertTrue(v["message"])

    def test_delete(self):
        self.create("rest-delete")
        st, j, _ = self.req("DELETE", "/api/backup/rest-delete.db.gz")
        self.assertEqual((st, j), (200, {"deleted": True, "name": "rest-delete.db.gz"}))
        self.assertFalse(os.path.exists(os.path.join(self.sb.backup_dir, "rest-delete.db.gz")))
        self.assertError(404, "DELETE", "/api/backup/rest-delete.db.gz", contains="Backup not found")
        self.assertError(404, "GET", "/api/backup/rest-delete.db.gz")

    def test_names_as_create_took_them(self):
        self.create("rest-names")
        st, g, _ = self.req("GET", "/api/backup/rest-names")
        self.assertEqual((st, g["name"]), (200, "rest-names.db.gz"))
        st, v, _ = self.req("POST", "/api/backup/verify", {"name": "rest-names"})
        self.assertEqual((st, v["valid"], v["name"]), (200, True, "rest-names.db.gz"))
        st, j, _ = self.req("POST", "/api/backup/rest-names/restore", {"force": True})
        self.assertEqual((st, j["backup_name"]), (200, "rest-names.db.gz"), j)
        self.assertTrue(self.srv.wait_for("restored rest-names.db.gz over"))
        st, j, _ = self.req("DELETE", "/api/backup/rest-names")
        self.assertEqual((st, j), (200, {"deleted": True, "name": "rest-names.db.gz"}))
        self.assertError(404, "GET", "/api/backup/rest-names", contains="Backup not found: rest-names")

    def test_prune_in_its_own_folder(self):
        # A second server on its own backup folder so the other tests' backups are not pruned.
        folder = self.sb.path("prune-folder")
        srv = Server(self.sb, "--dir", folder)
        try:
            for i in range(9):
                st, _, _ = srv.request("POST", "/api/backup", {"name": "p%d" % i})
                self.assertEqual(st, 201)
                os.utime(os.path.join(folder, "p%d.db.gz" % i), (1700000000 + i, 1700000000 + i))
            with open(os.path.join(folder, "notes.txt"), "w") as f:
                f.write("x")
            # named like a backup (newer than all of them) but not one: listed with its problem,
            # never counted, never deleted
            junk = os.path.join(folder, "hone-2099-01-01-000000.db.gz")
            with open(junk, "wb") as f:
                f.write(b"not gzip")
            st, arr, _ = srv.request("GET", "/api/backup")
            self.assertEqual(st, 200)
            self.assertEqual(arr[0]["name"], "hone-2099-01-01-000000.db.gz")
            self.assertEqual(list(arr[0]), BACKUP_FIELDS + ["problem", "pinned"])
            self.assertRegex(arr[0]["problem"], r"^not a backup: ")
            for b in arr[1:]:
                self.assertEqual(list(b), LISTED_FIELDS)
            for bad in ({"keep": "x"}, {"keep": 1.5}, {"keep": True}, {"keep": [3]}, [1], "7"):
                st, j, _ = srv.request("POST", "/api/backup/prune", bad)
                self.assertEqual(st, 400, (bad, j))
                self.assertEqual(list(j), ["error", "code"])
            for bad in ({"keep": 0}, {"keep": -1}):
                st, j, _ = srv.request("POST", "/api/backup/prune", bad)
                self.assertEqual(st, 400, (bad, j))
            self.assertEqual(len(self.sb.backups(folder)), 10)  # 9 backups and the junk file
            # keep absent: 7
            st, j, _ = srv.request("POST", "/api/backup/prune", {})
            self.assertEqual(st, 200)
            self.assertEqual(list(j), PRUNE_FIELDS)
            self.assertEqual(j["skipped_names"], ["hone-2099-01-01-000000.db.gz"])
            self.assertEqual(j["deleted_count"], 2)
            self.assertEqual(sorted(j["deleted_names"]), ["p0.db.gz", "p1.db.gz"])
            self.assertEqual(j["retained_count"], 7)
            self.assertGreater(j["bytes_freed"], 0)
            st, j, _ = srv.request("POST", "/api/backup/prune", raw_body=b"")
            self.assertEqual((st, j["deleted_count"], j["retained_count"]), (200, 0, 7))
            st, j, _ = srv.request("POST", "/api/backup/prune", {"keep": 3})
            self.assertEqual((st, j["deleted_count"], j["retained_count"]), (200, 4, 3))
            self.assertEqual(self.sb.backups(folder), ["hone-2099-01-01-000000.db.gz", "p6.db.gz", "p7.db.gz",
                                                       "p8.db.gz"])
            self.assertTrue(os.path.exists(os.path.join(folder, "notes.txt")))
            # Calendar rules and a dry run.
            for bad in ({"keep_daily": 0}, {"keep_weekly": "x"}, {"keep_monthly": -2}, {"keep_yearly": 1.5},
                        {"keep_hourly": True}, {"dry_run": "yes"}):
                st, j, _ = srv.request("POST", "/api/backup/prune", bad)
                self.assertEqual(st, 400, (bad, j))
            seed = os.path.join(folder, "p8.db.gz")
            for day in range(4, 25):  # one backup a day at 02:00, 2024-03-04 (Mon) .. 03-24 (Sun)
                shutil.copyfile(seed, os.path.join(folder, "hone-2024-03-%02d-020000.db.gz" % day))
            for n in ("p6.db.gz", "p7.db.gz", "p8.db.gz"):
                os.remove(os.path.join(folder, n))
            st, j, _ = srv.request("POST", "/api/backup/prune", {"keep_daily": 3, "keep_weekly": 2, "dry_run": True})
            self.assertEqual(st, 200, j)
            self.assertIs(j["dry_run"], True)
            kept = ["hone-2024-03-%02d-020000.db.gz" % d for d in (24, 23, 22, 17)]
            self.assertEqual(j["retained_names"], kept)
            self.assertEqual((j["retained_count"], j["deleted_count"]), (4, 17))
            self.assertEqual(len(self.sb.backups(folder)), 22)  # nothing deleted (21 and the junk file)
            st, j, _ = srv.request("POST", "/api/backup/prune", {"keep_daily": 3, "keep_weekly": 2})
            self.assertEqual((st, j["dry_run"], j["deleted_count"]), (200, False, 17))
            self.assertEqual(self.sb.backups(folder), sorted(kept + ["hone-2099-01-01-000000.db.gz"]))
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_restore_and_next_request_sees_it(self):
        self.create("rest-restore")
        self.assertError(409, "POST", "/api/backup/rest-restore.db.gz/restore", None, "force")
        self.assertError(409, "POST", "/api/backup/rest-restore.db.gz/restore", {})
        self.assertError(409, "POST", "/api/backup/rest-restore.db.gz/restore", {"force": False})
        self.assertError(400, "POST", "/api/backup/rest-restore.db.gz/restore", {"force": "yes"})
        self.assertError(400, "POST", "/api/backup/rest-restore.db.gz/restore", {"force": 1})
        self.assertError(404, "POST", "/api/backup/nope.db.gz/restore", {"force": True}, "Backup not found")

        # Swap the live database for different data behind the server's back...
        db = self.sb.db
        other = self.sb.path("other.db")
        r = self.sb.run("demo-db", "--db", other, "--accounts", "1", "--transactions", "7", "--subscriptions", "1")
        self.assertEqual(r.rc, 0, r)
        os.replace(other, db)
        c = self.create("rest-after-swap")
        self.assertEqual(c["transactions"], 7, "the server opens the database per request")
        # ...then restore over it: the very next request sees the restored data.
        st, j, _ = self.req("POST", "/api/backup/rest-restore.db.gz/restore", {"force": True})
        self.assertEqual(st, 200, j)
        self.assertEqual(j, {"restored": True, "backup_name": "rest-restore.db.gz", "message": RESTORED_MESSAGE})
        self.assertEqual(list(j), ["restored", "backup_name", "message"])
        c = self.create("rest-after-restore")
        self.assertEqual((c["accounts"], c["transactions"], c["subscriptions"]), (5, 1234, 12))
        st, v, _ = self.req("POST", "/api/backup/verify", {"name": "rest-after-restore.db.gz"})
        self.assertEqual((st, v["transactions"]), (200, 1234))
        d = self.sb.run("dashboard", "--json")
        self.assertEqual(json.loads(d.out)["transactions"], 1234)
        kept = [n for n in os.listdir(self.sb.data_dir) if ".pre-restore-" in n]
        self.assertTrue(kept, "the replaced database is kept")

    # -- errors ----------------------------------------------------------------------------
    def test_error_statuses(self):
        self.create("rest-errors")
        self.assertError(400, "POST", "/api/backup", raw_body=b"{not json", headers=JSON, contains="Malformed JSON")
        self.assertError(400, "POST", "/api/backup", raw_body=b'{"name": "x"', headers=JSON, contains="Malformed JSON")
        self.assertError(400, "POST", "/api/backup", [1, 2], contains="JSON object")
        self.assertError(400, "POST", "/api/backup", "name", contains="JSON object")
        self.assertError(400, "POST", "/api/backup", {"name": 5}, contains="must be a string")
        self.assertError(400, "POST", "/api/backup", {"name": ["a"]})
        self.assertError(400, "POST", "/api/backup/prune", raw_body=b"nope", headers=JSON)
        self.assertError(400, "POST", "/api/backup/verify", raw_body=b"\xff\xfe", headers=JSON)
        self.assertError(404, "GET", "/api/nope")
        self.assertError(404, "GET", "/")
        self.assertError(404, "GET", "/api/backup/rest-errors.db.gz/extra")
        self.assertError(404, "POST", "/api/backup/rest-errors.db.gz/restore/x", {"force": True})
        for method, path, allow in (("PUT", "/api/backup", "GET, POST"), ("DELETE", "/api/backup", "GET, POST"),
                                    ("GET", "/api/backup/prune", "POST"), ("GET", "/api/backup/verify", "POST"),
                                    ("POST", "/api/backup/rest-errors.db.gz", "GET, DELETE"),
                                    ("PATCH", "/api/backup/rest-errors.db.gz", "GET, DELETE"),
                                    ("GET", "/api/backup/rest-errors.db.gz/restore", "POST")):
            with self.subTest(method=method, path=path):
                _, h = self.assertError(405, method, path)
                self.assertEqual(h.get("allow"), allow)
        # 413 over 64 KiB, whatever the content; the connection is answered, not reset (the
        # announced length is refused with the header; a chunked body is counted as it arrives)
        big = json.dumps({"name": "x" * (70 * 1024)}).encode()
        self.assertError(413, "POST", "/api/backup", raw_body=big, headers=JSON, contains="too large")
        self.assertError(413, "POST", "/api/backup/verify", raw_body=b" " * (65 * 1024 + 1), headers=JSON)
        st, _, _ = self.req("POST", "/api/backup/verify", raw_body=b" " * (60 * 1024), headers=JSON)
        self.assertEqual(st, 400, "a body under the limit is read (and then found to lack a name)")
        self.assertFalse(os.path.exists(os.path.join(self.sb.backup_dir, "x" * 200)))
        # malformed HTTP
        with socket.create_connection((self.srv.host, self.srv.port), timeout=60) as s:
            s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
            data = s.recv(4096)
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), data)

    def test_traversal_names_touch_nothing_outside(self):
        self.create("rest-traversal")
        sentinel = self.sb.path("home", "secret.db.gz")
        with open(sentinel, "wb") as f:
            f.write(b"do not touch")
        before = tree_snapshot(self.sb.root, skip=self.sb.backup_dir)
        # rewrite the sentinel's mtime into the expectations (the file exists before and after)
        evil = ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", "%2E%2E%2Fsecret.db.gz", "..%2Fhone.db", "..%2F..%2Fsecret.db.gz",
                "%2e%2e%2f%2e%2e%2fsecret.db.gz", "..%5c..%5csecret.db.gz", ".hone-backup.lock", "%00.db.gz",
                "a%2Fb.db.gz", "%2Fetc%2Fpasswd", "..", "%2e"]
        for name in evil:
            with self.subTest(name=name):
                for method, path, body in (("GET", "/api/backup/" + name, None),
                                           ("DELETE", "/api/backup/" + name, None),
                                           ("POST", "/api/backup/%s/restore" % name, {"force": True})):
                    st, j, _ = self.req(method, path, body)
                    self.assertIn(st, (400, 404), (method, path, j))
        for name in ("../../etc/passwd", "..", "../secret.db.gz", "/etc/passwd", "a/b"):
            st, _, _ = self.req("POST", "/api/backup/verify", {"name": name})
            self.assertEqual(st, 400)
            st, _, _ = self.req("POST", "/api/backup", {"name": name})
            self.assertEqual(st, 400)
        # un-encoded dot segments are not normalised into another route
        st, _, _ = self.req("GET", "/api/backup/../../etc/passwd")
        self.assertEqual(st, 404)
        st, _, _ = self.req("DELETE", "/api/backup/../backup/rest-traversal.db.gz")
        self.assertEqual(st, 404)
        self.assertEqual(tree_snapshot(self.sb.root, skip=self.sb.backup_dir), before)
        with open(sentinel, "rb") as f:
            self.assertEqual(f.read(), b"do not touch")
        self.assertIn("rest-traversal.db.gz", self.sb.backups())

    def test_keep_alive_and_request_log(self):
        conn = self.srv.connection()
        try:
            for _ in range(5):
                st, _, h = self.req("GET", "/api/backup", conn=conn)
                self.assertEqual(st, 200)
            # HEAD: the header of GET (with its Content-Length) and no body, so the next
            # response on the connection is not corrupted
            conn.request("HEAD", "/api/backup")
            hr = conn.getresponse()
            self.assertEqual((hr.status, hr.read()), (200, b""))
            length = int(hr.getheader("Content-Length"))
            conn.request("GET", "/api/backup")
            gr = conn.getresponse()
            self.assertEqual(len(gr.read()), length)
            marker = "BODY-MARKER-6f1e2d"
            st, _, _ = self.req("POST", "/api/backup/verify", {"name": "nope-%s.db.gz" % marker}, conn=conn)
            self.assertEqual(st, 404)
        finally:
            conn.close()
        line = self.srv.wait_for(re.compile(r"http: POST /api/backup/verify 404 \d+\.\d ms"))
        self.assertTrue(line, self.srv.log())
        self.assertTrue(self.srv.wait_for(re.compile(r"INFO  http: GET /api/backup 200 \d+\.\d ms"), count=5))
        self.assertNotIn(marker, self.srv.log(), "request bodies are never logged")


class ServerSetupTest(ServersTestCase):
    """Start-up checks, authentication and shutdown, each with its own server."""

    def test_token(self):
        token = "tok-3b9f2c7e-secret"
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        s = self.start(env={"HONE_API_TOKEN": token})
        self.assertTrue(s.logged("bearer token"), s.log())
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + token + "x"},
                        {"Authorization": "Bearer " + token[:-1]}, {"Authorization": token},
                        {"Authorization": "Basic " + token}, {"Authorization": "Bearer"}):
            with self.subTest(headers=headers):
                st, j, h = s.request("GET", "/api/backup", headers=headers)
                self.assertEqual(st, 401)
                self.assertEqual(list(j), ["error", "code"])
                self.assertIn("Bearer", h.get("www-authenticate", ""))
                st, _, _ = s.request("POST", "/api/backup", {"name": "denied"}, headers=headers)
                self.assertEqual(st, 401)
                st, _, _ = s.request("GET", "/api/nope", headers=headers)
                self.assertEqual(st, 401, "routes are not revealed without the token")
        self.assertEqual(self.sb.backups(), [])
        for auth in ("Bearer " + token, "bearer " + token, "Bearer  " + token + " "):
            st, j, _ = s.request("GET", "/api/backup", headers={"Authorization": auth})
            self.assertEqual(st, 200, (auth, j))
        st, j, _ = s.request("POST", "/api/backup", {"name": "allowed"}, headers={"Authorization": "Bearer " + token})
        self.assertEqual((st, j["name"]), (201, "allowed.db.gz"))
        self.assertEqual(s.stop(), 0)
        self.assertNotIn(token, s.log())

    def test_refuses_non_loopback_without_token(self):
        r = self.sb.run("serve", "--host", "0.0.0.0", "--port", "0", timeout=60)
        self.assertNotEqual(r.rc, 0)
        self.assertEqual(r.rc, 2)
        self.assertRegex(r.err, r"(?m)^error: refusing to listen on 0\.0\.0\.0")
        self.assertIn("HONE_API_TOKEN", r.err)
        self.assertNotIn("listening on", r.err)
        # with a token it starts (still only reachable with the token)
        s = self.start("--host", "0.0.0.0", env={"HONE_API_TOKEN": "t0ken-for-any-address"})
        self.assertEqual(s.host, "0.0.0.0")
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        c.request("GET", "/api/backup")
        self.assertEqual(c.getresponse().status, 401)
        c.close()

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            r = self.sb.run("serve", "--port", str(port), timeout=60)
            self.assertEqual(r.rc, 1, r)
            self.assertRegex(r.err, r"(?m)^error: cannot listen on 127\.0\.0\.1:%d" % port)

    def test_graceful_shutdown_waits_for_running_requests(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "30000").rc, 0)
        s = self.start()
        idle = s.connection()  # an idle keep-alive connection must not hold up the shutdown
        idle.request("GET", "/api/backup")
        idle.getresponse().read()
        result = {}

        def slow_create():
            result["r"] = s.request("POST", "/api/backup", {"name": "during-shutdown"})

        t = threading.Thread(target=slow_create)
        t.start()
        # The create has started once its private export folder exists in TMPDIR.
        deadline = time.monotonic() + 120
        while not any(n.startswith("hone-export-") for n in os.listdir(self.sb.tmp)):
            self.assertLess(time.monotonic(), deadline, "the create never started")
            self.assertIsNone(t.join(0.01))
            self.assertTrue(t.is_alive(), "the create finished before the signal could be sent")
        s.proc.send_signal(signal.SIGINT)
        t.join(timeout=120)
        rc = s.proc.wait(timeout=120)
        self.assertEqual(rc, 0, s.log())
        st, j, _ = result["r"]
        self.assertEqual(st, 201, "the running create completed before exit")
        self.assertIn("during-shutdown.db.gz", self.sb.backups())
        self.assertTrue(s.logged("received SIGINT"), s.log())
        self.assertTrue(s.logged("stopped"), s.log())
        idle.close()

    def test_startup_lines(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "5").rc, 0)
        s = self.start()
        log = s.log()
        self.assertIn("backup scheduler disabled: HONE_BACKUP_SCHEDULE is not set", log)
        self.assertIn(self.sb.db, log)
        self.assertIn(self.sb.backup_dir, log)
        self.assertEqual(s.host, "127.0.0.1", "loopback by default")
        s2 = self.start(env={"HONE_BACKUP_SCHEDULE": "weekly"}, wait=False)
        self.assertEqual(s2.proc.wait(timeout=60), 2, "a misconfigured scheduler stops the start-up")
        self.assertTrue(s2.wait_for("error: HONE_BACKUP_SCHEDULE='weekly' is not valid"), s2.log())
        s3 = self.start(unset=["HOME"], env={"HONE_DB_PATH": self.sb.db}, wait=False)
        self.assertEqual(s3.proc.wait(timeout=60), 2)
        self.assertTrue(s3.logged("error: cannot find the default data folder"), s3.log())
        # a missing database is reported at start-up; requests then fail with 500 and a message
        s4 = self.start("--db", self.sb.path("missing.db"), "--dir", self.sb.path("b4"))
        self.assertTrue(s4.logged("database not found"), s4.log())
        st, j, _ = s4.request("POST", "/api/backup")
        self.assertEqual(st, 500)
        self.assertIn("Database not found", j["error"])
        self.assertTrue(s4.wait_for(re.compile(r"ERROR http: POST /api/backup 500 .*Database not found")))


class KeysAndStatesTest(ServersTestCase):
    """What the API answers when the key does not fit the backup or the database, when the
    database is in use, and for a backup folder that cannot be listed."""

    SANDBOX_TAG = "keys"

    def demo(self, *args, **kw):
        r = self.sb.run("demo-db", "--accounts", "1", "--transactions", "9", "--subscriptions", "1", *args, **kw)
        self.assertEqual(r.rc, 0, r)

    def test_no_key_for_an_encrypted_database(self):
        self.demo()
        self.assertEqual(self.sb.run("backup", "create", "--name", "enc").rc, 0)
        with open(self.sb.db, "rb") as f:
            before = f.read()
        # `hone serve` refuses to start without the key of an encrypted database; the database
        # appears (encrypted) only after the start-up.
        os.rename(self.sb.db, self.sb.db + ".away")
        s = self.start(unset=["HONE_DB_KEY"])
        os.rename(self.sb.db + ".away", self.sb.db)
        st, j, _ = s.request("POST", "/api/backup")
        self.assertEqual(st, 500, j)
        self.assertIn("HONE_DB_KEY is not set", j["error"])
        st, v, _ = s.request("POST", "/api/backup/verify", {"name": "enc.db.gz"})
        self.assertEqual((st, v["valid"]), (200, False), v)
        self.assertIn("HONE_DB_KEY is not set", v["message"])
        self.assertNotIn("no key was given", v["message"])
        st, j, _ = s.request("POST", "/api/backup/enc.db.gz/restore", {"force": True})
        self.assertEqual(st, 422, j)
        self.assertIn("HONE_DB_KEY is not set", j["error"])
        with open(self.sb.db, "rb") as f:
            self.assertEqual(f.read(), before, "the database was not touched")

    def test_plain_backup_while_a_key_is_set(self):
        self.demo()
        plain = self.sb.path("plain.db")
        self.demo("--db", plain, unset=["HONE_DB_KEY"])
        with open(self.sb.db, "rb") as f:
            before = f.read()
        # create on a plain database with a key: made, and the log warns
        s = self.start("--db", plain)
        st, j, _ = s.request("POST", "/api/backup", {"name": "plain"})
        self.assertEqual((st, j["encrypted"]), (201, False), j)
        self.assertTrue(s.wait_for(re.compile(r"WARN .*is not encrypted, but HONE_DB_KEY is set")), s.log())
        # restoring it over the encrypted database: 422, nothing changed
        s2 = self.start()
        st, j, _ = s2.request("POST", "/api/backup/plain.db.gz/restore", {"force": True})
        self.assertEqual(st, 422, j)
        self.assertIn("Backup plain.db.gz is not encrypted, but HONE_DB_KEY is set: restoring it would leave the "
                      "database unencrypted", j["error"])
        with open(self.sb.db, "rb") as f:
            self.assertEqual(f.read(), before, "the database was not touched")
        self.assertEqual([n for n in os.listdir(self.sb.data_dir) if "pre-restore" in n], [])

    def test_database_in_use(self):
        plain = self.sb.path("plain.db")
        self.demo("--db", plain, unset=["HONE_DB_KEY"])
        s = self.start("--db", plain, unset=["HONE_DB_KEY"])
        st, j, _ = s.request("POST", "/api/backup", {"name": "b"})
        self.assertEqual(st, 201, j)
        con = sqlite3.connect(plain)
        try:
            con.execute("SELECT COUNT(*) FROM accounts").fetchone()
            st, j, _ = s.request("POST", "/api/backup/b.db.gz/restore", {"force": True})
            self.assertEqual(st, 409, j)
            self.assertIn("in use by another connection", j["error"])
        finally:
            con.close()
        st, j, _ = s.request("POST", "/api/backup/b.db.gz/restore", {"force": True})
        self.assertEqual(st, 200, j)

    def test_backup_folder_that_cannot_be_listed(self):
        self.demo()
        afile = self.sb.path("a-file")
        open(afile, "w").close()
        s = self.start("--dir", afile)
        st, j, _ = s.request("GET", "/api/backup")
        self.assertEqual(st, 500, j)
        self.assertIn("Failed to access backup directory: %s: Not a directory" % afile, j["error"])


class WrongKeyTest(unittest.TestCase):
    def test_restore_with_another_key_is_refused(self):
        sb = Sandbox(tag="key")
        try:
            self.assertEqual(sb.run("demo-db", "--transactions", "12").rc, 0)
            self.assertEqual(sb.run("backup", "create", "--name", "mine").rc, 0)
            # `hone serve` refuses to start with a key that does not open the database; the
            # database appears only after the start-up.
            os.rename(sb.db, sb.db + ".away")
            s = Server(sb, env={"HONE_DB_KEY": OTHER_PASSPHRASE})
            os.rename(sb.db + ".away", sb.db)
            try:
                st, v, _ = s.request("POST", "/api/backup/verify", {"name": "mine.db.gz"})
                self.assertEqual(st, 200)
                self.assertIs(v["valid"], False)
                self.assertIn("Restore fails with encryption error", v["message"])
                st, j, _ = s.request("POST", "/api/backup/mine.db.gz/restore", {"force": True})
                self.assertEqual(st, 422, j)
                self.assertIn("Restore fails with encryption error", j["error"])
            finally:
                self.assertEqual(s.stop(), 0)
            d = sb.run("dashboard", "--json")
            self.assertEqual(json.loads(d.out)["transactions"], 12, "the database was not touched")
            assert_no_key_material(self, sb.transcript + [s.log()])
        finally:
            sb.cleanup()


if __name__ == "__main__":
    hone_exe()
    honetest.main()

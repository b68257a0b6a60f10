#!/usr/bin/env python3
"""`hone serve` under concurrent load: 8 clients x 50 mixed requests (list, get, create,
verify) on an encrypted database, with no failure and no lost backup; prints the request
latencies (p50/p99 per kind). And a long create must not stall list or get.

Usage: test_rest_concurrency.py PATH/TO/hone [unittest options]"""

import os
import random
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import ServersTestCase, hone_exe, percentile

CLIENTS = 8
REQUESTS = 50
KINDS = ("list", "get", "create", "verify")


class ConcurrencyTest(ServersTestCase):
    SANDBOX_TAG = "load"

    def test_mixed_load(self):
        r = self.sb.run("demo-db", "--accounts", "5", "--transactions", "2000", "--subscriptions", "8")
        self.assertEqual(r.rc, 0, r)
        srv = self.start()
        st, first, _ = srv.request("POST", "/api/backup", {"name": "seed"})
        self.assertEqual(st, 201)

        known = ["seed.db.gz"]  # names that exist (shared, guarded by the lock below)
        lock = threading.Lock()
        created, failures = [], []
        latencies = {k: [] for k in KINDS}
        start = threading.Barrier(CLIENTS)

        def client(cid):
            rng = random.Random(cid)
            conn = srv.connection()
            try:
                start.wait()
                for i in range(REQUESTS):
                    kind = KINDS[(i + cid) % len(KINDS)]
                    with lock:
                        pick = rng.choice(known)
                    if kind == "list":
                        args = ("GET", "/api/backup", None)
                    elif kind == "get":
                        args = ("GET", "/api/backup/" + pick, None)
                    elif kind == "create":
                        args = ("POST", "/api/backup", {"name": "c%d-%d" % (cid, i)} if i % 8 == 2 else {})
                    else:
                        args = ("POST", "/api/backup/verify", {"name": pick})
                    t0 = time.perf_counter()
                    try:
                        status, body, _ = srv.request(*args, conn=conn)
                    except Exception as e:  # a reset connection is a failure too
                        failures.append((cid, i, kind, repr(e)))
                        conn.close()
                        conn = srv.connection()
                        continue
                    ms = (time.perf_counter() - t0) * 1000.0
                    with lock:
                        latencies[kind].append(ms)
                    ok = status == (201 if kind == "create" else 200)
                    if ok and kind == "create":
                        with lock:
                            created.append(body["name"])
                            known.append(body["name"])
                    if ok and kind == "verify" and not body.get("valid"):
                        ok = False
                    if ok and kind == "list" and not isinstance(body, list):
                        ok = False
                    if not ok:
                        failures.append((cid, i, kind, status, body))
            finally:
                conn.close()

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=800)
            self.assertFalse(t.is_alive(), "a client hung")
        wall = time.perf_counter() - t0

        self.assertEqual(failures, [])
        total = sum(len(v) for v in latencies.values())
        self.assertEqual(total, CLIENTS * REQUESTS)
        # No lost backup: every created name is listed, and nothing else appeared.
        st, listed, _ = srv.request("GET", "/api/backup")
        names = [b["name"] for b in listed]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(set(names), set(created) | {"seed.db.gz"})
        self.assertEqual(len(created), len(latencies["create"]))
        self.assertEqual(sorted(self.sb.backups()), sorted(names))
        self.assertEqual([n for n in os.listdir(self.sb.backup_dir) if n.startswith(".hone-tmp-")], [])
        # Every request was logged once (a line is written right after its response).
        self.assertTrue(srv.wait_for("INFO  http: ", count=total + 2, timeout=60))
        time.sleep(0.5)
        self.assertEqual(srv.count("INFO  http: "), total + 2)

        print("\nconcurrency: %d clients x %d requests, encrypted database (%d transactions), %.1f s wall"
              % (CLIENTS, REQUESTS, 2000, wall))
        print("%-8s %6s %10s %10s %10s" % ("request", "count", "p50 ms", "p99 ms", "max ms"))
        for k in KINDS:
            v = latencies[k]
            print("%-8s %6d %10.1f %10.1f %10.1f" % (k, len(v), percentile(v, 50), percentile(v, 99), max(v)))

    def test_long_create_does_not_stall_reads(self):
        # A database large enough that a create takes a while (export + compress).
        r = self.sb.run("demo-db", "--accounts", "8", "--transactions", "300000", "--subscriptions", "8",
                        unset=["HONE_DB_KEY"])
        self.assertEqual(r.rc, 0, r)
        srv = self.start(unset=["HONE_DB_KEY"])
        st, _, _ = srv.request("POST", "/api/backup", {"name": "base"})
        self.assertEqual(st, 201)

        done = threading.Event()
        result = {}

        def long_create():
            t0 = time.perf_counter()
            result["r"] = srv.request("POST", "/api/backup", {"name": "long"})
            result["ms"] = (time.perf_counter() - t0) * 1000
            done.set()

        t = threading.Thread(target=long_create)
        t.start()
        # Wait until the create is under way (its private export folder exists).
        deadline = time.monotonic() + 120
        while not any(n.startswith("hone-export-") for n in os.listdir(self.sb.tmp)):
            self.assertLess(time.monotonic(), deadline)
            self.assertFalse(done.is_set(), "the create finished too quickly to test anything")
            time.sleep(0.005)
        reads = []
        while not done.is_set() and len(reads) < 200:
            for method, path, body in (("GET", "/api/backup", None), ("GET", "/api/backup/base.db.gz", None)):
                t0 = time.perf_counter()
                st, _, _ = srv.request(method, path, body)
                reads.append(((time.perf_counter() - t0) * 1000, done.is_set()))
                self.assertEqual(st, 200)
        t.join(timeout=600)
        self.assertEqual(result["r"][0], 201)
        during = [ms for ms, finished in reads if not finished]
        self.assertGreaterEqual(len(during), 2, "reads were answered while the create was running")
        print("\nlong create: %.0f ms; %d list/get answered meanwhile, slowest %.1f ms"
              % (result["ms"], len(during), max(during)))
        self.assertLess(max(during), result["ms"])


if __name__ == "__main__":
    hone_exe()
    honetest.main()

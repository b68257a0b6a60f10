#!/usr/bin/env python3
"""The compact backup format (NAME.db.gz.age) through the `hone` program: create, list, verify,
restore and prune with it next to gzip backups; Debian's `age`, `gunzip` and `sqlite3` read what
it writes, and it reads what `age` wrote; no byte the process writes holds a row of the
database in the clear; peak memory. Usage: test_compact.py PATH/TO/hone"""

import gzip
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import unittest

from honetest import PASSPHRASE, OTHER_PASSPHRASE, Sandbox, Server, assert_no_key_material, main

MARKER = "ZQX-compact-marker-5e1b7d"
MIB = 1024 * 1024
TOOLS = ("age", "age-keygen", "sqlite3", "gunzip", "strace")


def missing_tools():
    return [t for t in TOOLS if not shutil.which(t)] + ([] if os.access("/usr/bin/time", os.X_OK) else ["time"])


def compact_unavailable(sb):
    """The reason the program cannot write the compact format (system SQLCipher 3 build), or None."""
    r = sb.run("backup", "create", "--format", "compact", "--name", "probe", "--db", sb.path("none.db"))
    if "sqlite_dbpage" in r.err:
        return r.err.strip()
    return None


def age_on_terminal(args, passphrase, timeout=120):
    """Runs `age ARGS` on a pseudo-terminal (Debian's age reads a passphrase only from a
    terminal), answering every passphrase prompt with `passphrase`. Returns (rc, transcript)."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.execvp("age", ["age"] + list(args))
        finally:
            os._exit(127)
    seen, answered, deadline, open_ = b"", 0, time.monotonic() + timeout, True
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2) if open_ else ([], [], time.sleep(0.05))
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                open_ = False  # age closed the terminal; it goes on until it exits
                continue
            seen += chunk
            if len(re.findall(rb"(?i)passphrase", seen)) > answered:
                answered += 1
                time.sleep(0.05)
                os.write(fd, passphrase.encode() + b"\n")
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            os.close(fd)
            return os.waitstatus_to_exitcode(status), seen.decode("utf-8", "replace")
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    os.close(fd)
    raise AssertionError("age did not finish in %d s: %r" % (timeout, seen))


def sqlite_count(db, table):
    r = subprocess.run(["sqlite3", db, "SELECT COUNT(*) FROM %s" % table], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.decode().strip())


def file_holds(path, needle):
    """Whether the file holds these bytes, read a MiB at a time."""
    tail = b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle):]
    return False


def hex_escaped(text):
    """How strace -xx prints these bytes."""
    return "".join("\\x%02x" % b for b in text.encode())


class CompactTest(unittest.TestCase):
    def setUp(self):
        missing = missing_tools()
        if missing:
            self.skipTest("missing tools: %s (scripts/setup.sh installs them)" % ", ".join(missing))
        self.sb = Sandbox(tag="compact")
        why = compact_unavailable(self.sb)
        if why:
            self.sb.cleanup()
            self.skipTest("the compact format is unavailable with this build: " + why)

    def tearDown(self):
        assert_no_key_material(self, self.sb.transcript)
        self.sb.cleanup()

    # -- helpers ------------------------------------------------------------------------------
    def ok(self, *args, **kw):
        r = self.sb.run(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def demo(self, transactions=2000):
        self.ok("demo-db", "--accounts", "4", "--transactions", str(transactions), "--subscriptions", "5")

    def listing(self):
        return self.ok("backup", "list", "--json").json()

    def plain_image_with_marker(self, rows=300):
        """A plain SQLite database made by sqlite3 (no reserved bytes) with Hone's tables and a
        row holding MARKER."""
        path = self.sb.path("plain.db")
        sql = ["CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, bank TEXT NOT NULL, "
               "account_type TEXT, entity_id INTEGER, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);",
               "CREATE TABLE transactions(id INTEGER PRIMARY KEY, account_id INTEGER, date DATE NOT NULL, "
               "description TEXT NOT NULL, amount REAL NOT NULL, category TEXT, merchant_normalized TEXT, "
               "import_hash TEXT UNIQUE, created_at DATETIME DEFAULT CURRENT_TIMESTAMP);",
               "CREATE TABLE subscriptions(id INTEGER PRIMARY KEY, merchant TEXT NOT NULL, account_id INTEGER, "
               "amount REAL, frequency TEXT, first_seen DATE, last_seen DATE, status TEXT DEFAULT 'active');",
               "INSERT INTO accounts(name, bank) VALUES('%s', 'Bank');" % MARKER,
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
               "INSERT INTO transactions(account_id, date, description, amount, import_hash) "
               "SELECT 1, '2024-01-01', 'payment ' || i, i * 1.5, 'h' || i FROM n;" % rows]
        r = subprocess.run(["sqlite3", path], input="\n".join(sql).encode(), capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return path

    def seal_by_hand(self, plain_db, out, recipient=None):
        """gzip of the image, then `age -p` (passphrase on a terminal) or `age -r RECIPIENT`."""
        gz = self.sb.path("by-hand.db.gz")
        with open(plain_db, "rb") as f, gzip.open(gz, "wb") as g:
            g.write(f.read())
        if recipient:
            r = subprocess.run(["age", "-r", recipient, "-o", out, gz], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            rc, text = age_on_terminal(["-p", "-o", out, gz], PASSPHRASE)
            self.assertEqual(rc, 0, text)
        os.remove(gz)

    def open_by_hand(self, backup, identity=None):
        """age -d (passphrase on a terminal, or -i IDENTITY), gunzip: the plain database."""
        gz, db = self.sb.path("opened.db.gz"), self.sb.path("opened.db")
        for p in (gz, db):
            if os.path.exists(p):
                os.remove(p)
        if identity:
            r = subprocess.run(["age", "-d", "-i", identity, "-o", gz, backup], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            rc, text = age_on_terminal(["-d", "-o", gz, backup], PASSPHRASE)
            self.assertEqual(rc, 0, text)
        with gzip.open(gz, "rb") as g, open(db, "wb") as f:
            shutil.copyfileobj(g, f)
        return db

    def keygen(self):
        key = self.sb.path("age-key.txt")
        r = subprocess.run(["age-keygen", "-o", key], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(key) as f:
            public = re.search(r"public key: (age1[0-9a-z]+)", f.read()).group(1)
        return key, public

    # -- tests --------------------------------------------------------------------------------
    def test_create_list_verify_restore_prune_with_both_formats(self):
        self.demo()
        before = self.ok("dashboard", "--json").out
        gz = self.ok("backup", "create", "--json").json()
        self.assertTrue(gz["name"].endswith(".db.gz"), gz)
        self.assertEqual(gz["format"], "gzip")
        time.sleep(1.1)
        compact = self.ok("backup", "create", "--format", "compact", "--json").json()
        self.assertTrue(compact["name"].endswith(".db.gz.age"), compact)
        self.assertEqual(compact["format"], "compact")
        self.assertTrue(compact["encrypted"])
        self.assertEqual(compact["transactions"], gz["transactions"])
        self.assertLess(compact["size"], gz["size"] * 0.6)
        text = self.ok("backup", "create", "--format", "compact").out
        self.assertRegex(text, r"format:\s+compact")
        third = re.search(r"Created backup (\S+)", text).group(1)

        listed = self.listing()
        self.assertEqual([b["name"] for b in listed], [third, compact["name"], gz["name"]])
        self.assertEqual([b["format"] for b in listed], ["compact", "compact", "gzip"])
        for b in listed:
            self.assertTrue(b["encrypted"])
            self.assertNotIn("problem", b)
        shown = self.ok("backup", "show", compact["name"], "--json").json()
        self.assertEqual(shown["format"], "compact")
        for name in (gz["name"], compact["name"]):
            self.assertRegex(self.ok("backup", "verify", name).out, r"is valid \(integrity checks passed\)")

        for sfx in ("", "-wal", "-shm"):
            if os.path.exists(self.sb.db + sfx):
                os.remove(self.sb.db + sfx)
        self.ok("demo-db", "--accounts", "1", "--transactions", "3", "--subscriptions", "1")
        self.assertNotEqual(self.ok("dashboard", "--json").out, before)
        self.ok("backup", "restore", compact["name"], "--force")
        self.assertEqual(self.ok("dashboard", "--json").out, before)
        with open(self.sb.db, "rb") as f:
            self.assertNotEqual(f.read(16), b"SQLite format 3\0")  # encrypted again

        pruned = self.ok("backup", "prune", "--keep", "1", "--yes", "--json").json()
        self.assertEqual(sorted(pruned["deleted_names"]), sorted([compact["name"], gz["name"]]))
        self.assertEqual([b["name"] for b in self.listing()], [third])

    def test_format_from_the_environment_and_bad_values(self):
        self.demo(200)
        b = self.ok("backup", "create", "--json", env={"HONE_BACKUP_FORMAT": "compact"}).json()
        self.assertTrue(b["name"].endswith(".db.gz.age"))
        b = self.ok("backup", "create", "--json", "--format", "gzip", env={"HONE_BACKUP_FORMAT": "compact"}).json()
        self.assertTrue(b["name"].endswith(".db.gz"))
        r = self.sb.run("backup", "create", env={"HONE_BACKUP_FORMAT": "zstd"})
        self.assertNotEqual(r.rc, 0)
        self.assertIn("HONE_BACKUP_FORMAT", r.err)
        r = self.sb.run("backup", "create", "--format", "zstd")
        self.assertNotEqual(r.rc, 0)
        # Nothing to encrypt to: refused before any work.
        r = self.sb.run("backup", "create", "--format", "compact", unset=("HONE_DB_KEY",))
        self.assertNotEqual(r.rc, 0)
        self.assertIn("HONE_DB_KEY", r.err)

    def test_api_format_in_create_and_listings(self):
        # HONE_DB_KEY leaves the server's environment after start-up: compact still works.
        self.demo(300)
        srv = Server(self.sb)
        try:
            st, body, _ = srv.request("POST", "/api/backup", {"format": "compact"})
            self.assertEqual(st, 201, body)
            self.assertTrue(body["name"].endswith(".db.gz.age"), body)
            self.assertEqual(body["format"], "compact")
            st, gz, _ = srv.request("POST", "/api/backup", {"name": "plain-gzip"})
            self.assertEqual(st, 201, gz)
            self.assertEqual(gz["format"], "gzip")
            st, body2, _ = srv.request("POST", "/api/backup", {"format": "zstd"})
            self.assertEqual(st, 400, body2)
            st, listed, _ = srv.request("GET", "/api/backup")
            self.assertEqual(st, 200)
            self.assertEqual(sorted(b["format"] for b in listed), ["compact", "gzip"])
            st, one, _ = srv.request("GET", "/api/backup/" + body["name"])
            self.assertEqual(st, 200)
            self.assertEqual(one["format"], "compact")
            st, verified, _ = srv.request("POST", "/api/backup/verify", {"name": body["name"]})
            self.assertEqual(st, 200, verified)
            self.assertTrue(verified["valid"], verified)
        finally:
            srv.stop()

    def test_debian_age_gunzip_sqlite3_read_a_compact_backup(self):
        self.demo(1500)
        b = self.ok("backup", "create", "--format", "compact", "--json").json()
        db = self.open_by_hand(os.path.join(self.sb.backup_dir, b["name"]))
        self.assertEqual(sqlite_count(db, "transactions"), b["transactions"])
        self.assertEqual(sqlite_count(db, "accounts"), b["accounts"])
        r = subprocess.run(["sqlite3", db, "PRAGMA integrity_check"], capture_output=True, timeout=60)
        self.assertEqual(r.stdout.decode().strip(), "ok")

    def test_x25519_recipients_and_identity_file(self):
        self.demo(500)
        key, public = self.keygen()
        env = {"HONE_BACKUP_AGE_RECIPIENTS": public}
        b = self.ok("backup", "create", "--format", "compact", "--json", env=env).json()
        path = os.path.join(self.sb.backup_dir, b["name"])
        db = self.open_by_hand(path, identity=key)
        self.assertEqual(sqlite_count(db, "transactions"), b["transactions"])
        # The passphrase cannot open it; the identity file can.
        r = self.sb.run("backup", "verify", b["name"])
        self.assertNotEqual(r.rc, 0, r)
        self.ok("backup", "verify", b["name"], env={"HONE_BACKUP_AGE_IDENTITY": key})
        self.ok("backup", "restore", b["name"], "--force", env={"HONE_BACKUP_AGE_IDENTITY": key})
        r = self.sb.run("backup", "create", "--format", "compact", env={"HONE_BACKUP_AGE_RECIPIENTS": "ssh-rsa AAA"})
        self.assertNotEqual(r.rc, 0)
        self.assertIn("HONE_BACKUP_AGE_RECIPIENTS", r.err)

    def test_files_written_by_age_restore(self):
        plain = self.plain_image_with_marker()
        os.makedirs(self.sb.backup_dir, exist_ok=True)
        by_pass = os.path.join(self.sb.backup_dir, "by-passphrase.db.gz.age")
        self.seal_by_hand(plain, by_pass)
        key, public = self.keygen()
        by_key = os.path.join(self.sb.backup_dir, "by-key.db.gz.age")
        self.seal_by_hand(plain, by_key, recipient=public)
        self.assertRegex(self.ok("backup", "verify", "by-passphrase.db.gz.age").out, r"is valid \(integrity checks passed\)")
        self.ok("backup", "restore", "by-passphrase.db.gz.age")
        d = self.ok("dashboard", "--json").out
        self.assertIn("300", d)
        with open(self.sb.db, "rb") as f:
            data = f.read()
        self.assertNotIn(MARKER.encode(), data)
        self.assertNotEqual(data[:16], b"SQLite format 3\0")
        self.ok("backup", "restore", "by-key.db.gz.age", "--force", env={"HONE_BACKUP_AGE_IDENTITY": key})

    def test_damage_and_wrong_key_are_refused_with_the_reason(self):
        self.demo(800)
        b = self.ok("backup", "create", "--format", "compact", "--json").json()
        path = os.path.join(self.sb.backup_dir, b["name"])
        with open(path, "rb") as f:
            good = f.read()
        with open(self.sb.db, "rb") as f:
            db_before = f.read()
        r = self.sb.run("backup", "verify", b["name"], env={"HONE_DB_KEY": OTHER_PASSPHRASE})
        self.assertNotEqual(r.rc, 0)
        self.assertRegex(r.out + r.err, "different key")
        cases = {"flip-header": good[:40] + bytes([good[40] ^ 1]) + good[41:],
                 "flip-middle": good[:len(good) // 2] + bytes([good[len(good) // 2] ^ 1]) + good[len(good) // 2 + 1:],
                 "truncated": good[:-1], "appended": good + b"\0"}
        for tag, data in cases.items():
            name = tag + ".db.gz.age"
            with open(os.path.join(self.sb.backup_dir, name), "wb") as f:
                f.write(data)
            r = self.sb.run("backup", "verify", name)
            self.assertNotEqual(r.rc, 0, r)
            self.assertRegex(r.out + r.err, r"(?i)invalid|failed|corrupt|damaged|key", r)
            r = self.sb.run("backup", "restore", name, "--force")
            self.assertNotEqual(r.rc, 0, r)
            with open(self.sb.db, "rb") as f:
                self.assertEqual(f.read(), db_before, tag)

    def test_no_plaintext_in_any_byte_written(self):
        # A plain database made by sqlite3 and sealed by `age -p`: its image has no room for
        # SQLCipher's IV and HMAC, so verify and restore convert it through an encrypted scratch
        # file; that restore makes the encrypted Hone database holding MARKER for the rest.
        plain = self.plain_image_with_marker(rows=3000)
        os.makedirs(self.sb.backup_dir, exist_ok=True)
        self.seal_by_hand(plain, os.path.join(self.sb.backup_dir, "seed.db.gz.age"))
        os.remove(plain)
        needle = hex_escaped(MARKER)

        def traced(*args):
            log = self.sb.path("strace.log")
            cmd = ["strace", "-f", "-qq", "-e", "trace=write,pwrite64,pwritev,writev", "-xx", "-s", "10000000",
                   "-o", log, self.sb_hone()] + list(args)
            env = dict(self.sb.env)
            p = subprocess.run(cmd, env=env, capture_output=True, timeout=300)
            self.sb.transcript += [p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")]
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(log) as f:
                text = f.read()
            os.remove(log)
            self.assertIn("write", text)  # the trace saw the writes
            return text

        self.assertNotIn(needle, traced("backup", "verify", "seed.db.gz.age"))
        self.assertNotIn(needle, traced("backup", "restore", "seed.db.gz.age"))
        with open(self.sb.db, "rb") as f:
            self.assertNotIn(MARKER.encode(), f.read())
        out = traced("backup", "create", "--format", "compact", "--name", "traced")
        self.assertNotIn(needle, out)
        self.assertNotIn(needle, traced("backup", "verify", "traced.db.gz.age"))
        self.assertNotIn(needle, traced("backup", "restore", "traced.db.gz.age", "--force"))
        # The search finds the marker where it is in the clear: age -d's output.
        log = self.sb.path("age.log")
        key, public = self.keygen()
        self.ok("backup", "create", "--format", "compact", "--name", "for-key", env={"HONE_BACKUP_AGE_RECIPIENTS": public})
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=write", "-xx", "-s", "10000000", "-o", log, "sh", "-c",
                        "age -d -i %s %s | gunzip > /dev/null" % (key, os.path.join(self.sb.backup_dir,
                                                                                   "for-key.db.gz.age"))],
                       check=True, timeout=120)
        with open(log) as f:
            self.assertIn(needle, f.read())

    def sb_hone(self):
        from honetest import hone_exe
        return hone_exe()

    def peak_kib(self, *args, env=None):
        """Runs `hone ARGS` under /usr/bin/time -v; its peak resident memory in KiB."""
        p = subprocess.run(["/usr/bin/time", "-v", self.sb_hone()] + list(args), env=dict(self.sb.env, **(env or {})),
                           capture_output=True, timeout=600)
        err = p.stderr.decode("utf-8", "replace")
        self.sb.transcript += [p.stdout.decode("utf-8", "replace"), err]
        self.assertEqual(p.returncode, 0, err)
        return int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))

    def test_peak_memory_of_create_verify_restore(self):
        self.demo(120000)
        size = os.path.getsize(self.sb.db)
        peaks = {"create": self.peak_kib("backup", "create", "--format", "compact", "--name", "mem"),
                 "verify": self.peak_kib("backup", "verify", "mem.db.gz.age"),
                 "restore": self.peak_kib("backup", "restore", "mem.db.gz.age", "--force")}
        print("database %.1f MB; peak RSS (MiB): %s" % (size / 1e6, {k: round(v / 1024, 1) for k, v in peaks.items()}))
        for op, kib in peaks.items():
            self.assertLessEqual(kib * 1024, 64 * MIB, op)

    def test_peak_memory_of_a_large_plain_database_age_wrote(self):
        # 27,000 rows of 4,000 characters made by sqlite3 (110 MB, no reserved bytes), gzipped
        # and sealed by `age -r`: verify and restore convert it through the encrypted scratch
        # file, in memory that does not grow with it (X25519: `age -p`'s scrypt alone needs 256 MiB).
        plain = self.sb.path("big-plain.db")
        sql = ("PRAGMA journal_mode = OFF; CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, "
               "bank TEXT NOT NULL); INSERT INTO accounts(name, bank) VALUES('%s', 'Bank'); "
               "CREATE TABLE filler(id INTEGER PRIMARY KEY, body TEXT NOT NULL); "
               "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 27000) "
               "INSERT INTO filler(body) SELECT printf('%%04000d', i) FROM n;" % MARKER)
        r = subprocess.run(["sqlite3", plain], input=sql.encode(), capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        size = os.path.getsize(plain)
        self.assertGreater(size, 100 * MIB)
        key, public = self.keygen()
        os.makedirs(self.sb.backup_dir, exist_ok=True)
        self.seal_by_hand(plain, os.path.join(self.sb.backup_dir, "big.db.gz.age"), recipient=public)
        os.remove(plain)
        env = {"HONE_BACKUP_AGE_IDENTITY": key}
        peaks = {"verify": self.peak_kib("backup", "verify", "big.db.gz.age", env=env),
                 "restore": self.peak_kib("backup", "restore", "big.db.gz.age", env=env)}
        print("plain image %.1f MiB; peak RSS (MiB): %s"
              % (size / MIB, {k: round(v / 1024, 1) for k, v in peaks.items()}))
        for op, kib in peaks.items():
            self.assertLessEqual(kib * 1024, 64 * MIB, op)
        # The restored database opens with the key, is encrypted, and nothing else is beside it.
        d = self.ok("dashboard", "--json").json()
        self.assertEqual((d["encrypted"], d["accounts"]), (True, 1), d)
        self.assertGreater(os.path.getsize(self.sb.db), size)
        self.assertFalse(file_holds(self.sb.db, MARKER.encode()))
        with open(self.sb.db, "rb") as f:
            self.assertNotEqual(f.read(16), b"SQLite format 3\0")
        self.assertEqual(sorted(os.listdir(self.sb.data_dir)), ["backups", "hone.db"])


if __name__ == "__main__":
    main()

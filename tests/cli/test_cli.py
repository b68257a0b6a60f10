#!/usr/bin/env python3
"""The `hone` command line, run as a real subprocess in a scratch HOME.

Usage: test_cli.py PATH/TO/hone [unittest options]"""

import gzip
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import (OTHER_PASSPHRASE, PASSPHRASE, Sandbox, assert_no_key_material, derived_hex, file_mode,
                      hone_exe)

AUTO_NAME = re.compile(r"^hone-\d{4}-\d{2}-\d{2}-\d{6}(-\d+)?\.db\.gz$")
BACKUP_FIELDS = {"name", "path", "size", "created_at", "encrypted", "compressed", "deflated", "pinned", "format"}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class CliTest(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox(tag="cli")

    def tearDown(self):
        # The passphrase and the key derived from it never appear in anything printed.
        assert_no_key_material(self, self.sb.transcript)
        self.sb.cleanup()

    # -- helpers ----------------------------------------------------------------------------
    def ok(self, *args, **kw):
        r = self.sb.run(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def fails(self, rc, *args, **kw):
        r = self.sb.run(*args, **kw)
        self.assertEqual(r.rc, rc, r)
        self.assertRegex(r.err, r"(?m)^error: ", r)
        return r

    def demo(self, accounts=4, transactions=321, subscriptions=5, *extra, **kw):
        return self.ok("demo-db", "--accounts", str(accounts), "--transactions", str(transactions),
                       "--subscriptions", str(subscriptions), *extra, **kw)

    def dashboard(self, *extra, **kw):
        return self.ok("dashboard", "--json", *extra, **kw).json()

    # -- demo database and dashboard -----------------------------------------------------------
    def test_demo_db_and_dashboard(self):
        r = self.demo()
        self.assertIn(self.sb.db, r.out)
        self.assertTrue(os.path.isfile(self.sb.db))
        self.assertEqual(file_mode(self.sb.db), 0o600)
        self.assertEqual(file_mode(self.sb.data_dir), 0o700)
        with open(self.sb.db, "rb") as f:
            self.assertNotEqual(f.read(16), b"SQLite format 3\x00", "the demo database must be encrypted")
        d = self.dashboard()
        self.assertEqual((d["accounts"], d["transactions"], d["subscriptions"]), (4, 321, 5))
        self.assertTrue(d["encrypted"])
        text = self.ok("dashboard").out
        self.assertRegex(text, r"(?m)^Accounts:\s+4$")
        self.assertRegex(text, r"(?m)^Transactions:\s+321$")
        self.assertRegex(text, r"(?m)^Active subscriptions:\s+5$")
        # Never overwrites.
        before = os.stat(self.sb.db)
        r = self.fails(1, "demo-db")
        self.assertIn("already exists", r.err)
        self.assertEqual(os.stat(self.sb.db).st_mtime_ns, before.st_mtime_ns)
        # The wrong key cannot read it.
        r = self.fails(12, "dashboard", env={"HONE_DB_KEY": OTHER_PASSPHRASE})
        self.assertIn("HONE_DB_KEY", r.err)

    def test_demo_db_unencrypted_is_like_the_original(self):
        db = self.sb.path("plain.db")
        self.demo(2, 50, 3, "--db", db, unset=["HONE_DB_KEY"])
        con = sqlite3.connect(db)
        try:
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            self.assertTrue({"accounts", "transactions", "subscriptions"} <= tables)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM accounts").fetchone()[0], 2)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0], 50)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM subscriptions WHERE status='active'").fetchone()[0], 3)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM subscriptions").fetchone()[0], 4)
            cols = [r[1] for r in con.execute("PRAGMA table_info(transactions)")]
            for c in ("account_id", "date", "description", "amount", "category", "merchant_normalized",
                      "import_hash", "created_at"):
                self.assertIn(c, cols)
            # realistic rows: distinct import hashes, dated within the last year, money both ways
            self.assertEqual(con.execute("SELECT COUNT(DISTINCT import_hash) FROM transactions").fetchone()[0], 50)
            self.assertEqual(con.execute("SELECT COUNT(*) FROM transactions WHERE date < date('now','-366 days')")
                             .fetchone()[0], 0)
            self.assertEqual(con.execute("PRAGMA foreign_key_check").fetchall(), [])
        finally:
            con.close()
        self.assertFalse(os.path.exists(db + "-wal"), "the demo database is checkpointed and closed")

    # -- the full cycle ----------------------------------------------------------------------
    def test_create_list_verify_restore_delete(self):
        self.demo()
        r = self.ok("backup", "create")
        name = re.search(r"Created backup (\S+)", r.out).group(1)
        self.assertRegex(name, AUTO_NAME)
        path = os.path.join(self.sb.backup_dir, name)
        self.assertIn(path, r.out)
        # every gzip backup is compressed; the detail says the ciphertext was stored as it is
        for line in ("accounts:      4", "transactions:  321", "subscriptions: 5 active", "encrypted:     yes",
                     "compressed:    yes (stored: ciphertext does not shrink)"):
            self.assertIn(line, r.out)
        self.assertRegex(r.out, r"size:\s+\d+(\.\d)? (B|KiB|MiB) \(\d+ bytes\)")
        self.assertEqual(file_mode(path), 0o600)
        self.assertEqual(file_mode(self.sb.backup_dir), 0o700)

        r = self.ok("backup", "create", "--name", "before-upgrade", "--json")
        created = r.json()
        self.assertEqual(list(created), ["name", "path", "size", "created_at", "accounts", "transactions",
                                         "subscriptions", "encrypted", "compressed", "deflated", "format"])
        self.assertEqual((created["encrypted"], created["compressed"], created["deflated"]), (True, True, False))
        self.assertEqual(created["name"], "before-upgrade.db.gz")
        self.assertEqual((created["accounts"], created["transactions"], created["subscriptions"]), (4, 321, 5))
        self.assertEqual(created["size"], os.path.getsize(created["path"]))

        # list: table (header + one row per backup) and JSON
        r = self.ok("backup", "list")
        lines = r.out.strip().splitlines()
        self.assertRegex(lines[0], r"^NAME\s+SIZE\s+CREATED \(UTC\)\s+ENCRYPTED\s+COMPRESSED$")
        self.assertEqual(len(lines), 3, r.out)  # no footer when stdout is not a terminal
        self.assertTrue(any(l.startswith("before-upgrade.db.gz ") for l in lines))
        self.assertTrue(any(l.startswith(name + " ") for l in lines))
        self.assertRegex(lines[1], r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s+yes\s+yes \(stored\)$")
        listed = self.ok("backup", "list", "--json").json()
        self.assertEqual({b["name"] for b in listed}, {name, "before-upgrade.db.gz"})
        for b in listed:
            self.assertEqual(set(b), BACKUP_FIELDS)
            self.assertRegex(b["created_at"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
            self.assertTrue(b["encrypted"])
            self.assertEqual((b["compressed"], b["deflated"]), (True, False))
            self.assertEqual(b["path"], os.path.join(self.sb.backup_dir, b["name"]))
            self.assertEqual(b["size"], os.path.getsize(b["path"]))
        auto = [b for b in listed if b["name"] == name][0]
        stamp = re.match(r"hone-(\d{4})-(\d{2})-(\d{2})-(\d{2})(\d{2})(\d{2})", name).groups()
        self.assertEqual(auto["created_at"], "%s-%s-%sT%s:%s:%sZ" % stamp)
        shown = self.ok("backup", "show", name, "--json").json()
        self.assertEqual(shown, auto)

        # verify
        r = self.ok("backup", "verify", "before-upgrade.db.gz")
        self.assertIn("is valid", r.out)
        self.assertIn("transactions:  321", r.out)
        v = self.ok("backup", "verify", "before-upgrade.db.gz", "--json").json()
        self.assertEqual(v, {"valid": True, "name": "before-upgrade.db.gz", "accounts": 4, "transactions": 321,
                             "message": "Backup verified successfully"})
        for level in ("full", "quick", "readable"):
            v = self.ok("backup", "verify", "before-upgrade.db.gz", "--json", "--check", level).json()
            self.assertEqual((v["valid"], v["transactions"]), (True, 321), level)
        r = self.fails(2, "backup", "verify", "before-upgrade.db.gz", "--check", "thorough")
        self.assertIn("--check", r.err)

        # replace the live database with different data, then restore the backup
        os.unlink(self.sb.db)
        self.demo(1, 10, 1)
        self.assertEqual(self.dashboard()["transactions"], 10)
        r = self.fails(1, "backup", "restore", "before-upgrade.db.gz")
        self.assertIn("already exists", r.err)
        self.assertEqual(self.dashboard()["transactions"], 10, "refused restore changes nothing")
        r = self.ok("backup", "restore", "before-upgrade.db.gz", "--force")
        self.assertIn("Restored before-upgrade.db.gz", r.out)
        kept = re.search(r"kept as (\S+)", r.out).group(1)
        self.assertTrue(os.path.isfile(kept))
        d = self.dashboard()
        self.assertEqual((d["accounts"], d["transactions"], d["subscriptions"]), (4, 321, 5))

        # restore into a database that does not exist yet needs no --force
        fresh = self.sb.path("new", "restored.db")
        r = self.ok("backup", "restore", name, "--db", fresh, "--json")
        self.assertEqual(r.json(), {"restored": True, "backup_name": name,
                                    "message": "Database restored successfully. Server restart recommended."})
        self.assertEqual(self.dashboard("--db", fresh)["transactions"], 321)

        # delete
        r = self.ok("backup", "delete", name)
        self.assertIn("Deleted " + name, r.out)
        self.assertEqual(self.sb.backups(), ["before-upgrade.db.gz"])
        r = self.fails(10, "backup", "delete", name)
        self.assertIn("error: Backup not found: " + name, r.err)
        r = self.ok("backup", "delete", "before-upgrade.db.gz", "--json")
        self.assertEqual(r.json(), {"deleted": True, "name": "before-upgrade.db.gz"})
        self.assertEqual(self.ok("backup", "list", "--json").json(), [])
        self.assertIn("No backups", self.ok("backup", "list").out)

    def test_custom_names(self):
        self.demo(1, 5, 1)
        self.assertEqual(self.ok("backup", "create", "--name", "nightly", "--json").json()["name"], "nightly.db.gz")
        self.assertEqual(self.ok("backup", "create", "--name", "x.db.gz", "--json").json()["name"], "x.db.gz")
        self.assertEqual(self.ok("backup", "create", "--name", "my backup (1)", "--json").json()["name"],
                         "my backup (1).db.gz")
        r = self.fails(1, "backup", "create", "--name", "nightly")
        self.assertIn("Backup already exists: nightly.db.gz", r.err)
        # custom names are listed (the original's defect: only hone-* names were)
        names = {b["name"] for b in self.ok("backup", "list", "--json").json()}
        self.assertEqual(names, {"nightly.db.gz", "x.db.gz", "my backup (1).db.gz"})
        self.ok("backup", "verify", "my backup (1).db.gz")

    def test_invalid_names(self):
        self.demo(1, 5, 1)
        sentinel = self.sb.path("x.db.gz")
        for bad in ("../x", "..", "a/b", ".hidden", "../../etc/passwd", "x\ny", "a" * 300, ""):
            with self.subTest(name=bad):
                r = self.fails(2, "backup", "create", "--name", bad)
                self.assertIn("Invalid backup name", r.err)
                for cmd in (["verify", bad], ["restore", bad, "--force"], ["delete", bad], ["show", bad]):
                    r = self.fails(2, "backup", *cmd)
                    self.assertIn("Invalid backup name", r.err)
        self.assertEqual(self.sb.backups(), [])
        self.assertFalse(os.path.exists(sentinel))
        self.assertFalse(os.path.exists(os.path.join(self.sb.data_dir, "x.db.gz")))

    def test_unknown_backup(self):
        self.demo(1, 5, 1)
        for cmd in (["verify"], ["restore", "--force"], ["delete"], ["show"]):
            with self.subTest(cmd=cmd[0]):
                r = self.fails(10, "backup", cmd[0], "nope.db.gz", *cmd[1:])
                self.assertIn("error: Backup not found: nope.db.gz", r.err)
                self.assertEqual(len(r.err.strip().splitlines()), 1, "one clear line: " + r.err)
        self.assertEqual(self.dashboard()["transactions"], 5)

    def test_wrong_key_on_verify_and_restore(self):
        self.demo(2, 40, 2)
        self.ok("backup", "create", "--name", "good")
        other = {"HONE_DB_KEY": OTHER_PASSPHRASE}
        r = self.fails(12, "backup", "verify", "good.db.gz", env=other)
        self.assertIn("Restore fails with encryption error", r.err)
        v = self.sb.run("backup", "verify", "good.db.gz", "--json", env=other)
        self.assertEqual(v.rc, 12)
        self.assertFalse(v.json()["valid"])
        r = self.fails(12, "backup", "restore", "good.db.gz", "--force", env=other)
        self.assertIn("Restore fails with encryption error", r.err)
        r = self.fails(12, "backup", "verify", "good.db.gz", unset=["HONE_DB_KEY"])
        self.assertIn("encrypt", r.err)
        # nothing was touched
        self.assertEqual(self.dashboard()["transactions"], 40)
        self.assertEqual([n for n in os.listdir(self.sb.data_dir) if "pre-restore" in n], [])

    def test_default_locations(self):
        # ~/.local/share/hone without XDG_DATA_HOME
        self.demo(1, 7, 1)
        self.assertTrue(os.path.isfile(os.path.join(self.sb.home, ".local/share/hone/hone.db")))
        name = self.ok("backup", "create", "--json").json()["name"]
        self.assertEqual(self.sb.backups(), [name])
        # $XDG_DATA_HOME/hone when it is set (absolute)
        xdg = self.sb.path("xdg")
        env = {"XDG_DATA_HOME": xdg}
        self.demo(1, 9, 1, env=env)
        self.assertTrue(os.path.isfile(os.path.join(xdg, "hone", "hone.db")))
        created = self.ok("backup", "create", "--json", env=env).json()
        self.assertEqual(created["transactions"], 9)
        self.assertEqual(created["path"], os.path.join(xdg, "hone", "backups", created["name"]))
        self.assertEqual(self.sb.backups(), [name], "the HOME folder is not used when XDG_DATA_HOME is set")
        # HONE_DB_PATH picks the database
        custom = self.sb.path("custom.db")
        self.demo(1, 3, 0, "--db", custom)
        self.assertEqual(self.ok("backup", "create", "--json", env={"HONE_DB_PATH": custom}).json()["transactions"], 3)
        self.assertEqual(self.dashboard(env={"HONE_DB_PATH": custom})["transactions"], 3)
        # --db beats HONE_DB_PATH
        self.assertEqual(self.dashboard("--db", self.sb.db, env={"HONE_DB_PATH": custom})["transactions"], 7)
        # without HOME there is no default: a clear message
        r = self.fails(2, "backup", "list", unset=["HOME"])
        self.assertIn("HOME", r.err)

    def test_backup_dir_env_and_flag(self):
        self.demo(1, 5, 1)
        a, b = self.sb.path("A"), self.sb.path("B")
        env = {"HONE_BACKUP_DIR": a}
        n1 = self.ok("backup", "create", "--json", env=env).json()["name"]
        n2 = self.ok("backup", "create", "--name", "in-b", "--dir", b, "--json", env=env).json()["name"]
        self.assertEqual(self.sb.backups(a), [n1])
        self.assertEqual(self.sb.backups(b), [n2])
        self.assertEqual(self.sb.backups(), [])
        self.assertEqual([x["name"] for x in self.ok("backup", "list", "--json", env=env).json()], [n1])
        self.assertEqual([x["name"] for x in self.ok("backup", "list", "--json", "--dir", b, env=env).json()], [n2])
        self.ok("backup", "verify", n1, env=env)
        self.fails(10, "backup", "verify", n1, "--dir", b, env=env)
        self.ok("backup", "delete", n2, "--dir", b, env=env)
        self.assertEqual(self.sb.backups(b), [])
        # a folder that cannot be created
        blocker = self.sb.path("file")
        open(blocker, "w").close()
        r = self.fails(1, "backup", "create", "--dir", os.path.join(blocker, "sub"))
        self.assertIn("Failed to access backup directory", r.err)

    def test_prune(self):
        self.demo(1, 5, 1)
        names = [self.ok("backup", "create", "--json").json()["name"] for _ in range(4)]
        notes = os.path.join(self.sb.backup_dir, "notes.txt")
        with open(notes, "w") as f:
            f.write("not a backup")
        # no terminal and no -y: refused, nothing deleted
        r = self.fails(2, "backup", "prune", "--keep", "1")
        self.assertIn("-y", r.err)
        self.assertEqual(len(self.sb.backups()), 4)
        r = self.fails(2, "backup", "prune", "--keep", "0", "-y")
        self.assertIn("--keep must be at least 1", r.err)
        self.fails(2, "backup", "prune", "--keep", "x", "-y")
        r = self.ok("backup", "prune", "--keep", "2", "-y")
        self.assertIn("Deleted 2 backups", r.out)
        newest = [b["name"] for b in self.ok("backup", "list", "--json").json()]
        self.assertEqual(len(newest), 2)
        self.assertEqual(set(newest) | set(re.findall(r"deleted (\S+)", r.out)), set(names))
        # the newest ones are kept: names sort by time (and -N for the same second)
        key = lambda n: (n[:22], int(n[23:-6]) if n[22] == "-" else 0)
        self.assertEqual(sorted(newest, key=key), sorted(names, key=key)[2:])
        p = self.ok("backup", "prune", "--keep", "1", "-y", "--json").json()
        self.assertEqual(list(p), ["deleted_count", "deleted_names", "retained_count", "bytes_freed", "skipped_names",
                                   "retained_names", "dry_run"])
        self.assertEqual(p["skipped_names"], [])
        self.assertEqual((p["deleted_count"], p["retained_count"]), (1, 1))
        self.assertGreater(p["bytes_freed"], 0)
        # default keep is 7
        p = self.ok("backup", "prune", "-y", "--json").json()
        self.assertEqual((p["deleted_count"], p["retained_count"]), (0, 1))
        self.assertTrue(os.path.isfile(notes), "files that are not backups are never pruned")

    def _pty_run(self, args, answer):
        """Runs hone on a pseudo-terminal, answers its prompt; returns (rc, output)."""
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(hone_exe(), [hone_exe()] + args, self.sb.env)
        out = b""
        answered = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 1)
            if not r:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"[y/N]" in out:
                os.write(fd, answer)
                answered = True
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode("utf-8", "replace")
        self.sb.transcript.append(text)
        return os.waitstatus_to_exitcode(status), text, answered

    def test_prune_asks_on_a_terminal(self):
        self.demo(1, 5, 1)
        for _ in range(3):
            self.ok("backup", "create")
        rc, out, asked = self._pty_run(["backup", "prune", "--keep", "1"], b"n\n")
        self.assertTrue(asked, out)
        self.assertEqual(rc, 1, out)
        self.assertIn("These 2 backups would be deleted", out)
        self.assertIn("nothing was deleted", out)
        self.assertEqual(len(self.sb.backups()), 3)
        rc, out, asked = self._pty_run(["backup", "prune", "--keep", "1"], b"y\n")
        self.assertTrue(asked, out)
        self.assertEqual(rc, 0, out)
        self.assertIn("Deleted 2 backups", out)
        self.assertEqual(len(self.sb.backups()), 1)
        rc, out, asked = self._pty_run(["backup", "prune", "--keep", "1"], b"y\n")
        self.assertFalse(asked, "nothing to prune: no question")
        self.assertEqual(rc, 0, out)
        self.assertIn("Nothing to prune", out)
        # On a terminal the list has a footer with the totals.
        rc, out, _ = self._pty_run(["backup", "list"], b"")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"1 backup, .* in ")

    def _interrupt(self, args, ready, sig, env_unset=("HONE_DB_KEY",)):
        """Starts hone, waits until ready() is true, sends sig; returns (rc, stderr)."""
        env = {k: v for k, v in self.sb.env.items() if k not in env_unset}
        p = subprocess.Popen([hone_exe()] + args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not ready():
                self.assertIsNone(p.poll(), "finished before it could be interrupted")
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.005)
            p.send_signal(sig)
            out, err = p.communicate(timeout=120)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        err = err.decode("utf-8", "replace")
        self.sb.transcript += [out.decode("utf-8", "replace"), err]
        return p.returncode, err

    def test_interrupted_commands_leave_no_copies(self):
        # An unencrypted database: its temporary copy would be plain text.
        self.demo(2, 300000, 2, unset=["HONE_DB_KEY"])

        def exporting():
            return any(n.startswith("hone-export-") for n in os.listdir(self.sb.tmp))

        rc, err = self._interrupt(["backup", "create"], exporting, signal.SIGINT)
        self.assertEqual(rc, 130, err)
        self.assertIn("error: interrupted (SIGINT)", err)
        self.assertEqual(os.listdir(self.sb.tmp), [], "the private temp folder is removed")
        self.assertEqual(self.sb.backups(), [])
        self.assertEqual(self.sb.run("backup", "list", "--json").json(), [])

        # SIGTERM while restore writes its temporary file beside the database: the file is
        # removed, the database is unchanged.
        self.ok("backup", "create", "--name", "big", unset=["HONE_DB_KEY"])
        before = sha256(self.sb.db)

        def restoring():
            return any(n.startswith(".hone.db.restore-") for n in os.listdir(self.sb.data_dir))

        rc, err = self._interrupt(["backup", "restore", "big.db.gz", "--force"], restoring, signal.SIGTERM)
        self.assertEqual(rc, 143, err)
        self.assertIn("error: interrupted (SIGTERM)", err)
        self.assertEqual([n for n in os.listdir(self.sb.data_dir) if ".restore-" in n], [],
                         "restore's temporary file is removed")
        self.assertEqual(sha256(self.sb.db), before, "the database is unchanged")

        target = self.sb.path("big.db")
        rc, err = self._interrupt(["demo-db", "--db", target, "--transactions", "5000000"],
                                  lambda: any(".big.db.demo-" in n for n in os.listdir(self.sb.root)),
                                  signal.SIGTERM)
        self.assertEqual(rc, 143, err)
        self.assertFalse(os.path.exists(target))
        self.assertEqual([n for n in os.listdir(self.sb.root) if "big.db" in n], [])

    def test_missing_database(self):
        r = self.fails(10, "backup", "create")
        self.assertIn("Database not found: " + self.sb.db, r.err)
        r = self.fails(10, "dashboard")
        self.assertIn("Database not found", r.err)
        self.assertEqual(self.sb.backups(), [])

    def test_unencrypted_database(self):
        self.demo(2, 300, 2, unset=["HONE_DB_KEY"])
        with open(self.sb.db, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\x00")
        c = self.ok("backup", "create", "--json", unset=["HONE_DB_KEY"]).json()
        self.assertFalse(c["encrypted"])
        self.assertTrue(c["compressed"])
        self.assertTrue(c["deflated"])
        self.assertLess(c["size"], os.path.getsize(self.sb.db))
        listed = self.ok("backup", "list", "--json", unset=["HONE_DB_KEY"]).json()
        self.assertEqual((listed[0]["encrypted"], listed[0]["compressed"], listed[0]["deflated"]), (False, True, True))
        self.assertRegex(self.ok("backup", "show", c["name"], unset=["HONE_DB_KEY"]).out, r"(?m)^  compressed:    yes$")
        self.ok("backup", "verify", c["name"], unset=["HONE_DB_KEY"])

    def test_db_migrate_upgrades_a_sqlcipher3_database(self):
        if not shutil.which("sqlcipher"):
            self.skipTest("needs the sqlcipher 3 shell to make a SQLCipher 3 database")
        # A SQLCipher 3 database keyed the original's way, made by Debian's sqlcipher 3.4.1 shell;
        # the key is typed on its standard input, never on a command line.
        script = ("PRAGMA key = 'x\"%s\"';\n" % derived_hex(PASSPHRASE) +
                  "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT NOT NULL, bank TEXT NOT NULL);\n"
                  "INSERT INTO accounts(name, bank) VALUES ('a', 'b'), ('c', 'd');\n")
        os.makedirs(os.path.dirname(self.sb.db), exist_ok=True)
        p = subprocess.run(["sqlcipher", self.sb.db], input=script.encode(), capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = self.sb.run("db", "migrate")
        if r.rc != 0 and "SQLCipher 4" in r.err:
            self.skipTest("needs SQLCipher 4: " + r.err.strip())
        self.assertEqual(r.rc, 0, r)
        self.assertIn("original kept at", r.out)
        self.assertEqual(self.dashboard()["accounts"], 2)
        again = self.ok("db", "migrate")
        self.assertNotIn("original kept at", again.out)

    def test_usage_errors_and_help(self):
        r = self.sb.run()
        self.assertEqual(r.rc, 2)
        self.assertIn("backup", r.err)
        self.fails(2, "bogus")
        self.fails(2, "backup")
        self.fails(2, "backup", "create", "--bogus")
        self.fails(2, "backup", "verify")  # NAME missing
        self.fails(2, "serve", "--port", "70000")
        # The key is never taken from the command line.
        r = self.fails(2, "backup", "create", "--key", PASSPHRASE)
        r = self.ok("--help")
        for cmd in ("backup", "dashboard", "serve", "demo-db"):
            self.assertIn(cmd, r.out)
        r = self.ok("backup", "prune", "--help")
        self.assertIn("--keep", r.out)
        # --version names the program, the library (the version of include/hone/backup/version.hpp),
        # SQLCipher and SQLite.
        header = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "include", "hone",
                                   "backup", "version.hpp")).read()
        lib = ".".join(re.search(r"#define HONE_BACKUP_VERSION_%s (\d+)" % part, header).group(1)
                       for part in ("MAJOR", "MINOR", "PATCH"))
        v = self.ok("--version").out.strip()
        self.assertRegex(v, r"^hone \S+ \(hone-backup (\d+\.\d+\.\d+); (SQLCipher \S+.*|no SQLCipher); SQLite 3\.\d+\.\d+\)$")
        self.assertIn("(hone-backup %s;" % lib, v)
        # A result that cannot be written is an error, not a silent success.
        if os.path.exists("/dev/full"):
            with open("/dev/full", "w") as full:
                p = subprocess.run([hone_exe(), "backup", "list", "--json"], env=self.sb.env, stdout=full,
                                   stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 1)
            self.assertIn(b"error: cannot write the output", p.stderr)

    def test_verbose_logging_never_shows_the_key(self):
        self.demo(1, 5, 1)
        r = self.ok("--verbose", "backup", "create", "--name", "v")
        self.assertIn("DEBUG", r.err)
        self.assertIn("Argon2id", r.err)
        r = self.ok("backup", "verify", "v.db.gz", "--verbose")
        self.assertIn("DEBUG", r.err)
        self.ok("-v", "backup", "restore", "v.db.gz", "--force")
        r = self.ok("backup", "create", "--name", "quiet")
        self.assertEqual(r.err, "", "without --verbose and without a terminal nothing goes to stderr")
        # explicit check (tearDown scans every command of every test as well)
        h = derived_hex(PASSPHRASE)
        for text in self.sb.transcript:
            self.assertNotIn(PASSPHRASE, text)
            if h:
                self.assertNotIn(h, text)

    def test_small_or_empty_database_warning(self):
        db = self.sb.path("empty.db")
        con = sqlite3.connect(db)
        con.execute("CREATE TABLE other(x)")
        con.commit()
        con.close()
        r = self.ok("backup", "create", "--db", db, "--json", unset=["HONE_DB_KEY"])
        c = r.json()
        self.assertEqual((c["accounts"], c["transactions"], c["subscriptions"]), (None, None, None))
        self.assertIn("warning:", r.err)
        r = self.fails(1, "backup", "verify", c["name"], unset=["HONE_DB_KEY"])
        self.assertIn("none of Hone's tables", r.err)
        v = self.ok("backup", "verify", c["name"], "--json", "--allow-foreign", unset=["HONE_DB_KEY"]).json()
        self.assertEqual((v["accounts"], v["transactions"]), (None, None))
        d = self.ok("dashboard", "--db", db, "--json", unset=["HONE_DB_KEY"]).json()
        self.assertIsNone(d["accounts"])
        self.assertIn("no accounts table", self.ok("dashboard", "--db", db, unset=["HONE_DB_KEY"]).out)


    # -- keys: a plain backup is not restored while a key is set; no key says so ---------------
    def test_key_wording_and_plain_backups_with_a_key(self):
        self.demo(2, 30, 1)  # encrypted, the live database
        plain_db = self.sb.path("plain.db")
        self.demo(1, 8, 1, "--db", plain_db, unset=["HONE_DB_KEY"])
        # create on a plain database while a key is set: made, with a warning
        r = self.ok("backup", "create", "--db", plain_db, "--name", "plain")
        self.assertRegex(r.out, r"(?m)^warning: the database %s is not encrypted, but HONE_DB_KEY is set"
                         % re.escape(plain_db))
        self.assertEqual(self.sb.backups(), ["plain.db.gz"])
        r = self.ok("backup", "create", "--db", plain_db, "--name", "plain-json", "--json")
        self.assertFalse(r.json()["encrypted"])
        self.assertIn("HONE_DB_KEY is set", r.err)
        # restoring it over the encrypted database is refused; the database is untouched
        before = sha256(self.sb.db)
        refusal = ("is not encrypted, but HONE_DB_KEY is set: restoring it would leave the database "
                   "unencrypted")
        r = self.fails(1, "backup", "restore", "plain.db.gz", "--force")
        self.assertIn("Backup plain.db.gz " + refusal, r.err)
        self.assertEqual(sha256(self.sb.db), before)
        self.assertEqual([n for n in os.listdir(self.sb.data_dir) if n != "hone.db" and n != "backups"], [])
        # ...and over a path where no database exists yet: nothing is created
        fresh = self.sb.path("nothing-yet", "hone.db")
        r = self.fails(1, "backup", "restore", "plain.db.gz", "--db", fresh)
        self.assertIn(refusal, r.err)
        self.assertFalse(os.path.exists(os.path.dirname(fresh)), "no folder is left behind")
        # without a key the plain backup restores (on purpose)
        self.ok("backup", "restore", "plain", "--db", fresh, unset=["HONE_DB_KEY"])
        # an encrypted database or backup and no key: "HONE_DB_KEY is not set", not "wrong key"
        self.ok("backup", "create", "--name", "secret")
        for args in (["create"], ["verify", "secret"], ["restore", "secret", "--force"]):
            with self.subTest(command=args[0]):
                r = self.fails(12, "backup", *args, unset=["HONE_DB_KEY"])
                self.assertIn("HONE_DB_KEY is not set", r.err)
                self.assertNotIn("encryption error", r.err)
                self.assertNotIn("does not match", r.err)
                self.assertNotIn("no key was given", r.err)
        v = self.sb.run("backup", "verify", "secret", "--json", unset=["HONE_DB_KEY"])
        self.assertEqual(v.rc, 12)
        self.assertFalse(v.json()["valid"])
        self.assertIn("HONE_DB_KEY is not set", v.json()["message"])
        self.assertEqual(sha256(self.sb.db), before)
        self.assertEqual(self.dashboard()["transactions"], 30)

    def test_restore_refused_while_the_database_is_in_use(self):
        self.demo(1, 20, 1, unset=["HONE_DB_KEY"])  # WAL mode, like the original
        self.ok("backup", "create", "--name", "b", unset=["HONE_DB_KEY"])
        before = sha256(self.sb.db)
        con = sqlite3.connect(self.sb.db)
        try:
            self.assertEqual(con.execute("PRAGMA journal_mode").fetchone()[0], "wal")
            con.execute("SELECT COUNT(*) FROM accounts").fetchone()
            r = self.fails(11, "backup", "restore", "b.db.gz", "--force", unset=["HONE_DB_KEY"])
            self.assertIn("in use by another connection", r.err)
            self.assertEqual(len(r.err.strip().splitlines()), 1, r.err)
        finally:
            con.close()
        self.assertEqual(sha256(self.sb.db), before)
        self.assertEqual([n for n in os.listdir(self.sb.data_dir) if "pre-restore" in n or ".restore-" in n], [])
        self.ok("backup", "restore", "b.db.gz", "--force", unset=["HONE_DB_KEY"])

    # -- restore keeps the owner, group and mode of the database it replaces ------------------
    def test_restore_keeps_owner_group_and_mode(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: the database must belong to another user (nobody/nogroup)")
        folder = self.sb.path("owned")
        os.makedirs(folder)
        db = os.path.join(folder, "hone.db")
        self.demo(1, 12, 1, "--db", db)
        self.ok("backup", "create", "--db", db, "--name", "own")
        os.chown(db, 65534, 65534)
        os.chmod(db, 0o640)
        self.ok("backup", "restore", "own.db.gz", "--db", db, "--force")
        st = os.stat(db)
        self.assertEqual((st.st_uid, st.st_gid, file_mode(db)), (65534, 65534, 0o640))
        for sfx in ("-wal", "-shm", "-journal"):
            if os.path.exists(db + sfx):
                self.assertNotEqual(os.stat(db + sfx).st_uid, 0, db + sfx + " is root-owned")
        # no database to replace: 0600 and the caller's owner
        fresh = os.path.join(folder, "fresh.db")
        self.ok("backup", "restore", "own.db.gz", "--db", fresh)
        st = os.stat(fresh)
        self.assertEqual((st.st_uid, st.st_gid, file_mode(fresh)), (os.geteuid(), os.getegid(), 0o600))
        self.assertEqual(self.dashboard("--db", fresh)["transactions"], 12)

    # -- only real backups count -----------------------------------------------------------------
    def test_files_that_are_not_backups(self):
        self.demo(1, 5, 1)
        real = []
        for i, n in enumerate(("r1", "r2", "r3")):
            real.append(self.ok("backup", "create", "--name", n, "--json").json()["name"])
            os.utime(os.path.join(self.sb.backup_dir, real[-1]), (1700000000 + i, 1700000000 + i))
        junk = {
            "hone-2099-01-01-000000.db.gz": b"not gzip at all",  # named newer than every backup
            "zero.db.gz": b"",
            "empty.db.gz": gzip.compress(b""),
            "text.db.gz": gzip.compress(b"hello, this is not a database" * 10),
        }
        for n, data in junk.items():
            with open(os.path.join(self.sb.backup_dir, n), "wb") as f:
                f.write(data)
        listed = self.ok("backup", "list", "--json").json()
        self.assertEqual({b["name"] for b in listed}, set(real) | set(junk))
        for b in listed:
            if b["name"] in junk:
                self.assertRegex(b.get("problem", ""), r"^not a backup: ", b)
            else:
                self.assertNotIn("problem", b)
                self.assertEqual(set(b), BACKUP_FIELDS)
        r = self.ok("backup", "list")
        for n in junk:
            self.assertRegex(r.err, r"(?m)^warning: %s: not a backup: " % re.escape(n))
        # the footer (on a terminal) counts the real backups only
        rc, out, _ = self._pty_run(["backup", "list"], b"")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"3 backups, .* in .*; 4 files are named like a backup but not one")
        # the prompt counts the real backups only
        rc, out, asked = self._pty_run(["backup", "prune", "--keep", "2"], b"n\n")
        self.assertTrue(asked, out)
        self.assertIn("This backup would be deleted", out)
        self.assertIn("  r1.db.gz", out)
        self.assertIn("Skipping hone-2099-01-01-000000.db.gz", out)
        rc, out, asked = self._pty_run(["backup", "prune", "--keep", "3"], b"n\n")
        self.assertFalse(asked, out)
        self.assertIn("Nothing to prune: 3 backups", out)
        # prune keeps the newest real backups, never deletes nor counts the others
        r = self.ok("backup", "prune", "--keep", "2", "-y")
        self.assertIn("Deleted 1 backup", r.out)
        self.assertIn("kept 2", r.out)
        self.assertIn("Skipped 4 files named like a backup but not one", r.out)
        for n in junk:
            self.assertIn("  skipped " + n, r.out)
        self.assertEqual(self.sb.backups(), sorted(set(real[1:]) | set(junk)))
        p = self.ok("backup", "prune", "--keep", "1", "-y", "--json").json()
        self.assertEqual((p["deleted_names"], p["retained_count"]), (["r2.db.gz"], 1))
        self.assertEqual(sorted(p["skipped_names"]), sorted(junk))
        self.assertEqual(self.sb.backups(), sorted({"r3.db.gz"} | set(junk)))

    # -- a backup of a database without Hone's tables is no Hone backup ------------------------
    def test_foreign_backups_need_allow_foreign(self):
        self.demo(2, 30, 1)
        hone_db_sha = sha256(self.sb.db)
        # A plain SQLite database of some other program, backed up with its own --db.
        other = self.sb.path("other.db")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, text TEXT)")
        con.executemany("INSERT INTO notes(text) VALUES (?)", [("note %d" % i,) for i in range(50)])
        con.commit()
        con.close()
        self.ok("backup", "create", "--db", other, "--name", "foreign", unset=("HONE_DB_KEY",))
        r = self.fails(1, "backup", "verify", "foreign", unset=("HONE_DB_KEY",))
        self.assertIn("none of Hone's tables", r.err)
        self.assertIn("--allow-foreign", r.err)
        self.ok("backup", "verify", "foreign", "--allow-foreign", unset=("HONE_DB_KEY",))
        # Restoring it over a (plain) Hone database is refused unless allowed.
        plain = self.sb.path("plain-hone.db")
        self.ok("demo-db", "--db", plain, "--transactions", "10", unset=("HONE_DB_KEY",))
        before = sha256(plain)
        r = self.fails(1, "backup", "restore", "foreign", "--db", plain, "--force", unset=("HONE_DB_KEY",))
        self.assertIn("none of Hone's tables", r.err)
        self.assertEqual(sha256(plain), before)
        self.ok("backup", "restore", "foreign", "--db", plain, "--force", "--allow-foreign", unset=("HONE_DB_KEY",))
        con = sqlite3.connect(plain)
        self.assertEqual(con.execute("SELECT count(*) FROM notes").fetchone()[0], 50)
        con.close()
        self.assertEqual(sha256(self.sb.db), hone_db_sha)

    # -- a file size limit (SIGXFSZ) is a clear error, and nothing is left behind -------------
    def test_file_size_limit_is_a_clear_error(self):
        self.demo(2, 20000, 1, unset=("HONE_DB_KEY",))
        import resource

        def limit():
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))

        env = dict(self.sb.env)
        env.pop("HONE_DB_KEY", None)
        p = subprocess.run([hone_exe(), "backup", "create"], env=env, capture_output=True, timeout=120,
                           preexec_fn=limit)
        err = p.stderr.decode("utf-8", "replace")
        self.sb.transcript.append(err)
        self.assertEqual(p.returncode, 1, err)
        self.assertRegex(err, r"(?m)^error: .*(File too large|file size)", err)
        self.assertEqual(os.listdir(self.sb.tmp), [])
        self.assertEqual(self.sb.backups(), [])

    # -- retention rules: keep-last and calendar, with a dry run ------------------------------
    def test_prune_calendar_rules_and_dry_run(self):
        self.demo(1, 5, 1)
        seed = self.ok("backup", "create", "--name", "seed", "--json").json()["path"]
        for day in range(4, 25):  # one backup a day at 02:00, 2024-03-04 (Mon) .. 03-24 (Sun)
            shutil.copyfile(seed, os.path.join(self.sb.backup_dir, "hone-2024-03-%02d-020000.db.gz" % day))
        os.remove(seed)
        kept = ["hone-2024-03-%02d-020000.db.gz" % d for d in (24, 23, 22, 17)]
        p = self.ok("backup", "prune", "--keep-daily", "3", "--keep-weekly", "2", "--dry-run", "--json").json()
        self.assertIs(p["dry_run"], True)
        self.assertEqual(p["retained_names"], kept)
        self.assertEqual((p["retained_count"], p["deleted_count"]), (4, 17))
        self.assertEqual(len(self.sb.backups()), 21)
        r = self.ok("backup", "prune", "--keep-daily", "3", "--keep-weekly", "2", "--dry-run")
        self.assertIn("Would delete 17 backups", r.out)
        self.assertIn("keep    hone-2024-03-24-020000.db.gz  (daily, weekly)", r.out)
        self.assertIn("keep    hone-2024-03-17-020000.db.gz  (weekly)", r.out)
        self.assertEqual(len(self.sb.backups()), 21)
        for bad in (["--keep-daily", "0"], ["--keep", "0"], ["--keep-weekly", "-1"], ["--keep-monthly", "x"]):
            self.fails(2, "backup", "prune", "-y", *bad)
        self.assertEqual(len(self.sb.backups()), 21)
        # --keep with calendar rules adds keep-last; alone it is keep-last as before.
        p = self.ok("backup", "prune", "--keep", "5", "--keep-weekly", "2", "--dry-run", "--json").json()
        self.assertEqual(p["retained_names"], ["hone-2024-03-%02d-020000.db.gz" % d for d in (24, 23, 22, 21, 20, 17)])
        p = self.ok("backup", "prune", "--keep-daily", "3", "--keep-weekly", "2", "-y", "--json").json()
        self.assertEqual((p["dry_run"], p["deleted_count"]), (False, 17))
        self.assertEqual(self.sb.backups(), sorted(kept))
        p = self.ok("backup", "prune", "-y", "--json").json()  # default: keep the 7 newest
        self.assertEqual((p["deleted_count"], p["retained_count"]), (0, 4))

    # -- the n-th backup of a second sorts after every earlier one of that second --------------
    def test_same_second_names_are_never_reused(self):
        self.demo(1, 5, 1)
        seed = self.ok("backup", "create", "--name", "seed", "--json").json()["path"]
        # Backups -1 and -2 of every second around now, as if the second's first backup had been
        # deleted: the next automatic name of that second must be -3, never the freed base name.
        now = int(time.time())
        planted = {}
        for t in range(now - 2, now + 60):
            stamp = time.strftime("%Y-%m-%d-%H%M%S", time.gmtime(t))
            for n in (1, 2):
                p = os.path.join(self.sb.backup_dir, "hone-%s-%d.db.gz" % (stamp, n))
                shutil.copyfile(seed, p)
                planted[p] = stamp
        os.unlink(seed)
        made = self.ok("backup", "create", "--json").json()["name"]
        m = re.match(r"^hone-(\d{4}-\d{2}-\d{2}-\d{6})-(\d+)\.db\.gz$", made)
        self.assertIsNotNone(m, made)
        self.assertEqual(m.group(2), "3", made)
        for p, stamp in planted.items():
            if stamp != m.group(1):
                os.unlink(p)
        self.assertEqual(len(self.sb.backups()), 3)
        self.ok("backup", "prune", "--keep", "1", "-y")
        self.assertEqual(self.sb.backups(), [made], "the newest backup made is kept")

    # -- names as create took them -----------------------------------------------------------
    def test_names_as_create_took_them(self):
        self.demo(1, 6, 1)
        self.ok("backup", "create", "--name", "before-upgrade")
        r = self.ok("backup", "show", "before-upgrade")
        self.assertIn("Backup before-upgrade.db.gz", r.out)
        self.assertEqual(self.ok("backup", "show", "before-upgrade", "--json").json()["name"], "before-upgrade.db.gz")
        r = self.ok("backup", "verify", "before-upgrade")
        self.assertIn("Backup before-upgrade.db.gz is valid", r.out)
        self.assertEqual(self.ok("backup", "verify", "before-upgrade", "--json").json()["name"],
                         "before-upgrade.db.gz")
        r = self.ok("backup", "restore", "before-upgrade", "--force")
        self.assertIn("Restored before-upgrade.db.gz", r.out)
        r = self.ok("backup", "restore", "before-upgrade", "--db", self.sb.path("n.db"), "--json")
        self.assertEqual(r.json()["backup_name"], "before-upgrade.db.gz")
        r = self.fails(10, "backup", "verify", "nope")
        self.assertIn("Backup not found: nope", r.err)
        r = self.ok("backup", "delete", "before-upgrade")
        self.assertEqual(r.out.strip(), "Deleted before-upgrade.db.gz")
        self.ok("backup", "create", "--name", "again")
        self.assertEqual(self.ok("backup", "delete", "again", "--json").json(),
                         {"deleted": True, "name": "again.db.gz"})
        self.assertEqual(self.sb.backups(), [])

    # -- messages tell the truth ---------------------------------------------------------------
    def test_messages_tell_the_truth(self):
        self.demo(1, 9, 1)
        self.ok("backup", "create", "--name", "m")
        r = self.ok("backup", "verify", "m", "--check", "readable")
        self.assertNotIn("integrity checks passed", r.out)
        self.assertIn("integrity not checked", r.out)
        self.assertIn("integrity checks passed", self.ok("backup", "verify", "m").out)
        # a missing TMPDIR, or one that is a file: one sentence naming the folder
        missing = self.sb.path("no-such-tmp")
        for args in (["create"], ["verify", "m"]):
            with self.subTest(command=args[0]):
                r = self.fails(1, "backup", *args, env={"TMPDIR": missing})
                self.assertEqual(r.err.strip(), "error: The temporary folder %s (TMPDIR) does not exist; create it "
                                 "or set TMPDIR to a writable folder" % missing)
        afile = self.sb.path("tmp-file")
        open(afile, "w").close()
        r = self.fails(1, "backup", "create", env={"TMPDIR": afile})
        self.assertIn("The temporary folder %s (TMPDIR) is not a folder" % afile, r.err)
        self.ok("backup", "list", env={"TMPDIR": missing})  # commands that need no temporary copy work
        if os.geteuid() != 0:  # root writes anywhere
            locked = self.sb.path("ro-tmp")
            os.mkdir(locked, 0o500)
            r = self.fails(1, "backup", "verify", "m", env={"TMPDIR": locked})
            self.assertIn("The temporary folder %s (TMPDIR) is not writable" % locked, r.err)
        # list of a --dir that is a file, or a folder that cannot be read: an error, not "no backups"
        r = self.fails(1, "backup", "list", "--dir", afile)
        self.assertIn("Failed to access backup directory: %s: Not a directory" % afile, r.err)
        self.fails(1, "backup", "list", "--dir", afile, "--json")
        if os.geteuid() != 0:  # root reads anywhere
            unreadable = self.sb.path("unreadable")
            os.mkdir(unreadable, 0o300)
            r = self.fails(1, "backup", "list", "--dir", unreadable)
            self.assertIn("Failed to access backup directory: %s: Permission denied" % unreadable, r.err)
        # no private temporary path in any message
        path = os.path.join(self.sb.backup_dir, "m.db.gz")
        with open(path, "r+b") as f:
            f.seek(os.path.getsize(path) // 2)
            f.write(b"\x00garbage\xff" * 64)
        for args in (["verify", "m"], ["verify", "m", "--json"], ["restore", "m", "--force"]):
            r = self.sb.run("backup", *args)
            self.assertEqual(r.rc, 1, r)
            for text in (r.out, r.err):
                self.assertNotIn(self.sb.tmp, text)
                self.assertNotIn("hone-verify-", text)
                self.assertNotIn(".restore-", text)
        # the folders the program creates are all owner-only
        old = os.umask(0o022)
        try:
            deep = self.sb.path("d1", "d2", "backups")
            self.ok("backup", "create", "--name", "deep", "--dir", deep)
            restored = self.sb.path("r1", "r2", "hone.db")
            self.ok("backup", "restore", "deep", "--dir", deep, "--db", restored)
        finally:
            os.umask(old)
        for d in ("d1", "d1/d2", "d1/d2/backups", "r1", "r1/r2"):
            self.assertEqual(file_mode(self.sb.path(d)), 0o700, d)
        # --verbose shows every step
        r = self.ok("-v", "backup", "create", "--name", "steps")
        for step in ("export started", "compress started", "fsync", "renamed into " + self.sb.backup_dir):
            self.assertIn(step, r.err)

    # -- pre-restore copies are visible ----------------------------------------------------------
    def test_list_names_the_pre_restore_copies(self):
        self.demo(1, 4, 1)
        self.ok("backup", "create", "--name", "p")
        self.assertNotIn("pre-restore", self.ok("backup", "list").out)
        self.ok("backup", "restore", "p", "--force")
        copies = sorted(n for n in os.listdir(self.sb.data_dir) if ".pre-restore-" in n)
        self.assertEqual(len(copies), 1)
        size = sum(os.path.getsize(os.path.join(self.sb.data_dir, n)) for n in copies)
        last = self.ok("backup", "list").out.strip().splitlines()[-1]
        self.assertRegex(last, r"^1 pre-restore copy beside %s \(\d+(\.\d)? (B|KiB|MiB), not deleted "
                         r"automatically\): %s$"
                         % (re.escape(self.sb.db), re.escape(copies[0])))
        self.ok("backup", "list", "--json").json()  # --json stays the API's JSON
        time.sleep(1.1)  # another second: another copy
        self.ok("backup", "restore", "p", "--force")
        copies = sorted(n for n in os.listdir(self.sb.data_dir) if ".pre-restore-" in n)
        self.assertEqual(len(copies), 2, "nothing deletes them automatically")
        out = self.ok("backup", "list").out
        self.assertRegex(out.strip().splitlines()[-1], r"^2 pre-restore copies beside %s .*%s, %s$"
                         % (re.escape(self.sb.db), re.escape(copies[0]), re.escape(copies[1])))
        # also when the folder holds no backup, and for another database with --db
        self.ok("backup", "delete", "p")
        out = self.ok("backup", "list").out
        self.assertIn("No backups", out)
        self.assertIn("2 pre-restore copies", out)
        self.assertNotIn("pre-restore", self.ok("backup", "list", "--db", self.sb.path("other.db")).out)


class SystemdUnitsTest(unittest.TestCase):
    """examples/systemd: the passphrase comes from a credential file, never from the unit or its
    environment file. (As installed, with systemd-analyze: test_install.py.)"""

    DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "systemd")

    def read(self, name):
        with open(os.path.join(self.DIR, name)) as f:
            return f.read()

    def test_units(self):
        service = self.read("hone-backup.service")
        timer = self.read("hone-backup.timer")
        server = self.read("hone-backup-server.service")
        for unit in (service, server):
            self.assertRegex(unit, r"(?m)^EnvironmentFile=/etc/hone/hone\.env$")
            self.assertRegex(unit, r"(?m)^LoadCredential=db-key:/etc/hone/db-key$")
            self.assertNotRegex(unit, r"(?m)^Environment=.*HONE_DB_KEY=")
            self.assertNotRegex(unit, r"(?m)^Exec.*(KEY|key)")
        self.assertRegex(service, r"(?m)^Type=oneshot$")
        self.assertRegex(service, r"(?m)^ExecStart=/usr/local/bin/hone backup run$")
        self.assertRegex(timer, r"(?m)^OnCalendar=\*-\*-\* 02:00:00$")
        self.assertRegex(timer, r"(?m)^Persistent=true$")
        self.assertRegex(timer, r"(?m)^WantedBy=timers\.target$")
        self.assertRegex(server, r"(?m)^ExecStart=/usr/local/bin/hone serve")
        env = self.read("hone.env.example")
        self.assertNotRegex(env, r"(?m)^HONE_DB_KEY")
        self.assertRegex(env, r"(?m)^HONE_BACKUP_DIR=")


if __name__ == "__main__":
    hone_exe()
    honetest.main()

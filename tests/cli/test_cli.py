#!/usr/bin/env python3
"""The `hone` command line, run as a real subprocess in a scratch HOME.

Usage: test_cli.py PATH/TO/hone [unittest options]"""

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

from honetest import (OTHER_PASSPHRASE, PASSPHRASE, Sandbox, assert_no_key_material, derived_hex, file_mode,
                      hone_exe, unittest_argv)

AUTO_NAME = re.compile(r"^hone-\d{4}-\d{2}-\d{2}-\d{6}(-\d+)?\.db\.gz$")
BACKUP_FIELDS = {"name", "path", "size", "created_at", "encrypted", "compressed"}


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
        r = self.fails(1, "dashboard", env={"HONE_DB_KEY": OTHER_PASSPHRASE})
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
        for line in ("accounts:      4", "transactions:  321", "subscriptions: 5 active", "encrypted:     yes",
                     "compressed:    no"):
            self.assertIn(line, r.out)
        self.assertRegex(r.out, r"size:\s+\d+(\.\d)? (B|KiB|MiB) \(\d+ bytes\)")
        self.assertEqual(file_mode(path), 0o600)
        self.assertEqual(file_mode(self.sb.backup_dir), 0o700)

        r = self.ok("backup", "create", "--name", "before-upgrade", "--json")
        created = r.json()
        self.assertEqual(list(created), ["name", "path", "size", "created_at", "accounts", "transactions",
                                         "subscriptions", "encrypted", "compressed"])
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
        self.assertRegex(lines[1], r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\s+yes\s+no$")
        listed = self.ok("backup", "list", "--json").json()
        self.assertEqual({b["name"] for b in listed}, {name, "before-upgrade.db.gz"})
        for b in listed:
            self.assertEqual(set(b), BACKUP_FIELDS)
            self.assertRegex(b["created_at"], r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
            self.assertTrue(b["encrypted"])
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
        r = self.fails(1, "backup", "delete", name)
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
                r = self.fails(1, "backup", cmd[0], "nope.db.gz", *cmd[1:])
                self.assertIn("error: Backup not found: nope.db.gz", r.err)
                self.assertEqual(len(r.err.strip().splitlines()), 1, "one clear line: " + r.err)
        self.assertEqual(self.dashboard()["transactions"], 5)

    def test_wrong_key_on_verify_and_restore(self):
        self.demo(2, 40, 2)
        self.ok("backup", "create", "--name", "good")
        other = {"HONE_DB_KEY": OTHER_PASSPHRASE}
        r = self.fails(1, "backup", "verify", "good.db.gz", env=other)
        self.assertIn("Restore fails with encryption error", r.err)
        v = self.sb.run("backup", "verify", "good.db.gz", "--json", env=other)
        self.assertEqual(v.rc, 1)
        self.assertFalse(v.json()["valid"])
        r = self.fails(1, "backup", "restore", "good.db.gz", "--force", env=other)
        self.assertIn("Restore fails with encryption error", r.err)
        r = self.fails(1, "backup", "verify", "good.db.gz", unset=["HONE_DB_KEY"])
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
        self.fails(1, "backup", "verify", n1, "--dir", b, env=env)
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
        self.assertEqual(list(p), ["deleted_count", "deleted_names", "retained_count", "bytes_freed"])
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
            return any(n.startswith("hone-export-") for d in os.listdir(self.sb.tmp)
                       for n in os.listdir(os.path.join(self.sb.tmp, d)))

        rc, err = self._interrupt(["backup", "create"], exporting, signal.SIGINT)
        self.assertEqual(rc, 130, err)
        self.assertIn("error: interrupted (SIGINT)", err)
        self.assertEqual(os.listdir(self.sb.tmp), [], "the private temp folder is removed")
        self.assertEqual(self.sb.backups(), [])
        self.assertEqual(self.sb.run("backup", "list", "--json").json(), [])

        target = self.sb.path("big.db")
        rc, err = self._interrupt(["demo-db", "--db", target, "--transactions", "5000000"],
                                  lambda: any(".big.db.demo-" in n for n in os.listdir(self.sb.root)),
                                  signal.SIGTERM)
        self.assertEqual(rc, 143, err)
        self.assertFalse(os.path.exists(target))
        self.assertEqual([n for n in os.listdir(self.sb.root) if "big.db" in n], [])

    def test_missing_database(self):
        r = self.fails(1, "backup", "create")
        self.assertIn("Database not found: " + self.sb.db, r.err)
        r = self.fails(1, "dashboard")
        self.assertIn("Database not found", r.err)
        self.assertEqual(self.sb.backups(), [])

    def test_unencrypted_database(self):
        self.demo(2, 300, 2, unset=["HONE_DB_KEY"])
        with open(self.sb.db, "rb") as f:
            self.assertEqual(f.read(16), b"SQLite format 3\x00")
        c = self.ok("backup", "create", "--json", unset=["HONE_DB_KEY"]).json()
        self.assertFalse(c["encrypted"])
        self.assertTrue(c["compressed"])
        self.assertLess(c["size"], os.path.getsize(self.sb.db))
        listed = self.ok("backup", "list", "--json", unset=["HONE_DB_KEY"]).json()
        self.assertEqual((listed[0]["encrypted"], listed[0]["compressed"]), (False, True))
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
        self.assertIn("hone", self.ok("--version").out)
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
        v = self.ok("backup", "verify", c["name"], "--json", unset=["HONE_DB_KEY"]).json()
        self.assertEqual((v["accounts"], v["transactions"]), (None, None))
        d = self.ok("dashboard", "--db", db, "--json", unset=["HONE_DB_KEY"]).json()
        self.assertIsNone(d["accounts"])
        self.assertIn("no accounts table", self.ok("dashboard", "--db", db, unset=["HONE_DB_KEY"]).out)



class SystemdUnitsTest(unittest.TestCase):
    """examples/systemd: the key comes from an EnvironmentFile, never from the unit itself."""

    DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "systemd")

    def read(self, name):
        with open(os.path.join(self.DIR, name)) as f:
            return f.read()

    def test_units(self):
        service = self.read("hone-backup.service")
        timer = self.read("hone-backup.timer")
        server = self.read("hone.service")
        for unit in (service, server):
            self.assertRegex(unit, r"(?m)^EnvironmentFile=/etc/hone/hone\.env$")
            self.assertNotRegex(unit, r"(?m)^Environment=.*HONE_DB_KEY")
            self.assertNotRegex(unit, r"(?m)^Exec.*(KEY|key)")
        self.assertRegex(service, r"(?m)^Type=oneshot$")
        self.assertRegex(service, r"(?m)^ExecStart=\S*hone backup create$")
        self.assertRegex(service, r"(?m)^ExecStartPost=\S*hone backup prune --keep 7 -y$")
        self.assertRegex(timer, r"(?m)^OnCalendar=\*-\*-\* 02:00:00$")
        self.assertRegex(timer, r"(?m)^Persistent=true$")
        self.assertRegex(timer, r"(?m)^WantedBy=timers\.target$")
        self.assertRegex(server, r"(?m)^ExecStart=\S*hone serve")
        env = self.read("hone.env.example")
        self.assertRegex(env, r"(?m)^HONE_DB_KEY=")
        tool = shutil.which("systemd-analyze")
        if tool:
            with tempfile.TemporaryDirectory() as d:
                for n in ("hone-backup.service", "hone-backup.timer", "hone.service"):
                    shutil.copy(os.path.join(self.DIR, n), d)
                r = subprocess.run([tool, "verify", "--man=no", "hone-backup.service", "hone-backup.timer",
                                    "hone.service"], cwd=d, capture_output=True, text=True, timeout=120)
                problems = [l for l in (r.stdout + r.stderr).splitlines()
                            if l.strip() and "is not executable" not in l and "No such file" not in l]
                self.assertEqual(problems, [], r.stdout + r.stderr)


if __name__ == "__main__":
    hone_exe()
    unittest.main(argv=unittest_argv(), verbosity=2)

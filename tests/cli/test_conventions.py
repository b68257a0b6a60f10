#!/usr/bin/env python3
"""What scripts and operators rely on in the `hone` program: exit codes by class, JSON errors
(CLI and API), `latest`, the suggestion for a mistyped command, --quiet, no escape codes for
TERM=dumb / NO_COLOR, the shell completions and the man page, and pinned backups.

Usage: test_conventions.py PATH/TO/hone [unittest options]"""

import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import OTHER_PASSPHRASE, Server, file_mode, hone_exe

# The table of README "Exit codes" and docs/hone/Commands.md.
EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_LOCKED, EXIT_KEY, EXIT_OFFSITE, EXIT_STALE = 1, 2, 10, 11, 12, 13, 14


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Base(honetest.ServersTestCase):
    SANDBOX_TAG = "conv"

    def ok(self, *args, **kw):
        r = self.sb.run(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def fails(self, rc, *args, **kw):
        r = self.sb.run(*args, **kw)
        self.assertEqual(r.rc, rc, r)
        return r

    def json_error(self, rc, code, *args, **kw):
        """Runs a command with --json that must fail: exit code `rc`, and stdout is one JSON
        object whose "error" has `code` and a message."""
        r = self.fails(rc, *args, "--json", **kw)
        doc = json.loads(r.out)  # one JSON document, nothing else on stdout
        self.assertIsInstance(doc, dict, r)
        self.assertEqual(doc["error"]["code"], code, r)
        self.assertTrue(doc["error"]["message"], r)
        return doc

    def demo(self, **kw):
        return self.ok("demo-db", "--accounts", "1", "--transactions", "20", "--subscriptions", "1", **kw)

    def names(self, *args, **kw):
        return [b["name"] for b in self.ok("backup", "list", "--json", *args, **kw).json()]


class ExitCodes(Base):
    def test_not_found_is_10_with_a_json_error(self):
        self.demo()
        for cmd in (["show", "nope"], ["verify", "nope"], ["restore", "nope", "--force"], ["delete", "nope"],
                    ["pin", "nope"]):
            with self.subTest(command=cmd[0]):
                r = self.fails(EXIT_NOT_FOUND, "backup", *cmd)
                self.assertIn("error: Backup not found", r.err)
                self.json_error(EXIT_NOT_FOUND, "not_found", "backup", *cmd)
        # the database to back up
        self.json_error(EXIT_NOT_FOUND, "database_not_found", "backup", "create", "--db", self.sb.path("no.db"))

    def test_wrong_or_missing_key_is_12(self):
        self.demo()
        self.ok("backup", "create", "--name", "k")
        env = {"HONE_DB_KEY": OTHER_PASSPHRASE}
        doc = self.json_error(EXIT_KEY, "wrong_key", "backup", "verify", "k", env=env)
        self.assertFalse(doc["valid"])  # the verify result is kept, with the error beside it
        self.json_error(EXIT_KEY, "wrong_key", "backup", "restore", "k", "--force", env=env)
        self.json_error(EXIT_KEY, "key_required", "backup", "verify", "k", unset=["HONE_DB_KEY"])
        self.json_error(EXIT_KEY, "key_required", "backup", "create", unset=["HONE_DB_KEY"])
        r = self.fails(EXIT_KEY, "backup", "verify", "k", env=env)
        self.assertEqual(r.out, "", "without --json nothing is printed on stdout")

    def test_database_in_use_is_11(self):
        self.demo(unset=["HONE_DB_KEY"])  # WAL mode, like the original
        self.ok("backup", "create", "--name", "b", unset=["HONE_DB_KEY"])
        import sqlite3
        con = sqlite3.connect(self.sb.db)
        try:
            con.execute("SELECT COUNT(*) FROM accounts").fetchone()
            self.json_error(EXIT_LOCKED, "database_busy", "backup", "restore", "b", "--force",
                            unset=["HONE_DB_KEY"])
        finally:
            con.close()

    def test_offsite_failure_after_the_local_backup_is_13(self):
        self.demo()
        env = {"HONE_R2_BUCKET": "conv-bucket", "HONE_R2_ACCESS_KEY_ID": "AKIDCONV", "HONE_R2_SECRET_ACCESS_KEY":
               "conv-secret-key-0000", "HONE_R2_ENDPOINT": "http://127.0.0.1:%d" % closed_port(),
               "HONE_R2_TIMEOUT": "5"}
        doc = self.json_error(EXIT_OFFSITE, "offsite_failed", "backup", "create", "--name", "off", env=env,
                              timeout=120)
        self.assertEqual(doc["name"], "off.db.gz")  # the create result, with the error beside it
        self.assertFalse(doc["offsite"]["uploaded"])
        self.assertEqual(self.sb.backups(), ["off.db.gz"], "the local backup is kept")
        r = self.fails(EXIT_OFFSITE, "backup", "list", env=env, timeout=120)
        self.assertIn("off.db.gz", r.out)
        doc = self.json_error(EXIT_OFFSITE, "offsite_failed", "backup", "list", env=env, timeout=120)
        self.assertEqual([b["name"] for b in doc["backups"]], ["off.db.gz"])
        self.json_error(EXIT_OFFSITE, "offsite_failed", "backup", "prune", "--keep", "1", "-y", env=env,
                        timeout=120)

    def test_stale_or_missing_backup_is_14(self):
        doc = self.json_error(EXIT_STALE, "no_backup", "backup", "status")
        self.assertFalse(doc["ok"])
        self.demo()
        self.ok("backup", "create")
        self.ok("backup", "status", "--max-age", "1h")
        time.sleep(2.1)
        r = self.fails(EXIT_STALE, "backup", "status", "--max-age", "1s")
        self.assertIn("STALE", r.out.upper())
        doc = self.json_error(EXIT_STALE, "stale_backup", "backup", "status", "--max-age", "1s")
        self.assertTrue(doc["stale"])

    def test_usage_errors_are_2_and_json_when_asked(self):
        self.json_error(EXIT_USAGE, "usage", "backup", "list", "--no-such-option")
        self.json_error(EXIT_USAGE, "usage", "backup", "prune", "--keep", "0")
        self.json_error(EXIT_USAGE, "invalid_name", "backup", "create", "--name", "../x")
        r = self.fails(EXIT_USAGE, "backup", "list", "--no-such-option")
        self.assertEqual(r.out, "")

    def test_other_failures_stay_1(self):
        self.demo()
        self.ok("backup", "create", "--name", "x")
        self.json_error(EXIT_FAILURE, "already_exists", "backup", "create", "--name", "x")
        self.json_error(EXIT_FAILURE, "database_exists", "backup", "restore", "x")

    def test_help_footer_names_the_codes(self):
        out = self.ok("--help").out
        for code in ("10", "11", "12", "13", "14"):
            self.assertRegex(out, r"\b%s\b" % code)


class ApiErrorCodes(Base):
    def test_error_bodies_carry_the_cli_codes(self):
        self.demo()
        self.ok("backup", "create", "--name", "k")
        # A backup of another database, made with another key, in the same folder.
        other_db = self.sb.path("other.db")
        self.ok("demo-db", "--db", other_db, "--transactions", "20", env={"HONE_DB_KEY": OTHER_PASSPHRASE})
        self.ok("backup", "create", "--db", other_db, "--name", "foreign", env={"HONE_DB_KEY": OTHER_PASSPHRASE})
        srv = Server(self.sb)  # `hone serve` refuses to start with a wrong key
        self.servers.append(srv)
        status, body, _ = srv.request("GET", "/api/backup/nope")
        self.assertEqual((status, body["code"]), (404, "not_found"), body)
        self.assertIsInstance(body["error"], str)
        status, body, _ = srv.request("POST", "/api/backup/foreign/restore", {"force": True})
        self.assertEqual((status, body["code"]), (422, "wrong_key"), body)
        status, body, _ = srv.request("POST", "/api/backup", {"name": "../x"})
        self.assertEqual((status, body["code"]), (400, "invalid_name"), body)
        status, body, _ = srv.request("POST", "/api/backup", raw_body=b"{not json",
                                      headers={"Content-Type": "application/json"})
        self.assertEqual((status, body["code"]), (400, "invalid_argument"), body)
        status, body, _ = srv.request("POST", "/api/backup", raw_body=b"{}")
        self.assertEqual((status, body["code"]), (415, "unsupported_media_type"), body)
        status, body, _ = srv.request("POST", "/api/backup", {"name": "k"})
        self.assertEqual((status, body["code"]), (409, "already_exists"), body)


class Comforts(Base):
    def test_latest_names_the_newest_backup(self):
        self.json_error(EXIT_NOT_FOUND, "not_found", "backup", "show", "latest")
        self.demo()
        self.ok("backup", "create", "--name", "older")
        time.sleep(1.1)
        self.ok("backup", "create", "--name", "newer")
        self.assertEqual(self.ok("backup", "show", "latest", "--json").json()["name"], "newer.db.gz")
        self.assertIn("newer.db.gz", self.ok("backup", "verify", "latest").out)
        r = self.ok("backup", "restore", "latest", "--force", "--json")
        self.assertEqual(r.json()["backup_name"], "newer.db.gz")
        self.json_error(EXIT_USAGE, "invalid_name", "backup", "create", "--name", "latest")
        self.assertNotIn("latest.db.gz", self.sb.backups())

    def test_a_mistyped_command_gets_a_suggestion(self):
        for args, near in ((["backup", "craete"], "create"), (["bakup", "list"], "backup"),
                           (["backup", "verfy", "x"], "verify"), (["backup", "lst"], "list")):
            with self.subTest(args=args):
                r = self.fails(EXIT_USAGE, *args)
                self.assertIn("did you mean '%s'?" % near, r.err)
        r = self.fails(EXIT_USAGE, "backup", "zzzzzzzz")
        self.assertNotIn("did you mean", r.err)
        self.assertNotIn("zzzzzzzz", r.err, "a stray word is never echoed (it may be a passphrase)")

    def test_quiet_prints_errors_only(self):
        self.demo()
        r = self.ok("--quiet", "backup", "create", "--name", "q")
        self.assertEqual((r.out, r.err), ("", ""))
        self.assertEqual(self.sb.backups(), ["q.db.gz"])
        self.assertEqual(self.ok("backup", "list", "-q").out, "")
        self.assertEqual(self.ok("-q", "backup", "show", "q", "--json").json()["name"], "q.db.gz")
        r = self.fails(EXIT_NOT_FOUND, "-q", "backup", "show", "nope")
        self.assertIn("error: Backup not found", r.err)

    def prompt_then_interrupt(self, env):
        """Runs an interactive prune on a terminal, interrupts it at its question and returns
        everything it wrote to the terminal."""
        e = dict(self.sb.env)
        e.update(env)
        pid, fd = pty.fork()
        if pid == 0:
            os.execve(hone_exe(), [hone_exe(), "backup", "prune", "--keep", "1"], e)
        out = b""
        deadline = time.monotonic() + 60
        try:
            while b"[y/N]" not in out and time.monotonic() < deadline:
                if select.select([fd], [], [], 1)[0]:
                    out += os.read(fd, 4096)
            os.kill(pid, signal.SIGINT)
            while time.monotonic() < deadline:
                if not select.select([fd], [], [], 1)[0]:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            _, status = os.waitpid(pid, 0)
            os.close(fd)
        self.assertIn(b"[y/N]", out)
        self.assertEqual(os.waitstatus_to_exitcode(status), 128 + signal.SIGINT)
        return out

    def test_no_escape_codes_for_dumb_terminals_or_no_color(self):
        self.demo()
        self.ok("backup", "create", "--name", "a")
        self.ok("backup", "create", "--name", "b")
        self.assertIn(b"\x1b[K", self.prompt_then_interrupt({"TERM": "xterm"}), "a terminal gets its line erased")
        for env in ({"TERM": "dumb"}, {"TERM": "xterm", "NO_COLOR": "1"}):
            with self.subTest(env=env):
                self.assertNotIn(b"\x1b", self.prompt_then_interrupt(env))
        self.assertEqual(sorted(self.sb.backups()), ["a.db.gz", "b.db.gz"])


def help_words():
    """Every command and option the help of each command names (`hone ... --help`, walked from
    the top): ({"--dir", "-y", ...}, {"backup", "create", ...})."""
    options, commands, todo = set(), set(), [[]]
    while todo:
        path = todo.pop()
        text = subprocess.run([hone_exe()] + path + ["--help"], capture_output=True, timeout=60).stdout.decode()
        section = None
        for line in text.splitlines():
            if re.match(r"^\S.*:$", line):
                section = line
                continue
            m = re.match(r"^  (-\w,)?(--[\w-]+)", line)
            if section == "Options:" and m:
                options.add(m.group(2))
                if m.group(1):
                    options.add(m.group(1).rstrip(","))
            m = re.match(r"^  ([a-z][\w-]*)\s", line)
            if section == "Subcommands:" and m:
                commands.add(m.group(1))
                todo.append(path + [m.group(1)])
    return options, commands


class Completions(unittest.TestCase):
    def script(self, shell):
        r = subprocess.run([hone_exe(), "--completion", shell], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r)
        return r.stdout.decode()

    def test_every_command_and_option_is_completed(self):
        options, commands = help_words()
        self.assertTrue({"backup", "create", "prune", "pin", "unpin", "serve"} <= commands, commands)
        self.assertTrue({"--dir", "--json", "--quiet", "--keep-daily", "--max-age", "-y", "--pin"} <= options, options)
        for shell in ("bash", "zsh"):
            text = self.script(shell)
            words = set(re.findall(r"[\w-]+", text))
            with self.subTest(shell=shell):
                self.assertEqual(options - words, set(), "options missing from the %s completion" % shell)
                self.assertEqual(commands - words, set(), "commands missing from the %s completion" % shell)

    def complete_bash(self, line):
        """The candidates bash offers for `line` (the last word being completed)."""
        words = line.split(" ")
        with tempfile.NamedTemporaryFile("w", suffix=".bash", delete=False) as f:
            f.write(self.script("bash"))
        try:
            prog = 'source "$1"; COMP_WORDS=(%s); COMP_CWORD=%d; _hone; printf "%%s\\n" "${COMPREPLY[@]}"' % (
                " ".join("'%s'" % w for w in words), len(words) - 1)
            r = subprocess.run(["bash", "-c", prog, "bash", f.name], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r)
            return r.stdout.decode().split()
        finally:
            os.unlink(f.name)

    def test_bash_completes_commands_and_options(self):
        self.assertEqual(self.complete_bash("hone backup cr"), ["create"])
        self.assertEqual(sorted(self.complete_bash("hone backup p")), ["pin", "prune"])
        self.assertIn("--keep-daily", self.complete_bash("hone backup prune --keep"))
        self.assertIn("--pin", self.complete_bash("hone backup create --"))
        self.assertNotIn("--pin", self.complete_bash("hone backup list --"))
        self.assertEqual(self.complete_bash("hone ba"), ["backup"])

    def test_zsh_script_parses_and_completes(self):
        zsh = shutil.which("zsh")
        if not zsh:
            self.skipTest("zsh is not installed")
        with tempfile.NamedTemporaryFile("w", suffix=".zsh", delete=False) as f:
            f.write(self.script("zsh"))
        try:
            r = subprocess.run([zsh, "-n", f.name], capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r)

            def candidates(*typed):
                """What the script offers after `typed` (compadd stubbed to print its words)."""
                prog = ('compadd() { shift; print -l -- "$@" }; _files() { print FILES }; words=(%s ""); '
                        'CURRENT=%d; source "$1"' % (" ".join(typed), len(typed) + 1))
                r = subprocess.run([zsh, "-f", "-c", prog, "zsh", f.name], capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, r)
                return r.stdout.decode().split()

            self.assertIn("backup", candidates("hone"))
            self.assertIn("pin", candidates("hone", "backup"))
            self.assertIn("--pin", candidates("hone", "backup", "create"))
            self.assertNotIn("--pin", candidates("hone", "backup", "list"))
            self.assertEqual(candidates("hone", "backup", "list", "--dir"), ["FILES"])
        finally:
            os.unlink(f.name)

    def test_unknown_shell_is_a_usage_error(self):
        r = subprocess.run([hone_exe(), "--completion", "fish"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, EXIT_USAGE)


class Installed(unittest.TestCase):
    """The build writes the completions (and, with help2man, the man page) beside the program,
    and `cmake --install` installs them."""

    def build_dir(self):
        d = os.path.dirname(os.path.dirname(os.path.dirname(hone_exe())))  # <build>/examples/hone/hone
        if not os.path.isfile(os.path.join(d, "cmake_install.cmake")):
            self.skipTest("the program is not in a CMake build folder")
        return d

    def test_cmake_install_installs_man_page_and_completions(self):
        build = self.build_dir()
        share = os.path.join(os.path.dirname(hone_exe()), "share")
        if not os.path.isfile(os.path.join(share, "hone.bash")):
            self.skipTest("the completions were not generated (build the hone_share target)")
        prefix = tempfile.mkdtemp(prefix="hone-install-", dir=os.environ.get("HONE_TEST_SCRATCH"))
        try:
            r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            bash = os.path.join(prefix, "share", "bash-completion", "completions", "hone")
            zsh = os.path.join(prefix, "share", "zsh", "site-functions", "_hone")
            for f in (bash, zsh):
                self.assertTrue(os.path.isfile(f), f)
            with open(bash) as f:
                self.assertIn("complete -F _hone hone", f.read())
            man = os.path.join(prefix, "share", "man", "man1", "hone.1")
            if shutil.which("help2man"):
                with open(man) as f:
                    page = f.read()
                self.assertRegex(page, r"(?m)^\.TH HONE")
                for word in ("backup", "prune", "keep\\-daily", "max\\-age", "HONE_DB_KEY", "Exit codes"):
                    self.assertIn(word, page)
        finally:
            shutil.rmtree(prefix, ignore_errors=True)


class Pins(Base):
    def pins_doc(self):
        with open(os.path.join(self.sb.backup_dir, ".hone-pins.json")) as f:
            return json.load(f)

    def test_a_pinned_backup_survives_every_cli_prune(self):
        self.demo()
        for n in ("a", "b", "c"):
            self.ok("backup", "create", "--name", n)
            time.sleep(1.1)
        self.assertIn("Pinned a.db.gz", self.ok("backup", "pin", "a").out)
        self.assertIn("pinned already", self.ok("backup", "pin", "a.db.gz").out)
        self.assertEqual(self.pins_doc(), {"pinned": ["a.db.gz"]})
        self.assertEqual(file_mode(os.path.join(self.sb.backup_dir, ".hone-pins.json")), 0o600)
        listed = {b["name"]: b["pinned"] for b in self.ok("backup", "list", "--json").json()}
        self.assertEqual(listed, {"a.db.gz": True, "b.db.gz": False, "c.db.gz": False})
        table = self.ok("backup", "list").out.splitlines()
        self.assertRegex(table[0], r"\bPINNED$")
        self.assertRegex(next(l for l in table if l.startswith("a.db.gz")), r"\byes$")
        self.assertIn("pinned:        yes", self.ok("backup", "show", "a").out)
        dry = self.ok("backup", "prune", "--keep", "1", "--dry-run", "--json").json()
        self.assertEqual(dry["deleted_names"], ["b.db.gz"], "the pin is not counted: c is the 1 newest kept")
        self.ok("backup", "prune", "--keep", "1", "-y")
        self.assertEqual(self.sb.backups(), ["a.db.gz", "c.db.gz"])
        self.ok("backup", "prune", "--keep-daily", "1", "-y")
        self.assertEqual(self.sb.backups(), ["a.db.gz", "c.db.gz"])
        self.assertIn("Unpinned a.db.gz", self.ok("backup", "unpin", "a").out)
        self.assertIn("was not pinned", self.ok("backup", "unpin", "a").out)
        self.ok("backup", "prune", "--keep", "1", "-y")
        self.assertEqual(self.sb.backups(), ["c.db.gz"])

    def test_custom_names_are_counted_unless_pinned(self):
        self.demo()
        self.ok("backup", "create", "--name", "before-upgrade")
        time.sleep(1.1)
        self.ok("backup", "create")
        # The retention rules count a custom-named backup like any other (docs/hone/Scheduling.md).
        dry = self.ok("backup", "prune", "--keep", "1", "--dry-run", "--json").json()
        self.assertEqual(dry["deleted_names"], ["before-upgrade.db.gz"])
        # Kept on purpose: pinned when made.
        self.ok("backup", "delete", "before-upgrade")
        self.assertIn("pinned:        yes", self.ok("backup", "create", "--name", "before-upgrade", "--pin").out)
        time.sleep(1.1)
        self.ok("backup", "create")
        self.ok("backup", "prune", "--keep", "1", "-y")
        self.assertIn("before-upgrade.db.gz", self.sb.backups())
        self.assertEqual(len(self.sb.backups()), 2)

    def test_pins_survive_a_restart_and_bind_the_api_prune(self):
        self.demo()
        for n in ("a", "b", "c"):
            self.ok("backup", "create", "--name", n)
            time.sleep(1.1)
        self.ok("backup", "pin", "a")
        srv = Server(self.sb)
        self.servers.append(srv)
        status, body, _ = srv.request("GET", "/api/backup")
        self.assertEqual({b["name"]: b["pinned"] for b in body}["a.db.gz"], True)
        status, body, _ = srv.request("POST", "/api/backup/prune", {"keep": 1})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["deleted_names"], ["b.db.gz"])
        self.assertEqual(self.sb.backups(), ["a.db.gz", "c.db.gz"])

    def test_the_scheduler_keeps_pinned_backups(self):
        self.demo()
        interval = 0.0167 * 3600  # HONE_BACKUP_SCHEDULE=0.0167: the shortest interval
        for name, age in (("old", 2 * interval), ("keepme", interval - 2)):  # the next backup due in 2 s
            self.ok("backup", "create", "--name", name)
            t = time.time() - age
            os.utime(os.path.join(self.sb.backup_dir, name + ".db.gz"), (t, t))
        self.ok("backup", "pin", "keepme")
        # Retention 1: the cycle keeps its new backup, and the pinned one.
        srv = Server(self.sb, env={"HONE_BACKUP_SCHEDULE": "0.0167", "HONE_BACKUP_RETENTION": "1"})
        self.servers.append(srv)
        self.assertTrue(srv.wait_for("scheduler: scheduled prune:", timeout=120), srv.log())
        backups = self.sb.backups()
        self.assertIn("keepme.db.gz", backups)
        self.assertNotIn("old.db.gz", backups)
        self.assertEqual(len(backups), 2, backups)

    def test_delete_drops_the_pin_and_a_damaged_pins_file_stops_prune(self):
        self.demo()
        self.ok("backup", "create", "--name", "a")
        self.ok("backup", "pin", "a")
        self.ok("backup", "delete", "a")
        self.assertEqual(self.pins_doc(), {"pinned": []})
        self.json_error(EXIT_NOT_FOUND, "not_found", "backup", "unpin", "a")
        self.ok("backup", "create", "--name", "a")
        self.assertFalse(self.ok("backup", "show", "a", "--json").json()["pinned"])
        time.sleep(1.1)
        self.ok("backup", "create", "--name", "b")
        with open(os.path.join(self.sb.backup_dir, ".hone-pins.json"), "w") as f:
            f.write("{broken")
        r = self.fails(EXIT_FAILURE, "backup", "prune", "--keep", "1", "-y")
        self.assertIn(".hone-pins.json", r.err)
        self.assertEqual(self.sb.backups(), ["a.db.gz", "b.db.gz"], "nothing is deleted")


if __name__ == "__main__":
    honetest.main()

#!/usr/bin/env python3
"""`cmake --install` of the `hone` program and its systemd files (examples/systemd/), checked as
installed: the program runs from <prefix>/bin, `systemd-analyze verify` accepts the units against
that path, `systemd-analyze security --offline=true` rates each service's exposure at most 3.0,
and systemd-sysusers / systemd-tmpfiles create the user and the folders from the installed files.

Usage: test_install.py PATH/TO/hone [unittest options]; HONE_BUILD_DIR is the build folder."""

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from honetest import hone_exe, main

SERVICES = ("hone-backup.service", "hone-backup-server.service")
UNITS = SERVICES + ("hone-backup.timer",)
MAX_EXPOSURE = 3.0


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=300, **kw)


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = os.environ.get("HONE_BUILD_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(hone_exe())))
        cls.tmp = tempfile.TemporaryDirectory(prefix="hone-install-")
        cls.prefix = os.path.join(cls.tmp.name, "prefix")
        r = run("cmake", "--install", build, "--prefix", cls.prefix, "--component", "hone")
        if r.returncode != 0:
            raise AssertionError("cmake --install failed:\n" + r.stdout + r.stderr)
        cls.units = os.path.join(cls.prefix, "lib", "systemd", "system")
        cls.analyze = shutil.which("systemd-analyze")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def read(self, *parts):
        with open(os.path.join(self.prefix, *parts)) as f:
            return f.read()

    def test_program_installed(self):
        exe = os.path.join(self.prefix, "bin", "hone")
        self.assertTrue(os.access(exe, os.X_OK), exe)
        r = run(exe, "--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"\d+\.\d+\.\d+")

    def test_units_name_the_installed_program(self):
        exe = os.path.join(self.prefix, "bin", "hone")
        for unit in SERVICES:
            text = self.read("lib", "systemd", "system", unit)
            execs = re.findall(r"(?m)^ExecStart=(\S+)", text)
            self.assertEqual(execs, [exe], unit)
            families = re.findall(r"(?m)^RestrictAddressFamilies=(.*)$", text)
            self.assertEqual([set(f.split()) for f in families], [{"AF_UNIX", "AF_INET", "AF_INET6"}], unit)
            # the passphrase comes as a credential, never from the unit or its environment file
            self.assertRegex(text, r"(?m)^LoadCredential=db-key:/etc/hone/db-key$")
            self.assertRegex(text, r"(?m)^Environment=HONE_DB_KEY_FILE=%d/db-key$")
            self.assertNotRegex(text, r"(?m)^Environment=.*HONE_DB_KEY=")
        self.assertRegex(self.read("lib", "systemd", "system", "hone-backup.service"),
                         r"(?m)^ExecStart=\S+/hone backup run$")

    def test_systemd_analyze_verify(self):
        self.assertIsNotNone(self.analyze, "systemd-analyze is missing (Debian package systemd)")
        r = run(self.analyze, "verify", "--man=no", *UNITS, cwd=self.units)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "")

    def test_security_exposure(self):
        self.assertIsNotNone(self.analyze, "systemd-analyze is missing (Debian package systemd)")
        for unit in SERVICES:
            r = run(self.analyze, "security", "--offline=true", "--no-pager", unit, cwd=self.units)
            m = re.search(r"Overall exposure level for %s: (\d+\.\d)" % re.escape(unit), r.stdout)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            print("exposure %s: %s" % (unit, m.group(1)))
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)
            # and systemd's own threshold check agrees (the threshold is in tenths)
            r = run(self.analyze, "security", "--offline=true", "--threshold=%d" % (MAX_EXPOSURE * 10),
                    "--no-pager", unit, cwd=self.units)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr)

    def test_sysusers_and_tmpfiles(self):
        for tool in ("systemd-sysusers", "systemd-tmpfiles"):
            self.assertIsNotNone(shutil.which(tool), tool + " is missing (Debian package systemd)")
        root = os.path.join(self.tmp.name, "root")
        os.makedirs(os.path.join(root, "etc"), exist_ok=True)
        os.makedirs(os.path.join(root, "var", "backups"), exist_ok=True)
        r = run("systemd-sysusers", "--root=" + root, os.path.join(self.prefix, "lib", "sysusers.d", "hone.conf"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(root, "etc", "passwd")) as f:
            entry = [line.split(":") for line in f if line.startswith("hone:")]
        self.assertEqual(len(entry), 1, "sysusers made no hone user")
        uid, gid, home, shell = int(entry[0][2]), int(entry[0][3]), entry[0][5], entry[0][6].strip()
        self.assertLess(uid, 1000, "a system user")
        self.assertEqual((home, shell), ("/var/lib/hone", "/usr/sbin/nologin"))
        if os.geteuid() != 0:
            self.skipTest("systemd-tmpfiles --create chowns: needs root")
        r = run("systemd-tmpfiles", "--create", "--root=" + root,
                os.path.join(self.prefix, "lib", "tmpfiles.d", "hone.conf"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for d in ("var/lib/hone", "var/backups/hone"):
            st = os.stat(os.path.join(root, d))
            self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (uid, gid, 0o700), d)


if __name__ == "__main__":
    hone_exe()
    main()

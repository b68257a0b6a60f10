"""The library's age files against the age program, both ways: what age-tool (the library)
writes, `age -d` opens, and what `age -p` / `age -r` write, age-tool opens; for passphrases
(given to age through a pseudo-terminal, the only way it reads one) and X25519 identities.

Usage: test_age_interop.py PATH/TO/age-tool"""

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import honetest  # noqa: E402  (the shared main(): exit 77 when every test skipped)

PASSPHRASE = "interop-passphrase-5521"
SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 1024 * 1024 + 3]
AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
TIMEOUT = 60
PROMPT = re.compile(rb"(?:Enter|Confirm) passphrase[^:\n]*: ")  # age -p asks twice, age -d once


def tool(*args, data=b"", passphrase=None):
    env = dict(os.environ)
    env.pop("AGE_TOOL_PASSPHRASE", None)
    if passphrase is not None:
        env["AGE_TOOL_PASSPHRASE"] = passphrase
    return subprocess.run([honetest.hone_exe(), *args], input=data, capture_output=True, env=env, timeout=TIMEOUT)


def age_with_terminal(args, stdin_path, stdout_path, passphrase):
    """Runs age with a pseudo-terminal as its controlling terminal, answering each passphrase
    prompt; stdin and stdout are files. Returns (exit status, what it wrote to the terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: files for the data, the terminal for the prompts
        try:
            os.dup2(os.open(stdin_path, os.O_RDONLY), 0)
            os.dup2(os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
            os.execv(AGE, [AGE, *args])
        finally:
            os._exit(127)
    screen, answered = b"", 0
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            prompts = len(PROMPT.findall(screen))
            if prompts > answered:
                os.write(fd, passphrase.encode() + b"\n")
                answered += 1
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status), screen
        else:
            os.kill(pid, 9)
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status), screen
    finally:
        os.close(fd)


@unittest.skipUnless(AGE and AGE_KEYGEN, "the age program is not installed (scripts/setup.sh installs it)")
class AgeInterop(unittest.TestCase):
    def setUp(self):
        base = os.environ.get("HONE_TEST_SCRATCH")
        if base:
            os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="age-interop-", dir=base)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def test_library_x25519_files_open_with_age(self):
        identity = tool("keygen")
        self.assertEqual(identity.returncode, 0, identity.stderr)
        self.write("id.txt", identity.stdout)
        recipient = identity.stdout.decode().split("# public key: ")[1].split()[0]
        for size in SIZES:
            with self.subTest(size=size):
                plain = os.urandom(size)
                enc = tool("encrypt-x25519", recipient, data=plain)
                self.assertEqual(enc.returncode, 0, enc.stderr)
                self.assertTrue(enc.stdout.startswith(b"age-encryption.org/v1\n-> X25519 "))
                dec = subprocess.run([AGE, "-d", "-i", self.path("id.txt")], input=enc.stdout, capture_output=True,
                                     timeout=TIMEOUT)
                self.assertEqual(dec.returncode, 0, dec.stderr)
                self.assertEqual(dec.stdout, plain)

    def test_age_x25519_files_open_with_the_library(self):
        subprocess.run([AGE_KEYGEN, "-o", self.path("id.txt")], check=True, capture_output=True, timeout=TIMEOUT)
        other = tool("keygen").stdout
        self.write("other.txt", other)
        with open(self.path("id.txt")) as f:
            recipient = [l for l in f if l.startswith("# public key: ")][0].split()[-1]
        other_recipient = other.decode().split("# public key: ")[1].split()[0]
        for size in SIZES:
            with self.subTest(size=size):
                plain = os.urandom(size)
                # to two recipients: each identity opens it
                enc = subprocess.run([AGE, "-r", recipient, "-r", other_recipient], input=plain, capture_output=True,
                                     timeout=TIMEOUT, check=True).stdout
                for ident in ("id.txt", "other.txt"):
                    dec = tool("decrypt-x25519", self.path(ident), data=enc)
                    self.assertEqual(dec.returncode, 0, dec.stderr)
                    self.assertEqual(dec.stdout, plain)
        stranger = tool("keygen").stdout
        self.write("stranger.txt", stranger)
        dec = tool("decrypt-x25519", self.path("stranger.txt"), data=enc)
        self.assertEqual(dec.returncode, 1)
        self.assertIn(b"encryption:", dec.stderr)
        self.assertIn(b"wrong key", dec.stderr)

    def test_library_passphrase_files_open_with_age(self):
        for size in (0, 65536, 1024 * 1024 + 3):
            with self.subTest(size=size):
                plain = os.urandom(size)
                enc = tool("encrypt-passphrase", data=plain, passphrase=PASSPHRASE)
                self.assertEqual(enc.returncode, 0, enc.stderr)
                self.assertIn(b"\n-> scrypt ", enc.stdout[:100])
                self.write("lib.age", enc.stdout)
                status, screen = age_with_terminal(["-d"], self.path("lib.age"), self.path("out"), PASSPHRASE)
                self.assertEqual(status, 0, screen)
                self.assertEqual(self.read("out"), plain)
        status, screen = age_with_terminal(["-d"], self.path("lib.age"), self.path("out"), "not-the-passphrase")
        self.assertNotEqual(status, 0, screen)

    def test_age_passphrase_files_open_with_the_library(self):
        plain = os.urandom(200000)
        self.write("plain", plain)
        status, screen = age_with_terminal(["-p"], self.path("plain"), self.path("age.age"), PASSPHRASE)
        self.assertEqual(status, 0, screen)
        enc = self.read("age.age")
        self.assertIn(b" 18\n", enc[:100])  # age's default work factor, 2^18 (256 MiB)
        dec = tool("decrypt-passphrase", data=enc, passphrase=PASSPHRASE)
        self.assertEqual(dec.returncode, 0, dec.stderr)
        self.assertEqual(dec.stdout, plain)
        # a lower limit refuses it before running scrypt; a wrong passphrase is a wrong key
        capped = tool("decrypt-passphrase", "16", data=enc, passphrase=PASSPHRASE)
        self.assertEqual(capped.returncode, 1)
        self.assertIn(b"2^18 (256 MiB of memory) is above the limit 2^16", capped.stderr)
        wrong = tool("decrypt-passphrase", data=enc, passphrase="not-the-passphrase")
        self.assertEqual(wrong.returncode, 1)
        self.assertIn(b"wrong key", wrong.stderr)
        self.assertNotIn(b"not-the-passphrase", wrong.stderr)

    def test_damage_is_refused_by_both(self):
        identity = tool("keygen").stdout
        self.write("id.txt", identity)
        recipient = identity.decode().split("# public key: ")[1].split()[0]
        enc = bytearray(tool("encrypt-x25519", recipient, data=os.urandom(100000)).stdout)
        enc[-50] ^= 1
        dec = tool("decrypt-x25519", self.path("id.txt"), data=bytes(enc))
        self.assertEqual(dec.returncode, 1)
        self.assertIn(b"corrupt_backup: age chunk 1: authentication failed", dec.stderr)
        theirs = subprocess.run([AGE, "-d", "-i", self.path("id.txt")], input=bytes(enc), capture_output=True,
                                timeout=TIMEOUT)
        self.assertNotEqual(theirs.returncode, 0)


if __name__ == "__main__":
    honetest.main()

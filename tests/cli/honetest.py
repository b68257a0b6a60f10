"""Shared helpers of the `hone` program tests: a scratch HOME per test, running the real
executable, a `hone serve` process on a free loopback port, and a scan of everything the
program printed for key material. Python 3 standard library only."""

import http.client
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PASSPHRASE = "correct-horse-battery-staple-7319"
OTHER_PASSPHRASE = "a-different-passphrase-0426"
SALT = "hone-salt-v1-fix"

_HONE = None


def hone_exe():
    global _HONE
    if _HONE is None:
        exe = None
        for a in sys.argv[1:]:
            if not a.startswith("-"):
                exe = a
                break
        exe = exe or os.environ.get("HONE_EXE")
        if not exe or not os.access(exe, os.X_OK):
            raise SystemExit("usage: %s PATH/TO/hone  (or set HONE_EXE)" % sys.argv[0])
        _HONE = os.path.abspath(exe)
    return _HONE


def unittest_argv():
    """sys.argv without the executable path, for unittest.main()."""
    exe = hone_exe()
    return [sys.argv[0]] + [a for a in sys.argv[1:] if os.path.abspath(a) != exe]


SKIPPED_EXIT_CODE = 77  # ctest's SKIP_RETURN_CODE for the cli tests (tests/cli/CMakeLists.txt)


def main(argv=None):
    """unittest.main() that prints the case counts (`hone-test: cases: ...`, which
    scripts/test.sh adds up) and the reason of each skip, and whose exit code tells ctest when
    every test was skipped (77), so that a file skipped for a missing server is counted as
    skipped, not as passed."""
    result = unittest.main(argv=argv or unittest_argv(), verbosity=2, exit=False).result
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    print("hone-test: cases: %d passed, %d failed, %d skipped" % (result.testsRun - failed - skipped, failed, skipped))
    for reason in sorted({why for _, why in result.skipped}):
        print("skipped: " + reason)
    if not result.wasSuccessful():
        sys.exit(1)
    if result.testsRun > 0 and skipped == result.testsRun:
        sys.exit(SKIPPED_EXIT_CODE)
    sys.exit(0)


def derived_hex(passphrase):
    """The original's Argon2id key as lower-case hex, from Debian's `argon2` tool (None if the
    tool is missing)."""
    tool = shutil.which("argon2")
    if not tool:
        return None
    r = subprocess.run([tool, SALT, "-id", "-t", "2", "-k", "19456", "-p", "1", "-l", "32", "-r"],
                       input=passphrase.encode(), capture_output=True, timeout=60)
    if r.returncode != 0:
        return None
    h = r.stdout.decode().strip().lower()
    return h if re.fullmatch(r"[0-9a-f]{64}", h) else None


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "hone %s -> rc=%s\n--- stdout\n%s--- stderr\n%s" % (" ".join(self.args), self.rc, self.out, self.err)


class Sandbox:
    """A scratch HOME (and TMPDIR) with a clean environment: nothing of the real HOME is used."""

    def __init__(self, passphrase=PASSPHRASE, tag="t"):
        base = os.environ.get("HONE_TEST_SCRATCH")
        if base:
            os.makedirs(base, exist_ok=True)
        self.root = tempfile.mkdtemp(prefix="hone-%s-" % tag, dir=base)
        self.home = os.path.join(self.root, "home")
        self.tmp = os.path.join(self.root, "tmp")
        os.makedirs(self.home)
        os.makedirs(self.tmp)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "TMPDIR": self.tmp,
            "LANG": "C.UTF-8",
        }
        if passphrase:
            self.env["HONE_DB_KEY"] = passphrase
        self.transcript = []  # every stdout/stderr the program produced, for the key scan

    # Default locations (Linux: $XDG_DATA_HOME/hone or ~/.local/share/hone).
    @property
    def data_dir(self):
        return os.path.join(self.home, ".local", "share", "hone")

    @property
    def backup_dir(self):
        return os.path.join(self.data_dir, "backups")

    @property
    def db(self):
        return os.path.join(self.data_dir, "hone.db")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def run(self, *args, env=None, unset=(), stdin=subprocess.DEVNULL, timeout=300):
        e = dict(self.env)
        e.update(env or {})
        for k in unset:
            e.pop(k, None)
        p = subprocess.run([hone_exe()] + list(args), env=e, stdin=stdin, capture_output=True, timeout=timeout)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        self.transcript.append(out)
        self.transcript.append(err)
        return Result(list(args), p.returncode, out, err)

    def backups(self, folder=None):
        """Names of the backup files in the folder (hidden files excluded)."""
        folder = folder or self.backup_dir
        if not os.path.isdir(folder):
            return []
        return sorted(n for n in os.listdir(folder) if not n.startswith(".") and n.endswith(".db.gz"))

    def cleanup(self):
        shutil.rmtree(self.root, ignore_errors=True)


def assert_no_key_material(testcase, texts, passphrases=(PASSPHRASE, OTHER_PASSPHRASE)):
    """Fails when any passphrase, or the Argon2id-derived hex of one, appears in `texts`."""
    needles = []
    for p in passphrases:
        needles.append(p)
        h = derived_hex(p)
        if h:
            needles += [h, h.upper()]
    blob = "\n".join(texts)
    for n in needles:
        testcase.assertNotIn(n, blob, "key material found in the program's output")


def file_mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class Server:
    """`hone serve --port 0` on loopback; reads the port from its startup line."""

    LISTEN_RE = re.compile(r"listening on http://(\[[^\]]+\]|[0-9.]+):(\d+)")

    def __init__(self, sandbox, *args, env=None, unset=(), wait=True):
        self.sandbox = sandbox
        e = dict(sandbox.env)
        e.update(env or {})
        for k in unset:
            e.pop(k, None)
        cmd = [hone_exe(), "serve", "--port", "0"] + list(args)
        self.proc = subprocess.Popen(cmd, env=e, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.stdout = ""
        self._cv = threading.Condition()
        self._eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._out_reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._out_reader.start()
        self.host = self.port = None
        if wait:
            m = self.wait_for(self.LISTEN_RE, timeout=120)
            if not m:
                self.stop()
                raise AssertionError("server did not start:\n" + self.log())
            self.host, self.port = m.group(1).strip("[]"), int(m.group(2))

    def exit_code(self, timeout=60):
        """For a server expected to refuse to start: its exit code, or None when it still runs
        after `timeout` seconds; the server is stopped either way."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            self.stop()

    def _read(self):
        for raw in self.proc.stderr:
            with self._cv:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self._eof = True
            self._cv.notify_all()

    def _read_stdout(self):
        data = self.proc.stdout.read()
        self.stdout = data.decode("utf-8", "replace")

    def log(self):
        with self._cv:
            return "\n".join(self.lines) + "\n"

    def count(self, needle):
        with self._cv:
            return sum(1 for l in self.lines if needle in l)

    def logged(self, pattern, count=1, timeout=30):
        """True once `count` log lines match `pattern`. A request's log line is written after its
        response is sent, so a test that has its answer waits for the line rather than reading
        the log at once."""
        return self.wait_for(pattern, count, timeout) is not None

    def wait_for(self, pattern, count=1, timeout=60):
        """Waits until `count` log lines match `pattern` (a regex or a substring); returns the
        last match (a re.Match, or the line), or None on timeout / process exit."""
        rx = pattern if hasattr(pattern, "search") else re.compile(re.escape(pattern))
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                hits = [m for m in (rx.search(l) for l in self.lines) if m]
                if len(hits) >= count:
                    return hits[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cv.wait(min(left, 0.5))

    def get_text(self, path, headers=None):
        """GET of a text (not JSON) resource: (status, body as str, headers with lower-case names)."""
        c = self.connection()
        try:
            c.request("GET", path, headers=headers or {})
            r = c.getresponse()
            body = r.read().decode("utf-8")
            self.sandbox.transcript.append(body)
            return r.status, body, {k.lower(): v for k, v in r.getheaders()}
        finally:
            c.close()

    def connection(self, timeout=300):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None, raw_body=None):
        """Sends one request; returns (status, parsed JSON or None, response headers dict)."""
        own = conn is None
        c = conn or self.connection()
        h = dict(headers or {})
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            text = payload.decode("utf-8", "replace")
            self.sandbox.transcript.append(text)
            try:
                parsed = json.loads(text) if text.strip() else None
            except ValueError:
                parsed = None
            return r.status, parsed, {k.lower(): v for k, v in r.getheaders()}
        finally:
            if own:
                c.close()

    def stop(self, sig=signal.SIGTERM, timeout=120):
        """Signals the server and waits for it; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join(timeout=10)
        self._out_reader.join(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        self.sandbox.transcript.append(self.log())
        self.sandbox.transcript.append(self.stdout)
        return rc


class ServersTestCase(unittest.TestCase):
    """A test case with a fresh Sandbox (tagged SANDBOX_TAG) per test and servers started with
    start(); tearDown stops them and checks everything printed for key material."""

    SANDBOX_TAG = "srv"

    def setUp(self):
        self.sb = Sandbox(tag=self.SANDBOX_TAG)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        assert_no_key_material(self, self.sb.transcript + [s.log() for s in self.servers])
        self.sb.cleanup()

    def start(self, *args, **kw):
        s = Server(self.sb, *args, **kw)
        self.servers.append(s)
        return s


def percentile(values, p):
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]

#!/usr/bin/env python3
"""The defences of `hone serve` against web pages and idle clients, over real sockets: JSON
bodies only (415), no cross-origin requests (403), only loopback and configured Host names (421,
DNS rebinding), the token checked before the body is read, a deadline for request headers (idle
connections lock nobody out), and the key out of the environment with no core dumps.

Usage: test_rest_security.py PATH/TO/hone [unittest options]"""

import json
import os
import select
import socket
import sys
import time
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
from honetest import PASSPHRASE, ServersTestCase

JSON = "application/json"
TOKEN = "tok-9c41e0a7-security-test"


def read_response(sock):
    """Reads one HTTP response from `sock`: (status, {lower-case header: value}, body bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before a response header: %r" % data)
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request_bytes(method, path, headers, body=b""):
    """A raw HTTP/1.1 request: `headers` is a list of (name, value), sent as given (no Host is
    added)."""
    lines = ["%s %s HTTP/1.1" % (method, path)] + ["%s: %s" % hv for hv in headers]
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SecurityTestCase(ServersTestCase):
    SANDBOX_TAG = "sec"

    def setUp(self):
        super().setUp()
        r = self.sb.run("demo-db", "--accounts", "2", "--transactions", "50", "--subscriptions", "2")
        self.assertEqual(r.rc, 0, r)

    def raw(self, srv, method, path, headers, body=b"", host="default"):
        """Sends one raw request on a new connection; returns (status, parsed JSON body, headers).
        `host` "default" sends Host: 127.0.0.1:PORT, None sends none."""
        hs = list(headers)
        if host == "default":
            hs.insert(0, ("Host", "127.0.0.1:%d" % srv.port))
        elif host is not None:
            hs.insert(0, ("Host", host))
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            s.sendall(request_bytes(method, path, hs, body))
            st, h, b = read_response(s)
        text = b.decode("utf-8", "replace")
        self.sb.transcript.append(text)
        return st, (json.loads(text) if text.strip() else None), h

    def assertRefused(self, status, result, contains=None):
        st, j, h = result
        self.assertEqual(st, status, j)
        self.assertEqual(list(j), ["error"], j)
        self.assertEqual(h.get("content-type"), JSON)
        if contains:
            self.assertIn(contains, j["error"])


class CrossSiteTest(SecurityTestCase):
    """Issue: a web page's text/plain POST with a foreign Origin created, pruned and restored."""

    def test_cross_site_requests_change_nothing(self):
        s = self.start()
        port = s.port
        for name in ("keep-a", "keep-b", "keep-c"):
            st, j, _ = s.request("POST", "/api/backup", {"name": name})  # JSON, no Origin: works
            self.assertEqual(st, 201, j)
        before = self.sb.backups()
        self.assertEqual(len(before), 3)
        with open(self.sb.db, "rb") as f:
            db_before = f.read()
        evil = ("Origin", "http://evil.example")
        plain = ("Content-Type", "text/plain;charset=UTF-8")
        attempts = [
            ("POST", "/api/backup", [plain, evil], b'{"name": "evil"}'),
            ("POST", "/api/backup", [plain, evil], b""),
            ("POST", "/api/backup", [evil], b""),
            ("POST", "/api/backup", [("Content-Type", JSON), evil], b'{"name": "evil"}'),
            ("POST", "/api/backup/prune", [plain, evil], b'{"keep": 1}'),
            ("POST", "/api/backup/prune", [plain, evil], b""),
            ("POST", "/api/backup/prune", [evil], b""),
            ("POST", "/api/backup/keep-a.db.gz/restore", [plain, evil], b'{"force": true}'),
            ("POST", "/api/backup/keep-a.db.gz/restore", [("Content-Type", JSON), evil], b'{"force": true}'),
            ("DELETE", "/api/backup/keep-b.db.gz", [evil], b""),
            ("POST", "/api/backup", [("Content-Type", JSON), ("Origin", "null")], b"{}"),
            ("POST", "/api/backup", [("Content-Type", JSON), ("Origin", "http://127.0.0.1:%d" % (port + 1))], b"{}"),
            ("POST", "/api/backup", [("Content-Type", JSON), ("Origin", "http://localhost:%d" % port)], b"{}"),
            ("POST", "/api/backup", [("Content-Type", JSON), ("Origin", "http://127.0.0.1:%d.evil.example" % port)],
             b"{}"),
            ("POST", "/api/backup", [("Content-Type", JSON), ("Origin", "http://127.0.0.1:%d" % port),
                                     ("Origin", "http://evil.example")], b"{}"),
        ]
        for method, path, headers, body in attempts:
            with self.subTest(method=method, path=path, headers=headers, body=body):
                self.assertRefused(403, self.raw(s, method, path, headers, body), "Cross-origin")
        # Without an Origin (curl, scripts): a body must still be JSON.
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                      "application/jsonx", "text/json", None):
            with self.subTest(ctype=ctype):
                headers = [("Content-Type", ctype)] if ctype else []
                self.assertRefused(415, self.raw(s, "POST", "/api/backup/prune", headers, b'{"keep": 1}'),
                                   "application/json")
                self.assertRefused(415, self.raw(s, "POST", "/api/backup", headers, b'{"name": "plain"}'))
        # ...and no Content-Type but JSON on a request without a body (a form post has one).
        self.assertRefused(415, self.raw(s, "POST", "/api/backup/prune", [("Content-Type", "text/plain")]))
        self.assertRefused(415, self.raw(s, "DELETE", "/api/backup/keep-c.db.gz", [("Content-Type", "text/plain")]))
        self.assertRefused(415, self.raw(s, "POST", "/api/backup", [("Content-Type", JSON), ("Content-Type", JSON)],
                                         b"{}"))
        self.assertEqual(self.sb.backups(), before, "nothing created, pruned or deleted")
        with open(self.sb.db, "rb") as f:
            self.assertEqual(f.read(), db_before, "nothing restored")
        self.assertFalse([n for n in os.listdir(self.sb.data_dir) if ".pre-restore-" in n])
        self.assertTrue(s.logged(" 201 ", 3), s.log())
        self.assertEqual(s.count(" 201 "), 3, s.log())
        self.assertTrue(s.logged("refused Origin http://evil.example"), s.log())

        # The server's own origin, and JSON with parameters or in other case, are fine.
        st, j, _ = self.raw(s, "POST", "/api/backup", [("Content-Type", "application/json; charset=utf-8"),
                                                         ("Origin", "http://127.0.0.1:%d" % port)], b'{"name": "own"}')
        self.assertEqual((st, j.get("name")), (201, "own.db.gz"), j)
        st, j, _ = self.raw(s, "POST", "/api/backup/prune", [("Content-Type", "Application/JSON"),
                                                               ("Origin", "http://localhost:%d" % port)],
                            b'{"keep": 3}', host="localhost:%d" % port)
        self.assertEqual((st, j.get("deleted_count")), (200, 1), j)
        st, j, _ = self.raw(s, "POST", "/api/backup/prune", [], b"")  # no body, no Content-Type
        self.assertEqual((st, j.get("deleted_count")), (200, 0), j)
        st, j, _ = self.raw(s, "DELETE", "/api/backup/keep-c.db.gz", [])
        self.assertEqual(st, 200, j)
        st, j, _ = self.raw(s, "GET", "/api/backup", [("Origin", "http://127.0.0.1:%d" % port)])
        self.assertEqual(st, 200, j)
        self.assertRefused(403, self.raw(s, "GET", "/api/backup", [evil]))


class HostTest(SecurityTestCase):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 still sends its own name as Host."""

    def test_host_names(self):
        s = self.start()
        p = s.port
        for host in ("127.0.0.1:%d" % p, "127.0.0.1", "localhost:%d" % p, "localhost", "LocalHost:%d" % p,
                     "localhost.:%d" % p, "[::1]:%d" % p, "[::1]", "127.1.2.3:%d" % p, " localhost:%d " % p):
            with self.subTest(host=host):
                st, j, _ = self.raw(s, "GET", "/api/backup", [], host=host)
                self.assertEqual(st, 200, j)
        for host in ("evil.example", "evil.example:%d" % p, "localhost.evil.example:%d" % p,
                     "127.0.0.1.nip.io:%d" % p, "10.0.0.1:%d" % p, "[::2]:%d" % p, "0.0.0.0:%d" % p):
            with self.subTest(host=host):
                self.assertRefused(421, self.raw(s, "GET", "/api/backup", [], host=host), "DNS-rebinding")
        for host in ("", "local host", "localhost:port", "[::1", "a/b"):
            with self.subTest(host=host):
                self.assertRefused(400, self.raw(s, "GET", "/api/backup", [], host=host), "Host")
        self.assertRefused(400, self.raw(s, "GET", "/api/backup", [], host=None), "Missing Host")
        self.assertRefused(400, self.raw(s, "GET", "/api/backup", [("Host", "localhost")]), "More than one Host")
        # HTTP/1.0 has no Host: allowed
        with socket.create_connection(("127.0.0.1", p), timeout=30) as c:
            c.sendall(b"GET /api/backup HTTP/1.0\r\n\r\n")
            self.assertEqual(read_response(c)[0], 200)
        # The rebinding attack itself: same "origin" as far as the page knows, refused by Host.
        st, j, _ = self.raw(s, "POST", "/api/backup",
                            [("Content-Type", JSON), ("Origin", "http://evil.example:%d" % p)], b'{"name": "rebound"}',
                            host="evil.example:%d" % p)
        self.assertRefused(421, (st, j, _))
        self.assertEqual(self.sb.backups(), [])
        self.assertTrue(s.logged("refused Host evil.example"), s.log())

    def test_allowed_hosts(self):
        s = self.start(env={"HONE_ALLOWED_HOSTS": "backup.example.com, Proxy.Internal:8443 [fd00::7]"})
        self.assertTrue(s.logged("backup.example.com (HONE_ALLOWED_HOSTS)"), s.log())
        for host in ("backup.example.com", "backup.example.com:443", "proxy.internal", "[fd00::7]:8080"):
            with self.subTest(host=host):
                st, j, _ = self.raw(s, "GET", "/api/backup", [], host=host)
                self.assertEqual(st, 200, j)
        self.assertRefused(421, self.raw(s, "GET", "/api/backup", [], host="evil.example"))
        # A proxy that rewrites Host: its own name is accepted as the Origin.
        st, j, _ = self.raw(s, "POST", "/api/backup", [("Content-Type", JSON), ("Origin", "https://backup.example.com")],
                            b'{"name": "via-proxy"}')
        self.assertEqual(st, 201, j)
        self.assertRefused(403, self.raw(s, "POST", "/api/backup",
                                         [("Content-Type", JSON), ("Origin", "https://evil.example")], b"{}"))
        r = self.sb.run("serve", "--port", "0", env={"HONE_ALLOWED_HOSTS": "good.example,bad/name"}, timeout=60)
        self.assertEqual(r.rc, 2, r)
        self.assertIn("HONE_ALLOWED_HOSTS", r.err)

    def test_any_address_with_token(self):
        s = self.start("--host", "0.0.0.0", env={"HONE_API_TOKEN": TOKEN})
        auth = ("Authorization", "Bearer " + TOKEN)
        # Bound to every address: any IP literal names this machine; other names need
        # HONE_ALLOWED_HOSTS.
        for host in ("192.0.2.10:%d" % s.port, "[2001:db8::1]:%d" % s.port, "localhost:%d" % s.port):
            with self.subTest(host=host):
                st, j, _ = self.raw(s, "GET", "/api/backup", [auth], host=host)
                self.assertEqual(st, 200, j)
        self.assertRefused(421, self.raw(s, "GET", "/api/backup", [auth], host="evil.example:%d" % s.port))


class EarlyAnswerTest(SecurityTestCase):
    """Refusals come straight after the header: the body is never waited for."""

    def early(self, srv, headers, path="/api/backup"):
        """Sends only a header announcing a 1 MB body; returns (status, JSON, seconds to the
        answer, whether the server then closed the connection)."""
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as c:
            t0 = time.monotonic()
            c.sendall(request_bytes("POST", path, [("Host", "127.0.0.1:%d" % srv.port)] + headers))
            st, h, b = read_response(c)
            elapsed = time.monotonic() - t0
            c.settimeout(10)
            try:
                closed = c.recv(1) == b""
            except (ConnectionResetError, socket.timeout):
                closed = False
        return st, json.loads(b), elapsed, closed

    def test_refused_before_the_body(self):
        s = self.start(env={"HONE_API_TOKEN": TOKEN})
        big = [("Content-Type", JSON), ("Content-Length", "1000000")]
        auth = ("Authorization", "Bearer " + TOKEN)
        cases = [
            ("no token", big, 401),
            ("wrong token", big + [("Authorization", "Bearer nope")], 401),
            ("no token, Expect: 100-continue", big + [("Expect", "100-continue")], 401),
            ("foreign Origin", big + [auth, ("Origin", "http://evil.example")], 403),
            ("text/plain", [("Content-Type", "text/plain"), ("Content-Length", "1000000"), auth], 415),
            ("announced length over 64 KiB", big + [auth], 413),
        ]
        for label, headers, status in cases:
            with self.subTest(label):
                st, j, elapsed, closed = self.early(s, headers)
                print("  %-32s -> %d in %.1f ms" % (label, st, elapsed * 1000), file=sys.stderr)
                self.assertEqual(st, status, j)
                self.assertEqual(list(j), ["error"])
                self.assertLess(elapsed, 2.0)
                self.assertTrue(closed, "the connection is closed after a refusal")
        # A chunked body over the limit is refused as it arrives.
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
            c.sendall(request_bytes("POST", "/api/backup/verify", [("Host", "localhost"), ("Content-Type", JSON),
                                                                   ("Transfer-Encoding", "chunked"), auth]))
            c.sendall(b"%x\r\n%s\r\n" % (70 * 1024, b" " * (70 * 1024)))
            self.assertEqual(read_response(c)[0], 413)
        self.assertEqual(self.sb.backups(), [])
        st, j, _ = self.raw(s, "POST", "/api/backup", [auth, ("Content-Type", JSON)], b'{"name": "ok"}')
        self.assertEqual(st, 201, j)


class IdleConnectionTest(SecurityTestCase):
    """Issue: 130 half-open connections answered everyone else 503 for 30 s."""

    IDLE = 150

    def test_idle_connections_lock_nobody_out(self):
        s = self.start()
        idle = []
        t_open = time.monotonic()
        for i in range(self.IDLE):
            c = socket.create_connection(("127.0.0.1", s.port), timeout=30)
            if i % 3 == 0:  # a third send a partial header, the others nothing
                c.sendall(b"GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            idle.append(c)
        # A keep-alive connection that made one request and then went quiet.
        kept = s.connection()
        st, _, _ = s.request("GET", "/api/backup", conn=kept)
        self.assertEqual(st, 200)
        time.sleep(0.5)  # let the server accept them all

        times = []
        for _ in range(5):
            t0 = time.monotonic()
            st, j, _ = s.request("GET", "/api/backup")
            times.append(time.monotonic() - t0)
            self.assertEqual(st, 200, j)
        t0 = time.monotonic()
        st, j, _ = s.request("POST", "/api/backup", {"name": "while-flooded"})
        create_time = time.monotonic() - t0
        self.assertEqual(st, 201, j)
        print("  %d idle connections open: GET /api/backup answered in %s ms (max %.1f ms); POST in %.1f ms" %
              (self.IDLE, ", ".join("%.1f" % (t * 1000) for t in times), max(times) * 1000, create_time * 1000),
              file=sys.stderr)
        self.assertLess(max(times), 3.0, "an idle flood must not delay a request")
        self.assertEqual(s.count(" 503 "), 0, s.log())

        # Every idle connection is closed by the header deadline (10 s) at the latest.
        waiting = {c: i for i, c in enumerate(idle + [kept.sock])}
        closed_at = []
        while waiting:
            left = 20 - (time.monotonic() - t_open)
            if left <= 0:
                self.fail("%d idle connections still open after 20 s" % len(waiting))
            ready, _, _ = select.select(list(waiting), [], [], left)
            for c in ready:
                try:
                    data = c.recv(4096)
                except ConnectionResetError:
                    data = b""
                self.assertEqual(data, b"", "nothing is sent on an idle connection before it is closed")
                closed_at.append(time.monotonic() - t_open)
                del waiting[c]
        for c in idle:
            c.close()
        kept.close()
        early = sum(1 for t in closed_at if t < 5)
        print("  idle connections closed: %d within 5 s (to make room), the other %d by %.1f s (header deadline "
              "10 s)" % (early, len(closed_at) - early, max(closed_at)), file=sys.stderr)
        self.assertLess(max(closed_at), 15.0)
        # The server is still answering normally.
        st, _, _ = s.request("GET", "/api/backup")
        self.assertEqual(st, 200)


class ProcessTest(SecurityTestCase):
    """The idle server keeps no key in its environment and cannot dump core."""

    def test_key_not_in_environment_and_no_core_dumps(self):
        s = self.start(env={"HONE_API_TOKEN": TOKEN})
        pid = s.proc.pid
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                environ = f.read()
        except PermissionError:
            environ = None  # not dumpable: only root may read it
        if environ is not None:
            self.assertNotIn(PASSPHRASE.encode(), environ)
            self.assertNotIn(TOKEN.encode(), environ)
            self.assertIn(b"HOME=", environ, "the rest of the environment is intact")
            for var in environ.split(b"\0"):
                if var.startswith((b"HONE_DB_KEY=", b"HONE_API_TOKEN=")):
                    self.assertEqual(var.split(b"=", 1)[1].strip(b"\0"), b"", "the value is overwritten")
        if os.getuid() != 0:
            self.assertEqual(os.stat("/proc/%d/environ" % pid).st_uid, 0, "not dumpable: /proc files owned by root")
        with open("/proc/%d/limits" % pid) as f:
            core = [l for l in f if l.startswith("Max core file size")]
        self.assertEqual(core[0].split()[4:6], ["0", "0"], core)
        # The key and the token still work: they were kept in memory.
        st, j, _ = s.request("POST", "/api/backup", {"name": "after-drop"},
                             headers={"Authorization": "Bearer " + TOKEN})
        self.assertEqual((st, j.get("encrypted")), (201, True), j)
        r = self.sb.run("backup", "verify", "after-drop.db.gz")
        self.assertEqual(r.rc, 0, r)


if __name__ == "__main__":
    honetest.main()

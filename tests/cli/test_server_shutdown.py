"""`hone serve` shuts down with connections open in every state: every connection thread ends
and is joined before the process exits, and nothing holds the shutdown up beyond the read
timeout of a request whose body stalls.

Usage: test_server_shutdown.py PATH/TO/hone"""

import os
import re
import socket
import time
import unittest

import honetest  # noqa: E402
from honetest import ServersTestCase, hone_exe


def read_response(sock):
    """Reads one response with a Content-Length body; returns (status, raw bytes)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, head + b"\r\n\r\n" + body


def closed_by_server(sock, timeout=60):
    """True when the server closes the connection (EOF or reset) within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def threads_of(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return None


class ShutdownWithOpenConnections(ServersTestCase):
    SANDBOX_TAG = "shutdown"

    def connect(self, srv):
        s = socket.create_connection((srv.host, srv.port), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.addCleanup(s.close)
        return s

    def test_shutdown_with_connections_open_in_every_state(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start()
        before = threads_of(srv.proc.pid)
        # 1. Connected, nothing sent (waiting for a request header).
        idle = [self.connect(srv) for _ in range(4)]
        # 2. Half a request header.
        partial = [self.connect(srv) for _ in range(3)]
        for s in partial:
            s.sendall(b"GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # 3. Keep-alive, between two requests.
        kept = [self.connect(srv) for _ in range(3)]
        for s in kept:
            s.sendall(b"GET /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status, _ = read_response(s)
            self.assertEqual(status, 200)
        # 4. A request whose body stalls halfway (the connection is reading its body).
        stalled = self.connect(srv)
        stalled.sendall(b"POST /api/backup HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 40\r\n\r\n{\"name\": ")
        # Connections are accepted in order: once a later one is answered, all of the above are open.
        status, _, _ = srv.request("GET", "/api/backup")
        self.assertEqual(status, 200)
        open_count = len(idle) + len(partial) + len(kept) + 1
        during = threads_of(srv.proc.pid)
        if before is not None and during is not None:
            self.assertGreaterEqual(during - before, open_count, "one thread per open connection")

        t0 = time.monotonic()
        srv.proc.send_signal(15)  # SIGTERM
        m = srv.wait_for(re.compile(r"waiting for (\d+) open connection\(s\)"), timeout=60)
        self.assertIsNotNone(m, srv.log())
        self.assertGreaterEqual(int(m.group(1)), open_count, srv.log())
        # Connections waiting for a request are closed at once, without an answer.
        for s in idle + partial + kept:
            self.assertTrue(closed_by_server(s, timeout=30), "an idle connection was left open")
        # The stalled body is given up after the read timeout (30 s), then the process exits.
        rc = srv.proc.wait(timeout=120)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, srv.log())
        self.assertLess(elapsed, 90, srv.log())
        self.assertTrue(srv.logged("stopped"), srv.log())
        self.assertNotIn("connection failed", srv.log())
        self.assertEqual(self.sb.backups(), [], "the stalled create never ran")

    def test_shutdown_while_connections_keep_arriving(self):
        srv = self.start()
        socks = []
        for _ in range(20):
            socks.append(self.connect(srv))
        srv.proc.send_signal(15)
        # Connections made after the signal are refused or closed; none keeps the server alive.
        for _ in range(20):
            try:
                socks.append(self.connect(srv))
            except OSError:
                break
        rc = srv.proc.wait(timeout=60)
        self.assertEqual(rc, 0, srv.log())
        self.assertTrue(srv.logged("stopped"), srv.log())


if __name__ == "__main__":
    hone_exe()
    honetest.main()

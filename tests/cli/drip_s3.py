"""A small S3 server for the tests of `hone serve` against a bucket that misbehaves: a working
bucket in memory (PutObject, HeadObject, GetObject with ranges, DeleteObject, ListObjectsV2,
an empty ListMultipartUploads), whose answers can be made to hang, to drip or to come late, per
kind of request. Signatures are not checked. Python 3 standard library only.

    s3 = DripS3()                # 127.0.0.1, an ephemeral port; s3.endpoint
    s3.modes["list"] = "drip"    # list: ListObjectsV2; uploads: ListMultipartUploads;
                                 # head, get, put, delete: the object calls
    ...
    s3.close()

Modes: "ok"; "hang" (read the request, never answer); "drip" (a status line and headers, then
the body one byte a second; a listing's body is padded to last ten minutes); "late:SECONDS"
(answer normally after that many seconds); "bad-size" (list only: a Size no number type holds).
A request that hangs, drips or comes late ends when the client goes away or close() is called.
"""

import email.utils
import hashlib
import http.server
import socket
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape


class DripS3:
    def __init__(self):
        self.modes = {"list": "ok", "uploads": "ok", "head": "ok", "get": "ok", "put": "ok", "delete": "ok"}
        self.objects = {}  # key (without the bucket) -> (bytes, {meta header: value}, mtime)
        self.lock = threading.Lock()
        self.cv = threading.Condition(self.lock)
        self.received = {k: 0 for k in self.modes}  # requests received, per kind
        self.in_progress = {k: 0 for k in self.modes}  # requests being answered (or held), per kind
        self.closing = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                owner._handle(self, "GET")

            def do_HEAD(self):
                owner._handle(self, "HEAD")

            def do_PUT(self):
                owner._handle(self, "PUT")

            def do_DELETE(self):
                owner._handle(self, "DELETE")

            def do_POST(self):
                owner._handle(self, "POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_for(self, kind, count=1, timeout=30, in_progress=False):
        """True once `count` requests of `kind` were received (or, with in_progress, are being
        held or answered at once)."""
        deadline = time.monotonic() + timeout
        with self.cv:
            while (self.in_progress if in_progress else self.received)[kind] < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def keys(self):
        with self.lock:
            return sorted(self.objects)

    # ---- answers ----------------------------------------------------------------------------

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        parts = urllib.parse.unquote(url.path).lstrip("/").split("/", 1)
        key = parts[1] if len(parts) > 1 else ""
        body = b""
        if "content-length" in h.headers:
            body = h.rfile.read(int(h.headers["content-length"]))
        if not key and method == "GET" and "uploads" in query:
            kind = "uploads"
        elif not key:
            kind = "list"
        else:
            kind = {"GET": "get", "HEAD": "head", "PUT": "put", "DELETE": "delete"}.get(method, "put")
        with self.cv:
            self.received[kind] += 1
            self.in_progress[kind] += 1
            self.cv.notify_all()
        try:
            mode = self.modes.get(kind, "ok")
            if mode == "hang":
                self._hold(h)
                return
            if mode.startswith("late:"):
                if self.closing.wait(float(mode[5:])):
                    return
            if not key and "uploads" in query:
                self._send(h, 200, b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult>"
                                   b"<Bucket>b</Bucket><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
            elif kind == "list":
                self._list(h, query, mode)
            elif method == "PUT":
                self._put(h, key, body)
            elif method == "HEAD":
                self._object(h, key, head=True, mode=mode)
            elif method == "GET":
                self._object(h, key, head=False, mode=mode)
            elif method == "DELETE":
                with self.lock:
                    self.objects.pop(key, None)
                self._send(h, 204, b"")
            else:
                self._send(h, 501, b"<Error><Code>NotImplemented</Code><Message>no</Message></Error>")
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.cv:
                self.in_progress[kind] -= 1
                self.cv.notify_all()

    def _hold(self, h):
        """Never answers: waits until the client goes away or the server closes."""
        h.close_connection = True
        h.connection.settimeout(0.5)
        while not self.closing.is_set():
            try:
                if not h.connection.recv(1, socket.MSG_PEEK):  # 0 bytes: the client closed
                    return
                self.closing.wait(0.5)  # it sent more: still no answer
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return

    def _send(self, h, status, payload, headers=(), head=False):
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        if not head and payload:
            h.wfile.write(payload)

    def _drip(self, h, status, payload, headers=()):
        h.close_connection = True
        h.send_response(status)
        for k, v in headers:
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.flush()
        for i in range(len(payload)):
            if self.closing.wait(1.0):
                return
            h.wfile.write(payload[i:i + 1])
            h.wfile.flush()

    def _list(self, h, query, mode):
        prefix = query.get("prefix", [""])[0]
        with self.lock:
            items = [(k, v) for k, v in sorted(self.objects.items()) if k.startswith(prefix)]
        contents = ""
        for k, (data, _, mtime) in items:
            size = "99999999999999999999999999" if mode == "bad-size" else str(len(data))
            contents += ("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>&quot;%s&quot;</ETag>"
                         "<Size>%s</Size><StorageClass>STANDARD</StorageClass></Contents>"
                         % (escape(k), time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(mtime)),
                            hashlib.md5(data).hexdigest(), size))
        xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
               "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
               "<Prefix>%s</Prefix><KeyCount>%d</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
               "%s</ListBucketResult>" % (escape(prefix), len(items), contents))
        headers = [("Content-Type", "application/xml")]
        if mode == "drip":
            pad = max(0, 600 - len(xml))  # ten minutes at a byte a second
            payload = xml.replace("<Name>", " " * pad + "<Name>", 1).encode()
            self._drip(h, 200, payload, headers)
        else:
            self._send(h, 200, xml.encode(), headers)

    def _put(self, h, key, body):
        with self.lock:
            if h.headers.get("If-None-Match") == "*" and key in self.objects:
                exists = True
            else:
                exists = False
                meta = {k.lower(): v for k, v in h.headers.items() if k.lower().startswith("x-amz-meta-")}
                self.objects[key] = (body, meta, time.time())
        if exists:
            self._send(h, 412, b"<Error><Code>PreconditionFailed</Code><Message>exists</Message></Error>")
            return
        self._send(h, 200, b"", [("ETag", "\"%s\"" % hashlib.md5(body).hexdigest())])

    def _object(self, h, key, head, mode):
        with self.lock:
            found = self.objects.get(key)
        if not found:
            payload = b"" if head else b"<Error><Code>NoSuchKey</Code><Message>none</Message></Error>"
            self._send(h, 404, payload, [("Content-Type", "application/xml")], head=head)
            return
        data, meta, mtime = found
        headers = [("ETag", "\"%s\"" % hashlib.md5(data).hexdigest()),
                   ("Last-Modified", email.utils.formatdate(mtime, usegmt=True)),
                   ("Content-Type", "application/octet-stream")] + list(meta.items())
        status, payload = 200, data
        rng = h.headers.get("Range", "")
        if not head and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            first = int(first)
            last = min(int(last) if last else len(data) - 1, len(data) - 1)
            payload = data[first:last + 1]
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (first, last, len(data))))
        if head:
            h.send_response(200)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
        elif mode == "drip":
            self._drip(h, status, payload, headers)
        else:
            self._send(h, status, payload, headers)

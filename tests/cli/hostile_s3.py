"""A small S3-like HTTP server for the tests of the `hone` program's offsite copy: Python's
standard library only, on 127.0.0.1 at an ephemeral port, no signature checked (any is
accepted). With mode "s3" it is a proper minimal S3 for one bucket: PutObject (If-None-Match:
*), CopyObject, HeadObject, GetObject (Range, If-Match), DeleteObject, ListObjectsV2 (prefix,
continuation token), ListMultipartUploads and the multipart upload (create, part, complete,
abort). Other modes answer as a mis-pointed endpoint or a hostile server would:

  html          every request: 200 and a web page
  alter         stores other bytes than were sent, and answers the PUT as if fine
  deny          403 SignatureDoesNotMatch (refused credentials)
  endless-list  ListObjectsV2 is always truncated, with a new continuation token every page
  repeat-token  ListObjectsV2 is always truncated, with the same continuation token
  endless-body  the answers with a body (listing, GetObject) never end
  drip          every answer, its status line and headers included, at 1 byte per second
  bad-numbers   listing Size and HEAD Content-Length far beyond 64 bits
  bad-size-text listing Size "abc"

plant(key, data) puts an object there directly (e.g. another object of a backup's name); the
mode can be changed while the server runs. A request for another bucket than `bucket` is
404 NoSuchBucket.

    s3 = HostileS3(bucket="b"); s3.start(); ... s3.endpoint ...; s3.mode = "drip"; s3.stop()
"""

import email.utils
import hashlib
import http.server
import itertools
import socketserver
import threading
import time
import urllib.parse
import uuid
from xml.sax.saxutils import escape

MODES = ("s3", "html", "alter", "deny", "endless-list", "repeat-token", "endless-body", "drip", "bad-numbers",
         "bad-size-text")

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
HUGE = "184467440737095516150000"  # far beyond 2^64


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def altered(data):
    """Other bytes of the same length."""
    return bytes((b ^ 0x5A) for b in data) if data else b"x"


class _Object:
    def __init__(self, data, meta=None, etag=None):
        self.data = data
        self.meta = dict(meta or {})
        self.etag = etag or md5_hex(data)
        self.modified = time.time()


class HostileS3:
    def __init__(self, bucket="hone-test", mode="s3", page_size=1000):
        self.bucket = bucket
        self.mode = mode
        self.page_size = page_size  # keys per page of the endless listing
        self.objects = {}  # key -> _Object
        self.uploads = {}  # upload id -> {"key", "meta", "parts": {n: bytes}}
        self.requests = []  # (method, path with query) of every request
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._httpd = None
        self._thread = None

    # ---- life ----------------------------------------------------------------------------

    def start(self):
        owner = self

        class Handler(_Handler):
            s3 = owner

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def port(self):
        return self._httpd.server_address[1]

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- content -------------------------------------------------------------------------

    def plant(self, key, data, meta=None):
        with self.lock:
            self.objects[key] = _Object(bytes(data), meta)

    def get(self, key):
        with self.lock:
            o = self.objects.get(key)
            return None if o is None else o.data

    def keys(self, prefix=""):
        with self.lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def count(self, method, needle=""):
        with self.lock:
            return sum(1 for m, p in self.requests if m == method and needle in p)


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    s3 = None  # the HostileS3 (set by start())

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- plumbing ------------------------------------------------------------------------

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _raw(self, data):
        """Writes bytes as they are, or at 1 byte per second in drip mode."""
        if self.s3.mode != "drip":
            self.wfile.write(data)
            return
        for i in range(len(data)):
            if self.s3.stopping.is_set():
                raise ConnectionAbortedError("stopping")
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            time.sleep(1.0)

    def _send(self, status, body=b"", headers=(), head_only=False, length=None):
        reason = self.responses.get(status, ("",))[0]
        lines = ["HTTP/1.1 %d %s" % (status, reason), "Date: " + email.utils.formatdate(usegmt=True),
                 "Server: hostile-s3"]
        have_length = False
        for k, v in headers:
            lines.append("%s: %s" % (k, v))
            have_length = have_length or k.lower() == "content-length"
        if not have_length:
            lines.append("Content-Length: %s" % (length if length is not None else len(body)))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head_only:
            data += body
        self._raw(data)

    def _xml(self, status, text, head_only=False):
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
        self._send(status, body, [("Content-Type", "application/xml")], head_only=head_only)

    def _error(self, status, code, message, head_only=False):
        self._xml(status, "<Error><Code>%s</Code><Message>%s</Message></Error>" % (code, escape(message)),
                  head_only=head_only)

    def _endless(self, status, start, item, headers=()):
        """A body that never ends (no Content-Length, the connection closes at the end that
        never comes): `start`, then `item` again and again."""
        head = ["HTTP/1.1 %d OK" % status, "Server: hostile-s3", "Connection: close"]
        head += ["%s: %s" % kv for kv in headers]
        self.close_connection = True
        self._raw(("\r\n".join(head) + "\r\n\r\n").encode() + start)
        chunk = item * max(1, 65536 // max(1, len(item)))
        while not self.s3.stopping.is_set():
            self._raw(chunk)

    def _route(self, method):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        parts = url.path.lstrip("/").split("/", 1)
        bucket = urllib.parse.unquote(parts[0])
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        with self.s3.lock:
            self.s3.requests.append((method, self.path))
        body = self._body() if method in ("PUT", "POST") else b""
        mode = self.s3.mode
        head_only = method == "HEAD"
        if mode == "html":
            page = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"
            return self._send(200, page, [("Content-Type", "text/html; charset=utf-8")], head_only=head_only)
        if mode == "deny":
            return self._error(403, "SignatureDoesNotMatch",
                               "The request signature we calculated does not match the signature you provided.",
                               head_only=head_only)
        if bucket != self.s3.bucket:
            return self._error(404, "NoSuchBucket", "The specified bucket does not exist.", head_only=head_only)
        if not key:
            if method == "GET" and "uploads" in query:
                return self._list_uploads(query)
            if method == "GET":
                return self._list(query)
            return self._error(405, "MethodNotAllowed", "not supported here")
        if method == "PUT" and "partNumber" in query:
            return self._put_part(key, query, body)
        if method == "PUT":
            return self._put(key, body)
        if method == "POST" and "uploads" in query:
            return self._create_upload(key)
        if method == "POST" and "uploadId" in query:
            return self._complete(key, query)
        if method == "DELETE" and "uploadId" in query:
            with self.s3.lock:
                self.s3.uploads.pop(query["uploadId"], None)
            return self._send(204)
        if method == "DELETE":
            with self.s3.lock:
                self.s3.objects.pop(key, None)
            return self._send(204)
        if method in ("GET", "HEAD"):
            return self._get(key, head_only)
        return self._error(405, "MethodNotAllowed", "not supported here")

    def _handle(self, method):
        try:
            self._route(method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    # ---- objects -------------------------------------------------------------------------

    def _meta_of(self):
        return {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-amz-meta-")}

    def _put(self, key, body):
        s3 = self.s3
        src = self.headers.get("x-amz-copy-source")
        with s3.lock:
            if self.headers.get("If-None-Match", "").strip() == "*" and key in s3.objects:
                exists = True
            else:
                exists = False
                if src:
                    skey = urllib.parse.unquote(src.lstrip("/")).split("/", 1)[-1]
                    o = s3.objects.get(skey)
                    if o is not None:
                        meta = self._meta_of() if self.headers.get("x-amz-metadata-directive",
                                                                   "").upper() == "REPLACE" else o.meta
                        s3.objects[key] = _Object(o.data, meta, o.etag)
                        copied = s3.objects[key]
                    else:
                        copied = None
                else:
                    stored = altered(body) if s3.mode == "alter" else body
                    s3.objects[key] = _Object(stored, self._meta_of())
        if exists:
            return self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        if src:
            if copied is None:
                return self._error(404, "NoSuchKey", "The specified key does not exist.")
            return self._xml(200, '<CopyObjectResult><LastModified>%s</LastModified><ETag>"%s"</ETag>'
                                  '</CopyObjectResult>' % (_iso(copied.modified), copied.etag))
        # "alter": the answer is that of the bytes sent, as if they had been stored.
        return self._send(200, b"", [("ETag", '"%s"' % md5_hex(body))])

    def _head_headers(self, o, length):
        h = [("Content-Type", "application/octet-stream"), ("ETag", '"%s"' % o.etag),
             ("Last-Modified", email.utils.formatdate(o.modified, usegmt=True)), ("Accept-Ranges", "bytes")]
        h += [(k, v) for k, v in o.meta.items()]
        h.append(("Content-Length", str(length)))
        return h

    def _get(self, key, head_only):
        s3 = self.s3
        with s3.lock:
            o = s3.objects.get(key)
        if o is None:
            return self._error(404, "NoSuchKey", "The specified key does not exist.", head_only=head_only)
        if head_only:
            length = HUGE if s3.mode == "bad-numbers" else len(o.data)
            return self._send(200, b"", self._head_headers(o, length), head_only=True)
        match = self.headers.get("If-Match")
        if match and match.strip('" ').lower() != o.etag:
            return self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        if s3.mode == "endless-body":
            return self._endless(206, b"", b"\0", [("Content-Type", "application/octet-stream"),
                                                    ("ETag", '"%s"' % o.etag)])
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start = int(a)
            end = min(int(b), len(o.data) - 1) if b else len(o.data) - 1
            if start >= len(o.data):
                return self._error(416, "InvalidRange", "The requested range is not satisfiable")
            part = o.data[start:end + 1]
            h = self._head_headers(o, len(part))
            h.append(("Content-Range", "bytes %d-%d/%d" % (start, end, len(o.data))))
            return self._send(206, part, h)
        return self._send(200, o.data, self._head_headers(o, len(o.data)))

    # ---- listings ------------------------------------------------------------------------

    def _list(self, query):
        s3 = self.s3
        prefix = query.get("prefix", "")
        token = query.get("continuation-token", "")
        if s3.mode in ("endless-list", "repeat-token"):
            n = int(token.split("-")[-1]) + 1 if token.startswith("page-") else 1
            nxt = "page-%d" % n if s3.mode == "endless-list" else "page-again"
            items = "".join(
                "<Contents><Key>%shone-2001-01-01-000000-%d.db.gz</Key><LastModified>2001-01-01T00:00:00.000Z"
                "</LastModified><ETag>\"%s\"</ETag><Size>1024</Size><StorageClass>STANDARD</StorageClass></Contents>"
                % (escape(prefix), n * s3.page_size + i, "0" * 32) for i in range(s3.page_size))
            return self._xml(200, '<ListBucketResult xmlns="%s"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d'
                                  "</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
                                  "<ContinuationToken>%s</ContinuationToken><NextContinuationToken>%s"
                                  "</NextContinuationToken>%s</ListBucketResult>"
                             % (XMLNS, s3.bucket, escape(prefix), s3.page_size, escape(token), nxt, items))
        if s3.mode == "endless-body":
            start = ('<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="%s"><Name>%s</Name>'
                     "<IsTruncated>false</IsTruncated>" % (XMLNS, s3.bucket)).encode()
            item = ("<Contents><Key>%shone-2001-01-01-000000.db.gz</Key><Size>1</Size></Contents>"
                    % escape(prefix)).encode()
            return self._endless(200, start, item, [("Content-Type", "application/xml")])
        with s3.lock:
            keys = sorted(k for k in s3.objects if k.startswith(prefix) and k > token)
            page, rest = keys[:1000], keys[1000:]
            items = []
            for k in page:
                o = s3.objects[k]
                size = {"bad-numbers": HUGE, "bad-size-text": "abc"}.get(s3.mode, str(len(o.data)))
                items.append("<Contents><Key>%s</Key><LastModified>%s</LastModified><ETag>\"%s\"</ETag><Size>%s"
                             "</Size><StorageClass>STANDARD</StorageClass></Contents>"
                             % (escape(k), _iso(o.modified), o.etag, size))
        truncated = "true" if rest else "false"
        nxt = "<NextContinuationToken>%s</NextContinuationToken>" % escape(page[-1]) if rest else ""
        return self._xml(200, '<ListBucketResult xmlns="%s"><Name>%s</Name><Prefix>%s</Prefix><KeyCount>%d</KeyCount>'
                              "<MaxKeys>1000</MaxKeys><IsTruncated>%s</IsTruncated>%s%s</ListBucketResult>"
                         % (XMLNS, s3.bucket, escape(prefix), len(page), truncated, nxt, "".join(items)))

    def _list_uploads(self, query):
        s3 = self.s3
        prefix = query.get("prefix", "")
        with s3.lock:
            ups = [(u["key"], uid) for uid, u in s3.uploads.items() if u["key"].startswith(prefix)]
        items = "".join("<Upload><Key>%s</Key><UploadId>%s</UploadId></Upload>" % (escape(k), uid) for k, uid in ups)
        return self._xml(200, '<ListMultipartUploadsResult xmlns="%s"><Bucket>%s</Bucket><IsTruncated>false'
                              "</IsTruncated>%s</ListMultipartUploadsResult>" % (XMLNS, s3.bucket, items))

    # ---- multipart -----------------------------------------------------------------------

    def _create_upload(self, key):
        uid = uuid.uuid4().hex
        with self.s3.lock:
            self.s3.uploads[uid] = {"key": key, "meta": self._meta_of(), "parts": {}}
        return self._xml(200, '<InitiateMultipartUploadResult xmlns="%s"><Bucket>%s</Bucket><Key>%s</Key>'
                              "<UploadId>%s</UploadId></InitiateMultipartUploadResult>"
                         % (XMLNS, self.s3.bucket, escape(key), uid))

    def _put_part(self, key, query, body):
        with self.s3.lock:
            u = self.s3.uploads.get(query.get("uploadId", ""))
            if u is not None:
                u["parts"][int(query["partNumber"])] = altered(body) if self.s3.mode == "alter" else body
        if u is None:
            return self._error(404, "NoSuchUpload", "The specified upload does not exist.")
        return self._send(200, b"", [("ETag", '"%s"' % md5_hex(body))])

    def _complete(self, key, query):
        s3 = self.s3
        with s3.lock:
            u = s3.uploads.pop(query.get("uploadId", ""), None)
            exists = key in s3.objects
        if u is None:
            return self._error(404, "NoSuchUpload", "The specified upload does not exist.")
        if self.headers.get("If-None-Match", "").strip() == "*" and exists:
            return self._error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        parts = [u["parts"][n] for n in sorted(u["parts"])]
        etag = md5_hex(b"".join(bytes.fromhex(md5_hex(p)) for p in parts)) + "-%d" % len(parts)
        with s3.lock:
            s3.objects[key] = _Object(b"".join(parts), u["meta"], etag)
        return self._xml(200, '<CompleteMultipartUploadResult xmlns="%s"><Bucket>%s</Bucket><Key>%s</Key>'
                              "<ETag>\"%s\"</ETag></CompleteMultipartUploadResult>"
                         % (XMLNS, s3.bucket, escape(key), etag))


def _iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t))


if __name__ == "__main__":  # a manual run: python3 hostile_s3.py [MODE]
    import sys

    s = HostileS3(mode=sys.argv[1] if len(sys.argv) > 1 else "s3").start()
    print("endpoint %s bucket %s mode %s" % (s.endpoint, s.bucket, s.mode), flush=True)
    try:
        for _ in itertools.count():
            time.sleep(3600)
    except KeyboardInterrupt:
        s.stop()

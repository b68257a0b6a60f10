#!/usr/bin/env python3
"""Random S3 requests signed by botocore, for unit-s3-sigv4 to sign again and compare.

Prints one JSON object per line: the request as it was signed (method, raw key, query,
headers, payload hash, date), botocore's URI-encoded path, canonical request and signature.

Usage: sigv4_botocore.py COUNT SEED   (exit 3 when botocore cannot be imported)
"""
import datetime
import hashlib
import json
import random
import sys
import urllib.parse

try:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
except ImportError as e:  # the test prints this and fails
    print(f"botocore is not available: {e}", file=sys.stderr)
    sys.exit(3)

count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)

KEY_CHARS = "abcXYZ019-_.~ /+=&?%#:;,@!$'()*[]éü€漢"
VALUE_CHARS = "abcXYZ019-_.~ /+=&?%:,@!$'()*é€"
QUERY_NAMES = ["list-type", "prefix", "continuation-token", "uploads", "uploadId", "partNumber", "max-keys",
               "key-marker", "upload-id-marker", "delimiter", "x-id"]


def text(chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


for i in range(count):
    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
    bucket = rng.choice(["bucket", "hone-backups", "b.1-x"])
    key = text(KEY_CHARS, 0, 40).lstrip("/")
    host = rng.choice(["127.0.0.1:18080", "s3.eu-west-1.amazonaws.com", "abc123.r2.cloudflarestorage.com",
                       "localhost:9000"])
    path = "/" + bucket + ("/" + urllib.parse.quote(key, safe="/~") if key else "")
    params = {}
    for name in rng.sample(QUERY_NAMES, rng.randint(0, 3)):
        params[name] = "" if name == "uploads" else text(VALUE_CHARS, 0, 12)
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))) if method in ("PUT", "POST") else b""
    headers = {}
    if rng.random() < 0.5:
        headers["Content-MD5"] = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
    if rng.random() < 0.4:
        headers["Content-Type"] = rng.choice(["application/octet-stream", "application/xml"])
    if rng.random() < 0.3:
        headers["If-None-Match"] = "*"
    if rng.random() < 0.3:
        a = rng.randint(0, 10**9)
        headers["Range"] = f"bytes={a}-{a + rng.randint(0, 10**7)}"
    for _ in range(rng.randint(0, 2)):
        headers["x-amz-meta-" + text("abcdef-", 1, 8)] = "  " + text("abc XYZ 019  -_.", 0, 16) + " "
    when = datetime.datetime(2015 + rng.randint(0, 15), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                             rng.randint(0, 59), rng.randint(0, 59))
    region = rng.choice(["auto", "us-east-1", "eu-central-1"])
    creds = Credentials(rng.choice(["AKIDEXAMPLE", "test:tester", "0123456789abcdef0123"]),
                        text("abcdefXYZ0123456789/+", 20, 40))
    url = f"http://{host}{path}"
    req = AWSRequest(method=method, url=url, headers=headers, data=body, params=params)
    auth = S3SigV4Auth(creds, "s3", region)
    req.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(req)
    canonical = auth.canonical_request(req)
    signature = auth.signature(auth.string_to_sign(req, canonical), req)
    signed = auth.headers_to_sign(req)
    print(json.dumps({
        "method": method,
        "bucket": bucket,
        "key": key,
        "path": path,
        "query": [[k, v] for k, v in params.items()],
        "headers": [[k, signed[k]] for k in signed.keys()],
        "payload_hash": req.headers["X-Amz-Content-SHA256"],
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "date": req.context["timestamp"],
        "region": region,
        "access_key_id": creds.access_key,
        "secret": creds.secret_key,
        "canonical_request": canonical,
        "signature": signature,
    }, ensure_ascii=False))

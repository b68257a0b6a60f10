#!/usr/bin/env python3
"""docs/openapi.yaml against the live answers of `hone serve`: every endpoint it describes is
called (with an unreachable offsite bucket for sync and the bucket's 502), every status code
answered must be documented for that operation (or be the 405 of a method it does not take),
and every JSON body must match the documented schema (openapi_check.py). Also the REST details
the document states: Location on 201, unknown fields refused with 400, a name that exists
refused with 409 before any export.

Needs python3-yaml (Debian); skipped with the reason when it is missing.

Usage: test_openapi.py PATH/TO/hone [unittest options]"""

import os
import re
import socket
import sys
import unittest
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import honetest  # noqa: E402
import openapi_check  # noqa: E402
import prometheus  # noqa: E402
from honetest import ServersTestCase  # noqa: E402

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

SPEC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")
TOKEN = "openapi-test-token-0123456789abcdef"
METRICS_TOKEN = "openapi-metrics-token-9876543210"
AUTH = {"Authorization": "Bearer " + TOKEN}


def unreachable_bucket():
    """HONE_R2_* naming a loopback port nothing listens on."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return {"HONE_R2_BUCKET": "backups", "HONE_R2_ACCESS_KEY_ID": "access-key-id-4410",
            "HONE_R2_SECRET_ACCESS_KEY": "r2-secret-access-key-value-8812",
            "HONE_R2_ENDPOINT": "http://127.0.0.1:%d" % port, "HONE_R2_API_TIMEOUT": "5"}


@unittest.skipIf(yaml is None, "python3-yaml is not installed (apt-get install python3-yaml)")
class OpenApiTest(ServersTestCase):
    SANDBOX_TAG = "oapi"

    def setUp(self):
        super().setUp()
        with open(SPEC) as f:
            self.doc = yaml.safe_load(f)
        openapi_check.check_document(self.doc)
        self.covered = set()

    def operation(self, method, path):
        """(spec path, operation) of a request path; None when the spec has no such path."""
        # Literal paths first: /api/backup/verify is not /api/backup/{name}.
        for spec_path, item in sorted(self.doc["paths"].items(), key=lambda kv: kv[0].count("{")):
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", spec_path) + "$"
            if re.match(rx, path):
                return spec_path, item.get(method.lower())
        return None, None

    def call(self, srv, method, path, body=None, headers=AUTH, raw_body=None):
        """One request, checked against the document; returns (status, JSON body, headers)."""
        code, parsed, h = srv.request(method, path, body, headers=dict(headers), raw_body=raw_body)
        spec_path, op = self.operation(method, urllib.parse.urlsplit(path).path)
        self.assertIsNotNone(spec_path, "%s %s: not in docs/openapi.yaml" % (method, path))
        if op is None:
            self.assertEqual(code, 405, "%s %s: a method the document does not list" % (method, path))
            response = self.doc["components"]["responses"]["MethodNotAllowed"]
        else:
            self.covered.add((spec_path, method.lower()))
            self.assertIn(str(code), op["responses"],
                          "%s %s answered %d, not documented for %s" % (method, path, code, spec_path))
            response = openapi_check.resolve(self.doc, op["responses"][str(code)])
        content = response.get("content", {})
        if "application/json" in content:
            self.assertTrue(h.get("content-type", "").startswith("application/json"), h)
            schema = content["application/json"]["schema"]
            problems = openapi_check.errors(self.doc, schema, parsed)
            self.assertEqual(problems, [], "%s %s %d: %s" % (method, path, code, parsed))
        for name in response.get("headers", {}):
            self.assertIn(name.lower(), h, "%s %s %d: documented header %s missing" % (method, path, code, name))
        return code, parsed, h

    def test_live_answers_match_the_document(self):
        self.assertEqual(self.sb.run("demo-db", "--transactions", "20").rc, 0)
        srv = self.start(env={"HONE_API_TOKEN": TOKEN, "HONE_METRICS_TOKEN": METRICS_TOKEN})
        self.assertEqual(self.call(srv, "GET", "/api/backup")[0], 200)
        code, created, h = self.call(srv, "POST", "/api/backup", {})
        self.assertEqual(code, 201, created)
        # Location: the new backup's URL, which answers with the same backup.
        self.assertEqual(h["location"], "/api/backup/" + created["name"])
        code, got, _ = self.call(srv, "GET", h["location"])
        self.assertEqual((code, got["name"], got["size"]), (200, created["name"], created["size"]))
        code, named, h = self.call(srv, "POST", "/api/backup", {"name": "before upgrade"})
        self.assertEqual(code, 201, named)
        self.assertEqual(h["location"], "/api/backup/before%20upgrade.db.gz")
        self.assertEqual(self.call(srv, "GET", h["location"])[1]["name"], "before upgrade.db.gz")
        self.assertEqual(self.call(srv, "POST", "/api/backup", {"name": "before upgrade"})[0], 409)
        code, body, _ = self.call(srv, "POST", "/api/backup", {"nmae": "x"})
        self.assertEqual(code, 400, body)
        self.assertIn('"nmae"', body["error"])
        self.assertEqual(self.call(srv, "POST", "/api/backup", raw_body=b"[1]",
                                   headers=dict(AUTH, **{"Content-Type": "application/json"}))[0], 400)
        code, listed, _ = self.call(srv, "GET", "/api/backup")
        self.assertEqual((code, len(listed)), (200, 2), listed)
        self.assertEqual(self.call(srv, "GET", "/api/backup/no-such-backup")[0], 404)
        self.assertEqual(self.call(srv, "GET", "/api/backup/..%2Fetc")[0], 400)

        self.assertEqual(self.call(srv, "POST", "/api/backup/verify", {"name": created["name"]})[0], 200)
        self.assertEqual(self.call(srv, "POST", "/api/backup/verify", {"name": "missing"})[0], 404)
        self.assertEqual(self.call(srv, "POST", "/api/backup/verify", {})[0], 400)
        self.assertEqual(self.call(srv, "POST", "/api/backup/verify", {"name": created["name"], "frm": "r2"})[0], 400)
        # A file named like a backup that is not one: listed with its problem, verify says
        # invalid (200), restore refuses it (422).
        with open(os.path.join(self.sb.backup_dir, "broken.db.gz"), "wb") as f:
            f.write(b"not a gzip file")
        code, v, _ = self.call(srv, "POST", "/api/backup/verify", {"name": "broken.db.gz"})
        self.assertEqual((code, v["valid"]), (200, False), v)
        self.assertIn("problem", [b for b in self.call(srv, "GET", "/api/backup")[1]
                                  if b["name"] == "broken.db.gz"][0])
        self.assertEqual(self.call(srv, "POST", "/api/backup/broken.db.gz/restore", {"force": True})[0], 422)

        self.assertEqual(self.call(srv, "POST", "/api/backup/prune", {"keep": 1, "dry_run": True})[0], 200)
        self.assertEqual(self.call(srv, "POST", "/api/backup/prune", {"keep": 0})[0], 400)
        self.assertEqual(self.call(srv, "POST", "/api/backup/prune", {"kep": 1})[0], 400)
        path = "/api/backup/%s/restore" % created["name"]
        self.assertEqual(self.call(srv, "POST", path, {})[0], 409)
        self.assertEqual(self.call(srv, "POST", path, {"force": True, "forse": True})[0], 400)
        self.assertEqual(self.call(srv, "POST", path, {"force": True})[0], 200)
        self.assertEqual(self.call(srv, "POST", "/api/backup/missing/restore", {"force": True})[0], 404)
        self.assertEqual(self.call(srv, "DELETE", "/api/backup/" + created["name"])[0], 200)
        self.assertEqual(self.call(srv, "DELETE", "/api/backup/" + created["name"])[0], 404)

        self.assertEqual(self.call(srv, "GET", "/api/backup/status")[0], 200)
        self.assertEqual(self.call(srv, "GET", "/api/backup/status?max_age=26h")[0], 200)
        self.assertEqual(self.call(srv, "GET", "/api/backup/status?max_age=soon")[0], 400)
        self.assertEqual(self.call(srv, "POST", "/api/backup/status", {})[0], 405)
        code, text, h = srv.get_text("/metrics", AUTH)
        self.assertEqual(code, 200)
        self.assertTrue(h["content-type"].startswith("text/plain"), h)
        prometheus.parse(text)
        self.covered.add(("/metrics", "get"))

        # The answers of the checks before any endpoint.
        self.assertEqual(self.call(srv, "GET", "/api/backup", headers={})[0], 401)
        self.assertEqual(self.call(srv, "GET", "/metrics", headers={})[0], 401)
        read_only = {"Authorization": "Bearer " + METRICS_TOKEN}
        self.assertEqual(self.call(srv, "GET", "/api/backup", headers=read_only)[0], 403)
        self.assertEqual(self.call(srv, "GET", "/api/backup/status", headers=read_only)[0], 200)
        self.assertEqual(self.call(srv, "POST", "/api/backup", {}, headers=read_only)[0], 403)

        # With an offsite bucket that cannot be reached: sync and the list answer 502 with
        # their documented bodies.
        srv.stop()
        r2 = self.start(env=dict(unreachable_bucket(), HONE_API_TOKEN=TOKEN))
        code, body, _ = self.call(r2, "POST", "/api/backup/sync")
        self.assertEqual(code, 502, body)
        code, body, _ = self.call(r2, "GET", "/api/backup")
        self.assertEqual(code, 502, body)
        self.assertTrue(body["local_backups"], body)

        documented = {(p, m) for p, item in self.doc["paths"].items() for m in item if m != "parameters"}
        self.assertEqual(documented - self.covered, set(), "documented operations never called")

    def test_every_endpoint_of_the_rest_api_page_is_documented(self):
        """Each "## METHOD PATH" heading of docs/hone/REST-API.md is an operation of the document."""
        page = os.path.join(os.path.dirname(SPEC), "hone", "REST-API.md")
        with open(page) as f:
            headings = re.findall(r"^## ((?:GET|POST|DELETE|PUT|PATCH) \S+(?: and [A-Z]+ \S+)*)", f.read(), re.M)
        self.assertGreaterEqual(len(headings), 9, headings)
        for heading in headings:
            for part in heading.split(" and "):
                method, path = part.split()[:2]
                path = re.sub(r":([a-z_]+)", r"{\1}", path.rstrip(":"))
                self.assertTrue(path in self.doc["paths"], heading)
                self.assertTrue(method.lower() in self.doc["paths"][path], heading)


if __name__ == "__main__":
    honetest.main()

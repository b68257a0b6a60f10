"""Shared helpers of the reliability tests: a prepared database and backup folder that each
trial copies, running `hone` (optionally under strace), the checks every trial ends with, and
the enumeration of an operation's write, fsync, rename and unlink calls. Python 3 standard
library only.

Environment: HONE_EXE (the hone program), HONE_PROBE (reliability-probe), HONE_TEST_SCRATCH
(where scratch folders go), HONE_RELIABILITY_SEED (default 20251111), HONE_RELIABILITY_JOBS
(trials run side by side, default 2)."""

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

PASSPHRASE = "correct-horse-battery-staple-7319"
SEED = int(os.environ.get("HONE_RELIABILITY_SEED", "20251111"))
JOBS = max(1, int(os.environ.get("HONE_RELIABILITY_JOBS", "2")))

# The calls that change files: killed at and failed in. pwrite64 is SQLite's write, renameat2
# the library's rename without replacing, ftruncate SQLite's truncation of its -wal/-shm.
WRITE_CALLS = ["write", "pwrite64", "writev", "pwritev", "ftruncate"]
SYNC_CALLS = ["fsync", "fdatasync"]
RENAME_CALLS = ["rename", "renameat", "renameat2", "link", "linkat"]
UNLINK_CALLS = ["unlink", "unlinkat"]
FILE_CALLS = WRITE_CALLS + SYNC_CALLS + RENAME_CALLS + UNLINK_CALLS

SQLITE_HEADER = b"SQLite format 3\0"
# The exit codes of a failure that the program detected and reported (docs/hone/Commands.md,
# "Exit codes": 1 any failure, 10 not found, 11 locked or in use, 12 key, 13 offsite); any other
# code after a fault or on a damaged backup is a crash.
FAILURE_EXIT_CODES = (1, 10, 11, 12, 13)


def tool(env_name):
    p = os.environ.get(env_name)
    if not p or not os.access(p, os.X_OK):
        raise SystemExit("%s must name the executable (ctest sets it)" % env_name)
    return os.path.abspath(p)


HONE = tool("HONE_EXE")
PROBE = tool("HONE_PROBE")
STRACE = shutil.which("strace")


def need_strace():
    if not STRACE:
        raise SystemExit("strace is required (scripts/setup.sh installs it)")
    r = subprocess.run([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", "inject=getpid:error=EPERM:when=1", "true"],
                       capture_output=True)
    if r.returncode != 0:
        raise SystemExit("strace cannot trace here (ptrace not permitted?): %s" % r.stderr.decode(errors="replace"))


def scratch(tag):
    base = os.environ.get("HONE_TEST_SCRATCH")
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="hone-rel-%s-" % tag, dir=base)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def gunzip_first_member(data):
    """The first gzip member, as the original Hone's reader decodes it (zlib, windowBits 15+16,
    stopped at Z_STREAM_END); raises ValueError when it does not end or its CRC is wrong."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(data) + d.flush()
    if not d.eof:
        raise ValueError("the gzip stream does not end")
    return out


def gunzip_all(data, trailing_zeros=False):
    """Every member, as hone-backup reads a .db.gz (with trailing_zeros: zero bytes after a
    member end the file, as GNU gzip accepts them); raises on any damage."""
    out = bytearray()
    rest = data
    if not rest:
        raise ValueError("empty")
    while rest:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out += d.decompress(rest) + d.flush()
        if not d.eof:
            raise ValueError("the gzip stream does not end")
        rest = d.unused_data
        if trailing_zeros and not rest.strip(b"\0"):
            break
    return bytes(out)


class Trial:
    """A copy of a prepared folder: ROOT/db/hone.db (+ -wal, -shm), ROOT/backups, ROOT/tmp."""

    def __init__(self, root):
        self.root = root
        self.db = os.path.join(root, "db", "hone.db")
        self.db_dir = os.path.join(root, "db")
        self.backups = os.path.join(root, "backups")
        self.tmp = os.path.join(root, "tmp")
        self.home = os.path.join(root, "home")

    def env(self, key=True):
        e = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": self.home,
            "TMPDIR": self.tmp,
            "LANG": "C.UTF-8",
            "HONE_DB_PATH": self.db,
            "HONE_BACKUP_DIR": self.backups,
        }
        if key:
            e["HONE_DB_KEY"] = PASSPHRASE
        return e

    def hone(self, *args, wrapper=(), key=True, timeout=120):
        """Runs hone; returns (rc, stdout, stderr). rc < 0: killed by that signal."""
        p = subprocess.run(list(wrapper) + [HONE] + list(args), env=self.env(key), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    def probe(self, *paths):
        p = subprocess.run([PROBE, "check"] + list(paths), env=self.env(), capture_output=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("reliability-probe failed: " + p.stderr.decode(errors="replace"))
        return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


class Fixture:
    """The prepared folder every trial copies: an encrypted demo database with `transactions`
    rows whose last `wal_rows` are committed but still only in its -wal file, and `backups`
    backups of it made before those rows (the restore trials restore the newest of them)."""

    def __init__(self, tag, transactions=3000, wal_rows=60, backups=3, extra_copies=0):
        self._n = 0
        self._lock = threading.Lock()
        self.dir = scratch(tag)
        self.template = Trial(os.path.join(self.dir, "template"))
        t = self.template
        for d in (t.db_dir, t.backups, t.tmp, t.home):
            os.makedirs(d, mode=0o700)
        rc, out, err = t.hone("demo-db", "--transactions", str(transactions))
        assert rc == 0, err
        self.backup_names = []
        for _ in range(backups):
            rc, out, err = t.hone("backup", "create", "--json")
            assert rc == 0, err
            self.backup_names.append(json.loads(out)["name"])
        # Copies of the newest backup under older names, for prune (create names them by the second).
        for i in range(extra_copies):
            name = "hone-2020-01-01-%06d.db.gz" % (i + 1)
            shutil.copy2(os.path.join(t.backups, self.backup_names[-1]), os.path.join(t.backups, name))
            self.backup_names.append(name)
        self.restore_name = self.backup_names[backups - 1]
        # The rows only the WAL holds.
        p = subprocess.run([PROBE, "commit-wal", t.db, str(wal_rows)], env=t.env(), capture_output=True)
        assert p.returncode == 0, p.stderr
        assert os.path.getsize(t.db + "-wal") > 0
        # What the database holds (read from a copy: opening it checkpoints the WAL).
        probe_copy = self.copy("probe")
        live = probe_copy.probe(probe_copy.db)[0]
        assert live["opens"] and live["integrity"] == "ok", live
        self.live_digest, self.live_count = live["digest"], live["transactions"]
        assert self.live_count == transactions + wal_rows, live
        # Every backup: verified by hone, decoded by zlib, its content read by the probe.
        self.known = {}  # sha256 of a backup file known good -> its content digest
        for name in self.backup_names:
            rc, out, err = t.hone("backup", "verify", name, "--json")
            assert rc == 0 and json.loads(out)["valid"], (rc, out, err)
            path = os.path.join(t.backups, name)
            with open(path, "rb") as f:
                raw = gunzip_first_member(f.read())
            assert not raw.startswith(SQLITE_HEADER) and len(raw) % 4096 == 0
            plain = os.path.join(probe_copy.tmp, name + ".db")
            with open(plain, "wb") as f:
                f.write(raw)
            info = probe_copy.probe(plain)[0]
            assert info["integrity"] == "ok", info
            self.known[sha256_file(path)] = info["digest"]
        self.restore_digest = self.known[sha256_file(os.path.join(t.backups, self.restore_name))]
        self.restore_count = transactions
        assert self.restore_digest != self.live_digest
        probe_copy.remove()

    def copy(self, tag="trial"):
        with self._lock:
            self._n += 1
            n = self._n
        root = os.path.join(self.dir, "%s-%04d" % (tag, n))
        shutil.copytree(self.template.root, root, symlinks=True)
        return Trial(root)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- checks -----------------------------------------------------------------------------------

def check_backups(fx, trial, problems, allow_new=0, expect_subset_of=None, must_keep=()):
    """Every listed backup is a complete backup: `hone backup list` names no temp file, zlib
    decodes each (the gzip CRC and length hold) to encrypted pages, and hone verifies it (a
    file byte-identical to a backup verified when the fixture was made is known good). A new
    backup must hold exactly the live database's rows. Returns the listed names."""
    rc, out, err = trial.hone("backup", "list", "--json", key=False)
    if rc != 0:
        problems.append("backup list failed (rc %s): %s" % (rc, err.strip()))
        return []
    listed = [b["name"] for b in json.loads(out)]
    if "warning:" in err:
        problems.append("backup list warns: " + err.strip())
    names = set(listed)
    template = set(fx.backup_names)
    for n in listed:
        if n.startswith("."):
            problems.append("a hidden file is listed: " + n)
    new = sorted(names - template)
    if len(new) > allow_new:
        problems.append("unexpected new backups: %s" % new)
    if expect_subset_of is not None and not names <= set(expect_subset_of):
        problems.append("backups appeared: %s" % sorted(names - set(expect_subset_of)))
    for n in must_keep:
        if n not in names:
            problems.append("a backup that must be kept is gone: " + n)
    for n in listed:
        path = os.path.join(trial.backups, n)
        try:
            with open(path, "rb") as f:
                raw = gunzip_first_member(f.read())
        except (OSError, ValueError, zlib.error) as e:
            problems.append("listed backup %s does not decompress with zlib: %s" % (n, e))
            continue
        if raw.startswith(SQLITE_HEADER) or len(raw) == 0 or len(raw) % 4096 != 0:
            problems.append("listed backup %s does not hold encrypted pages (%d bytes)" % (n, len(raw)))
            continue
        digest = fx.known.get(sha256_file(path))
        if digest is None:
            rc, out, err = trial.hone("backup", "verify", n, "--json")
            v = json.loads(out) if out.strip() else {}
            if rc != 0 or not v.get("valid"):
                problems.append("listed backup %s does not verify: rc %s %s %s" % (n, rc, out.strip(), err.strip()))
                continue
            plain = os.path.join(trial.tmp, n + ".check.db")
            with open(plain, "wb") as f:
                f.write(raw)
            info = trial.probe(plain)[0]
            os.unlink(plain)
            digest = info["digest"]
            if info["integrity"] != "ok":
                problems.append("new backup %s: integrity %s" % (n, info["integrity"]))
            if n not in template and digest != fx.live_digest:
                problems.append("new backup %s holds other rows than the database (%s transactions, expected %s)"
                                % (n, info["transactions"], fx.live_count))
    return listed


def check_database(fx, trial, problems, allowed):
    """The database opens with its key, passes integrity_check and holds exactly one of the
    `allowed` contents ({digest: label}); every DB.pre-restore-* copy holds the old rows."""
    kept = sorted(os.path.join(trial.db_dir, n) for n in os.listdir(trial.db_dir) if ".pre-restore-" in n)
    if not os.path.exists(trial.db):
        problems.append("the database is gone: %s" % sorted(os.listdir(trial.db_dir)))
        return None
    infos = trial.probe(*(kept + [trial.db]))
    for info in infos[:-1]:
        if info["digest"] != fx.live_digest:
            problems.append("the kept copy %s does not hold the old rows: %s" % (os.path.basename(info["path"]), info))
    info = infos[-1]
    if not info["opens"]:
        problems.append("the database does not open with its key: %s" % info.get("error"))
        return None
    if info["integrity"] != "ok":
        problems.append("integrity_check: %s" % info["integrity"])
    if info["digest"] not in allowed:
        problems.append("the database holds %s transactions (digest %s), expected %s" % (
            info["transactions"], info["digest"], " or ".join("%s (%s)" % (c, l) for l, c in allowed.values())))
        return None
    return allowed[info["digest"]][0]


# ---- enumerating an operation's calls --------------------------------------------------------

LINE_RE = re.compile(r"^(\d+)\s+([a-z0-9_]+)\((.*)$")
PATH_RE = re.compile(r'<([^<>]*)>|"([^"]*)"')


def enumerate_calls(fx, args):
    """Runs `hone ARGS` on a fresh copy under strace and returns its file-changing calls in
    order: [(syscall, n, what)] where n counts that syscall in its thread (as strace's
    inject when=N does) and `what` is the file it concerns."""
    trial = fx.copy("enum")
    log = os.path.join(trial.tmp, "strace.log")
    rc, out, err = trial.hone(*args, wrapper=[STRACE, "-f", "-qq", "-y", "-s", "0", "-o", log,
                                              "-e", "trace=" + ",".join(FILE_CALLS)])
    assert rc == 0, (args, rc, err)
    counts = {}
    calls = []
    with open(log, errors="replace") as f:
        for line in f:
            m = LINE_RE.match(line)
            if not m:
                continue
            tid, name, rest = m.group(1), m.group(2), m.group(3)
            key = (tid, name)
            counts[key] = counts.get(key, 0) + 1
            p = PATH_RE.search(rest)
            what = (p.group(1) or p.group(2)) if p else ""
            what = what.replace(trial.root, "ROOT")
            calls.append((name, counts[key], what))
    trial.remove()
    return calls


def select_calls(calls, rng, cap, extra=6):
    """The calls worth a trial: every fsync, rename, link, unlink and truncate, then the writes
    to the database's or the backup folder's files (sampled so that these two groups stay
    within `cap`), then `extra` of the writes of private temp files (the export copy), sampled."""
    writes = ("write", "pwrite64", "writev", "pwritev")
    crucial = [c for c in calls if c[0] not in writes]
    visible = [c for c in calls if c[0] in writes and ("ROOT/db/" in c[2] or "ROOT/backups/" in c[2])]
    rest = [c for c in calls if c not in crucial and c not in visible]
    if len(crucial) > cap:
        crucial = rng.sample(crucial, cap)
    visible = rng.sample(visible, min(len(visible), cap - len(crucial)))
    rest = rng.sample(rest, min(len(rest), extra))
    return sorted(crucial + visible + rest, key=calls.index)


def inject(call, action, log):
    """strace arguments that make the N-th `call` of each thread do `action`, e.g.
    "signal=KILL:when=3" or "error=EIO:when=1", logging that call to `log` (see injected()).
    (Not --seccomp-bpf: strace 6.1 then delivers no injected signal.)"""
    return [STRACE, "-f", "-qq", "-o", log, "-e", "trace=" + call, "-e", "inject=%s:%s" % (call, action)]


def injected(log):
    """Whether the strace run of inject() injected its fault: the call failed "(INJECTED)" or the
    process was killed."""
    with open(log, errors="replace") as f:
        text = f.read()
    return "(INJECTED)" in text or "killed by SIGKILL" in text


def run_parallel(fn, items):
    """fn(item) for every item, JOBS at a time; results in order."""
    with ThreadPoolExecutor(max_workers=JOBS) as ex:
        return list(ex.map(fn, items))


def op_window(fx, args, runs=3):
    """(start, end) in seconds after the process starts within which `hone ARGS` works on files:
    the first file-changing call (after the key derivation) and the exit, scaled from a traced
    run to the median untraced run time."""
    times = []
    for _ in range(runs):
        trial = fx.copy("time")
        t0 = time.monotonic()
        rc, out, err = trial.hone(*args)
        times.append(time.monotonic() - t0)
        assert rc == 0, err
        trial.remove()
    total = sorted(times)[len(times) // 2]
    trial = fx.copy("time")
    log = os.path.join(trial.tmp, "strace.log")
    trial.hone(*args, wrapper=[STRACE, "-f", "-qq", "-ttt", "-s", "0", "-o", log,
                               "-e", "trace=execve,exit_group," + ",".join(FILE_CALLS)])
    stamps = []
    with open(log, errors="replace") as f:
        for line in f:
            parts = line.split(None, 2)
            if len(parts) >= 3:
                stamps.append((float(parts[1]), parts[2].split("(")[0]))
    trial.remove()
    start, end = stamps[0][0], stamps[-1][0]
    first = next((t for t, n in stamps if n in FILE_CALLS), start)
    frac = (first - start) / (end - start) if end > start else 0.0
    return max(0.0, frac * total * 0.9), total * 1.05


def kill_at_random(trial, args, delay):
    """Starts `hone ARGS` and SIGKILLs it after `delay` seconds; returns True when it was killed."""
    p = subprocess.Popen([HONE] + list(args), env=trial.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.kill()
    p.wait()
    return p.returncode == -9


def report(line):
    """A figure of the run; scripts/test.sh repeats these lines ("reliability: ...") after ctest."""
    print("reliability: " + line, flush=True)

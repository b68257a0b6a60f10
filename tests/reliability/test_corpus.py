"""A corpus of damaged backups made from real ones (an encrypted and a plain backup):
truncations, bit flips in the gzip stream and in re-gzipped pages, zeroed, dropped and repeated
pages, empty and random files, damaged multi-member files and gzip bombs. `hone backup
verify` must judge none of them valid, never crash and never hang; `hone backup restore
--force` of a seeded sample from every class (HONE_RELIABILITY_RESTORES, default 120) must fail and leave the
live database (its file, -wal and -shm) byte for byte unchanged, with nothing left beside it.

Every generated file is checked to be damaged: a mutation whose gzip members still decode
(as hone-backup reads them) to exactly the original database is drawn again. Bit flips in
pages are made in the encrypted backup only: a plain SQLite page has no checksum, so a flip in
its unused space is undetectable by any check.

Usage: HONE_EXE=... HONE_PROBE=... python3 test_corpus.py   (ctest: reliability-corpus)"""

import collections
import gzip
import hashlib
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reltest as R  # noqa: E402

PAGE = 4096
MIN_CORPUS = 300
BOMB_MIB = int(os.environ.get("HONE_RELIABILITY_BOMB_MIB", "200"))
VERIFY_TIMEOUT = 60


def gz(data, level=6):
    return gzip.compress(data, compresslevel=level, mtime=0)


def decodes_to(data, original):
    """True when hone-backup would read `data` as exactly `original` (every member intact;
    zero bytes after the last member are accepted, as GNU gzip does)."""
    try:
        out = R.gunzip_all(data, trailing_zeros=True)
    except Exception:
        return False
    return out == original


def flip(data, pos, bit):
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def members(raw, cuts):
    return [gz(raw[a:b], 1) for a, b in zip([0] + cuts, cuts + [len(raw)])]


class Corpus:
    def __init__(self, rng):
        self.rng = rng
        self.items = []  # (class, bytes)

    def add(self, cls, data, original=None):
        """Adds `data` unless it decodes to `original` (then it is not damaged); returns whether
        it was added."""
        if original is not None and decodes_to(data, original):
            return False
        self.items.append((cls, data))
        return True

    def add_drawn(self, cls, count, make, original, tries=20):
        """`count` items from make(rng), each drawn again (up to `tries` times) when not damaged."""
        for _ in range(count):
            for _ in range(tries):
                if self.add(cls, make(self.rng), original):
                    break


def build_corpus(rng, sources):
    c = Corpus(rng)
    # Empty and nearly empty.
    for d in (b"", gz(b""), gz(b"\0"), gz(R.SQLITE_HEADER), b"\x1f\x8b", b"\x1f\x8b\x08", gz(b"\0" * PAGE)):
        c.add("empty", d)
    # Random bytes, raw and properly gzipped (a gzip of random pages looks encrypted).
    for size in (1, 7, 18, 512, 4096, 65536, 600000):
        c.add("random", rng.randbytes(size))
        c.add("random", b"\x1f\x8b\x08\x00" + rng.randbytes(size))
    for pages in (1, 2, 16, 100, 134):
        c.add("random", gz(rng.randbytes(pages * PAGE), 1))
    c.add("random", gz(rng.randbytes(5000), 1))
    for tag, (packed, raw) in sources.items():
        enc = tag == "encrypted"
        n = len(packed)
        # Truncations: at the edges of the header, the first block, the trailer, and anywhere.
        cuts = {1, 2, 3, 9, 10, 11, 12, 100, n // 2, n - 1, n - 2, n - 4, n - 5, n - 7, n - 8, n - 9}
        while len(cuts) < 40:
            cuts.add(rng.randrange(1, n))
        for cut in sorted(cuts):
            c.add("truncated", packed[:cut], raw)
        # Bit flips in the deflate stream and in the CRC-32/ISIZE trailer.
        c.add_drawn("bitflip-gzip", 30, lambda r: flip(packed, r.randrange(10, n - 8), r.randrange(8)), raw)
        c.add_drawn("bitflip-gzip", 10, lambda r: flip(packed, r.randrange(n - 8, n), r.randrange(8)), raw)
        # The header: magic, method, reserved flag bits, flags that announce fields not there.
        for pos, bit in ((0, 0), (0, 7), (1, 1), (1, 6), (2, 0), (2, 3), (3, 5), (3, 6), (3, 7), (3, 1), (3, 2),
                         (3, 3), (3, 4)):
            c.add("gzip-header", flip(packed, pos, bit), raw)
        npages = len(raw) // PAGE
        # Pages damaged, then gzipped again (a valid gzip of a damaged database).
        if enc:
            def page_flip(r, where):
                page = {"first": 0, "last": npages - 1}.get(where, r.randrange(npages))
                if where == "salt":
                    off = r.randrange(16)
                elif where == "reserve":  # IV and HMAC at the end of every page
                    off = PAGE - 1 - r.randrange(80)
                else:
                    off = r.randrange(PAGE)
                return gz(flip(raw, page * PAGE + off, r.randrange(8)), 1)

            for where, count in (("salt", 4), ("first", 6), ("last", 6), ("reserve", 10), ("any", 24)):
                c.add_drawn("bitflip-page", count, lambda r, w=where: page_flip(r, w), raw)
        zero_pages = {0, 1, 2, npages // 2, npages - 1}
        while len(zero_pages) < 12:
            zero_pages.add(rng.randrange(npages))
        for p in sorted(zero_pages):
            c.add("zeroed-page", gz(raw[:p * PAGE] + b"\0" * PAGE + raw[(p + 1) * PAGE:], 1), raw)
        mid = npages // 2
        c.add("pages-moved", gz(raw[:-PAGE], 1), raw)  # the last page missing
        c.add("pages-moved", gz(raw[:mid * PAGE] + raw[(mid + 1) * PAGE:], 1), raw)  # a page missing
        c.add("pages-moved", gz(raw[:(mid + 1) * PAGE] + raw[mid * PAGE:], 1), raw)  # a page twice
        c.add("pages-moved", gz(raw[:PAGE * (npages // 2)], 1), raw)  # half the pages
        # Several members, one of them damaged or out of place.
        for _ in range(3):
            cuts = sorted(rng.sample(range(1, len(raw)), 3))
            m = members(raw, cuts)
            c.add("multi-member", b"".join(m[:1] + m[2:]), raw)  # a member missing
            c.add("multi-member", b"".join([m[1], m[0]] + m[2:]), raw)  # two swapped
            c.add("multi-member", b"".join(m[:2] + m[1:]), raw)  # one twice
            c.add("multi-member", b"".join(m[:-1] + [m[-1][:rng.randrange(1, len(m[-1]))]]), raw)  # last cut
            k = rng.randrange(len(m))
            c.add_drawn("multi-member", 1, lambda r: b"".join(
                m[:k] + [flip(m[k], r.randrange(10, len(m[k])), r.randrange(8))] + m[k + 1:]), raw)
        c.add("multi-member", packed + b"\x1f\x8b", raw)  # the start of a member that never comes
        c.add("multi-member", packed + b"\x01" + bytes(100), raw)  # a trailing byte that is not zero
        c.add("multi-member", packed + rng.randbytes(64), raw)  # trailing garbage
        c.add("multi-member", gz(raw[:PAGE], 1) + gz(R.SQLITE_HEADER + bytes(PAGE - 16), 1) + gz(raw[PAGE:], 1), raw)
    return c


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def run_watched(trial, args, watch, timeout):
    """Runs hone ARGS; returns (rc or 'timeout', seconds, peak bytes under `watch`)."""
    p = subprocess.Popen([R.HONE] + args, env=trial.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], dir_bytes(watch))
            done.wait(0.01)

    th = threading.Thread(target=poll, daemon=True)
    t0 = time.monotonic()
    th.start()
    try:
        out, err = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        rc = "timeout"
    elapsed = time.monotonic() - t0
    done.set()
    th.join()
    return rc, elapsed, peak[0], out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def live_state(t):
    return {n: hashlib.sha256(open(os.path.join(t.db_dir, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir(t.db_dir))}


def main():
    t_start = time.monotonic()
    rng = random.Random(R.SEED + 2)
    R.report("damaged backups: seed %d (HONE_RELIABILITY_SEED=%d repeats this run), %d at a time"
             % (R.SEED, R.SEED, R.JOBS))
    # Two real backups: the encrypted fixture's and one of a plain database.
    fx = R.Fixture("corpus", transactions=2000, wal_rows=40, backups=1)
    enc_path = os.path.join(fx.template.backups, fx.backup_names[0])
    plain = R.Trial(os.path.join(fx.dir, "plain"))
    for d in (plain.db_dir, plain.backups, plain.tmp, plain.home):
        os.makedirs(d, mode=0o700)
    assert plain.hone("demo-db", "--transactions", "2000", key=False)[0] == 0
    rc, out, err = plain.hone("backup", "create", "--name", "plain", key=False)
    assert rc == 0, err
    sources = {}
    for tag, path in (("encrypted", enc_path), ("plain", os.path.join(plain.backups, "plain.db.gz"))):
        packed = open(path, "rb").read()
        sources[tag] = (packed, R.gunzip_all(packed))
    assert not sources["encrypted"][1].startswith(R.SQLITE_HEADER)
    assert sources["plain"][1].startswith(R.SQLITE_HEADER)

    corpus = build_corpus(rng, sources).items
    classes = collections.Counter(cls for cls, _ in corpus)
    R.report("corpus: %d damaged backups (%s)" % (len(corpus), ", ".join("%s %d" % kv for kv in sorted(classes.items()))))
    assert len(corpus) >= MIN_CORPUS, len(corpus)

    # One backup folder and live database per worker (restore holds the folder's lock).
    workers = []
    for w in range(R.JOBS):
        t = fx.copy("worker")
        workers.append(t)
    names = []
    for i, (cls, data) in enumerate(corpus):
        name = "damaged-%04d-%s.db.gz" % (i, cls)
        names.append(name)
        with open(os.path.join(workers[0].backups, name), "wb") as f:
            f.write(data)
        for t in workers[1:]:
            os.link(os.path.join(workers[0].backups, name), os.path.join(t.backups, name))
    # Controls: the real backups and an intact multi-member copy verify (so "invalid" means damage).
    controls = {"control-encrypted.db.gz": sources["encrypted"][0],
                "control-multi-member.db.gz": b"".join(members(sources["encrypted"][1], [PAGE, 7 * PAGE])),
                "control-trailing-zeros.db.gz": sources["encrypted"][0] + bytes(512)}
    for name, data in controls.items():
        with open(os.path.join(workers[0].backups, name), "wb") as f:
            f.write(data)
        rc, out, err = workers[0].hone("backup", "verify", name)
        assert rc == 0, "control %s does not verify: %s" % (name, err)
        os.unlink(os.path.join(workers[0].backups, name))
    rc, out, err = workers[0].hone("backup", "list", "--json", key=False)
    assert rc == 0, "backup list failed on the corpus: %s" % err

    # Restores of a sample drawn from every class (HONE_RELIABILITY_RESTORES=N: about N of them).
    n_restores = min(len(corpus), int(os.environ.get("HONE_RELIABILITY_RESTORES", "120")))
    restore_set = set()
    for cls, count in classes.items():
        members_of = [i for i, (c, _) in enumerate(corpus) if c == cls]
        k = min(count, max(3, round(n_restores * count / len(corpus))))
        restore_set.update(rng.sample(members_of, k))
    lock = threading.Lock()
    free = list(workers)

    def check(i):
        name = names[i]
        with lock:
            t = free.pop()
        try:
            bad = []
            rc, secs, peak, out, err = run_watched(t, ["backup", "verify", name, "--json"], t.tmp, VERIFY_TIMEOUT)
            verdict = "invalid"
            if rc == "timeout":
                verdict = "hang"
            elif rc == 0:
                verdict = "valid"
            elif rc not in R.FAILURE_EXIT_CODES:
                verdict = "crash"
            if verdict != "invalid":
                bad.append("verify: %s (exit %s): %s %s" % (verdict, rc, out.strip()[-300:], err.strip()[-300:]))
            restored = None
            if i in restore_set:
                before = live_state(t)
                rrc, rsecs, rpeak, rout, rerr = run_watched(t, ["backup", "restore", name, "--force"], t.db_dir,
                                                            VERIFY_TIMEOUT)
                after = live_state(t)
                restored = "refused"
                if rrc == "timeout":
                    restored = "hang"
                elif rrc == 0:
                    restored = "restored"
                elif rrc not in R.FAILURE_EXIT_CODES:
                    restored = "crash"
                if restored != "refused" or after != before:
                    bad.append("restore: %s (exit %s), database folder before %s, after %s: %s" % (
                        restored, rrc, sorted(before), sorted(after), rerr.strip()[-300:]))
                    if after != before:
                        restored = "changed"
                    for n in os.listdir(t.db_dir):
                        os.unlink(os.path.join(t.db_dir, n))
                    for n in os.listdir(fx.template.db_dir):
                        shutil.copy2(os.path.join(fx.template.db_dir, n), t.db_dir)
                secs, peak = max(secs, rsecs), max(peak, rpeak)
            if bad:
                R.report("FAIL %s (seed %d): %s" % (name, R.SEED, "; ".join(bad)))
            return corpus[i][0], verdict, restored, secs, peak, bad
        finally:
            with lock:
                free.append(t)

    results = R.run_parallel(check, range(len(corpus)))
    verdicts = collections.Counter(r[1] for r in results)
    restores = collections.Counter(r[2] for r in results if r[2])
    slowest = max(results, key=lambda r: r[3])
    failures = sum(1 for r in results if r[5])
    R.report("verify of %d damaged backups: %d judged valid, %d invalid, %d crashes, %d hangs; slowest %.2f s (%s)"
             % (len(results), verdicts["valid"], verdicts["invalid"], verdicts["crash"], verdicts["hang"],
                slowest[3], slowest[0]))
    R.report("restore --force of %d of them: %d refused with the database unchanged, %d restored, %d changed "
             "the database, %d crashes, %d hangs" % (sum(restores.values()), restores["refused"],
                                                      restores["restored"], restores["changed"], restores["crash"],
                                                      restores["hang"]))

    # Gzip bombs: measured one at a time (time, and peak disk use of the temp files).
    bombs = {
        "zeros": gz(b"\0" * (BOMB_MIB << 20), 9),
        "encrypted-page-then-zeros": gz(sources["encrypted"][1][:PAGE] + b"\0" * (BOMB_MIB << 20), 9),
        "database-then-zeros": gz(sources["encrypted"][1] + b"\0" * (BOMB_MIB << 20), 9),
        "nested": gz(gz(b"\0" * (BOMB_MIB << 20), 9), 9),
    }
    t = workers[0]
    bomb_failures = 0
    for tag, data in bombs.items():
        name = "bomb-%s.db.gz" % tag
        with open(os.path.join(t.backups, name), "wb") as f:
            f.write(data)
        rc, secs, peak, out, err = run_watched(t, ["backup", "verify", name], t.tmp, VERIFY_TIMEOUT)
        before = live_state(t)
        rrc, rsecs, rpeak, rout, rerr = run_watched(t, ["backup", "restore", name, "--force"], t.db_dir,
                                                    VERIFY_TIMEOUT)
        ok = rc in R.FAILURE_EXIT_CODES and rrc in R.FAILURE_EXIT_CODES and live_state(t) == before
        bomb_failures += 0 if ok else 1
        R.report("gzip bomb %s (%d KiB, %d KiB inside): verify exit %s in %.2f s, peak temp %.0f MiB; restore exit %s "
                 "in %.2f s, peak beside the database %.0f MiB%s" % (
                     tag, len(data) >> 10, len(R.gunzip_all(data)) >> 10, rc, secs,
                     peak / 2**20, rrc, rsecs, rpeak / 2**20, "" if ok else " FAIL: " + (err + rerr).strip()[-300:]))
        os.unlink(os.path.join(t.backups, name))

    failures += bomb_failures
    if failures == 0:
        fx.cleanup()
    R.report("damaged backups: %d failures in %.0f s" % (failures, time.monotonic() - t_start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

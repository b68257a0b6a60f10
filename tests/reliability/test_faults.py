"""ENOSPC and EIO injected (strace inject=CALL:error=E:when=N) into each write, fsync, rename,
link and unlink call of `hone backup create` and `hone backup restore`, on an encrypted
database whose last committed rows are still only in its -wal file. Each trial must end in a
clean error (a failure's exit code, 1 or its class's, and an "error:" line, no crash) or, where the failed call is one the
program may tolerate, in success with a correct result; nothing half-written is listed, every
listed backup verifies, temp files are gone (unless the failed call was their removal), and
the live database holds exactly its old rows (restore: the new rows when it reports success).

Usage: HONE_EXE=... HONE_PROBE=... python3 test_faults.py   (ctest: reliability-faults)"""

import collections
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reltest as R  # noqa: E402

CALL_CAP = 48  # calls per operation that get a trial (all of them when fewer)
ERRORS = ("ENOSPC", "EIO")


def leftovers(t):
    """Temp files of the program still present: .hone-tmp-* in the backup folder, the restore's
    .hone.db.restore-* beside the database, its private folders in TMPDIR."""
    found = [n for n in os.listdir(t.backups) if n.startswith(".hone-tmp-")]
    found += [n for n in os.listdir(t.db_dir) if ".restore-" in n]
    found += [n for n in os.listdir(t.tmp) if n.startswith("hone-")]
    return found


def main():
    R.need_strace()
    t_start = time.monotonic()
    rng = random.Random(R.SEED + 1)
    R.report("fault injection: seed %d (HONE_RELIABILITY_SEED=%d repeats this run), %d trials at a time"
             % (R.SEED, R.SEED, R.JOBS))
    fx = R.Fixture("faults", transactions=3000, wal_rows=60, backups=2)
    old = {fx.live_digest: ("old", fx.live_count)}
    new = {fx.restore_digest: ("new", fx.restore_count)}
    ops = {
        "create": (["backup", "create"], dict(allow_new=1)),
        "restore": (["backup", "restore", fx.restore_name, "--force"],
                    dict(expect_subset_of=fx.backup_names, must_keep=fx.backup_names)),
    }
    failures_total = 0
    for op, (args, backup_rules) in ops.items():
        t_op = time.monotonic()
        calls = R.enumerate_calls(fx, args)
        chosen = R.select_calls(calls, rng, CALL_CAP)
        specs = []
        for i, c in enumerate(chosen):
            if c[0] in ("write", "pwrite64"):
                specs.append((c, ERRORS[i % 2]))  # the many writes: one errno each, alternating
            else:
                specs += [(c, e) for e in ERRORS]

        def trial(spec):
            (name, n, path), err_name = spec
            t = fx.copy(op)
            problems, notes = [], []
            log = os.path.join(t.root, "strace.log")
            rc, out, err = t.hone(*args, wrapper=R.inject(name, "error=%s:when=%d" % (err_name, n), log))
            if not R.injected(log):
                problems.append("the call was not reached: nothing injected")
            if rc != 0 and rc not in R.FAILURE_EXIT_CODES:
                problems.append("exit code %s (a crash?): %s" % (rc, err.strip()[-400:]))
            if rc in R.FAILURE_EXIT_CODES and not any(l.startswith("error: ") for l in err.splitlines()):
                problems.append("failed without an error line: %r" % err[-400:])
            # Failures after the new database is in place: writing the report, syncing the folder.
            output_failed = "cannot write the output" in err or "The database was restored, but" in err
            listed = R.check_backups(fx, t, problems, **backup_rules)
            created = [b for b in listed if b not in fx.backup_names]
            if op == "create":
                if rc == 0 and len(created) != 1:
                    problems.append("reported success, but %d new backups are listed" % len(created))
                if rc != 0 and created:
                    notes.append("stored despite the error")
                allowed = old
            else:
                allowed = new if rc == 0 else (dict(old, **new) if output_failed else old)
            outcome = R.check_database(fx, t, problems, allowed)
            left = leftovers(t)
            if left and name not in R.UNLINK_CALLS:
                problems.append("temp files left: %s" % left)
            elif left:
                notes.append("temp file left (its removal failed)")
            if problems:
                R.report("FAIL %s with %s at %s #%d (%s) (seed %d): rc %s; %s; stderr: %s; left in %s" % (
                    op, err_name, name, n, path, R.SEED, rc, "; ".join(problems), err.strip()[-300:], t.root))
            else:
                t.remove()
            return rc, outcome, problems, notes, "%s %s" % (name, re.sub(r"-[A-Za-z0-9]{6}\b", "-XXXXXX", path))

        results = R.run_parallel(trial, specs)
        failures = sum(1 for r in results if r[2])
        failures_total += failures
        rcs = collections.Counter("exit %d" % r[0] for r in results)
        outcomes = collections.Counter(r[1] for r in results if r[1])
        notes = collections.Counter(n for r in results for n in r[3])
        by_call = collections.Counter(s[0][0] for s in specs)
        tolerated = collections.Counter(r[4] for r in results if r[0] == 0)
        R.report("faults %s: %d trials (ENOSPC/EIO at %d of %d calls: %s): %s; database after: %s; %s%d failures; "
                 "seed %d; %.0f s" % (
                     op, len(results), len(chosen), len(calls),
                     ", ".join("%s %d" % kv for kv in sorted(by_call.items())),
                     ", ".join("%s %d" % kv for kv in sorted(rcs.items())),
                     ", ".join("%s %d" % kv for kv in sorted(outcomes.items())),
                     "".join("%s: %d; " % kv for kv in sorted(notes.items())), failures, R.SEED,
                     time.monotonic() - t_op))
        R.report("faults %s: tolerated (exit 0, correct result): %s" % (
            op, ", ".join("%s x%d" % kv for kv in sorted(tolerated.items())) or "none"))

    if failures_total == 0:
        fx.cleanup()
    R.report("fault injection: %d failures in %.0f s" % (failures_total, time.monotonic() - t_start))
    return 1 if failures_total else 0


if __name__ == "__main__":
    sys.exit(main())
